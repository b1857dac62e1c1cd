"""REST methods of an emulated portal, each run as the token's user with that user's rights."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import crm
from .catalog import describe_fields
from .errors import RestError, crm_error, merge_error
from .params import BadRequestEncoding, parse_query_string, truthy

if TYPE_CHECKING:
    from .portal import Outcome, Portal
    from .users import User

Handler = Callable[["Portal", "User", dict[str, Any]], "Outcome"]
METHODS: dict[str, Handler] = {}

BATCH_MAX = 50
# Placeholder codes: no public source quotes the real ones (cases.md CASE-11).
ALREADY_BOUND = "ERROR_PLACEMENT_HANDLER_ALREADY_BOUND"
EVENT_ALREADY_BOUND = "ERROR_EVENT_HANDLER_ALREADY_BOUND"

_CRM_PLACEMENT = re.compile(
    r"^CRM_(LEAD|DEAL|CONTACT|COMPANY|QUOTE|SMART_INVOICE|ORDER|ACTIVITY|DYNAMIC_\d+)_"
    r"(LIST_MENU|LIST_TOOLBAR|DETAIL_TAB|DETAIL_TOOLBAR|DETAIL_ACTIVITY|ACTIVITY_TIMELINE_MENU|"
    r"DOCUMENTGENERATOR_BUTTON|ROBOT_DESIGNER_TOOLBAR)$"
)
_OTHER_PLACEMENTS = {
    "LEFT_MENU",
    "REST_APP_URI",
    "CRM_FUNNELS_TOOLBAR",
    "CRM_ANALYTICS_MENU",
    "CRM_ANALYTICS_TOOLBAR",
    "CRM_DETAIL_SEARCH",
    "USERFIELD_TYPE",
    "PAGE_BACKGROUND_WORKER",
}
_LISTED_PLACEMENTS = [
    f"CRM_{entity}_{where}"
    for entity in ("LEAD", "DEAL", "CONTACT", "COMPANY")
    for where in ("LIST_MENU", "LIST_TOOLBAR", "DETAIL_TAB", "DETAIL_TOOLBAR", "DETAIL_ACTIVITY")
] + ["LEFT_MENU", "REST_APP_URI"]
KNOWN_EVENTS = {"ONAPPINSTALL", "ONAPPUPDATE", "ONAPPUNINSTALL", "ONAPPPAYMENT", "ONAPPTEST"} | {
    f"ONCRM{entity}{action}"
    for entity in ("LEAD", "DEAL", "CONTACT", "COMPANY")
    for action in ("ADD", "UPDATE", "DELETE")
}
_REF = re.compile(r"\$(result_error|result_total|result_next|result_time|result)((?:\[[^\]]*\])+)")


def method(*names: str) -> Callable[[Handler], Handler]:
    """Register a handler under one or more method names."""

    def register(func: Handler) -> Handler:
        for name in names:
            METHODS[name] = func
        return func

    return register


def _outcome(result: Any, total: int | None = None, nxt: int | None = None) -> Outcome:
    from .portal import Outcome

    return Outcome(result, total, nxt)


def check_scope(portal: Portal, name: str) -> None:
    """Raise 403 insufficient_scope when the app's scope lacks what the method needs."""
    app = portal.emu.app
    scopes = set(app.scope.split(",")) if app else set()
    need: set[str] | None = None
    if name.startswith("crm."):
        need = {"crm"}
    elif name.startswith("placement."):
        need = {"placement"}
    elif name.startswith("user.") and name != "user.admin":
        need = {"user", "user_brief", "user_basic"}
    if need and not scopes & need:
        raise RestError(403, "insufficient_scope", "The request requires higher privileges.")


def _require_admin(user: User) -> None:
    if not user.admin:
        raise RestError(403, "ACCESS_DENIED", "Access denied! Admin permissions required.")


# -- batch --------------------------------------------------------------------------------------


def _php_section(section: dict[Any, Any]) -> Any:
    """Encode a batch section as PHP would: [] when empty, a list when keyed 0..n-1."""
    if not section:
        return []
    keys = [str(k) for k in section]
    if keys == [str(i) for i in range(len(keys))]:
        return list(section.values())
    return {str(k): v for k, v in section.items()}


def _lookup(sections: dict[str, dict[str, Any]], name: str, path: str) -> tuple[bool, Any]:
    node: Any = sections[name]
    for part in re.findall(r"\[([^\]]*)\]", path):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def _resolve(value: Any, sections: dict[str, dict[str, Any]]) -> Any:
    """Replace $result[key][...] references; an unresolved one becomes ''."""
    if isinstance(value, dict):
        return {k: _resolve(v, sections) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, sections) for v in value]
    if not isinstance(value, str) or "$result" not in value:
        return value
    whole = _REF.fullmatch(value)
    if whole:
        found, resolved = _lookup(sections, whole.group(1), whole.group(2))
        return resolved if found else ""

    def scalar(match: re.Match[str]) -> str:
        found, resolved = _lookup(sections, match.group(1), match.group(2))
        if not found or isinstance(resolved, dict | list):
            return ""
        if isinstance(resolved, bool):
            return "1" if resolved else ""
        return str(resolved)

    return _REF.sub(scalar, value)


@method("batch")
def batch(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
    """Run up to 50 query-string commands in order."""
    cmd = params.get("cmd") or {}
    halt = truthy(params.get("halt", False))
    if isinstance(cmd, list):
        commands: list[tuple[str, Any]] = [(str(i), c) for i, c in enumerate(cmd)]
    elif isinstance(cmd, dict):
        commands = [(str(k), c) for k, c in cmd.items()]
    else:
        raise RestError(400, "INVALID_ARG_VALUE", "cmd must be an array")
    if len(commands) > BATCH_MAX:
        raise RestError(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
    sections: dict[str, dict[str, Any]] = {
        "result": {},
        "result_error": {},
        "result_total": {},
        "result_next": {},
        "result_time": {},
    }
    for key, command in commands:
        try:
            if not isinstance(command, str) or not command.strip():
                raise RestError(400, "INVALID_ARG_VALUE", "Command must be a query string")
            name, _, query = command.strip().partition("?")
            try:
                sub_params = parse_query_string(query)
            except BadRequestEncoding as exc:
                raise RestError(400, "INVALID_REQUEST", str(exc)) from exc
            sub_params = _resolve(sub_params, sections)
            outcome, timing = portal.execute(name, sub_params, user, via_batch=True)
        except RestError as exc:
            sections["result_error"][key] = exc.body()
            if halt:
                break
            continue
        sections["result"][key] = outcome.result
        if outcome.total is not None:
            sections["result_total"][key] = outcome.total
        if outcome.next is not None:
            sections["result_next"][key] = outcome.next
        sections["result_time"][key] = timing
    return _outcome({name: _php_section(section) for name, section in sections.items()})


# -- CRM ----------------------------------------------------------------------------------------


def _need(user: User, right: str, *, status: int = 400) -> None:
    if not user.may(right):
        raise crm_error("Access denied.", status)


def _record_id(params: dict[str, Any], key: str = "id") -> int:
    raw = params.get(key, params.get(key.upper()))
    text = str(raw).strip() if raw is not None else ""
    if not text.isdigit() or int(text) <= 0:
        raise crm_error("ID is not defined or invalid.")
    return int(text)


def _fields(params: dict[str, Any]) -> dict[str, Any]:
    fields = params.get("fields", params.get("FIELDS"))
    if fields in (None, "", []):
        return {}
    if not isinstance(fields, dict):
        raise crm_error("Parameter 'fields' must be array.")
    return fields


def _legacy_methods(entity: str, type_id: int) -> None:
    def list_(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
        _need(user, "read")
        select = portal.crm.select_legacy(type_id, params.get("select"))
        page, total, nxt = portal.crm.query(
            type_id,
            filter_=params.get("filter"),
            order=params.get("order"),
            start=params.get("start", 0),
            page_size=portal.page_sizes.get(f"crm.{entity}.list", crm.PAGE_SIZE),
        )
        rows = [portal.crm.legacy(type_id, r, select) for r in page]
        return _outcome(rows, total, nxt)

    def get(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
        _need(user, "read")
        record = portal.crm.require(type_id, _record_id(params))
        return _outcome(portal.crm.legacy(type_id, record, None))

    def add(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
        _need(user, "add")
        return _outcome(portal.crm.add(type_id, _fields(params), user_id=user.id))

    def update(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
        record_id = _record_id(params)
        portal.crm.require(type_id, record_id)
        _need(user, "update")
        portal.crm.update(type_id, record_id, _fields(params), user.id)
        return _outcome(True)

    def delete(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
        record_id = _record_id(params)
        portal.crm.require(type_id, record_id)
        _need(user, "delete")
        portal.crm.delete(type_id, record_id)
        return _outcome(True)

    def fields(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
        return _outcome(describe_fields(type_id, portal.crm.user_fields[type_id]))

    for verb, func in (
        ("fields", fields),
        ("list", list_),
        ("get", get),
        ("add", add),
        ("update", update),
        ("delete", delete),
    ):
        METHODS[f"crm.{entity}.{verb}"] = func


for _entity, _type_id in crm.ENTITY_BY_NAME.items():
    _legacy_methods(_entity, _type_id)


def _item_type(params: dict[str, Any]) -> int:
    raw = str(params.get("entityTypeId", "")).strip()
    if not raw:
        raise RestError(400, "ENTITY_TYPE_NOT_SUPPORTED", "entityTypeId is required")
    if not raw.isdigit() or int(raw) not in crm.ENTITY_NAMES:
        raise RestError(400, "NOT_FOUND", "Smart process not found")
    return int(raw)


@method("crm.item.list")
def item_list(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
    """List records in the camelCase crm.item shape."""
    type_id = _item_type(params)
    if not user.may("read"):
        return _outcome({"items": []}, 0)
    select = portal.crm.select_item(type_id, params.get("select"))
    page, total, nxt = portal.crm.query(
        type_id,
        filter_=params.get("filter"),
        order=params.get("order"),
        start=params.get("start", 0),
        camel_names=True,
    )
    return _outcome({"items": [portal.crm.item(type_id, r, select) for r in page]}, total, nxt)


@method("crm.item.get")
def item_get(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
    """Return one record in the crm.item shape."""
    type_id = _item_type(params)
    _need(user, "read")
    record = portal.crm.records[type_id].get(_record_id(params))
    if record is None:
        raise RestError(400, "NOT_FOUND", "Element not found")
    return _outcome({"item": portal.crm.item(type_id, record, None)})


def _matches(row: dict[str, Any], filter_: Any) -> bool:
    """A row passes a directory filter: each key equal (any of a list), ``!`` negates."""
    if not isinstance(filter_, dict):
        return True
    for raw_key, wanted in filter_.items():
        key = str(raw_key)
        negate = key.startswith("!")
        name = key.lstrip("!=@").upper()
        targets = {str(v).casefold() for v in crm._as_list(wanted)}
        hit = str(row.get(name) if row.get(name) is not None else "").casefold() in targets
        if hit == negate:
            return False
    return True


def _ordered(rows: list[dict[str, Any]], order: Any, default: str) -> list[dict[str, Any]]:
    order = order if isinstance(order, dict) and order else {default: "ASC"}
    for raw_field, direction in reversed(list(order.items())):
        name = str(raw_field).upper()

        def key(row: dict[str, Any], n: str = name) -> tuple[int, Any]:
            value = row.get(n)
            text = "" if value is None else str(value)
            return (0, int(text)) if text.isdigit() else (1, text.casefold())

        rows = sorted(rows, key=key, reverse=str(direction).upper() == "DESC")
    return rows


def _page(rows: list[Any], start: Any) -> tuple[list[Any], int | None, int | None]:
    try:
        offset = int(str(start)) if start not in (None, "") else 0
    except ValueError:
        offset = 0
    if offset < 0:
        return rows[: crm.PAGE_SIZE], None, None
    page = rows[offset : offset + crm.PAGE_SIZE]
    nxt = offset + crm.PAGE_SIZE if offset + crm.PAGE_SIZE < len(rows) else None
    return page, len(rows), nxt


@method("crm.status.list")
def status_list(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
    """The portal's directory items (stages, sources, types...), 50 a page."""
    _need(user, "read")
    rows = [dict(r) for r in portal.directories if _matches(r, params.get("filter"))]
    page, total, nxt = _page(_ordered(rows, params.get("order"), "SORT"), params.get("start"))
    return _outcome(page, total, nxt)


@method("crm.category.list")
def category_list(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
    """The pipelines of a type; the emulator keeps only the deals' default one."""
    raw = str(params.get("entityTypeId", "")).strip()
    if not raw.isdigit() or int(raw) not in crm.ENTITY_NAMES:
        raise RestError(400, "NOT_FOUND", "Smart process not found")
    type_id = int(raw)
    if type_id != crm.DEAL:
        name = crm.ENTITY_NAMES[type_id]
        raise RestError(400, "ENTITY_TYPE_NOT_SUPPORTED", f"Entity type {name} is not supported")
    rows = [dict(p) for p in portal.pipelines]
    return _outcome({"categories": rows}, len(rows))


@method("crm.duplicate.findbycomm")
def find_by_comm(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
    """Find record IDs by phone or e-mail (extension ignored, e-mail case-insensitive)."""
    comm_type = str(params.get("type", params.get("TYPE", "")) or "").strip().upper()
    if not comm_type:
        raise crm_error("Communication type is not defined.")
    if comm_type not in crm.MULTI_FIELDS:
        raise crm_error(f"Communication type '{comm_type}' is not supported in current context.")
    raw_values = params.get("values", params.get("VALUES"))
    values = list(raw_values.values()) if isinstance(raw_values, dict) else raw_values
    if isinstance(values, str):
        values = [values]
    if not values or not isinstance(values, list):
        raise crm_error("Communication values is not defined.")
    if len(values) > 20:
        # Placeholder text: the docs give the limit (20) but not the message.
        raise crm_error("Too many communication values (the limit is 20).")
    raw_type = str(params.get("entity_type", params.get("ENTITY_TYPE", "")) or "").upper()
    if raw_type:
        if raw_type.lower() not in ("lead", "contact", "company"):
            raise crm_error(f"Entity type '{raw_type}' is not supported in current context.")
        types = [crm.ENTITY_BY_NAME[raw_type.lower()]]
    else:
        types = [crm.LEAD, crm.CONTACT, crm.COMPANY]
    _need(user, "read", status=403)
    found = portal.crm.find_by_comm(comm_type, [str(v) for v in values], types, user)
    return _outcome(found or [])


@method("crm.entity.mergebatch")
def merge_batch(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
    """Merge records into the first ID; SUCCESS, CONFLICT or ERROR (rights) with HTTP 200."""
    wrapped = params.get("params")
    if not isinstance(wrapped, dict):
        raise merge_error("The parameter entityTypeId is required.")
    type_id = crm.require_type(wrapped.get("entityTypeId"))
    raw_ids = wrapped.get("entityIds")
    if raw_ids in (None, "", []):
        raise merge_error("The parameter entityIds does not contains valid elements.")
    ids = crm.parse_entity_ids(raw_ids)
    if not ids:
        raise merge_error("The parameter entityIds does not contains valid elements.")
    if len(ids) < 2:
        raise merge_error("The parameter entityIds must contains at least two elements.")
    return _outcome(portal.crm.merge(type_id, ids, user))


# -- placements and events ------------------------------------------------------------------------


def _valid_placement(code: str) -> bool:
    return code in _OTHER_PLACEMENTS or _CRM_PLACEMENT.match(code) is not None


def _handler_url(raw: Any) -> str:
    handler = str(raw or "").strip()
    parts = urlsplit(handler)
    if not handler or parts.scheme not in ("http", "https") or not parts.netloc:
        raise RestError(400, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL")
    return handler


@method("placement.bind")
def placement_bind(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
    """Bind a placement handler (admin only)."""
    _require_admin(user)
    code = str(params.get("PLACEMENT", params.get("placement", "")) or "").strip().upper()
    if not code or not _valid_placement(code):
        raise RestError(400, "ERROR_PLACEMENT_NOT_FOUND", "Placement not found")
    handler = _handler_url(params.get("HANDLER", params.get("handler")))
    if any(p["placement"] == code and p["handler"] == handler for p in portal.placements):
        raise RestError(400, ALREADY_BOUND, "Handler already bound")
    lang_all = params.get("LANG_ALL", params.get("lang_all")) or {}
    portal.placements.append(
        {
            "placement": code,
            "userId": 0,
            "handler": handler,
            "options": [],
            "title": str(params.get("TITLE", params.get("title", "")) or ""),
            "description": str(params.get("DESCRIPTION", params.get("description", "")) or ""),
            "groupName": str(params.get("GROUP_NAME", "") or ""),
            "langAll": lang_all if isinstance(lang_all, dict) else {},
        }
    )
    return _outcome(True)


@method("placement.unbind")
def placement_unbind(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
    """Unbind one handler, or every handler of a placement."""
    _require_admin(user)
    code = str(params.get("PLACEMENT", params.get("placement", "")) or "").strip().upper()
    if not code or not _valid_placement(code):
        raise RestError(400, "ERROR_PLACEMENT_NOT_FOUND", "Placement not found")
    handler = str(params.get("HANDLER", params.get("handler", "")) or "").strip()
    keep = [
        p
        for p in portal.placements
        if not (p["placement"] == code and (not handler or p["handler"] == handler))
    ]
    count = len(portal.placements) - len(keep)
    portal.placements[:] = keep
    return _outcome({"count": count})


@method("placement.get")
def placement_get(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
    """List this app's bound placement handlers (admin only)."""
    _require_admin(user)
    if portal.hide_bindings:
        return _outcome([])
    return _outcome([dict(p) for p in portal.placements])


@method("placement.list")
def placement_list(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
    """List the placement codes available to the app."""
    return _outcome(list(_LISTED_PLACEMENTS))


@method("event.bind")
def event_bind(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
    """Bind an event handler (admin only)."""
    _require_admin(user)
    name = str(params.get("event", params.get("EVENT", "")) or "").strip().upper()
    if name not in KNOWN_EVENTS:
        raise RestError(400, "ERROR_EVENT_NOT_FOUND", "Event not found")
    handler = _handler_url(params.get("handler", params.get("HANDLER")))
    if any(e["event"] == name and e["handler"] == handler for e in portal.event_handlers):
        raise RestError(400, EVENT_ALREADY_BOUND, "Handler already bound")
    offline = 1 if str(params.get("event_type", "")).lower() == "offline" else 0
    portal.event_handlers.append(
        {
            "event": name,
            "handler": handler,
            "auth_type": str(params.get("auth_type", "0") or "0"),
            "offline": offline,
        }
    )
    return _outcome(True)


@method("event.unbind")
def event_unbind(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
    """Unbind event handlers matching event (and handler, when given)."""
    _require_admin(user)
    name = str(params.get("event", params.get("EVENT", "")) or "").strip().upper()
    handler = str(params.get("handler", params.get("HANDLER", "")) or "").strip()
    keep = [
        e
        for e in portal.event_handlers
        if not (e["event"] == name and (not handler or e["handler"] == handler))
    ]
    count = len(portal.event_handlers) - len(keep)
    portal.event_handlers[:] = keep
    return _outcome({"count": count})


@method("event.get")
def event_get(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
    """List the app's bound event handlers."""
    if portal.hide_bindings:
        return _outcome([])
    return _outcome([dict(e) for e in portal.event_handlers])


# -- identity -----------------------------------------------------------------------------------


@method("app.info")
def app_info(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
    """Return the portal's view of the app."""
    app = portal.emu.require_app()
    return _outcome(
        {
            "ID": int(portal.stable_id(), 16) % 1000 + 1,
            "CODE": app.client_id,
            "VERSION": portal.app_version_number,
            "STATUS": "L",
            "INSTALLED": portal.installed,
            "PAYMENT_EXPIRED": "N",
            "DAYS": None,
            "LANGUAGE_ID": portal.lang,
            "LICENSE": f"{portal.lang}_project",
            "LICENSE_TYPE": "project",
            "LICENSE_FAMILY": "project",
        }
    )


@method("profile")
def profile(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
    """Return the calling user's profile."""
    return _outcome(user.as_profile())


@method("user.current")
def user_current(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
    """Return the calling user."""
    return _outcome(user.as_user_current(portal.lang))


@method("user.get")
def user_get(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
    """The portal's employees by filter (ID, or any field, ``@`` for a list), 50 a page."""
    filter_ = params.get("FILTER", params.get("filter"))
    rows = [
        u.as_user_get()
        for u in portal.users.values()
        if _matches({**u.as_user_get(), "ACTIVE": "true"}, _active_filter(filter_))
    ]
    sort = str(params.get("sort", params.get("SORT", "ID")) or "ID")
    direction = str(params.get("order", params.get("ORDER", "ASC")) or "ASC")
    page, total, nxt = _page(_ordered(rows, {sort: direction}, "ID"), params.get("start"))
    return _outcome(page, total, nxt)


def _active_filter(filter_: Any) -> Any:
    """ACTIVE arrives as true/"Y"/"true"; every emulated employee is active."""
    if not isinstance(filter_, dict):
        return filter_
    out = dict(filter_)
    if "ACTIVE" in out:
        out["ACTIVE"] = "true" if truthy(out["ACTIVE"]) else "false"
    return out


@method("user.admin")
def user_admin(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
    """Return whether the calling user is a portal admin."""
    return _outcome(user.admin)


@method("scope")
def scope(portal: Portal, user: User, params: dict[str, Any]) -> Outcome:
    """Return the app's scopes (or every scope with full=true)."""
    if truthy(params.get("full", False)):
        return _outcome(
            [
                "basic",
                "crm",
                "placement",
                "user",
                "user_brief",
                "user_basic",
                "im",
                "task",
                "entity",
                "department",
            ]
        )
    app = portal.emu.require_app()
    return _outcome([s for s in app.scope.split(",") if s])
