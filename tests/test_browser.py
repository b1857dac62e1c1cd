"""The whole walk in headless Chromium: the portal page frames the app, the real frame SDK runs.

Needs Debian's chromium at /usr/bin/chromium (never a downloaded browser) and the SDK from
`npm ci`. Screenshots are kept in test-artifacts/.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from b24app.devportal import SEED_GROUPS
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


def teardown_module() -> None:
    """Keep the screenshots where CI and people look for them."""
    if ARTIFACTS.exists():
        shutil.copystat(ARTIFACTS, ARTIFACTS)
