"""The authorization-code flow: issued state, trusted server, replay-safe (CASE-02, item 7)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests.helpers import Stack
from tests.test_frames import Recorder, trap  # noqa: F401 - the trap fixture


@pytest.fixture
def user(installed: Stack) -> Iterator[str]:
    opened = installed.open(1)
    assert opened.token
    yield opened.token


def _authorize(stack: Stack, token: str) -> str:
    """Ask the app for the authorize URL, let the portal redirect; the callback URL."""
    answer = stack.api("POST", "/reauthorize", token)
    assert answer.status_code == 200, answer.text
    url = answer.json()["authorizeUrl"]
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == stack.portal.url
    assert parts.path == "/oauth/authorize/"
    query = parse_qs(parts.query)
    assert set(query) == {"client_id", "state"}
    redirect = requests.get(url, allow_redirects=False, timeout=10)
    assert redirect.status_code == 302
    return redirect.headers["Location"]


def _grants(stack: Stack) -> list[dict]:
    return [e for e in stack.emu.oauth_log if e["grant_type"] == "authorization_code"]


def test_case02_code_is_exchanged_at_the_named_server_and_stored(
    installed: Stack, user: str
) -> None:
    portal = installed.db.get_portal(member_id=installed.portal.member_id)
    installed.db.set_token_status(portal.id, 1, "reauth_required")
    before = installed.db.get_token(portal.id, 1)
    callback = _authorize(installed, user)
    query = parse_qs(urlsplit(callback).query)
    assert query["server_domain"] == [installed.emu.oauth_host]
    page = requests.get(callback, timeout=10)
    assert page.status_code == 200, page.text
    assert "authorised again" in page.text
    grants = _grants(installed)
    assert len(grants) == 1 and grants[0]["ok"]
    after = installed.db.get_token(portal.id, 1)
    assert after.status == "active" and after.access_token != before.access_token
    assert after.version > before.version
    assert query["code"][0] not in page.text


def test_case02_a_replayed_callback_shows_reauthorise_and_keeps_tokens(
    installed: Stack, user: str
) -> None:
    callback = _authorize(installed, user)
    assert requests.get(callback, timeout=10).status_code == 200
    portal = installed.db.get_portal(member_id=installed.portal.member_id)
    stored = installed.db.get_token(portal.id, 1)
    replay = requests.get(callback, timeout=10)
    assert replay.status_code == 409
    assert "re-authorise" in replay.text
    assert installed.db.get_token(portal.id, 1) == stored
    assert len(_grants(installed)) == 1  # the replay never reached the OAuth server
    # the same code with a fresh state: the OAuth server refuses it, no loop, tokens kept
    fresh = parse_qs(urlsplit(_authorize(installed, user)).query)
    old = parse_qs(urlsplit(callback).query)
    reused = {key: value[0] for key, value in fresh.items()}
    reused["code"] = old["code"][0]
    answer = requests.get(f"{installed.url}/oauth/callback?{urlencode(reused)}", timeout=10)
    assert answer.status_code == 400 and "re-authorise" in answer.text
    grants = _grants(installed)
    assert len(grants) == 2 and grants[1]["error"] == "invalid_grant"
    assert installed.db.get_token(portal.id, 1) == stored


@pytest.mark.parametrize("state", ["", "short", "x" * 40])
def test_unknown_or_malformed_state_is_refused_without_any_call(
    installed: Stack, user: str, state: str
) -> None:
    query = {
        "code": "a" * 32,
        "state": state,
        "domain": installed.portal.domain,
        "member_id": installed.portal.member_id,
        "server_domain": installed.emu.oauth_host,
    }
    answer = requests.get(f"{installed.url}/oauth/callback?{urlencode(query)}", timeout=10)
    assert answer.status_code in (400, 409)
    assert _grants(installed) == []


def test_an_untrusted_server_domain_gets_nothing(
    installed: Stack,
    user: str,
    trap: str,  # noqa: F811
) -> None:
    callback = _authorize(installed, user)
    parts = urlsplit(callback)
    query = {key: value[0] for key, value in parse_qs(parts.query).items()}
    query["server_domain"] = trap.removeprefix("http://")
    answer = requests.get(f"{installed.url}/oauth/callback?{urlencode(query)}", timeout=10)
    assert answer.status_code == 400
    assert Recorder.hits == []
    assert _grants(installed) == []


def test_a_state_of_one_portal_cannot_complete_another(installed: Stack, user: str) -> None:
    callback = _authorize(installed, user)
    query = {key: value[0] for key, value in parse_qs(urlsplit(callback).query).items()}
    query["member_id"] = "another-member"
    answer = requests.get(f"{installed.url}/oauth/callback?{urlencode(query)}", timeout=10)
    assert answer.status_code == 400
    assert _grants(installed) == []


def test_reauthorize_needs_a_session(installed: Stack) -> None:
    assert installed.api("POST", "/reauthorize", None).status_code == 401


def test_a_code_flow_completed_by_another_user_stores_nothing(installed: Stack) -> None:
    opened = installed.open(2)
    assert opened.token
    portal = installed.db.get_portal(member_id=installed.portal.member_id)
    installed.db.set_token_status(portal.id, 2, "reauth_required")
    before = installed.db.get_token(portal.id, 2)
    answer = installed.api("POST", "/reauthorize", opened.token)
    # user 3 is the one logged in to the portal in this browser
    redirect = requests.get(
        answer.json()["authorizeUrl"],
        cookies={"b24emu_user": "3"},
        allow_redirects=False,
        timeout=10,
    )
    page = requests.get(redirect.headers["Location"], timeout=10)
    assert page.status_code == 409
    assert "another Bitrix24 user" in page.text
    assert installed.db.get_token(portal.id, 2) == before
    assert installed.db.get_token(portal.id, 3) is None


def test_an_expired_state_is_refused_and_keeps_tokens(
    installed: Stack, user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from b24app.web import oauth

    monkeypatch.setattr(oauth, "STATE_TTL", 0.0)  # every state issued now is already expired
    portal = installed.db.get_portal(member_id=installed.portal.member_id)
    before = installed.db.get_token(portal.id, 1)
    callback = _authorize(installed, user)
    page = requests.get(callback, timeout=10)
    assert page.status_code == 409
    assert "re-authorise" in page.text
    assert _grants(installed) == []  # the code was never sent anywhere
    assert installed.db.get_token(portal.id, 1) == before


def test_case02_the_exchange_goes_to_the_trusted_server_server_domain_names(
    installed: Stack, user: str
) -> None:
    """Two trusted servers (the emulator's, under two names): the callback names the second."""
    from b24app import app_context

    default = installed.emu.oauth_url
    second = default.replace("127.0.0.1", "localhost")
    settings = app_context(installed.app).settings
    object.__setattr__(settings, "oauth_servers", (default, second))
    callback = _authorize(installed, user)
    parts = urlsplit(callback)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["server_domain"] = urlsplit(second).netloc
    page = requests.get(f"{callback.split('?', 1)[0]}?{urlencode(query)}", timeout=10)
    assert page.status_code == 200, page.text
    grants = _grants(installed)
    assert [(g["host"], g["ok"]) for g in grants] == [(urlsplit(second).netloc, True)]
