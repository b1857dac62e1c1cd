"""The pacer's shared state in Redis, for installs that set ``REDIS_URL``.

Without Redis the state is rows of the app's database (``Database.change_rate_state``). With it,
each portal's bucket and each method's budget is one JSON value, changed with the same
read-change-write contract as the rows: an optimistic transaction (WATCH, then MULTI/EXEC),
retried when another thread or process changed the value first. Values expire an hour after
their last change; by then a bucket has drained and a budget's window has passed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import redis
from redis.exceptions import WatchError

T = TypeVar("T")
KEY_PREFIX = "b24app:rate"
TTL_SECONDS = 3600


class RedisRateState:
    """``change_rate_state`` over Redis (see ``b24app.storage.db.Database.change_rate_state``)."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)

    def _name(self, kind: str, key: Mapping[str, Any]) -> str:
        return f"{KEY_PREFIX}:{kind}:" + json.dumps([key[name] for name in sorted(key)])

    def change_rate_state(
        self,
        kind: str,
        key: Mapping[str, Any],
        default: Mapping[str, Any],
        change: Callable[[dict[str, Any]], tuple[dict[str, Any] | None, T]],
    ) -> T:
        """Read one state, apply ``change``, write it back unless someone wrote first."""
        name = self._name(kind, key)
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(name)
                    raw = pipe.get(name)
                    if raw is None:
                        state = {**default, "version": 0}
                    else:
                        state = json.loads(raw)
                    state.update(key)
                    new, answer = change(dict(state))
                    if new is None:
                        pipe.unwatch()
                        return answer
                    stored = {k: v for k, v in new.items() if k not in key}
                    stored["version"] = int(state["version"]) + 1
                    pipe.multi()
                    pipe.set(name, json.dumps(stored), ex=TTL_SECONDS)
                    pipe.execute()
                    return answer
                except WatchError:
                    continue  # changed meanwhile: read theirs
