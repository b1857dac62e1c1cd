"""Server-rendered portal pages and the emulator's own /_emu endpoints."""

from __future__ import annotations

import json
import re
from html import escape
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode

from werkzeug.wrappers import Request, Response

from .crm import ENTITY_BY_NAME, ENTITY_NAMES, MULTI_FIELDS
from .http import json_response

if TYPE_CHECKING:
    from .portal import Portal
    from .users import User

_ENTITY_TITLES = {"contact": "Contacts", "lead": "Leads", "company": "Companies", "deal": "Deals"}
_SINGULAR = {"contact": "contacts", "lead": "leads", "company": "companies", "deal": "deals"}
_STATIC = {"portal.js": "application/javascript", "portal.css": "text/css"}
_LIST = re.compile(r"^/crm/(contact|lead|company|deal)/list/?$")
_MERGE = re.compile(r"^/crm/(contact|lead|company|deal)/merge/?$")
_DETAILS = re.compile(r"^/crm/(contact|lead|company|deal)/details/(\d+)/?$")
_FRAME = re.compile(r"^/_emu/frame/([0-9a-f]+)/(refresh|install-finish|repost)$")


def dispatch(portal: Portal, request: Request) -> Response:
    """Route a non-REST request on the portal."""
    path = request.path
    if path == "/favicon.ico":
        return Response(status=204)
    if path.startswith("/b24emu-static/"):
        return _static(path.rsplit("/", 1)[-1])
    if path.startswith("/_emu/"):
        return _emu(portal, request)
    user = portal.cookie_user(request)
    if path.rstrip("/") == "/oauth/authorize":
        return _authorize(portal, request, user)
    with portal.emu.lock:
        query = unquote(request.query_string.decode("utf-8", "replace"))
        portal.page_visits.append(path + ("?" + query if query else ""))
    if path == "/":
        return _html(portal, user, "Portal", _home(portal))
    if path.rstrip("/") == "/marketplace/local":
        return _html(portal, user, "Applications", _marketplace(portal, user))
    if match := _LIST.match(path):
        entity = match.group(1)
        return _html(portal, user, _ENTITY_TITLES[entity], _list(portal, entity, user))
    if match := _MERGE.match(path):
        entity = match.group(1)
        return _html(portal, user, f"Merge {_SINGULAR[entity]}", _merge(portal, entity, request))
    if match := _DETAILS.match(path):
        entity, record_id = match.group(1), int(match.group(2))
        body = _details(portal, entity, record_id)
        return _html(
            portal,
            user,
            f"{entity.capitalize()} {record_id}",
            body or "<div class='card'><h1>Record not found</h1></div>",
            status=200 if body else 404,
        )
    return _html(portal, user, "Not found", "<div class='card'><h1>Page not found</h1></div>", 404)


# -- emulator endpoints -------------------------------------------------------------------------


def _emu(portal: Portal, request: Request) -> Response:
    path = request.path
    user = portal.cookie_user(request)
    if path == "/_emu/login":
        raw = request.args.get("user", "1")
        back = request.args.get("back", "/")
        if not back.startswith("/") or back.startswith("//"):
            back = "/"
        response = Response(status=302, headers={"Location": back})
        response.set_cookie("b24emu_user", raw if raw.isdigit() else "1", path="/")
        return response
    if path == "/_emu/state":
        with portal.emu.lock:
            return json_response(
                {
                    "installed": portal.installed,
                    "member_id": portal.member_id,
                    "placements": portal.placements,
                    "event_handlers": portal.event_handlers,
                    "page_visits": portal.page_visits,
                }
            )
    if request.method != "POST":
        return json_response({"error": "METHOD_NOT_ALLOWED"}, 405)
    if path == "/_emu/frame-params":
        return _frame_params(portal, request, user)
    match = _FRAME.match(path)
    if match is None or match.group(1) not in portal.frames:
        return json_response({"error": "FRAME_NOT_FOUND"}, 404)
    sid, action = match.groups()
    frame = portal.frames[sid]
    if action == "refresh":
        return json_response(portal.refresh_frame(sid))
    if action == "install-finish":
        ok = portal.finish_install(sid)
        return json_response({"installed": portal.installed}, 200 if ok else 409)
    post, session = portal.open_frame(
        frame.user_id,
        frame.placement,
        frame.options,
        install=frame.install,
        path=frame.url,
        sid=sid,
    )
    return json_response(_frame_payload(portal, post.action, post.form, session.init, sid, ""))


def _frame_payload(
    portal: Portal, action: str, form: dict[str, str], init: dict[str, Any], sid: str, title: str
) -> dict[str, Any]:
    app = portal.emu.require_app()
    return {
        "action": action,
        "fields": form,
        "frameName": f"{portal.domain}|0|{sid}",
        "sid": sid,
        "appOrigin": app.origin,
        "init": init,
        "title": title,
    }


def _frame_params(portal: Portal, request: Request, user: User) -> Response:
    app = portal.emu.app
    if app is None:
        return json_response({"error": "NO_APP", "message": "No application registered"}, 409)
    try:
        spec = json.loads(request.get_data().decode("utf-8") or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return json_response({"error": "BAD_REQUEST"}, 400)
    install = bool(spec.get("install"))
    placement = str(spec.get("placement") or "DEFAULT")
    options = spec.get("options") if isinstance(spec.get("options"), dict) else {}
    handler = spec.get("handler")
    if install and not user.admin:
        return json_response({"error": "ACCESS_DENIED", "message": "Only an admin installs"}, 403)
    if not install and not portal.installed and not user.admin:
        return json_response(
            {"error": "NOT_INSTALLED", "message": "The application is not fully installed yet"},
            409,
        )
    path = None
    if handler:
        with portal.emu.lock:
            bound = [
                p
                for p in portal.placements
                if p["placement"] == placement and p["handler"] == handler
            ]
        if not bound:
            return json_response({"error": "PLACEMENT_NOT_BOUND"}, 404)
        path = str(handler)
    post, session = portal.open_frame(user.id, placement, options, install=install, path=path)
    title = str(spec.get("title") or app.client_id)
    return json_response(
        _frame_payload(portal, post.action, post.form, session.init, session.sid, title)
    )


def _authorize(portal: Portal, request: Request, user: User) -> Response:
    app = portal.emu.app
    client_id = request.args.get("client_id", "")
    if app is None or client_id != app.client_id:
        return _error_page(portal, user, "Unknown application (client_id)")
    if not portal.installed:
        return _error_page(portal, user, "The application is not installed on this portal")
    with portal.emu.lock:
        code = portal.emu.tokens.issue_code(portal.member_id, user.id, app.client_id, app.scope)
    query = {
        "code": code.code,
        "state": request.args.get("state", ""),
        "domain": portal.domain,
        "member_id": portal.member_id,
        "scope": app.scope,
        "server_domain": portal.emu.oauth_host,
    }
    return Response(
        status=302, headers={"Location": app.url(app.oauth_callback_path) + "?" + urlencode(query)}
    )


def _error_page(portal: Portal, user: User, text: str) -> Response:
    body = f"<div class='card'><h1>Error</h1><p id='b24emu-error'>{escape(text)}</p></div>"
    return _html(portal, user, "Error", body, 400)


def _static(name: str) -> Response:
    if name not in _STATIC:
        return Response("not found", status=404)
    data = resources.files("b24app.devportal").joinpath("static", name).read_bytes()
    return Response(data, content_type=f"{_STATIC[name]}; charset=utf-8")


# -- pages --------------------------------------------------------------------------------------


def _html(portal: Portal, user: User, title: str, body: str, status: int = 200) -> Response:
    app = portal.emu.app
    config = {
        "domain": portal.domain,
        "lang": portal.lang,
        "userId": user.id,
        "isAdmin": user.admin,
        "appOrigin": app.origin if app else None,
        "installed": portal.installed,
        "openPathError": portal.open_path_error,
    }
    options = "".join(
        f"<option value='{u.id}'{' selected' if u.id == user.id else ''}>"
        f"{escape(u.full_name)}{' (admin)' if u.admin else ''}</option>"
        for u in portal.users.values()
    )
    nav = " ".join(
        f"<a href='/crm/{entity}/list/'>{label}</a>" for entity, label in _ENTITY_TITLES.items()
    )
    page = f"""<!doctype html>
<html lang="{escape(portal.lang)}"><head><meta charset="utf-8">
<title>{escape(title)} · Bitrix24 emulator</title>
<link rel="stylesheet" href="/b24emu-static/portal.css">
<script id="b24emu-config" type="application/json">{_script_json(config)}</script>
</head><body>
<header class="b24emu-header"><a class="brand" href="/">Bitrix24 · {escape(portal.domain)}</a>
<nav>{nav} <a href="/marketplace/local/">Applications</a></nav>
<label class="user">User <select id="b24emu-user">{options}</select></label></header>
<main>{body}</main>
<script src="/b24emu-static/portal.js"></script>
</body></html>"""
    return Response(page, status=status, content_type="text/html; charset=utf-8")


def _script_json(data: Any) -> str:
    text = json.dumps(data)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _home(portal: Portal) -> str:
    links = "".join(
        f"<li><a href='/crm/{entity}/list/'>{label}</a> ({len(portal.crm.records[type_id])})</li>"
        for entity, label in _ENTITY_TITLES.items()
        for type_id in [ENTITY_BY_NAME[entity]]
    )
    return (
        f"<div class='card'><h1>{escape(portal.name)}</h1><p>member_id "
        f"<code>{escape(portal.member_id)}</code></p><h2>CRM</h2><ul>{links}</ul>"
        "<p><a href='/marketplace/local/'>Applications</a></p></div>"
    )


def _marketplace(portal: Portal, user: User) -> str:
    app = portal.emu.app
    if app is None:
        return "<div class='card'><h1>Applications</h1><p>No local application.</p></div>"
    status = "installed" if portal.installed else "not installed"
    buttons = []
    if user.admin:
        buttons.append("<button class='btn' id='b24emu-install'>Install</button>")
    if portal.installed or user.admin:
        buttons.append("<button class='btn btn-primary' id='b24emu-open'>Open</button>")
    else:
        buttons.append("<p class='muted'>The application is not fully installed yet.</p>")
    return (
        "<div class='card'><h1>Applications</h1>"
        f"<div class='app-row' data-client-id='{escape(app.client_id)}'>"
        f"<strong>{escape(app.client_id)}</strong> <span class='muted'>{escape(app.app_url)}</span>"
        f" — <span id='b24emu-app-status' data-installed='{str(portal.installed).lower()}'>"
        f"{status}</span><div class='buttons'>{''.join(buttons)}</div></div></div>"
    )


def placement_title(portal: Portal, placement: dict[str, Any], user: User) -> str:
    """The widget's title as this user sees it: LANG_ALL of the user's language, else TITLE.

    placement.bind documents LANG_ALL as the titles shown to "users who have selected one of
    these languages in the Bitrix24 interface"; everyone else sees TITLE.
    """
    lang_all = placement.get("langAll") or {}
    localized = lang_all.get(portal.user_lang(user)) if isinstance(lang_all, dict) else None
    if isinstance(localized, dict) and localized.get("TITLE"):
        return str(localized["TITLE"])
    return str(placement.get("title") or placement["handler"])


def _menu_items(portal: Portal, code: str, user: User) -> str:
    if not portal.installed:
        return ""
    items = [
        f"<button class='menu-item' data-placement='{escape(code)}' "
        f"data-handler='{escape(p['handler'])}'>"
        f"{escape(placement_title(portal, p, user))}</button>"
        for p in portal.placements
        if p["placement"] == code
    ]
    return "".join(items)


def _name(entity: str, record: dict[str, Any]) -> str:
    if entity in ("contact", "lead") and (record.get("NAME") or record.get("LAST_NAME")):
        return f"{record.get('NAME') or ''} {record.get('LAST_NAME') or ''}".strip()
    return str(record.get("TITLE") or "")


def _multi_text(record: dict[str, Any], field: str) -> str:
    return "<br>".join(escape(m["VALUE"]) for m in record.get(field) or [])


def _list(portal: Portal, entity: str, user: User) -> str:
    type_id = ENTITY_BY_NAME[entity]
    upper = ENTITY_NAMES[type_id]
    with portal.emu.lock:
        records = sorted(portal.crm.records[type_id].items())
        toolbar = _menu_items(portal, f"CRM_{upper}_LIST_TOOLBAR", user)
        row_menu = _menu_items(portal, f"CRM_{upper}_LIST_MENU", user)
    rows = []
    for record_id, record in records:
        menu = (
            f"<div class='dropdown row-menu'><button class='dots' data-id='{record_id}'>⋯</button>"
            f"<div class='menu' data-row-id='{record_id}'>{row_menu}</div></div>"
            if row_menu
            else ""
        )
        rows.append(
            f"<tr data-id='{record_id}'><td>{menu}</td><td>{record_id}</td>"
            f"<td><a href='/crm/{entity}/details/{record_id}/'>{escape(_name(entity, record))}</a>"
            f"</td><td>{_multi_text(record, 'PHONE')}</td><td>{_multi_text(record, 'EMAIL')}</td>"
            f"<td>{escape(str(record.get('DATE_CREATE') or ''))}</td></tr>"
        )
    apps = (
        "<div class='dropdown' id='b24emu-toolbar'><button class='btn'>Applications ▾</button>"
        f"<div class='menu'>{toolbar}</div></div>"
        if toolbar
        else ""
    )
    return (
        f"<div class='card'><div class='toolbar'><h1>{_ENTITY_TITLES[entity]}</h1>{apps}</div>"
        f"<table class='grid' id='b24emu-grid' data-entity='{entity}'><thead><tr><th></th>"
        "<th>ID</th><th>Name</th><th>Phones</th><th>E-mails</th><th>Created</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _record_card(entity: str, record_id: int, record: dict[str, Any] | None) -> str:
    if record is None:
        return f"<div class='card record missing'><h2>#{record_id}</h2><p>Not found</p></div>"
    lines = "".join(
        f"<tr><th>{escape(name)}</th><td>{escape(str(value))}</td></tr>"
        for name, value in record.items()
        if name not in MULTI_FIELDS and value not in (None, "")
    )
    lines += "".join(
        f"<tr><th>{field}</th><td>{_multi_text(record, field)}</td></tr>"
        for field in MULTI_FIELDS
        if record.get(field)
    )
    return (
        f"<div class='card record' data-id='{record_id}'><h2>{escape(_name(entity, record))} "
        f"<span class='muted'>#{record_id}</span></h2><table>{lines}</table></div>"
    )


def _merge(portal: Portal, entity: str, request: Request) -> str:
    raw = request.args.get("id", "")
    ids = [int(part) for part in re.split(r"[,\s]+", raw) if part.isdigit()]
    type_id = ENTITY_BY_NAME[entity]
    with portal.emu.lock:
        cards = "".join(_record_card(entity, i, portal.crm.records[type_id].get(i)) for i in ids)
    joined = ",".join(str(i) for i in ids)
    return (
        f"<div class='card'><h1 id='b24emu-merge-page' data-entity='{entity}' "
        f"data-ids='{joined}'>Merge {_SINGULAR[entity]}: {escape(', '.join(map(str, ids)))}</h1>"
        "<p class='muted'>Manual merge: choose the values to keep (not interactive in the "
        f"emulator).</p></div><div class='side-by-side'>{cards}</div>"
    )


def _details(portal: Portal, entity: str, record_id: int) -> str:
    with portal.emu.lock:
        record = portal.crm.records[ENTITY_BY_NAME[entity]].get(record_id)
        if record is None:
            return ""
        return _record_card(entity, record_id, record)
