"""Event delivery from the portal: answered at once, acted on in the background."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
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
_pending: set[Future[None]] = set()
_pending_lock = threading.Lock()


def _first_delivery(app_ctx: AppContext, event: EventPost) -> bool:
    """Claim (member, event, record, ts) in the database: a repeat fails in every process."""
    if not event.ts:
        return True  # nothing tells a repeat apart; every handler is idempotent
    return app_ctx.db.claim_event_delivery(
        member_id=event.member_id, event=event.event, entity_id=event.entity_id, ts=event.ts
    )


def _process(app_ctx: AppContext, event: EventPost) -> None:
    try:
        outcome = handle_event(app_ctx, event, lambda: _first_delivery(app_ctx, event))
        log.info("event %s for %s: %s", event.event, event.member_id, outcome)
    except VerificationError as exc:
        log.warning("event %s refused: %s", event.event, exc.reason)
    except (BitrixError, OAuthError) as exc:
        log.warning("event %s failed: %s", event.event, type(exc).__name__)
    except Exception:
        log.exception("event %s failed", event.event)


def wait_for_events(timeout: float = 30.0) -> bool:
    """Wait until the events received so far are handled; False if some still run."""
    with _pending_lock:
        running = set(_pending)
    _, still = wait_futures(running, timeout=timeout)
    return not still


def _forget(future: Future[None]) -> None:
    with _pending_lock:
        _pending.discard(future)


@bp.post("/events")
def receive() -> Any:
    """Acknowledge with 200 whatever arrives; act only on what verifies."""
    try:
        event = parse_event(request.form.to_dict())
    except VerificationError as exc:
        log.info("event ignored: %s", exc.reason)
        return jsonify({"ok": True})
    future = _executor.submit(_process, ctx(), event)
    with _pending_lock:
        _pending.add(future)
    future.add_done_callback(_forget)
    return jsonify({"ok": True})
