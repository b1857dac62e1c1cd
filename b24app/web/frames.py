"""The pages the portal frames: the install wizard and the app itself."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, g, jsonify, render_template, request
from werkzeug.wrappers import Response as WerkzeugResponse

from b24app.bitrix.errors import VerificationError
from b24app.bitrix.payloads import FramePost, parse_event, parse_frame_post, portal_address
from b24app.i18n import language, strings
from b24app.installs import (
    install_from_event,
    is_portal_admin,
    set_up_portal,
    store_frame_user,
    verify_frame,
)
from b24app.security import Session
from b24app.web.common import ctx, error_page, signer

log = logging.getLogger(__name__)
bp = Blueprint("frames", __name__)

ENTITY_BY_CODE = {"LEAD": 1, "DEAL": 2, "CONTACT": 3, "COMPANY": 4}
ENTITY_NAMES = {1: "lead", 2: "deal", 3: "contact", 4: "company"}


def placement_context(code: str, options: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a placement asks for: the entity type and maybe one record; None if unknown."""
    if code in ("DEFAULT", "LEFT_MENU", "REST_APP_URI"):
        return {"entityTypeId": 3, "seedId": None, "kind": "default"}
    parts = code.split("_")
    if len(parts) >= 4 and parts[0] == "CRM" and parts[-2] == "LIST":
        entity = ENTITY_BY_CODE.get("_".join(parts[1:-2]))
        if entity is None:
            return None
        if parts[-1] == "TOOLBAR":
            return {"entityTypeId": entity, "seedId": None, "kind": "list"}
        if parts[-1] == "MENU":
            seed = _positive_int((options or {}).get("ID"))
            return {"entityTypeId": entity, "seedId": seed, "kind": "record"}
    return None


def _positive_int(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**31 else None


def _parse() -> FramePost:
    return parse_frame_post(
        request.args.to_dict(), request.form.to_dict(), allow_insecure=ctx().settings.allow_insecure
    )


def _refusal(exc: VerificationError, lang: str | None) -> tuple[str, int]:
    """The refusal page, frameable by the portal the POST names when its address parses.

    Only a header names that origin (nothing is sent there); the page holds no session, so
    letting the frame show why it was refused gives a forger nothing.
    """
    merged = {**request.args.to_dict(), **request.form.to_dict()}
    try:
        address = portal_address(
            merged.get("DOMAIN") or "",
            merged.get("PROTOCOL"),
            allow_insecure=ctx().settings.allow_insecure,
        )
    except VerificationError:
        pass
    else:
        g.frame_origin = address.base_url
    return error_page(exc.status, exc.reason, lang)


def _is_server_install() -> bool:
    return bool(request.form.get("event") or request.form.get("auth[access_token]"))


@bp.post("/install")
def install() -> Any:
    """The install wizard (frame POST) or the server-to-server install callback."""
    app_ctx = ctx()
    if _is_server_install():
        try:
            event = parse_event(request.form.to_dict())
            if event.event != "ONAPPINSTALL":
                raise VerificationError("unexpected_event", 400)
            install_from_event(app_ctx, event)
        except VerificationError as exc:
            log.warning("install callback refused: %s", exc.reason)
            return jsonify({"ok": False, "error": exc.reason.split(" ", 1)[0]}), exc.status
        return jsonify({"ok": True})
    lang = request.args.get("LANG")
    try:
        post = _parse()
        verified = verify_frame(app_ctx, post)
    except VerificationError as exc:
        log.warning("install frame refused: %s", exc.reason)
        return _refusal(exc, lang)
    g.frame_origin = post.address.base_url
    if not is_portal_admin(app_ctx, post):
        return error_page(403, "installer_not_admin", post.lang)
    portal = store_frame_user(app_ctx, post, verified, installer=True, admin=True)
    failures = set_up_portal(app_ctx, portal, verified.user_id)
    t = strings(post.lang)
    return render_template(
        "install.html",
        t=t,
        lang=language(post.lang),
        ok=not failures,
        failures=failures,
        jssdk_url=app_ctx.settings.jssdk_url,
        jssdk_integrity=app_ctx.settings.jssdk_integrity,
    )


@bp.post("/app")
def open_app() -> Any:
    """A user opens the app or one of its placements."""
    app_ctx = ctx()
    lang = request.args.get("LANG")
    try:
        post = _parse()
        verified = verify_frame(app_ctx, post)
    except VerificationError as exc:
        log.warning("app frame refused: %s", exc.reason)
        return _refusal(exc, lang)
    g.frame_origin = post.address.base_url
    existing = app_ctx.db.get_portal(member_id=post.member_id)
    if existing is not None and existing.state == "uninstalled":
        return error_page(410, "portal_uninstalled", post.lang)
    if existing is not None and existing.state == "need_reinstall":
        return error_page(409, "need_reinstall", post.lang)
    if not verified.installed:
        # The portal says installation never finished: say so instead of pretending to work.
        return error_page(409, "installation_unfinished", post.lang)
    portal = store_frame_user(app_ctx, post, verified, installer=False)
    t = strings(post.lang)
    context = placement_context(post.placement, post.placement_options)
    common = {
        "t": t,
        "lang": language(post.lang),
        "jssdk_url": app_ctx.settings.jssdk_url,
        "jssdk_integrity": app_ctx.settings.jssdk_integrity,
    }
    if context is None:
        log.info("opened from an unhandled placement %s", post.placement)
        return render_template("neutral.html", **common)
    token = signer().issue(
        Session(
            portal_id=portal.id,
            member_id=portal.member_id,
            user_id=verified.user_id,
            lang=language(post.lang),
        )
    )
    return render_template(
        "app.html",
        session_token=token,
        context=context,
        entity_name=ENTITY_NAMES[context["entityTypeId"]],
        needs_setup=portal.state != "installed" and portal.setup_error is not None,
        **common,
    )


@bp.get("/app")
@bp.get("/install")
def opened_directly() -> Any:
    """Someone opened a frame route in a browser tab."""
    return error_page_get()


def error_page_get() -> tuple[str, int] | WerkzeugResponse:
    """A readable page saying where the app is meant to be opened."""
    lang = request.args.get("LANG")
    t = strings(lang)
    return render_template("neutral.html", t=t, lang=language(lang), direct=True), 400
