"""Operators' commands: a portal's jobs, and purging a portal that uninstalled the app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import sqlalchemy as sa

from b24app.storage.schema import metadata
from tests.helpers import Stack, wait_until


def _cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": stack.app.extensions["b24app"].settings.database_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "b24app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _rows_of(stack: Stack, portal_id: int, endpoint: str) -> dict[str, int]:
    """How many rows of each table belong to one portal."""
    counts: dict[str, int] = {}
    with stack.db.engine.connect() as conn:
        job_ids = [
            row[0]
            for row in conn.execute(
                sa.select(metadata.tables["b24_jobs"].c.id).where(
                    metadata.tables["b24_jobs"].c.portal_id == portal_id
                )
            )
        ]
        for name, table in metadata.tables.items():
            if "portal_id" in table.c:
                where: Any = table.c.portal_id == portal_id
            elif "job_id" in table.c:
                where = table.c.job_id.in_(job_ids)
            elif "portal" in table.c:
                where = table.c.portal == endpoint
            elif name == "b24_portals":
                where = table.c.id == portal_id
            else:
                continue
            counts[name] = int(
                conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar()
                or 0
            )
    return counts


def test_jobs_lists_a_portals_jobs_by_member_id_or_domain(installed: Stack) -> None:
    admin = installed.open(1).token
    manager = installed.open(2).token
    assert admin and manager
    scan = installed.scan(admin, 3)
    merge = installed.merge(manager, [[5, 6]])
    portal = installed.db.get_portal(member_id=installed.portal.member_id)
    by_member = _cli(installed, "jobs", "--member-id", portal.member_id)
    assert by_member.returncode == 0, by_member.stderr
    lines = by_member.stdout.splitlines()
    assert portal.member_id in lines[0] and "installed" in lines[0]
    assert lines[1].split()[:3] == ["job", "kind", "status"]
    assert lines[2].split()[:3] == [merge["id"], "merge", "done"]  # newest first
    assert lines[3].split()[:3] == [scan["id"], "scan", "done"]
    as_json = _cli(installed, "jobs", "--domain", portal.domain.upper(), "--json")
    assert as_json.returncode == 0, as_json.stderr
    entries = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [(e["id"], e["userId"], e["status"]) for e in entries] == [
        (merge["id"], 2, "done"),
        (scan["id"], 1, "done"),
    ]
    only_scans = _cli(installed, "jobs", "--member-id", portal.member_id, "--status", "failed")
    assert "no jobs" in only_scans.stdout
    unknown = _cli(installed, "jobs", "--member-id", "no-such-member")
    assert unknown.returncode == 2 and "no portal with member_id" in unknown.stderr
    neither = _cli(installed, "jobs")
    assert neither.returncode == 2  # one of --member-id or --domain is required


def test_purge_refuses_an_installed_portal_and_deletes_an_uninstalled_one(
    installed: Stack,
) -> None:
    second = installed.emu.add_portal(lang="de", seed=True)
    assert installed.install(1, portal=second).status_code == 200
    kept_token = installed.open(1, portal=second).token
    assert kept_token
    installed.scan(kept_token, 3)
    admin = installed.open(1).token
    assert admin
    scan = installed.scan(admin, 3)
    installed.merge(admin, [scan["groups"][0]["entityIds"]])
    marked = installed.api(
        "POST", "/not-duplicates", admin, {"entityTypeId": 3, "entityIds": [1, 2]}
    )
    assert marked.status_code in (200, 201, 204), marked.text
    portal = installed.db.get_portal(member_id=installed.portal.member_id)
    other = installed.db.get_portal(member_id=second.member_id)
    before = _rows_of(installed, portal.id, portal.client_endpoint)
    for table in ("b24_portals", "b24_tokens", "b24_jobs", "b24_scan_groups",
                  "b24_merge_items", "b24_merge_history", "b24_not_duplicates",
                  "b24_rate_buckets", "b24_method_budgets"):  # fmt: skip
        assert before[table] > 0, table
    other_before = _rows_of(installed, other.id, other.client_endpoint)

    refused = _cli(installed, "purge-portal", "--member-id", portal.member_id, "--yes")
    assert refused.returncode == 1 and "not uninstalled" in refused.stderr
    unconfirmed = _cli(installed, "purge-portal", "--domain", portal.domain)
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    assert _rows_of(installed, portal.id, portal.client_endpoint) == before

    installed.portal.uninstall(clean=False)  # history kept: only the operator purges it
    wait_until(lambda: installed.db.get_portal(member_id=portal.member_id).state == "uninstalled")
    purged = _cli(installed, "purge-portal", "--member-id", portal.member_id, "--yes")
    assert purged.returncode == 0, purged.stderr
    assert f"purged portal {portal.domain}" in purged.stdout
    after = _rows_of(installed, portal.id, portal.client_endpoint)
    assert after == dict.fromkeys(after, 0)
    assert installed.db.get_portal(member_id=portal.member_id) is None
    # the other portal keeps everything
    assert _rows_of(installed, other.id, other.client_endpoint) == other_before
    again = _cli(installed, "purge-portal", "--member-id", portal.member_id, "--yes")
    assert again.returncode == 2 and "no portal" in again.stderr
