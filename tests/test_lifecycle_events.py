"""Install states and app events, each transition and each repeated delivery (CASE-07, 08)."""

from __future__ import annotations

import logging
import time

import pytest
import requests

from b24app import app_context
from b24app.devportal.params import flatten_params
from b24app.installs import PLACEMENTS
from b24app.jobs.worker import mark_stale_installs
from b24app.web.events import wait_for_events
from tests.helpers import Stack, app_event_form, wait_until


def _state(stack: Stack) -> str:
    return stack.db.get_portal(member_id=stack.portal.member_id).state


def test_case07_unfinished_set_up_becomes_need_reinstall_and_a_reinstall_reuses_the_record(
    stack: Stack,
) -> None:
    ctx = app_context(stack.app)
    settings = ctx.settings
    # Registered without the placement scope: set-up fails and the record stays "new".
    stack.emu.register_app(settings.client_id, settings.client_secret, stack.url, scope="crm")
    stack.install(1)
    assert _state(stack) == "new"
    stack.emu.register_app(settings.client_id, settings.client_secret, stack.url)
    assert mark_stale_installs(ctx) == []  # younger than the TTL: left alone
    object.__setattr__(ctx.settings, "install_ttl", 0.0)
    time.sleep(0.01)
    assert mark_stale_installs(ctx) == [stack.portal.member_id]
    assert _state(stack) == "need_reinstall"
    stack.portal.installed = True  # the portal believes it; the app knows better
    page = stack.open(1)
    assert page.response.status_code == 409 and page.token is None
    assert "reinstall" in page.response.text.lower()
    # T1: the admin reinstalls; then ONAPPINSTALL brings a new application_token
    stack.portal.application_token = None
    assert 'data-state="ok"' in stack.install(1).text
    assert stack.portal.send_install_event().status_code == 200
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert portal.state == "installed"
    assert stack.db.application_token_matches(portal, stack.portal.application_token) is True
    with stack.db.reader.connect() as conn:
        rows = conn.exec_driver_sql("SELECT count(*) FROM b24_portals").scalar()
    assert rows == 1
    assert stack.open(1).token


def test_case08_update_without_onappinstall_rebinds_only_what_is_missing(
    installed: Stack,
) -> None:
    stack = installed
    stack.portal.placements.pop()  # the portal dropped one binding on update
    binds_before = [c for c in stack.portal.calls if c["method"] == "placement.bind"]
    response = stack.portal.send_update_event("2")
    assert response is not None and response.status_code == 200
    wait_until(lambda: stack.db.get_portal(member_id=stack.portal.member_id).app_version == "2")
    # the wizard opens again on update: only the missing placement is bound
    assert 'data-state="ok"' in stack.install(1).text
    binds = [c for c in stack.portal.calls if c["method"] == "placement.bind"]
    assert len(binds) == len(binds_before) + 1
    assert len(stack.portal.placements) == len(PLACEMENTS)
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert (portal.state, portal.app_version) == ("installed", "2")


def test_repeated_deliveries_are_harmless(installed: Stack) -> None:
    stack = installed
    first = stack.portal.send_install_event()
    assert first.status_code == 200
    token = stack.portal.application_token
    # the same ONAPPINSTALL again (a retry): still one record, same token, installed
    assert stack.portal.send_install_event().status_code == 200
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert portal.state == "installed"
    assert stack.db.application_token_matches(portal, token) is True
    # ONAPPUPDATE with a new application_token, delivered twice
    stack.portal.application_token = "f" * 32
    stack.portal.send_update_event("3")
    stack.portal.send_update_event("3")
    wait_until(
        lambda: (
            stack.db.application_token_matches(
                stack.db.get_portal(member_id=stack.portal.member_id), "f" * 32
            )
            is True
        )
    )
    # ONAPPUNINSTALL, then the very same delivery again
    payload = {
        "event": "ONAPPUNINSTALL",
        "data": {"LANGUAGE_ID": "en", "CLEAN": "0"},
        "ts": "1700000100",
        "auth": {
            "domain": stack.portal.domain,
            "member_id": stack.portal.member_id,
            "application_token": "f" * 32,
        },
    }
    # Bitrix24 revokes the app's API access before it sends ONAPPUNINSTALL.
    stack.emu.tokens.revoke_portal(stack.portal.member_id)
    for _ in range(2):
        answer = requests.post(f"{stack.url}/events", data=flatten_params(payload), timeout=10)
        assert answer.status_code == 200
    wait_until(lambda: _state(stack) == "uninstalled")
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert portal.application_token is None
    assert stack.db.get_token(portal.id, 1) is None
    # a later event for the uninstalled portal changes nothing
    payload["ts"] = "1700000200"
    requests.post(f"{stack.url}/events", data=flatten_params(payload), timeout=10)
    time.sleep(0.3)
    assert _state(stack) == "uninstalled"


# -- who may set the application_token ------------------------------------------------------------


def _admin_asked(stack: Stack, user_id: int) -> bool:
    return any(c["method"] == "user.admin" and c["user_id"] == user_id for c in stack.portal.calls)


def _genuine_events_still_work(stack: Stack) -> None:
    """The admin still opens the app and the portal's own update is still accepted."""
    assert stack.open(1).token
    stack.portal.send_update_event("4")
    wait_until(lambda: stack.db.get_portal(member_id=stack.portal.member_id).app_version == "4")


def test_a_non_admin_cannot_replace_the_application_token_with_onappupdate(
    installed: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="b24app")
    stack = installed
    assert stack.open(1).token  # the app learns the portal's application_token
    real = stack.portal.application_token
    evil = "e" * 32
    answer = requests.post(
        f"{stack.url}/events", data=app_event_form(stack, "ONAPPUPDATE", 2, evil), timeout=10
    )
    assert answer.status_code == 200
    wait_until(lambda: _admin_asked(stack, 2))
    wait_until(lambda: any("non-admin ignored" in r.getMessage() for r in caplog.records))
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert stack.db.application_token_matches(portal, real) is True
    assert stack.db.application_token_matches(portal, evil) is False
    assert portal.app_version != "9"  # nothing else of the forged update was taken either
    assert evil not in caplog.text
    _genuine_events_still_work(stack)


@pytest.mark.parametrize("path", ["/events", "/install"])
def test_a_non_admin_cannot_install_through_an_install_callback(
    installed: Stack, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    caplog.set_level(logging.INFO, logger="b24app")
    stack = installed
    assert stack.open(1).token
    real = stack.portal.application_token
    evil = "e" * 32
    before = stack.db.get_installer_token(stack.db.get_portal(member_id=stack.portal.member_id).id)
    answer = requests.post(
        f"{stack.url}{path}", data=app_event_form(stack, "ONAPPINSTALL", 2, evil), timeout=10
    )
    if path == "/install":
        assert answer.status_code == 403
        assert answer.json() == {"ok": False, "error": "installer_not_admin"}
    else:
        assert answer.status_code == 200
    wait_until(lambda: any("non-admin's token refused" in r.getMessage() for r in caplog.records))
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert stack.db.application_token_matches(portal, real) is True
    assert stack.db.get_installer_token(portal.id).user_id == before.user_id == 1
    assert stack.db.get_token(portal.id, 2) is None  # the forger's tokens were not kept
    _genuine_events_still_work(stack)


def test_a_non_admins_frame_does_not_plant_an_application_token(installed: Stack) -> None:
    stack = installed
    # Installed through the wizard, whose POST held no APPLICATION_TOKEN: none stored yet.
    assert stack.db.get_portal(member_id=stack.portal.member_id).application_token is None
    real = stack.portal.application_token
    stack.portal.application_token = "e" * 32  # what user 2's own browser form could post
    assert stack.open(2).token  # the manager may work...
    stack.portal.application_token = real
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert portal.application_token is None  # ...but plants nothing
    assert stack.open(2).token
    assert stack.db.get_portal(member_id=stack.portal.member_id).application_token is None
    # The admin's opening stores the portal's real one; then events authenticate.
    assert stack.open(1).token
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert stack.db.application_token_matches(portal, real) is True
    stack.portal.application_token = "e" * 32
    refused = stack.open(2)
    assert refused.response.status_code == 403 and refused.token is None


def test_case08_the_wizard_reopened_by_an_update_stores_the_version_app_info_names(
    installed: Stack,
) -> None:
    stack = installed
    stack.portal.app_version = "2"  # version 2 rolled out; a wizard-mode app gets no event
    assert 'data-state="ok"' in stack.install(1).text
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert (portal.state, portal.app_version) == ("installed", "2")


def test_an_update_stores_the_version_app_info_names_not_the_forms(installed: Stack) -> None:
    stack = installed
    assert stack.open(1).token
    stack.portal.app_version = "3"
    form = app_event_form(stack, "ONAPPUPDATE", 1, stack.portal.application_token)
    assert dict(form)["data[VERSION]"] == "9"
    assert requests.post(f"{stack.url}/events", data=form, timeout=10).status_code == 200
    wait_until(lambda: stack.db.get_portal(member_id=stack.portal.member_id).app_version == "3")


# -- the remaining transitions ---------------------------------------------------------------------


def test_events_for_an_unknown_member_change_nothing(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="b24app")
    # The portal exists and its tokens verify, but it never installed the app here.
    token = "c" * 32
    for event in ("ONAPPUPDATE", "ONAPPUNINSTALL", "ONCRMCONTACTUPDATE"):
        form = app_event_form(stack, event, 1, token)
        assert requests.post(f"{stack.url}/events", data=form, timeout=10).status_code == 200
    assert wait_for_events()
    assert stack.db.get_portal(member_id=stack.portal.member_id) is None
    assert caplog.text.count("ignored: unknown member") == 3
    assert stack.portal.calls == []  # and nothing was asked of the portal


def test_onappinstall_through_events_installs_a_new_portal(stack: Stack) -> None:
    stack.portal.installed = True  # the portal installed the app and tells it so
    stack.portal.application_token = "d" * 32
    data = {"VERSION": "1", "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": "de"}
    form = app_event_form(stack, "ONAPPINSTALL", 1, "d" * 32, data)
    assert requests.post(f"{stack.url}/events", data=form, timeout=10).status_code == 200
    assert wait_for_events()
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert (portal.state, portal.phone_region, portal.app_version) == ("installed", "DE", "1")
    assert stack.db.application_token_matches(portal, "d" * 32) is True
    assert stack.db.get_installer_token(portal.id).user_id == 1
    assert len(stack.portal.placements) == len(PLACEMENTS)
    assert stack.open(2).token  # and the app opens for everyone


def test_uninstalled_then_reinstalled_reuses_the_record(installed: Stack) -> None:
    stack = installed
    token = stack.open(1).token
    assert token
    scan = stack.scan(token, 3)
    portal_id = stack.db.get_portal(member_id=stack.portal.member_id).id
    stack.portal.uninstall(clean=False)
    wait_until(lambda: _state(stack) == "uninstalled")
    assert stack.open(1).response.status_code == 410
    # the admin installs the app again: same record, fresh tokens and application_token
    assert 'data-state="ok"' in stack.install(1).text
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    assert (portal.id, portal.state) == (portal_id, "installed")
    assert stack.db.get_token(portal.id, 1) is not None
    reopened = stack.open(1)
    assert reopened.token
    assert stack.db.application_token_matches(
        stack.db.get_portal(member_id=stack.portal.member_id), stack.portal.application_token
    )
    # kept without CLEAN: the earlier scan is still the user's
    assert stack.api("GET", f"/scans/{scan['id']}", reopened.token).status_code == 200
    assert stack.scan(reopened.token, 3)["status"] == "done"
    with stack.db.reader.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM b24_portals").scalar() == 1


def test_case07_a_reinstall_is_timed_from_when_it_began_not_from_the_first_install(
    installed: Stack,
) -> None:
    stack = installed
    ctx = app_context(stack.app)
    settings = ctx.settings
    assert stack.open(1).token  # the app learns the application_token the uninstall carries
    stack.portal.uninstall(clean=False)
    wait_until(lambda: _state(stack) == "uninstalled")
    time.sleep(0.3)  # the record is older than the TTL below
    # reinstalled without the placement scope: set-up fails, the portal stays "new"
    stack.emu.register_app(settings.client_id, settings.client_secret, stack.url, scope="crm")
    stack.install(1)
    assert _state(stack) == "new"
    object.__setattr__(settings, "install_ttl", 0.25)
    assert mark_stale_installs(ctx) == []  # the reinstall only just began
    time.sleep(0.3)
    assert mark_stale_installs(ctx) == [stack.portal.member_id]
    assert _state(stack) == "need_reinstall"
