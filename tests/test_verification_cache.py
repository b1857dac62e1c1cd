"""Frame POSTs confirmed once per token: reopening costs no round trip, in any process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import sqlalchemy as sa

from b24app import app_context, create_app
from b24app.storage.schema import verified_tokens
from tests.helpers import Stack, serve, wait_until


@pytest.fixture
def second_process(installed: Stack) -> Iterator[str]:
    """Another instance of the app on the same database, as gunicorn's next worker is."""
    settings = app_context(installed.app).settings
    other = create_app(
        {
            "client_id": settings.client_id,
            "client_secret": settings.client_secret,
            "app_url": settings.app_url,
            "secret_key": settings.secret_key,
            "database_url": settings.database_url,
            "oauth_servers": settings.oauth_servers,
            "allow_insecure": True,
            "run_worker": False,
            **({"jssdk_file": settings.jssdk_file} if settings.jssdk_file else {}),
        }
    )
    server = serve(other)
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def _kept(stack: Stack) -> list[dict[str, object]]:
    with stack.db.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(verified_tokens)).mappings()]


def test_reopening_in_another_process_asks_the_oauth_server_nothing(
    installed: Stack, second_process: str
) -> None:
    post = installed.portal.frame_post(2)
    asked = len(installed.emu.app_info_log)
    first = installed.frame("/app", post)
    assert first.status_code == 200 and 'name="b24app-session"' in first.text
    assert len(installed.emu.app_info_log) == asked + 1
    # The same POST again, to this process and to another one.
    for base in (installed.url, second_process):
        response = requests.post(f"{base}/app", params=post.query, data=post.form, timeout=30)
        assert response.status_code == 200 and 'name="b24app-session"' in response.text
    assert len(installed.emu.app_info_log) == asked + 1
    # What is kept names no token: a keyed hash, the user, the portal and when it expires.
    [row] = [r for r in _kept(installed) if r["user_id"] == 2]
    assert post.form["AUTH_ID"] not in str(row)
    assert str(row["token_digest"]).startswith("hmac-sha256:")


def test_a_new_token_is_confirmed_again(installed: Stack) -> None:
    asked = len(installed.emu.app_info_log)
    for _ in range(2):
        assert installed.frame("/app", installed.portal.frame_post(2)).status_code == 200
    assert len(installed.emu.app_info_log) == asked + 2


def test_a_forged_post_with_a_kept_token_for_another_portal_is_confirmed_anew(
    installed: Stack,
) -> None:
    post = installed.portal.frame_post(2)
    assert installed.frame("/app", post).status_code == 200
    asked = len(installed.emu.app_info_log)
    post.form["member_id"] = "someone-else"
    refused = installed.frame("/app", post)
    assert refused.status_code == 403
    assert len(installed.emu.app_info_log) == asked + 1


def test_an_unfinished_install_is_not_kept_so_finishing_it_takes_effect(stack: Stack) -> None:
    post, frame = stack.portal.open_frame(1, install=True)
    assert 'data-state="ok"' in stack.frame("/install", post).text
    # Before installFinish the portal says the app is not installed, and /app says so.
    assert stack.frame("/app", post).status_code == 409
    assert _kept(stack) == []
    stack.portal.finish_install(frame.sid)
    # The same token, a moment later: asked again, and now the app opens.
    opened = stack.frame("/app", post)
    assert opened.status_code == 200 and 'name="b24app-session"' in opened.text


def test_uninstalling_drops_what_was_kept(installed: Stack) -> None:
    assert installed.open(1).token  # the admin's opening stores the application_token
    assert installed.frame("/app", installed.portal.frame_post(2)).status_code == 200
    assert _kept(installed)
    installed.portal.uninstall(clean=False)
    member_id = installed.portal.member_id
    wait_until(lambda: installed.db.get_portal(member_id=member_id).state == "uninstalled")
    assert _kept(installed) == []
