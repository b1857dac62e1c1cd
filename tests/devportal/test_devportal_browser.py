"""The portal pages driven in headless Chromium with the official frame SDK inside the frame."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devportal_support import call, token_for
from werkzeug.wrappers import Request, Response

from b24app.devportal import DevPortal
from b24app.devportal.http import ServerThread

CHROMIUM = "/usr/bin/chromium"
SDK = Path(__file__).resolve().parents[2] / "node_modules/@bitrix24/b24jssdk/dist/umd/index.min.js"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
APP_PAGE = """<!doctype html><html><body><h1>%s</h1><script src="/sdk.js"></script><script>
window.ready = (async () => {
  const b24 = await B24Js.initializeB24Frame();
  window.b24 = b24;
  if (%s) { await b24.installFinish(); window.installed = true; }
  return b24.placement.placement + '|' + JSON.stringify(b24.placement.options);
})();
</script></body></html>"""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) and SDK.exists()),
        reason="needs /usr/bin/chromium and node_modules/@bitrix24/b24jssdk",
    ),
]


def _sdk_app(environ: dict[str, Any], start_response: Any) -> Any:
    request = Request(environ)
    if request.path == "/sdk.js":
        response = Response(SDK.read_bytes(), content_type="application/javascript")
    else:
        install = "true" if request.path == "/install" else "false"
        response = Response(APP_PAGE % (request.path, install), content_type="text/html")
    return response(environ, start_response)


def _frame(page: Any, selector: str) -> Any:
    handle = page.wait_for_selector(selector)
    assert handle is not None
    frame = handle.content_frame()
    assert frame is not None
    return frame


@pytest.fixture
def sdk_emu() -> Iterator[DevPortal]:
    """An emulator whose app is a page running the real frame SDK."""
    server = ServerThread("127.0.0.1", 0, _sdk_app)
    emulator = DevPortal(seed=True)
    emulator.register_app("local.browser.1", "secret", f"http://127.0.0.1:{server.port}")
    emulator.start()
    yield emulator
    emulator.stop()
    server.stop()


def test_install_placement_refresh_and_open_path(sdk_emu: DevPortal) -> None:
    from playwright.sync_api import sync_playwright

    portal = sdk_emu.portal
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(portal.url + "/marketplace/local/")
            page.click("#b24emu-install")
            frame = _frame(page, "#b24emu-app-frame")
            frame.wait_for_function("window.installed === true", timeout=5000)
            assert portal.installed
            assert page.text_content("#b24emu-app-status") == "installed"

            admin = token_for(portal, 1)
            handler = portal.emu.require_app().url("/app")
            bind = {"PLACEMENT": "CRM_CONTACT_LIST_MENU", "HANDLER": handler, "TITLE": "Duplicates"}
            assert call(portal, "placement.bind", admin, bind).json()["result"] is True
            page.goto(portal.url + "/crm/contact/list/")
            page.click("tr[data-id='3'] .dots")
            page.click("tr[data-id='3'] .menu-item")
            frame = _frame(page, "#b24emu-app-frame")
            # The slider's iframe exists before the POST lands in it: wait for the app page.
            frame.wait_for_function("window.ready !== undefined", timeout=10000)
            assert frame.evaluate("window.ready") == (
                'CRM_CONTACT_LIST_MENU|{"ID":"3","URI":"/crm/contact/list/"}'
            )
            sdk_emu.expire_access_tokens()
            user_id = frame.evaluate("""async () => {
                const r = await b24.actions.v2.call.make({method: 'user.current'});
                return r.getData().result.ID; }""")
            assert user_id == "1"
            frame.evaluate(
                "() => { window.op = b24.slider.openPath("
                "b24.slider.getUrl('/crm/contact/merge/?id=3,7')); }"
            )
            path_frame = _frame(page, "#b24emu-path-frame")
            path_frame.wait_for_selector("#b24emu-merge-page")
            assert portal.page_visits[-1] == "/crm/contact/merge/?id=3,7"
            page.click(".b24emu-path-slider .b24emu-slider-close")
            assert frame.evaluate("window.op") == {"isOpenAtNewWindow": False, "isClose": True}
            commands = [(e["dir"], e["command"]) for e in page.evaluate("window.__b24emuLog")]
            assert ("in", "refreshAuth") in commands and ("out", "openPath") in commands
        finally:
            browser.close()
    assert errors == []
