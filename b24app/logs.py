"""Log records as one line each: JSON in production, text in development; request and job IDs.

The IDs travel in context variables, so every record written while a request or a job is
handled names it, whichever module wrote it. Query strings never reach a line (OAuth codes
arrive in them), and the last line of defence masks token-like parameters in any message.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO, TypeVar

T = TypeVar("T")

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)

FORMATS = ("json", "text")
# What an incoming X-Request-ID may look like to be kept (a load balancer's own ID).
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
# Parameters and headers that carry secrets in Bitrix24's protocol, masked wherever they appear.
_SECRET_NAMES = r"(?:access_token|refresh_token|client_secret|application_token|auth_id|refresh_id)"
_SECRET_PARAMS = re.compile(
    rf"(?i)(\b[\w%\[\]]*?{_SECRET_NAMES}(?:%5D|\])?=|[?&](?:code|state)=)([^&\s\"'<>]+)"
)
_SECRET_JSON = re.compile(rf'(?i)("{_SECRET_NAMES}"\s*:\s*")[^"]*')
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/\s@]*:)[^@\s/]+@")
_HANDLER_NAME = "b24app-structured"
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "request_id",
    "job_id",
    "ids",
}


def redact(text: str) -> str:
    """Mask token-like query parameters, bearer tokens and URL passwords in a text."""
    text = _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}[redacted]", text)
    text = _SECRET_JSON.sub(lambda m: f"{m.group(1)}[redacted]", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}[redacted]", text)
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}[redacted]@", text)


class ContextFilter(logging.Filter):
    """Stamps each record with the request and job it was written for."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add ``request_id`` and ``job_id`` (None outside a request or job)."""
        record.request_id = request_id.get()
        record.job_id = job_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, IDs, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key in ("request_id", "job_id"):
            value = getattr(record, key, None)
            if value:
                entry[key] = value
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in entry and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool) else redact(str(value))
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Readable lines for development, with the same IDs and the same masking."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(ids)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The record as text (a traceback follows on its own lines)."""
        ids = [
            f"{key}={value}"
            for key in ("request_id", "job_id")
            if (value := getattr(record, key, None))
        ]
        record.ids = f" [{' '.join(ids)}]" if ids else ""
        return redact(super().format(record))


def configure(log_format: str, *, level: int = logging.INFO) -> logging.StreamHandler[TextIO]:
    """Send the app's records (logger ``b24app``) to stderr, one line each (idempotent)."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    logger = logging.getLogger("b24app")
    handler = next(
        (h for h in logger.handlers if h.get_name() == _HANDLER_NAME),
        None,
    )
    if not isinstance(handler, logging.StreamHandler):
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name(_HANDLER_NAME)
        handler.addFilter(ContextFilter())
        logger.addHandler(handler)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
    return handler


def new_request_id(incoming: str | None) -> str:
    """The ID of a request: the load balancer's X-Request-ID when well-formed, else a new one."""
    if incoming and REQUEST_ID_PATTERN.match(incoming):
        return incoming
    return uuid.uuid4().hex


@contextmanager
def job_context(job: str) -> Iterator[None]:
    """Records written inside name this job."""
    token = job_id.set(job)
    try:
        yield
    finally:
        job_id.reset(token)


def carrying_context(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` bound to the caller's context (request and job IDs) for another thread."""
    context = contextvars.copy_context()

    def run(*args: Any, **kwargs: Any) -> T:
        # a copy per call: one Context cannot be entered by two threads at once
        return context.copy().run(fn, *args, **kwargs)

    return run
