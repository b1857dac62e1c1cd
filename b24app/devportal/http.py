"""Small HTTP helpers shared by the emulated OAuth server and portals."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from .params import parse_json_body, parse_pairs, parse_query_string


def json_response(data: Any, status: int = 200, request: Request | None = None) -> Response:
    """Return a JSON response (UTF-8, no ASCII escaping) with CORS headers for the caller."""
    body = json.dumps(data, ensure_ascii=False)
    response = Response(body, status=status, content_type="application/json; charset=utf-8")
    if request is not None:
        add_cors(response, request)
    return response


def add_cors(response: Response, request: Request) -> None:
    """Let the app origin call this endpoint from its frame."""
    origin = request.headers.get("Origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    requested = request.headers.get("Access-Control-Request-Headers")
    response.headers["Access-Control-Allow-Headers"] = requested or "content-type"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"


def preflight(request: Request) -> Response:
    """Answer a CORS preflight."""
    response = Response(status=204)
    add_cors(response, request)
    response.headers["Access-Control-Max-Age"] = "600"
    return response


def request_params(request: Request) -> dict[str, Any]:
    """Collect params from query, JSON body and form body, decoded strictly as UTF-8."""
    params: dict[str, Any] = parse_query_string(request.query_string)
    if request.method in ("POST", "PUT"):
        mimetype = request.mimetype
        raw = request.get_data(cache=True)
        if mimetype == "application/json":
            params.update(parse_json_body(raw))
        elif mimetype == "multipart/form-data":
            params.update(parse_pairs(list(request.form.items(multi=True))))
        elif raw:
            params.update(parse_query_string(raw))
    return params


def iso(ts: float) -> str:
    """Return an ISO 8601 timestamp with offset, as Bitrix24 writes it."""
    return datetime.fromtimestamp(ts, UTC).replace(microsecond=0).isoformat()


class _QuietHandler(WSGIRequestHandler):
    """A request handler that does not log every request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Skip the access log."""


class ServerThread:
    """A werkzeug server serving one WSGI app on a daemon thread."""

    def __init__(self, host: str, port: int, app: Any) -> None:
        self.server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=_QuietHandler
        )
        self.port: int = self.server.server_port
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
