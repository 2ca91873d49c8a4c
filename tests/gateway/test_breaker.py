"""The circuit breaker's state machine, on a controlled clock."""

from __future__ import annotations

from llmtriage.config import BreakerConfig
from llmtriage.gateway.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_failures_in_window_only() -> None:
    clock = Clock()
    b = CircuitBreaker("m", BreakerConfig(failures=3, window_s=10, cooldown_s=5), clock)
    b.failure()
    clock.now = 11  # the first failure has left the window
    b.failure()
    b.failure()
    assert b.state == CLOSED and b.allow()
    b.failure()
    assert b.state == OPEN and not b.allow()


def test_half_open_lets_one_probe_and_closes_or_reopens() -> None:
    clock = Clock()
    b = CircuitBreaker("m", BreakerConfig(failures=1, window_s=10, cooldown_s=5), clock)
    b.failure()
    clock.now = 4.9
    assert not b.allow()
    clock.now = 5.0
    assert b.allow() and b.state == HALF_OPEN
    assert not b.allow()  # one probe at a time
    b.failure()
    assert b.state == OPEN and not b.allow()
    clock.now = 10.0
    assert b.allow()
    b.success()
    assert b.state == CLOSED and b.allow() and b.allow()


def test_a_probe_that_never_reports_does_not_block_forever() -> None:
    clock = Clock()
    b = CircuitBreaker("m", BreakerConfig(failures=1, window_s=10, cooldown_s=5), clock)
    b.failure()
    clock.now = 5.0
    assert b.allow()  # the probe's call is cancelled and never reports
    clock.now = 9.9
    assert not b.allow()
    clock.now = 10.0
    assert b.allow()
