"""Retries, fallback and escalation around the provider calls of one request.

The chain for a request is the routed model, then (``fallback``) its tier's other models best
estimate first, then (``escalate``) the next tiers' models. Each model gets up to
``retries.attempts`` calls with jittered exponential backoff on 429/5xx/timeouts/garbled
answers, honouring Retry-After when it is short (a long one moves on to the next model). A
model whose circuit is open is skipped without a call. An upstream 400/413/422 is the request's
fault: it goes back to the client as a 400 at once, nothing else is tried.

A stream counts as answered at its first chunk with content (or a tool call, or a finish):
anything that fails before that, including a first-token timeout, falls back invisibly.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

from llmtriage.exceptions import AllProvidersFailed, ProviderError, ProviderHTTPError
from llmtriage.gateway.call import Call
from llmtriage.gateway.errors import UpstreamRejected
from llmtriage.gateway.runtime import Gateway, Route
from llmtriage.providers.base import Timeouts

JSON = dict[str, Any]
CLIENT_FAULT = frozenset({400, 413, 422})
RETRY_STATUS = frozenset({0, 408, 409, 425, 429})  # and every 5xx; 0: timeout, garbled answer


def chain(gw: Gateway, route: Route) -> list[str]:
    """Models to try, in order, for a routed request."""
    tiers = gw.config.tiers
    i = gw.tier_names.index(route.tier)
    quality = {e.model: e.quality for e in route.decision.estimates} if route.decision else {}

    def ranked(models: list[str]) -> list[str]:
        return sorted(models, key=lambda m: -quality.get(m, 0.0))  # stable: config order

    out = [route.model]
    if tiers[i].fallback:
        out += ranked([m for m in tiers[i].models if m != route.model])
    while tiers[i].escalate and i + 1 < len(tiers):
        i += 1
        out += ranked(tiers[i].models) if tiers[i].fallback else ranked(tiers[i].models)[:1]
    ok = route.allowed
    return [m for m in dict.fromkeys(out) if ok is None or m in ok]


def _backoff(gw: Gateway, attempt: int, exc: ProviderError) -> float | None:
    """Seconds to wait before retrying the same model, or None to move on to the next."""
    cfg = gw.config.gateway.retries
    status = _status(exc)
    if attempt + 1 >= cfg.attempts or not (status in RETRY_STATUS or status >= 500):
        return None  # e.g. 401/403: the same call cannot succeed; the next model may
    wait = exc.retry_after if isinstance(exc, ProviderHTTPError) else None
    if wait is not None:
        return wait if wait <= cfg.max_backoff_s else None
    return min(cfg.max_backoff_s, cfg.backoff_s * 2**attempt) * random.uniform(0.5, 1.0)


def _status(exc: ProviderError) -> int:
    return exc.status if isinstance(exc, ProviderHTTPError) else 0


def _check_client_fault(call: Call, model: str, exc: ProviderError) -> None:
    status = _status(exc)
    if status in CLIENT_FAULT:
        body = exc.body if isinstance(exc, ProviderHTTPError) else ""
        raise UpstreamRejected(f"model {model} rejected the request (HTTP {status}): {body[:300]}")


async def _run(
    gw: Gateway, call: Call, route: Route, once: Any, timeouts: dict[str, Timeouts]
) -> Any:
    """Call ``once(provider, timeouts[tier])`` along the chain until one succeeds."""
    for model in chain(gw, route):
        breaker, tier = gw.breakers[model], gw.tier_of[model]
        for attempt in range(gw.config.gateway.retries.attempts):
            if not breaker.allow():
                call.attempt(model, 0, 0.0, "skipped: circuit open")
                break
            started = time.perf_counter()
            try:
                result = await once(gw.providers[model], timeouts[tier])
            except ProviderError as exc:
                call.attempt(model, _status(exc), time.perf_counter() - started, str(exc))
                _check_client_fault(call, model, exc)
                breaker.failure()
                wait = _backoff(gw, attempt, exc)
                if wait is None:
                    break
                await asyncio.sleep(wait)
                call.upstream_s += wait
                continue
            call.attempt(model, 200, time.perf_counter() - started)
            breaker.success()
            call.served(model, tier)
            return result
    raise AllProvidersFailed(call.attempt_lines())


async def complete(gw: Gateway, call: Call, route: Route, body: JSON) -> JSON:
    """A non-streaming completion from the first model in the chain that gives one."""

    async def once(provider: Any, timeouts: Any) -> JSON:
        return await provider.complete(body, timeouts)

    result: JSON = await _run(gw, call, route, once, gw.timeouts)
    return result


def _commits(chunk: JSON) -> bool:
    """Does this chunk carry something the client must see (so no fallback after it)?"""
    if chunk.get("usage") and not chunk.get("choices"):
        return False
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("tool_calls") or choice.get("finish_reason"):
            return True
    return False


async def _first_chunks(it: AsyncIterator[JSON], model: str) -> list[JSON]:
    """Chunks up to and including the first one that commits the stream."""
    held: list[JSON] = []
    async for chunk in it:
        held.append(chunk)
        if _commits(chunk):
            return held
    raise ProviderError(f"{model}: stream ended before any content")


async def open_stream(
    gw: Gateway, call: Call, route: Route, body: JSON
) -> tuple[list[JSON], AsyncIterator[JSON]]:
    """The held first chunks and the rest of the stream of the first model that starts one."""

    async def once(provider: Any, timeouts: Any) -> tuple[list[JSON], AsyncIterator[JSON]]:
        it = provider.stream(body, timeouts)
        try:
            async with asyncio.timeout(timeouts.first_token):
                return await _first_chunks(it, provider.name), it
        except TimeoutError:
            await it.aclose()
            raise ProviderError(f"{provider.name}: no first token within the timeout") from None
        except ProviderError:
            await it.aclose()
            raise

    result: tuple[list[JSON], AsyncIterator[JSON]] = await _run(
        gw, call, route, once, gw.stream_timeouts
    )
    return result
