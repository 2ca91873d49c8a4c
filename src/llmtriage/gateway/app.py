"""``create_app(config)``: the Starlette app of the gateway (DESIGN.md §3.4)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from llmtriage import __version__
from llmtriage.config import Config
from llmtriage.exceptions import ConfigError, RequestError, TriageError
from llmtriage.gateway.admin import Admin
from llmtriage.gateway.auth import KeyTable
from llmtriage.gateway.completions import chat_completions, read_body
from llmtriage.gateway.errors import NotFound, error_response
from llmtriage.gateway.openapi import openapi
from llmtriage.gateway.parse import chat_request, json_body
from llmtriage.gateway.runtime import Gateway
from llmtriage.providers.factory import ProviderFactory
from llmtriage.routing.triage import Triage
from llmtriage.store.base import FeedbackRecord, Store
from llmtriage.store.factory import check_url, open_store, spool_path
from llmtriage.store.spool import Spool
from llmtriage.store.writer import BatchWriter
from llmtriage.telemetry.metrics import Metrics

logger = logging.getLogger(__name__)


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


def _check_secrets(config: Config) -> None:
    for i, m in enumerate(config.models):
        if m.api_key_env and not os.environ.get(m.api_key_env):
            raise ConfigError(
                f"models[{i}].api_key_env", f"environment variable {m.api_key_env} is not set"
            )


def _feedback(body: dict[str, Any]) -> FeedbackRecord:
    import time

    score = body.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        raise RequestError("score must be a number in [0, 1]", "score")
    rid, sid = body.get("request_id"), body.get("session_id")
    if (
        not isinstance(rid, str | None)
        or not isinstance(sid, str | None)
        or (rid is None) == (sid is None)
    ):
        raise RequestError("give exactly one of request_id or session_id (a string)", "request_id")
    for name in ("metric", "comment"):
        if not isinstance(body.get(name), str | None):
            raise RequestError(f"{name} must be a string", name)
    return FeedbackRecord(
        score=float(score),
        ts=time.time(),
        request_id=rid,
        session_id=sid,
        metric=body.get("metric"),
        comment=body.get("comment"),
    )


COMPLETIONS = "/v1/chat/completions"


class GatewayApp(Starlette):
    """Starlette, with the hot path (``POST /v1/chat/completions``) dispatched before the
    middleware stack and the router (``bench/dispatch.py`` measures what that saves).
    ``chat_completions`` answers every error itself. Anything else, a mounted root path
    included, goes through Starlette as usual."""

    gateway: Gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == COMPLETIONS:
            scope["app"] = self
            response = await chat_completions(self.gateway, Request(scope, receive, send))
            await response(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


class _Handlers:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    async def completions(self, request: Request) -> Response:
        return await chat_completions(self.gw, request)

    async def models(self, request: Request) -> Response:
        try:
            self.gw.keys.check(request.headers.get("authorization"))
        except TriageError as exc:
            return error_response(exc)
        names = [*self.gw.virtual, *(m.name for m in self.gw.config.models)]
        data = [{"id": n, "object": "model", "created": 0, "owned_by": "llmtriage"} for n in names]
        return _json({"object": "list", "data": data})

    async def route(self, request: Request) -> Response:
        try:
            key = self.gw.keys.check(request.headers.get("authorization"))
            req = chat_request(json_body(await read_body(self.gw, request)))
            route = self.gw.resolve(req, key)
        except TriageError as exc:
            return error_response(exc)
        if route.decision is None:
            return _json(
                {
                    "model": route.model,
                    "tier": route.tier,
                    "router": None,
                    "reason": "model requested by name",
                    "estimates": [],
                }
            )
        return _json(route.decision.to_dict())

    async def feedback(self, request: Request) -> Response:
        gw = self.gw
        try:
            key = gw.keys.check(request.headers.get("authorization"))
            fb = _feedback(json_body(await read_body(gw, request)))
            fb.key_name = key.name if key else None
            if gw.writer is not None:  # the request may still be queued for the log
                await run_in_threadpool(gw.writer.flush, 5.0)
            assert gw.store is not None
            joined = await run_in_threadpool(gw.store.add_feedback, fb)
            if joined == 0:
                what = (
                    f"request {fb.request_id!r}" if fb.request_id else f"session {fb.session_id!r}"
                )
                raise NotFound(f"unknown {what}", "request_id" if fb.request_id else "session_id")
        except TriageError as exc:
            return error_response(exc)
        return _json({"status": "recorded", "requests": joined})

    async def healthz(self, request: Request) -> Response:
        w = self.gw.writer
        circuits = {m: b.state for m, b in self.gw.breakers.items()}
        return _json(
            {
                "status": "degraded" if "open" in circuits.values() else "ok",
                "router": self.gw.triage.model.name,
                "models": len(self.gw.providers),
                "circuits": circuits,
                "log": None
                if w is None
                else {
                    "written": w.written,
                    "pending": w.pending,
                    "spooled": w.spooled,
                    "failures": w.failures,
                },
            }
        )

    async def openapi(self, request: Request) -> Response:
        return _json(openapi(__version__))

    async def metrics(self, request: Request) -> Response:
        return Response(self.gw.metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def _refresh_keys(gw: Gateway, store: Store, every_s: float) -> None:
    """Re-read the store's keys now and then: keys created or revoked elsewhere apply here."""
    while True:
        await asyncio.sleep(every_s)
        try:
            gw.keys.load(await run_in_threadpool(store.list_keys))
        except Exception as exc:  # the store is down: keep the keys we have, say so
            logger.warning("auth: cannot refresh keys from the store: %s", exc)


def create_app(config: Config, triage: Triage | None = None) -> GatewayApp:
    """The gateway app. Providers, the HTTP pool and the log writer start with the app."""
    _check_secrets(config)
    check_url(config.store.url)  # a bad URL fails here, not inside the server's lifespan
    gw = Gateway(config, triage or Triage.from_config(config), KeyTable(config), Metrics())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30)
        session = aiohttp.ClientSession(
            connector=connector, json_serialize=lambda o: orjson.dumps(o).decode()
        )
        gw.providers = ProviderFactory(session).build(config)
        gw.store = store = open_store(config.store.url)
        spool = Spool(spool_path(config.store.url, config.store.spool_path))
        gw.writer = BatchWriter(store, spool=spool)
        gw.keys.load(store.list_keys())
        gw.limiter.load(store.spend(gw.limiter.periods()))
        refresh = asyncio.create_task(_refresh_keys(gw, store, config.auth.refresh_s))
        try:
            yield
        finally:
            refresh.cancel()
            gw.writer.close(timeout=30.0)
            await session.close()
            store.close()

    h, admin = _Handlers(gw), Admin(gw)
    routes = [
        Route("/v1/chat/completions", h.completions, methods=["POST"]),
        Route("/v1/models", h.models, methods=["GET"]),
        Route("/v1/route", h.route, methods=["POST"]),
        Route("/v1/feedback", h.feedback, methods=["POST"]),
        Route("/healthz", h.healthz, methods=["GET"]),
        Route("/metrics", h.metrics, methods=["GET"]),
        Route("/openapi.json", h.openapi, methods=["GET"]),
        Route("/v1/admin/keys", admin.list_keys, methods=["GET"]),
        Route("/v1/admin/keys", admin.create_key, methods=["POST"]),
        Route("/v1/admin/keys/{name}", admin.revoke_key, methods=["DELETE"]),
        Route("/v1/admin/spend", admin.spend, methods=["GET"]),
    ]
    handlers = {HTTPException: _http_error}
    app = GatewayApp(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.gateway = app.state.gateway = gw
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown path, wrong method) in the OpenAI error shape."""
    assert isinstance(exc, HTTPException)
    kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
    body = {"message": f"{request.method} {request.url.path}: {exc.detail}", "type": kind}
    error = {"error": {**body, "param": None, "code": exc.status_code}}
    return Response(orjson.dumps(error), exc.status_code, exc.headers, "application/json")
