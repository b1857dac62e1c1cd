"""The task queue: huey in the app's database (always) and on Redis (B24_TEST_REDIS_URL).

The queue only delivers "run job X"; these tests check that a repeated, lost or orphaned
message never runs a job twice or leaves it behind, and that several consumers (two
`b24app worker` processes and the one embedded in the web process) share the work.
"""

from __future__ import annotations

import datetime
import logging
import pickle
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from b24app import app_context
from b24app.jobs.queue import JobQueue, JsonMessages, ensure_worker, job_queue
from b24app.storage.schema import jobs
from tests.helpers import Stack, WorkerProcess, build_stack, redis_test_url, wait_until, worker_env

BACKENDS = ["database", "redis"]


def _redis_or_skip() -> str:
    url = redis_test_url()
    if url is None:
        pytest.skip("B24_TEST_REDIS_URL is not set (.ci/run starts a Redis server and sets it)")
    import redis

    redis.Redis.from_url(url).flushdb()
    return url


def queued_stack(tmp_path: Path, backend: str, **overrides: Any) -> Stack:
    """The emulator and the app with no records seeded; jobs wait in the queue."""
    config: dict[str, Any] = {"run_worker": False, "job_stale_after": 1.0, "queue_poll": 0.2}
    if backend == "redis":
        config["redis_url"] = _redis_or_skip()
    config.update(overrides)
    return build_stack(tmp_path, seed=False, **config)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each queue test runs on both backends."""
    return str(request.param)


@pytest.fixture
def stack(tmp_path: Path, backend: str) -> Iterator[Stack]:
    """An installed stack whose jobs wait in the queue until a test runs them."""
    running = queued_stack(tmp_path, backend)
    try:
        running.install(1)
        yield running
    finally:
        running.close()


def add_pairs(stack: Stack, count: int, start: int = 0) -> list[list[int]]:
    """Add ``count`` pairs of identical contacts; their groups in keep order."""
    groups = []
    for n in range(start, start + count):
        fields = {
            "NAME": f"Person{n}",
            "LAST_NAME": "Queue",
            "PHONE": [{"VALUE": f"+49 30 {2345000 + n}", "VALUE_TYPE": "WORK"}],
        }
        keep = stack.portal.add_record(3, fields, created="2024-01-01T10:00:00+00:00")
        other = stack.portal.add_record(3, fields, created="2024-02-01T10:00:00+00:00")
        groups.append([keep, other])
    return groups


def merge_calls(stack: Stack) -> list[dict[str, Any]]:
    """The emulator's successful mergeBatch calls."""
    return [
        c
        for c in stack.portal.calls
        if c["method"] == "crm.entity.mergebatch"
        and (c.get("result") or {}).get("STATUS") == "SUCCESS"
    ]


def merged_groups(stack: Stack) -> Counter[tuple[int, ...]]:
    """How many times each group was merged at the portal."""
    return Counter(
        tuple(int(i) for i in c["params"]["params"]["entityIds"]) for c in merge_calls(stack)
    )


def queue_of(stack: Stack) -> JobQueue:
    """The test process's queue for the stack's app."""
    return job_queue(app_context(stack.app))


# -- messages and the database storage ----------------------------------------------------


def test_messages_are_json_and_never_unpickled(stack: Stack) -> None:
    queue = queue_of(stack)
    token = stack.open(1).token
    job_id = stack.api("POST", "/scans", token, {"entityTypeId": 3}).json()["id"]
    [raw] = queue.huey.storage.enqueued_items()
    assert job_id.encode() in raw and raw.startswith(b'{"message":')
    serializer = JsonMessages()
    with pytest.raises(ValueError):
        serializer.deserialize(pickle.dumps({"message": "x"}))
    with pytest.raises(ValueError):
        serializer.deserialize(b'{"message": {"id": 1}}')
    eta = datetime.datetime(2030, 1, 2, 3, 4, 5)
    task = queue.huey.dequeue()
    task.eta = eta
    again = queue.huey.deserialize_task(queue.huey.serialize_task(task))
    assert again.args == (job_id,) and again.eta == eta and again.id == task.id


# -- repeated, lost and orphaned messages ------------------------------------------------


def test_a_repeated_message_runs_the_job_once(stack: Stack) -> None:
    groups = add_pairs(stack, 5)
    token = stack.open(1).token
    job_id = stack.api("POST", "/merges", token, {"entityTypeId": 3, "groups": groups}).json()["id"]
    queue = queue_of(stack)
    queue.enqueue(job_id)
    queue.enqueue(job_id)
    assert queue.run_pending() == 3
    body = stack.api("GET", f"/merges/{job_id}", token).json()
    assert body["status"] == "done"
    assert [r["status"] for r in body["results"]] == ["SUCCESS"] * 5
    assert merged_groups(stack) == Counter(tuple(g) for g in groups)


def test_a_lost_message_is_sent_again_once_the_queue_drained(stack: Stack) -> None:
    add_pairs(stack, 3)
    token = stack.open(1).token
    job_id = stack.api("POST", "/scans", token, {"entityTypeId": 3}).json()["id"]
    queue = queue_of(stack)
    queue.huey.flush()  # Redis restarted empty, or the message never made it
    assert queue.reap() == []  # queued just now: not lost yet
    time.sleep(1.1)
    assert queue.reap() == [job_id]
    assert queue.reap() == []  # sent once, not again at every look
    assert queue.run_pending() == 1
    body = stack.api("GET", f"/scans/{job_id}", token).json()
    assert body["status"] == "done" and body["groupsTotal"] == 3


def test_a_job_whose_worker_died_is_resumed_by_another(stack: Stack) -> None:
    groups = add_pairs(stack, 4)
    token = stack.open(1).token
    job_id = stack.api("POST", "/merges", token, {"entityTypeId": 3, "groups": groups}).json()["id"]
    queue = queue_of(stack)
    queue.huey.flush()  # the dead worker had taken the message
    db = stack.db
    assert db.claim_job(job_id, "host:1:dead", stale_before=0) is not None
    assert queue.run_pending() == 0
    assert queue.reap() == []  # its heartbeat is fresh: the worker may be alive
    with db.begin() as conn:
        conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(heartbeat_at=0))
    assert queue.reap() == [job_id]
    assert db.get_job(job_id).status == "queued"
    assert queue.run_pending() == 1
    assert stack.api("GET", f"/merges/{job_id}", token).json()["status"] == "done"
    assert merged_groups(stack) == Counter(tuple(g) for g in groups)


# -- several consumers -------------------------------------------------------------------


CLAIM_LINE = re.compile(r"job ([0-9a-f]{32}): (?:scan|merge) started, claimed by (\S+)")


def test_two_workers_and_the_embedded_one_never_run_the_same_job(
    tmp_path: Path, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="b24app.jobs.worker")
    # Healthy workers on two loaded cores: none is taken over for being slow to beat.
    stack = queued_stack(tmp_path, backend, run_worker=True, job_stale_after=10.0)
    workers: list[WorkerProcess] = []
    try:
        stack.install(1)
        groups = add_pairs(stack, 24)
        stack.portal.limits.sleep_factor = 0.05  # a merge takes 0.1 s, a list page 5 ms
        token = stack.open(1).token
        ensure_worker(app_context(stack.app))
        env = worker_env(stack)
        workers = [WorkerProcess.start(env, tmp_path, f"worker{n}") for n in range(2)]
        ids = [
            stack.api("POST", "/merges", token, {"entityTypeId": 3, "groups": groups[n::8]}).json()[
                "id"
            ]
            for n in range(8)
        ]
        ids += [
            stack.api("POST", "/scans", token, {"entityTypeId": 3}).json()["id"] for _ in range(6)
        ]
        for job_id in ids:
            kind = "merges" if job_id in ids[:8] else "scans"
            assert stack.wait(kind, job_id, token, timeout=60)["status"] == "done"
        for worker in workers:
            assert worker.stop() == 0, worker.output()
        claims = [m.groups() for m in CLAIM_LINE.finditer(caplog.text)]
        for worker in workers:
            claims += [m.groups() for m in CLAIM_LINE.finditer(worker.log.read_text())]
        assert Counter(job for job, _ in claims) == Counter(ids)  # each claimed once, by one
        assert len({by.rsplit(":", 1)[0] for _, by in claims}) >= 2, claims  # the work is shared
        assert merged_groups(stack) == Counter(tuple(g) for g in groups)
        # Each scan run starts with one count of the CRM (start=0): six scans, six counts.
        counts = [
            c
            for c in stack.portal.calls
            if c["method"] == "crm.contact.list"
            and not c["via_batch"]
            and str(c["params"].get("start")) == "0"
        ]
        assert len(counts) == 6
        for worker in workers:
            assert "Traceback" not in worker.output(), worker.output()
    finally:
        for worker in workers:
            if worker.proc.poll() is None:
                worker.kill()
        stack.close()


def test_sigterm_hands_a_running_job_to_the_next_worker(tmp_path: Path, backend: str) -> None:
    stack = queued_stack(tmp_path, backend, job_stale_after=30.0)
    first: WorkerProcess | None = None
    second: WorkerProcess | None = None
    try:
        stack.install(1)
        groups = add_pairs(stack, 40)
        stack.portal.limits.sleep_factor = 0.05
        token = stack.open(1).token
        job_id = stack.api("POST", "/merges", token, {"entityTypeId": 3, "groups": groups}).json()[
            "id"
        ]
        env = worker_env(stack, B24_MERGE_PARALLEL="2")
        first = WorkerProcess.start(env, tmp_path, "first")
        wait_until(lambda: stack.db.get_job(job_id).progress_done >= 4, timeout=30)
        assert first.stop() == 0, first.output()
        job = stack.db.get_job(job_id)
        # Handed back at once (not left to go stale for 30 s), what was done recorded.
        assert job.status == "queued" and job.claimed_by is None, first.output()
        done_before = sum(1 for i in stack.db.merge_items(job_id) if i["status"] == "SUCCESS")
        assert 4 <= done_before < 40
        assert all(i["status"] != "calling" for i in stack.db.merge_items(job_id))
        second = WorkerProcess.start(env, tmp_path, "second")
        assert stack.wait("merges", job_id, token, timeout=60)["status"] == "done"
        assert merged_groups(stack) == Counter(tuple(g) for g in groups)
    finally:
        for worker in (first, second):
            if worker is not None and worker.proc.poll() is None:
                worker.kill()
        stack.close()
