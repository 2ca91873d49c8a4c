"""One request's bookkeeping, from arrival to its log record."""

from __future__ import annotations

import os
import time

from starlette.requests import Request
from starlette.responses import Response

from llmtriage.exceptions import TriageError
from llmtriage.gateway.auth import ClientKey
from llmtriage.gateway.errors import error_response
from llmtriage.gateway.limits import Reservation
from llmtriage.gateway.runtime import Gateway, Route
from llmtriage.store.base import RequestRecord
from llmtriage.types import ChatRequest


def new_request_id() -> str:
    return "req_" + os.urandom(12).hex()


class Call:
    """One request's bookkeeping from arrival to the log record."""

    def __init__(self, gw: Gateway, request: Request) -> None:
        self.gw = gw
        self.t0 = time.perf_counter()
        self.upstream_s = 0.0
        self.rec = RequestRecord(
            id=new_request_id(), ts=time.time(), requested_model="", status=200
        )
        self.session_header = request.headers.get("x-triage-session-id")
        self.reservation: Reservation | None = None
        self.finished = False

    def requested(self, key: ClientKey | None, model: object) -> None:
        """Who asked for which model, known before the request is validated and routed, so
        a refused request's record says it too."""
        self.rec.key_name = key.name if key else None
        if isinstance(model, str):
            self.rec.requested_model = model[:200]

    def start(self, req: ChatRequest, route: Route) -> None:
        """The request is valid and routed (``requested`` has recorded who asked)."""
        rec = self.rec
        rec.session_id = self.session_header or req.session_id
        rec.model, rec.tier = route.model, route.tier
        if route.decision is not None:
            rec.router = route.decision.router
            rec.estimates = [
                {"model": e.model, "quality": round(e.quality, 4), "cost_usd": e.cost_usd}
                for e in route.decision.estimates
            ]
        rec.prompt_hash, rec.prompt = self.gw.prompt_fields(req)

    def headers(self, cost: float, estimated: bool) -> dict[str, str]:
        overhead = (time.perf_counter() - self.t0 - self.upstream_s) * 1000
        self.rec.overhead_ms = overhead
        return {
            "x-triage-request-id": self.rec.id,
            "x-triage-tier": self.rec.tier or "",
            "x-triage-model": self.rec.model or "",
            "x-triage-cost-usd": f"{cost:.8f}",
            # an estimate when the upstream reported no usage, and on a stream (headers go
            # out before its usage); the request log holds the final figure
            "x-triage-cost-estimated": "true" if estimated else "false",
            "x-triage-overhead-ms": f"{overhead:.3f}",
        }

    def attempt(self, model: str, status: int, seconds: float, error: str | None = None) -> None:
        """Record one upstream attempt (status 0: no HTTP status, e.g. a timeout)."""
        self.upstream_s += seconds
        self.rec.attempts.append(
            {
                "model": model,
                "status": status,
                "ms": round(seconds * 1000, 3),
                **({"error": error[:300]} if error else {}),
            }
        )

    def served(self, model: str, tier: str) -> None:
        """The model (maybe a fallback) that answered."""
        self.rec.model, self.rec.tier = model, tier

    def attempt_lines(self) -> list[str]:
        return [
            f"{a['model']}: " + (a.get("error") or f"HTTP {a['status']}") for a in self.rec.attempts
        ]

    def reserve(self, key: ClientKey, worst_usd: float, worst_tokens: int) -> None:
        """Hold the request's worst case against the key's limits (raises when over)."""
        self.reservation = self.gw.limiter.reserve(key, worst_usd, worst_tokens, self.rec.ts)

    def finish(self) -> None:
        """The request is done: settle its reservation, account and log it (once)."""
        if self.finished:
            return
        self.finished = True
        rec = self.rec
        rec.latency_ms = (time.perf_counter() - self.t0) * 1000
        if self.reservation is not None:
            tokens = (rec.prompt_tokens or 0) + (rec.completion_tokens or 0)
            self.gw.limiter.settle(self.reservation, rec.cost_usd, tokens)
            self.reservation = None
        self.gw.finish(rec)

    def abandon(self, why: str) -> None:
        """Logged as unfinished (503): it was cancelled before it had an answer."""
        self.rec.status, self.rec.error = 503, why
        self.finish()

    def fail(self, exc: TriageError) -> Response:
        self.rec.status = error_response(exc).status_code
        self.rec.error = str(exc)[:500]
        self.finish()
        return error_response(exc, {"x-triage-request-id": self.rec.id})
