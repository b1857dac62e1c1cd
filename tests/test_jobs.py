"""Jobs: cancelling, and gunicorn alone (its embedded consumer) as a complete install."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from b24app import app_context
from b24app.devportal import SEED_GROUPS
from b24app.jobs.queue import job_queue
from tests.databases import database_url
from tests.helpers import build_stack, wait_until


def test_cancel_stops_a_merge_between_groups(tmp_path: Path) -> None:
    stack = build_stack(tmp_path, run_worker=False)
    try:
        stack.install(1)
        token = stack.open(1).token
        job_id = stack.api(
            "POST", "/merges", token, {"entityTypeId": 3, "groups": [[5, 6], [7, 8, 9]]}
        ).json()["id"]
        assert stack.api("POST", f"/merges/{job_id}/cancel", token).json()["status"] == "cancelled"
        assert job_queue(app_context(stack.app)).run_pending() == 1  # its message: a no-op
        body = stack.api("GET", f"/merges/{job_id}", token).json()
        assert body["status"] == "cancelled"
        assert body["results"] == []
        assert body["pending"] == [[5, 6], [7, 8, 9]]
        # The IDs are free again.
        again = stack.api("POST", "/merges", token, {"entityTypeId": 3, "groups": [[5, 6]]})
        assert again.status_code == 202
    finally:
        stack.close()


def test_gunicorn_as_the_procfile_runs_it(tmp_path: Path) -> None:
    """Two gunicorn workers from the environment alone: install, open, scan and merge."""
    stack = build_stack(tmp_path, run_worker=False)
    stack.server.shutdown()  # gunicorn serves the app instead, on the URL the portal knows
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
            "4",
            "--bind",
            f"127.0.0.1:{port}",
            "b24app:create_app()",
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    failure: BaseException | None = None
    try:
        wait_until(lambda: _up(stack.url), timeout=20)
        assert 'data-state="ok"' in stack.install(1).text
        token = stack.open(1).token
        assert token
        scan = stack.scan(token, 3)
        contact_groups = sum(1 for g in SEED_GROUPS if g.entity_type_id == 3)
        assert scan["status"] == "done" and scan["groupsTotal"] == contact_groups
        merge = stack.merge(token, [[5, 6]])
        assert merge["results"][0]["status"] == "SUCCESS"
        calls = [c for c in stack.portal.calls if c["method"].lower() == "crm.entity.mergebatch"]
        assert len(calls) == 1
    except BaseException as exc:  # noqa: BLE001 - re-raised below with gunicorn's own account
        failure = exc
    finally:
        gunicorn.terminate()
        _, err = gunicorn.communicate(timeout=20)
        stack.emu.stop()
    if failure is not None:
        raise AssertionError(f"gunicorn said:\n{err.decode()[-4000:]}") from failure
    assert b"Traceback" not in err, err.decode()[-2000:]


def _up(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        time.sleep(0.2)
        return False


def test_cancelling_a_running_merge_keeps_what_finished_and_frees_the_rest(
    tmp_path: Path,
) -> None:
    stack = build_stack(tmp_path, merge_parallel=1)
    try:
        stack.install(1)
        token = stack.open(1).token
        groups = [list(g.ids) for g in SEED_GROUPS if g.entity_type_id == 3][:4]
        assert len(groups) == 4
        stack.portal.delays["crm.entity.mergebatch"] = 0.6  # each merge takes its time
        job_id = stack.api("POST", "/merges", token, {"entityTypeId": 3, "groups": groups}).json()[
            "id"
        ]

        def merges() -> list[dict[str, Any]]:
            return [c for c in stack.portal.calls if c["method"] == "crm.entity.mergebatch"]

        wait_until(lambda: len(merges()) == 1)  # the first group merged, the second in flight
        answer = stack.api("POST", f"/merges/{job_id}/cancel", token)
        assert answer.status_code == 202 and answer.json()["status"] == "running"
        body = stack.wait("merges", job_id, token)
        assert body["status"] == "cancelled"
        made = merges()
        assert 1 <= len(made) <= 2 < len(groups)
        # every call made is recorded; the groups never sent are listed pending
        assert [r["entityIds"] for r in body["results"]] == groups[: len(made)]
        assert body["pending"] == groups[len(made) :]
        time.sleep(0.8)
        assert len(merges()) == len(made)  # nothing more was sent after the cancel
        for ids in body["pending"]:
            assert all(i in stack.portal.crm.records[3] for i in ids)  # not merged
        # the claims are released: the rest can be merged now
        again = stack.api("POST", "/merges", token, {"entityTypeId": 3, "groups": body["pending"]})
        assert again.status_code == 202
    finally:
        stack.close()


def test_cancelling_a_running_scan_stores_no_groups(tmp_path: Path) -> None:
    stack = build_stack(tmp_path)
    try:
        stack.install(1)
        token = stack.open(1).token
        stack.portal.delays["crm.contact.list"] = 0.8  # the scan's first read is slow
        stack.portal.delays["batch"] = 0.8
        job_id = stack.api("POST", "/scans", token, {"entityTypeId": 3}).json()["id"]
        wait_until(lambda: stack.db.get_job(job_id).status == "running")
        answer = stack.api("POST", f"/scans/{job_id}/cancel", token)
        assert answer.status_code == 202
        body = stack.wait("scans", job_id, token)
        assert body["status"] == "cancelled"
        assert body["groups"] == [] and body["groupsTotal"] == 0
        with stack.db.reader.connect() as conn:
            stored = conn.execute(
                sa.text("SELECT count(*) FROM b24_scan_groups WHERE job_id = :job"),
                {"job": job_id},
            ).scalar()
        assert stored == 0
    finally:
        stack.close()
