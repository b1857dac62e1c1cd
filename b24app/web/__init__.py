"""HTTP in and out: parse, verify, call a service, render."""

from __future__ import annotations

from flask import Flask, Response, g, request

from b24app.context import AppContext
from b24app.jobs.worker import ensure_worker
from b24app.security import SessionSigner, apply_headers, script_origin


def register(app: Flask, ctx: AppContext) -> None:
    """Attach every blueprint and the per-request hooks."""
    from b24app.web.api import bp as api_bp
    from b24app.web.events import bp as events_bp
    from b24app.web.frames import bp as frames_bp
    from b24app.web.ops import bp as ops_bp

    app.extensions["b24app.signer"] = SessionSigner(
        ctx.settings.secret_key, ctx.settings.session_ttl
    )
    app.register_blueprint(frames_bp)
    app.register_blueprint(events_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(ops_bp)
    scripts = tuple(o for o in (script_origin(ctx.settings.jssdk_url),) if o)

    @app.before_request
    def _start_worker() -> None:
        if ctx.settings.run_worker:
            ensure_worker(ctx)

    @app.after_request
    def _headers(response: Response) -> Response:
        frame_origin = getattr(g, "frame_origin", None)
        if request.endpoint == "static" or request.endpoint == "ops.vendor_sdk":
            response.headers.pop("Cache-Control", None)
        return apply_headers(response, frame_origin=frame_origin, script_origins=scripts)
