"""The secret scan (issue 4, item 9): the whole flow, every log line and every answer.

Install (wizard and callback), openings, refusals, events (genuine and forged), scans and
merges across a token refresh, every API read, a rename, an update, re-authorisation and a
refused refresh, then uninstall. Every log record is formatted whole (traceback included),
every response is captured at the app's WSGI edge (status, headers, body), and none may
hold a token, a secret or an application_token.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from b24app import app_context
from b24app.web.events import wait_for_events
from tests.helpers import Stack, app_event_form, app_log, build_stack, wait_until


class Answers:
    """Wraps the app's WSGI callable and keeps every response it gives, headers and body."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.seen: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        head: list[str] = []

        def recording_start(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            head.append(status)
            head.extend(f"{name}: {value}" for name, value in headers)
            return start_response(status, headers, *rest)

        body = b"".join(self.app(environ, recording_start))
        self.seen.append("\n".join(head) + "\n\n" + body.decode("utf-8", "replace"))
        return [body]


class Lines(logging.Handler):
    """Every log record of every logger, formatted whole (exception and stack included)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []
        self.app_lines: list[str] = []
        # what the app's own handler wrote, as production writes it (text or JSON)
        self.written = io.StringIO()

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        self.lines.append(line)
        if record.name.startswith("b24app"):
            self.app_lines.append(line)


@pytest.fixture(params=["text", "json"])
def watched(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[Stack, Answers, Lines]]:
    stack = build_stack(tmp_path, token_key=secrets.token_urlsafe(32))
    answers = Answers(stack.app.wsgi_app)
    stack.app.wsgi_app = answers  # type: ignore[method-assign]
    lines = Lines()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(lines)
    root.setLevel(logging.DEBUG)
    try:
        with app_log(request.param) as written:
            lines.written = written
            yield stack, answers, lines
        if request.param == "json":  # one object a line, each request named, no query strings
            entries = [json.loads(line) for line in written.getvalue().splitlines()]
            assert entries and {"ts", "level", "logger", "message"} <= set(entries[0])
            seen = [e for e in entries if e["logger"] == "b24app.access"]
            assert seen and all(e.get("request_id") and "?" not in e["path"] for e in seen)
            assert any(e.get("job_id") for e in entries)
    finally:
        root.removeHandler(lines)
        root.setLevel(previous)
        stack.close()


def _portal_state(stack: Stack) -> str:
    return str(stack.db.get_portal(member_id=stack.portal.member_id).state)


def test_no_token_or_secret_reaches_a_log_line_or_an_answer(
    watched: tuple[Stack, Answers, Lines],
) -> None:
    stack, answers, lines = watched
    portal = stack.portal
    application_tokens: set[str] = set()
    sessions: list[str] = []

    # install: the wizard, then the server-to-server callback
    assert 'data-state="ok"' in stack.install(1).text
    assert portal.send_install_event().status_code == 200
    application_tokens.add(portal.application_token)
    for user_id in (1, 2):
        opened = stack.open(user_id)
        assert opened.token
        sessions.append(opened.token)
    admin, user = sessions

    # refusals: forged tokens, a wrong application_token, a non-admin's wizard, a GET
    forged = portal.frame_post(2)
    forged.form["AUTH_ID"] = "forged-" + secrets.token_hex(8)
    assert stack.frame("/app", forged).status_code == 401
    assert stack.frame("/install", forged).status_code == 401
    wrong = portal.frame_post(2)
    wrong.form["APPLICATION_TOKEN"] = secrets.token_hex(16)
    application_tokens.add(wrong.form["APPLICATION_TOKEN"])
    assert stack.frame("/app", wrong).status_code == 403
    assert stack.frame("/install", portal.frame_post(2, install=True)).status_code == 403
    assert requests.get(f"{stack.url}/app", timeout=10).status_code == 400

    # events: a genuine update, a non-admin's forged one, a forged CRM event, an early uninstall
    portal.send_update_event("2")
    evil = secrets.token_hex(16)
    application_tokens.add(evil)
    forms = [
        app_event_form(stack, "ONAPPUPDATE", 2, evil),
        app_event_form(stack, "ONAPPINSTALL", 2, evil),
        [
            ("event", "ONCRMDEALUPDATE"),
            ("data[FIELDS][ID]", "42"),
            ("ts", "1700000100"),
            ("auth[member_id]", portal.member_id),
            ("auth[application_token]", evil),
        ],
        [
            ("event", "ONAPPUNINSTALL"),
            ("ts", "1700000101"),
            ("auth[member_id]", portal.member_id),
            ("auth[application_token]", portal.application_token),
        ],
    ]
    for form in forms:
        assert requests.post(f"{stack.url}/events", data=form, timeout=10).status_code == 200
    assert wait_for_events()

    # scans and merges across an expired token (a refresh), and every API read
    stack.emu.expire_access_tokens(portal, 2)
    scan = stack.scan(user, 3)
    assert scan["status"] == "done"
    groups = [g["entityIds"] for g in scan["groups"]]
    merge = stack.merge(user, groups[:2])
    assert merge["status"] == "done"
    ids = ",".join(str(i) for i in groups[2])
    reads = [
        ("GET", f"/scans/{scan['id']}", None),
        ("GET", f"/scans/{scan['id']}?offset=1&limit=2", None),
        ("GET", f"/merges/{merge['id']}", None),
        ("POST", f"/scans/{scan['id']}/cancel", None),
        ("POST", f"/merges/{merge['id']}/cancel", None),
        ("GET", "/jobs", None),
        ("GET", "/history", None),
        ("GET", "/history?format=csv", None),
        ("GET", f"/records?entityTypeId=3&ids={ids}", None),
        ("GET", "/settings", None),
        ("PUT", "/settings", {"phoneCountry": "DE"}),
        ("POST", "/not-duplicates", {"entityTypeId": 3, "entityIds": groups[2]}),
        ("DELETE", "/not-duplicates", {"entityTypeId": 3, "entityIds": groups[2]}),
        ("GET", "/scans/0123456789abcdef0123456789abcdef", None),
    ]
    for method, path, body in reads:
        assert stack.api(method, path, user, body).status_code < 500, path
    assert stack.api("PUT", "/settings", admin, {"phoneCountry": "DE"}).status_code == 200
    assert stack.api("GET", "/jobs", None).status_code == 401
    assert stack.api("GET", "/jobs", "forged." + secrets.token_hex(8)).status_code == 401

    # a rename (302s confirmed and followed), then an update from the new address
    portal.rename()
    assert stack.scan(admin, 3)["status"] == "done"
    portal.send_update_event("3")
    wait_until(lambda: stack.db.get_portal(member_id=portal.member_id).domain == portal.domain)
    assert stack.open(1).token

    # re-authorisation, its replay, and a refused refresh
    reauth = stack.api("POST", "/reauthorize", user)
    redirect = requests.get(reauth.json()["authorizeUrl"], allow_redirects=False, timeout=10)
    for _ in range(2):
        requests.get(redirect.headers["Location"], timeout=10)
    stored = stack.db.get_portal(member_id=portal.member_id)
    pair = stack.db.get_token(stored.id, 2)
    stack.db.swap_token(
        portal_id=stored.id,
        user_id=2,
        expected_version=pair.version,
        access_token=pair.access_token,
        refresh_token="dead-refresh-" + secrets.token_hex(8),
        expires_at=0,
    )
    refused = stack.api("PUT", "/settings", user, {"phoneCountry": "DE"})
    assert refused.json()["error"]["code"] == "reauth_required"

    # uninstall, then an event for the uninstalled portal
    application_tokens.add(portal.application_token)
    portal.uninstall(clean=False)
    wait_until(lambda: _portal_state(stack) == "uninstalled")
    requests.post(f"{stack.url}/events", data=forms[2], timeout=10)
    assert wait_for_events()

    settings = app_context(stack.app).settings
    hidden = {
        settings.client_secret,
        settings.secret_key,
        settings.token_key,
        *application_tokens,
        *stack.emu.tokens.access,
        *stack.emu.tokens.refresh,
        "dead-refresh-",
        "forged-",
    }
    hidden.discard("")
    assert len(hidden) > 12
    assert len(answers.seen) > 40 and len(lines.lines) > 40
    said = "\n".join(answers.seen)
    logged = "\n".join(lines.lines) + "\n" + lines.written.getvalue()
    assert [s for s in hidden if s in said] == []
    assert [s for s in hidden if s in logged] == []
    # Session tokens belong in the /app page, never in a log line.
    assert [s for s in sessions if s in logged] == []
    # Authorization codes come in the callback's query string (Bitrix24's protocol), so an
    # access log holds them; the app's own log lines and answers must not.
    codes = set(stack.emu.tokens.codes)
    assert codes
    own = "\n".join(lines.app_lines) + "\n" + lines.written.getvalue()
    assert [c for c in codes if c in own or c in said] == []
