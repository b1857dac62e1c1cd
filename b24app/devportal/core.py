"""The emulator: one OAuth server (stand-in for oauth.bitrix.info) and any number of portals."""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from .http import ServerThread, iso, json_response, preflight, request_params
from .params import BadRequestEncoding
from .portal import Portal
from .tokens import AccessToken, RefreshGrant, TokenStore


@dataclass
class AppRegistration:
    """A local application as an admin registered it: keys, URLs and scope."""

    client_id: str
    client_secret: str
    app_url: str
    handler_path: str = "/app"
    install_path: str = "/install"
    scope: str = "crm,placement,user_brief"
    oauth_callback_path: str = "/oauth/callback"

    @property
    def origin(self) -> str:
        """Return the scheme://host:port of the app."""
        parts = urlsplit(self.app_url)
        return f"{parts.scheme}://{parts.netloc}"

    def url(self, path: str) -> str:
        """Return an absolute URL on the app for a path (absolute URLs pass through)."""
        if path.startswith(("http://", "https://")):
            return path
        return self.app_url.rstrip("/") + "/" + path.lstrip("/")


class DevPortal:
    """The Bitrix24 cloud emulator: an OAuth server plus portals, all on loopback."""

    def __init__(self, seed: bool = True, limits: bool = False, lang: str = "ru") -> None:
        self.lock = threading.RLock()
        self.tokens = TokenStore()
        self.app: AppRegistration | None = None
        self.access_token_ttl: int = 3600
        self.oauth_log: list[dict[str, Any]] = []
        # Every app.info asked of the OAuth server: the member it was about, or None.
        self.app_info_log: list[str | None] = []
        # A script for the next token grants, one step each: (seconds to wait, then an HTML
        # error page with this status, or None to answer normally). A slow, flaky OAuth server.
        self.grant_script: list[tuple[float, int | None]] = []
        # Fields laid over every successful token answer (a misbehaving OAuth server).
        self.grant_answer_changes: dict[str, Any] = {}
        self.portals: list[Portal] = []
        self.host = "127.0.0.1"
        self._oauth_server: ServerThread | None = None
        self._limits_default = limits
        self.add_portal(lang=lang, seed=seed)

    # -- lifecycle --------------------------------------------------------------------------------

    def add_portal(self, lang: str = "en", seed: bool = False) -> Portal:
        """Add a portal; it starts at once when the emulator already runs."""
        portal = Portal(self, lang=lang, seed=seed, limits=self._limits_default)
        with self.lock:
            self.portals.append(portal)
        if self._oauth_server is not None:
            portal.start(self.host, 0)
        return portal

    def start(
        self, host: str = "127.0.0.1", oauth_port: int = 0, portal_port: int = 0
    ) -> DevPortal:
        """Start the OAuth server and every portal (port 0 picks a free port)."""
        self.host = host
        self._oauth_server = ServerThread(host, oauth_port, self._wsgi)
        for index, portal in enumerate(self.portals):
            portal.start(host, portal_port if index == 0 else 0)
        return self

    def stop(self) -> None:
        """Stop every server, all at once (each waits out its own poll interval)."""
        stops = [portal.stop for portal in self.portals]
        if self._oauth_server is not None:
            stops.append(self._oauth_server.stop)
            self._oauth_server = None
        threads = [threading.Thread(target=stop) for stop in stops]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def __enter__(self) -> DevPortal:
        return self if self._oauth_server is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def portal(self) -> Portal:
        """Return the first portal."""
        return self.portals[0]

    @property
    def oauth_host(self) -> str:
        """Return host:port of the OAuth server."""
        if self._oauth_server is None:
            raise RuntimeError("the emulator is not started")
        return f"{self.host}:{self._oauth_server.port}"

    @property
    def oauth_url(self) -> str:
        """Return the OAuth server's base URL."""
        return f"http://{self.oauth_host}"

    # -- the app ----------------------------------------------------------------------------------

    def register_app(
        self,
        client_id: str,
        client_secret: str,
        app_url: str,
        *,
        handler_path: str = "/app",
        install_path: str = "/install",
        scope: str = "crm,placement,user_brief",
        oauth_callback_path: str = "/oauth/callback",
    ) -> AppRegistration:
        """Register the app on every portal, like an admin creating a local application."""
        with self.lock:
            self.app = AppRegistration(
                client_id,
                client_secret,
                app_url.rstrip("/"),
                handler_path,
                install_path,
                scope,
                oauth_callback_path,
            )
            return self.app

    def require_app(self) -> AppRegistration:
        """Return the registered app or fail loudly."""
        if self.app is None:
            raise RuntimeError("no app registered: call register_app() first")
        return self.app

    def issue_tokens(self, portal: Portal, user_id: int) -> tuple[AccessToken, RefreshGrant]:
        """Issue a fresh token pair for a user of a portal."""
        app = self.require_app()
        with self.lock:
            return self.tokens.issue(
                portal.member_id, user_id, app.client_id, app.scope, self.access_token_ttl
            )

    def expire_access_tokens(self, portal: Portal | None = None, user_id: int | None = None) -> int:
        """Make matching live access tokens expired now; return how many."""
        with self.lock:
            return self.tokens.expire(portal.member_id if portal else None, user_id)

    def portal_by_member(self, member_id: str) -> Portal | None:
        """Return the portal with this member_id."""
        return next((p for p in self.portals if p.member_id == member_id), None)

    # -- the OAuth server -------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return preflight(request)
        path = request.path.rstrip("/")
        try:
            params = request_params(request)
        except BadRequestEncoding as exc:
            return json_response(
                {"error": "invalid_request", "error_description": str(exc)}, 400, request
            )
        if path == "/oauth/token":
            with self.lock:
                step = self.grant_script.pop(0) if self.grant_script else None
            if step is not None:
                time.sleep(step[0])
                if step[1] is not None:
                    with self.lock:
                        self.oauth_log.append(
                            {
                                "grant_type": str(params.get("grant_type", "")),
                                "client_id": str(params.get("client_id", "")),
                                "ok": False,
                                "error": f"scripted {step[1]}",
                                "member_id": None,
                                "user_id": None,
                            }
                        )
                    return Response(
                        "<html><body>Service temporarily unavailable</body></html>",
                        status=step[1],
                        mimetype="text/html",
                    )
            status, body = self._token(params, host=request.host)
            return json_response(body, status, request)
        if path in ("/rest/app.info", "/rest/app.info.json"):
            status, body = self._app_info(params)
            return json_response(body, status, request)
        return json_response({"error": "NOT_FOUND", "error_description": "Not found"}, 404, request)

    def _token(self, params: dict[str, Any], *, host: str = "") -> tuple[int, dict[str, Any]]:
        grant_type = str(params.get("grant_type", ""))
        client_id = str(params.get("client_id", ""))
        entry: dict[str, Any] = {
            "host": host,  # the name the OAuth server was reached by
            "grant_type": grant_type,
            "client_id": client_id,
            "ok": False,
            "error": None,
            "member_id": None,
            "user_id": None,
        }
        with self.lock:
            self.oauth_log.append(entry)
            status, body = self._token_locked(params, grant_type, client_id, entry)
        entry["ok"] = status == 200
        entry["error"] = None if status == 200 else body.get("error")
        return status, body

    def _token_locked(
        self, params: dict[str, Any], grant_type: str, client_id: str, entry: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        app = self.app
        secret = str(params.get("client_secret", ""))
        if (
            app is None
            or not hmac.compare_digest(client_id, app.client_id)
            or not hmac.compare_digest(secret, app.client_secret)
        ):
            return 401, {"error": "invalid_client", "error_description": "Invalid client"}
        if grant_type == "authorization_code":
            code = self.tokens.codes.get(str(params.get("code", "")))
            if code is None or code.used or code.client_id != client_id:
                return 400, _invalid_grant("Invalid authorization code")
            code.used = True
            if time.time() > code.expires_at:
                return 400, _invalid_grant("Authorization code has expired")
            member_id, user_id = code.member_id, code.user_id
            with_user = False
        elif grant_type == "refresh_token":
            grant = self.tokens.refresh.get(str(params.get("refresh_token", "")))
            if grant is None or grant.revoked or grant.used or grant.client_id != client_id:
                return 400, _invalid_grant("Invalid refresh token")
            grant.used = True
            member_id, user_id = grant.member_id, grant.user_id
            with_user = True
        else:
            return 400, {"error": "invalid_request", "error_description": "Unsupported grant_type"}
        portal = self.portal_by_member(member_id)
        if portal is None:
            return 400, _invalid_grant("Portal not found")
        entry["member_id"], entry["user_id"] = member_id, user_id
        access, refresh = self.issue_tokens(portal, user_id)
        body: dict[str, Any] = {
            "access_token": access.token,
            "client_endpoint": portal.url + "/rest/",
            "domain": self.oauth_host,
            "expires_in": self.access_token_ttl,
            "member_id": member_id,
            "refresh_token": refresh.token,
            "scope": access.scope,
            "server_endpoint": self.oauth_url + "/rest/",
            "status": "L",
        }
        if with_user:
            body["expires"] = int(access.expires_at)
            body["user_id"] = user_id
        body.update(self.grant_answer_changes)
        return 200, body

    def _app_info(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        token = str(params.get("auth") or params.get("access_token") or "")
        with self.lock:
            if not token:
                return 401, {
                    "error": "NO_AUTH_FOUND",
                    "error_description": "Wrong authorization data",
                }
            access = self.tokens.access.get(token)
            portal = self.portal_by_member(access.member_id) if access else None
            self.app_info_log.append(portal.member_id if portal else None)
            if access is None or access.revoked or portal is None:
                return 401, {
                    "error": "invalid_token",
                    "error_description": "Unable to get application by token",
                }
            if access.expired:
                return 401, {
                    "error": "expired_token",
                    "error_description": "The access token provided has expired.",
                }
            started = time.time()
            result = {
                "client_id": access.client_id,
                "scope": access.scope,
                "expires": iso(access.expires_at),
                "user_id": access.user_id,
                "install": {
                    "installed": portal.installed,
                    "version": portal.app_version_number,
                    "status": "L",
                    "scope": access.scope,
                    "domain": portal.domain,
                    "uri": portal.url,
                    "client_endpoint": portal.url + "/rest/",
                    "member_id": portal.member_id,
                    "member_type": "PORTAL",
                },
            }
        return 200, {"result": result, "time": _plain_time(started)}


def _invalid_grant(text: str) -> dict[str, Any]:
    return {"error": "invalid_grant", "error_description": text}


def _plain_time(started: float) -> dict[str, Any]:
    finished = time.time()
    return {
        "start": started,
        "finish": finished,
        "duration": finished - started,
        "processing": finished - started,
        "date_start": iso(started),
        "date_finish": iso(finished),
    }
