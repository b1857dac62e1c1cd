"""What /healthz checks: the database always, Redis when ``REDIS_URL`` is configured."""

from __future__ import annotations

import logging
import threading
from typing import Any

from b24app.storage.db import Database

log = logging.getLogger(__name__)

_clients: dict[str, Any] = {}
_guard = threading.Lock()


def database_ok(db: Database) -> bool:
    """Whether the database answers a query."""
    try:
        db.ping()
    except Exception as exc:
        log.warning("health: the database does not answer (%s)", type(exc).__name__)
        return False
    return True


def _redis_client(url: str) -> Any:
    """One client (one connection pool) per process and URL."""
    import redis  # optional: the "redis" extra

    with _guard:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            _clients[url] = client
        return client


def redis_ok(url: str) -> bool:
    """Whether the Redis at ``url`` answers PING (False also when the package is missing)."""
    try:
        return bool(_redis_client(url).ping())
    except ImportError:
        log.warning("health: REDIS_URL is set but the redis package is not installed")
    except Exception as exc:
        # the exception's text may hold the URL and its password: name the type only
        log.warning("health: Redis does not answer (%s)", type(exc).__name__)
    return False


def report(db: Database, redis_url: str) -> tuple[bool, dict[str, str]]:
    """Whether everything configured answers, and a line per part for the answer."""
    parts = {"database": "ok" if database_ok(db) else "down"}
    if redis_url:
        parts["redis"] = "ok" if redis_ok(redis_url) else "down"
    healthy = all(value == "ok" for value in parts.values())
    return healthy, {"status": "ok" if healthy else "unavailable", **parts}
