"""Management endpoints (admin key only): client keys and what they spent.

GET    /v1/admin/keys          keys (config and store), their limits, never a hash
POST   /v1/admin/keys          {"name": ..., limits...} -> 201 with the new key, shown once
DELETE /v1/admin/keys/{name}   revoke a stored key
GET    /v1/admin/spend         per key: spent today and this month, reserved in flight
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from llmtriage.config import KeyLimits
from llmtriage.exceptions import RequestError, TriageError
from llmtriage.gateway.auth import create_key
from llmtriage.gateway.completions import read_body
from llmtriage.gateway.errors import NotFound, error_response
from llmtriage.gateway.parse import json_body
from llmtriage.gateway.runtime import Gateway
from llmtriage.store.base import Store


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


def _limits(body: dict[str, Any]) -> KeyLimits:
    fields = {k: v for k, v in body.items() if k != "name"}
    try:
        return KeyLimits.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        raise RequestError(f"{where}: {err['msg']}", where) from None


class Admin:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    def _store(self, request: Request) -> Store:
        self.gw.keys.check_admin(request.headers.get("authorization"))
        assert self.gw.store is not None  # the app's lifespan opened it
        return self.gw.store

    async def _refresh(self, store: Store) -> None:
        self.gw.keys.load(await run_in_threadpool(store.list_keys))

    async def list_keys(self, request: Request) -> Response:
        try:
            store = self._store(request)
        except TriageError as exc:
            return error_response(exc)
        config = [
            {"name": k.name, "source": "config"}
            | k.model_dump(exclude={"name", "hash"}, exclude_none=True)
            for k in self.gw.config.auth.keys
        ]
        stored = [
            {"name": k.name, "source": "store", "created_at": k.created_at} | k.limits
            for k in await run_in_threadpool(store.list_keys)
        ]
        return _json({"keys": config + stored})

    async def create_key(self, request: Request) -> Response:
        try:
            store = self._store(request)
            body = json_body(await read_body(self.gw, request))
            name = body.get("name")
            if not isinstance(name, str) or not 0 < len(name) <= 200:
                raise RequestError("name must be a string of 1 to 200 characters", "name")
            if name in self.gw.keys.names():
                raise RequestError(f"a key named {name!r} exists", "name")
            limits = self._checked(_limits(body))
            try:
                key = await run_in_threadpool(create_key, store, name, limits)
            except ValueError as exc:
                raise RequestError(str(exc), "name") from None
            await self._refresh(store)
        except TriageError as exc:
            return error_response(exc)
        return _json({"name": name, "key": key} | limits.model_dump(exclude_none=True), 201)

    def _checked(self, limits: KeyLimits) -> KeyLimits:
        for i, m in enumerate(limits.models or ()):
            if m not in self.gw.tier_of:
                raise RequestError(f"unknown model {m!r}", f"models[{i}]")
        for i, t in enumerate(limits.tiers or ()):
            if t not in self.gw.tier_names:
                raise RequestError(f"unknown tier {t!r}", f"tiers[{i}]")
        return limits

    async def revoke_key(self, request: Request) -> Response:
        name = request.path_params["name"]
        try:
            store = self._store(request)
            if not await run_in_threadpool(store.revoke_key, name):
                raise NotFound(f"no active stored key named {name!r}", "name")
            await self._refresh(store)
        except TriageError as exc:
            return error_response(exc)
        return _json({"revoked": name})

    async def spend(self, request: Request) -> Response:
        try:
            self._store(request)
        except TriageError as exc:
            return error_response(exc)
        lim = self.gw.limiter
        day, month = lim.periods()
        return _json(
            {
                name: {
                    "today_usd": lim.spent(name, day),
                    "month_usd": lim.spent(name, month),
                    "reserved_usd": lim.reserved(name),
                }
                for name in sorted(self.gw.keys.names())
            }
        )
