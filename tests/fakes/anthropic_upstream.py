"""A fake Anthropic Messages API server for tests, served over real loopback HTTP.

    with FakeAnthropic(api_key="sk-test") as fake:
        fake.reply_text("Hello!")                      # next request gets this answer
        provider = AnthropicProvider("claude", "claude-x", fake.base_url, "sk-test", session)
        ...
        fake.requests[-1].json["messages"]             # what the provider sent

Replies are queued and consumed one per request (``POST /v1/messages``); when the queue is
empty the ``default`` reply (a short text answer) is used. A message reply (``reply_text``,
``reply_tool_use``, ``reply_message``) is sent as JSON, or as a real SSE event sequence when the
request has ``"stream": true``, so one script drives both modes. Other replies: an error status
with Anthropic's error JSON, a stall (for timeout tests), a stream cut off mid-way, an ``error``
event mid-stream, or an explicit list of SSE events. The server runs its own event loop in a
background thread, so sync and async tests (and the official ``openai`` client) can use it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

JSON = dict[str, Any]
_ids = itertools.count(1)


@dataclass
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    json: Any


@dataclass
class Reply:
    """What to answer to one request; build these with the ``FakeAnthropic.reply_*`` helpers."""

    kind: str  # message | error | stall | disconnect | stream_error | events
    message: JSON | None = None
    status: int = 200
    error_type: str = ""
    error_message: str = ""
    seconds: float = 0.0
    events: list[tuple[str, JSON]] = field(default_factory=list)
    after_events: int = 3  # disconnect / stream_error: how many events go out first


def text_message(
    text: str,
    *,
    model: str = "claude-fake",
    stop_reason: str = "end_turn",
    usage: JSON | None = None,
) -> JSON:
    """An Anthropic Message with one text block."""
    return message(
        [{"type": "text", "text": text}], model=model, stop_reason=stop_reason, usage=usage
    )


def tool_use_message(
    name: str,
    arguments: JSON,
    *,
    text: str | None = None,
    tool_id: str | None = None,
    model: str = "claude-fake",
    usage: JSON | None = None,
) -> JSON:
    """An Anthropic Message asking for one tool call (optionally after some text)."""
    blocks: list[JSON] = [{"type": "text", "text": text}] if text else []
    call_id = tool_id or f"toolu_fake{next(_ids):04d}"
    blocks.append({"type": "tool_use", "id": call_id, "name": name, "input": arguments})
    return message(blocks, model=model, stop_reason="tool_use", usage=usage)


def message(
    content: list[JSON],
    *,
    model: str = "claude-fake",
    stop_reason: str = "end_turn",
    usage: JSON | None = None,
) -> JSON:
    """An Anthropic Message with the given content blocks."""
    return {
        "id": f"msg_fake{next(_ids):04d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 12, "output_tokens": 7},
    }


def _event(kind: str, **fields: Any) -> tuple[str, JSON]:
    return kind, {"type": kind, **fields}


def message_events(msg: JSON, piece: int = 4) -> list[tuple[str, JSON]]:
    """The SSE event sequence Anthropic streams for ``msg`` (text and JSON cut in pieces)."""
    usage = msg.get("usage") or {}
    start = {**msg, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    events = [_event("message_start", message=start), _event("ping")]
    empty: JSON
    for i, block in enumerate(msg["content"]):
        if block["type"] == "text":
            empty, key, kind = {"type": "text", "text": ""}, "text", "text_delta"
            whole = block["text"]
        else:
            empty, key, kind = {**block, "input": {}}, "partial_json", "input_json_delta"
            whole = orjson.dumps(block["input"]).decode()
        events.append(_event("content_block_start", index=i, content_block=empty))
        for j in range(0, len(whole), piece):
            delta = {"type": kind, key: whole[j : j + piece]}
            events.append(_event("content_block_delta", index=i, delta=delta))
        events.append(_event("content_block_stop", index=i))
    delta = {"stop_reason": msg["stop_reason"], "stop_sequence": None}
    events.append(
        _event("message_delta", delta=delta, usage={"output_tokens": usage.get("output_tokens", 0)})
    )
    events.append(_event("message_stop"))
    return events


def encode_sse(events: list[tuple[str, JSON]]) -> bytes:
    """Serialize events the way Anthropic does: ``event:`` and ``data:`` lines, blank-separated."""
    return b"".join(b"event: %s\ndata: %s\n\n" % (e.encode(), orjson.dumps(d)) for e, d in events)


def error_body(error_type: str, error_message: str) -> JSON:
    """Anthropic's error JSON."""
    return {"type": "error", "error": {"type": error_type, "message": error_message}}


class FakeAnthropic:
    """A scriptable Anthropic Messages API on ``127.0.0.1:<free port>`` (context manager).

    ``api_key``: if set, requests without that ``x-api-key`` get 401 ``authentication_error``.
    Requests missing ``model``, ``max_tokens`` or ``messages`` get 400, as upstream.
    """

    def __init__(self, api_key: str | None = None, default: Reply | None = None) -> None:
        self.api_key = api_key
        self.default = default or Reply("message", message=text_message("ok"))
        self.requests: list[RecordedRequest] = []
        self._replies: collections.deque[Reply] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.port = 0

    # ------------------------------------------------------------------ scripting
    def reply(self, *replies: Reply) -> FakeAnthropic:
        """Queue replies for the next requests, in order."""
        self._replies.extend(replies)
        return self

    def reply_message(self, msg: JSON) -> FakeAnthropic:
        return self.reply(Reply("message", message=msg))

    def reply_text(self, text: str, **kwargs: Any) -> FakeAnthropic:
        return self.reply_message(text_message(text, **kwargs))

    def reply_tool_use(self, name: str, arguments: JSON, **kwargs: Any) -> FakeAnthropic:
        return self.reply_message(tool_use_message(name, arguments, **kwargs))

    def reply_error(
        self, status: int, error_type: str = "api_error", message: str = "fake failure"
    ) -> FakeAnthropic:
        return self.reply(
            Reply("error", status=status, error_type=error_type, error_message=message)
        )

    def reply_stall(self, seconds: float, then: JSON | None = None) -> FakeAnthropic:
        """Sleep ``seconds`` (cut short when the server stops), then answer ``then``."""
        return self.reply(Reply("stall", seconds=seconds, message=then or text_message("late")))

    def reply_disconnect(self, msg: JSON | None = None, after_events: int = 3) -> FakeAnthropic:
        """Stream ``after_events`` events of ``msg`` then drop the connection (non-stream:
        drop it before answering)."""
        msg = msg or text_message("this answer is cut off")
        return self.reply(Reply("disconnect", message=msg, after_events=after_events))

    def reply_stream_error(
        self,
        error_type: str = "overloaded_error",
        message: str = "Overloaded",
        after_events: int = 3,
    ) -> FakeAnthropic:
        """Stream a few events of a text answer, then an ``error`` event (status 200)."""
        return self.reply(
            Reply(
                "stream_error",
                message=text_message("partial answer"),
                error_type=error_type,
                error_message=message,
                after_events=after_events,
            )
        )

    def reply_events(self, events: list[tuple[str, JSON]]) -> FakeAnthropic:
        """Stream exactly these SSE events."""
        return self.reply(Reply("events", events=events))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def last(self) -> RecordedRequest:
        return self.requests[-1]

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> FakeAnthropic:
        self._thread = threading.Thread(target=self._serve, name="fake-anthropic", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake Anthropic server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop and self._stopping:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread:
            self._thread.join(10)

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/messages", self._handle)
        runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await runner.cleanup()

    # ------------------------------------------------------------------ handling
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        self.requests.append(
            RecordedRequest(request.method, request.path, _lower(request.headers), body)
        )
        if self.api_key is not None and request.headers.get("x-api-key") != self.api_key:
            return _error(401, "authentication_error", "invalid x-api-key")
        problem = _invalid(body)
        if problem:
            return _error(400, "invalid_request_error", problem)
        reply = self._replies.popleft() if self._replies else self.default
        streaming = bool(body.get("stream"))
        if reply.kind == "error":
            return _error(reply.status, reply.error_type, reply.error_message)
        if reply.kind == "stall":
            await self._sleep(reply.seconds)
        if reply.kind == "disconnect" and not streaming:
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)  # never reaches the client
        if reply.kind == "events":
            return await _stream(request, reply.events)
        assert reply.message is not None
        if not streaming:
            return web.json_response(reply.message, dumps=lambda v: orjson.dumps(v).decode())
        events = message_events(reply.message)
        if reply.kind in ("message", "stall"):
            return await _stream(request, events)
        events = events[: reply.after_events]
        if reply.kind == "stream_error":
            events.append(("error", error_body(reply.error_type, reply.error_message)))
            return await _stream(request, events)
        return await _stream(request, events, cut=True)

    async def _sleep(self, seconds: float) -> None:
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):  # the stall simply ran its course
            await asyncio.wait_for(self._stopping.wait(), seconds)


def _invalid(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    missing = [k for k in ("model", "max_tokens", "messages") if k not in body]
    if missing:
        return f"{missing[0]}: Field required"
    roles = {m.get("role") for m in body["messages"] if isinstance(m, dict)}
    if not roles <= {"user", "assistant"}:
        return "messages: roles must be 'user' or 'assistant'"
    return None


def _error(status: int, error_type: str, error_message: str) -> web.Response:
    return web.json_response(error_body(error_type, error_message), status=status)


async def _stream(
    request: web.Request, events: list[tuple[str, JSON]], cut: bool = False
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    for event in events:
        await response.write(encode_sse([event]))
    if cut:
        assert request.transport is not None
        request.transport.close()
        return response
    await response.write_eof()
    return response


def _lower(headers: Any) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}
