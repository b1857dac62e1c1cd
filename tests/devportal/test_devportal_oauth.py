"""The emulated OAuth server: token grants, single-use refresh tokens, app.info."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests
from devportal_support import CLIENT_ID, CLIENT_SECRET, call

from b24app.devportal import DevPortal, Portal


def _token(emu: DevPortal, **params: str) -> requests.Response:
    base = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    base.update(params)
    return requests.get(f"{emu.oauth_url}/oauth/token/", params=base, timeout=10)


def test_refresh_grant_shape_and_single_use(emu: DevPortal, portal: Portal) -> None:
    post = portal.frame_post(2)
    refresh = post.form["REFRESH_ID"]
    response = _token(emu, grant_type="refresh_token", refresh_token=refresh)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "access_token",
        "client_endpoint",
        "domain",
        "expires",
        "expires_in",
        "member_id",
        "refresh_token",
        "scope",
        "server_endpoint",
        "status",
        "user_id",
    }
    assert body["domain"] == emu.oauth_host != portal.domain
    assert body["client_endpoint"] == portal.url + "/rest/"
    assert body["server_endpoint"] == emu.oauth_url + "/rest/"
    assert body["member_id"] == portal.member_id
    assert body["user_id"] == 2 and body["status"] == "L" and body["expires_in"] == 3600
    assert call(portal, "user.current", body["access_token"]).json()["result"]["ID"] == "2"
    again = _token(emu, grant_type="refresh_token", refresh_token=refresh)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert [e["ok"] for e in emu.oauth_log] == [True, False]
    assert emu.oauth_log[0]["user_id"] == 2 and emu.oauth_log[0]["member_id"] == portal.member_id


def test_refresh_by_form_post(emu: DevPortal, portal: Portal) -> None:
    refresh = portal.frame_post(1).form["REFRESH_ID"]
    data = {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": refresh,
    }
    response = requests.post(f"{emu.oauth_url}/oauth/token/", data=data, timeout=10)
    assert response.status_code == 200 and response.json()["user_id"] == 1


def test_invalid_client(emu: DevPortal, portal: Portal) -> None:
    refresh = portal.frame_post(1).form["REFRESH_ID"]
    response = _token(emu, grant_type="refresh_token", refresh_token=refresh, client_secret="no")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert emu.oauth_log[-1] == {
        "host": emu.oauth_host,
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "ok": False,
        "error": "invalid_client",
        "member_id": None,
        "user_id": None,
    }
    # a failed client check does not use up the refresh token
    assert _token(emu, grant_type="refresh_token", refresh_token=refresh).status_code == 200


def test_authorization_code_flow(emu: DevPortal, portal: Portal) -> None:
    portal.installed = True
    response = requests.get(
        f"{portal.url}/oauth/authorize/",
        params={"client_id": CLIENT_ID, "state": "xyz"},
        cookies={"b24emu_user": "2"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert location.path == "/oauth/callback"
    assert query["state"] == "xyz" and query["domain"] == portal.domain
    assert query["member_id"] == portal.member_id and query["server_domain"] == emu.oauth_host
    first = _token(emu, grant_type="authorization_code", code=query["code"])
    assert first.status_code == 200
    body = first.json()
    assert "user_id" not in body and "expires" not in body
    assert body["domain"] == emu.oauth_host and body["client_endpoint"] == portal.url + "/rest/"
    assert call(portal, "profile", body["access_token"]).json()["result"]["ID"] == "2"
    replay = _token(emu, grant_type="authorization_code", code=query["code"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


def test_authorize_needs_installed_app(emu: DevPortal, portal: Portal) -> None:
    response = requests.get(
        f"{portal.url}/oauth/authorize/",
        params={"client_id": CLIENT_ID, "state": "s"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 400 and "Location" not in response.headers


def test_oauth_app_info(emu: DevPortal, portal: Portal) -> None:
    token = portal.frame_post(3).form["AUTH_ID"]
    for response in (
        requests.get(f"{emu.oauth_url}/rest/app.info", params={"auth": token}, timeout=10),
        requests.post(f"{emu.oauth_url}/rest/app.info.json", json={"auth": token}, timeout=10),
        requests.post(f"{emu.oauth_url}/rest/app.info", data={"auth": token}, timeout=10),
    ):
        assert response.status_code == 200
        result = response.json()["result"]
        assert result["client_id"] == CLIENT_ID and result["user_id"] == 3
        assert result["install"] == {
            "installed": False,
            "version": 1,
            "status": "L",
            "scope": "crm,placement,user_brief",
            "domain": portal.domain,
            "uri": portal.url,
            "client_endpoint": portal.url + "/rest/",
            "member_id": portal.member_id,
            "member_type": "PORTAL",
        }
    emu.expire_access_tokens(portal=portal, user_id=3)
    expired = requests.get(f"{emu.oauth_url}/rest/app.info", params={"auth": token}, timeout=10)
    assert expired.status_code == 401 and expired.json()["error"] == "expired_token"
    unknown = requests.get(f"{emu.oauth_url}/rest/app.info", params={"auth": "x"}, timeout=10)
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_token"


def test_tokens_dead_after_uninstall(emu: DevPortal, portal: Portal) -> None:
    post = portal.frame_post(1)
    portal.uninstall()
    assert call(portal, "profile", post.form["AUTH_ID"]).json()["error"] == "invalid_token"
    refreshed = _token(emu, grant_type="refresh_token", refresh_token=post.form["REFRESH_ID"])
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def test_expired_access_token_on_portal(emu: DevPortal, portal: Portal) -> None:
    token = portal.frame_post(1).form["AUTH_ID"]
    other = portal.frame_post(2).form["AUTH_ID"]
    assert emu.expire_access_tokens(user_id=1) >= 1
    response = call(portal, "profile", token)
    assert response.status_code == 401 and response.json()["error"] == "expired_token"
    assert call(portal, "profile", other).status_code == 200


def test_second_portal(emu: DevPortal) -> None:
    second = emu.add_portal(lang="de", seed=False)
    token = second.frame_post(1).form["AUTH_ID"]
    assert call(second, "app.info", token).json()["result"]["LANGUAGE_ID"] == "de"
    assert call(emu.portal, "profile", token).json()["error"] == "invalid_token"
    assert second.records(3) == {}
