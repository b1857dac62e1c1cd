"""Proactive pacing of REST calls to one portal: its leaky bucket and per-method budgets.

Bitrix24 admits ``burst`` requests at once and ``drain`` more a second (503
QUERY_LIMIT_EXCEEDED past that), and blocks a method with 429 OPERATION_TIME_LIMIT once its
execution time in the last ten minutes passes a budget (480 s). The pacer keeps the app under
both: a request waits for room in the bucket, and a call of a method waits until the budget
that the portal's last ``time`` block reported (``operating``, ``operating_reset_at``) plus what
calls in flight have reserved leaves room for it. The state lives in the app's database (in
Redis when ``REDIS_URL`` is set), so every thread and process of the app shares it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class RateState(Protocol):
    """Where the shared pacing state lives: the app's database, or Redis with REDIS_URL."""

    def change_rate_state(
        self,
        kind: str,
        key: Mapping[str, Any],
        default: Mapping[str, Any],
        change: Callable[[dict[str, Any]], tuple[dict[str, Any] | None, T]],
    ) -> T:
        """Read one bucket or budget, apply ``change``, write it back (compare-and-swap)."""


# Requests kept free in the bucket: the portal counts arrivals, we count departures.
BUCKET_HEADROOM = 2
# A reservation older than this belongs to a call that died with its process.
RESERVATION_TTL = 120.0
# ``operating_reset_at`` is a whole second: the oldest charge leaves within a second after it.
RESET_SLACK = 1.0
# How often a waiting call looks again (other calls may free room meanwhile).
POLL_SECONDS = 0.25


@dataclass(frozen=True)
class RatePlan:
    """A portal's limits as the app paces them (defaults: every plan but Enterprise)."""

    burst: int = 50
    drain_per_sec: float = 2.0
    method_budget_s: float = 480.0
    # After a 429 that came with no usable reset time (CASE-19: about a minute).
    blocked_pause_s: float = 60.0


@dataclass(frozen=True)
class Observation:
    """What one answer's ``time`` block says about one method."""

    operating: float | None
    reset_at: float | None
    processing: float | None
    finished: float


class Pacer(Protocol):
    """Holds calls back until the portal's limits leave room for them."""

    def acquire(self, charges: Mapping[str, int]) -> dict[str, float]:
        """Wait for one request in the bucket and budget for these calls (method -> count).

        Answers the seconds of budget reserved per method, to hand back to ``release``.
        """

    def release(self, reserved: Mapping[str, float], seen: Mapping[str, Observation]) -> None:
        """The request ended: free its reservations and learn from its ``time`` blocks."""

    def blocked(self, method: str, reset_at: float | None) -> None:
        """The portal answered 429 for this method: pause it (only it) until its reset."""

    def congested(self) -> None:
        """The portal answered 503 QUERY_LIMIT_EXCEEDED: treat the bucket as full."""


class NoPacer:
    """No proactive pacing (scripted far sides in tests)."""

    def acquire(self, charges: Mapping[str, int]) -> dict[str, float]:
        """Go at once."""
        return {}

    def release(self, reserved: Mapping[str, float], seen: Mapping[str, Observation]) -> None:
        """Nothing to free."""

    def blocked(self, method: str, reset_at: float | None) -> None:
        """Nothing to remember."""

    def congested(self) -> None:
        """Nothing to remember."""


def observation(block: Any, received: float) -> Observation | None:
    """Read a ``time`` block (any of its fields may be missing or malformed)."""
    if not isinstance(block, dict):
        return None
    return Observation(
        operating=_number(block.get("operating")),
        reset_at=_number(block.get("operating_reset_at")),
        processing=_number(block.get("processing")) or _number(block.get("duration")),
        finished=received,
    )


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


class SharedPacer:
    """A pacer whose state is shared by every process (one bucket per portal)."""

    def __init__(
        self,
        db: RateState,
        portal: str,
        plan: RatePlan | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.db = db
        self.portal = portal
        self.plan = plan or RatePlan()
        self.clock = clock
        self.sleep = sleep
        self.poll = poll
        self.waited = 0.0

    # -- the bucket -----------------------------------------------------------------------

    def _take_request(self) -> float:
        """Take one request from the bucket; 0 when taken, else the seconds to wait."""
        now = self.clock()

        def change(row: dict[str, Any]) -> tuple[dict[str, Any] | None, float]:
            drain = float(row["drain"])
            capacity = max(1.0, float(row["burst"]) - BUCKET_HEADROOM)
            level = max(0.0, float(row["level"]) - (now - float(row["level_at"])) * drain)
            if level + 1 <= capacity:
                return {**row, "level": level + 1, "level_at": now}, 0.0
            return None, (level + 1 - capacity) / drain

        return self.db.change_rate_state(
            "bucket",
            {"portal": self.portal},
            {
                "burst": self.plan.burst,
                "drain": self.plan.drain_per_sec,
                "level": 0.0,
                "level_at": now,
            },
            change,
        )

    def congested(self) -> None:
        """Mark the bucket full, so that every thread and process slows down together."""
        now = self.clock()
        self.db.change_rate_state(
            "bucket",
            {"portal": self.portal},
            {"burst": self.plan.burst, "drain": self.plan.drain_per_sec, "level": 0, "level_at": 0},
            lambda row: ({**row, "level": float(row["burst"]), "level_at": now}, None),
        )

    # -- method budgets -------------------------------------------------------------------

    def _budget_default(self, now: float) -> dict[str, Any]:
        return {
            "operating": 0.0,
            "reset_at": 0.0,
            "observed_at": 0.0,
            "cost": 0.0,
            "reserved": 0.0,
            "reserved_at": now,
            "blocked_until": 0.0,
        }

    def _reserve(self, method: str, count: int) -> tuple[float, float]:
        """Reserve budget for ``count`` calls: (seconds to wait, 0) or (0, seconds reserved)."""
        now = self.clock()
        budget = self.plan.method_budget_s

        def change(row: dict[str, Any]) -> tuple[dict[str, Any] | None, tuple[float, float]]:
            if row["blocked_until"] > now:
                return None, (row["blocked_until"] - now, 0.0)
            reserved = row["reserved"] if now - row["reserved_at"] < RESERVATION_TTL else 0.0
            need = count * row["cost"]
            reset = row["reset_at"] + RESET_SLACK
            if now >= reset:
                # The oldest charge has left the window, but how much went with it the portal
                # tells only in its next answer: let one call at a time find out.
                if reserved > 0:
                    return None, (self.poll, 0.0)
            elif row["operating"] + reserved + need > budget:
                return None, (min(reset - now, self.poll) if reserved > 0 else reset - now, 0.0)
            return {**row, "reserved": reserved + need, "reserved_at": now}, (0.0, need)

        return self.db.change_rate_state(
            "budget", {"portal": self.portal, "method": method}, self._budget_default(now), change
        )

    def _settle(self, method: str, amount: float, seen: Observation | None) -> None:
        now = self.clock()

        def change(row: dict[str, Any]) -> tuple[dict[str, Any] | None, None]:
            new = dict(row)
            left = row["reserved"] - amount
            new["reserved"] = left if left > 1e-9 else 0.0
            if seen is not None:
                if seen.processing is not None:
                    cost = row["cost"]
                    new["cost"] = (
                        seen.processing if cost == 0 else 0.7 * cost + 0.3 * seen.processing
                    )
                if seen.operating is not None and seen.finished >= row["observed_at"]:
                    new["operating"] = seen.operating
                    new["observed_at"] = seen.finished
                    if seen.reset_at is not None:
                        new["reset_at"] = seen.reset_at
            return new, None

        self.db.change_rate_state(
            "budget", {"portal": self.portal, "method": method}, self._budget_default(now), change
        )

    def blocked(self, method: str, reset_at: float | None) -> None:
        """Pause one method until its budget frees (or for ``blocked_pause_s``)."""
        now = self.clock()

        def change(row: dict[str, Any]) -> tuple[dict[str, Any] | None, None]:
            # The reset the 429 named, else the one the last answer named, else a pause.
            known = reset_at if reset_at is not None else row["reset_at"]
            until = known + RESET_SLACK if known > now else now + self.plan.blocked_pause_s
            return {
                **row,
                "blocked_until": max(row["blocked_until"], until),
                "operating": max(row["operating"], self.plan.method_budget_s),
                "reset_at": until - RESET_SLACK,
                "observed_at": now,
            }, None

        self.db.change_rate_state(
            "budget", {"portal": self.portal, "method": method}, self._budget_default(now), change
        )

    def blocked_until(self, method: str) -> float:
        """When a blocked method may be called again (0: it is not blocked)."""
        return self.db.change_rate_state(
            "budget",
            {"portal": self.portal, "method": method},
            self._budget_default(self.clock()),
            lambda row: (None, float(row["blocked_until"])),
        )

    # -- the pacer ------------------------------------------------------------------------

    def _wait(self, seconds: float) -> None:
        self.waited += seconds
        self.sleep(seconds)

    def acquire(self, charges: Mapping[str, int]) -> dict[str, float]:
        """Wait for the budget of every method charged, then for a request in the bucket."""
        reserved: dict[str, float] = {}
        try:
            for method, count in sorted(charges.items()):
                while True:
                    wait, amount = self._reserve(method, count)
                    if wait <= 0:
                        break
                    self._wait(wait)
                reserved[method] = amount
            while (wait := self._take_request()) > 0:
                self._wait(wait)
        except BaseException:
            self.release(reserved, {})
            raise
        return reserved

    def release(self, reserved: Mapping[str, float], seen: Mapping[str, Observation]) -> None:
        """Free reservations; remember each method's latest operating time and cost."""
        for method in sorted(set(reserved) | set(seen)):
            self._settle(method, reserved.get(method, 0.0), seen.get(method))


__all__ = ["NoPacer", "Observation", "Pacer", "RatePlan", "SharedPacer", "observation"]
