"""A renamed portal (protocol §2.4): confirmed 302s are followed, the new domain is stored."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from b24app import app_context
from b24app.bitrix.errors import PortalMoved
from b24app.devportal import SEED_GROUPS
from tests.helpers import Stack, wait_until

CONTACT_GROUPS = [g for g in SEED_GROUPS if g.entity_type_id == 3]


class Trap(BaseHTTPRequestHandler):
    """A host a redirect names that is not the portal: it must never be contacted."""

    hits: list[str] = []

    def _record(self) -> None:
        Trap.hits.append(f"{self.command} {self.path}")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"result": true}')

    do_GET = do_POST = _record

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def trap() -> Iterator[str]:
    Trap.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Trap)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def admin(installed: Stack) -> str:
    token = installed.open(1).token
    assert token
    return token


def _stored(stack: Stack) -> Any:
    return stack.db.get_portal(member_id=stack.portal.member_id)


def _merges(stack: Stack) -> list[dict[str, Any]]:
    return [c for c in stack.portal.calls if c["method"] == "crm.entity.mergebatch"]


def test_scan_and_merge_keep_working_across_a_rename(installed: Stack, admin: str) -> None:
    old_domain = installed.portal.domain
    new_domain = installed.portal.rename()
    scan = installed.scan(admin, 3)
    assert scan["status"] == "done", scan
    assert len(scan["groups"]) == len(CONTACT_GROUPS)
    # The scan's first call met the 302, confirmed the move and stored it for everyone.
    assert installed.portal.redirects and all(
        r["host"] == old_domain for r in installed.portal.redirects
    )
    stored = _stored(installed)
    assert (stored.domain, stored.scheme) == (new_domain, "http")
    assert stored.client_endpoint == f"http://{new_domain}/rest/"
    redirects = len(installed.portal.redirects)
    merge = installed.merge(admin, [g["entityIds"] for g in scan["groups"]])
    assert merge["status"] == "done", merge
    outcome = {tuple(r["entityIds"]): r["status"] for r in merge["results"]}
    assert outcome == {g.ids: g.merge_status for g in CONTACT_GROUPS}
    assert len(installed.portal.redirects) == redirects  # later jobs go straight there
    assert len(_merges(installed)) == len(scan["groups"])


def test_a_merge_interrupted_by_a_rename_runs_each_group_exactly_once(
    installed: Stack, admin: str
) -> None:
    scan = installed.scan(admin, 3)
    groups = [g["entityIds"] for g in scan["groups"]]
    old_domain = installed.portal.domain
    new_domain = installed.portal.rename()
    merge = installed.merge(admin, groups)
    assert merge["status"] == "done", merge
    outcome = {tuple(r["entityIds"]): r["status"] for r in merge["results"]}
    assert outcome == {g.ids: g.merge_status for g in CONTACT_GROUPS}
    merges = _merges(installed)
    ran = sorted(c["params"]["params"]["entityIds"] for c in merges)
    assert ran == sorted(groups)  # once each (merges run several at a time, in any order)
    # The calls already in flight when the portal moved (user.current when the merge is queued,
    # or the first mergeBatch of each parallel worker) met the 302 at the old address, never
    # ran there, and were re-POSTed; every later call went to the stored new address.
    moved = installed.portal.redirects
    parallel = app_context(installed.app).settings.merge_parallel
    assert 1 <= len(moved) <= parallel
    assert all(m["method"] == "POST" and m["host"] == old_domain for m in moved)
    assert _stored(installed).domain == new_domain


def test_a_redirect_the_oauth_server_does_not_confirm_sends_nothing_there(
    installed: Stack, admin: str, trap: str
) -> None:
    before = _stored(installed)
    installed.portal.rest_redirect = trap  # app.info still names the portal's own domain
    scan = installed.scan(admin, 3)
    assert scan["status"] == "failed"
    assert scan["error"]["code"] == "PORTAL_MOVED_UNVERIFIED"
    assert Trap.hits == []
    after = _stored(installed)
    assert (after.domain, after.client_endpoint) == (before.domain, before.client_endpoint)


def test_a_redirect_to_a_host_never_confirmed_fails_a_merge_without_running_it(
    installed: Stack, admin: str, trap: str
) -> None:
    scan = installed.scan(admin, 3)
    installed.portal.rest_redirect = trap
    merge = installed.merge(admin, [scan["groups"][0]["entityIds"]])
    result = merge["results"][0]
    assert result["status"] == "ERROR"
    assert result["error"]["code"] == "PORTAL_MOVED_UNVERIFIED"
    assert _merges(installed) == [] and Trap.hits == []


def test_at_most_two_hops(installed: Stack, admin: str) -> None:
    stale = _stored(installed)
    installed.portal.rename()
    installed.portal.rest_redirect = installed.portal.url  # the new address loops on itself
    client = app_context(installed.app).rest(stale, 1)
    with pytest.raises(PortalMoved) as caught:
        client.call("profile")
    assert caught.value.code == "PORTAL_MOVED_TOO_MANY_HOPS"
    assert len(installed.portal.redirects) == 3  # the old address once, the new one twice
    assert not [c for c in installed.portal.calls if c["method"] == "profile"]


def test_a_frame_post_from_the_renamed_portal_stores_the_verified_domain(
    installed: Stack,
) -> None:
    new_domain = installed.portal.rename()
    opened = installed.open(2)
    assert opened.token
    stored = _stored(installed)
    assert stored.domain == new_domain
    assert stored.client_endpoint == f"http://{new_domain}/rest/"
    assert installed.portal.redirects == []


def test_onappupdate_from_the_renamed_portal_stores_the_new_domain(installed: Stack) -> None:
    new_domain = installed.portal.rename()
    response = installed.portal.send_update_event("2")
    assert response is not None and response.status_code == 200
    wait_until(lambda: _stored(installed).app_version == "2")
    stored = _stored(installed)
    assert (stored.domain, stored.client_endpoint) == (new_domain, f"http://{new_domain}/rest/")


def test_onappinstall_from_the_renamed_portal_stores_the_new_domain(installed: Stack) -> None:
    new_domain = installed.portal.rename()
    assert installed.portal.send_install_event().status_code == 200
    stored = _stored(installed)
    assert (stored.domain, stored.client_endpoint) == (new_domain, f"http://{new_domain}/rest/")


def test_an_event_naming_a_domain_app_info_does_not_confirm_changes_nothing(
    installed: Stack,
) -> None:
    before = _stored(installed)
    installed.portal.rename()
    # The delivery names a domain that is not the portal's (app.info names the new one).
    payload_domain = "127.0.0.1:9"
    original = installed.portal._auth_block

    def forged(user_id: int, *, with_tokens: bool) -> dict[str, Any]:
        auth = original(user_id, with_tokens=with_tokens)
        auth["domain"] = payload_domain
        return auth

    installed.portal._auth_block = forged  # type: ignore[method-assign]
    response = installed.portal.send_update_event("2")
    assert response is not None and response.status_code == 200
    with pytest.raises(AssertionError):
        wait_until(lambda: _stored(installed).app_version == "2", timeout=1.5)
    after = _stored(installed)
    assert (after.domain, after.client_endpoint) == (before.domain, before.client_endpoint)


def test_a_client_that_cannot_confirm_a_move_never_follows_it(installed: Stack) -> None:
    import requests

    from b24app.bitrix.auth import StaticToken
    from b24app.bitrix.client import RestClient

    old = installed.portal.url
    installed.portal.rename()
    token = installed.portal.frame_post(1).form["AUTH_ID"]
    client = RestClient(requests.Session(), f"{old}/rest/", StaticToken(token))
    with pytest.raises(PortalMoved) as caught:
        client.call("profile")
    assert caught.value.code == "PORTAL_MOVED_UNVERIFIED"
    assert client.requests_sent == 1
    assert not [c for c in installed.portal.calls if c["method"] == "profile"]


def test_case03_a_refresh_stores_the_rest_base_the_oauth_server_names(installed: Stack) -> None:
    new_domain = installed.portal.rename()
    portal = _stored(installed)
    stale = installed.db.get_token(portal.id, 1).access_token
    installed.emu.expire_access_tokens(installed.portal, 1)
    app_context(installed.app).user_tokens(portal, 1).refresh(stale)
    after = _stored(installed)
    assert after.domain == new_domain
    assert after.client_endpoint == f"http://{new_domain}/rest/"
    assert installed.portal.redirects == []  # learnt from the token answer, not a 302
