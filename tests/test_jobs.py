"""The job worker: one claimant per job across processes, state only in the database."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from b24app import app_context, create_app
from b24app.devportal import SEED_GROUPS
from b24app.jobs.worker import Worker
from tests.databases import database_url
from tests.helpers import Stack, build_stack, wait_until


def _second_process_context(stack: Stack) -> Worker:
    """Another app process on the same database, as gunicorn's next worker would be."""
    settings = app_context(stack.app).settings
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
        }
    )
    return Worker(app_context(other))


def test_each_job_is_claimed_by_exactly_one_worker(tmp_path: Path) -> None:
    stack = build_stack(tmp_path, run_worker=False)
    try:
        stack.install(1)
        token = stack.open(1).token
        ids = [
            stack.api("POST", "/scans", token, {"entityTypeId": 3}).json()["id"] for _ in range(8)
        ]
        workers = [Worker(app_context(stack.app))] + [
            _second_process_context(stack) for _ in range(2)
        ]
        ran: list[tuple[str, str]] = []
        original = Worker.run

        def recording_run(self: Worker, job):  # type: ignore[no-untyped-def]
            ran.append((self.name, job.id))
            original(self, job)

        Worker.run = recording_run  # type: ignore[method-assign]
        try:
            threads = [
                threading.Thread(target=lambda w=w: [w.run_once() for _ in range(10)])
                for w in workers
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            Worker.run = original  # type: ignore[method-assign]
        assert sorted(job for _, job in ran) == sorted(ids)
        for job_id in ids:
            assert stack.db.get_job(job_id).status == "done"
        counts = [c for c in stack.portal.calls if c["method"] == "batch"]
        assert len(counts) == len(ids)  # no scan read the CRM twice
    finally:
        stack.close()


def test_a_merge_interrupted_mid_call_is_never_called_again(tmp_path: Path) -> None:
    stack = build_stack(tmp_path, run_worker=False)
    try:
        stack.install(1)
        token = stack.open(1).token
        job_id = stack.api(
            "POST", "/merges", token, {"entityTypeId": 3, "groups": [[5, 6], [7, 8, 9]]}
        ).json()["id"]
        # A worker claimed it, recorded the intent for the first group, and died.
        assert stack.db.claim_job(job_id, "dead-worker", stale_before=0)
        stack.db.set_merge_item(job_id, 0, status="calling")
        with stack.db.begin() as conn:
            from b24app.storage.schema import jobs

            conn.execute(jobs.update().where(jobs.c.id == job_id).values(heartbeat_at=0))
        Worker(app_context(stack.app)).run_once()
        body = stack.api("GET", f"/merges/{job_id}", token).json()
        assert body["status"] == "done"
        first, second = body["results"]
        assert first["status"] == "ERROR" and first["error"]["code"] == "interrupted"
        assert second["status"] == "SUCCESS"
        calls = [c for c in stack.portal.calls if c["method"].lower() == "crm.entity.mergebatch"]
        assert [c["params"]["params"]["entityIds"] for c in calls] == [[7, 8, 9]]
    finally:
        stack.close()


def test_cancel_stops_a_merge_between_groups(tmp_path: Path) -> None:
    stack = build_stack(tmp_path, run_worker=False)
    try:
        stack.install(1)
        token = stack.open(1).token
        job_id = stack.api(
            "POST", "/merges", token, {"entityTypeId": 3, "groups": [[5, 6], [7, 8, 9]]}
        ).json()["id"]
        assert stack.api("POST", f"/merges/{job_id}/cancel", token).json()["status"] == "cancelled"
        Worker(app_context(stack.app)).run_once()
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
