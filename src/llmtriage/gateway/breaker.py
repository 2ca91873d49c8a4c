"""A circuit breaker per model, so a dead model costs nothing once its circuit is open.

closed --(``failures`` failures within ``window_s``)--> open --(``cooldown_s``)--> half-open:
one probe call is let through; its success closes the circuit, its failure opens it again.
State changes are logged and the states are shown by ``/healthz``.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from llmtriage.config import BreakerConfig

log = logging.getLogger("llmtriage.breaker")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    def __init__(
        self, model: str, config: BreakerConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.model = model
        self.config = config
        self.clock = clock
        self.state = CLOSED
        self.failures: deque[float] = deque()
        self.opened_at = 0.0
        self.probe_started: float | None = None

    def allow(self) -> bool:
        """May a call go to this model now? In half-open, only one probe at a time."""
        if self.state == CLOSED:
            return True
        now = self.clock()
        if self.state == OPEN and now - self.opened_at >= self.config.cooldown_s:
            self._set(HALF_OPEN, "cooldown over; letting one probe through")
        if self.state == HALF_OPEN:
            # a probe that never reported back (cancelled call) does not block forever
            stale = self.probe_started is None or now - self.probe_started >= self.config.cooldown_s
            if stale:
                self.probe_started = now
                return True
        return False

    @property
    def is_open(self) -> bool:
        return self.state == OPEN

    def success(self) -> None:
        self.failures.clear()
        self.probe_started = None
        if self.state != CLOSED:
            self._set(CLOSED, "probe succeeded")

    def failure(self) -> None:
        now = self.clock()
        if self.state == HALF_OPEN:
            self._open(now, "probe failed")
            return
        self.failures.append(now)
        while self.failures and now - self.failures[0] > self.config.window_s:
            self.failures.popleft()
        if self.state == CLOSED and len(self.failures) >= self.config.failures:
            self._open(now, f"{len(self.failures)} failures within {self.config.window_s:g}s")

    def _open(self, now: float, why: str) -> None:
        self.opened_at = now
        self.probe_started = None
        self.failures.clear()
        self._set(OPEN, why)

    def _set(self, state: str, why: str) -> None:
        log.warning("circuit for model %s: %s -> %s (%s)", self.model, self.state, state, why)
        self.state = state
