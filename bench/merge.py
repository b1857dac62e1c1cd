"""Merge G groups with the app's own merge job, where the per-method budget binds.

    .venv/bin/python bench/merge.py --groups 1000 [--time-scale 20] [--parallel 4]

The job is the app's: a merge job row in a SQLite database, its groups' intent and outcome
written as the worker does (``b24app.jobs.merging.run_merge``), B24_MERGE_PARALLEL calls in
flight, the shared pacer. crm.entity.mergeBatch costs 2.0 s (scaled) against a budget of 480 s
per 600 s, so its ceiling is 480 / 2.0 = 240 merges a window (0.4 a second unscaled), well
under the request rate.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PortalProcess, app_client  # noqa: E402

from b24app.jobs.merging import run_merge  # noqa: E402
from b24app.security import TokenCipher  # noqa: E402
from b24app.storage.db import Database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--time-scale", type=float, default=20.0)
    parser.add_argument("--parallel", type=int, default=4, help="as B24_MERGE_PARALLEL")
    args = parser.parse_args()
    portal = PortalProcess.start("--groups", str(args.groups), "--time-scale", str(args.time_scale))
    limits = portal.info["limits"]
    groups = portal.info["groups"]
    window, budget, cost = limits["window"], limits["budget"], limits["merge_cost"]
    per_window = math.floor(budget / cost)
    try:
        db = Database(
            f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3", cipher=TokenCipher("bench-key")
        )
        db.upgrade_schema()
        client = app_client(portal, db)
        base = portal.info["url"].removesuffix("/rest/")
        host = base.split("://", 1)[1]
        record = db.upsert_portal(
            member_id="bench-member",
            domain=host,
            scheme="http",
            client_endpoint=portal.info["url"],
            server_endpoint="http://127.0.0.1:9/rest/",
        )
        job = db.create_merge_job(portal_id=record.id, user_id=1, entity_type_id=3, groups=groups)
        claimed = db.claim_job(job.id, "bench-worker", stale_before=0)
        assert claimed is not None
        finished: list[float] = []
        started = time.perf_counter()

        def beat(**values: object) -> bool:
            done = values.get("progress_done")
            if isinstance(done, int):
                while len(finished) < done:
                    finished.append(time.perf_counter() - started)
            return db.heartbeat(job.id, "bench-worker", **values)

        run_merge(
            db, client, base, claimed, "bench-worker", beat, parallel=args.parallel, grace=5.0
        )
        statuses = [item["status"] for item in db.merge_items(job.id)]
        wall = time.perf_counter() - started
        stats = portal.ask("stats")
        ceiling = budget / window / cost  # merges a second the budget sustains
        after_first = [t for t in finished if t > window]
        steady = (
            (len(after_first) - 1) / (after_first[-1] - after_first[0])
            if len(after_first) > 1
            else 0
        )
        # The fastest any client can go: a window's worth at once, then one window per more.
        floor_wall = window * ((len(groups) - 1) // per_window)
        blocked = stats["statuses"].get("429", 0)
        print(
            f"merge of {len(groups)} groups (time scale {args.time_scale:g}: window "
            f"{window:g} s, budget {budget:g} s, mergeBatch {cost:g} s, {args.parallel} in flight)"
        )
        print(f"  outcomes              {dict((s, statuses.count(s)) for s in set(statuses))}")
        print(f"  merged exactly once   {stats['merged']} groups, {stats['merged_twice']} twice")
        print(
            f"  wall time             {wall:.1f} s   floor {floor_wall:.1f} s "
            f"(= {(len(groups) - 1) // per_window} windows)"
        )
        print(
            f"  steady rate           {steady:.2f} merges/s after the first window   "
            f"ceiling {ceiling:.2f}/s   ratio {steady / ceiling:.0%}"
        )
        print(f"  overall               {len(groups) / wall:.2f} merges/s")
        print(f"  503 / 429             {client.rate_limited} / {blocked}")
        print(f"  REST requests         {client.requests_sent}")
    finally:
        portal.stop()


if __name__ == "__main__":
    main()
