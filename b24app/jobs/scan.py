"""A scan: read one CRM type through REST and group its duplicates.

A scan of the whole type reads every record. A scan for the duplicates of one record (``seedId``)
reads only that record and the candidates ``crm.duplicate.findbycomm`` names for its phones and
e-mails (and, one hop further, for theirs), then judges them with the same matching; deals, which
that method never searches, fall back to a whole read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from b24app.bitrix.client import BATCH_LIMIT, PAGE_SIZE, RestClient
from b24app.bitrix.errors import BitrixError, MethodError
from b24app.dedupe import (
    Record,
    find_duplicate_groups,
    latin_spelling,
    normalize_email,
    normalize_phone,
    title_key,
    title_words,
)
from b24app.storage.db import Database, Job, Portal


@dataclass(frozen=True)
class EntityKind:
    """How one CRM type is read and matched."""

    list_method: str
    kind: str  # the matching kind: person, company or deal
    select: tuple[str, ...]
    comm_entity: str | None  # entity_type for crm.duplicate.findbycomm; None: not searchable


PERSON_FIELDS = ("ID", "NAME", "LAST_NAME", "SECOND_NAME", "DATE_CREATE", "PHONE", "EMAIL")
COMPANY_FIELDS = ("ID", "TITLE", "DATE_CREATE", "PHONE", "EMAIL")
DEAL_FIELDS = ("ID", "TITLE", "DATE_CREATE", "CONTACT_ID", "COMPANY_ID")
SCANNABLE: dict[int, EntityKind] = {
    1: EntityKind("crm.lead.list", "person", PERSON_FIELDS, "LEAD"),
    2: EntityKind("crm.deal.list", "deal", DEAL_FIELDS, None),
    3: EntityKind("crm.contact.list", "person", PERSON_FIELDS, "CONTACT"),
    4: EntityKind("crm.company.list", "company", COMPANY_FIELDS, "COMPANY"),
}
# Pairs that share a value but disagree are for a person to look at; past this many, count only.
MAX_SHARED_STORED = 2000
# crm.duplicate.findbycomm takes at most this many values a call.
FINDBYCOMM_VALUES = 20
# The seed's candidates, then theirs: enough for a transitive chain of three.
SEED_HOPS = 2
# A company's title is searched by its longest word; past this many namesakes, read no more.
MAX_TITLE_CANDIDATES = 500

Beat = Callable[..., bool]


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


def _positive(row: dict[str, Any], key: str) -> int:
    try:
        number = int(str(row.get(key) or "0").strip())
    except ValueError:
        return 0
    return max(number, 0)


def deal_client(row: dict[str, Any]) -> str:
    """A deal's client: its company when it has one, else its contact, else nothing."""
    company, contact = _positive(row, "COMPANY_ID"), _positive(row, "CONTACT_ID")
    if company:
        return f"company:{company}"
    return f"contact:{contact}" if contact else ""


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
        client=deal_client(row),
    )


def member_view(record: Record) -> dict[str, Any]:
    """What the UI shows of a record inside a group."""
    name = " ".join(p for p in (record.first_name, record.second_name, record.last_name) if p)
    view: dict[str, Any] = {
        "id": record.id,
        "name": name or record.title,
        "title": record.title,
        "phones": list(record.phones),
        "emails": list(record.emails),
        "created": record.created,
    }
    if record.client:
        kind, _, number = record.client.partition(":")
        view["client"] = {"type": kind, "id": int(number)}
    return view


def _add_rows(records: dict[int, Record], rows: Iterable[dict[str, Any]]) -> list[Record]:
    added = []
    for row in rows:
        try:
            record = to_record(row)
        except (KeyError, TypeError, ValueError):
            continue
        if record.id not in records:
            records[record.id] = record
            added.append(record)
    return added


def read_all(
    client: RestClient,
    entity: EntityKind,
    records: dict[int, Record],
    beat: Beat,
    *,
    parallel: int = 1,
) -> None:
    """Read every record of the type the user may see, ``parallel`` ID ranges at once."""
    first = client.call_raw(
        entity.list_method, {"order": {"ID": "DESC"}, "select": ["ID"], "start": 0}
    )
    total = int(first.get("total") or 0)
    newest = max((_positive(row, "ID") for row in _rows(first.get("result"))), default=0)
    if not beat(progress_done=0, progress_total=total):
        raise Cancelled
    pages: Iterator[list[dict[str, Any]]]
    if parallel > 1 and total > BATCH_LIMIT * PAGE_SIZE and newest > 0:
        # Records created after the count (IDs above the newest) may be left out, as they
        # may in any read that is not a snapshot.
        pages = client.iter_keyset_ranges(
            entity.list_method,
            select=list(entity.select),
            upto=newest,
            total=total,
            parallel=parallel,
        )
    else:
        pages = client.iter_keyset(
            entity.list_method, select=list(entity.select), expected_total=total
        )
    try:
        for page in pages:
            _add_rows(records, page)
            if not beat(progress_done=len(records), progress_total=max(total, len(records))):
                raise Cancelled
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()


def _rows(result: Any) -> list[dict[str, Any]]:
    return [row for row in result if isinstance(row, dict)] if isinstance(result, list) else []


def _read_ids(client: RestClient, entity: EntityKind, ids: list[int]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for start in range(0, len(ids), PAGE_SIZE):
        chunk = ids[start : start + PAGE_SIZE]
        page = client.call(
            entity.list_method,
            {
                "order": {"ID": "ASC"},
                "filter": {"@ID": chunk},
                "select": list(entity.select),
                "start": -1,
            },
        )
        if isinstance(page, list):
            rows.extend(row for row in page if isinstance(row, dict))
    return rows


def found_ids(result: Any, entity_name: str) -> list[int]:
    """The IDs of one type in a ``crm.duplicate.findbycomm`` result; ``[]`` means none found."""
    if result == [] or result == {}:
        return []
    if not isinstance(result, dict):
        raise BitrixError(
            "duplicate_search_failed",
            "crm.duplicate.findbycomm answered with something that is not a result.",
        )
    ids = result.get(entity_name) or []
    if isinstance(ids, dict):
        ids = list(ids.values())
    out = []
    for value in ids if isinstance(ids, list) else []:
        try:
            out.append(int(value))
        except (TypeError, ValueError):
            continue
    return out


def _search_values(records: Iterable[Record], region: str | None) -> dict[str, set[str]]:
    """What to ask findbycomm for: each phone as written and in E.164, each e-mail folded."""
    phones: set[str] = set()
    emails: set[str] = set()
    for record in records:
        for raw in record.phones:
            key = normalize_phone(raw, region)
            if key is None:
                continue  # a filler would name half the CRM
            phones.add(raw.strip())
            main = key.split(";ext=", 1)[0]
            if not main.startswith("digits:"):
                phones.add(main)
        for raw in record.emails:
            email = normalize_email(raw)
            if email is not None:
                emails.add(email)
    return {"PHONE": phones, "EMAIL": emails}


def find_by_comm(
    client: RestClient, comm_type: str, values: list[str], entity_name: str
) -> set[int]:
    """Ask the portal which records of one type hold any of these values (20 a call)."""
    found: set[int] = set()
    for start in range(0, len(values), FINDBYCOMM_VALUES):
        chunk = values[start : start + FINDBYCOMM_VALUES]
        try:
            result = client.call(
                "crm.duplicate.findbycomm",
                {"type": comm_type, "values": chunk, "entity_type": entity_name},
            )
        except MethodError as exc:
            # A 400 whose `error` is empty is still a failure (CASE-14), never "no duplicates".
            raise BitrixError(
                "duplicate_search_failed",
                "Bitrix24 refused the duplicate search (crm.duplicate.findbycomm): "
                + (exc.description or exc.code),
                status=exc.status,
            ) from exc
        found.update(found_ids(result, entity_name))
    return found


def _read_around(
    client: RestClient,
    entity: EntityKind,
    seed: int,
    region: str | None,
    records: dict[int, Record],
    beat: Beat,
) -> None:
    """Read the seed and its candidates, hop by hop (the seed's, then theirs)."""
    assert entity.comm_entity is not None
    frontier = _add_rows(records, _read_ids(client, entity, [seed]))
    if entity.kind == "company" and frontier:
        frontier += _read_namesakes(client, entity, frontier[0], records)
    asked: dict[str, set[str]] = {"PHONE": set(), "EMAIL": set()}
    for _ in range(SEED_HOPS):
        if not beat(progress_done=len(records), progress_total=None):
            raise Cancelled
        candidates: set[int] = set()
        for comm_type, values in _search_values(frontier, region).items():
            fresh = sorted(values - asked[comm_type])
            asked[comm_type].update(fresh)
            if fresh:
                candidates |= find_by_comm(client, comm_type, fresh, entity.comm_entity)
        unread = sorted(candidates - records.keys())
        if not unread:
            break
        frontier = _add_rows(records, _read_ids(client, entity, unread))


def _read_namesakes(
    client: RestClient, entity: EntityKind, seed: Record, records: dict[int, Record]
) -> list[Record]:
    """Companies whose TITLE holds the seed's longest word (findbycomm knows no titles).

    The word is searched as written and transliterated to Latin; a Latin seed does not find a
    title written only in Cyrillic here (the whole-type scan does).
    """
    words = sorted(title_words(seed.title), key=len, reverse=True)
    if title_key(seed.title) is None or not words or len(words[0]) < 3:
        return []
    added: list[Record] = []
    for word in dict.fromkeys((words[0], latin_spelling(words[0]))):
        read = 0
        for page in client.iter_keyset(
            entity.list_method,
            select=list(entity.select),
            filter={"%TITLE": word},
            pages_per_batch=MAX_TITLE_CANDIDATES // PAGE_SIZE,
        ):
            added += _add_rows(records, page)
            read += len(page)
            if read >= MAX_TITLE_CANDIDATES:
                break
    return added


def run_scan(
    db: Database,
    client: RestClient,
    portal: Portal,
    job: Job,
    beat: Beat,
    *,
    parallel: int = 1,
    worker: str | None = None,
) -> None:
    """Read the job's records (``parallel`` ranges at once), group duplicates, store them.

    A scan keeps nothing until its end, so one resumed after a crash simply starts again;
    its result is stored only while ``worker`` still holds the job.
    """
    entity = SCANNABLE[job.entity_type_id]
    seed = job.params.get("seedId")
    records: dict[int, Record] = {}
    if seed is not None and entity.comm_entity is not None:
        _read_around(client, entity, int(seed), portal.phone_region, records, beat)
        searched = "findbycomm"
    else:
        read_all(client, entity, records, beat, parallel=parallel)
        searched = "all"
    # A cancel that came while the last page was read still stops the scan: nothing is stored.
    if not beat(progress_done=len(records), progress_total=len(records)):
        raise Cancelled
    result = find_duplicate_groups(
        records.values(), default_region=portal.phone_region, kind=entity.kind
    )
    groups = [g for g in result.groups if seed is None or seed in g.entity_ids]
    # A group a person marked "not duplicates" (or a part of one) is not proposed again.
    marked = db.not_duplicate_sets(portal.id, job.entity_type_id)
    proposed = [g for g in groups if not any(set(g.entity_ids) <= m for m in marked)]
    dismissed = len(groups) - len(proposed)
    groups = proposed
    shared_all = [s for s in result.shared if seed is None or seed in s.entity_ids]
    shared = shared_all[:MAX_SHARED_STORED]
    stored = db.store_scan_results(
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
        worker=worker,
    )
    if not stored:
        raise Cancelled
    beat(
        progress_done=len(records),
        progress_total=len(records),
        groups_total=len(groups),
        stats={
            "recordsRead": len(records),
            "ignoredValues": result.ignored_values,
            "sharedTotal": len(shared_all),
            "seedFound": seed is None or seed in records,
            "searched": searched,
            "notDuplicates": dismissed,
        },
    )
