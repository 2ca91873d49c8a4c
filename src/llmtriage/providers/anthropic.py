"""Provider adapter for the Anthropic Messages API (``POST {base_url}/v1/messages``).

The request/response mapping lives in ``anthropic_translate``; this module holds the HTTP call,
the error mapping, and the two small pure pieces of streaming: ``SSEDecoder`` (bytes → SSE
events, robust to chunks that split lines or UTF-8 characters) and ``StreamTranslator``
(Anthropic stream events → OpenAI ``chat.completion.chunk`` dicts).

Streaming: the chunk that carries ``finish_reason`` also carries the complete ``usage``
(input tokens from ``message_start``, output tokens from ``message_delta``), so callers have
the token counts without OpenAI's separate ``stream_options.include_usage`` chunk.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson

from llmtriage.exceptions import ProviderError, ProviderHTTPError
from llmtriage.providers.anthropic_translate import (
    finish_reason,
    to_anthropic_request,
    to_openai_response,
    to_openai_usage,
)
from llmtriage.providers.base import JSON, Provider, Timeouts, client_timeout, retry_after

ANTHROPIC_VERSION = "2023-06-01"
PROVIDER = "anthropic"
_ERROR_BODY_LIMIT = 2000


class SSEDecoder:
    """Incremental server-sent-events parser: ``feed(bytes)`` → complete ``(event, data)``."""

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        """Add bytes; return the events completed by them (a blank line ends an event)."""
        lines = (self._buffer + chunk).split(b"\n")
        self._buffer = lines.pop()  # an incomplete last line waits for more bytes
        events: list[tuple[str, str]] = []
        for raw in lines:
            self._line(raw.removesuffix(b"\r").decode("utf-8", "replace"), events)
        return events

    def flush(self) -> list[tuple[str, str]]:
        """End of stream: return an event left without its closing blank line, if any."""
        events: list[tuple[str, str]] = []
        if self._buffer:
            self._line(self._buffer.removesuffix(b"\r").decode("utf-8", "replace"), events)
            self._buffer = b""
        self._line("", events)
        return events

    def _line(self, line: str, events: list[tuple[str, str]]) -> None:
        if not line:
            if self._data:
                events.append((self._event or "message", "\n".join(self._data)))
            self._event, self._data = "", []
            return
        if line.startswith(":"):
            return  # comment / keep-alive
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)


class StreamTranslator:
    """Turns Anthropic stream events into OpenAI ``chat.completion.chunk`` dicts.

    ``translate`` returns zero or more chunks per event; ``error`` events raise
    ``ProviderHTTPError`` (529 for ``overloaded_error``, else 502). ``done`` becomes true at
    ``message_stop``; a stream that ends before that was cut off.
    """

    def __init__(self, model: str, created: int) -> None:
        self.model = model
        self.created = created
        self.id = ""
        self.done = False
        self._usage: JSON = {}
        self._tool_index: dict[int, int] = {}  # Anthropic block index → OpenAI tool_calls index
        self._handlers: dict[str, Callable[[JSON], list[JSON]]] = {
            "message_start": self._message_start,
            "content_block_start": self._block_start,
            "content_block_delta": self._block_delta,
            "message_delta": self._message_delta,
            "message_stop": self._message_stop,
            "error": self._error,
        }

    def translate(self, event: str, data: JSON) -> list[JSON]:
        """Chunks for one event; unknown events (``ping``, future types) yield none."""
        handler = self._handlers.get(str(data.get("type") or event))
        return handler(data) if handler else []

    def _chunk(self, delta: JSON, reason: str | None = None) -> JSON:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
        }

    def _message_start(self, data: JSON) -> list[JSON]:
        message = data.get("message") or {}
        self.id = str(message.get("id") or "")
        self._usage.update(message.get("usage") or {})
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, data: JSON) -> list[JSON]:
        block = data.get("content_block") or {}
        if block.get("type") == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if block.get("type") != "tool_use":
            return []
        index = self._tool_index.setdefault(int(data.get("index", 0)), len(self._tool_index))
        function = {"name": block.get("name"), "arguments": ""}
        call = {"index": index, "id": block.get("id"), "type": "function", "function": function}
        return [self._chunk({"tool_calls": [call]})]

    def _block_delta(self, data: JSON) -> list[JSON]:
        delta = data.get("delta") or {}
        if delta.get("type") == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
            index = self._tool_index.get(int(data.get("index", 0)))
            if index is None:
                return []
            call = {"index": index, "function": {"arguments": delta["partial_json"]}}
            return [self._chunk({"tool_calls": [call]})]
        return []  # thinking, signature and citation deltas have no OpenAI equivalent

    def _message_delta(self, data: JSON) -> list[JSON]:
        usage = data.get("usage") or {}
        self._usage.update({k: v for k, v in usage.items() if v is not None})
        reason = finish_reason((data.get("delta") or {}).get("stop_reason"))
        chunk = self._chunk({}, reason)
        chunk["usage"] = to_openai_usage(self._usage)
        return [chunk]

    def _message_stop(self, data: JSON) -> list[JSON]:
        self.done = True
        return []

    def _error(self, data: JSON) -> list[JSON]:
        error = data.get("error") or {}
        status = 529 if error.get("type") == "overloaded_error" else 502
        body = orjson.dumps(data).decode()
        raise ProviderHTTPError(status, PROVIDER, self.model, body[:_ERROR_BODY_LIMIT])


class AnthropicProvider(Provider):
    """A model served by the Anthropic Messages API, spoken to in OpenAI shapes."""

    def __init__(
        self,
        name: str,
        upstream_model: str,
        base_url: str,
        api_key: str,
        session: aiohttp.ClientSession,
    ) -> None:
        super().__init__(name, upstream_model, api_key)
        # tolerate a base URL configured with the version path, as for OpenAI-style APIs
        self._url = base_url.rstrip("/").removesuffix("/v1") + "/v1/messages"
        self._session = session
        self._headers = {
            "x-api-key": api_key,
            "anthropic-version": ANTHROPIC_VERSION,
            "content-type": "application/json",
        }

    def __repr__(self) -> str:  # never show the key
        return f"AnthropicProvider(name={self.name!r}, upstream_model={self.upstream_model!r})"

    async def complete(self, body: JSON, timeouts: Timeouts) -> JSON:
        """Send a non-streaming request; return an OpenAI ``chat.completion`` dict."""
        payload = to_anthropic_request(body, self.upstream_model)
        try:
            async with self._post(payload, timeouts) as response:
                raw = await response.read()
                if response.status >= 400:
                    raise self._http_error(response, raw)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._transport_error(exc) from exc
        return to_openai_response(self._json(raw), self.name, int(time.time()))

    async def stream(self, body: JSON, timeouts: Timeouts) -> AsyncIterator[JSON]:
        """Send a streaming request; yield OpenAI ``chat.completion.chunk`` dicts.

        ``timeouts.total`` bounds the whole stream, ``timeouts.idle`` each wait for data.
        """
        payload = to_anthropic_request(body, self.upstream_model)
        payload["stream"] = True
        translator = StreamTranslator(self.name, int(time.time()))
        decoder = SSEDecoder()
        try:
            async with self._post(payload, timeouts) as response:
                if response.status >= 400:
                    raise self._http_error(response, await response.read())
                async for piece in response.content.iter_any():
                    for event, data in decoder.feed(piece):
                        for chunk in translator.translate(event, self._json(data)):
                            yield chunk
                for event, data in decoder.flush():
                    for chunk in translator.translate(event, self._json(data)):
                        yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._transport_error(exc) from exc
        if not translator.done:
            raise ProviderError(f"{PROVIDER}/{self.name}: stream ended before message_stop")

    def _post(self, payload: JSON, timeouts: Timeouts) -> Any:
        timeout = client_timeout(timeouts)
        data = orjson.dumps(payload)
        return self._session.post(self._url, data=data, headers=self._headers, timeout=timeout)

    def _json(self, raw: bytes | str) -> JSON:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ProviderError(f"{PROVIDER}/{self.name}: upstream sent invalid JSON") from exc
        if not isinstance(value, dict):
            raise ProviderError(f"{PROVIDER}/{self.name}: upstream sent non-object JSON")
        return value

    def _http_error(self, response: aiohttp.ClientResponse, raw: bytes) -> ProviderHTTPError:
        text = self.scrub(raw.decode("utf-8", "replace"))[:_ERROR_BODY_LIMIT]
        wait = retry_after(response.headers)
        return ProviderHTTPError(response.status, PROVIDER, self.name, text, wait)

    def _transport_error(self, exc: BaseException) -> ProviderError:
        if isinstance(exc, TimeoutError):
            return ProviderError(f"{PROVIDER}/{self.name}: request timed out")
        detail = self.scrub(f"{type(exc).__name__}: {exc}")
        return ProviderError(f"{PROVIDER}/{self.name}: connection failed: {detail}")
