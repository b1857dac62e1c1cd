"""The JSON API the UI (and scripts) call with ``Authorization: Bearer <session token>``."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import phonenumbers
from flask import Blueprint, Response, g, jsonify, request

from b24app.bitrix.errors import AuthFailed, BitrixError
from b24app.jobs.worker import ensure_worker
from b24app.security import Session
from b24app.storage.db import ClaimConflict, Job
from b24app.web.common import api_error, ctx, signer

bp = Blueprint("api", __name__, url_prefix="/api")
F = TypeVar("F", bound=Callable[..., Any])

ENTITY_TYPES = (1, 2, 3, 4)
MAX_PAGE = 1000
MAX_ID = 2**31  # Bitrix24 record IDs are 32-bit
MAX_OFFSET = 10**7


def session_required(view: F) -> F:
    """Only a valid, unexpired session of an installed portal gets through (else 401)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        session = signer().check(token.strip()) if scheme.lower() == "bearer" else None
        if session is None or not ctx().db.portal_is_active(session.portal_id):
            return api_error(401, "unauthorized", "A valid session token is required.")
        g.session = session
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


AUTH_MESSAGES = {
    "reauth_required": "Bitrix24 no longer accepts your authorisation: open the app again "
    "from Bitrix24 (or re-authorise) to continue.",
    "app_credentials_invalid": "Bitrix24 refuses the app's credentials: the portal's "
    "administrator must reinstall the app, or the app's operator must fix its keys.",
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
    if ctx().settings.run_worker:
        ensure_worker(ctx()).wake()
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
        )
    except ClaimConflict:
        return api_error(
            409,
            "records_busy",
            "Some of these records are being merged by another job; wait for it to finish.",
        )
    return _queued(job)


@bp.get("/merges/<job_id>")
@session_required
def get_merge(job_id: str) -> Any:
    """A merge job's status and the result of every group."""
    job = _own_job(job_id, "merge")
    if job is None:
        return api_error(404, "not_found", "No such merge.")
    body = _job_head(job)
    results = []
    pending = []
    for item in ctx().db.merge_items(job.id):
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
    return jsonify(body)


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
    """The portal's settings."""
    portal = ctx().db.get_portal(portal_id=_session().portal_id)
    assert portal is not None
    return jsonify({"phoneCountry": portal.phone_region})


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
