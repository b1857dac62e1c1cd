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
    # user 2's request runs as user 2 (the install's own batches ran as user 1, before)
    before = len(installed.portal.calls)
    scan = installed.scan(opened.token, 3)
    assert scan["status"] == "done"
    reads = [c for c in installed.portal.calls[before:] if c["method"] == "batch"]
    assert reads and {c["user_id"] for c in reads} == {2}
    # refreshing user 2's token leaves the admin's pair alone
    installed.emu.expire_access_tokens(installed.portal, 2)
    assert installed.scan(opened.token, 3)["status"] == "done"
    grants = _refresh_grants(installed)
    assert [(g["user_id"], g["ok"]) for g in grants] == [(2, True)]
    assert installed.db.get_token(portal.id, 1) == admin_before
    assert installed.db.get_token(portal.id, 2).version > 1
    # set-up work (a reinstall) still runs as the installing admin
    before = len(installed.portal.calls)
    installed.install(1)
    binds = [
        c
        for c in installed.portal.calls[before:]
        if c["method"] in ("batch", "placement.get", "event.get")
    ]
    assert {c["user_id"] for c in binds} == {1}


# What a contact scan reads with; user.admin is what PUT /api/settings asks.
_JOB_METHODS = {"batch", "crm.contact.list"}


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
        "B24_NO_WORKER": "1",  # jobs wait for the job process below
    }
    access_log = tmp_path / "access.log"
    gunicorn = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--workers",
            "2",
            "--threads",
            "4",
            # a worker holding four connections accepts no more: both take requests
            "--worker-connections",
            "4",
            "--access-logfile",
            str(access_log),
            "--access-logformat",
            "%(p)s %(m)s %(U)s %(s)s",
            "--bind",
            f"127.0.0.1:{port}",
            "b24app:create_app()",
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    jobs: subprocess.Popen[str] | None = None
    try:
        wait_until(lambda: _up(stack.url), timeout=20)
        assert 'data-state="ok"' in stack.install(1).text
        token = stack.open(1).token
        assert token
        scans = [stack.api("POST", "/scans", token, {"entityTypeId": 3}) for _ in range(3)]
        assert [r.status_code for r in scans] == [202] * 3
        time.sleep(0.3)
        ids = [r.json()["id"] for r in scans]
        assert {stack.api("GET", f"/scans/{i}", token).json()["status"] for i in ids} == {"queued"}
        before = len(_refresh_grants(stack))
        assert stack.emu.expire_access_tokens(stack.portal, 1) >= 1
        stack.emu.grant_script = [(2.5, None)]  # the one refresh takes its time
        # A job worker in a process of its own (beside gunicorn's two), on the same database.
        jobs = subprocess.Popen(
            [str(Path(sys.executable).parent / "b24app"), "worker", "--threads", "3"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # the job meets the expired token first and starts the refresh...
        wait_until(lambda: any(r["status"] == 401 for r in stack.portal.rejected), timeout=20)
        assert stack.portal.rejected[0]["method"] in _JOB_METHODS

        # ...and while it is in flight, both gunicorn workers meet it too
        def settings_call(_n: int) -> int:
            answer = stack.api("PUT", "/settings", token, {"phoneCountry": "DE"})
            return answer.status_code

        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = list(pool.map(settings_call, range(12)))
        assert statuses == [200] * 12
        assert [stack.wait("scans", i, token)["status"] for i in ids] == ["done"] * 3
        refused = [r for r in stack.portal.rejected if r["status"] == 401]
        assert {r["method"] for r in refused} & _JOB_METHODS
        assert "user.admin" in {r["method"] for r in refused}  # the settings calls
        assert {r["error"] for r in refused} == {"expired_token"}
        grants = _refresh_grants(stack)[before:]
        assert len(grants) == 1, grants
        assert grants[0]["ok"]
    finally:
        if jobs is not None and jobs.poll() is None:
            jobs.terminate()
            jobs.communicate(timeout=30)
        gunicorn.terminate()
        _, err_bytes = gunicorn.communicate(timeout=20)
        stack.emu.stop()
    assert b"Traceback" not in err_bytes, err_bytes.decode()[-2000:]
    pids = {
        line.split()[0]
        for line in access_log.read_text().splitlines()
        if " PUT /api/settings 200" in line
    }
    assert len(pids) == 2, access_log.read_text()


def _up(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        time.sleep(0.2)
        return False
