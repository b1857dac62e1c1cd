"""The pacer's shared state in Redis (when ``REDIS_URL`` is set) instead of the database.

The same contract as ``Database.change_rate_state``: read one row, let a function decide, write
it back only if nobody changed it meanwhile (WATCH/MULTI/EXEC), else read again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")

# Rows nobody touched for this long are dropped by Redis itself (a portal gone quiet).
ROW_TTL_SECONDS = 86_400


class RedisRateStore:
    """Rate rows as JSON strings under ``b24app:rate:<kind>:<key values>``."""

    def __init__(self, url: str, *, prefix: str = "b24app:rate") -> None:
        import redis

        self.redis = redis.Redis.from_url(url)
        self._watch_error = redis.WatchError
        self.prefix = prefix

    def _key(self, kind: str, key: Mapping[str, Any]) -> str:
        parts = [str(key[name]) for name in sorted(key)]
        return ":".join([self.prefix, kind, *parts])

    def change_rate_state(
        self,
        kind: str,
        key: Mapping[str, Any],
        default: Mapping[str, Any],
        change: Callable[[dict[str, Any]], tuple[dict[str, Any] | None, T]],
    ) -> T:
        """Read one rate row, apply ``change``, write the result back (compare-and-swap)."""
        name = self._key(kind, key)
        while True:
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(name)
                    raw = pipe.get(name)
                    if raw is None:
                        state = {**key, **default, "version": 0}
                    else:
                        state = {**json.loads(raw), **key}
                    new, answer = change(dict(state))
                    if new is None:
                        pipe.unwatch()
                        return answer
                    stored = {k: v for k, v in new.items() if k not in key}
                    stored["version"] = int(state.get("version") or 0) + 1
                    pipe.multi()
                    pipe.set(name, json.dumps(stored), ex=ROW_TTL_SECONDS)
                    pipe.execute()
                    return answer
                except self._watch_error:
                    continue  # another thread or process got in first: read theirs

    def ping(self) -> None:
        """Raise unless Redis answers."""
        self.redis.ping()
