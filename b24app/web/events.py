"""Event delivery from the portal: answered at once, acted on in the background."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Blueprint, jsonify, request

from b24app.bitrix.errors import BitrixError, OAuthError, VerificationError
from b24app.bitrix.payloads import EventPost, parse_event
from b24app.context import AppContext
from b24app.installs import handle_event
from b24app.web.common import ctx

log = logging.getLogger(__name__)
bp = Blueprint("events", __name__)

_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="b24app-events")
_seen: dict[tuple[str, str, str, str], None] = {}
_seen_lock = threading.Lock()


def _first_delivery(event: EventPost, form_ts: str) -> bool:
    """A repeated delivery (same member, event, token and ts) is acknowledged and dropped."""
    key = (event.member_id, event.event, event.application_token[-8:], form_ts)
    with _seen_lock:
        if key in _seen:
            return False
        if len(_seen) > 10_000:
            _seen.clear()
        _seen[key] = None
        return True


def _process(app_ctx: AppContext, event: EventPost) -> None:
    try:
        outcome = handle_event(app_ctx, event)
        log.info("event %s for %s: %s", event.event, event.member_id, outcome)
    except VerificationError as exc:
        log.warning("event %s refused: %s", event.event, exc.reason)
    except (BitrixError, OAuthError) as exc:
        log.warning("event %s failed: %s", event.event, type(exc).__name__)
    except Exception:
        log.exception("event %s failed", event.event)


@bp.post("/events")
def receive() -> Any:
    """Acknowledge with 200 whatever arrives; act only on what verifies."""
    try:
        event = parse_event(request.form.to_dict())
    except VerificationError as exc:
        log.info("event ignored: %s", exc.reason)
        return jsonify({"ok": True})
    if _first_delivery(event, request.form.get("ts", "")):
        _executor.submit(_process, ctx(), event)
    return jsonify({"ok": True})
