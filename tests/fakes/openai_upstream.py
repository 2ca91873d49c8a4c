"""A fake OpenAI-compatible upstream on loopback that answers, fails, stalls or streams on command.

The behaviour of a request is chosen by a directive in its last user message, so concurrent
requests can ask for different things: ``[fail:503]``, ``[stall:2.0]``, ``[malformed]``,
``[drop-mid-stream]``, ``[tool]``, ``[echo-auth]`` (a 401 quoting the Authorization header),
``[shape:NAME]`` (a 200 whose body or stream chunk has one of the ``BAD_SHAPES``),
``[slow-stream:0.2]`` (that long between chunks after the first content);
otherwise it echoes ``echo: <text>``. Every request received
(headers and JSON) is kept in ``received``.

Two more ways to fail, for resilience tests: ``fail_next(n, status, retry_after)`` fails the
next ``n`` requests whatever they say, and ``FakeOpenAI(chaos=0.3)`` gives a seeded random 30%
of requests one of the ``CHAOS`` faults (error statuses, stalls, garbled JSON, a connection
dropped before any content).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
import time
from typing import Any

import orjson
from aiohttp import web

_DIRECTIVE = re.compile(
    r"\[(fail|stall|malformed|drop-mid-stream|tool|echo-auth|shape|slow-stream)(?::([\w.-]+))?\]"
)

# 200 answers the gateway cannot use: name -> (the completion's change, or the stream's:
# (index of the event to change, its change)); each change takes the object, returns another
BAD_SHAPES: dict[str, Any] = {
    "choice-int": lambda c: c | {"choices": [1]},
    "message-str": lambda c: c | {"choices": [{"index": 0, "message": "hi"}]},
    "usage-str": lambda c: c | {"usage": "lots"},
    "tokens-str": lambda c: c | {"usage": {"prompt_tokens": 1, "completion_tokens": "many"}},
    "error-200": lambda c: {"error": {"message": "overloaded"}, "choices": []},
    "no-choices": lambda c: c | {"choices": []},
    "deep": lambda c: c | {"extra": _nested(300)},
    "chunk-list": (0, lambda e: [e]),
    "choices-str": (0, lambda e: e | {"choices": "abc"}),
    "delta-str-mid": (2, lambda e: e | {"choices": [{"index": 0, "delta": "x"}]}),
    "usage-str-last": (-1, lambda e: e | {"usage": "lots"}),
}


def _nested(depth: int) -> Any:
    out: Any = 0
    for _ in range(depth):
        out = [out]
    return out


def _last_user(body: dict[str, Any]) -> str:
    for m in reversed(body.get("messages") or []):
        if m.get("role") == "user" and isinstance(m.get("content"), str):
            return str(m["content"])
    return ""


def _completion(body: dict[str, Any], text: str | None, tool: bool) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool:
        message["tool_calls"] = [
            {
                "id": "call_1",
                "type": "function",
                "function": {
                    "name": body["tools"][0]["function"]["name"],
                    "arguments": '{"city": "Paris"}',
                },
            }
        ]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model"),
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if tool else "stop"}
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


CHAOS = (
    "fail:500",
    "fail:503",
    "fail:429",
    "stall:4",  # before the response (a timeout)
    "stall-stream:4",  # streams: after the role chunk, before any content
    "malformed",
    "drop-before-content",
)


class FakeOpenAI:
    """Run with ``with FakeOpenAI() as fake: ... fake.base_url ...``."""

    def __init__(self, chaos: float = 0.0, seed: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.base_url = ""
        self.chaos = chaos
        self.faults: dict[str, int] = {}  # chaos faults injected, by kind
        self._rng = random.Random(seed)
        self._queue: list[tuple[str, str | None, float | None]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def fail_next(self, n: int, status: int = 503, retry_after: float | None = None) -> None:
        """Fail the next ``n`` requests with ``status`` (and a ``retry-after-ms`` header)."""
        self._queue.extend([("fail", str(status), retry_after)] * n)

    def misbehave_next(self, n: int, kind: str, arg: str | None = None) -> None:
        """The next ``n`` requests get fault ``kind`` (one of ``CHAOS``' kinds)."""
        self._queue.extend([(kind, arg, None)] * n)

    def heal(self) -> None:
        """Forget queued faults."""
        self._queue.clear()

    def _directive(self, text: str) -> tuple[str, str | None]:
        if self.chaos and self._rng.random() < self.chaos:
            fault = self._rng.choice(CHAOS)
            self.faults[fault] = self.faults.get(fault, 0) + 1
            kind, _, arg = fault.partition(":")
            return kind, arg or None
        found = _DIRECTIVE.search(text)
        return (found.group(1), found.group(2)) if found else ("", None)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.received.append({"headers": dict(request.headers), "json": body})
        text = _last_user(body)
        kind, arg, wait = self._queue.pop(0) if self._queue else (*self._directive(text), None)
        if kind == "fail":
            err = {"error": {"message": "fake failure", "type": "server_error"}}
            headers = {} if wait is None else {"retry-after-ms": str(int(wait * 1000))}
            return web.json_response(err, status=int(arg or 500), headers=headers)
        if kind == "echo-auth":  # like APIs that quote the key they refuse
            auth = request.headers.get("authorization", "")
            err = {"error": {"message": f"Incorrect API key provided: {auth}", "type": "auth"}}
            return web.json_response(err, status=401)
        if kind == "stall" or (kind == "stall-stream" and not body.get("stream")):
            await asyncio.sleep(float(arg or 5))
        if kind == "malformed":
            return web.Response(body=b'{"choices": [', content_type="application/json")
        if kind == "drop-before-content" and not body.get("stream"):
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if body.get("stream"):
            return await self._stream(request, body, f"echo: {text}", kind, arg)
        tool = kind == "tool" and bool(body.get("tools"))
        completion = _completion(body, None if tool else f"echo: {text}", tool)
        change = BAD_SHAPES.get(arg or "") if kind == "shape" else None
        if callable(change):
            completion = change(completion)
        # orjson refuses to write more than 254 levels; the stdlib's json does not
        dumps = json.dumps if arg == "deep" else lambda o: orjson.dumps(o).decode()
        return web.Response(text=dumps(completion), content_type="application/json")

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        text: str,
        kind: str,
        arg: str | None = None,
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": body.get("model"),
        }
        pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
        events: list[Any] = [
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                ]
            }
        ]
        events += [
            {"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
            for p in pieces
        ]
        events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(
                {
                    "choices": [],
                    "usage": {
                        "prompt_tokens": 11,
                        "completion_tokens": len(pieces),
                        "total_tokens": 11 + len(pieces),
                    },
                }
            )
        bad = BAD_SHAPES.get(arg or "") if kind == "shape" else None
        if isinstance(bad, tuple):
            at, change = bad
            events[at] = change(base | events[at])
        for i, raw in enumerate(events):
            event = base | raw if isinstance(raw, dict) else raw
            if kind == "slow-stream" and i >= 2:  # after the first content: a slow model
                await asyncio.sleep(float(arg or 0.1))
            if kind == "stall-stream" and i == 1:
                await asyncio.sleep(float(arg or 5))
            cut = {"drop-mid-stream": 2, "drop-before-content": 1}.get(kind)
            if i == cut:
                assert request.transport is not None
                request.transport.close()
                return resp
            await resp.write(b"data: " + orjson.dumps(event) + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        return resp

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
