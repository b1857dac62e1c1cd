"""Small helpers shared by the blueprints."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, render_template

from b24app.context import AppContext
from b24app.i18n import language, strings
from b24app.security import SessionSigner


def ctx() -> AppContext:
    """This app's context."""
    value = current_app.extensions["b24app"]
    assert isinstance(value, AppContext)
    return value


def signer() -> SessionSigner:
    """The session token signer."""
    value = current_app.extensions["b24app.signer"]
    assert isinstance(value, SessionSigner)
    return value


def reason_text(reason: str, lang: str | None = None) -> str:
    """A readable sentence for a refusal reason code like ``token_rejected (expired_token)``."""
    key = reason.split(" ", 1)[0]
    t = strings(lang)
    if key.startswith("missing_") or key.startswith("malformed_"):
        return t["reason_malformed"] + f" ({key.split('_', 1)[1].upper()})"
    return t.get(f"reason_{key}", t["reason_unknown"])


def error_page(status: int, reason: str, lang: str | None = None) -> tuple[str, int]:
    """A readable page for a refused frame request."""
    return (
        render_template(
            "error.html",
            status=status,
            message=reason_text(reason, lang),
            code=reason.split(" ", 1)[0],
            t=strings(lang),
            lang=language(lang),
        ),
        status,
    )


def api_error(status: int, code: str, message: str, **extra: Any) -> tuple[Response, int]:
    """The JSON error body of the API."""
    body: dict[str, Any] = {"error": {"code": code, "message": message, **extra}}
    return jsonify(body), status
