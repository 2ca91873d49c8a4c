"""Any OpenAI-compatible Chat Completions API: OpenAI, vLLM, Ollama, llama.cpp, OpenRouter, ...

One pooled aiohttp session (owned by the gateway) carries every call. The body is forwarded
as the client sent it, with ``model`` set to the upstream name; responses keep their shape.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import orjson

from llmtriage.exceptions import ProviderError, ProviderHTTPError
from llmtriage.providers.base import JSON, Provider, Timeouts, client_timeout, retry_after
from llmtriage.providers.shapes import chunk_problem, completion_problem

_MAX_ERROR_BODY = 2000


class OpenAIProvider(Provider):
    def __init__(
        self,
        name: str,
        upstream_model: str,
        base_url: str,
        api_key: str | None,
        session: aiohttp.ClientSession,
    ) -> None:
        super().__init__(name, upstream_model, api_key)
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.session = session
        self.headers = {"content-type": "application/json"}
        if api_key:
            self.headers["authorization"] = f"Bearer {api_key}"

    def _payload(self, body: JSON, stream: bool) -> bytes:
        out = {**body, "model": self.upstream_model, "stream": stream}
        if stream:  # ask for usage so cost is measured, not estimated
            out["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        else:
            out.pop("stream_options", None)
        return orjson.dumps(out)

    def _failed(self, exc: BaseException) -> ProviderError:
        kind = "timed out" if isinstance(exc, asyncio.TimeoutError) else type(exc).__name__
        return ProviderError(f"openai/{self.name}: {kind}")

    async def _check(self, resp: aiohttp.ClientResponse) -> None:
        if resp.status >= 400:
            text = self.scrub((await resp.read())[:_MAX_ERROR_BODY].decode("utf-8", "replace"))
            wait = retry_after(resp.headers)
            raise ProviderHTTPError(resp.status, "openai", self.name, text, wait)

    async def complete(self, body: JSON, timeouts: Timeouts) -> JSON:
        try:
            async with self.session.post(
                self.url,
                data=self._payload(body, False),
                headers=self.headers,
                timeout=client_timeout(timeouts),
            ) as resp:
                await self._check(resp)
                raw = await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._failed(exc) from None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ProviderError(f"openai/{self.name}: malformed JSON in the response") from None
        if isinstance(data, dict) and data.get("error") and not data.get("choices"):
            text = self.scrub(raw[:_MAX_ERROR_BODY].decode("utf-8", "replace"))
            raise ProviderHTTPError(502, "openai", self.name, text)  # an error sent as a 200
        problem = completion_problem(data)
        if problem:
            raise ProviderError(f"openai/{self.name}: {problem}")
        data["model"] = self.name
        return data

    async def stream(self, body: JSON, timeouts: Timeouts) -> AsyncIterator[JSON]:
        try:
            async with self.session.post(
                self.url,
                data=self._payload(body, True),
                headers=self.headers,
                timeout=client_timeout(timeouts),
            ) as resp:
                await self._check(resp)
                async for chunk in self._events(resp):
                    yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._failed(exc) from None

    async def _events(self, resp: aiohttp.ClientResponse) -> AsyncIterator[JSON]:
        """Server-sent events: ``data: {json}`` lines until ``data: [DONE]``."""
        async for line in resp.content:
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                return
            try:
                chunk = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise ProviderError(f"openai/{self.name}: malformed JSON in the stream") from None
            if isinstance(chunk, dict) and "error" in chunk:
                text = self.scrub(data.decode("utf-8", "replace"))
                raise ProviderHTTPError(502, "openai", self.name, text)
            problem = chunk_problem(chunk)
            if problem:
                raise ProviderError(f"openai/{self.name}: {problem}")
            chunk["model"] = self.name
            yield chunk
        raise ProviderError(f"openai/{self.name}: stream ended without [DONE]")
