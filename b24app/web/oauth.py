"""The OAuth authorization-code flow: issue a state, take the portal's redirect back."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, jsonify, render_template, request

from b24app.bitrix.errors import InvalidGrant, OAuthError, OAuthTransient, VerificationError
from b24app.bitrix.oauth import OAuthServer
from b24app.bitrix.payloads import portal_address
from b24app.i18n import language, strings
from b24app.web.api import session_required
from b24app.web.common import ctx, error_page

log = logging.getLogger(__name__)
bp = Blueprint("oauth", __name__)

STATE_TTL = 600.0
_CODE = re.compile(r"^[A-Za-z0-9_.~+/=-]{1,512}$")
_STATE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode("ascii")).hexdigest()


@bp.post("/api/reauthorize")
@session_required
def reauthorize() -> Any:
    """A single-use, expiring state and the portal URL that starts the code flow with it."""
    from flask import g

    app_ctx = ctx()
    session = g.session
    portal = app_ctx.db.get_portal(portal_id=session.portal_id)
    assert portal is not None
    state = secrets.token_urlsafe(32)
    app_ctx.db.create_oauth_state(
        _state_hash(state),
        portal_id=portal.id,
        user_id=session.user_id,
        expires_at=time.time() + STATE_TTL,
    )
    query = urlencode({"client_id": app_ctx.settings.client_id, "state": state})
    return jsonify({"authorizeUrl": f"{portal.base_url}/oauth/authorize/?{query}"})


def _trusted_server(server_domain: str, fallback: str) -> OAuthServer | None:
    """The trusted OAuth server whose host is ``server_domain``; None when none is."""
    app_ctx = ctx()
    if not server_domain:
        return app_ctx.oauth_server(fallback)
    wanted = server_domain.strip().lower()
    for origin in app_ctx.settings.oauth_servers:
        if urlsplit(origin).netloc.lower() == wanted:
            return app_ctx.oauth_server(f"{origin}/rest/")
    return None


@bp.get("/oauth/callback")
def callback() -> Any:
    """Check and consume the state, exchange the code at the trusted server, store the pair."""
    app_ctx = ctx()
    args = request.args
    code = args.get("code", "")
    state = args.get("state", "")
    member_id = args.get("member_id", "")
    if not _CODE.match(code) or not _STATE.match(state):
        return error_page(400, "reauthorize")
    claimed = app_ctx.db.consume_oauth_state(_state_hash(state))
    if claimed is None:
        log.warning("OAuth callback with an unknown, used or expired state")
        return error_page(409, "reauthorize")
    portal_id, state_user = claimed
    portal = app_ctx.db.get_portal(portal_id=portal_id)
    if portal is None or portal.state == "uninstalled" or portal.member_id != member_id:
        log.warning("security: OAuth callback for another portal than its state")
        return error_page(400, "reauthorize")
    try:
        address = portal_address(
            args.get("domain") or portal.domain,
            "0" if portal.scheme == "http" else "1",
            allow_insecure=app_ctx.settings.allow_insecure,
        )
    except VerificationError as exc:
        return error_page(exc.status, exc.reason)
    server = _trusted_server(args.get("server_domain", ""), portal.server_endpoint)
    if server is None:
        log.warning("security: OAuth callback names an untrusted server; nothing sent")
        return error_page(400, "oauth_server_not_trusted")
    try:
        grant = server.exchange_code(code)
    except InvalidGrant:
        return error_page(400, "reauthorize")
    except OAuthTransient:
        return error_page(503, "oauth_server_unavailable")
    except OAuthError as exc:
        log.warning("code exchange refused (%s)", exc.code)
        return error_page(400, "reauthorize")
    if grant.member_id and grant.member_id != portal.member_id:
        log.error("security: code exchange answered for another member_id; rejected")
        return error_page(400, "reauthorize")
    try:
        verified = server.verify(
            grant.access_token, member_id=portal.member_id, domain=address.domain
        )
    except VerificationError as exc:
        return error_page(exc.status, exc.reason)
    if verified.user_id != state_user or grant.user_id not in (None, state_user):
        # Someone else completed the authorisation in the portal: nothing is stored.
        log.warning("security: OAuth callback completed by another user than its state's")
        return error_page(409, "reauthorize_other_user")
    if address.domain != portal.domain:
        # app.info confirmed the portal now lives at this address (a renamed portal)
        app_ctx.db.update_portal(
            portal.id, domain=address.domain, client_endpoint=address.client_endpoint
        )
    app_ctx.db.store_token(
        portal_id=portal.id,
        user_id=verified.user_id,
        access_token=grant.access_token,
        refresh_token=grant.refresh_token,
        expires_at=grant.expires_at,
        scope=grant.scope or None,
    )
    lang = portal.language
    return render_template(
        "oauth_done.html", t=strings(lang), lang=language(lang), portal_url=portal.base_url
    )
