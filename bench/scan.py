"""Scan N contacts with the app's own reader and grouping, against the emulator's limits.

.venv/bin/python bench/scan.py --contacts 10000 [--time-scale 5] [--baseline]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PortalProcess, app_client, peak_rss_mb  # noqa: E402

from b24app.dedupe import Record, find_duplicate_groups  # noqa: E402
from b24app.jobs.scan import SCANNABLE, read_all, to_record  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--time-scale", type=float, default=5.0)
    parser.add_argument("--parallel", type=int, default=2, help="as B24_SCAN_PARALLEL")
    parser.add_argument("--baseline", action="store_true", help="also offset paging, 1/page")
    args = parser.parse_args()
    n = args.contacts
    portal = PortalProcess.start("--contacts", str(n), "--time-scale", str(args.time_scale))
    limits = portal.info["limits"]
    try:
        client = app_client(portal)
        records: dict[int, Record] = {}
        started = time.perf_counter()
        read_all(client, SCANNABLE[3], records, lambda **_: True, parallel=args.parallel)
        wall = time.perf_counter() - started
        stats = portal.ask("stats")
        cpu = time.process_time()
        result = find_duplicate_groups(records.values(), default_region="RU", kind="person")
        grouping_cpu = time.process_time() - cpu
        pages = math.ceil(n / 50)
        floor_requests = math.ceil(n / 2500)
        floor_processing = (pages + 1) * limits["list_cost"]
        print(
            f"scan of {n} contacts (time scale {args.time_scale:g}: every duration / "
            f"{args.time_scale:g}, limits {limits['burst']}/{limits['drain']:g} per s)"
        )
        print(f"  records read          {len(records)} (in groups: {portal.info['in_groups']})")
        print(f"  groups found          {len(result.groups)}")
        print(
            f"  REST requests         {client.requests_sent}   floor ceil(N/2500) = "
            f"{floor_requests}  (+1 for the total)"
        )
        print(
            f"  wall time             {wall:.2f} s   "
            f"emulator processing {stats['processing']:.2f} s"
            f"   floor {floor_processing:.2f} s   ratio {wall / floor_processing:.2f}x"
        )
        print(f"  503 / 429             {client.rate_limited} / {client.time_limited}")
        print(f"  grouping CPU          {grouping_cpu:.2f} s")
        print(f"  peak RSS (this proc.) {peak_rss_mb():.0f} MB")
        if args.baseline:
            portal.ask("reset")
            naive = app_client(portal)
            started = time.perf_counter()
            seen = 0
            offset = 0
            while True:
                answer = naive.call_raw(
                    "crm.contact.list",
                    {"order": {"ID": "ASC"}, "select": list(SCANNABLE[3].select), "start": offset},
                )
                for row in answer["result"]:
                    to_record(row)
                    seen += 1
                if "next" not in answer:
                    break
                offset = int(answer["next"])
            base_wall = time.perf_counter() - started
            base = portal.ask("stats")
            print(
                f"  baseline (offset paging, one request a page, same pacer): "
                f"{naive.requests_sent} requests, {base_wall:.2f} s wall, "
                f"{base['processing']:.2f} s processing, "
                f"503/429 {naive.rate_limited}/{naive.time_limited}, {seen} records"
            )
    finally:
        portal.stop()


if __name__ == "__main__":
    main()
