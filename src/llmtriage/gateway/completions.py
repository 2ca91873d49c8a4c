"""POST /v1/chat/completions: parse once, route, call, answer, log.

Streaming and non-streaming share the accounting in ``_settle`` (usage, cost, headers, log).
A stream is held until the upstream has produced its first chunk, so an upstream failure
before that is a clean HTTP error, never a 200 with an error inside.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from llmtriage.exceptions import ProviderError, ProviderHTTPError, TriageError
from llmtriage.gateway.errors import PayloadTooLarge, error_body, error_response
from llmtriage.gateway.parse import chat_request, json_body
from llmtriage.gateway.runtime import Gateway, Route
from llmtriage.store.base import RequestRecord
from llmtriage.types import ChatRequest, content_text

JSON_TYPE = "application/json"


def new_request_id() -> str:
    return "req_" + os.urandom(12).hex()


async def read_body(gw: Gateway, request: Request) -> bytes:
    limit = gw.config.gateway.max_body_bytes
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"request body exceeds {limit} bytes", "body")
    raw = await request.body()
    if len(raw) > limit:
        raise PayloadTooLarge(f"request body exceeds {limit} bytes", "body")
    return raw


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

    def start(self, req: ChatRequest, route: Route, key_name: str | None) -> None:
        rec = self.rec
        rec.requested_model, rec.key_name = req.model, key_name
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
            "x-triage-cost-usd": f"{cost:.8f}" + (" (estimated)" if estimated else ""),
            "x-triage-overhead-ms": f"{overhead:.3f}",
        }

    def attempt(self, status: int, error: str | None = None) -> None:
        self.rec.attempts.append(
            {
                "model": self.rec.model,
                "status": status,
                "ms": round(self.upstream_s * 1000, 3),
                **({"error": error[:300]} if error else {}),
            }
        )

    def fail(self, exc: TriageError) -> Response:
        self.rec.status = error_response(exc).status_code
        self.rec.error = str(exc)[:500]
        self.rec.latency_ms = (time.perf_counter() - self.t0) * 1000
        self.gw.finish(self.rec)
        return error_response(exc, {"x-triage-request-id": self.rec.id})


def _settle(
    call: Call,
    req: ChatRequest,
    usage: dict[str, Any] | None,
    meta: dict[str, Any],
    output_text: str,
) -> tuple[float, bool]:
    """Fill tokens and cost into the record; returns (cost, estimated)."""
    gw, rec = call.gw, call.rec
    estimated = bool(meta.get("usage_estimated"))
    if usage and isinstance(usage.get("prompt_tokens"), int):
        rec.prompt_tokens = usage["prompt_tokens"]
        rec.completion_tokens = int(usage.get("completion_tokens") or 0)
    else:
        rec.prompt_tokens, rec.completion_tokens = gw.estimate_tokens(req, output_text)
        estimated = True
    model = rec.model or ""
    recorded = meta.get("cost_usd")
    cost = (
        float(recorded)
        if recorded is not None
        else gw.cost(model, rec.prompt_tokens, rec.completion_tokens)
    )
    frontier = gw.cost(gw.frontier, rec.prompt_tokens, rec.completion_tokens)
    rec.cost_usd, rec.usage_estimated = cost, estimated
    rec.counterfactual_cost_usd = max(frontier, cost)
    return cost, estimated


async def chat_completions(gw: Gateway, request: Request) -> Response:
    call = Call(gw, request)
    try:
        key = gw.keys.check(request.headers.get("authorization"))
        body = json_body(await read_body(gw, request))
        req = chat_request(body)
        route = gw.resolve(req)
    except TriageError as exc:
        return call.fail(exc)
    call.start(req, route, key.name if key else None)
    provider = gw.providers[route.model]
    timeouts = gw.timeouts[route.tier]
    if body.get("stream"):
        return await _stream(call, req, body, provider.stream(body, timeouts))
    started = time.perf_counter()
    try:
        completion = await provider.complete(body, timeouts)
    except ProviderError as exc:
        call.upstream_s = time.perf_counter() - started
        call.attempt(getattr(exc, "status", 0), str(exc))
        return call.fail(exc)
    call.upstream_s = time.perf_counter() - started
    call.attempt(200)
    meta = completion.pop("llmtriage", None) or {}
    choices = completion.get("choices") or [{}]
    text = content_text((choices[0].get("message") or {}).get("content"))
    cost, estimated = _settle(call, req, completion.get("usage"), meta, text)
    headers = call.headers(cost, estimated)
    call.rec.latency_ms = (time.perf_counter() - call.t0) * 1000
    gw.finish(call.rec)
    return Response(orjson.dumps(completion), 200, headers, JSON_TYPE)


def _sse(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


async def _stream(
    call: Call, req: ChatRequest, body: dict[str, Any], chunks: AsyncIterator[dict[str, Any]]
) -> Response:
    started = time.perf_counter()
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        return call.fail(ProviderError(f"{call.rec.model}: empty stream"))
    except ProviderError as exc:
        call.upstream_s = time.perf_counter() - started
        call.attempt(getattr(exc, "status", 0), str(exc))
        return call.fail(exc)
    call.upstream_s = time.perf_counter() - started
    call.rec.stream = True
    call.rec.ttft_ms = (time.perf_counter() - call.t0) * 1000
    wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    # the stream's real cost is known at its end (in the log); the header carries the estimate
    estimate = next(
        (e["cost_usd"] for e in call.rec.estimates or () if e["model"] == call.rec.model), 0.0
    )
    headers = call.headers(estimate, True)
    return StreamingResponse(
        _relay(call, req, first, chunks, wants_usage), 200, headers, "text/event-stream"
    )


async def _relay(
    call: Call,
    req: ChatRequest,
    first: dict[str, Any],
    chunks: AsyncIterator[dict[str, Any]],
    wants_usage: bool,
) -> AsyncIterator[bytes]:
    """Forward chunks; collect text and usage; end with [DONE] or an error event."""
    usage: dict[str, Any] | None = None
    meta: dict[str, Any] = {}
    parts: list[str] = []
    chunk: dict[str, Any] | None = first
    try:
        while chunk is not None:
            meta = chunk.pop("llmtriage", None) or meta
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                if isinstance(delta.get("content"), str):
                    parts.append(delta["content"])
            if chunk.get("choices") or wants_usage:
                yield _sse(chunk)
            chunk = await anext(chunks, None)
        call.attempt(200)
        yield b"data: [DONE]\n\n"
    except ProviderError as exc:
        status = exc.status if isinstance(exc, ProviderHTTPError) else 502
        call.attempt(status, str(exc))
        call.rec.status, call.rec.error = 502, str(exc)[:500]
        yield _sse(error_body(exc))
    finally:
        _settle(call, req, usage, meta, "".join(parts))
        call.rec.latency_ms = (time.perf_counter() - call.t0) * 1000
        call.gw.finish(call.rec)
