"""The one error tree of llmtriage.

    TriageError
    ├── ConfigError          bad configuration or artifact; raised at start-up, names the key path
    ├── DataError            a dataset file not in the tidy format (names file, row, column)
    ├── RequestError         bad client input                                   → HTTP 400
    ├── RoutingError         the router could not decide (no eligible model)    → HTTP 503
    ├── ProviderError        a model provider failed                            → HTTP 502
    │   ├── ProviderHTTPError    upstream answered with an error status
    │   └── AllProvidersFailed   every attempt failed; lists them
    └── LimitExceeded        a key is over a limit (with retry_after)           → HTTP 429
        ├── BudgetExceeded       its USD budget per day or month
        └── RateLimited          its requests or tokens per minute

Errors are raised at the boundary where they are detected and mapped to HTTP statuses in one
table in the gateway; nothing here imports anything else from the package.
"""

from __future__ import annotations


class TriageError(Exception):
    """Base of every error llmtriage raises on purpose."""


class ConfigError(TriageError):
    """Configuration (or a trained artifact) is invalid; the message names the key path."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class DataError(TriageError):
    """A dataset file does not match the tidy format of DESIGN.md §3.3."""


class RequestError(TriageError):
    """The client sent something invalid; ``field`` names the offending field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class RoutingError(TriageError):
    """No model can be chosen for a request (e.g. every model is excluded by a threshold)."""


class ProviderError(TriageError):
    """A model provider failed."""


class ProviderHTTPError(ProviderError):
    """The upstream answered with an error status."""

    def __init__(
        self, status: int, provider: str, model: str, body: str, retry_after: float | None = None
    ) -> None:
        self.status = status
        self.provider = provider
        self.model = model
        self.body = body
        self.retry_after = retry_after  # seconds the upstream asked us to wait, if it did
        super().__init__(f"{provider}/{model} answered HTTP {status}: {body[:200]}")


class AllProvidersFailed(ProviderError):
    """Every attempt (retries, fallbacks, escalations) failed; ``attempts`` lists them."""

    def __init__(self, attempts: list[str]) -> None:
        self.attempts = attempts
        tried = "; ".join(attempts) if attempts else "no model available (circuits open)"
        super().__init__(f"all providers failed after {len(attempts)} attempts: {tried}")


class LimitExceeded(TriageError):
    """A key is over one of its limits; ``retry_after`` says when it may try again (s)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class BudgetExceeded(LimitExceeded):
    """A key's spending budget would be exceeded."""


class RateLimited(LimitExceeded):
    """A key's request or token rate limit is hit."""
