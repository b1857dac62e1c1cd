"""Refresh outcomes told apart, tolerant token answers, stale answers lose (CASE-03, CASE-04)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from b24app.bitrix.auth import CredentialGuard, UserTokens
from b24app.bitrix.errors import AuthFailed, TransientError
from b24app.bitrix.oauth import OAuthServer, parse_grant
from b24app.security import TokenCipher
from b24app.storage.db import Database, Portal
from tests.databases import database_url

Reply = tuple[int, str, str]


class ScriptedOAuth:
    """A far-side OAuth server: each token request gets the next scripted reply."""

    def __init__(self) -> None:
        self.replies: list[Reply | Callable[[dict[str, str]], Reply]] = []
        self.requests: list[dict[str, str]] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                params = dict(parse_qsl(urlsplit(self.path).query))
                params.update(dict(parse_qsl(raw.decode("utf-8"))))
                scripted.requests.append(params)
                reply = scripted.replies.pop(0) if scripted.replies else (500, "text/html", "")
                status, ctype, body = reply(params) if callable(reply) else reply
                data = body.encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up waiting (the timeout case)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def json(self, payload: dict[str, Any], status: int = 200) -> None:
        self.replies.append((status, "application/json", json.dumps(payload)))

    def html(self, status: int = 503) -> None:
        self.replies.append((status, "text/html", "<html><body>Bad gateway</body></html>"))


@pytest.fixture
def oauth() -> Iterator[ScriptedOAuth]:
    side = ScriptedOAuth()
    yield side
    side.server.shutdown()


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(database_url(tmp_path, "tokens"), cipher=TokenCipher("test-token-key"))
    database.create_tables()
    return database


def _portal(db: Database, member_id: str = "MEMBER_A", user_id: int = 1) -> Portal:
    portal = db.upsert_portal(
        member_id=member_id,
        domain=f"{member_id.lower()}.bitrix24.example",
        scheme="https",
        client_endpoint=f"https://{member_id.lower()}.bitrix24.example/rest/",
        server_endpoint="https://oauth.bitrix.info/rest/",
    )
    db.store_token(
        portal_id=portal.id,
        user_id=user_id,
        access_token="AT_1",
        refresh_token="RT_1",
        expires_at=time.time() - 10,  # the stored expiry has passed: refresh first
    )
    return portal


def _tokens(
    db: Database,
    oauth: ScriptedOAuth,
    portal: Portal,
    *,
    fingerprint: str = "creds-1",
    sleeps: list[float] | None = None,
    timeout: float = 5.0,
) -> UserTokens:
    server = OAuthServer(oauth.url, "local.app", "SECRET_1", timeout=timeout)
    return UserTokens(
        db,
        server,
        portal,
        1,
        guard=CredentialGuard(fingerprint=fingerprint, portals=3, window=600),
        sleep=(sleeps.append if sleeps is not None else lambda _s: None),
    )


def _grant(member_id: str = "MEMBER_A", **extra: Any) -> dict[str, Any]:
    return {
        "access_token": "AT_2",
        "refresh_token": "RT_2",
        "expires_in": 3600,
        "member_id": member_id,
        "domain": "oauth.bitrix.info",
        **extra,
    }


def test_a_good_refresh_stores_the_new_pair_and_secret_goes_only_to_the_oauth_server(
    db: Database, oauth: ScriptedOAuth
) -> None:
    portal = _portal(db)
    oauth.json(_grant(user_id=1))
    assert _tokens(db, oauth, portal).access_token() == "AT_2"
    assert len(oauth.requests) == 1
    sent = oauth.requests[0]
    assert sent["grant_type"] == "refresh_token" and sent["refresh_token"] == "RT_1"
    assert sent["client_secret"] == "SECRET_1"
    pair = db.get_token(portal.id, 1)
    assert (pair.access_token, pair.refresh_token, pair.status) == ("AT_2", "RT_2", "active")
    # `domain` of a token answer is the OAuth server, never the portal's domain
    assert db.get_portal(portal_id=portal.id).domain == portal.domain


def test_case04_invalid_grant_marks_the_user_and_stops_refreshing(
    db: Database, oauth: ScriptedOAuth, caplog: pytest.LogCaptureFixture
) -> None:
    portal = _portal(db)
    oauth.json({"error": "invalid_grant", "error_description": "Invalid refresh token"}, 400)
    with pytest.raises(AuthFailed) as failure:
        _tokens(db, oauth, portal).access_token()
    assert failure.value.code == "reauth_required"
    assert db.get_token(portal.id, 1).status == "reauth_required"
    with pytest.raises(AuthFailed):
        _tokens(db, oauth, portal).access_token()
    assert len(oauth.requests) == 1  # no further automatic refresh
    assert len([r for r in caplog.records if "invalid_grant" in r.getMessage()]) == 1


def test_case04_invalid_client_marks_the_portal_then_several_raise_the_alarm(
    db: Database, oauth: ScriptedOAuth, caplog: pytest.LogCaptureFixture
) -> None:
    portals = [_portal(db, f"MEMBER_{n}") for n in range(4)]
    refused = {"error": "invalid_client", "error_description": "Invalid client"}
    for portal in portals[:3]:
        oauth.json(refused, 401)
        with pytest.raises(AuthFailed) as failure:
            _tokens(db, oauth, portal).access_token()
        assert failure.value.code == "app_credentials_invalid"
        assert db.get_portal(portal_id=portal.id).app_credentials_invalid
    assert len(oauth.requests) == 3
    # the first portal is marked: it is not tried again
    with pytest.raises(AuthFailed):
        _tokens(db, oauth, portals[0]).access_token()
    alerts = [r for r in caplog.records if "OPERATOR ALERT" in r.getMessage()]
    assert len(alerts) == 1 and alerts[0].levelno == logging.CRITICAL
    # three portals within the window: refresh stops everywhere, even on a healthy portal
    with pytest.raises(AuthFailed) as failure:
        _tokens(db, oauth, portals[3]).access_token()
    assert failure.value.code == "app_credentials_invalid"
    assert len(oauth.requests) == 3
    # other credentials (a new B24_CLIENT_SECRET at start) void the alarm
    oauth.json(_grant("MEMBER_3"))
    assert _tokens(db, oauth, portals[3], fingerprint="creds-2").access_token() == "AT_2"
    # an operator clears it for the old credentials too
    assert db.clear_alarm("app_credentials_invalid")
    oauth.json(_grant("MEMBER_0"))
    assert _tokens(db, oauth, portals[0]).access_token() == "AT_2"


@pytest.mark.parametrize("fault", ["html", "json500", "timeout"])
def test_case04_transient_faults_are_retried_with_backoff_and_touch_nothing(
    db: Database, oauth: ScriptedOAuth, fault: str
) -> None:
    portal = _portal(db)
    before = db.get_token(portal.id, 1)

    def slow(_params: dict[str, str]) -> Reply:
        time.sleep(0.6)
        return 200, "application/json", json.dumps(_grant())

    for _ in range(3):
        if fault == "html":
            oauth.html(503)
        elif fault == "json500":
            oauth.replies.append((502, "text/plain", "upstream down"))
        else:
            oauth.replies.append(slow)
    sleeps: list[float] = []
    with pytest.raises(TransientError) as failure:
        _tokens(db, oauth, portal, sleeps=sleeps, timeout=0.3).access_token()
    assert failure.value.code == "OAUTH_UNAVAILABLE"
    assert len(oauth.requests) == 3
    assert sleeps == [0.5, 1.0]
    after = db.get_token(portal.id, 1)
    assert (after.access_token, after.refresh_token, after.status, after.version) == (
        before.access_token,
        before.refresh_token,
        "active",
        before.version,
    )
    assert not db.get_portal(portal_id=portal.id).app_credentials_invalid


def test_case04_transient_then_success(db: Database, oauth: ScriptedOAuth) -> None:
    portal = _portal(db)
    oauth.html(503)
    oauth.json(_grant())
    assert _tokens(db, oauth, portal).access_token() == "AT_2"


def test_case04_answer_for_another_member_is_rejected_and_logged(
    db: Database, oauth: ScriptedOAuth, caplog: pytest.LogCaptureFixture
) -> None:
    portal = _portal(db)
    oauth.json(_grant("MEMBER_OTHER"))
    with pytest.raises(AuthFailed) as failure:
        _tokens(db, oauth, portal).access_token()
    assert failure.value.code == "member_mismatch"
    pair = db.get_token(portal.id, 1)
    assert (pair.access_token, pair.refresh_token) == ("AT_1", "RT_1")
    assert any("security" in r.getMessage() for r in caplog.records)


def test_a_stale_refresh_answer_never_overwrites_a_newer_pair(
    db: Database, oauth: ScriptedOAuth
) -> None:
    portal = _portal(db)

    def newer_pair_arrives_meanwhile(_params: dict[str, str]) -> Reply:
        # the user reopens the app while our refresh is in flight
        db.store_token(
            portal_id=portal.id,
            user_id=1,
            access_token="AT_FRAME",
            refresh_token="RT_FRAME",
            expires_at=time.time() + 3600,
        )
        return 200, "application/json", json.dumps(_grant())

    oauth.replies.append(newer_pair_arrives_meanwhile)
    assert _tokens(db, oauth, portal).access_token() == "AT_FRAME"
    pair = db.get_token(portal.id, 1)
    assert (pair.access_token, pair.refresh_token) == ("AT_FRAME", "RT_FRAME")


NOW = 1_700_000_000.0
CASE03 = {
    "access_token": "AT_2",
    "expires": 1780319382,
    "expires_in": 3600,
    "scope": "app",
    "domain": "oauth.bitrix24.tech",
    "server_endpoint": "https://oauth.bitrix24.tech/rest/",
    "status": "L",
    "client_endpoint": "https://portal-a.bitrix24.com/rest/",
    "member_id": "MEMBER_A",
    "user_id": 67,
    "refresh_token": "RT_2",
    "some_future_field": "x",
}


@pytest.mark.parametrize(
    ("changes", "expires_at", "user_id"),
    [
        ({}, 1780319382.0, 67),
        ({"expires": "1780319382", "expires_in": "3600", "user_id": "67"}, 1780319382.0, 67),
        ({"expires": None}, NOW + 3600, 67),
        ({"expires": None, "expires_in": "120"}, NOW + 120, 67),
        ({"expires": None, "expires_in": None}, NOW + 3600, 67),
        ({"expires": "soon", "expires_in": "x"}, NOW + 3600, 67),
        ({"user_id": None}, 1780319382.0, None),
        ({"user_id": "not-a-number"}, 1780319382.0, None),
    ],
)
def test_case03_token_answers_are_read_tolerantly(
    changes: dict[str, Any], expires_at: float, user_id: int | None
) -> None:
    payload = {**CASE03, **changes}
    payload = {key: value for key, value in payload.items() if value is not None}
    grant = parse_grant(payload, now=NOW)
    assert grant.expires_at == expires_at
    assert grant.user_id == user_id
    assert grant.member_id == "MEMBER_A"
    assert grant.client_endpoint == "https://portal-a.bitrix24.com/rest/"
    assert grant.access_token == "AT_2" and grant.refresh_token == "RT_2"
    assert not hasattr(grant, "domain")  # the OAuth server's name is not a portal domain


def test_a_slow_flaky_grant_keeps_its_lease_so_no_second_refresher_gets_in(
    db: Database, oauth: ScriptedOAuth
) -> None:
    """Three tries with backoff outlast one lease; it is renewed before each try."""
    portal = _portal(db)
    seen: list[tuple[bool, bool]] = []

    def slow(status: int) -> Callable[[dict[str, str]], Reply]:
        def reply(_params: dict[str, str]) -> Reply:
            time.sleep(0.45)
            pair = db.get_token(portal.id, 1)
            with db.reader.connect() as conn:
                until = conn.exec_driver_sql("SELECT lock_until FROM b24_tokens").scalar()
            live = until is not None and until > time.time()
            # another process's refresher, meeting the expired pair now
            intruder = db.take_refresh_lease(
                portal.id, 1, version=pair.version, owner="other-process", seconds=5
            )
            seen.append((live, intruder))
            if status == 200:
                return 200, "application/json", json.dumps(_grant())
            return status, "text/html", "<html>busy</html>"

        return reply

    oauth.replies.extend([slow(503), slow(503), slow(200)])
    tokens = _tokens(db, oauth, portal, timeout=0.5)
    tokens.sleep = time.sleep  # real backoff: 0.5 s, then 1 s
    assert tokens.lease_seconds < 0.45 * 3 + 1.5  # the whole grant outlasts one lease
    assert tokens.access_token() == "AT_2"
    assert seen == [(True, False)] * 3
    assert db.get_token(portal.id, 1).version == 2


def test_an_invalid_grant_never_marks_a_pair_stored_meanwhile(
    db: Database, oauth: ScriptedOAuth
) -> None:
    portal = _portal(db)

    def reopened_then_refused(_params: dict[str, str]) -> Reply:
        # the user reopens the app (a fresh pair) while our refresh token is being refused
        db.store_token(
            portal_id=portal.id,
            user_id=1,
            access_token="AT_FRAME",
            refresh_token="RT_FRAME",
            expires_at=time.time() + 3600,
        )
        return 400, "application/json", json.dumps({"error": "invalid_grant"})

    oauth.replies.append(reopened_then_refused)
    assert _tokens(db, oauth, portal).access_token() == "AT_FRAME"
    pair = db.get_token(portal.id, 1)
    assert (pair.access_token, pair.status) == ("AT_FRAME", "active")


def test_case03_a_token_answer_for_another_user_is_never_stored(
    db: Database, oauth: ScriptedOAuth, caplog: pytest.LogCaptureFixture
) -> None:
    portal = _portal(db)
    oauth.json(_grant(user_id=67))  # the pair is user 1's; the answer says user 67
    with pytest.raises(AuthFailed) as failure:
        _tokens(db, oauth, portal).access_token()
    assert failure.value.code == "user_mismatch"
    pair = db.get_token(portal.id, 1)
    assert (pair.access_token, pair.status) == ("AT_1", "reauth_required")
    assert "AT_2" not in caplog.text and any("security" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("member_id", "client_endpoint", "stored"),
    [
        ("MEMBER_A", "https://portal-b.bitrix24.example/rest/", "portal-b.bitrix24.example"),
        ("", "https://portal-b.bitrix24.example/rest/", "member_a.bitrix24.example"),
        ("MEMBER_A", "http://portal-b.bitrix24.example/rest/", "member_a.bitrix24.example"),
        ("MEMBER_A", "https://127.0.0.1/rest/", "member_a.bitrix24.example"),
        ("MEMBER_A", "https://portal-b.bitrix24.example/evil/", "member_a.bitrix24.example"),
        ("MEMBER_A", "javascript:alert(1)", "member_a.bitrix24.example"),
    ],
)
def test_case03_the_rest_base_a_token_answer_names_is_stored_when_usable(
    db: Database, oauth: ScriptedOAuth, member_id: str, client_endpoint: str, stored: str
) -> None:
    portal = _portal(db)
    grant = _grant(client_endpoint=client_endpoint)
    grant["member_id"] = member_id
    oauth.json(grant)
    assert _tokens(db, oauth, portal).access_token() == "AT_2"
    after = db.get_portal(portal_id=portal.id)
    assert after.domain == stored
    assert after.client_endpoint == f"https://{stored}/rest/"


@pytest.mark.parametrize(
    ("changes", "code"),
    [({"member_id": "x" * 32}, "member_mismatch"), ({"user_id": 3}, "user_mismatch")],
)
def test_a_token_answer_for_someone_else_has_its_own_api_code(
    installed: Any, changes: dict[str, Any], code: str
) -> None:
    stack = installed
    token = stack.open(1).token
    stack.emu.expire_access_tokens(stack.portal, 1)
    stack.emu.grant_answer_changes = changes
    answer = stack.api("PUT", "/settings", token, {"phoneCountry": "DE"})
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == code


# -- CASE-01 against the emulator, with the real UserTokens ------------------------------------


def _grants_of(stack: Any) -> list[dict[str, Any]]:
    return [e for e in stack.emu.oauth_log if e["grant_type"] == "refresh_token"]


def _profile_calls(stack: Any) -> int:
    return len([c for c in stack.portal.calls if c["method"] == "profile"]) + len(
        [r for r in stack.portal.rejected if r["method"] == "profile"]
    )


def _client(stack: Any, user_id: int) -> Any:
    from b24app import app_context

    ctx = app_context(stack.app)
    return ctx.rest(ctx.db.get_portal(member_id=stack.portal.member_id), user_id)


@pytest.mark.parametrize("how", ["expired", "invalid"])
def test_case01_an_expired_or_invalid_token_is_refreshed_once_and_the_call_retried(
    installed: Any, how: str
) -> None:
    stack = installed
    assert stack.open(2).token
    stored = stack.db.get_token(stack.db.get_portal(member_id=stack.portal.member_id).id, 2)
    if how == "expired":
        stack.emu.expire_access_tokens(stack.portal, 2)
    else:
        stack.emu.tokens.access[stored.access_token].revoked = True  # "invalid_token"
    assert _client(stack, 2).call("profile")["ID"] == "2"
    assert [r["error"] for r in stack.portal.rejected] == [
        "expired_token" if how == "expired" else "invalid_token"
    ]
    assert [(g["user_id"], g["ok"]) for g in _grants_of(stack)] == [(2, True)]
    assert _profile_calls(stack) == 2


def test_case01_a_second_401_after_the_refresh_stops_without_looping(installed: Any) -> None:
    stack = installed
    assert stack.open(2).token
    stack.emu.expire_access_tokens(stack.portal, 2)
    stack.emu.access_token_ttl = 0  # the refresh hands out a token that is already dead
    with pytest.raises(AuthFailed):
        _client(stack, 2).call("profile")
    assert len(_grants_of(stack)) == 1
    assert _profile_calls(stack) == 2  # the first call and one retry, no more
