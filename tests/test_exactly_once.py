"""Exactly once: a group whose merge call may have reached the portal is checked there first.

Each test leaves a group ``calling`` the way a worker killed mid-call does (the intent recorded,
the answer not), sometimes with the merge really done at the portal, and lets another worker
resume the job through the queue.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from b24app import app_context
from b24app.jobs.queue import ensure_worker, job_queue
from b24app.storage.schema import jobs
from tests.helpers import Stack, wait_until
from tests.test_queue import add_pairs, merge_calls, merged_groups, queued_stack

DEAD = "host:1:dead"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """An installed stack (database queue) with 3 pairs of contacts and a triple."""
    running = queued_stack(tmp_path, "database")
    try:
        running.install(1)
        yield running
    finally:
        running.close()


def _merge_left_calling(stack: Stack, groups: list[list[int]], calling: list[int]) -> str:
    """A merge job a worker claimed, recorded the intent for ``calling`` groups of, and died."""
    token = stack.open(1).token
    job_id = stack.api("POST", "/merges", token, {"entityTypeId": 3, "groups": groups}).json()["id"]
    queue = job_queue(app_context(stack.app))
    queue.huey.flush()  # the dead worker had taken the message
    db = stack.db
    assert db.claim_job(job_id, DEAD, stale_before=0) is not None
    for position in calling:
        assert db.begin_merge_call(job_id, position, DEAD)
    with db.begin() as conn:
        conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(heartbeat_at=0))
    return job_id


def _resume(stack: Stack, job_id: str) -> dict:  # type: ignore[type-arg]
    queue = job_queue(app_context(stack.app))
    assert queue.reap() == [job_id]
    assert queue.run_pending() == 1
    token = stack.open(1).token
    return stack.api("GET", f"/merges/{job_id}", token).json()


def _merge_at_portal(stack: Stack, ids: list[int]) -> None:
    """The dead worker's call: it reached the portal and merged, the answer was lost."""
    portal = stack.db.get_portal(member_id=stack.portal.member_id)
    ctx = app_context(stack.app)
    answer = ctx.rest(portal, 1).call(
        "crm.entity.mergeBatch", {"params": {"entityTypeId": 3, "entityIds": ids}}, idempotent=False
    )
    assert answer["STATUS"] == "SUCCESS"


def test_a_group_whose_records_all_remain_is_called_again_once(stack: Stack) -> None:
    groups = add_pairs(stack, 3)
    job_id = _merge_left_calling(stack, groups, [0])
    body = _resume(stack, job_id)
    assert body["status"] == "done"
    assert [r["status"] for r in body["results"]] == ["SUCCESS"] * 3
    # the check read the records as the user who asked, then the group was called once
    checks = [
        c
        for c in stack.portal.calls
        if c["method"] == "crm.contact.list" and c["params"].get("filter", {}).get("@ID")
    ]
    assert [sorted(int(i) for i in c["params"]["filter"]["@ID"]) for c in checks] == [groups[0]]
    assert {c["user_id"] for c in checks} == {1}
    assert merged_groups(stack) == {tuple(g): 1 for g in groups}


def test_a_group_the_portal_merged_before_the_crash_is_recorded_not_merged_again(
    stack: Stack,
) -> None:
    groups = add_pairs(stack, 3)
    job_id = _merge_left_calling(stack, groups, [0, 1])
    _merge_at_portal(stack, groups[1])
    body = _resume(stack, job_id)
    assert body["status"] == "done"
    first, second, third = body["results"]
    assert first["status"] == second["status"] == third["status"] == "SUCCESS"
    assert second["keptId"] == groups[1][0] and second["mergedIds"] == groups[1][1:]
    assert merged_groups(stack) == {tuple(g): 1 for g in groups}
    token = stack.open(1).token
    history = stack.api("GET", "/history", token).json()
    assert sorted(item["status"] for item in history["items"]) == ["SUCCESS"] * 3


def test_a_group_found_half_merged_is_an_error_for_a_person(stack: Stack) -> None:
    groups = add_pairs(stack, 2)
    keep = groups[0][0]
    third = stack.portal.add_record(
        3, {"NAME": "Person0", "LAST_NAME": "Queue"}, created="2024-03-01T10:00:00+00:00"
    )
    groups[0].append(third)
    job_id = _merge_left_calling(stack, groups, [0])
    with stack.emu.lock:
        stack.portal.crm.delete(3, third)  # someone deleted one record meanwhile
    body = _resume(stack, job_id)
    assert body["status"] == "done"
    first, second = body["results"]
    assert first["status"] == "ERROR" and first["error"]["code"] == "merge_unconfirmed"
    assert str(third) in first["error"]["message"]
    assert second["status"] == "SUCCESS"
    assert merged_groups(stack) == {tuple(groups[1]): 1}  # the first group was never re-sent
    assert keep in stack.portal.records(3)


def test_a_call_without_an_answer_is_checked_before_anything_else(tmp_path: Path) -> None:
    stack = queued_stack(tmp_path, "database", http_timeout=0.5, job_stale_after=0.5)
    try:
        stack.install(1)
        groups = add_pairs(stack, 2)
        # mergeBatch merges at once, then answers after 1 s: past the app's 0.5 s timeout
        stack.portal.limits.sleep_factor = 0.5
        stack.portal.limits.costs.update({"crm.contact.list": 0.0, "batch": 0.0})
        stack.portal.limits.default_cost = 0.0
        token = stack.open(1).token
        job_id = stack.api("POST", "/merges", token, {"entityTypeId": 3, "groups": groups}).json()[
            "id"
        ]
        assert job_queue(app_context(stack.app)).run_pending() == 1
        body = stack.api("GET", f"/merges/{job_id}", token).json()
        assert body["status"] == "done"
        assert [r["status"] for r in body["results"]] == ["SUCCESS", "SUCCESS"]
        assert len(merge_calls(stack)) == 2  # one call each: the silence was checked, not retried
    finally:
        stack.close()


def test_jobs_of_an_uninstalled_portal_stop(tmp_path: Path) -> None:
    stack = queued_stack(tmp_path, "database", run_worker=True, merge_parallel=2)
    try:
        stack.install(1)
        groups = add_pairs(stack, 60)
        stack.portal.limits.sleep_factor = 0.05  # 0.1 s a merge
        token = stack.open(1).token
        ensure_worker(app_context(stack.app))
        running, waiting = (
            stack.api("POST", "/merges", token, {"entityTypeId": 3, "groups": part}).json()["id"]
            for part in (groups[:50], groups[50:])
        )
        wait_until(lambda: stack.db.get_job(running).progress_done >= 3, timeout=20)
        before = len(merge_calls(stack))
        stack.portal.uninstall(clean=False)
        for job_id in (running, waiting):
            wait_until(lambda j=job_id: stack.db.get_job(j).status == "failed", timeout=10)
            assert stack.db.get_job(job_id).error_code == "portal_uninstalled"
        time.sleep(0.5)
        assert len(merge_calls(stack)) <= before + 2  # at most the calls that were in flight
        assert not set(merged_groups(stack)) & {tuple(g) for g in groups[50:]}
    finally:
        stack.close()
