"""HTTP in and out: parse, verify, call a service, render."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from b24app import logs
from b24app.context import AppContext
from b24app.jobs.queue import ensure_worker
from b24app.security import SessionSigner, apply_headers, script_origin
from b24app.web.common import api_error, error_page

log = logging.getLogger(__name__)
access_log = logging.getLogger("b24app.access")


def register(app: Flask, ctx: AppContext) -> None:
    """Attach every blueprint and the per-request hooks."""
    from b24app.web.api import bp as api_bp
    from b24app.web.events import bp as events_bp
    from b24app.web.frames import bp as frames_bp
    from b24app.web.oauth import bp as oauth_bp
    from b24app.web.ops import bp as ops_bp

    app.extensions["b24app.signer"] = SessionSigner(
        ctx.settings.secret_key, ctx.settings.session_ttl
    )
    app.register_blueprint(frames_bp)
    app.register_blueprint(events_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(ops_bp)
    app.register_blueprint(oauth_bp)
    scripts = tuple(o for o in (script_origin(ctx.settings.jssdk_url),) if o)

    @app.before_request
    def _request_id() -> None:
        g.request_started = time.monotonic()
        g.request_id = logs.new_request_id(request.headers.get("X-Request-ID"))
        g.request_id_token = logs.request_id.set(g.request_id)

    @app.teardown_request
    def _forget_request_id(_exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            logs.request_id.reset(token)

    @app.before_request
    def _start_worker() -> None:
        if ctx.settings.embedded_worker:
            ensure_worker(ctx)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        if request.path == "/events" and request.method == "POST":
            return jsonify({"ok": True})  # answered 200 whatever arrives; acted on never
        if request.path.startswith("/api/"):
            code = exc.code or 500
            name = (
                "payload_too_large"
                if code == 413
                else (exc.name or "error").lower().replace(" ", "_")
            )
            return api_error(code, name, exc.description or exc.name or "error")
        return exc

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if request.path.startswith("/api/"):
            return api_error(500, "internal_error", "Something went wrong; it has been logged.")
        return error_page(500, "internal_error", request.args.get("LANG"))

    @app.after_request
    def _headers(response: Response) -> Response:
        frame_origin = getattr(g, "frame_origin", None)
        if request.endpoint == "static" or request.endpoint == "ops.vendor_sdk":
            response.headers.pop("Cache-Control", None)
        if "request_id" in g:
            response.headers["X-Request-ID"] = g.request_id
            # the path only: query strings carry OAuth codes and states
            access_log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.monotonic() - g.request_started) * 1000, 1),
                },
            )
        return apply_headers(
            response,
            frame_origin=frame_origin,
            script_origins=scripts,
            # production serves HTTPS only; the insecure development mode may not
            hsts=not ctx.settings.allow_insecure,
        )
