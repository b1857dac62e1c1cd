"""The JSON API the UI (and scripts) call with ``Authorization: Bearer <session token>``."""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

import phonenumbers
from flask import Blueprint, Response, g, jsonify, request, stream_with_context

from b24app.bitrix.client import RestClient
from b24app.bitrix.errors import AuthFailed, BitrixError
from b24app.i18n import STRINGS, strings
from b24app.jobs.queue import ensure_worker, job_queue
from b24app.review import predict_conflicts, read_records, record_names
from b24app.security import Session
from b24app.storage.db import ClaimConflict, Job
from b24app.web.common import api_error, ctx, signer

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api")
F = TypeVar("F", bound=Callable[..., Any])

ENTITY_TYPES = (1, 2, 3, 4)
MAX_PAGE = 1000
MAX_ID = 2**31  # Bitrix24 record IDs are 32-bit
MAX_OFFSET = 10**7


def session_required(view: F) -> F:
    """Only a valid, unexpired session of an installed portal gets through (else 401)."""
    return _guarded(view, portal_checked_by_view=False)


def session_polled(view: F) -> F:
    """Like ``session_required``, for views that read the portal's state in their own query
    (and call ``unauthorized()`` when it is gone): one round trip to the database fewer."""
    return _guarded(view, portal_checked_by_view=True)


def unauthorized() -> tuple[Response, int]:
    """The exact 401 of every /api call without a valid session."""
    return api_error(401, "unauthorized", "A valid session token is required.")


def _guarded(view: F, *, portal_checked_by_view: bool) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        session = signer().check(token.strip()) if scheme.lower() == "bearer" else None
        if session is None or (
            not portal_checked_by_view and not ctx().db.portal_is_active(session.portal_id)
        ):
            return unauthorized()
        g.session = session
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


AUTH_MESSAGES = {
    "reauth_required": "Bitrix24 no longer accepts your authorisation: open the app again "
    "from Bitrix24 (or re-authorise) to continue.",
    "app_credentials_invalid": "Bitrix24 refuses the app's credentials: the portal's "
    "administrator must reinstall the app, or the app's operator must fix its keys.",
    # the OAuth server answered a refresh with another portal's or user's pair (logged)
    "member_mismatch": "Bitrix24's authorisation server answered for another portal; nothing "
    "was stored. Open the app again from Bitrix24 to continue.",
    "user_mismatch": "Bitrix24's authorisation server answered for another user; nothing was "
    "stored. Open the app again from Bitrix24 to continue.",
}


def auth_failure(exc: AuthFailed) -> tuple[Response, int]:
    """The JSON answer when the portal no longer accepts the user's or the app's tokens."""
    code = exc.code if exc.code in AUTH_MESSAGES else "reauth_required"
    return api_error(409, code, AUTH_MESSAGES[code])


def _session() -> Session:
    session = g.session
    assert isinstance(session, Session)
    return session


def _json_object() -> dict[str, Any] | None:
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # absurdly deep nesting is not JSON we take
        return None
    return data if isinstance(data, dict) else None


def _int_field(value: Any) -> int | None:
    """A JSON integer (not a bool, not a string), else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _own_job(job_id: str, kind: str) -> Job | None:
    if not (0 < len(job_id) <= 32) or not job_id.isalnum():
        return None
    job = ctx().db.get_job(job_id)
    session = _session()
    if (
        job is None
        or job.kind != kind
        or job.portal_id != session.portal_id
        or job.user_id != session.user_id
    ):
        return None
    return job


def _job_head(job: Job) -> dict[str, Any]:
    error = {"code": job.error_code, "message": job.error_message or ""} if job.error_code else None
    return {
        "id": job.id,
        "status": job.status,
        "entityTypeId": job.entity_type_id,
        "progress": {"done": job.progress_done, "total": job.progress_total},
        "error": error,
    }


def _queued(job: Job) -> tuple[Response, int]:
    if ctx().settings.embedded_worker:
        ensure_worker(ctx())
    try:
        job_queue(ctx()).enqueue(job.id)
    except Exception:
        # The job row is queued all the same: a consumer sends its message again once the
        # queue answers (b24app.jobs.queue.JobQueue.reap).
        log.exception("job %s: could not send its queue message", job.id)
    return jsonify({"id": job.id, "status": job.status}), 202


@bp.post("/scans")
@session_required
def create_scan() -> Any:
    """Queue a scan of one CRM type (optionally for the duplicates of one record)."""
    data = _json_object()
    if data is None:
        return api_error(400, "invalid_json", "The body must be a JSON object.")
    entity_type = _int_field(data.get("entityTypeId"))
    if entity_type not in ENTITY_TYPES:
        return api_error(422, "invalid_entity_type", "entityTypeId must be 1, 2, 3 or 4.")
    params: dict[str, Any] = {}
    if data.get("seedId") is not None:
        seed = _int_field(data.get("seedId"))
        if seed is None or not 0 < seed < MAX_ID:
            return api_error(422, "invalid_seed_id", "seedId must be a positive integer.")
        params["seedId"] = seed
    session = _session()
    job = ctx().db.create_scan_job(
        portal_id=session.portal_id,
        user_id=session.user_id,
        entity_type_id=entity_type,
        params=params,
    )
    return _queued(job)


def _page_args() -> tuple[int, int | None] | None:
    raw_offset = request.args.get("offset")
    raw_limit = request.args.get("limit")
    try:
        offset = int(raw_offset) if raw_offset is not None else 0
        limit = int(raw_limit) if raw_limit is not None else None
    except ValueError:
        return None
    if not 0 <= offset <= MAX_OFFSET or (limit is not None and not 0 < limit <= MAX_PAGE):
        return None
    return offset, limit


def _group_view(row: dict[str, Any], entity_type: int) -> dict[str, Any]:
    return {
        "entityTypeId": entity_type,
        "entityIds": [int(i) for i in row["entity_ids"]],
        "matchedOn": list(row["matched_on"]),
        "records": row["members"],
    }


@bp.get("/scans/<job_id>")
@session_required
def get_scan(job_id: str) -> Any:
    """A scan's status and its groups (all, or a page with offset and limit)."""
    job = _own_job(job_id, "scan")
    if job is None:
        return api_error(404, "not_found", "No such scan.")
    page = _page_args()
    if page is None:
        return api_error(
            422, "invalid_paging", f"offset must be >= 0 and limit between 1 and {MAX_PAGE}."
        )
    offset, limit = page
    db = ctx().db
    body = _job_head(job)
    body["groupsTotal"] = job.groups_total
    body["stats"] = job.stats or {}
    body["groups"] = [
        _group_view(row, job.entity_type_id)
        for row in db.scan_results(job.id, "group", offset=offset, limit=limit)
    ]
    body["shared"] = [
        _group_view(row, job.entity_type_id)
        for row in db.scan_results(job.id, "shared", limit=MAX_PAGE)
    ]
    if job.params.get("seedId"):
        body["seedId"] = job.params["seedId"]
    return jsonify(body)


def _validate_groups(raw: Any) -> tuple[list[list[int]] | None, tuple[int, str, str] | None]:
    limits = ctx().settings
    if not isinstance(raw, list) or not raw:
        return None, (422, "invalid_groups", "groups must be a non-empty list of ID lists.")
    if len(raw) > limits.max_merge_groups:
        return None, (
            413,
            "too_many_groups",
            f"At most {limits.max_merge_groups} groups can be merged in one request.",
        )
    groups: list[list[int]] = []
    seen: set[int] = set()
    for index, group in enumerate(raw):
        if not isinstance(group, list) or len(group) < 2:
            return None, (422, "invalid_group", f"Group {index} must list at least two record IDs.")
        if len(group) > limits.max_group_size:
            return None, (
                422,
                "group_too_large",
                f"Group {index} has more than {limits.max_group_size} records.",
            )
        ids: list[int] = []
        for value in group:
            number = _int_field(value)
            if number is None or not 0 < number < MAX_ID:
                return None, (
                    422,
                    "invalid_id",
                    f"Group {index} holds an ID that is not a positive integer.",
                )
            ids.append(number)
        if len(set(ids)) != len(ids):
            return None, (422, "duplicate_id", f"Group {index} lists an ID twice.")
        overlap = seen.intersection(ids)
        if overlap:
            return None, (
                422,
                "groups_overlap",
                f"Record {min(overlap)} appears in more than one group.",
            )
        seen.update(ids)
        groups.append(ids)
    return groups, None


@bp.post("/merges")
@session_required
def create_merge() -> Any:
    """Queue merges of whole groups, first ID kept; all or nothing is accepted."""
    data = _json_object()
    if data is None:
        return api_error(400, "invalid_json", "The body must be a JSON object.")
    entity_type = _int_field(data.get("entityTypeId"))
    if entity_type not in ENTITY_TYPES:
        return api_error(422, "invalid_entity_type", "entityTypeId must be 1, 2, 3 or 4.")
    groups, problem = _validate_groups(data.get("groups"))
    if problem is not None or groups is None:
        status, code, message = problem or (422, "invalid_groups", "Invalid groups.")
        return api_error(status, code, message)
    session = _session()
    try:
        job = ctx().db.create_merge_job(
            portal_id=session.portal_id,
            user_id=session.user_id,
            entity_type_id=entity_type,
            groups=groups,
            params={"userName": _user_name(session)},
        )
    except ClaimConflict:
        return api_error(
            409,
            "records_busy",
            "Some of these records are being merged by another job; wait for it to finish.",
        )
    return _queued(job)


def _user_name(session: Session) -> str | None:
    """The asking user's name as Bitrix24 knows it, for the merge history (best effort)."""
    app_ctx = ctx()
    portal = app_ctx.db.get_portal(portal_id=session.portal_id)
    if portal is None:
        return None
    try:
        user = app_ctx.rest(portal, session.user_id).call("user.current")
    except BitrixError:
        return None
    if not isinstance(user, dict):
        return None
    parts = [user.get("NAME"), user.get("LAST_NAME")]
    name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    return name[:255] or None


class ProgressAnswers:
    """The last progress answer of each merge job this process served, with what it was made
    of: a poll that finds nothing changed gets the same bytes without building them again."""

    # A 500-group answer is about 100 KB: at most some 25 MB a process.
    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._answers: OrderedDict[str, tuple[tuple[Any, ...], bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, job_id: str, version: tuple[Any, ...]) -> bytes | None:
        """The answer made of ``version``, if this process made it."""
        with self._lock:
            kept = self._answers.get(job_id)
            if kept is None or kept[0] != version:
                return None
            self._answers.move_to_end(job_id)
            return kept[1]

    def put(self, job_id: str, version: tuple[Any, ...], body: bytes) -> None:
        """Keep an answer, forgetting the least recently polled job past ``size``."""
        with self._lock:
            self._answers[job_id] = (version, body)
            self._answers.move_to_end(job_id)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)


_progress_answers = ProgressAnswers()


@bp.get("/merges/<job_id>")
@session_polled
def get_merge(job_id: str) -> Any:
    """A merge job's status and the result of every group (the UI polls this)."""
    session = _session()
    db = ctx().db
    scope = {"portal_id": session.portal_id, "user_id": session.user_id}
    version = (
        db.merge_version(job_id, **scope) if 0 < len(job_id) <= 32 and job_id.isalnum() else None
    )
    if version is None:
        if not db.portal_is_active(session.portal_id):
            return unauthorized()
        return api_error(404, "not_found", "No such merge.")
    body = _progress_answers.get(job_id, version)
    if body is None:
        found = db.merge_progress(job_id, **scope)
        if found is None:  # purged or uninstalled between the two reads
            if not db.portal_is_active(session.portal_id):
                return unauthorized()
            return api_error(404, "not_found", "No such merge.")
        body = json.dumps(_merge_answer(*found), ensure_ascii=False).encode("utf-8")
        _progress_answers.put(job_id, version, body)
    return Response(body, mimetype="application/json")


def _merge_answer(job: Job, items: list[dict[str, Any]]) -> dict[str, Any]:
    body = _job_head(job)
    results = []
    pending = []
    for item in items:
        if item["status"] not in ("SUCCESS", "CONFLICT", "ERROR"):
            pending.append([int(i) for i in item["entity_ids"]])
            continue
        results.append(
            {
                "entityIds": [int(i) for i in item["entity_ids"]],
                "status": item["status"],
                "keptId": item["kept_id"],
                "mergedIds": [int(i) for i in item["merged_ids"] or []],
                "manualMergeUrl": item["manual_merge_url"],
                "error": (
                    {"code": item["error_code"], "message": item["error_message"] or ""}
                    if item["status"] == "ERROR"
                    else None
                ),
            }
        )
    body["results"] = results
    # Groups with no outcome yet (or never attempted, once a job was cancelled or failed).
    body["pending"] = pending
    return body


def _cancel(job_id: str, kind: str) -> Any:
    job = _own_job(job_id, kind)
    if job is None:
        return api_error(404, "not_found", f"No such {kind}.")
    updated = ctx().db.request_cancel(job.id)
    assert updated is not None
    return jsonify({"id": updated.id, "status": updated.status}), 202


@bp.post("/scans/<job_id>/cancel")
@session_required
def cancel_scan(job_id: str) -> Any:
    """Stop a scan after the call in flight."""
    return _cancel(job_id, "scan")


@bp.post("/merges/<job_id>/cancel")
@session_required
def cancel_merge(job_id: str) -> Any:
    """Stop a merge after the group in flight; what was merged stays merged."""
    return _cancel(job_id, "merge")


@bp.get("/settings")
@session_required
def get_settings() -> Any:
    """The portal's settings, and the phone countries it may be set to."""
    portal = ctx().db.get_portal(portal_id=_session().portal_id)
    assert portal is not None
    return jsonify(
        {
            "phoneCountry": portal.phone_region,
            "phoneCountries": sorted(phonenumbers.SUPPORTED_REGIONS),
        }
    )


@bp.put("/settings")
@session_required
def put_settings() -> Any:
    """Change the portal's settings; portal admins only, as the portal says now."""
    data = _json_object()
    if data is None:
        return api_error(400, "invalid_json", "The body must be a JSON object.")
    if "phoneCountry" not in data:
        return api_error(422, "invalid_settings", "phoneCountry is required.")
    country = data["phoneCountry"]
    if country is not None:
        if not isinstance(country, str) or country.upper() not in phonenumbers.SUPPORTED_REGIONS:
            return api_error(
                422, "invalid_country", "phoneCountry must be a two-letter region code or null."
            )
        country = country.upper()
    session = _session()
    app_ctx = ctx()
    portal = app_ctx.db.get_portal(portal_id=session.portal_id)
    assert portal is not None
    try:
        is_admin = app_ctx.rest(portal, session.user_id).call("user.admin")
    except AuthFailed as exc:
        return auth_failure(exc)
    except BitrixError:
        return api_error(502, "portal_unavailable", "Could not check your rights with Bitrix24.")
    if is_admin is not True:
        return api_error(403, "forbidden", "Only portal administrators can change settings.")
    app_ctx.db.update_portal(portal.id, phone_region=country)
    return jsonify({"phoneCountry": country})


# -- review: the records of a group, field by field --------------------------------------------

MAX_RECORD_IDS = 50  # one crm.<type>.list page
MAX_PREDICTED_GROUPS = 50  # a page of groups
MAX_NAMED_IDS = 500


def _ids_arg(raw: str | None) -> list[int] | None:
    if not raw:
        return None
    ids: list[int] = []
    for part in raw.split(","):
        part = part.strip()
        if not part.isdigit() or not 0 < int(part) < MAX_ID:
            return None
        if int(part) not in ids:
            ids.append(int(part))
    return ids


def _entity_type_arg() -> int | None:
    try:
        entity_type = int(request.args.get("entityTypeId", ""))
    except ValueError:
        return None
    return entity_type if entity_type in ENTITY_TYPES else None


def _records_asked(limit: int) -> tuple[int, list[int]] | tuple[Response, int]:
    """``entityTypeId`` and up to ``limit`` ``ids`` from the query, or the error answer."""
    entity_type = _entity_type_arg()
    if entity_type is None:
        return api_error(422, "invalid_entity_type", "entityTypeId must be 1, 2, 3 or 4.")
    ids = _ids_arg(request.args.get("ids"))
    if not ids:
        return api_error(422, "invalid_ids", "ids must be positive record IDs, comma-separated.")
    if len(ids) > limit:
        return api_error(413, "too_many_ids", f"At most {limit} records at once.")
    return entity_type, ids


def _portal_call(work: Callable[[RestClient], Any]) -> Any:
    """Run reads as the session's user; map the portal's refusals to JSON errors."""
    session = _session()
    app_ctx = ctx()
    portal = app_ctx.db.get_portal(portal_id=session.portal_id)
    assert portal is not None
    try:
        return work(app_ctx.rest(portal, session.user_id))
    except AuthFailed as exc:
        return auth_failure(exc)
    except BitrixError as exc:
        return api_error(
            502, "portal_unavailable", f"Bitrix24 did not return the records ({exc.code})."
        )


@bp.get("/records")
@session_required
def get_records() -> Any:
    """Read a few records whole (what the user may see) to compare them before merging."""
    asked = _records_asked(MAX_RECORD_IDS)
    if isinstance(asked[0], Response):
        return asked
    entity_type, ids = asked
    body = _portal_call(lambda client: read_records(client, entity_type, ids))
    return jsonify(body) if isinstance(body, dict) else body


@bp.post("/conflicts")
@session_required
def post_conflicts() -> Any:
    """Predict, for a page of groups, the fields where mergeBatch would answer CONFLICT."""
    data = _json_object()
    if data is None:
        return api_error(400, "invalid_json", "The body must be a JSON object.")
    entity_type = _int_field(data.get("entityTypeId"))
    if entity_type not in ENTITY_TYPES:
        return api_error(422, "invalid_entity_type", "entityTypeId must be 1, 2, 3 or 4.")
    raw = data.get("groups")
    if isinstance(raw, list) and len(raw) > MAX_PREDICTED_GROUPS:
        return api_error(413, "too_many_groups", f"At most {MAX_PREDICTED_GROUPS} groups at once.")
    groups, problem = _validate_groups(raw)
    if problem is not None or groups is None:
        status, code, message = problem or (422, "invalid_groups", "Invalid groups.")
        return api_error(status, code, message)
    assert entity_type is not None
    found = _portal_call(lambda client: predict_conflicts(client, entity_type, groups))
    return jsonify({"groups": found}) if isinstance(found, list) else found


@bp.get("/names")
@session_required
def get_names() -> Any:
    """The names of records the user may see (people by name, the rest by title)."""
    asked = _records_asked(MAX_NAMED_IDS)
    if isinstance(asked[0], Response):
        return asked
    entity_type, ids = asked
    names = _portal_call(lambda client: record_names(client, entity_type, ids))
    if not isinstance(names, dict):
        return names
    return jsonify({"names": {str(k): v for k, v in names.items()}})


# -- "not duplicates" -------------------------------------------------------------------------


def _marked_group() -> tuple[int, list[int]] | tuple[Response, int]:
    data = _json_object()
    if data is None:
        return api_error(400, "invalid_json", "The body must be a JSON object.")
    entity_type = _int_field(data.get("entityTypeId"))
    if entity_type not in ENTITY_TYPES:
        return api_error(422, "invalid_entity_type", "entityTypeId must be 1, 2, 3 or 4.")
    raw = data.get("entityIds")
    limit = ctx().settings.max_group_size
    ids = [_int_field(v) for v in raw] if isinstance(raw, list) else []
    if (
        len(ids) < 2
        or len(ids) > limit
        or any(i is None or not 0 < i < MAX_ID for i in ids)
        or len(set(ids)) != len(ids)
    ):
        return api_error(
            422, "invalid_ids", f"entityIds must list 2 to {limit} distinct record IDs."
        )
    assert entity_type is not None
    return entity_type, [i for i in ids if i is not None]


@bp.post("/not-duplicates")
@session_required
def mark_not_duplicates() -> Any:
    """Mark a group "not duplicates": later scans of the portal do not propose it again."""
    parsed = _marked_group()
    if isinstance(parsed[0], Response):
        return parsed
    entity_type, ids = parsed
    session = _session()
    ctx().db.mark_not_duplicates(session.portal_id, entity_type, ids, session.user_id)
    return jsonify({"entityTypeId": entity_type, "entityIds": sorted(ids)}), 201


@bp.delete("/not-duplicates")
@session_required
def unmark_not_duplicates() -> Any:
    """Undo a "not duplicates" mark."""
    parsed = _marked_group()
    if isinstance(parsed[0], Response):
        return parsed
    entity_type, ids = parsed
    if not ctx().db.unmark_not_duplicates(_session().portal_id, entity_type, ids):
        return api_error(404, "not_found", "These records were not marked.")
    return jsonify({"entityTypeId": entity_type, "entityIds": sorted(ids)})


# -- the user's jobs, and the portal's merge history -------------------------------------------


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


@bp.get("/jobs")
@session_required
def list_jobs() -> Any:
    """The user's recent scans and merges, newest first."""
    session = _session()
    body = []
    for job in ctx().db.user_jobs(session.portal_id, session.user_id, limit=20):
        head = _job_head(job)
        head.update(
            kind=job.kind,
            groupsTotal=job.groups_total,
            seedId=job.params.get("seedId"),
            createdAt=_iso(job.created_at),
            finishedAt=_iso(job.finished_at),
        )
        body.append(head)
    return jsonify({"jobs": body})


HISTORY_STATUSES = ("SUCCESS", "CONFLICT", "ERROR")
MAX_HISTORY_PAGE = 500
MAX_HISTORY_CSV = 100_000
CSV_COLUMNS = (
    "finishedAt",
    "userId",
    "userName",
    "entityType",
    "entityIds",
    "keptId",
    "mergedIds",
    "status",
    "errorCode",
    "manualMergeUrl",
)
ENTITY_CODES = {1: "lead", 2: "deal", 3: "contact", 4: "company"}


def _day(raw: str | None, offset_minutes: int, *, end: bool) -> float | None:
    """Midnight starting (or, with end, ending) a YYYY-MM-DD day in the user's time zone."""
    if not raw:
        return None
    day = date.fromisoformat(raw)
    if end:
        day += timedelta(days=1)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    # offset_minutes is JavaScript's getTimezoneOffset(): UTC minus local time
    return (midnight + timedelta(minutes=offset_minutes)).timestamp()


def csv_safe(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r|%":
        return "'" + text
    return text


def _history_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "finishedAt": _iso(row["finished_at"]),
        "userId": row["user_id"],
        "userName": row["user_name"],
        "entityTypeId": row["entity_type_id"],
        "entityIds": [int(i) for i in row["entity_ids"]],
        "keptId": row["kept_id"],
        "mergedIds": [int(i) for i in row["merged_ids"] or []],
        "status": row["status"],
        "errorCode": row["error_code"] if row["status"] == "ERROR" else None,
        "manualMergeUrl": row["manual_merge_url"],
    }


def _machine_row(view: dict[str, Any]) -> list[Any]:
    return [
        view["finishedAt"],
        view["userId"],
        view["userName"],
        ENTITY_CODES.get(view["entityTypeId"], view["entityTypeId"]),
        " ".join(str(i) for i in view["entityIds"]),
        view["keptId"],
        " ".join(str(i) for i in view["mergedIds"]),
        view["status"],
        view["errorCode"],
        view["manualMergeUrl"],
    ]


def _spreadsheet_row(row: dict[str, Any], t: dict[str, str], tz_offset: int) -> list[Any]:
    """One history row in the user's words, times in the user's time zone."""
    view = _history_view(row)
    local = None
    if row["finished_at"] is not None:
        moment = datetime.fromtimestamp(row["finished_at"], UTC) - timedelta(minutes=tz_offset)
        local = moment.strftime("%Y-%m-%d %H:%M")
    code = view["errorCode"]
    return [
        local,
        view["userId"],
        view["userName"],
        t.get(ENTITY_CODES.get(view["entityTypeId"], ""), view["entityTypeId"]),
        " ".join(str(i) for i in view["entityIds"]),
        view["keptId"],
        " ".join(str(i) for i in view["mergedIds"]),
        t.get(f"status_{view['status']}", view["status"]),
        (t.get(f"error_{code}") or code) if code else None,
        view["manualMergeUrl"],
    ]


SPREADSHEET_COLUMNS = (
    "csv_when",
    "csv_user_id",
    "csv_user",
    "csv_type",
    "csv_records",
    "csv_kept",
    "csv_merged",
    "csv_result",
    "csv_reason",
    "csv_link",
)


def _csv_rows(
    rows: list[dict[str, Any]], lang: str | None = None, tz_offset: int = 0
) -> Iterator[str]:
    """The history as CSV: machine columns, or (with a language) what a spreadsheet there expects.

    Spreadsheets in Russian and German locales split CSV on ``;`` (their decimal mark is the
    comma), so those files use it; English ones use ``,``.
    """
    t = strings(lang) if lang else None
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if lang in ("ru", "de") else ",")
    buffer.write("\ufeff")  # spreadsheets then read the file as UTF-8
    writer.writerow([t[c] for c in SPREADSHEET_COLUMNS] if t else CSV_COLUMNS)
    for row in rows:
        cells = _spreadsheet_row(row, t, tz_offset) if t else _machine_row(_history_view(row))
        writer.writerow([csv_safe(cell) for cell in cells])
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@bp.get("/history")
@session_required
def get_history() -> Any:
    """Every merge the app made on this portal, newest first; filtered; JSON or CSV."""
    args = request.args
    status = args.get("status") or None
    if status is not None and status not in HISTORY_STATUSES:
        return api_error(422, "invalid_status", "status must be SUCCESS, CONFLICT or ERROR.")
    user_raw = args.get("userId") or None
    if user_raw is not None and not (user_raw.isdigit() and 0 < int(user_raw) < MAX_ID):
        return api_error(422, "invalid_user", "userId must be a positive integer.")
    try:
        tz_offset = int(args.get("tzOffset") or 0)
        if not -24 * 60 <= tz_offset <= 24 * 60:
            raise ValueError
        since = _day(args.get("from"), tz_offset, end=False)
        until = _day(args.get("to"), tz_offset, end=True)
    except ValueError:
        return api_error(
            422, "invalid_date", "from and to must be dates (YYYY-MM-DD); tzOffset minutes."
        )
    page = _page_args()
    if page is None:
        return api_error(
            422, "invalid_paging", f"offset must be >= 0 and limit between 1 and {MAX_PAGE}."
        )
    offset, limit = page
    session = _session()
    db = ctx().db
    filters: dict[str, Any] = {
        "status": status,
        "user_id": int(user_raw) if user_raw else None,
        "since": since,
        "until": until,
    }
    if args.get("format") == "csv":
        csv_lang = args.get("lang") or None
        if csv_lang is not None and csv_lang not in STRINGS:
            return api_error(422, "invalid_lang", "lang must be en, ru or de.")
        _, rows = db.merge_history(session.portal_id, limit=MAX_HISTORY_CSV, **filters)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return Response(
            stream_with_context(_csv_rows(rows, csv_lang, tz_offset)),
            mimetype="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="merge-history-{stamp}.csv"',
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store",
            },
        )
    if args.get("format") not in (None, "", "json"):
        return api_error(422, "invalid_format", "format must be json or csv.")
    total, rows = db.merge_history(
        session.portal_id,
        offset=offset,
        limit=min(limit or 50, MAX_HISTORY_PAGE),
        **filters,
    )
    users = [{"id": uid, "name": name} for uid, name in db.history_users(session.portal_id)]
    counts = dict.fromkeys(HISTORY_STATUSES, 0)
    counts.update(db.merge_history_counts(session.portal_id, **filters))
    return jsonify(
        {
            "total": total,
            "counts": counts,
            "items": [_history_view(r) for r in rows],
            "users": users,
        }
    )
