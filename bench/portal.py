"""The emulated portal for benchmarks, in its own process, with Bitrix24's limits on.

Every duration and window is divided by ``--time-scale`` (costs, the 480 s budget and its
600 s window) and the drain rate multiplied by it, so every ratio of the real limits holds.
Prints one JSON line (REST endpoint, token, limits), then answers ``stats`` lines on stdin.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from b24app.devportal import DevPortal

COSTS = {"list": 0.1, "crm.entity.mergebatch": 2.0, "other": 0.05}
LIST_METHODS = ("crm.contact.list", "crm.lead.list", "crm.company.list", "crm.deal.list")


def seed_contacts(emu: DevPortal, count: int) -> int:
    """``count`` contacts, about 30% of them in groups of three sharing a phone."""
    crm = emu.portal.crm
    in_groups = 0
    n = 0
    while n < count:
        if n % 10 < 3 and count - n >= 3:  # three of every ten records: one group
            for _ in range(3):
                crm.add(
                    3,
                    {
                        "NAME": f"Anna{n // 10}",
                        "LAST_NAME": "Group",
                        "PHONE": [{"VALUE": f"+7 900 {n // 10:07d}", "VALUE_TYPE": "WORK"}],
                    },
                )
            in_groups += 3
            n += 3
            continue
        crm.add(
            3,
            {
                "NAME": f"Solo{n}",
                "LAST_NAME": "Alone",
                "PHONE": [{"VALUE": f"+7 901 {n:07d}", "VALUE_TYPE": "WORK"}],
                "EMAIL": [{"VALUE": f"solo{n}@example.com", "VALUE_TYPE": "WORK"}],
            },
        )
        n += 1
    return in_groups


def seed_groups(emu: DevPortal, groups: int) -> list[list[int]]:
    """``groups`` groups of two or three identical contacts (they merge without conflict)."""
    crm = emu.portal.crm
    out = []
    for g in range(groups):
        fields = {
            "NAME": f"Merge{g}",
            "LAST_NAME": "Twin",
            "PHONE": [{"VALUE": f"+7 902 {g:07d}", "VALUE_TYPE": "WORK"}],
        }
        out.append([crm.add(3, dict(fields)) for _ in range(2 + g % 2)])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=0)
    parser.add_argument("--groups", type=int, default=0)
    parser.add_argument("--time-scale", type=float, default=1.0)
    args = parser.parse_args()
    k = args.time_scale
    emu = DevPortal(seed=False, limits=True)
    limits = emu.portal.limits
    limits.bucket_size = 50
    limits.drain_per_sec = 2.0 * k
    limits.operating_limit_s = 480.0 / k
    limits.operating_window_s = 600.0 / k
    limits.default_cost = COSTS["other"] / k
    limits.costs = {m: COSTS["list"] / k for m in LIST_METHODS}
    limits.costs["crm.item.list"] = COSTS["list"] / k
    limits.costs["crm.entity.mergebatch"] = COSTS["crm.entity.mergebatch"] / k
    limits.sleep_factor = 1.0  # the processing time passes for real
    in_groups = seed_contacts(emu, args.contacts)
    groups = seed_groups(emu, args.groups)
    emu.start()
    emu.register_app("local.bench.app", "bench-secret", "http://127.0.0.1:9")
    access, _ = emu.issue_tokens(emu.portal, 1)
    limits.reset()
    print(
        json.dumps(
            {
                "url": emu.portal.url + "/rest/",
                "token": access.token,
                "in_groups": in_groups,
                "groups": groups,
                "limits": {
                    "burst": limits.bucket_size,
                    "drain": limits.drain_per_sec,
                    "budget": limits.operating_limit_s,
                    "window": limits.operating_window_s,
                    "list_cost": COSTS["list"] / k,
                    "merge_cost": COSTS["crm.entity.mergebatch"] / k,
                },
            }
        ),
        flush=True,
    )
    for line in sys.stdin:
        if line.strip() == "stats":
            with emu.lock:
                calls = list(emu.portal.calls)
            statuses = Counter(str(c["status"]) for c in calls)
            processing = sum(
                limits.cost(c["method"])
                for c in calls
                if c["status"] == 200 and c["method"] != "batch"
            )
            merged = Counter(
                tuple(c["params"]["params"]["entityIds"])
                for c in calls
                if c["method"] == "crm.entity.mergebatch" and c["status"] == 200
            )
            print(
                json.dumps(
                    {
                        "statuses": statuses,
                        "processing": processing,
                        "http_requests": sum(1 for c in calls if not c["via_batch"]),
                        "merged_twice": sum(1 for n in merged.values() if n > 1),
                        "merged": len(merged),
                    }
                ),
                flush=True,
            )
        elif line.strip() == "reset":
            with emu.lock:
                emu.portal.calls.clear()
            print("{}", flush=True)
    emu.stop()


if __name__ == "__main__":
    main()
