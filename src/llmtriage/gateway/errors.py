"""One table from our errors to HTTP statuses and OpenAI-style error bodies."""

from __future__ import annotations

import math

import orjson
from starlette.responses import Response

from llmtriage.exceptions import (
    AllProvidersFailed,
    BudgetExceeded,
    LimitExceeded,
    ProviderError,
    ProviderHTTPError,
    RateLimited,
    RequestError,
    RoutingError,
    TriageError,
)


class NotFound(RequestError):
    """An unknown model or request id (HTTP 404)."""


class Unauthorized(RequestError):
    """Missing or unknown API key (HTTP 401)."""


class Forbidden(RequestError):
    """The key may not use this model or tier, or the endpoint is disabled (HTTP 403)."""


class PayloadTooLarge(RequestError):
    """Request body above the configured limit (HTTP 413)."""


class UpstreamRejected(RequestError):
    """The upstream model refused the request itself (HTTP 400/413/422): the client's to fix."""


# Most specific first: the first matching class decides.
STATUS: tuple[tuple[type[TriageError], int, str], ...] = (
    (NotFound, 404, "not_found_error"),
    (Unauthorized, 401, "authentication_error"),
    (Forbidden, 403, "permission_error"),
    (PayloadTooLarge, 413, "invalid_request_error"),
    (RequestError, 400, "invalid_request_error"),
    (BudgetExceeded, 429, "budget_exceeded"),
    (RateLimited, 429, "rate_limit_error"),
    (RoutingError, 503, "routing_error"),
    (AllProvidersFailed, 502, "upstream_error"),
    (ProviderHTTPError, 502, "upstream_error"),
    (ProviderError, 502, "upstream_error"),
)


def status_of(exc: TriageError) -> tuple[int, str]:
    for cls, status, kind in STATUS:
        if isinstance(exc, cls):
            return status, kind
    return 500, "internal_error"


def error_body(exc: TriageError) -> dict[str, object]:
    status, kind = status_of(exc)
    field = getattr(exc, "field", None)
    return {"error": {"message": str(exc), "type": kind, "param": field, "code": status}}


def error_response(exc: TriageError, headers: dict[str, str] | None = None) -> Response:
    status, _ = status_of(exc)
    if isinstance(exc, LimitExceeded) and exc.retry_after is not None:
        headers = {**(headers or {}), "retry-after": str(math.ceil(exc.retry_after))}
    return Response(orjson.dumps(error_body(exc)), status, headers, "application/json")
