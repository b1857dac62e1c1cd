"""The whole walk in headless Chromium: the portal page frames the app, the real frame SDK runs.

Needs Debian's chromium at /usr/bin/chromium (never a downloaded browser) and the SDK from
`npm ci`. Screenshots are kept in test-artifacts/.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from b24app.devportal import SEED_COUNTS, SEED_GROUPS
from b24app.i18n import STRINGS, plural
from b24app.installs import PLACEMENTS
from tests.helpers import ROOT, SDK_FILE, Stack, build_stack, wait_until

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.browser
CONTACT_GROUPS = [g for g in SEED_GROUPS if g.entity_type_id == 3]
CONTACT_CONFLICTS = sum(1 for g in CONTACT_GROUPS if g.merge_status == "CONFLICT")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required for the browser tests: apt-get install chromium")
    if not SDK_FILE.is_file():
        pytest.fail("the frame SDK is missing: run `npm ci` (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def walk(tmp_path: Path, browser: Any) -> Iterator[tuple[Stack, Any, list[str]]]:
    stack = build_stack(tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda msg: (
            errors.append(f"console: {msg.text}")
            if msg.type == "error" and "favicon" not in msg.text
            else None
        ),
    )
    yield stack, page, errors
    context.close()
    stack.close()


def _frame(page: Any, selector: str) -> Any:
    handle = page.wait_for_selector(selector)
    frame = handle.content_frame()
    assert frame is not None
    return frame


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _install(stack: Stack, page: Any) -> None:
    page.goto(f"{stack.portal.url}/marketplace/local/")
    page.click("#b24emu-install")
    frame = _frame(page, "#b24emu-app-frame")
    frame.wait_for_selector('#install[data-state="finished"]', timeout=15000)
    assert stack.portal.installed
    _shot(page, "01-installed")


def test_install_scan_merge_and_resolve_a_conflict(walk: tuple[Stack, Any, list[str]]) -> None:
    stack, page, errors = walk
    _install(stack, page)
    log = page.evaluate("window.__b24emuLog")
    sent = [e["command"] for e in log if e["dir"] == "in"]  # messages the app sent the portal
    assert sent.count("setInstallFinish") == 1

    page.goto(f"{stack.portal.url}/crm/contact/list/")
    page.click("#b24emu-toolbar button")
    page.click("#b24emu-toolbar .menu-item[data-placement='CRM_CONTACT_LIST_TOOLBAR']")
    frame = _frame(page, "#b24emu-app-frame")
    frame.wait_for_selector('body[data-frame="ready"]', timeout=15000)
    assert frame.evaluate("document.documentElement.lang") == "ru"

    assert frame.is_visible("#intro")  # the first screen says what a scan does
    frame.click("#scan-button")
    frame.wait_for_selector(".group", timeout=20000)
    assert frame.locator(".group").count() == len(CONTACT_GROUPS)
    assert frame.locator(".group[data-ids='1,2,3,4'] tr.survivor .badge").count() == 1
    t = STRINGS["ru"]
    found = t["scan_done"].format(
        groups=plural("ru", "groups_found", len(CONTACT_GROUPS)),
        records=plural("ru", "among_records", SEED_COUNTS[3]),
    )
    assert frame.inner_text("#status") == found  # "Найдено 12 групп дубликатов среди 70 записей."
    # Conflicts are forecast for the page before anyone opens a review or merges.
    wait_until(lambda: frame.locator(".conflict-badge").count() == CONTACT_CONFLICTS)
    assert frame.locator(".group[data-key='1,2,3,4'] .conflict-badge").count() == 1
    _shot(page, "02-groups")

    # Opening the shared pairs grows the page: the frame is resized to fit it.
    frame.click("#shared summary")
    wait_until(lambda: _frame_fits(page, frame))
    _shot(page, "02b-shared-open")

    frame.click("#merge-button")
    frame.wait_for_selector("#confirm:not([hidden])")
    frame.click("#confirm-yes")
    # The app's CSP forbids eval, so poll from here instead of wait_for_function.
    wait_until(
        lambda: frame.locator(".group[data-result]").count() == len(CONTACT_GROUPS), timeout=30
    )
    successes = len(CONTACT_GROUPS) - CONTACT_CONFLICTS
    assert frame.locator(".group[data-result='SUCCESS']").count() == successes
    assert frame.locator(".group[data-result='CONFLICT']").count() == CONTACT_CONFLICTS
    summary = ", ".join(
        [
            plural("ru", "summary_merged", successes),
            plural("ru", "summary_conflict", CONTACT_CONFLICTS),
        ]
    )
    wait_until(lambda: frame.inner_text("#status") == summary + ".")
    # Merged records are gone: their groups offer no comparison any more.
    merged = frame.locator(".group[data-result='SUCCESS'] .review-toggle")
    assert all(merged.nth(i).is_disabled() for i in range(merged.count()))
    assert "Иван Петров (#1, #2, #3, #4)" in frame.inner_text("#conflicts-list")
    _shot(page, "03-merged")

    frame.click(".group[data-ids='1,2,3,4'] .resolve")
    merge_page = _frame(page, "#b24emu-path-frame")
    merge_page.wait_for_selector("#b24emu-merge-page")
    assert stack.portal.page_visits[-1] == "/crm/contact/merge/?id=1,2,3,4"
    _shot(page, "04-manual-merge")
    commands = {(e["dir"], e["command"]) for e in page.evaluate("window.__b24emuLog")}
    assert ("in", "openPath") in commands
    merges = [c for c in stack.portal.calls if c["method"].lower() == "crm.entity.mergebatch"]
    assert len(merges) == len(CONTACT_GROUPS)

    # The admin changes the portal's phone country in the Settings tab.
    page.click(".b24emu-path-slider .b24emu-slider-close")
    frame.click("#tab-settings")
    wait_until(lambda: frame.locator("#phone-country option").count() > 100)
    assert frame.input_value("#phone-country") == "RU"
    assert frame.locator("#phone-country option[value='DE']").inner_text() == "Германия (DE)"
    frame.select_option("#phone-country", "DE")
    frame.click("#settings-save")
    wait_until(lambda: frame.inner_text("#settings-status") == t["settings_saved"])
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert portal.phone_region == "DE"
    _shot(page, "04b-settings")
    assert errors == []


def test_row_menu_shows_the_duplicates_of_that_record(walk: tuple[Stack, Any, list[str]]) -> None:
    stack, page, errors = walk
    _install(stack, page)
    page.goto(f"{stack.portal.url}/crm/contact/list/")
    page.click("tr[data-id='8'] .dots")
    page.click("tr[data-id='8'] .menu-item[data-placement='CRM_CONTACT_LIST_MENU']")
    frame = _frame(page, "#b24emu-app-frame")
    frame.wait_for_selector(".group", timeout=20000)
    assert frame.locator(".group").count() == 1
    assert frame.get_attribute(".group", "data-ids") == "7,8,9"
    _shot(page, "05-row-menu")
    assert errors == []


def test_resolve_falls_back_to_the_top_window_when_open_path_fails(
    walk: tuple[Stack, Any, list[str]],
) -> None:
    stack, page, errors = walk
    _install(stack, page)
    stack.portal.open_path_error = "PATH_NOT_AVAILABLE"  # this portal opens no slider
    page.goto(f"{stack.portal.url}/crm/contact/list/")
    page.click("tr[data-id='1'] .dots")
    page.click("tr[data-id='1'] .menu-item[data-placement='CRM_CONTACT_LIST_MENU']")
    frame = _frame(page, "#b24emu-app-frame")
    frame.wait_for_selector(".group[data-ids='1,2,3,4']", timeout=20000)
    frame.click("#merge-button")
    frame.wait_for_selector("#confirm:not([hidden])")
    frame.click("#confirm-yes")
    wait_until(lambda: frame.locator(".group[data-result='CONFLICT']").count() == 1, timeout=30)
    frame.click(".group[data-ids='1,2,3,4'] .resolve")
    # the portal refused the slider: the app sends the whole tab to the manual merge page
    page.wait_for_url(f"{stack.portal.url}/crm/contact/merge/?id=1,2,3,4", timeout=15000)
    page.wait_for_selector("#b24emu-merge-page")
    assert stack.portal.page_visits[-1] == "/crm/contact/merge/?id=1,2,3,4"
    _shot(page, "06-manual-merge-top-window")
    assert errors == []


def test_companies_and_deals_show_their_own_columns_and_readable_values(
    walk: tuple[Stack, Any, list[str]],
) -> None:
    stack, page, errors = walk
    _install(stack, page)
    page.goto(f"{stack.portal.url}/crm/company/list/")
    page.click("tr[data-id='13'] .dots")
    page.click("tr[data-id='13'] .menu-item[data-placement='CRM_COMPANY_LIST_MENU']")
    frame = _frame(page, "#b24emu-app-frame")
    frame.wait_for_selector(".group", timeout=20000)
    assert frame.locator(".group").count() == 1
    assert frame.get_attribute(".group", "data-ids") == "12,13"
    t = STRINGS["ru"]
    # Companies are named by their title, and have no person's name column.
    assert _headers(frame) == [
        t["col_keep"],
        "ID",
        t["field_TITLE"],
        t["phones"],
        t["emails"],
        t["created"],
        t["drop_record"],
    ]
    _shot(page, "06-company-row-menu")

    # Deals: title and client, no phones or e-mails; the review speaks the portal's words.
    page.goto(f"{stack.portal.url}/crm/deal/list/")
    page.click("#b24emu-toolbar button")
    page.click("#b24emu-toolbar .menu-item[data-placement='CRM_DEAL_LIST_TOOLBAR']")
    frame = _frame(page, "#b24emu-app-frame")
    frame.click("#scan-button")
    frame.wait_for_selector(".group", timeout=20000)
    assert _headers(frame) == [
        t["col_keep"],
        "ID",
        t["field_TITLE"],
        t["client"],
        t["created"],
        t["drop_record"],
    ]
    redesign = frame.locator(".group[data-key='1,2']")
    rollout = frame.locator(".group[data-key='4,5']")
    wait_until(lambda: redesign.locator("td.client").first.inner_text() == "Anna Smirnova")
    assert rollout.locator("td.client").first.inner_text() == "Romashka LLC"
    redesign.locator(".review-toggle").click()
    frame.wait_for_selector(".group[data-key='1,2'] .review table", timeout=10000)
    review = redesign.locator(".review")
    assert _cells(review, "STAGE_ID") == ["Новая", "Новая"]  # crm.status.list DEAL_STAGE
    assert _cells(review, "CATEGORY_ID") == ["Общая", "Общая"]  # crm.category.list
    assert _cells(review, "CONTACT_ID") == ["Anna Smirnova"] * 2
    assert _cells(review, "CLOSED") == [t["no"]] * 2
    amount = _cells(review, "OPPORTUNITY")[0]
    assert re.fullmatch(r"100\s000,00\s₽", amount), amount  # in the user's locale
    assert _cells(review, "CURRENCY_ID")[0].lower() == "российский рубль"
    _shot(page, "06b-deal-review")
    assert errors == []


AXE_FILE = ROOT / "node_modules/axe-core/axe.min.js"
CYRILLIC = re.compile("[А-Яа-яЁё]")
# The seeded users: the admin works in the portal's language (ru), Maria in en, Jonas in de.
LANG_USERS = {"ru": 1, "en": 2, "de": 4}
TOOLBAR_TITLES = next(p.titles for p in PLACEMENTS if p.placement == "CRM_CONTACT_LIST_TOOLBAR")


def _open_contacts(stack: Stack, page: Any, user: int) -> Any:
    page.goto(f"{stack.portal.url}/_emu/login?user={user}&back=/crm/contact/list/")
    page.click("#b24emu-toolbar button")
    page.click("#b24emu-toolbar .menu-item[data-placement='CRM_CONTACT_LIST_TOOLBAR']")
    frame = _frame(page, "#b24emu-app-frame")
    frame.wait_for_selector('body[data-frame="ready"]', timeout=15000)
    return frame


def _frame_fits(page: Any, frame: Any) -> bool:
    """The portal sized the app's iframe to the whole of its content (fitWindow)."""
    height = page.eval_on_selector("#b24emu-app-frame", "f => f.getBoundingClientRect().height")
    return bool(height >= frame.evaluate("document.documentElement.scrollHeight") - 1)


def _headers(frame: Any) -> list[str]:
    """The column headers of the first group's records (hidden ones by their text)."""
    cells = frame.locator(".group").first.locator("table.members thead th")
    return [cells.nth(i).text_content().strip() for i in range(cells.count())]


def _cells(review: Any, field: str) -> list[str]:
    """A review row's values, record by record."""
    return review.locator(f"tr[data-field='{field}'] td").all_inner_texts()


def _counted(lang: str, key: str, n: int, **values: Any) -> str:
    text = plural(lang, key, n)
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def _layout_problems(frame: Any) -> list[str]:
    """What breaks the group tables at the current width: wrapped phones, badges or buttons."""
    found = frame.evaluate(
        """() => {
        const bad = [];
        const line = (e) => e.getBoundingClientRect().height > 26;
        document.querySelectorAll('.members .values li, .members .drop').forEach((e) => {
            if (line(e)) bad.push('wrapped: ' + e.textContent);
        });
        document.querySelectorAll('.members tr.survivor').forEach((row) => {
            const radio = row.querySelector('.survivor-pick').getBoundingClientRect();
            const badge = row.querySelector('.keep .badge').getBoundingClientRect();
            if (Math.abs(badge.top + badge.height / 2 - radio.top - radio.height / 2) > 6)
                bad.push('badge below: ' + row.dataset.id);
        });
        const doc = document.documentElement;
        if (doc.scrollWidth > doc.clientWidth) bad.push('page wider than the frame');
        return bad;
    }"""
    )
    return list(found)


def _axe(stack: Stack, page: Any, frame: Any) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations in the app's frame (axe served by the test)."""
    if not AXE_FILE.is_file():
        pytest.fail("axe-core is missing: run `npm ci` (make test does)")
    url = f"{stack.url}/__test__/axe.min.js"  # same origin as the frame, so its CSP allows it
    page.route(
        url,
        lambda route: route.fulfill(
            body=AXE_FILE.read_bytes(), content_type="application/javascript"
        ),
    )
    if not frame.evaluate("typeof window.axe !== 'undefined'"):
        frame.add_script_tag(url=url)
    found = frame.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .map(v => ({id: v.id, impact: v.impact,
                        nodes: v.nodes.map(n => n.target.join(' '))}))"""
    )
    return [v for v in found if v["impact"] in ("serious", "critical")]


def _no_other_language(frame: Any, lang: str) -> None:
    """Every control, heading and label of the UI speaks the page's language."""
    # A custom field's label (th.portal-label) is the portal's own word, shown as it is.
    texts = frame.locator(
        "button:visible, label:visible:not(:has(select)), h1, h2, h3, "
        "th:visible:not(.portal-label), summary, #filter-status option, #intro"
    )
    for text in texts.all_inner_texts():
        if lang == "ru":
            # Latin words a Russian Bitrix24 uses too
            latin = re.sub(r"(?i)Bitrix24|e-mail|CSV|ID", "", text)
            assert not re.search("[A-Za-z]{3,}", latin), text
        else:
            assert not CYRILLIC.search(text), text


@pytest.mark.parametrize("lang", ["ru", "en", "de"])
def test_review_confirm_merge_history_in_each_language(
    walk: tuple[Stack, Any, list[str]], lang: str
) -> None:
    stack, page, errors = walk
    t = STRINGS[lang]
    user = LANG_USERS[lang]
    # A custom list field of the portal's: its label and items are the portal's words.
    tier = stack.portal.add_user_field(
        3, "UF_CRM_TIER", "Сегмент", kind="enumeration", items=["Ключевой", "Обычный"]
    )
    for record_id, item in ((1, 0), (3, 1)):
        stack.portal.crm.update(3, record_id, {"UF_CRM_TIER": tier["items"][item]["ID"]}, 1)
    _install(stack, page)
    frame = _open_contacts(stack, page, user)
    assert frame.evaluate("document.documentElement.lang") == lang
    # The portal shows the app's menu item, and titles its window, in the user's language.
    title = TOOLBAR_TITLES[lang]
    assert page.inner_text("#b24emu-toolbar .menu-item") == title
    assert page.inner_text(".b24emu-app-slider .b24emu-slider-title") == title
    assert _axe(stack, page, frame) == []

    frame.click("#scan-button")
    frame.wait_for_selector(".group", timeout=20000)
    assert frame.locator(".group").count() == len(CONTACT_GROUPS)
    assert frame.inner_text("#scan-button").lower() == t["scan_again"].lower()
    assert frame.inner_text("#status") == t["scan_done"].format(
        groups=plural(lang, "groups_found", len(CONTACT_GROUPS)),
        records=plural(lang, "among_records", SEED_COUNTS[3]),
    )

    # Review: the comparison marks the fields where the merge would answer CONFLICT.
    petrov = frame.locator(".group[data-key='1,2,3,4']")
    petrov.locator(".review-toggle").click()
    frame.wait_for_selector(".group[data-key='1,2,3,4'] .review tr.conflict", timeout=10000)
    assert petrov.locator(".review tr.conflict[data-field='NAME']").count() == 1
    assert petrov.locator(".review tr[data-field='PHONE'] li").count() >= 4
    assert petrov.locator(".review-toggle").get_attribute("aria-expanded") == "true"
    assert t["conflict_badge"].lower() in petrov.inner_text().lower()
    # Values read as the portal names them: its directories, its people, its list items.
    review = petrov.locator(".review")
    assert _cells(review, "TYPE_ID") == ["Клиенты"] * 4  # the ru portal's CONTACT_TYPE
    assert _cells(review, "SOURCE_ID") == ["Свой контакт"] * 4
    assert _cells(review, "ASSIGNED_BY_ID") == [
        "Ivan Admin",
        "Maria Manager",
        "Ivan Admin",
        "Oleg Restricted",
    ]
    assert _cells(review, "EXPORT") == [t["yes"]] * 4
    assert _cells(review, "UF_CRM_TIER") == ["Ключевой", "", "Обычный", ""]
    assert review.locator("tr[data-field='UF_CRM_TIER'] th").inner_text() == "Сегмент"
    raw = re.compile(r"\b(CLIENT|SELF|Y|N)\b")
    assert not raw.search(review.locator("tbody").inner_text())
    # One format for a day, the same in the list and in the review (which adds the time).
    day = petrov.locator("tr[data-id='1'] td.nowrap").nth(1).inner_text()
    assert _cells(review, "DATE_CREATE")[0].startswith(day)
    smirnova = frame.locator(".group[data-key='5,6']")
    smirnova.locator(".review-toggle").click()
    frame.wait_for_selector(".group[data-key='5,6'] .review .success", timeout=10000)
    assert _cells(smirnova.locator(".review"), "BIRTHDATE")[1] in (
        "14.07.1990",
        "07/14/1990",
    )
    _shot(page, f"10-{lang}-review")
    assert _axe(stack, page, frame) == []

    # 1024 px wide: phones, badges and buttons keep to one line; nothing overflows.
    page.set_viewport_size({"width": 1024, "height": 800})
    wait_until(lambda: _layout_problems(frame) == [])
    _shot(page, f"10b-{lang}-1024")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Picking a survivor by keyboard: the rows stay put, only the "kept" mark moves.
    petrov.locator("tr[data-id='1'] .survivor-pick").focus()
    frame.page.keyboard.press("ArrowDown")
    frame.page.keyboard.press("ArrowDown")
    wait_until(lambda: petrov.get_attribute("data-ids") == "3,1,2,4")
    assert petrov.locator("table.members tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.id)"
    ) == [
        "1",
        "2",
        "3",
        "4",
    ]
    assert petrov.locator("tr[data-id='3'] .survivor-pick").evaluate(
        "e => e === document.activeElement"
    )
    frame.page.keyboard.press("ArrowUp")
    frame.page.keyboard.press("ArrowUp")
    wait_until(lambda: petrov.get_attribute("data-ids") == "1,2,3,4")

    # Another survivor, a record dropped, a group marked "not duplicates".
    smirnova.locator("tr[data-id='6'] .survivor-pick").check()
    assert smirnova.get_attribute("data-ids") == "6,5"
    ivanova = frame.locator(".group[data-key='7,8,9']")
    ivanova.locator("tr[data-id='9'] .drop").click()
    assert ivanova.get_attribute("data-ids") == "7,8"
    assert ivanova.locator("tr[data-id='8'] .drop").is_disabled()  # two records stay
    frame.locator(".group[data-key='10,11'] .not-duplicates").click()
    wait_until(lambda: frame.locator(".group[data-key='10,11'] .group-select").is_disabled())
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert stack.db.not_duplicate_sets(portal.id, 3) == [frozenset({10, 11})]

    # Confirm names every survivor.
    frame.click("#merge-button")
    frame.wait_for_selector("#confirm:not([hidden])")
    lines = frame.locator("#confirm-list li").all_inner_texts()
    assert len(lines) == 11  # ten groups named, then how many more
    groups = len(CONTACT_GROUPS) - 1  # 10,11 was marked
    assert frame.inner_text("#confirm-text") == plural(lang, "confirm_title", groups)
    # Ivan's records differ (predicted CONFLICT): nothing of them is said to be deleted.
    assert lines[0] == STRINGS[lang]["confirm_line_conflict"].format(name="Иван Петров", id=1)
    # Counted in the language's forms: 1 record folds into Anna, 1 into Olga; 1 more group.
    assert lines[1] == _counted(lang, "confirm_line_contact", 1, name="Anna Smirnova", id=6)
    assert lines[2] == _counted(lang, "confirm_line_contact", 1, name="Olga Ivanova", id=7)
    assert lines[-1] == plural(lang, "confirm_more", groups - 10)
    assert frame.evaluate("document.activeElement.id") == "confirm-yes"
    _shot(page, f"11-{lang}-confirm")
    _no_other_language(frame, lang)
    frame.click("#confirm-yes")
    merged = len(CONTACT_GROUPS) - 1
    wait_until(lambda: frame.locator(".group[data-result]").count() == merged, timeout=30)
    conflicts = CONTACT_CONFLICTS - 1  # 10,11 was marked
    assert frame.locator("#conflicts-list .resolve-all").count() == conflicts
    # Conflicts are named by their survivor, not only by IDs.
    assert "Иван Петров (#1, #2, #3, #4)" in frame.inner_text("#conflicts-list")
    calls = [c for c in stack.portal.calls if c["method"].lower() == "crm.entity.mergebatch"]
    sent = [c["params"]["params"]["entityIds"] for c in calls]
    assert [6, 5] in sent and [7, 8] in sent and [10, 11] not in sent
    _shot(page, f"12-{lang}-merged")
    assert _axe(stack, page, frame) == []

    # A user without the right to delete records tries the marked group: Bitrix24 refuses.
    refused = stack.merge(stack.open(3).token, [[10, 11]])
    assert refused["results"][0]["status"] == "ERROR"

    # History: every merge, counted by outcome, failures with their reason; filterable.
    frame.click("#tab-history")
    wait_until(lambda: frame.locator("#history-rows tr").count() == merged + 1, timeout=10)
    successes = merged - conflicts
    assert frame.inner_text("#history-status") == t["history_count"].format(
        total=plural(lang, "history_total", merged + 1),
        success=successes,
        conflict=conflicts,
        error=1,
    )
    failed = frame.locator("#history-rows tr[data-status='ERROR']")
    assert failed.locator(".reason").inner_text() == t["error_merge_refused"]
    assert "Sergey Kuznetsov (#10, #11)" in failed.inner_text()
    assert "Anna Smirnova, #6" in frame.inner_text("#history-rows")  # the survivor, named
    _shot(page, f"13a-{lang}-history-all")
    frame.select_option("#filter-status", "CONFLICT")
    frame.click("#history-apply")
    wait_until(lambda: frame.locator("#history-rows tr").count() == conflicts, timeout=10)
    assert frame.locator("#filter-user option").count() == 3
    assert "Иван Петров (#1, #2, #3, #4)" in frame.inner_text("#history-rows")
    _shot(page, f"13-{lang}-history")
    _no_other_language(frame, lang)
    assert _axe(stack, page, frame) == []
    with page.expect_download() as download:
        frame.click("#history-export")
    assert download.value.suggested_filename.startswith("merge-history-")
    exported = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    separator = ";" if lang in ("ru", "de") else ","
    assert exported[0].split(separator)[0] == t["csv_when"]  # a spreadsheet in this locale
    assert len(exported) == conflicts + 1

    # Settings: only a portal admin may change them, and the page says so.
    frame.click("#tab-settings")
    wait_until(lambda: frame.locator("#phone-country option").count() > 100)
    _no_other_language(frame, lang)
    assert _axe(stack, page, frame) == []
    if user != 1:
        wait_until(lambda: frame.inner_text("#settings-status") == t["settings_admin_only"])
        assert frame.is_disabled("#settings-save") and frame.is_disabled("#phone-country")
    frame.click("#tab-groups")

    # Coming back later: the last job is offered, and reopening shows its results.
    frame = _open_contacts(stack, page, user)
    frame.wait_for_selector("#last-job:not([hidden])", timeout=10000)
    assert t["kind_merge"] in frame.inner_text("#last-job-text")
    frame.click("#reopen-button")
    wait_until(lambda: frame.locator("#conflicts-list li").count() == conflicts, timeout=10)
    _shot(page, f"14-{lang}-reopened")
    assert errors == []


def test_thousands_of_groups_are_paged(walk: tuple[Stack, Any, list[str]]) -> None:
    stack, page, errors = walk
    for n in range(120):
        for _ in range(2):
            stack.portal.crm.add(
                3,
                {
                    "NAME": f"Test{n}",
                    "LAST_NAME": "Bulk",
                    "PHONE": [{"VALUE": f"+7 999 100 {n:04d}"}],
                },
                user_id=1,
            )
    _install(stack, page)
    frame = _open_contacts(stack, page, 2)
    page.set_viewport_size({"width": 1024, "height": 800})
    frame.click("#scan-button")
    frame.wait_for_selector(".group", timeout=20000)
    total = 120 + len(CONTACT_GROUPS)
    assert frame.locator(".group").count() == 50
    assert frame.inner_text("#page-info") == f"Groups 1–50 of {total}"
    assert frame.locator("#page-prev").is_disabled()
    frame.click("#page-next")
    wait_until(lambda: frame.inner_text("#page-info") == f"Groups 51–100 of {total}")
    frame.click("#page-next")
    wait_until(lambda: frame.locator(".group").count() == total - 100)
    assert frame.locator("#page-next").is_disabled()
    fetched = [e for e in page.evaluate("window.__b24emuLog") if e["command"] == "resizeWindow"]
    assert fetched  # the frame asked to fit its content
    width = frame.evaluate("document.documentElement.scrollWidth")
    assert width <= 1024
    _shot(page, "15-paged-1024")
    assert errors == []


def teardown_module() -> None:
    """Keep the screenshots where CI and people look for them."""
    if ARTIFACTS.exists():
        shutil.copystat(ARTIFACTS, ARTIFACTS)
