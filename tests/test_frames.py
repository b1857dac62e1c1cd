"""Opening the app from the portal: verification, placements, framing (CASE-10, CASE-12)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import Stack


class Recorder(BaseHTTPRequestHandler):
    """A host that must never be contacted; it records any request."""

    hits: list[str] = []

    def _record(self) -> None:
        Recorder.hits.append(f"{self.command} {self.path}")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"result": {"client_id": "x"}}')

    do_GET = do_POST = _record

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def trap() -> Iterator[str]:
    Recorder.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_open_renders_ui_with_session_and_frame_headers(installed: Stack) -> None:
    opened = installed.open(2)
    response = opened.response
    assert response.status_code == 200
    assert opened.token
    csp = response.headers["Content-Security-Policy"]
    assert f"frame-ancestors {installed.portal.url}" in csp
    assert "X-Frame-Options" not in response.headers
    # CASE-10: nothing depends on a cookie
    assert "Set-Cookie" not in response.headers
    scan = installed.api("POST", "/scans", opened.token, {"entityTypeId": 3})
    assert scan.status_code == 202


def test_other_pages_deny_framing(installed: Stack) -> None:
    response = requests.get(f"{installed.url}/healthz", timeout=10)
    assert response.json() == {"status": "ok", "database": "ok"}
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_user_tokens_are_kept_per_user(installed: Stack) -> None:
    installed.open(2)
    installed.open(3)
    portal = installed.db.get_portal(member_id=installed.portal.member_id)
    tokens = {uid: installed.db.get_token(portal.id, uid) for uid in (1, 2, 3)}
    assert len({t.access_token for t in tokens.values()}) == 3
    assert tokens[1].is_installer and not tokens[2].is_installer


@pytest.mark.parametrize(
    ("placement", "options", "expected"),
    [
        ("CRM_CONTACT_LIST_MENU", {"ID": "42"}, {"entityTypeId": 3, "seedId": 42}),
        ("CRM_CONTACT_LIST_TOOLBAR", None, {"entityTypeId": 3, "seedId": None}),
        ("CRM_CONTACT_LIST_MENU", {"ID": "-4"}, {"entityTypeId": 3, "seedId": None}),
        ("DEFAULT", None, {"entityTypeId": 3, "seedId": None}),
    ],
)
def test_placement_context(
    installed: Stack, placement: str, options: dict[str, Any] | None, expected: dict[str, Any]
) -> None:
    opened = installed.open(1, placement, options)
    assert opened.response.status_code == 200
    raw = opened.response.text.split('id="b24app-context">', 1)[1].split("</script>", 1)[0]
    context = json.loads(raw)
    assert {k: context[k] for k in expected} == expected


@pytest.mark.parametrize("raw_options", ["", "not-json", "[1,2]", '"undefined"', "{"])
def test_placement_options_that_are_not_an_object_mean_no_context(
    installed: Stack, raw_options: str
) -> None:
    fp = installed.portal.frame_post(1, "CRM_CONTACT_LIST_MENU")
    fp.form["PLACEMENT_OPTIONS"] = raw_options
    response = installed.frame("/app", fp)
    assert response.status_code == 200
    assert '"seedId": null' in response.text


def test_unknown_placement_gets_a_neutral_page(installed: Stack) -> None:
    opened = installed.open(1, "SOME_NEW_CODE", {"ID": "7"})
    assert opened.response.status_code == 200
    assert opened.token is None
    assert "b24app-session" not in opened.response.text


def _framable_by(response: requests.Response, origin: str) -> None:
    """The portal at ``origin`` may show this page in its frame, and no one else may."""
    assert "X-Frame-Options" not in response.headers
    csp = response.headers["Content-Security-Policy"]
    assert f"frame-ancestors {origin};" in csp


def _framable_by_no_one(response: requests.Response) -> None:
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/app", "/install"])
def test_unverifiable_token_gets_a_readable_page(installed: Stack, path: str) -> None:
    fp = installed.portal.frame_post(1)
    fp.form["AUTH_ID"] = "made-up-token"
    response = installed.frame(path, fp)
    assert response.status_code == 401
    assert "<html" in response.text and "made-up-token" not in response.text
    assert "b24app-session" not in response.text
    # shown inside the portal's frame, so the user reads why
    _framable_by(response, installed.portal.url)


def test_member_id_of_another_portal_is_refused(installed: Stack) -> None:
    fp = installed.portal.frame_post(1)
    fp.form["member_id"] = "0123456789abcdef0123456789abcdef"
    response = installed.frame("/app", fp)
    assert response.status_code == 403
    assert installed.db.get_portal(member_id="0123456789abcdef0123456789abcdef") is None
    _framable_by(response, installed.portal.url)


def test_domain_that_does_not_match_the_token_is_refused(installed: Stack) -> None:
    fp = installed.portal.frame_post(1)
    fp.query["DOMAIN"] = "evil.example.com"
    assert installed.frame("/app", fp).status_code == 403


@pytest.mark.parametrize("missing", ["AUTH_ID", "REFRESH_ID", "member_id", "DOMAIN"])
def test_missing_fields_get_400(installed: Stack, missing: str) -> None:
    fp = installed.portal.frame_post(1)
    fp.form.pop(missing, None)
    fp.query.pop(missing, None)
    response = installed.frame("/app", fp)
    assert response.status_code == 400
    assert "<html" in response.text
    if missing == "DOMAIN":
        _framable_by_no_one(response)  # no portal named: no one may frame it
    else:
        _framable_by(response, installed.portal.url)


def test_a_refusal_naming_a_malformed_domain_denies_framing(installed: Stack) -> None:
    fp = installed.portal.frame_post(1)
    fp.query["DOMAIN"] = "evil.example.com; script-src *"
    response = installed.frame("/app", fp)
    assert response.status_code == 400
    _framable_by_no_one(response)
    assert "script-src *" not in response.headers["Content-Security-Policy"]


def test_wrong_application_token_is_refused(installed: Stack) -> None:
    installed.portal.send_install_event()  # the app now holds the portal's application_token
    fp = installed.portal.frame_post(1)
    fp.form["APPLICATION_TOKEN"] = "not-the-right-one"
    assert installed.frame("/app", fp).status_code == 403


def test_untrusted_oauth_server_is_never_contacted(installed: Stack, trap: str) -> None:
    fp = installed.portal.frame_post(1)
    fp.form["SERVER_ENDPOINT"] = f"{trap}/rest/"
    response = installed.frame("/app", fp)
    # The default (trusted) server verified the token instead; the named host saw nothing.
    assert response.status_code == 200
    assert Recorder.hits == []


def test_forged_request_naming_another_host_sends_nothing_there(stack: Stack, trap: str) -> None:
    host = trap.removeprefix("http://")
    fp = stack.portal.frame_post(1)
    fp.query["DOMAIN"] = host
    fp.form["SERVER_ENDPOINT"] = f"{trap}/rest/"
    fp.form["AUTH_ID"] = "stolen-looking-token"
    response = stack.frame("/app", fp)
    assert response.status_code in (401, 403)
    assert Recorder.hits == []


def test_get_on_frame_routes_is_a_readable_page(stack: Stack) -> None:
    response = requests.get(f"{stack.url}/app", timeout=10)
    assert response.status_code == 400 and "<html" in response.text


@pytest.mark.parametrize(
    ("placement", "options"),
    [
        ("CRM_DYNAMIC_183_DETAIL_TAB", {"ID": "7"}),
        (
            "CRM_ACTIVITY_TIMELINE_MENU",
            {"ENTITY_ID": "6591", "ASSOCIATED_ENTITY_ID": "1523", "ASSOCIATED_ENTITY_TYPE_ID": "6"},
        ),
        ("CRM_QUOTE_LIST_MENU", {"ID": "5"}),
    ],
)
def test_case12_placements_we_do_not_handle_get_a_neutral_page(
    installed: Stack, placement: str, options: dict[str, Any]
) -> None:
    installed.open(1)  # the first opening stores the application_token (asking user.admin)
    calls = len(installed.portal.calls)
    opened = installed.open(1, placement, options)
    assert opened.response.status_code == 200
    assert opened.token is None
    assert len(installed.portal.calls) == calls  # nothing was asked of the portal


def test_case12_deal_row_menu_reads_the_id_inside_placement_options(installed: Stack) -> None:
    fp = installed.portal.frame_post(1, "CRM_DEAL_LIST_MENU")
    fp.form["PLACEMENT_OPTIONS"] = '{"ID":"42"}'
    response = installed.frame("/app", fp)
    assert response.status_code == 200
    raw = response.text.split('id="b24app-context">', 1)[1].split("</script>", 1)[0]
    assert json.loads(raw) == {"entityTypeId": 2, "seedId": 42, "kind": "record"}


def test_case06_unfinished_installation_is_said_not_hidden(stack: Stack) -> None:
    assert 'data-state="ok"' in stack.install(1, finish=False).text
    opened = stack.open(2)
    assert opened.response.status_code == 409
    assert opened.token is None
    assert "installation" in opened.response.text.lower()


def test_case06_storage_failure_during_install_shows_an_error_and_no_install_finish(
    stack: Stack,
) -> None:
    with stack.db.begin() as conn:
        conn.exec_driver_sql("DROP TABLE b24_tokens")
    response = stack.install(1)
    assert response.status_code == 500
    assert "<html" in response.text and "install.js" not in response.text
    assert not stack.portal.installed
    stack.db.create_tables()  # storage is back: reopening the installer completes
    retry = stack.install(1)
    assert 'data-state="ok"' in retry.text and stack.portal.installed


def test_unknown_api_route_is_json(installed: Stack) -> None:
    response = requests.get(f"{installed.url}/api/nothing-here", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_deeply_nested_placement_options_are_no_context_not_a_crash(installed: Stack) -> None:
    fp = installed.portal.frame_post(1, "CRM_CONTACT_LIST_MENU")
    fp.form["PLACEMENT_OPTIONS"] = "[" * 100_000
    response = installed.frame("/app", fp)
    assert response.status_code == 200
    assert '"seedId": null' in response.text


def test_a_replayed_post_with_another_protocol_does_not_rewrite_the_portal(
    installed: Stack,
) -> None:
    fp = installed.portal.frame_post(2)
    fp.query["PROTOCOL"] = "1"
    installed.frame("/app", fp)
    portal = installed.db.get_portal(member_id=installed.portal.member_id)
    assert portal.scheme == "http"
    assert portal.client_endpoint == f"{installed.portal.url}/rest/"


def test_events_answer_200_whatever_arrives(installed: Stack) -> None:
    huge = {"event": "ONAPPUNINSTALL", "data[X]": "x" * (3 * 1024 * 1024)}
    assert requests.post(f"{installed.url}/events", data=huge, timeout=30).status_code == 200
    assert requests.post(f"{installed.url}/events", data="garbage", timeout=10).status_code == 200
    portal = installed.db.get_portal(member_id=installed.portal.member_id)
    assert portal.state == "installed"


def test_every_string_is_translated() -> None:
    from b24app.i18n import STRINGS

    assert set(STRINGS) == {"en", "ru", "de"}
    assert set(STRINGS["en"]) == set(STRINGS["ru"]) == set(STRINGS["de"])
    for lang, table in STRINGS.items():
        assert all(value.strip() for value in table.values()), lang


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("ru", "ru"),
        ("ua", "ru"),
        ("kz", "ru"),
        ("de", "de"),
        ("DE", "de"),
        ("en", "en"),
        ("es", "en"),
        (None, "en"),
        ("", "en"),
    ],
)
def test_lang_picks_a_table(lang: str | None, expected: str) -> None:
    from b24app.i18n import language

    assert language(lang) == expected


@pytest.mark.parametrize(
    ("lang", "needle"),
    [("ru", "Токен доступа"), ("en", "access token"), ("de", "Zugriffstoken")],
)
def test_refusal_pages_speak_the_users_language(installed: Stack, lang: str, needle: str) -> None:
    fp = installed.portal.frame_post(1)
    fp.query["LANG"] = lang
    fp.form["member_id"] = "0123456789abcdef0123456789abcdef"
    response = installed.frame("/app", fp)
    assert response.status_code == 403
    assert needle.lower() in response.text.lower()


def _common_headers(response: requests.Response, where: str) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff", where
    assert response.headers["Referrer-Policy"] == "no-referrer", where
    csp = response.headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "base-uri 'none'", "object-src 'none'"):
        assert directive in csp, where
    assert "Set-Cookie" not in response.headers, where
    assert "Strict-Transport-Security" not in response.headers, where  # http in development


def test_every_route_and_error_path_carries_the_security_headers(installed: Stack) -> None:
    stack = installed
    token = stack.open(1).token
    portal = stack.portal
    auth = {"Authorization": f"Bearer {token}"}
    bad_auth = portal.frame_post(1)
    bad_auth.form["AUTH_ID"] = "nope"
    framed = {
        "app page": stack.frame("/app", portal.frame_post(2)),
        "neutral page": stack.frame("/app", portal.frame_post(1, "SOME_NEW_CODE")),
        "install page": stack.frame("/install", portal.frame_post(1, install=True)),
        "install refused (not admin)": stack.frame("/install", portal.frame_post(2, install=True)),
        "app refused (token)": stack.frame("/app", bad_auth),
    }
    for where, response in framed.items():
        _common_headers(response, where)
        assert "X-Frame-Options" not in response.headers, where
        assert f"frame-ancestors {portal.url};" in response.headers["Content-Security-Policy"]

    def get(path: str, **kw: Any) -> requests.Response:
        return requests.get(f"{stack.url}{path}", timeout=10, **kw)

    def post(path: str, **kw: Any) -> requests.Response:
        return requests.post(f"{stack.url}{path}", timeout=10, **kw)

    denied = {
        "healthz": get("/healthz"),
        "GET /app": get("/app"),
        "GET /install": get("/install"),
        "unknown page": get("/nowhere"),
        "static": get("/static/app.css"),
        "sdk": get("/vendor/b24jssdk.js"),
        "events": post("/events", data={"event": "X"}),
        "events, no form": post("/events"),
        "install callback refused": post("/install", data={"event": "ONAPPINSTALL"}),
        "frame POST malformed": post("/app", data={"DOMAIN": "::"}),
        "oauth callback refused": get("/oauth/callback?code=x&state=y"),
        "api 200": get("/api/jobs", headers=auth),
        "api 401": get("/api/jobs"),
        "api 404": get("/api/scans/0123456789abcdef0123456789abcdef", headers=auth),
        "api 405": get("/api/scans", headers=auth),
        "api 422": post("/api/scans", json={"entityTypeId": 9}, headers=auth),
        "api 400": post("/api/scans", data="{", headers={**auth, "Content-Type": "x"}),
        "api 413": post("/api/merges", data=b"x" * (3 * 1024 * 1024), headers=auth),
        "api unknown": get("/api/nothing", headers=auth),
        "api csv": get("/api/history?format=csv", headers=auth),
    }
    for where, response in denied.items():
        assert response.status_code < 500, where
        _common_headers(response, where)
        assert response.headers["X-Frame-Options"] == "DENY", where
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], where
    for where, response in {**framed, **denied}.items():
        if where not in ("static", "sdk"):
            assert response.headers["Cache-Control"] == "no-store", where


def test_production_answers_carry_hsts(tmp_path: Path) -> None:
    from b24app import create_app

    app = create_app(
        {
            "client_id": "local.x",
            "client_secret": "s",
            "app_url": "https://app.example.com",
            "secret_key": "k" * 32,
            "database_url": f"sqlite:///{tmp_path / 'p.sqlite3'}",
            "run_worker": False,
        }
    )
    client = app.test_client()
    for path in ("/healthz", "/app", "/api/jobs", "/nowhere"):
        answer = client.get(path)
        assert answer.headers["Strict-Transport-Security"] == "max-age=31536000", path
