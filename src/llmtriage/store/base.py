"""What the gateway records, and the interface every store implements.

The request log is append-only: one ``RequestRecord`` per request, written in batches off
the request path (see writer.py). Feedback joins a request by its id (or a whole session).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class RequestRecord:
    """One request through the gateway, as logged."""

    id: str
    ts: float  # unix seconds when the request arrived
    requested_model: str
    status: int  # HTTP status returned to the client
    key_name: str | None = None
    session_id: str | None = None
    router: str | None = None
    tier: str | None = None
    model: str | None = None  # the model that answered (or was tried last)
    estimates: list[dict[str, Any]] | None = None  # the decision's per-model estimates
    attempts: list[dict[str, Any]] = field(default_factory=list)  # model, status, ms, error
    error: str | None = None
    stream: bool = False
    latency_ms: float | None = None
    ttft_ms: float | None = None  # time to first token (streaming)
    overhead_ms: float | None = None  # time spent in the gateway itself
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    usage_estimated: bool = False  # tokens (and so cost) estimated, not reported upstream
    cost_usd: float = 0.0
    counterfactual_cost_usd: float = 0.0  # the same request on the most expensive tier
    prompt_hash: str | None = None  # per store.prompt_storage: none | hash | full
    prompt: str | None = None


@dataclass(slots=True)
class FeedbackRecord:
    """A score for one request (or every request of a session)."""

    score: float
    ts: float
    request_id: str | None = None
    session_id: str | None = None
    metric: str | None = None
    comment: str | None = None
    key_name: str | None = None


@dataclass(slots=True)
class KeyRecord:
    """A client key kept in the store (only its hash); ``limits`` as in ``KeyLimits``."""

    name: str
    hash: str
    limits: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    revoked_at: float | None = None


def spend_periods(ts: float) -> tuple[str, str]:
    """The ledger periods of a unix time: its UTC day and month."""
    day = time.strftime("%Y-%m-%d", time.gmtime(ts))
    return "d:" + day, "m:" + day[:7]


class Store(ABC):
    """Synchronous storage API; the gateway calls it from worker threads, never the loop."""

    @abstractmethod
    def write_requests(self, records: list[RequestRecord]) -> None:
        """Append records atomically (all or none); ids already present are skipped."""

    @abstractmethod
    def add_feedback(self, feedback: FeedbackRecord) -> int:
        """Store feedback; returns how many logged requests it joins (0: unknown id)."""

    @abstractmethod
    def get_request(self, request_id: str) -> dict[str, Any] | None:
        """One logged request as a dict, or None."""

    @abstractmethod
    def count_requests(self) -> int:
        """Number of logged requests."""

    # Optional capabilities (keys and the spend ledger); a store without them says so.
    def add_key(self, key: KeyRecord) -> None:
        """Store a new key; ValueError if the name or hash is taken."""
        raise NotImplementedError(f"{type(self).__name__} does not store keys")

    def list_keys(self, include_revoked: bool = False) -> list[KeyRecord]:
        """Keys in the store, oldest first."""
        raise NotImplementedError(f"{type(self).__name__} does not store keys")

    def revoke_key(self, name: str) -> bool:
        """Revoke a key by name; False if no such active key."""
        raise NotImplementedError(f"{type(self).__name__} does not store keys")

    def spend(self, periods: list[str]) -> dict[tuple[str, str], float]:
        """USD spent per (key_name, period) for the given periods (see ``spend_periods``)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no spend ledger")

    def close(self) -> None:
        """Release connections."""
