"""The crash test: a merge of 300 groups survives SIGKILL of its worker at random moments.

The emulator runs in this test's process, so it outlives every kill; the worker is a
`b24app worker` child process on the same database. It is killed with SIGKILL at a random
moment after it took the job over, at least ten times, and started again each time. In the
end the emulator's call log must show exactly one successful mergeBatch per group, and the
app must have stored every group's result. The emulator's limits are off and a merge takes
50 ms (merged at once, answered after the pause), so a kill often lands while calls are in
flight, some merged but unanswered.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from pathlib import Path

from tests.helpers import WorkerProcess, wait_until, worker_env
from tests.test_queue import add_pairs, merge_calls, merged_groups, queued_stack

GROUPS = 300
KILLS = 12


def test_a_merge_killed_at_random_moments_merges_every_group_exactly_once(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("B24_CRASH_SEED") or time.time())
    rng = random.Random(seed)
    started = time.monotonic()
    stack = queued_stack(
        tmp_path,
        "database",
        job_stale_after=1.0,
        queue_poll=0.2,
        # the emulator's limits are off: pace to nothing, so the test is bounded by merges
        rate_burst=100_000,
        rate_drain=100_000.0,
        method_budget=1e9,
    )
    worker: WorkerProcess | None = None
    figures: list[dict[str, int]] = []
    try:
        stack.install(1)
        groups = add_pairs(stack, GROUPS)
        stack.portal.limits.sleep_factor = 0.025  # mergeBatch: 2.0 s of cost -> 50 ms
        token = stack.open(1).token
        job_id = stack.api("POST", "/merges", token, {"entityTypeId": 3, "groups": groups}).json()[
            "id"
        ]
        env = worker_env(stack)
        holders: set[str] = set()
        while len(figures) < KILLS:
            worker = WorkerProcess.start(env, tmp_path, "worker")

            def took_over() -> bool:
                job = stack.db.get_job(job_id)
                return job.status == "running" and job.claimed_by not in holders | {None}

            wait_until(took_over, timeout=30)
            holders.add(stack.db.get_job(job_id).claimed_by)
            time.sleep(rng.uniform(0.05, 0.45))
            worker.kill()
            items = stack.db.merge_items(job_id)
            figures.append(
                {
                    "done": sum(1 for i in items if i["status"] == "SUCCESS"),
                    "calling": sum(1 for i in items if i["status"] == "calling"),
                    "merged_at_portal": len(merge_calls(stack)),
                }
            )
            assert stack.db.get_job(job_id).status == "running", (seed, figures)
        worker = WorkerProcess.start(env, tmp_path, "worker")
        body = stack.wait("merges", job_id, token, timeout=120)
        assert worker.stop() == 0, worker.output()
        log = (tmp_path / "worker.log").read_text()
        assert "Traceback" not in log, log[-6000:]

        # Every group merged exactly once at the portal ...
        assert merged_groups(stack) == Counter(tuple(g) for g in groups), seed
        records = stack.portal.records(3)
        for keep, other in groups:
            assert keep in records and other not in records
        # ... and every result stored, in the job and in the history.
        assert body["status"] == "done", body["status"]
        assert [(r["status"], r["keptId"], r["mergedIds"]) for r in body["results"]] == [
            ("SUCCESS", keep, [other]) for keep, other in groups
        ]
        history = stack.api("GET", "/history", token, params={"limit": 1000}).json()
        assert history["total"] == GROUPS
        assert {item["status"] for item in history["items"]} == {"SUCCESS"}

        calls = [c for c in stack.portal.calls if c["method"] == "crm.entity.mergebatch"]
        found = log.count("found SUCCESS at the portal")
        again = log.count("unchanged at the portal")
        in_flight = sum(f["calling"] for f in figures)
        print(
            f"\ncrash test (seed {seed}): {len(figures)} SIGKILLs, {GROUPS} groups, "
            f"{time.monotonic() - started:.1f} s; {in_flight} calls in flight at the kills, "
            f"{found} found merged at the portal, {again} found unchanged and sent again; "
            f"{len(calls)} mergeBatch calls, {len(merge_calls(stack))} successful"
        )
        assert len(figures) >= 10 and in_flight > 0, figures
    finally:
        if worker is not None and worker.proc.poll() is None:
            worker.kill()
        stack.close()
