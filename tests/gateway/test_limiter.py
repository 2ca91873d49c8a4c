"""The Limiter on a fake clock: budget periods roll over, windows slide, Retry-After is right."""

from __future__ import annotations

import calendar

import pytest

from llmtriage.config import KeyLimits
from llmtriage.exceptions import BudgetExceeded, RateLimited
from llmtriage.gateway.auth import ClientKey
from llmtriage.gateway.limits import Limiter

NOON = calendar.timegm((2026, 12, 31, 12, 0, 0))  # the last day of a month and of a year


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def key(**limits: float) -> ClientKey:
    return ClientKey("k", KeyLimits.model_validate(limits), None)


def test_daily_budget_counts_in_flight_and_resets_at_utc_midnight() -> None:
    clock = Clock(NOON)
    lim, k = Limiter(clock), key(budget_usd_per_day=1.0)
    a = lim.reserve(k, 0.6, 0, clock.t)
    with pytest.raises(BudgetExceeded) as err:  # 0.6 in flight + 0.6 > 1.0
        lim.reserve(k, 0.6, 0, clock.t)
    assert err.value.retry_after == 12 * 3600
    lim.settle(a, 0.1, 0)  # it cost less than reserved: room again
    lim.settle(lim.reserve(k, 0.6, 0, clock.t), 0.6, 0)
    with pytest.raises(BudgetExceeded):
        lim.reserve(k, 0.4, 0, clock.t)
    clock.t += 12 * 3600  # 2027-01-01
    lim.reserve(k, 0.9, 0, clock.t)
    assert lim.spent("k", "d:2026-12-31") == pytest.approx(0.7)


def test_monthly_budget_retry_after_runs_to_the_first_of_next_month() -> None:
    clock = Clock(NOON)
    lim, k = Limiter(clock), key(budget_usd_per_month=1.0)
    lim.load({("k", "m:2026-12"): 0.95})  # spent before a restart
    with pytest.raises(BudgetExceeded) as err:
        lim.reserve(k, 0.1, 0, clock.t)
    assert "monthly" in str(err.value) and err.value.retry_after == 12 * 3600


def test_request_window_slides_after_a_minute() -> None:
    clock = Clock(NOON)
    lim, k = Limiter(clock), key(requests_per_minute=2)
    lim.reserve(k, 0.0, 0, clock.t)
    clock.t += 30
    lim.reserve(k, 0.0, 0, clock.t)
    with pytest.raises(RateLimited) as err:
        lim.reserve(k, 0.0, 0, clock.t)
    assert err.value.retry_after == 30  # the first request leaves the window then
    clock.t += 30
    lim.reserve(k, 0.0, 0, clock.t)


def test_tokens_in_flight_count_until_settled_with_what_was_used() -> None:
    clock = Clock(NOON)
    lim, k = Limiter(clock), key(tokens_per_minute=100)
    a = lim.reserve(k, 0.0, 80, clock.t)
    with pytest.raises(RateLimited, match="tokens per minute"):
        lim.reserve(k, 0.0, 30, clock.t)
    lim.settle(a, 0.0, 20)  # used 20 of the 80 reserved
    lim.reserve(k, 0.0, 80, clock.t)
    with pytest.raises(RateLimited):
        lim.reserve(k, 0.0, 1, clock.t)
