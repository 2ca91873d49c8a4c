"""POST /v1/chat/completions: parse once, route, call (with fallback), answer, log.

Streaming and non-streaming share the accounting in ``_settle`` (usage, cost, headers, log).
A stream is held until the upstream has produced its first content chunk, so a failure before
that falls back (``attempts``) or becomes a clean HTTP error, never a 200 with an error inside;
a failure after it ends the stream with an error event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from llmtriage.exceptions import ProviderError, ProviderHTTPError, TriageError
from llmtriage.gateway import attempts
from llmtriage.gateway.call import Call
from llmtriage.gateway.errors import PayloadTooLarge, error_body
from llmtriage.gateway.parse import chat_request, json_body
from llmtriage.gateway.runtime import Gateway, Route
from llmtriage.routing.text import conversation_text
from llmtriage.types import ChatRequest, content_text

JSON_TYPE = "application/json"
logger = logging.getLogger(__name__)


async def read_body(gw: Gateway, request: Request) -> bytes:
    limit = gw.config.gateway.max_body_bytes
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"request body exceeds {limit} bytes", "body")
    # read in pieces and stop at the limit: a chunked body has no content-length to refuse
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds {limit} bytes", "body")
        parts.append(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def worst_case(
    gw: Gateway, req: ChatRequest, route: Route, body: dict[str, Any]
) -> tuple[float, int]:
    """(USD, tokens) a request may cost at most, over every model it may fall back to.

    Tokens are at most one per 3 characters of the conversation (English averages 4), plus
    a few per message; the output is ``max_tokens`` when the request sets it, else
    ``gateway.reserve_output_tokens``, times ``n``.
    """
    text_chars = len(conversation_text(req))
    prompt = text_chars // 3 + 8 * len(req.messages) + 8
    # parse.chat_request has checked these are integers >= 1 where set
    out = body.get("max_completion_tokens") or body.get("max_tokens")
    out = (out or gw.config.gateway.reserve_output_tokens) * (body.get("n") or 1)
    usd = max(gw.cost(m, prompt, out) for m in attempts.chain(gw, route))
    return usd, prompt + out


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
        return await _answer(gw, call, request)
    except asyncio.CancelledError:  # the shutdown's grace period ran out: log it, then go
        call.abandon("cancelled: the gateway shut down before the upstream answered")
        raise
    except Exception:  # a bug, or an answer no check foresaw: still answered and logged
        logger.exception("unexpected error in POST /v1/chat/completions (%s)", call.rec.id)
        return call.fail(TriageError("internal error; the request log has the request id"))


async def _answer(gw: Gateway, call: Call, request: Request) -> Response:
    try:
        key = gw.keys.check(request.headers.get("authorization"))
        body = json_body(await read_body(gw, request))
        call.requested(key, body.get("model"))
        req = chat_request(body)
        route = gw.resolve(req, key)
    except TriageError as exc:
        return call.fail(exc)
    call.start(req, route)
    if key is not None and key.limited:
        try:
            call.reserve(key, *worst_case(gw, req, route, body))
        except TriageError as exc:
            return call.fail(exc)
    if body.get("stream"):
        return await _stream(call, req, route, body)
    try:
        completion = await attempts.complete(gw, call, route, body)
    except TriageError as exc:
        return call.fail(exc)
    meta = completion.pop("llmtriage", None) or {}
    choices = completion.get("choices") or [{}]
    text = content_text((choices[0].get("message") or {}).get("content"))
    cost, estimated = _settle(call, req, completion.get("usage"), meta, text)
    headers = call.headers(cost, estimated)
    try:  # before finish(), so a failure here is what the log records
        content = orjson.dumps(completion)
    except orjson.JSONEncodeError as exc:  # e.g. nested deeper than orjson writes
        return call.fail(ProviderError(f"{call.rec.model}: cannot relay the response: {exc}"))
    call.finish()
    return Response(content, 200, headers, JSON_TYPE)


def _sse(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


async def _stream(call: Call, req: ChatRequest, route: Route, body: dict[str, Any]) -> Response:
    call.rec.stream = True
    try:
        held, chunks = await attempts.open_stream(call.gw, call, route, body)
    except TriageError as exc:
        return call.fail(exc)
    call.rec.ttft_ms = (time.perf_counter() - call.t0) * 1000
    wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    # the stream's real cost is known at its end (in the log); the header carries the estimate
    estimate = next(
        (e["cost_usd"] for e in call.rec.estimates or () if e["model"] == call.rec.model), 0.0
    )
    headers = call.headers(estimate, True)
    return StreamingResponse(
        _relay(call, req, held, chunks, wants_usage), 200, headers, "text/event-stream"
    )


async def _relay(
    call: Call,
    req: ChatRequest,
    held: list[dict[str, Any]],
    chunks: AsyncIterator[dict[str, Any]],
    wants_usage: bool,
) -> AsyncIterator[bytes]:
    """Forward chunks; collect text and usage; end with [DONE] or an error event."""
    usage: dict[str, Any] | None = None
    meta: dict[str, Any] = {}
    parts: list[str] = []
    pending = iter(held)
    chunk: dict[str, Any] | None = next(pending)
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
            chunk = next(pending, None)
            if chunk is None:
                chunk = await anext(chunks, None)
        yield b"data: [DONE]\n\n"
    except ProviderError as exc:  # after the first chunk: the client sees an error event
        model = call.rec.model or ""
        status = exc.status if isinstance(exc, ProviderHTTPError) else 0
        call.attempt(model, status, 0.0, f"mid-stream: {exc}")
        call.gw.breakers[model].failure()
        call.rec.status, call.rec.error = 502, str(exc)[:500]
        yield _sse(error_body(exc))
    except asyncio.CancelledError:  # the client went away, or the shutdown's grace ran out
        call.rec.error = "cancelled mid-stream: the client left or the gateway shut down"
        raise
    except Exception:  # as in chat_completions: the stream ends with an error event
        logger.exception("unexpected error in a stream (%s)", call.rec.id)
        call.rec.status, call.rec.error = 500, "internal error"
        yield _sse(error_body(TriageError("internal error; the request log has the request id")))
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:  # frees the upstream connection if the client went away
            await close()
        try:
            _settle(call, req, usage, meta, "".join(parts))
        except Exception:  # the client has its answer; the record says what went wrong
            logger.exception("cannot account for a stream (%s)", call.rec.id)
            call.rec.error = "internal error while accounting for the stream"
        call.finish()
