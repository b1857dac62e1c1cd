"""Installing the app: frame wizard, server-to-server callback, re-installs (CASE-06, 11)."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from b24app.config import DEFAULT_JSSDK_INTEGRITY, DEFAULT_JSSDK_URL
from b24app.devportal import rest as emulated_rest
from b24app.devportal.errors import RestError
from tests.helpers import Stack, build_stack, wait_until

PLACEMENTS = {
    f"CRM_{entity}_LIST_{where}"
    for entity in ("LEAD", "DEAL", "CONTACT", "COMPANY")
    for where in ("TOOLBAR", "MENU")
}


def _bindings(stack: Stack) -> list[tuple[str, str]]:
    return sorted((p["placement"], p["handler"]) for p in stack.portal.placements)


def test_wizard_binds_placements_and_events_then_finishes_once(stack: Stack) -> None:
    response = stack.install(1)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    html = response.text
    assert html.lstrip().lower().startswith("<!doctype html>")
    # installFinish is called by install.js, which is only included once set-up succeeded
    assert html.count("install.js") == 1
    assert 'data-state="ok"' in html
    assert _bindings(stack) == sorted((code, f"{stack.url}/app") for code in PLACEMENTS)
    for placement in stack.portal.placements:
        assert placement["title"]
        assert placement["langAll"]["ru"]["TITLE"]
    events = sorted((e["event"], e["handler"]) for e in stack.portal.event_handlers)
    assert events == [
        ("ONAPPUNINSTALL", f"{stack.url}/events"),
        ("ONAPPUPDATE", f"{stack.url}/events"),
    ]
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert portal.state == "installed"
    assert portal.phone_region == "RU"  # the emulated portal speaks Russian
    assert stack.db.get_installer_token(portal.id).user_id == 1
    binds = [c for c in stack.portal.calls if c["method"] == "placement.bind"]
    assert {c["user_id"] for c in binds} == {1}


def test_reinstall_binds_nothing_twice(stack: Stack) -> None:
    """CASE-11: binds carry PLACEMENT, HANDLER, TITLE, LANG_ALL; binding again is harmless."""
    assert stack.install(1).status_code == 200
    first = len([c for c in stack.portal.calls if c["method"] in ("placement.bind", "event.bind")])
    again = stack.install(1)
    assert again.status_code == 200 and 'data-state="ok"' in again.text
    second = len([c for c in stack.portal.calls if c["method"] in ("placement.bind", "event.bind")])
    assert first == 10 and second == 10
    for bind in (c for c in stack.portal.calls if c["method"] == "placement.bind"):
        params = bind["params"]
        assert params["PLACEMENT"] in PLACEMENTS and params["HANDLER"] == f"{stack.url}/app"
        assert params["TITLE"] and set(params["LANG_ALL"]) == {"en", "ru", "de"}
        assert all(title["TITLE"] for title in params["LANG_ALL"].values())
    assert len(stack.portal.placements) == 8 and len(stack.portal.event_handlers) == 2


def test_reinstall_after_an_older_version_binds_only_the_missing_placements(
    stack: Stack,
) -> None:
    assert stack.install(1).status_code == 200
    # An older version bound only the contact list: the portal forgets the rest.
    stack.portal.placements[:] = [
        p for p in stack.portal.placements if p["placement"].startswith("CRM_CONTACT_")
    ]
    before = len(stack.portal.calls)
    assert 'data-state="ok"' in stack.install(1).text
    binds = [c for c in stack.portal.calls[before:] if c["method"] == "placement.bind"]
    assert sorted(c["params"]["PLACEMENT"] for c in binds) == sorted(
        p for p in PLACEMENTS if not p.startswith("CRM_CONTACT_")
    )
    assert _bindings(stack) == sorted((code, f"{stack.url}/app") for code in PLACEMENTS)


def test_update_event_binds_the_missing_placements(installed: Stack) -> None:
    installed.portal.placements[:] = [
        p for p in installed.portal.placements if p["placement"].startswith("CRM_CONTACT_")
    ]
    before = len(installed.portal.calls)
    response = installed.portal.send_update_event("2")
    assert response is not None and response.status_code == 200
    wait_until(lambda: len(installed.portal.placements) == 8)
    binds = [c for c in installed.portal.calls[before:] if c["method"] == "placement.bind"]
    assert len(binds) == 6 and {c["user_id"] for c in binds} == {1}


def test_failed_setup_shows_what_failed_and_can_be_retried(stack: Stack) -> None:
    settings = stack.app.extensions["b24app"].settings
    # The app was registered without the placement scope: the portal refuses placement.bind.
    stack.emu.register_app(settings.client_id, settings.client_secret, stack.url, scope="crm")
    response = stack.install(1)
    assert response.status_code == 200
    assert 'data-state="failed"' in response.text
    assert "install.js" not in response.text
    assert "placement.get" in response.text  # the listing is refused, before any bind
    assert not stack.portal.installed
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert portal.state != "installed"
    # The admin fixes the scopes and reopens the installer: now it completes.
    stack.emu.register_app(settings.client_id, settings.client_secret, stack.url)
    retry = stack.install(1)
    assert 'data-state="ok"' in retry.text
    assert stack.db.get_portal(member_id=stack.portal.member_id).state == "installed"


def test_only_an_admin_can_run_the_installer(installed: Stack) -> None:
    stack = installed
    before = stack.db.get_portal(member_id=stack.portal.member_id)
    post, _frame = stack.portal.open_frame(3, install=True)
    post.query["LANG"] = "de"
    response = stack.frame("/install", post)
    assert response.status_code == 403
    assert "<html" in response.text and "install.js" not in response.text
    after = stack.db.get_portal(member_id=stack.portal.member_id)
    assert (after.language, after.setup_error, after.state) == (
        before.language,
        before.setup_error,
        before.state,
    )
    assert stack.db.get_token(after.id, 3) is None


def test_server_to_server_install_callback_stores_tokens_without_html(stack: Stack) -> None:
    response = stack.portal.send_install_event()
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert "installFinish" not in response.text
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert portal.state == "installed"
    assert portal.application_token
    assert stack.db.get_installer_token(portal.id) is not None
    assert len(stack.portal.placements) == len(PLACEMENTS)
    # After either install path, /app works.
    assert stack.open(2).token


def test_forged_install_callback_is_refused_and_changes_nothing(stack: Stack) -> None:
    form = {
        "event": "ONAPPINSTALL",
        "data[VERSION]": "1",
        "data[LANGUAGE_ID]": "en",
        "auth[access_token]": "forged-token",
        "auth[refresh_token]": "forged-refresh",
        "auth[expires_in]": "3600",
        "auth[domain]": stack.portal.domain,
        "auth[client_endpoint]": f"{stack.portal.url}/rest/",
        "auth[server_endpoint]": f"{stack.emu.oauth_url}/rest/",
        "auth[member_id]": stack.portal.member_id,
        "auth[application_token]": "forged-app-token",
    }
    response = requests.post(f"{stack.url}/install", data=form, timeout=10)
    assert response.status_code in (401, 403)
    assert "forged" not in response.text
    assert stack.db.get_portal(member_id=stack.portal.member_id) is None


def test_install_page_loads_the_sdk_with_integrity(stack: Stack) -> None:
    html = stack.install(1).text
    script = re.search(r'<script src="([^"]+)" integrity="(sha384-[^"]+)"', html)
    assert script, html
    assert script.group(1) == "/vendor/b24jssdk.js"
    sdk = requests.get(f"{stack.url}/vendor/b24jssdk.js", timeout=10)
    assert sdk.status_code == 200 and "B24Js" in sdk.text


def test_uninstall_event_wipes_tokens_and_stops_jobs(installed: Stack) -> None:
    stack = installed
    token = stack.open(1).token
    db_portal = stack.db.get_portal(member_id=stack.portal.member_id)
    pending = stack.db.create_merge_job(
        portal_id=db_portal.id, user_id=1, entity_type_id=3, groups=[[800001, 800002]]
    )
    stack.db.claim_job(pending.id, "a-busy-worker", stale_before=0)
    stack.portal.uninstall(clean=False)
    wait_until(lambda: stack.db.get_portal(member_id=stack.portal.member_id).state == "uninstalled")
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert stack.db.get_token(portal.id, 1) is None
    ended = stack.db.get_job(pending.id)
    assert ended.status == "failed" and ended.error_code == "portal_uninstalled"
    assert stack.api("POST", "/scans", token, {"entityTypeId": 3}).status_code == 401
    calls_before = len(stack.portal.calls)
    reopened = stack.open(1)
    assert reopened.token is None
    assert len(stack.portal.calls) == calls_before


def test_forged_uninstall_changes_nothing(installed: Stack) -> None:
    stack = installed
    stack.open(1)  # the app learns the portal's application_token from a verified frame POST
    form = {
        "event": "ONAPPUNINSTALL",
        "data[CLEAN]": "1",
        "auth[member_id]": stack.portal.member_id,
        "auth[domain]": stack.portal.domain,
        "auth[application_token]": "forged-application-token",
    }
    response = requests.post(f"{stack.url}/events", data=form, timeout=10)
    assert response.status_code == 200
    time.sleep(0.5)
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert portal.state == "installed"
    assert stack.db.get_token(portal.id, 1) is not None


def test_uninstall_with_clean_purges_the_portals_jobs(installed: Stack) -> None:
    stack = installed
    token = stack.open(1).token
    scan = stack.scan(token, 3)
    stack.portal.uninstall(clean=True)
    wait_until(lambda: stack.db.get_job(scan["id"]) is None)
    assert stack.db.get_portal(member_id=stack.portal.member_id).state == "uninstalled"


def test_production_pages_load_the_pinned_sdk_from_the_cdn_with_integrity(tmp_path: Path) -> None:
    from tests.helpers import build_stack

    stack = build_stack(tmp_path, jssdk_file="")
    try:
        response = stack.install(1, finish=False)
        assert DEFAULT_JSSDK_URL in response.text
        assert f'integrity="{DEFAULT_JSSDK_INTEGRITY}"' in response.text
        assert "https://cdn.jsdelivr.net" in response.headers["Content-Security-Policy"]
        assert requests.get(f"{stack.url}/vendor/b24jssdk.js", timeout=10).status_code == 404
    finally:
        stack.close()


def test_the_ui_speaks_english_on_an_english_portal(stack: Stack) -> None:
    english = stack.emu.add_portal(lang="en", seed=False)
    stack.install(1, portal=english)
    opened = stack.open(1, portal=english)
    assert '<html lang="en">' in opened.response.text
    assert "Find duplicates" in opened.response.text
    assert stack.db.get_portal(member_id=english.member_id).phone_region is None


def test_uninstall_with_the_real_application_token_is_confirmed_with_the_portal(
    installed: Stack,
) -> None:
    """Every user's browser sees APPLICATION_TOKEN; it alone must not remove the app."""
    stack = installed
    post = stack.portal.frame_post(3)
    application_token = post.form["APPLICATION_TOKEN"]
    stack.frame("/app", post)
    form = {
        "event": "ONAPPUNINSTALL",
        "data[CLEAN]": "1",
        "auth[member_id]": stack.portal.member_id,
        "auth[domain]": stack.portal.domain,
        "auth[application_token]": application_token,
    }
    assert requests.post(f"{stack.url}/events", data=form, timeout=10).status_code == 200
    time.sleep(0.5)
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert portal.state == "installed"
    assert stack.db.get_token(portal.id, 1) is not None


def test_case11_already_bound_counts_as_bound_when_placement_get_does_not_list_it(
    installed: Stack,
) -> None:
    stack = installed
    placements = [dict(p) for p in stack.portal.placements]
    handlers = [dict(e) for e in stack.portal.event_handlers]
    stack.portal.hide_bindings = True  # the listing lags; the bindings are there
    before = len(stack.portal.calls)
    response = stack.install(1)
    assert 'data-state="ok"' in response.text
    binds = [
        c for c in stack.portal.calls[before:] if c["method"] in ("placement.bind", "event.bind")
    ]
    refused = [c for c in binds if c["status"] == 400]
    assert len(refused) == len(binds) == 10  # every bind answered "already bound"
    assert {c["error"] for c in refused} == {
        "ERROR_PLACEMENT_HANDLER_ALREADY_BOUND",
        "ERROR_EVENT_HANDLER_ALREADY_BOUND",
    }
    assert stack.portal.placements == placements and stack.portal.event_handlers == handlers
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert (portal.state, portal.setup_error) == ("installed", None)


def _requests(stack: Stack, since: int = 0) -> list[str]:
    """The REST requests the portal received (a batch's own commands are not requests)."""
    return [c["method"] for c in stack.portal.calls[since:] if not c["via_batch"]]


def test_set_up_takes_three_requests_and_a_reinstall_two(stack: Stack) -> None:
    """The admin check, one batch listing the bindings, one batch binding all ten."""
    assert 'data-state="ok"' in stack.install(1).text
    assert _requests(stack) == ["user.admin", "batch", "batch"]
    inside = [c["method"] for c in stack.portal.calls if c["via_batch"]]
    assert sorted(inside) == sorted(
        ["placement.get", "event.get"] + ["placement.bind"] * 8 + ["event.bind"] * 2
    )
    before = len(stack.portal.calls)
    assert 'data-state="ok"' in stack.install(1).text
    assert _requests(stack, before) == ["user.admin", "batch"]  # everything listed as bound


def test_a_refused_kind_of_binding_leaves_the_other_bound(stack: Stack) -> None:
    settings = stack.app.extensions["b24app"].settings
    stack.emu.register_app(settings.client_id, settings.client_secret, stack.url, scope="crm")
    response = stack.install(1)
    assert 'data-state="failed"' in response.text
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert portal.setup_error.startswith("placement.get: ")  # the listing is refused first
    assert "event." not in portal.setup_error
    assert len(stack.portal.event_handlers) == 2 and not stack.portal.placements


def test_an_unanswered_set_up_batch_fails_the_install_and_a_retry_completes(
    tmp_path: Path,
) -> None:
    stack = build_stack(tmp_path, http_timeout=0.5)
    try:
        stack.portal.delays["batch"] = 1.0  # longer than the app waits
        response = stack.install(1)
        assert response.status_code == 200 and 'data-state="failed"' in response.text
        portal = stack.db.get_portal(member_id=stack.portal.member_id)
        assert portal.state != "installed" and portal.setup_error
        assert "placement.get: TIMEOUT" in portal.setup_error  # the listing never answered
        assert "event.get: TIMEOUT" in portal.setup_error
        del stack.portal.delays["batch"]
        assert not stack.portal.placements  # the listing never answered: nothing was bound
        assert 'data-state="ok"' in stack.install(1).text
        assert len(stack.portal.placements) == 8 and len(stack.portal.event_handlers) == 2
        assert stack.db.get_portal(member_id=stack.portal.member_id).state == "installed"
    finally:
        stack.close()


def _refusing(monkeypatch: pytest.MonkeyPatch, method: str, *, lands: bool, only: str = "") -> None:
    """The emulated portal answers ``method`` with an error that is not "already bound"."""
    real = emulated_rest.METHODS[method]

    def refuse(portal: Any, user: Any, params: dict[str, Any]) -> Any:
        if only and str(params.get("PLACEMENT")) != only:
            return real(portal, user, params)
        if lands:
            real(portal, user, params)
        raise RestError(400, "ERROR_CORE", "Unable to set the handler")

    monkeypatch.setitem(emulated_rest.METHODS, method, refuse)


def test_a_bind_refused_for_another_reason_is_named_and_a_retry_completes(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    _refusing(monkeypatch, "placement.bind", lands=False, only="CRM_DEAL_LIST_MENU")
    response = stack.install(1)
    assert 'data-state="failed"' in response.text and "CRM_DEAL_LIST_MENU" in response.text
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert portal.state != "installed"
    assert (
        portal.setup_error
        == "placement.bind: ERROR_CORE Unable to set the handler (CRM_DEAL_LIST_MENU)"
    )
    assert len(stack.portal.placements) == 7 and len(stack.portal.event_handlers) == 2
    # the refusal is checked against a second listing before it is believed
    assert _requests(stack) == ["user.admin", "batch", "batch", "batch"]
    monkeypatch.undo()
    assert 'data-state="ok"' in stack.install(1).text
    assert len(stack.portal.placements) == 8
    assert stack.db.get_portal(member_id=stack.portal.member_id).state == "installed"


def test_a_bind_that_landed_though_it_answered_an_error_is_confirmed_by_listing(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    _refusing(monkeypatch, "event.bind", lands=True)
    assert 'data-state="ok"' in stack.install(1).text
    assert len(stack.portal.event_handlers) == 2
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert (portal.state, portal.setup_error) == ("installed", None)


def test_an_html_answer_is_named_not_shown(stack: Stack) -> None:
    """A 503 page from a proxy: the admin reads what happened, not the page's markup."""
    stack.portal.html_error_statuses.add(503)
    limits = stack.portal.limits
    limits.enabled, limits.bucket_size, limits.drain_per_sec = True, 1, 0.0001
    response = stack.install(1)
    assert 'data-state="failed"' in response.text
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert "HTTP_503 (an HTML page, not a Bitrix24 answer" in portal.setup_error
    assert "<" not in portal.setup_error and "&lt;" not in response.text


def test_handlers_left_at_an_earlier_app_address_are_unbound(installed: Stack) -> None:
    """The app moved (another APP_URL): the portal must not show every button twice."""
    stack = installed
    for placement in stack.portal.placements:
        placement["handler"] = "https://old.example.com/app"
    for handler in stack.portal.event_handlers:
        handler["handler"] = "https://old.example.com/events"
    before = len(stack.portal.calls)
    assert 'data-state="ok"' in stack.install(1).text
    assert _bindings(stack) == sorted((code, f"{stack.url}/app") for code in PLACEMENTS)
    assert sorted((e["event"], e["handler"]) for e in stack.portal.event_handlers) == [
        ("ONAPPUNINSTALL", f"{stack.url}/events"),
        ("ONAPPUPDATE", f"{stack.url}/events"),
    ]
    unbinds = [
        c
        for c in stack.portal.calls[before:]
        if c["method"] in ("placement.unbind", "event.unbind")
    ]
    assert len(unbinds) == 10 and all("old.example.com" in str(c["params"]) for c in unbinds)
    assert _requests(stack, before) == ["user.admin", "batch", "batch"]


def test_our_own_handler_written_another_way_is_neither_unbound_nor_bound_again(
    installed: Stack,
) -> None:
    stack = installed
    for placement in stack.portal.placements:
        placement["handler"] = placement["handler"].replace("http://", "HTTP://") + "/"
    kept = [dict(p) for p in stack.portal.placements]
    before = len(stack.portal.calls)
    assert 'data-state="ok"' in stack.install(1).text
    assert stack.portal.placements == kept
    assert _requests(stack, before) == ["user.admin", "batch"]


def test_an_update_whose_set_up_fails_keeps_the_app_usable_and_says_so(
    installed: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    stack = installed
    caplog.set_level(logging.WARNING, logger="b24app")
    stack.portal.placements[:] = [
        p for p in stack.portal.placements if p["placement"] != "CRM_LEAD_LIST_MENU"
    ]
    _refusing(monkeypatch, "placement.bind", lands=False)
    response = stack.portal.send_update_event("2")
    assert response is not None and response.status_code == 200
    wait_until(lambda: stack.db.get_portal(member_id=stack.portal.member_id).app_version == "2")
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert portal.state == "installed"  # users keep the seven placements that are there
    assert portal.setup_error and "CRM_LEAD_LIST_MENU" in portal.setup_error
    wait_until(lambda: any("update set-up incomplete" in r.getMessage() for r in caplog.records))
    assert stack.open(2).token  # the app still opens
