"""Reading records for a person to review: whole records, readable values, predicted conflicts.

Values are made readable from what the portal itself says: the field types of
``crm.<type>.fields`` (and its ``items`` for list fields), the directories of
``crm.status.list``, the pipelines of ``crm.category.list``, employees from ``user.get`` and the
names of linked records. Numbers, dates and yes/no are left to the UI, which knows the locale.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from b24app.bitrix.client import BatchResult, RestClient
from b24app.bitrix.errors import MethodError

LIST_METHODS = {
    1: "crm.lead.list",
    2: "crm.deal.list",
    3: "crm.contact.list",
    4: "crm.company.list",
}
FIELDS_METHODS = {
    type_id: method.replace(".list", ".fields") for type_id, method in LIST_METHODS.items()
}
MULTI_FIELDS = ("PHONE", "EMAIL")
PAGE = 50  # a list call's page, and so the IDs one @ID filter may name
# Fields Bitrix24 fills itself or that merging never disputes: shown, never a conflict.
NO_CONFLICT_FIELDS = frozenset(
    {
        "ID",
        "DATE_CREATE",
        "DATE_MODIFY",
        "CREATED_BY_ID",
        "MODIFY_BY_ID",
        "ASSIGNED_BY_ID",
        "HAS_PHONE",
        "HAS_EMAIL",
        "OPENED",
        "EXPORT",
        "LEAD_ID",
        "COMMENTS",
        *MULTI_FIELDS,
    }
)
# A lead's TITLE is a label ("Lead #12", "Website form"), not who the lead is.
NO_CONFLICT_BY_TYPE: dict[int, frozenset[str]] = {1: frozenset({"TITLE"})}
# Field types whose values name a record of another CRM type.
LINKED_TYPES = {"crm_lead": 1, "crm_contact": 3, "crm_company": 4}
NAME_FIELDS = {
    1: ("ID", "TITLE", "NAME", "LAST_NAME"),
    2: ("ID", "TITLE"),
    3: ("ID", "NAME", "LAST_NAME"),
    4: ("ID", "TITLE"),
}


def empty(value: Any) -> bool:
    """Bitrix24's idea of an empty field value."""
    return value is None or value == "" or value == [] or value == {}


def scalar_text(value: Any) -> str:
    """A field value as one string (lists joined), as it is compared for conflicts."""
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, list | dict):
        return ", ".join(str(v) for v in (value.values() if isinstance(value, dict) else value))
    return str(value).strip()


def multi_values(value: Any) -> list[str]:
    """The values of a multi-field (PHONE, EMAIL), value by value."""
    items = list(value.values()) if isinstance(value, dict) else value
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("VALUE"), str) and item["VALUE"].strip():
            out.append(item["VALUE"].strip())
    return out


def conflicting_fields(rows: list[dict[str, Any]], entity_type: int = 3) -> list[str]:
    """Fields where two records hold different non-empty values: mergeBatch answers CONFLICT."""
    skip = NO_CONFLICT_FIELDS | NO_CONFLICT_BY_TYPE.get(entity_type, frozenset())
    names: list[str] = []
    for row in rows:
        names.extend(n for n in row if n not in names)
    conflicts = []
    for name in names:
        if name in skip or name.startswith("UF_"):
            continue
        distinct = {scalar_text(row.get(name)) for row in rows if not empty(row.get(name))}
        distinct.discard("")
        if len(distinct) > 1:
            conflicts.append(name)
    return conflicts


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), PAGE):
        yield ids[start : start + PAGE]


def _rows(result: Any) -> list[dict[str, Any]]:
    return [r for r in result if isinstance(r, dict)] if isinstance(result, list) else []


def _by_id(rows: Iterable[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for row in rows:
        if str(row.get("ID", "")).isdigit():
            out[int(row["ID"])] = row
    return out


def _list_command(
    entity_type: int, ids: list[int], select: list[str]
) -> tuple[str, dict[str, Any]]:
    params = {"order": {"ID": "ASC"}, "filter": {"@ID": ids}, "select": select, "start": -1}
    return LIST_METHODS[entity_type], params


def _raise_first_error(answer: BatchResult, keys: Iterable[str]) -> None:
    for key in keys:
        error = answer.errors.get(key)
        if error is not None:
            code = str(error.get("error") or "") or "ERROR"
            raise MethodError(code, str(error.get("error_description") or ""), status=400)


def read_many(
    client: RestClient, entity_type: int, ids: list[int], select: list[str]
) -> dict[int, dict[str, Any]]:
    """Records by ID (those the user may see), 50 to a list call, 50 calls to a batch."""
    commands = {
        f"r{n}": _list_command(entity_type, chunk, select) for n, chunk in enumerate(_chunks(ids))
    }
    answer = client.batch_all(commands)
    _raise_first_error(answer, commands)
    found: dict[int, dict[str, Any]] = {}
    for key in commands:
        found.update(_by_id(_rows(answer.results.get(key))))
    return found


def display_name(entity_type: int, row: dict[str, Any]) -> str:
    """How Bitrix24 names a record: a person by first and last name, the rest by title."""
    person = " ".join(
        str(row.get(part) or "").strip() for part in ("NAME", "LAST_NAME") if row.get(part)
    ).strip()
    title = str(row.get("TITLE") or "").strip()
    if entity_type == 3:
        return person
    if entity_type == 1:
        return person or title
    return title


def record_names(client: RestClient, entity_type: int, ids: list[int]) -> dict[int, str]:
    """The names of records the user may see (the others are left out)."""
    rows = read_many(client, entity_type, ids, list(NAME_FIELDS[entity_type]))
    names = {record_id: display_name(entity_type, row) for record_id, row in rows.items()}
    return {record_id: name for record_id, name in names.items() if name}


def predict_conflicts(
    client: RestClient, entity_type: int, groups: list[list[int]]
) -> list[dict[str, Any]]:
    """For each group, the fields mergeBatch would find in conflict, and its unseen records."""
    wanted = sorted({record_id for group in groups for record_id in group})
    rows = read_many(client, entity_type, wanted, ["*"])
    out = []
    for group in groups:
        present = [rows[i] for i in group if i in rows]
        out.append(
            {
                "entityIds": group,
                "conflicts": conflicting_fields(present, entity_type),
                "missing": [i for i in group if i not in rows],
            }
        )
    return out


# -- readable values ------------------------------------------------------------------------------


def _status_entity(field: str, spec: dict[str, Any], row: dict[str, Any]) -> str:
    """The directory a crm_status value lives in (deal stages: one per pipeline)."""
    status_type = str(spec.get("statusType") or "")
    if status_type == "DEAL_STAGE" and field == "STAGE_ID":
        category = str(row.get("CATEGORY_ID") or "0").strip()
        return status_type if category in ("", "0") else f"{status_type}_{category}"
    return status_type


def _values(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if not empty(v)]
    return [] if empty(value) else [str(value).strip()]


Lookup = tuple[str, dict[str, Any]]


def _lookups(
    rows: list[dict[str, Any]], specs: dict[str, dict[str, Any]]
) -> tuple[dict[str, Lookup], dict[str, str]]:
    """The calls that turn the rows' codes and IDs into names, and the table each one fills."""
    statuses: set[str] = set()
    users: set[int] = set()
    linked: dict[int, set[int]] = {}
    pipelines = False
    for row in rows:
        for field, spec in specs.items():
            values = _values(row.get(field))
            if not values:
                continue
            kind = spec.get("type")
            if kind == "crm_status" and spec.get("statusType"):
                statuses.add(_status_entity(field, spec, row))
            elif kind == "user":
                users.update(int(v) for v in values if v.isdigit())
            elif kind in LINKED_TYPES:
                linked.setdefault(LINKED_TYPES[str(kind)], set()).update(
                    int(v) for v in values if v.isdigit()
                )
            elif kind == "crm_category":
                pipelines = True
    commands: dict[str, Lookup] = {}
    tables: dict[str, str] = {}
    for entity_id in sorted(statuses):
        key = f"status{len(commands)}"
        commands[key] = (
            "crm.status.list",
            {"order": {"SORT": "ASC"}, "filter": {"ENTITY_ID": entity_id}},
        )
        tables[key] = f"status:{entity_id}"
    for chunk in _chunks(sorted(users)):
        key = f"users{len(commands)}"
        commands[key] = ("user.get", {"FILTER": {"ID": chunk}})
        tables[key] = "user"
    for entity_type, ids in sorted(linked.items()):
        for chunk in _chunks(sorted(ids)):
            key = f"linked{len(commands)}"
            commands[key] = _list_command(entity_type, chunk, list(NAME_FIELDS[entity_type]))
            tables[key] = f"linked:{entity_type}"
    if pipelines:
        commands["pipelines"] = ("crm.category.list", {"entityTypeId": 2})
        tables["pipelines"] = "pipeline"
    return commands, tables


def _names_from(answer: BatchResult, tables: dict[str, str]) -> dict[str, dict[str, str]]:
    """Name tables keyed by what they name: status:<ENTITY_ID>, user, linked:<type>, pipeline."""
    out: dict[str, dict[str, str]] = {}
    for key, result in answer.results.items():
        name = tables.get(key, "")
        table = out.setdefault(name, {})
        if name.startswith("status:"):
            for r in _rows(result):
                if r.get("NAME"):
                    table[str(r.get("STATUS_ID"))] = str(r["NAME"])
        elif name == "user":
            for r in _rows(result):
                full = " ".join(str(r.get(p) or "").strip() for p in ("NAME", "LAST_NAME"))
                if full.strip():
                    table[str(r.get("ID"))] = full.strip()
        elif name.startswith("linked:"):
            entity_type = int(name.split(":")[1])
            for record_id, row in _by_id(_rows(result)).items():
                if display_name(entity_type, row):
                    table[str(record_id)] = display_name(entity_type, row)
        elif name == "pipeline" and isinstance(result, dict):
            categories = result.get("categories")
            for c in categories if isinstance(categories, list) else []:
                if isinstance(c, dict) and c.get("name"):
                    table[str(c.get("id"))] = str(c["name"])
    return out


def _readable(
    field: str,
    spec: dict[str, Any],
    row: dict[str, Any],
    tables: dict[str, dict[str, str]],
) -> str | None:
    """The name the portal gives a value, or None where the value speaks for itself."""
    kind = spec.get("type")
    table: dict[str, str] | None = None
    if kind == "crm_status":
        table = tables.get(f"status:{_status_entity(field, spec, row)}")
    elif kind == "user":
        table = tables.get("user")
    elif kind in LINKED_TYPES:
        table = tables.get(f"linked:{LINKED_TYPES[str(kind)]}")
    elif kind == "crm_category":
        table = tables.get("pipeline")
    elif kind == "enumeration":
        items = spec.get("items")
        table = {}
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and item.get("VALUE"):
                table[str(item.get("ID"))] = str(item["VALUE"])
    if table is None:
        return None
    values = _values(row.get(field))
    names = [table[v] for v in values if table.get(v)]
    return ", ".join(names) if len(names) == len(values) and names else None


def field_label(spec: dict[str, Any]) -> str:
    """A custom field's name as the portal shows it (its title is only its code)."""
    for key in ("formLabel", "listLabel", "filterLabel", "title"):
        value = spec.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def read_records(client: RestClient, entity_type: int, ids: list[int]) -> dict[str, Any]:
    """Records read whole, with readable values, their fields' types and predicted conflicts."""
    select = ["*", "UF_*"] if entity_type == 2 else ["*", "UF_*", *MULTI_FIELDS]
    commands = {
        "rows": _list_command(entity_type, ids, select),
        "fields": (FIELDS_METHODS[entity_type], {}),
    }
    first = client.batch(commands)
    _raise_first_error(first, ["rows"])
    by_id = _by_id(_rows(first.results.get("rows")))
    raw_specs = first.results.get("fields")
    specs = {
        str(name): spec
        for name, spec in (raw_specs.items() if isinstance(raw_specs, dict) else [])
        if isinstance(spec, dict)
    }
    rows = [by_id[i] for i in ids if i in by_id]
    lookups, meaning = _lookups(rows, specs)
    tables = _names_from(client.batch_all(lookups), meaning) if lookups else {}
    fields: list[str] = []
    for row in rows:
        fields.extend(n for n in row if n not in fields and n not in MULTI_FIELDS)
    records = []
    for row in rows:
        present = [n for n in fields if n in row and not empty(row[n])]
        display = {}
        for name in present:
            readable = _readable(name, specs.get(name, {}), row, tables)
            if readable is not None:
                display[name] = readable
        record: dict[str, Any] = {
            "id": int(row["ID"]),
            "fields": {n: scalar_text(row[n]) for n in present},
            "display": display,
        }
        for multi in MULTI_FIELDS:
            record[multi.lower() + "s"] = multi_values(row.get(multi))
        records.append(record)
    return {
        "entityTypeId": entity_type,
        "fields": fields,
        "types": {n: str(specs[n].get("type") or "") for n in fields if n in specs},
        "labels": {
            n: field_label(specs[n]) for n in fields if n in specs and specs[n].get("isDynamic")
        },
        "records": records,
        "missing": [i for i in ids if i not in by_id],
        "conflicts": conflicting_fields(rows, entity_type),
    }
