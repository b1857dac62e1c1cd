"""One emulated Bitrix24 portal: CRM state, REST endpoint, app installation, frames and pages."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import requests
from werkzeug.wrappers import Request, Response

from . import pages, rest
from .catalog import default_directories, default_pipelines, user_field_spec
from .crm import CrmStore
from .errors import RestError
from .http import ServerThread, iso, json_response, preflight, request_params
from .limits import Limits
from .params import BadRequestEncoding, flatten_params
from .seed import seed_portal
from .users import User, default_users

if TYPE_CHECKING:
    from .core import DevPortal


@dataclass
class FramePost:
    """What the portal POSTs into an app frame: URL, query-string fields and form fields."""

    url: str
    query: dict[str, str]
    form: dict[str, str]

    @property
    def action(self) -> str:
        """Return the URL with the query string, as the portal's form action."""
        joiner = "&" if "?" in self.url else "?"
        return self.url + joiner + urlencode(self.query)

    @property
    def app_sid(self) -> str:
        """Return the frame session id."""
        return self.query["APP_SID"]

    def send(self, session: requests.Session | None = None, **kwargs: Any) -> requests.Response:
        """POST this frame request to the app (as a browser would) and return the response."""
        sender = session or requests
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("allow_redirects", False)
        return sender.post(self.action, data=self.form, **kwargs)


@dataclass
class FrameSession:
    """A rendered app frame: whose it is and how it was opened."""

    sid: str
    user_id: int
    placement: str
    options: dict[str, Any]
    install: bool
    url: str
    init: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """A REST method's result with its list extras."""

    result: Any
    total: int | None = None
    next: int | None = None


class Portal:
    """An emulated portal; every mutable piece is guarded by the emulator's lock."""

    def __init__(self, emu: DevPortal, *, lang: str, seed: bool, limits: bool) -> None:
        self.emu = emu
        self.lang = lang
        self.member_id = secrets.token_hex(16)
        self.users: dict[int, User] = default_users()
        self.crm = CrmStore()
        # Directories (crm.status.list) and deal pipelines as a new portal of its language has them.
        self.directories: list[dict[str, Any]] = default_directories(lang)
        self.pipelines: list[dict[str, Any]] = default_pipelines(lang)
        self.placements: list[dict[str, Any]] = []
        # When set, placement.get and event.get list nothing, though the bindings stay (and a
        # second bind is still refused as already bound): a lagging or partial listing.
        self.hide_bindings = False
        # When set, the portal page answers every openPath with this errorCode (a portal or
        # device that cannot open a slider), so the app must find its own way there.
        self.open_path_error: str | None = None
        self.event_handlers: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        # Calls refused before they ran because of their token: {"method", "status", "error"}.
        self.rejected: list[dict[str, Any]] = []
        # Parameters the portal never sees, per method: what a GET with a JSON body loses (CASE-14).
        self.lost_params: dict[str, set[str]] = {}
        # Page sizes a method clamps to, where it is not Bitrix24's fixed 50 (CASE-21).
        self.page_sizes: dict[str, int] = {}
        # Statuses answered with an HTML page instead of the JSON error body, as a proxy or an
        # overloaded portal does (CASE-19: a 429 with an HTML body).
        self.html_error_statuses: set[int] = set()
        # Seconds a method takes before it answers, whatever the answer (a slow portal).
        self.delays: dict[str, float] = {}
        self.page_visits: list[str] = []
        self.limits = Limits(enabled=limits)
        self.installed = False
        self.application_token: str | None = None
        self.app_version = "1"
        self.frames: dict[str, FrameSession] = {}
        self.host = "127.0.0.1"
        self.port = 0
        self._server: ServerThread | None = None
        # Earlier addresses after a rename(): each answers with a 302 to the current one.
        self._retired: list[ServerThread] = []
        # When set, the current address also answers /rest/ with a 302 there (a test's trap).
        self.rest_redirect: str | None = None
        self.redirects: list[dict[str, str]] = []
        if seed:
            seed_portal(self)

    # -- server -----------------------------------------------------------------------------------

    def start(self, host: str, port: int) -> None:
        """Serve this portal."""
        self.host = host
        self._server = ServerThread(host, port, self._wsgi)
        self.port = self._server.port

    def stop(self) -> None:
        """Stop serving (the current address and every retired one)."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        for retired in self._retired:
            retired.stop()
        self._retired.clear()

    def rename(self) -> str:
        """Change the portal's domain, as an admin renaming it does; return the new DOMAIN.

        The portal starts serving on a new port (a new ``DOMAIN``); every earlier address answers
        each request with a 302 to the same path and query on the new one, and from now on the
        OAuth server's app.info, frames and events name the new domain. member_id stays.
        """
        if self._server is None:
            raise RuntimeError("the portal is not started")
        fresh = ServerThread(self.host, 0, self._wsgi)
        with self.emu.lock:
            self._retired.append(self._server)
            self._server = fresh
            self.port = fresh.port
        return self.domain

    @property
    def domain(self) -> str:
        """Return DOMAIN as the portal sends it (host:port)."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """Return the portal's base URL."""
        return f"http://{self.domain}"

    @property
    def name(self) -> str:
        """Return a display name for the portal."""
        return f"Emulated portal {self.domain} ({self.lang})"

    @property
    def app_version_number(self) -> int | str:
        """Return the installed app version (an int when it is one)."""
        return int(self.app_version) if self.app_version.isdigit() else self.app_version

    # -- CRM helpers for tests --------------------------------------------------------------------

    def add_record(
        self,
        entity_type_id: int,
        fields: dict[str, Any],
        *,
        created: str | None = None,
        id: int | None = None,  # noqa: A002 - the public API names it so
        user_id: int = 1,
    ) -> int:
        """Add a CRM record (upper-case fields, PHONE/EMAIL lists) and return its ID."""
        with self.emu.lock:
            return self.crm.add(
                entity_type_id, fields, user_id=user_id, created=created, record_id=id
            )

    def add_user_field(
        self,
        entity_type_id: int,
        name: str,
        label: str,
        *,
        kind: str = "string",
        items: list[str] | None = None,
        multiple: bool = False,
    ) -> dict[str, Any]:
        """Create a custom field (``UF_CRM_...``) as an admin would; return its description.

        An ``enumeration`` gets the given items, numbered as the portal numbers list items.
        """
        if not name.startswith("UF_CRM_"):
            raise ValueError("custom CRM fields are named UF_CRM_...")
        with self.emu.lock:
            first = 1 + sum(
                len(spec.get("items") or [])
                for fields in self.crm.user_fields.values()
                for spec in fields.values()
            )
            spec = user_field_spec(name, kind, label, items, multiple=multiple, first_id=first)
            self.crm.user_fields[entity_type_id][name] = spec
            return dict(spec)

    def records(self, entity_type_id: int) -> dict[int, dict[str, Any]]:
        """Return a copy of the records of one entity type in the legacy shape."""
        with self.emu.lock:
            return {
                record_id: self.crm.legacy(entity_type_id, record, None)
                for record_id, record in self.crm.records[entity_type_id].items()
            }

    def clear_crm(self) -> None:
        """Remove every CRM record."""
        with self.emu.lock:
            self.crm.clear()

    # -- frames -----------------------------------------------------------------------------------

    def _ensure_application_token(self) -> str:
        if self.application_token is None:
            self.application_token = secrets.token_hex(16)
        return self.application_token

    def handler_for(self, placement: str) -> str | None:
        """Return the single handler bound for a placement (None when none or several)."""
        handlers = [p["handler"] for p in self.placements if p["placement"] == placement]
        return handlers[0] if len(handlers) == 1 else None

    def open_frame(
        self,
        user_id: int,
        placement: str = "DEFAULT",
        placement_options: dict[str, Any] | None = None,
        *,
        install: bool = False,
        path: str | None = None,
        sid: str | None = None,
    ) -> tuple[FramePost, FrameSession]:
        """Issue tokens for a user and build the frame POST plus the parent's init data."""
        app = self.emu.require_app()
        if user_id not in self.users:
            raise ValueError(f"no user {user_id} on this portal")
        if path is not None:
            url = app.url(path)
        elif install:
            url = app.url(app.install_path)
        elif placement != "DEFAULT" and self.handler_for(placement):
            url = str(self.handler_for(placement))
        else:
            url = app.url(app.handler_path)
        access, refresh = self.emu.issue_tokens(self, user_id)
        options = dict(placement_options or {})
        lang = self.user_lang(self.users[user_id])
        sid = sid or secrets.token_hex(16)
        query = {"DOMAIN": self.domain, "PROTOCOL": "0", "LANG": lang, "APP_SID": sid}
        form = {
            "AUTH_ID": access.token,
            "AUTH_EXPIRES": str(self.emu.access_token_ttl),
            "REFRESH_ID": refresh.token,
            "SERVER_ENDPOINT": self.emu.oauth_url + "/rest/",
            "APPLICATION_SCOPE": app.scope,
            "member_id": self.member_id,
            "status": "L",
            "PLACEMENT": placement,
            "PLACEMENT_OPTIONS": json.dumps(options, ensure_ascii=False),
        }
        if self.application_token:
            form["APPLICATION_TOKEN"] = self.application_token
        user = self.users[user_id]
        init = {
            "AUTH_ID": access.token,
            "REFRESH_ID": refresh.token,
            "AUTH_EXPIRES": self.emu.access_token_ttl,
            "DOMAIN": self.domain,
            "PROTOCOL": 0,
            "PATH": "/rest",
            "LANG": lang,
            "MEMBER_ID": self.member_id,
            "IS_ADMIN": user.admin,
            "APP_OPTIONS": {},
            "USER_OPTIONS": {},
            "PLACEMENT": placement,
            "PLACEMENT_OPTIONS": options,
            "INSTALL": install,
            "FIRST_RUN": install,
        }
        session = FrameSession(sid, user_id, placement, options, install, url, init)
        with self.emu.lock:
            self.frames[sid] = session
        return FramePost(url=url, query=query, form=form), session

    def frame_post(
        self,
        user_id: int,
        placement: str = "DEFAULT",
        placement_options: dict[str, Any] | None = None,
        *,
        install: bool = False,
        path: str | None = None,
    ) -> FramePost:
        """Return what the portal would POST into a freshly opened app frame for this user."""
        post, _ = self.open_frame(user_id, placement, placement_options, install=install, path=path)
        return post

    def refresh_frame(self, sid: str) -> dict[str, Any]:
        """Answer a frame's refreshAuth: a fresh token pair for the frame's user."""
        frame = self.frames[sid]
        access, refresh = self.emu.issue_tokens(self, frame.user_id)
        return {
            "AUTH_ID": access.token,
            "REFRESH_ID": refresh.token,
            "AUTH_EXPIRES": self.emu.access_token_ttl,
        }

    def finish_install(self, sid: str) -> bool:
        """Handle setInstallFinish from an install frame; return whether it counted."""
        with self.emu.lock:
            frame = self.frames.get(sid)
            if frame is None or not frame.install:
                return False
            self.installed = True
            self._ensure_application_token()
            return True

    # -- server-to-server events ------------------------------------------------------------------

    def _auth_block(self, user_id: int, *, with_tokens: bool) -> dict[str, Any]:
        app = self.emu.require_app()
        auth: dict[str, Any] = {
            "domain": self.domain,
            "server_endpoint": self.emu.oauth_url + "/rest/",
            "client_endpoint": self.url + "/rest/",
            "member_id": self.member_id,
            "application_token": self._ensure_application_token(),
        }
        if with_tokens:
            access, refresh = self.emu.issue_tokens(self, user_id)
            auth = {
                "domain": self.domain,
                "scope": app.scope,
                "access_token": access.token,
                "refresh_token": refresh.token,
                "expires_in": str(self.emu.access_token_ttl),
                "server_endpoint": auth["server_endpoint"],
                "status": "L",
                "client_endpoint": auth["client_endpoint"],
                "member_id": self.member_id,
                "application_token": auth["application_token"],
            }
        return auth

    def _post_event(self, url: str, payload: dict[str, Any]) -> requests.Response:
        return requests.post(url, data=flatten_params(payload), timeout=30)

    def send_install_event(self) -> requests.Response:
        """POST an ONAPPINSTALL-shaped install callback to the app's install path."""
        app = self.emu.require_app()
        with self.emu.lock:
            payload = {
                "event": "ONAPPINSTALL",
                "data": {
                    "VERSION": self.app_version,
                    "ACTIVE": "Y",
                    "INSTALLED": "Y",
                    "LANGUAGE_ID": self.lang,
                },
                "ts": str(int(time.time())),
                "auth": self._auth_block(1, with_tokens=True),
            }
        response = self._post_event(app.url(app.install_path), payload)
        with self.emu.lock:
            self.installed = True  # an install callback installs at once
        return response

    def _bound_handler(self, event: str) -> tuple[int, str] | None:
        for index, item in enumerate(self.event_handlers):
            if item["event"] == event:
                return index + 1, item["handler"]
        return None

    def send_update_event(self, version: str) -> requests.Response | None:
        """Record a new app version and POST ONAPPUPDATE to its bound handler (None if unbound)."""
        with self.emu.lock:
            previous, self.app_version = self.app_version, str(version)
            bound = self._bound_handler("ONAPPUPDATE")
            if bound is None or not self.installed:
                return None
            payload = {
                "event": "ONAPPUPDATE",
                "event_handler_id": str(bound[0]),
                "data": {
                    "VERSION": str(version),
                    "PREVIOUS_VERSION": previous,
                    "LANGUAGE_ID": self.lang,
                },
                "ts": str(int(time.time())),
                "auth": self._auth_block(1, with_tokens=True),
            }
        return self._post_event(bound[1], payload)

    def uninstall(self, clean: bool = False) -> requests.Response | None:
        """Remove the app: revoke its tokens, drop placements and events, POST ONAPPUNINSTALL."""
        with self.emu.lock:
            bound = self._bound_handler("ONAPPUNINSTALL")
            payload = None
            if bound is not None and self.emu.app is not None:
                payload = {
                    "event": "ONAPPUNINSTALL",
                    "event_handler_id": str(bound[0]),
                    "data": {"LANGUAGE_ID": self.lang, "CLEAN": "1" if clean else "0"},
                    "ts": str(int(time.time())),
                    "auth": self._auth_block(1, with_tokens=False),
                }
            self.emu.tokens.revoke_portal(self.member_id)
            self.placements.clear()
            self.event_handlers.clear()
            self.frames.clear()
            self.installed = False
            self.application_token = None
        if bound is None or payload is None:
            return None
        return self._post_event(bound[1], payload)

    # -- REST -------------------------------------------------------------------------------------

    def _time_block(self, started: float, cost: float, method: str) -> dict[str, Any]:
        counted = method != "batch"
        return {
            "start": started,
            "finish": started + cost,
            "duration": cost,
            "processing": cost,
            "date_start": iso(started),
            "date_finish": iso(started + cost),
            "operating_reset_at": self.limits.reset_at(method)
            if counted
            else int(self.limits.now() + self.limits.operating_window_s),
            "operating": self.limits.operating(method) if counted else 0,
        }

    def execute(
        self, method: str, params: dict[str, Any], user: User, *, via_batch: bool
    ) -> tuple[Outcome, dict[str, Any]]:
        """Run one REST method as a user; return the outcome and its time block (or raise)."""
        method = method.strip().lower()
        started = time.time()
        lost = self.lost_params.get(method, set())
        clean = {k: v for k, v in params.items() if k != "auth" and k not in lost}
        entry: dict[str, Any] = {
            "method": method,
            "params": clean,
            "user_id": user.id,
            "status": 200,
            "error": None,
            "via_batch": via_batch,
        }
        cost = 0.0
        try:
            with self.emu.lock:
                self.calls.append(entry)
                handler = rest.METHODS.get(method)
                if method == "batch" and via_batch:
                    raise RestError(
                        405,
                        "ERROR_BATCH_METHOD_NOT_ALLOWED",
                        "Method is not allowed for batch usage",
                    )
                if handler is None:
                    raise RestError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
                rest.check_scope(self, method)
                if method != "batch":
                    self.limits.check_method(method)
                    cost = self.limits.charge(method)
                    outcome: Outcome = handler(self, user, clean)
                    if method == "crm.entity.mergebatch":
                        # what the merge did, for tests that count merges exactly
                        entry["result"] = outcome.result
            if method == "batch":
                outcome = handler(self, user, clean)  # sub-commands take the lock themselves
        except RestError as exc:
            entry["status"] = exc.status
            entry["error"] = (
                exc.error if isinstance(exc.error, str) and exc.error else (exc.description)
            )
            raise
        if self.limits.sleep_factor > 0 and cost > 0:
            time.sleep(cost * self.limits.sleep_factor)
        with self.emu.lock:
            timing = self._time_block(started, cost, method)
        return outcome, timing

    def authenticate(self, params: dict[str, Any]) -> User:
        """Resolve the `auth` param to a user of this portal, or raise a 401 error."""
        token = params.get("auth")
        if not isinstance(token, str) or not token:
            raise RestError(401, "NO_AUTH_FOUND", "Wrong authorization data")
        with self.emu.lock:
            access = self.emu.tokens.access.get(token)
            if access is None or access.revoked or access.member_id != self.member_id:
                raise RestError(401, "invalid_token", "Unable to get application by token")
            if access.expired:
                raise RestError(401, "expired_token", "The access token provided has expired.")
            user = self.users.get(access.user_id)
        if user is None:
            raise RestError(401, "invalid_token", "Unable to get application by token")
        return user

    def _rest(self, request: Request, method: str) -> Response:
        try:
            params = request_params(request)
        except BadRequestEncoding as exc:
            return json_response(
                {"error": "INVALID_REQUEST", "error_description": str(exc)}, 400, request
            )
        if method.endswith(".json"):
            method = method[: -len(".json")]
        delay = self.delays.get(method.strip().lower(), 0.0)
        if delay > 0:
            time.sleep(delay)
        try:
            with self.emu.lock:
                self.limits.admit_request()
            try:
                user = self.authenticate(params)
            except RestError as exc:
                with self.emu.lock:
                    self.rejected.append(
                        {"method": method.strip().lower(), "status": exc.status, "error": exc.error}
                    )
                raise
            outcome, timing = self.execute(method, params, user, via_batch=False)
        except RestError as exc:
            if exc.status in self.html_error_statuses:
                page = f"<html><head><title>{exc.status}</title></head><body><h1>{exc.status}"
                page += "</h1><p>The server is busy. Try again later.</p></body></html>"
                return Response(page, status=exc.status, content_type="text/html; charset=utf-8")
            return json_response(exc.body(), exc.status, request)
        body: dict[str, Any] = {"result": outcome.result}
        if outcome.next is not None:
            body["next"] = outcome.next
        if outcome.total is not None:
            body["total"] = outcome.total
        elif method.lower().endswith(".list") and method.lower().startswith("crm."):
            body["total"] = 0
        body["time"] = timing
        return json_response(body, 200, request)

    # -- WSGI -------------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if str(environ.get("SERVER_PORT")) != str(self.port):
            response = self._moved(request, self.url)  # a retired address after rename()
        elif self.rest_redirect and request.path.startswith("/rest/"):
            response = self._moved(request, self.rest_redirect)
        else:
            response = self._dispatch(request)
        return response(environ, start_response)

    def _moved(self, request: Request, origin: str) -> Response:
        """A 302 to the same path and query at another origin; nothing is executed here."""
        query = request.query_string.decode("latin-1")
        location = origin.rstrip("/") + request.path + (f"?{query}" if query else "")
        with self.emu.lock:
            self.redirects.append(
                {"method": request.method, "host": request.host, "location": location}
            )
        return Response(status=302, headers={"Location": location})

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        if request.method == "OPTIONS":
            return preflight(request)
        if path.startswith("/rest/"):
            return self._rest(request, path[len("/rest/") :].strip("/"))
        if path.rstrip("/") == "/oauth/token":
            return json_response(
                {"error": "invalid_grant", "error_description": "Use the OAuth server"}, 400
            )
        return pages.dispatch(self, request)

    def user_lang(self, user: User) -> str:
        """The interface language a user chose, else the portal's."""
        return user.lang or self.lang

    def cookie_user(self, request: Request) -> User:
        """Return the logged-in user chosen by the b24emu_user cookie (default: the admin)."""
        raw = request.cookies.get("b24emu_user", "1")
        user_id = int(raw) if raw.isdigit() else 1
        return self.users.get(user_id, self.users[1])

    def stable_id(self) -> str:
        """Return a short stable id of the portal (used as the app's numeric ID seed)."""
        return hashlib.sha1(self.member_id.encode()).hexdigest()[:6]
