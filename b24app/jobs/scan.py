"""A scan: read one CRM type through REST and group its duplicates."""

from __future__ import annotations

from typing import Any

from b24app.bitrix.client import RestClient
from b24app.dedupe import Record, find_duplicate_groups
from b24app.storage.db import Database, Job, Portal

# entity type -> (list method, matching kind)
SCANNABLE = {
    1: ("crm.lead.list", "person"),
    3: ("crm.contact.list", "person"),
    4: ("crm.company.list", "company"),
}
PERSON_FIELDS = ["ID", "NAME", "LAST_NAME", "SECOND_NAME", "DATE_CREATE", "PHONE", "EMAIL"]
COMPANY_FIELDS = ["ID", "TITLE", "DATE_CREATE", "PHONE", "EMAIL"]
# Pairs that share a value but disagree are for a person to look at; past this many, count only.
MAX_SHARED_STORED = 2000


class Cancelled(Exception):
    """The job was asked to stop."""


def _values(row: dict[str, Any], key: str) -> tuple[str, ...]:
    items = row.get(key)
    if isinstance(items, dict):
        items = list(items.values())
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("VALUE"), str) and item["VALUE"].strip():
            out.append(item["VALUE"])
    return tuple(out)


def _text(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    return value.strip() if isinstance(value, str) else ""


def to_record(row: dict[str, Any]) -> Record:
    """A CRM row in Bitrix24's upper-case shape as a matching record."""
    return Record(
        id=int(row["ID"]),
        created=_text(row, "DATE_CREATE") or None,
        first_name=_text(row, "NAME"),
        last_name=_text(row, "LAST_NAME"),
        second_name=_text(row, "SECOND_NAME"),
        title=_text(row, "TITLE"),
        phones=_values(row, "PHONE"),
        emails=_values(row, "EMAIL"),
    )


def member_view(record: Record) -> dict[str, Any]:
    """What the UI shows of a record inside a group."""
    name = " ".join(p for p in (record.first_name, record.second_name, record.last_name) if p)
    return {
        "id": record.id,
        "name": name or record.title,
        "title": record.title,
        "phones": list(record.phones),
        "emails": list(record.emails),
        "created": record.created,
    }


def run_scan(db: Database, client: RestClient, portal: Portal, job: Job, beat: Any) -> None:
    """Read every record of the job's type, group duplicates, store the result."""
    method, kind = SCANNABLE[job.entity_type_id]
    select = COMPANY_FIELDS if kind == "company" else PERSON_FIELDS
    first = client.call_raw(method, {"order": {"ID": "ASC"}, "select": ["ID"], "start": 0})
    total = int(first.get("total") or 0)
    if not beat(progress_done=0, progress_total=total):
        raise Cancelled
    records: dict[int, Record] = {}
    for page in client.iter_keyset(method, select=select, expected_total=total):
        for row in page:
            try:
                record = to_record(row)
            except (KeyError, TypeError, ValueError):
                continue
            records[record.id] = record
        if not beat(progress_done=len(records), progress_total=max(total, len(records))):
            raise Cancelled
    result = find_duplicate_groups(records.values(), default_region=portal.phone_region, kind=kind)
    seed = job.params.get("seedId")
    groups = [g for g in result.groups if seed is None or seed in g.entity_ids]
    shared_all = [s for s in result.shared if seed is None or seed in s.entity_ids]
    shared = shared_all[:MAX_SHARED_STORED]
    db.store_scan_results(
        job.id,
        [
            {
                "entity_ids": list(g.entity_ids),
                "matched_on": list(g.matched_on),
                "members": [member_view(records[i]) for i in g.entity_ids],
            }
            for g in groups
        ],
        [
            {
                "entity_ids": list(s.entity_ids),
                "matched_on": list(s.matched_on),
                "members": [member_view(records[i]) for i in s.entity_ids],
            }
            for s in shared
        ],
    )
    beat(
        progress_done=len(records),
        progress_total=len(records),
        groups_total=len(groups),
        stats={
            "recordsRead": len(records),
            "ignoredValues": result.ignored_values,
            "sharedTotal": len(shared_all),
            "seedFound": seed is None or seed in records,
        },
    )
