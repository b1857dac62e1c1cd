"""The stored OAuth server of a portal changes only to a server the app trusts (issue 4)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from b24app import app_context
from tests.helpers import Stack, wait_until


class Untrusted(BaseHTTPRequestHandler):
    """An OAuth server the app does not trust: it records any request."""

    hits: list[str] = []

    def _record(self) -> None:
        Untrusted.hits.append(f"{self.command} {self.path}")
        self.send_response(500)
        self.end_headers()

    do_GET = do_POST = _record

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def untrusted() -> Iterator[str]:
    Untrusted.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Untrusted)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def two_servers(installed: Stack) -> tuple[Stack, str, str]:
    """Two trusted OAuth servers (the emulator's, under two names); the first is the default."""
    default = installed.emu.oauth_url
    second = default.replace("127.0.0.1", "localhost")
    settings = app_context(installed.app).settings
    object.__setattr__(settings, "oauth_servers", (default, second))
    return installed, default, second


def _stored_server(stack: Stack) -> str:
    return str(stack.db.get_portal(member_id=stack.portal.member_id).server_endpoint)


def _open_naming(stack: Stack, server_endpoint: str) -> Any:
    post = stack.portal.frame_post(2)
    post.form["SERVER_ENDPOINT"] = server_endpoint
    return stack.frame("/app", post)


def test_a_trusted_server_named_by_a_frame_post_is_stored(
    two_servers: tuple[Stack, str, str],
) -> None:
    stack, default, second = two_servers
    assert _stored_server(stack) == f"{default}/rest/"
    assert _open_naming(stack, f"{second}/rest/").status_code == 200
    assert _stored_server(stack) == f"{second}/rest/"


def test_an_untrusted_server_never_replaces_the_stored_one_with_the_default(
    two_servers: tuple[Stack, str, str], untrusted: str
) -> None:
    stack, _default, second = two_servers
    assert _open_naming(stack, f"{second}/rest/").status_code == 200
    response = _open_naming(stack, f"{untrusted}/rest/")
    assert response.status_code == 200  # verified at the default server instead
    assert _stored_server(stack) == f"{second}/rest/"
    assert Untrusted.hits == []


def test_an_update_event_naming_an_untrusted_server_keeps_the_stored_one(
    two_servers: tuple[Stack, str, str], untrusted: str
) -> None:
    stack, _default, second = two_servers
    assert _open_naming(stack, f"{second}/rest/").status_code == 200
    original = stack.portal._auth_block

    def naming_untrusted(user_id: int, *, with_tokens: bool) -> dict[str, Any]:
        auth = original(user_id, with_tokens=with_tokens)
        auth["server_endpoint"] = f"{untrusted}/rest/"
        return auth

    stack.portal._auth_block = naming_untrusted  # type: ignore[method-assign]
    response = stack.portal.send_update_event("2")
    assert response is not None and response.status_code == 200
    wait_until(lambda: stack.db.get_portal(member_id=stack.portal.member_id).app_version == "2")
    assert _stored_server(stack) == f"{second}/rest/"
    assert Untrusted.hits == []


def test_a_new_portal_naming_an_untrusted_server_gets_the_default(
    stack: Stack, untrusted: str
) -> None:
    post, frame = stack.portal.open_frame(1, install=True)
    post.form["SERVER_ENDPOINT"] = f"{untrusted}/rest/"
    assert stack.frame("/install", post).status_code == 200
    assert _stored_server(stack) == f"{stack.emu.oauth_url}/rest/"
    assert Untrusted.hits == []
