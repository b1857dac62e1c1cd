"""The emulated CRM: records, list filtering, duplicate search by communication, merging."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .errors import RestError, crm_error, merge_error
from .users import User

LEAD, DEAL, CONTACT, COMPANY = 1, 2, 3, 4
ENTITY_NAMES: dict[int, str] = {LEAD: "LEAD", DEAL: "DEAL", CONTACT: "CONTACT", COMPANY: "COMPANY"}
ENTITY_BY_NAME: dict[str, int] = {name.lower(): type_id for type_id, name in ENTITY_NAMES.items()}
MULTI_FIELDS = ("PHONE", "EMAIL")
PAGE_SIZE = 50

_COMMON_TAIL = [
    "OPENED",
    "ASSIGNED_BY_ID",
    "CREATED_BY_ID",
    "MODIFY_BY_ID",
    "DATE_CREATE",
    "DATE_MODIFY",
]
STANDARD_FIELDS: dict[int, list[str]] = {
    CONTACT: [
        "ID",
        "HONORIFIC",
        "NAME",
        "SECOND_NAME",
        "LAST_NAME",
        "BIRTHDATE",
        "TYPE_ID",
        "SOURCE_ID",
        "POST",
        "COMMENTS",
        "EXPORT",
        "HAS_PHONE",
        "HAS_EMAIL",
        "COMPANY_ID",
        "LEAD_ID",
        *_COMMON_TAIL,
    ],
    LEAD: [
        "ID",
        "TITLE",
        "HONORIFIC",
        "NAME",
        "SECOND_NAME",
        "LAST_NAME",
        "BIRTHDATE",
        "COMPANY_TITLE",
        "SOURCE_ID",
        "STATUS_ID",
        "POST",
        "COMMENTS",
        "CURRENCY_ID",
        "OPPORTUNITY",
        "HAS_PHONE",
        "HAS_EMAIL",
        "CONTACT_ID",
        "COMPANY_ID",
        *_COMMON_TAIL,
    ],
    COMPANY: [
        "ID",
        "TITLE",
        "COMPANY_TYPE",
        "INDUSTRY",
        "EMPLOYEES",
        "CURRENCY_ID",
        "REVENUE",
        "COMMENTS",
        "HAS_PHONE",
        "HAS_EMAIL",
        *_COMMON_TAIL,
    ],
    DEAL: [
        "ID",
        "TITLE",
        "TYPE_ID",
        "STAGE_ID",
        "CATEGORY_ID",
        "CURRENCY_ID",
        "OPPORTUNITY",
        "COMPANY_ID",
        "CONTACT_ID",
        "BEGINDATE",
        "CLOSEDATE",
        "CLOSED",
        "COMMENTS",
        *_COMMON_TAIL,
    ],
}
HAS_MULTI: dict[int, bool] = {CONTACT: True, LEAD: True, COMPANY: True, DEAL: False}
CONFLICT_FIELDS: dict[int, tuple[str, ...]] = {
    CONTACT: ("NAME", "SECOND_NAME", "LAST_NAME", "POST", "BIRTHDATE", "HONORIFIC"),
    LEAD: ("NAME", "SECOND_NAME", "LAST_NAME", "POST", "BIRTHDATE", "HONORIFIC"),
    COMPANY: ("TITLE", "INDUSTRY"),
    DEAL: ("TITLE", "OPPORTUNITY", "STAGE_ID"),
}
DEFAULTS: dict[int, dict[str, str]] = {
    CONTACT: {"TYPE_ID": "CLIENT", "SOURCE_ID": "SELF", "EXPORT": "Y"},
    LEAD: {"STATUS_ID": "NEW", "SOURCE_ID": "WEB", "CURRENCY_ID": "RUB"},
    COMPANY: {"COMPANY_TYPE": "CUSTOMER", "CURRENCY_ID": "RUB"},
    DEAL: {"STAGE_ID": "NEW", "CATEGORY_ID": "0", "CURRENCY_ID": "RUB", "CLOSED": "N"},
}
NUMERIC_FIELDS = {
    "ID",
    "ASSIGNED_BY_ID",
    "CREATED_BY_ID",
    "MODIFY_BY_ID",
    "COMPANY_ID",
    "CONTACT_ID",
    "LEAD_ID",
    "CATEGORY_ID",
    "OPPORTUNITY",
    "REVENUE",
}
DATE_FIELDS = {"DATE_CREATE", "DATE_MODIFY", "BIRTHDATE", "BEGINDATE", "CLOSEDATE"}
BOOL_FIELDS = {"OPENED", "EXPORT", "HAS_PHONE", "HAS_EMAIL", "CLOSED"}
_CAMEL_OVERRIDES = {
    "DATE_CREATE": "createdTime",
    "DATE_MODIFY": "updatedTime",
    "CREATED_BY_ID": "createdBy",
    "MODIFY_BY_ID": "updatedBy",
}
_FILTER_PREFIXES = (">=", "<=", "!@", "!=", "!%", "=%", "%=", ">", "<", "@", "=", "!", "%")
_EXTENSION = re.compile(r"(?i)(?:ext\.?|extension|доб\.?|#|x|,|;)\s*(\d*)")


def camel(field: str) -> str:
    """Return the crm.item camelCase name of an upper-case field."""
    if field in _CAMEL_OVERRIDES:
        return _CAMEL_OVERRIDES[field]
    head, *rest = field.lower().split("_")
    return head + "".join(part.capitalize() for part in rest)


def phone_key(value: str, *, with_extension: bool) -> str:
    """Return the digits of a phone (Russian leading 8 read as 7), optionally with extension."""
    match = _EXTENSION.search(value)
    main, ext = (value[: match.start()], match.group(1)) if match else (value, "")
    digits = re.sub(r"\D", "", main)
    if len(digits) == 11 and digits.startswith("8"):
        digits = "7" + digits[1:]
    if with_extension and ext:
        return f"{digits}#{ext}"
    return digits


def email_key(value: str) -> str:
    """Return an e-mail compared case-insensitively, surrounding spaces ignored."""
    return value.strip().casefold()


def comm_key(type_id: str, value: str, *, with_extension: bool = True) -> str:
    """Return the comparison key of a multi-field value."""
    if type_id == "PHONE":
        return phone_key(value, with_extension=with_extension)
    return email_key(value)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _as_number(value: Any) -> float:
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return 0.0  # as SQL casts a non-number


def _as_date(value: Any) -> datetime | str:
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text
    if parsed.tzinfo is None:
        return parsed.isoformat()
    return parsed


def _like(pattern: str, value: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("%"))
    return re.fullmatch(regex, value, flags=re.IGNORECASE | re.DOTALL) is not None


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return [value]


class CrmStore:
    """In-memory CRM records of one portal (not thread-safe; the portal holds the lock)."""

    def __init__(self) -> None:
        self.records: dict[int, dict[int, dict[str, Any]]] = {t: {} for t in ENTITY_NAMES}
        # Custom fields per type, described as crm.<type>.fields answers them.
        self.user_fields: dict[int, dict[str, dict[str, Any]]] = {t: {} for t in ENTITY_NAMES}
        self._next_id: dict[int, int] = {t: 1 for t in ENTITY_NAMES}
        self._next_fm_id = 1
        # Sorted IDs per type for keyset reads, rebuilt after a record is added or removed.
        self._changes = 0
        self._sorted_ids: dict[int, tuple[int, list[int]]] = {}

    def clear(self) -> None:
        """Remove every record."""
        self.__init__()  # type: ignore[misc]

    # -- writing ------------------------------------------------------------------------------

    def _multi_item(self, type_id: str, item: Any) -> dict[str, str] | None:
        if isinstance(item, str):
            item = {"VALUE": item}
        if not isinstance(item, dict) or _empty(item.get("VALUE")):
            return None
        fm_id = self._next_fm_id
        self._next_fm_id += 1
        return {
            "ID": str(fm_id),
            "VALUE_TYPE": str(item.get("VALUE_TYPE") or "WORK"),
            "VALUE": str(item["VALUE"]),
            "TYPE_ID": type_id,
        }

    def add(
        self,
        entity_type_id: int,
        fields: dict[str, Any],
        *,
        user_id: int = 1,
        created: str | None = None,
        record_id: int | None = None,
    ) -> int:
        """Create a record from upper-case fields and return its ID."""
        if entity_type_id not in self.records:
            raise crm_error(f"Entity type {entity_type_id} is not supported")
        table = self.records[entity_type_id]
        new_id = record_id if record_id is not None else self._next_id[entity_type_id]
        if new_id in table:
            raise crm_error(f"Record {new_id} already exists")
        self._next_id[entity_type_id] = max(self._next_id[entity_type_id], new_id + 1)
        stamp = created or datetime.now().astimezone().replace(microsecond=0).isoformat()
        record: dict[str, Any] = {name: None for name in STANDARD_FIELDS[entity_type_id]}
        record.update(DEFAULTS[entity_type_id])
        record.update(
            {
                "ID": str(new_id),
                "OPENED": "Y",
                "ASSIGNED_BY_ID": str(user_id),
                "CREATED_BY_ID": str(user_id),
                "MODIFY_BY_ID": str(user_id),
                "DATE_CREATE": stamp,
                "DATE_MODIFY": stamp,
            }
        )
        if HAS_MULTI[entity_type_id]:
            for multi in MULTI_FIELDS:
                record[multi] = []
        table[new_id] = record
        self._changes += 1
        self._write_fields(entity_type_id, record, fields, creating=True)
        return new_id

    def _write_fields(
        self, entity_type_id: int, record: dict[str, Any], fields: dict[str, Any], *, creating: bool
    ) -> None:
        known = set(STANDARD_FIELDS[entity_type_id]) - {"ID", "HAS_PHONE", "HAS_EMAIL"}
        for name, value in fields.items():
            key = str(name).upper()
            if key in MULTI_FIELDS and HAS_MULTI[entity_type_id]:
                self._write_multi(record, key, value, creating=creating)
            elif key in known or key.startswith("UF_"):
                if isinstance(value, list | tuple):
                    record[key] = [str(v) for v in value]
                else:
                    record[key] = None if value is None else str(value)

    def _write_multi(
        self, record: dict[str, Any], type_id: str, value: Any, *, creating: bool
    ) -> None:
        current: list[dict[str, str]] = record[type_id]
        for item in _as_list(value):
            if not creating and isinstance(item, dict) and item.get("ID"):
                existing = next((m for m in current if m["ID"] == str(item["ID"])), None)
                if existing is None:
                    continue
                if str(item.get("DELETE", "")).upper() == "Y" or _empty(item.get("VALUE")):
                    current.remove(existing)
                else:
                    existing["VALUE"] = str(item["VALUE"])
                    if item.get("VALUE_TYPE"):
                        existing["VALUE_TYPE"] = str(item["VALUE_TYPE"])
                continue
            made = self._multi_item(type_id, item)
            if made is not None:
                current.append(made)

    def update(
        self, entity_type_id: int, record_id: int, fields: dict[str, Any], user_id: int
    ) -> None:
        """Change fields of an existing record."""
        record = self.require(entity_type_id, record_id)
        self._write_fields(entity_type_id, record, fields, creating=False)
        record["MODIFY_BY_ID"] = str(user_id)
        record["DATE_MODIFY"] = datetime.now().astimezone().replace(microsecond=0).isoformat()

    def delete(self, entity_type_id: int, record_id: int) -> None:
        """Delete a record."""
        self.require(entity_type_id, record_id)
        del self.records[entity_type_id][record_id]
        self._changes += 1

    def require(self, entity_type_id: int, record_id: int) -> dict[str, Any]:
        """Return a record or raise the CRM 'Not found' error."""
        record = self.records.get(entity_type_id, {}).get(record_id)
        if record is None:
            raise crm_error("Not found")
        return record

    # -- reading ------------------------------------------------------------------------------

    def legacy(
        self, entity_type_id: int, record: dict[str, Any], select: set[str] | None
    ) -> dict[str, Any]:
        """Return a record in the crm.<entity>.* shape, limited to select (None = everything)."""
        out: dict[str, Any] = {}
        for name in STANDARD_FIELDS[entity_type_id]:
            if select is not None and name not in select and name != "ID":
                continue
            if name == "HAS_PHONE":
                out[name] = "Y" if record.get("PHONE") else "N"
            elif name == "HAS_EMAIL":
                out[name] = "Y" if record.get("EMAIL") else "N"
            else:
                out[name] = record.get(name)
        for name, spec in self.user_fields[entity_type_id].items():
            if select is None or name in select:
                value = record.get(name)
                out[name] = list(value) if isinstance(value, list) else value
                if value is None and spec.get("isMultiple"):
                    out[name] = []
        if HAS_MULTI[entity_type_id]:
            for multi in MULTI_FIELDS:
                if (select is None or multi in select) and record.get(multi):
                    out[multi] = [dict(m) for m in record[multi]]
        return out

    def item(
        self, entity_type_id: int, record: dict[str, Any], select: set[str] | None
    ) -> dict[str, Any]:
        """Return a record in the crm.item.* (camelCase) shape; select holds upper-case names."""
        legacy = self.legacy(entity_type_id, record, None)
        out: dict[str, Any] = {}
        for name in STANDARD_FIELDS[entity_type_id]:
            if select is not None and name not in select and name != "ID":
                continue
            value = legacy.get(name)
            if name in BOOL_FIELDS:
                value = value == "Y"
            elif name == "OPPORTUNITY" or name == "REVENUE":
                value = _as_number(value) if value is not None else 0.0
            elif name in NUMERIC_FIELDS and value is not None and str(value).isdigit():
                value = int(value)
            out[camel(name)] = value
        if select is None and HAS_MULTI[entity_type_id]:
            out["fm"] = [
                {
                    "id": int(m["ID"]),
                    "valueType": m["VALUE_TYPE"],
                    "value": m["VALUE"],
                    "typeId": m["TYPE_ID"],
                }
                for multi in MULTI_FIELDS
                for m in record.get(multi) or []
            ]
        return out

    def select_legacy(self, entity_type_id: int, select: Any) -> set[str] | None:
        """Resolve a legacy `select` into the set of fields to return.

        No select means ``*`` plus ``UF_*``; ``*`` alone leaves out custom and multi-fields.
        """
        names = [str(s).upper() for s in _as_list(select)] if select not in (None, "", []) else []
        chosen: set[str] = set()
        custom = self.user_fields[entity_type_id]
        if not names or "*" in names:
            chosen.update(STANDARD_FIELDS[entity_type_id])
        if not names or "UF_*" in names:
            chosen.update(custom)
        chosen.update(n for n in names if n in STANDARD_FIELDS[entity_type_id] or n in custom)
        if HAS_MULTI[entity_type_id]:
            chosen.update(n for n in names if n in MULTI_FIELDS)
        return chosen

    def select_item(self, entity_type_id: int, select: Any) -> set[str] | None:
        """Resolve a crm.item `select` (camelCase) into upper-case fields; None = all plus fm."""
        names = [str(s) for s in _as_list(select)] if select not in (None, "", []) else ["*"]
        if "*" in names:
            return None
        by_camel = {camel(f).lower(): f for f in STANDARD_FIELDS[entity_type_id]}
        return {by_camel[n.lower()] for n in names if n.lower() in by_camel}

    def query(
        self,
        entity_type_id: int,
        *,
        filter_: Any,
        order: Any,
        start: Any,
        camel_names: bool = False,
        page_size: int = PAGE_SIZE,
    ) -> tuple[list[dict[str, Any]], int | None, int | None]:
        """Filter, sort and page records; return (page, total or None, next or None)."""
        if filter_ in (None, "", []):
            filter_ = {}
        if not isinstance(filter_, dict):
            raise crm_error("Parameter 'filter' must be array")
        if order in (None, "", []):
            order = {"ID": "ASC"}
        if not isinstance(order, dict):
            raise crm_error("Parameter 'order' must be array")
        by_camel = {camel(f).lower(): f for f in STANDARD_FIELDS[entity_type_id]}
        by_camel.update({m.lower(): m for m in MULTI_FIELDS})

        def field_name(raw: str) -> str | None:
            if camel_names:
                return by_camel.get(raw.lower())
            upper = raw.upper()
            known = set(STANDARD_FIELDS[entity_type_id]) | set(MULTI_FIELDS)
            return upper if upper in known else None

        conditions: list[tuple[str, str, Any]] = []
        for raw_key, value in filter_.items():
            key = str(raw_key)
            if key.upper() == "LOGIC":
                continue
            op = next((p for p in _FILTER_PREFIXES if key.startswith(p)), "")
            name = field_name(key[len(op) :])
            if name is not None:
                conditions.append((op, name, value))
        keyset = self._keyset_page(entity_type_id, conditions, order, start, page_size)
        if keyset is not None:
            return keyset, None, None
        rows = [r for r in self.records[entity_type_id].values() if self._matches(r, conditions)]
        for raw_field, direction in reversed(list(order.items())):
            name = field_name(str(raw_field))
            if name is None or name in MULTI_FIELDS:
                continue
            rows.sort(
                key=lambda r, n=name: self._sort_key(n, r.get(n)),  # type: ignore[misc]
                reverse=str(direction).upper() == "DESC",
            )
        try:
            offset = int(str(start)) if start not in (None, "") else 0
        except ValueError:
            offset = 0
        if offset < 0:
            return rows[:page_size], None, None
        page = rows[offset : offset + page_size]
        nxt = offset + page_size if offset + page_size < len(rows) else None
        return page, len(rows), nxt

    def _keyset_page(
        self,
        entity_type_id: int,
        conditions: list[tuple[str, str, Any]],
        order: Any,
        start: Any,
        page_size: int,
    ) -> list[dict[str, Any]] | None:
        """The page of a plain keyset read (``>ID``, optionally ``<=ID``/``<ID``; start=-1, by
        ID ascending), found by bisection.

        Large emulated portals answer these in microseconds; anything else takes the general path.
        """
        if str(start) != "-1" or len(order) != 1 or not 1 <= len(conditions) <= 2:
            return None
        ((order_field, direction),) = order.items()
        if str(order_field).upper() != "ID" or str(direction).upper() != "ASC":
            return None
        bounds: dict[str, int] = {}
        for op, name, wanted in conditions:
            if name != "ID" or op not in (">", "<=", "<") or not str(wanted).strip().isdigit():
                return None
            bounds[op] = int(str(wanted).strip())
        if ">" not in bounds or len(bounds) != len(conditions) or len(bounds) > 2:
            return None
        table = self.records[entity_type_id]
        cached = self._sorted_ids.get(entity_type_id)
        if cached is None or cached[0] != self._changes:
            cached = (self._changes, sorted(table))
            self._sorted_ids[entity_type_id] = cached
        ids = cached[1]
        at = bisect.bisect_right(ids, bounds[">"])
        end = len(ids)
        if "<=" in bounds:
            end = bisect.bisect_right(ids, bounds["<="])
        elif "<" in bounds:
            end = bisect.bisect_left(ids, bounds["<"])
        return [table[i] for i in ids[at : min(end, at + page_size)]]

    @staticmethod
    def _sort_key(name: str, value: Any) -> tuple[int, Any]:
        if value is None:
            return (0, 0)
        if name in NUMERIC_FIELDS:
            return (1, _as_number(value))
        if name in DATE_FIELDS:
            parsed = _as_date(value)
            return (1, parsed.timestamp() if isinstance(parsed, datetime) else 0.0)
        return (1, str(value).casefold())

    def _matches(self, record: dict[str, Any], conditions: list[tuple[str, str, Any]]) -> bool:
        return all(self._condition(record, op, name, value) for op, name, value in conditions)

    @staticmethod
    def _condition(record: dict[str, Any], op: str, name: str, wanted: Any) -> bool:
        if name in MULTI_FIELDS:
            values = [m["VALUE"] for m in record.get(name) or []]
            targets = [str(v) for v in _as_list(wanted)]
            hit = any(v in targets for v in values)  # multi-fields match exactly only
            return not hit if op.startswith("!") else hit
        value = record.get(name)
        negate = op in ("!", "!=", "!@", "!%")
        base = {"!": "=", "!=": "=", "!@": "@", "!%": "%", "": "="}.get(op, op)
        result = CrmStore._compare(name, base, value, wanted)
        return not result if negate else result

    @staticmethod
    def _compare(name: str, op: str, value: Any, wanted: Any) -> bool:
        if op in ("=", "@"):
            targets = _as_list(wanted)
            if _empty(value):
                return any(_empty(t) for t in targets)
            return any(CrmStore._equal(name, value, t) for t in targets)
        if op in ("%", "=%", "%="):
            if value is None:
                return False
            pattern = str(wanted)
            if op == "%":
                return pattern.casefold() in str(value).casefold()
            return _like(pattern, str(value))
        if value is None:
            return False
        left: Any
        right: Any
        if name in NUMERIC_FIELDS:
            left, right = _as_number(value), _as_number(wanted)
        elif name in DATE_FIELDS:
            left, right = _as_date(value), _as_date(wanted)
            if type(left) is not type(right):
                left, right = str(value), str(wanted)
        else:
            left, right = str(value).casefold(), str(wanted).casefold()
        try:
            return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[
                op
            ]
        except TypeError:
            return False

    @staticmethod
    def _equal(name: str, value: Any, wanted: Any) -> bool:
        if name in NUMERIC_FIELDS:
            return _as_number(value) == _as_number(wanted)
        return str(value).strip().casefold() == str(wanted).strip().casefold()

    # -- duplicates -----------------------------------------------------------------------------

    def find_by_comm(
        self, comm_type: str, values: Iterable[str], entity_types: list[int], user: User
    ) -> dict[str, list[int]]:
        """Return {ENTITY: [ids]} of records holding one of the values (extension ignored)."""
        wanted = {comm_key(comm_type, v, with_extension=False) for v in values}
        wanted.discard("")
        found: dict[str, list[int]] = {}
        for type_id in entity_types:
            if not user.may("read"):
                continue
            ids = [
                record_id
                for record_id, record in sorted(self.records[type_id].items())
                if any(
                    comm_key(comm_type, m["VALUE"], with_extension=False) in wanted
                    for m in record.get(comm_type) or []
                )
            ]
            if ids:
                found[ENTITY_NAMES[type_id]] = ids
                if len(ids) >= 20:
                    break  # the portal leaves out the other types then
        return found

    def merge(self, entity_type_id: int, entity_ids: list[int], user: User) -> dict[str, Any]:
        """Merge records into the first one; return the mergeBatch result object."""
        table = self.records[entity_type_id]
        for record_id in entity_ids:
            if record_id not in table:
                raise merge_error("Owner was not found")
        keep_id, others = entity_ids[0], entity_ids[1:]
        # Rights: ERROR with HTTP 200 and no deleted IDs (the docs leave the shape open).
        if not (user.may("read") and user.may("update")) or (others and not user.may("delete")):
            return {"STATUS": "ERROR", "ENTITY_IDS": []}
        records = [table[i] for i in entity_ids]
        for name in CONFLICT_FIELDS[entity_type_id]:
            distinct = {str(r.get(name)).strip() for r in records if not _empty(r.get(name))}
            if len(distinct) > 1:
                return {"STATUS": "CONFLICT", "ENTITY_IDS": []}
        keep = table[keep_id]
        for name in STANDARD_FIELDS[entity_type_id]:
            if name in {"ID", "HAS_PHONE", "HAS_EMAIL", "DATE_CREATE", "CREATED_BY_ID"}:
                continue
            if _empty(keep.get(name)):
                donor = next((r[name] for r in records[1:] if not _empty(r.get(name))), None)
                if donor is not None:
                    keep[name] = donor
        if HAS_MULTI[entity_type_id]:
            for multi in MULTI_FIELDS:
                seen = {comm_key(multi, m["VALUE"]) for m in keep[multi]}
                for other in records[1:]:
                    for item in other.get(multi) or []:
                        key = comm_key(multi, item["VALUE"])
                        if key not in seen:
                            seen.add(key)
                            keep[multi].append(dict(item))
        keep["MODIFY_BY_ID"] = str(user.id)
        keep["DATE_MODIFY"] = datetime.now().astimezone().replace(microsecond=0).isoformat()
        for record_id in others:
            del table[record_id]
            self._changes += 1
        self._repoint(entity_type_id, keep_id, others)
        return {"STATUS": "SUCCESS", "ENTITY_IDS": list(others)}

    def _repoint(self, entity_type_id: int, keep_id: int, removed: list[int]) -> None:
        field = {CONTACT: "CONTACT_ID", COMPANY: "COMPANY_ID"}.get(entity_type_id)
        if field is None:
            return
        gone = {str(i) for i in removed}
        for table in self.records.values():
            for record in table.values():
                if record.get(field) in gone:
                    record[field] = str(keep_id)


def parse_entity_ids(raw: Any) -> list[int]:
    """Read mergeBatch's entityIds; non-integers are dropped, order kept, repeats removed."""
    ids: list[int] = []
    for value in _as_list(raw):
        text = str(value).strip()
        if isinstance(value, bool) or not text.isdigit() or int(text) <= 0:
            continue
        if int(text) not in ids:
            ids.append(int(text))
    return ids


def require_type(raw: Any) -> int:
    """Read a supported entityTypeId or raise the mergeBatch-style error."""
    text = str(raw).strip() if raw is not None else ""
    if not text:
        raise merge_error("The parameter entityTypeId is required.")
    if not text.lstrip("-").isdigit():
        raise merge_error("The parameter entityTypeId is required.")
    type_id = int(text)
    if type_id not in ENTITY_NAMES:
        raise merge_error(f"Entity type {type_id} is not supported")
    return type_id


__all__ = [
    "COMPANY",
    "CONTACT",
    "DEAL",
    "LEAD",
    "CrmStore",
    "ENTITY_BY_NAME",
    "ENTITY_NAMES",
    "RestError",
    "camel",
    "comm_key",
    "parse_entity_ids",
    "phone_key",
    "require_type",
]
