"""Small helpers shared by the blueprints."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, render_template

from b24app.context import AppContext
from b24app.i18n import language, strings
from b24app.security import SessionSigner

# What a person reads for each reason a frame request was refused (never a secret).
REASONS = {
    "malformed_domain": "The portal address in the request is not valid.",
    "insecure_portal": "The portal must be reached over HTTPS.",
    "portal_host_not_allowed": "This portal address is not allowed.",
    "application_token_mismatch": "The request did not come from the portal the app is "
    "installed on.",
    "token_of_another_app": "The access token belongs to another application.",
    "member_id_mismatch": "The access token belongs to another portal.",
    "domain_mismatch": "The access token belongs to another portal address.",
    "token_without_user": "The access token names no user.",
    "oauth_server_unavailable": "Bitrix24's authorisation server did not answer; try again "
    "in a minute.",
    "token_rejected": "Bitrix24 did not confirm this request. Reopen the app from your portal.",
    "portal_uninstalled": "The app was removed from this portal. Install it again to use it.",
    "setup_failed": "The app could not finish setting itself up on the portal.",
    "installation_unfinished": "The app's installation has not been finished on this portal. "
    "An administrator should open the app once (Applications → the app) to complete it.",
    "need_reinstall": "The app's installation on this portal never completed. Please "
    "reinstall the app: a portal administrator opens Applications, removes the app and "
    "installs it again.",
    "reauthorize": "Bitrix24 did not accept this authorisation (the link was used already or "
    "has expired). Open the app again from your Bitrix24 portal to re-authorise.",
    "oauth_server_not_trusted": "The authorisation server named in the request is not one "
    "this app trusts.",
    "internal_error": "Something went wrong on the app's side. It has been logged; try again "
    "in a minute.",
}


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


def reason_text(reason: str) -> str:
    """A readable sentence for a refusal reason code like ``token_rejected (expired_token)``."""
    key = reason.split(" ", 1)[0]
    if key.startswith("missing_") or key.startswith("malformed_"):
        field = key.split("_", 1)[1].upper()
        return f"The request from the portal is incomplete or malformed ({field})."
    return REASONS.get(key, "The request could not be verified.")


def error_page(status: int, reason: str, lang: str | None = None) -> tuple[str, int]:
    """A readable page for a refused frame request."""
    return (
        render_template(
            "error.html",
            status=status,
            message=reason_text(reason),
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
