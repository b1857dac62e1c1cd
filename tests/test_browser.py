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

from b24app.devportal import SEED_GROUPS
from b24app.i18n import STRINGS
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

    frame.click("#scan-button")
    frame.wait_for_selector(".group", timeout=20000)
    assert frame.locator(".group").count() == len(CONTACT_GROUPS)
    assert frame.locator(".group[data-ids='1,2,3,4'] .badge").count() == 1
    _shot(page, "02-groups")

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


def test_company_row_menu_shows_the_duplicates_of_that_company(
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
    _shot(page, "06-company-row-menu")
    assert errors == []


AXE_FILE = ROOT / "node_modules/axe-core/axe.min.js"
CYRILLIC = re.compile("[А-Яа-яЁё]")
# user 1 (the admin) works in Russian, user 2 in English; for German user 2 switches to "de"
LANG_USERS = {"ru": 1, "en": 2, "de": 2}


def _open_contacts(stack: Stack, page: Any, user: int) -> Any:
    page.goto(f"{stack.portal.url}/_emu/login?user={user}&back=/crm/contact/list/")
    page.click("#b24emu-toolbar button")
    page.click("#b24emu-toolbar .menu-item[data-placement='CRM_CONTACT_LIST_TOOLBAR']")
    frame = _frame(page, "#b24emu-app-frame")
    frame.wait_for_selector('body[data-frame="ready"]', timeout=15000)
    return frame


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
    texts = frame.locator(
        "button:visible, label:visible:not(:has(select)), h1, h2, h3, th:visible, summary, "
        "#filter-status option"
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
    if lang == "de":
        stack.portal.users[2].lang = "de"
    _install(stack, page)
    frame = _open_contacts(stack, page, user)
    assert frame.evaluate("document.documentElement.lang") == lang
    assert _axe(stack, page, frame) == []

    frame.click("#scan-button")
    frame.wait_for_selector(".group", timeout=20000)
    assert frame.locator(".group").count() == len(CONTACT_GROUPS)
    assert frame.inner_text("#scan-button").lower() == t["scan_again"].lower()

    # Review: the comparison marks the fields where the merge would answer CONFLICT.
    petrov = frame.locator(".group[data-key='1,2,3,4']")
    petrov.locator(".review-toggle").click()
    frame.wait_for_selector(".group[data-key='1,2,3,4'] .review tr.conflict", timeout=10000)
    assert petrov.locator(".review tr.conflict[data-field='NAME']").count() == 1
    assert petrov.locator(".review tr[data-field='PHONE'] li").count() >= 4
    assert petrov.locator(".review-toggle").get_attribute("aria-expanded") == "true"
    assert t["conflict_badge"].lower() in petrov.inner_text().lower()
    smirnova = frame.locator(".group[data-key='5,6']")
    smirnova.locator(".review-toggle").click()
    frame.wait_for_selector(".group[data-key='5,6'] .review .success", timeout=10000)
    _shot(page, f"10-{lang}-review")
    assert _axe(stack, page, frame) == []

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
    for line, kept in zip(lines, ("1", "6", "7"), strict=False):
        assert re.search(rf"[#№]{kept}\b", line), line
    assert frame.evaluate("document.activeElement.id") == "confirm-yes"
    _shot(page, f"11-{lang}-confirm")
    _no_other_language(frame, lang)
    frame.click("#confirm-yes")
    merged = len(CONTACT_GROUPS) - 1
    wait_until(lambda: frame.locator(".group[data-result]").count() == merged, timeout=30)
    conflicts = CONTACT_CONFLICTS - 1  # 10,11 was marked
    assert frame.locator("#conflicts-list .resolve-all").count() == conflicts
    calls = [c for c in stack.portal.calls if c["method"].lower() == "crm.entity.mergebatch"]
    sent = [c["params"]["params"]["entityIds"] for c in calls]
    assert [6, 5] in sent and [7, 8] in sent and [10, 11] not in sent
    _shot(page, f"12-{lang}-merged")
    assert _axe(stack, page, frame) == []

    # History: every merge, filterable.
    frame.click("#tab-history")
    wait_until(lambda: frame.locator("#history-rows tr").count() == merged, timeout=10)
    frame.select_option("#filter-status", "CONFLICT")
    frame.click("#history-apply")
    wait_until(lambda: frame.locator("#history-rows tr").count() == conflicts, timeout=10)
    assert frame.locator("#filter-user option").count() == 2
    _shot(page, f"13-{lang}-history")
    _no_other_language(frame, lang)
    assert _axe(stack, page, frame) == []
    with page.expect_download() as download:
        frame.click("#history-export")
    assert download.value.suggested_filename.startswith("merge-history-")

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
