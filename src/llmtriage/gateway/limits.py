"""Per-key budgets (USD per UTC day and month) and rate limits (requests and tokens per minute).

A request first *reserves* its worst-case cost and tokens; the reservation is checked against
what was spent plus what is already reserved, and both are updated in one step, so
concurrent requests can never overspend by more than the difference between what they
reserved and what they really cost. After the call the reservation is *settled* with the real
cost. Check-and-reserve runs on the event loop with no ``await`` inside, which makes it atomic
for one gateway process; replicas sharing a budget need the shared (Redis) ledger of the
scale-out issue. At start the spend of the current day and month is read back from the
store's ledger, so a restart does not reset a budget.

Rate windows are 60 one-second buckets per key: memory is bounded whatever the traffic.
"""

from __future__ import annotations

import calendar
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from llmtriage.exceptions import BudgetExceeded, RateLimited
from llmtriage.gateway.auth import ClientKey
from llmtriage.store.base import spend_periods

WINDOW_S = 60


@dataclass(slots=True)
class Reservation:
    key: str
    periods: tuple[str, str]
    usd: float
    tokens: int


class _Window:
    """Counts over the last minute in one-second buckets."""

    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets: deque[list[int]] = deque()  # [second, amount]
        self.total = 0

    def prune(self, now: int) -> None:
        while self.buckets and self.buckets[0][0] <= now - WINDOW_S:
            self.total -= self.buckets.popleft()[1]

    def add(self, now: int, amount: int) -> None:
        if self.buckets and self.buckets[-1][0] == now:
            self.buckets[-1][1] += amount
        else:
            self.buckets.append([now, amount])
        self.total += amount

    def retry_after(self, now: int) -> float:
        return float(self.buckets[0][0] + WINDOW_S - now) if self.buckets else 1.0


def _until_next_period(ts: float, period: str) -> float:
    t = time.gmtime(ts)
    if period.startswith("d:"):
        end = calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0)) + 86400
    else:
        year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
        end = calendar.timegm((year, month, 1, 0, 0, 0))
    return max(1.0, end - ts)


class Limiter:
    """Budgets and rate limits of every key, for one gateway process."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._spent: dict[tuple[str, str], float] = {}
        self._reserved: dict[str, float] = {}
        self._reserved_tokens: dict[str, int] = {}
        self._requests: dict[str, _Window] = {}
        self._tokens: dict[str, _Window] = {}

    def load(self, spent: dict[tuple[str, str], float]) -> None:
        """Spend already in the ledger (at start)."""
        self._spent.update(spent)

    def periods(self) -> list[str]:
        return list(spend_periods(self._clock()))

    def spent(self, key: str, period: str) -> float:
        return self._spent.get((key, period), 0.0)

    def reserved(self, key: str) -> float:
        return self._reserved.get(key, 0.0)

    def reserve(self, key: ClientKey, usd: float, tokens: int, ts: float) -> Reservation:
        """Reserve a request's worst case, or raise BudgetExceeded / RateLimited."""
        lim, name = key.limits, key.name
        periods = spend_periods(ts)
        held = self._reserved.get(name, 0.0)
        for period, budget, what in (
            (periods[0], lim.budget_usd_per_day, "daily"),
            (periods[1], lim.budget_usd_per_month, "monthly"),
        ):
            if budget is not None and self.spent(name, period) + held + usd > budget:
                raise BudgetExceeded(
                    f"key {name!r} would exceed its {what} budget of ${budget:g} "
                    f"(spent ${self.spent(name, period):.6f}, in flight ${held:.6f}, "
                    f"this request may cost up to ${usd:.6f})",
                    _until_next_period(ts, period),
                )
        now = int(self._clock())
        in_flight = self._reserved_tokens.get(name, 0)
        for limit, windows, amount, what in (
            (lim.requests_per_minute, self._requests, 1, "requests"),
            (lim.tokens_per_minute, self._tokens, in_flight + tokens, "tokens"),
        ):
            if limit is not None:
                window = windows.setdefault(name, _Window())
                window.prune(now)
                if window.total + amount > limit:
                    raise RateLimited(
                        f"key {name!r} is over its limit of {limit} {what} per minute",
                        window.retry_after(now),
                    )
        if lim.requests_per_minute is not None:
            self._requests[name].add(now, 1)
        self._reserved[name] = held + usd
        self._reserved_tokens[name] = in_flight + tokens
        return Reservation(name, periods, usd, tokens)

    def settle(self, res: Reservation, usd: float, tokens: int) -> None:
        """Replace a reservation by what the request really cost and used."""
        name = res.key
        self._reserved[name] = max(0.0, self._reserved.get(name, 0.0) - res.usd)
        self._reserved_tokens[name] = max(0, self._reserved_tokens.get(name, 0) - res.tokens)
        for period in res.periods:
            self._spent[(name, period)] = self.spent(name, period) + usd
        if name in self._tokens and tokens:
            self._tokens[name].add(int(self._clock()), tokens)
