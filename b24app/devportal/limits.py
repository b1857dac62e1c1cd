"""Request-rate (leaky bucket) and per-method operating-time limits of one portal."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from .errors import RestError

DEFAULT_COSTS: dict[str, float] = {
    "crm.contact.list": 0.1,
    "crm.lead.list": 0.1,
    "crm.company.list": 0.1,
    "crm.deal.list": 0.1,
    "crm.item.list": 0.1,
    "crm.entity.mergebatch": 2.0,
}


@dataclass
class Limits:
    """Switchable limits; costs are charged to a virtual clock (optionally slept * sleep_factor)."""

    enabled: bool = False
    bucket_size: int = 50
    drain_per_sec: float = 2.0
    operating_limit_s: float = 480.0
    operating_window_s: float = 600.0
    default_cost: float = 0.05
    costs: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_COSTS))
    sleep_factor: float = 0.0
    clock_offset: float = 0.0
    _level: float = 0.0
    _level_at: float = field(default_factory=time.time)
    _spent: dict[str, deque[tuple[float, float]]] = field(default_factory=dict)

    def now(self) -> float:
        """Return the limiter's clock (wall time plus clock_offset)."""
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> None:
        """Move the limiter's clock forward (tests use this instead of sleeping)."""
        self.clock_offset += seconds

    def reset(self) -> None:
        """Forget the bucket level and the operating time spent."""
        self._level = 0.0
        self._level_at = self.now()
        self._spent.clear()

    def cost(self, method: str) -> float:
        """Return the operating time one call of the method costs."""
        return self.costs.get(method.lower(), self.default_cost)

    def admit_request(self) -> None:
        """Count one HTTP request in the leaky bucket, or raise 503 QUERY_LIMIT_EXCEEDED."""
        now = self.now()
        self._level = max(0.0, self._level - (now - self._level_at) * self.drain_per_sec)
        self._level_at = now
        if not self.enabled:
            return
        if self._level + 1 > self.bucket_size:
            raise RestError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
        self._level += 1

    def _window(self, method: str) -> deque[tuple[float, float]]:
        spent = self._spent.setdefault(method.lower(), deque())
        horizon = self.now() - self.operating_window_s
        while spent and spent[0][0] <= horizon:
            spent.popleft()
        return spent

    def operating(self, method: str) -> float:
        """Return the method's operating time summed over the window."""
        return round(sum(cost for _, cost in self._window(method)), 6)

    def reset_at(self, method: str) -> int:
        """Return the unix time the oldest charge of the method leaves the window."""
        spent = self._window(method)
        oldest = spent[0][0] if spent else self.now()
        return int(oldest + self.operating_window_s)

    def check_method(self, method: str) -> None:
        """Raise 429 OPERATION_TIME_LIMIT when the method's budget is used up."""
        if self.enabled and self.operating(method) >= self.operating_limit_s:
            raise RestError(
                429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit."
            )

    def charge(self, method: str) -> float:
        """Charge one call of the method and return its cost."""
        cost = self.cost(method)
        self._window(method).append((self.now(), cost))
        return cost
