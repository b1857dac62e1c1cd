"""Operator routes: health, and the locally served frame SDK for the demo and tests."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, send_file

from b24app import health
from b24app.web.common import ctx

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """200 when the app, its database and (when configured) Redis answer; else 503."""
    app = ctx()
    healthy, body = health.report(app.db, app.settings.redis_url)
    return jsonify(body), 200 if healthy else 503


@bp.get("/vendor/b24jssdk.js")
def vendor_sdk() -> Any:
    """The frame SDK's UMD file from the local npm install, when configured."""
    path = ctx().settings.jssdk_file
    if not path:
        abort(404)
    return send_file(path, mimetype="text/javascript", max_age=3600)
