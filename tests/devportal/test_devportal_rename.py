"""A portal's domain change: the old address answers 302, app.info names the new domain."""

from __future__ import annotations

import requests
from devportal_support import call, token_for

from b24app.devportal import DevPortal, Portal


def test_rename_moves_the_portal_and_the_old_address_redirects(
    emu: DevPortal, portal: Portal
) -> None:
    token = token_for(portal)
    old_url, old_domain, member_id = portal.url, portal.domain, portal.member_id
    new_domain = portal.rename()
    assert new_domain == portal.domain != old_domain
    assert portal.member_id == member_id
    calls_before = len(portal.calls)
    moved = requests.post(
        f"{old_url}/rest/profile.json?x=1", json={"auth": token}, timeout=10, allow_redirects=False
    )
    assert moved.status_code == 302
    assert moved.headers["Location"] == f"{portal.url}/rest/profile.json?x=1"
    assert len(portal.calls) == calls_before  # nothing ran at the old address
    assert portal.redirects[-1]["method"] == "POST"
    answered = call(portal, "profile", token)
    assert answered.status_code == 200 and answered.json()["result"]["ID"] in (1, "1")
    info = requests.post(f"{emu.oauth_url}/rest/app.info", data={"auth": token}, timeout=10)
    install = info.json()["result"]["install"]
    assert install["domain"] == new_domain
    assert install["client_endpoint"] == f"http://{new_domain}/rest/"
    assert install["member_id"] == member_id
    post = portal.frame_post(1)
    assert post.query["DOMAIN"] == new_domain


def test_a_second_rename_points_every_old_address_at_the_newest(portal: Portal) -> None:
    first = portal.url
    portal.rename()
    second = portal.url
    portal.rename()
    for old in (first, second):
        moved = requests.get(f"{old}/rest/profile.json", timeout=10, allow_redirects=False)
        assert moved.headers["Location"] == f"{portal.url}/rest/profile.json"


def test_rest_redirect_sends_rest_calls_elsewhere_without_running_them(portal: Portal) -> None:
    token = token_for(portal)
    portal.rest_redirect = "http://127.0.0.1:9"
    moved = requests.post(
        f"{portal.url}/rest/profile.json", json={"auth": token}, timeout=10, allow_redirects=False
    )
    assert moved.status_code == 302
    assert moved.headers["Location"] == "http://127.0.0.1:9/rest/profile.json"
    assert not [c for c in portal.calls if c["method"] == "profile"]
    portal.rest_redirect = None
    assert call(portal, "profile", token).status_code == 200
