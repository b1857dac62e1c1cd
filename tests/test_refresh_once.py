"""Tokens per portal and user (CASE-09); one refresh across processes and threads (item 2)."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from b24app import app_context
from tests.databases import database_url
from tests.helpers import Stack, build_stack, wait_until


def _refresh_grants(stack: Stack) -> list[dict]:
    return [e for e in stack.emu.oauth_log if e["grant_type"] == "refresh_token"]


def test_case09_a_users_opening_never_touches_the_installers_pair(installed: Stack) -> None:
    portal = installed.db.get_portal(member_id=installed.portal.member_id)
    admin_before = installed.db.get_token(portal.id, 1)
    opened = installed.open(2)
    assert opened.token
    admin_after = installed.db.get_token(portal.id, 1)
    assert admin_after == admin_before  # same pair, same version, still the installer's
    assert installed.db.get_installer_token(portal.id).user_id == 1
    assert not installed.db.get_token(portal.id, 2).is_installer
    # user 2's request runs as user 2
    scan = installed.scan(opened.token, 3)
    assert scan["status"] == "done"
    reads = [c for c in installed.portal.calls if c["method"] == "batch"]
    assert reads and {c["user_id"] for c in reads} == {2}
    # refreshing user 2's token leaves the admin's pair alone
    installed.emu.expire_access_tokens(installed.portal, 2)
    assert installed.scan(opened.token, 3)["status"] == "done"
    grants = _refresh_grants(installed)
    assert [(g["user_id"], g["ok"]) for g in grants] == [(2, True)]
    assert installed.db.get_token(portal.id, 1) == admin_before
    assert installed.db.get_token(portal.id, 2).version > 1
    # set-up work (a reinstall) still runs as the installing admin
    installed.install(1)
    binds = [c for c in installed.portal.calls if c["method"] in ("placement.get", "event.get")]
    assert {c["user_id"] for c in binds} == {1}


def test_one_refresh_when_two_gunicorn_workers_and_a_job_meet_an_expired_token(
    tmp_path: Path,
) -> None:
    stack = build_stack(tmp_path, run_worker=False)
    stack.server.shutdown()
    stack.server.server_close()
    settings = app_context(stack.app).settings
    port = stack.url.rsplit(":", 1)[1]
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "B24_CLIENT_ID": settings.client_id,
        "B24_CLIENT_SECRET": settings.client_secret,
        "B24_APP_URL": stack.url,
        "SECRET_KEY": settings.secret_key,
        "DATABASE_URL": database_url(tmp_path, "gunicorn"),
        "B24_OAUTH_SERVERS": stack.emu.oauth_url,
        "B24_ALLOW_INSECURE": "1",
    }
    gunicorn = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--workers",
            "2",
            "--threads",
            "8",
            "--bind",
            f"127.0.0.1:{port}",
            "b24app:create_app()",
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: _up(stack.url), timeout=20)
        assert 'data-state="ok"' in stack.install(1).text
        token = stack.open(1).token
        assert token
        before = len(_refresh_grants(stack))
        assert stack.emu.expire_access_tokens(stack.portal, 1) >= 1

        def settings_call(_n: int) -> int:
            answer = stack.api("PUT", "/settings", token, {"phoneCountry": "DE"})
            return answer.status_code

        def scan_call(_n: int) -> int:
            answer = stack.api("POST", "/scans", token, {"entityTypeId": 3})
            return answer.status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            futures = [pool.submit(settings_call, n) for n in range(12)]
            futures += [pool.submit(scan_call, n) for n in range(3)]
            statuses = [f.result() for f in futures]
        assert statuses.count(200) == 12 and statuses.count(202) == 3
        # the background jobs finish with the refreshed token too
        deadline = time.time() + 30
        while time.time() < deadline:
            ids = [c for c in stack.portal.calls if c["method"] == "batch" and c["status"] == 200]
            if len(ids) >= 3:
                break
            time.sleep(0.2)
        grants = _refresh_grants(stack)[before:]
        assert len(grants) == 1, grants
        assert grants[0]["ok"]
    finally:
        gunicorn.terminate()
        _, err = gunicorn.communicate(timeout=20)
        stack.emu.stop()
    assert b"Traceback" not in err, err.decode()[-2000:]


def _up(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        time.sleep(0.2)
        return False
