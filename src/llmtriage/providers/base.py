"""The Provider extension point.

A provider takes an OpenAI Chat Completions request body (a dict, as the client sent it) and
returns an OpenAI ``chat.completion`` dict, or yields OpenAI ``chat.completion.chunk`` dicts
when streaming. Adapters for other APIs (Anthropic) translate both ways at this boundary, so
the gateway sees one shape. Errors are mapped here too: an upstream error status becomes
``ProviderHTTPError``; a connection failure or timeout becomes ``ProviderError``. No SDK
exception escapes an adapter.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-attempt limits in seconds (None = no limit). ``first_token`` bounds the wait for
    a stream's first chunk, and the gateway enforces it; adapters enforce the others:
    ``idle`` is the longest wait for any read (a stream's next chunk, or the first byte)."""

    connect: float | None = 10.0
    total: float | None = None
    first_token: float | None = None
    idle: float | None = None


def client_timeout(timeouts: Timeouts) -> aiohttp.ClientTimeout:
    """The limits adapters enforce, as aiohttp's per-request timeout."""
    return aiohttp.ClientTimeout(
        total=timeouts.total, sock_connect=timeouts.connect, sock_read=timeouts.idle
    )


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds an error response asks the client to wait: ``retry-after-ms`` (OpenAI),
    ``retry-after`` as seconds or as an HTTP date; None when absent or unreadable."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError, IndexError):
        return None


class Provider(ABC):
    """One configured model behind one upstream API."""

    def __init__(self, name: str, upstream_model: str, secret: str | None = None) -> None:
        self.name = name  # the model name requests, logs and tiers use
        self.upstream_model = upstream_model  # what the upstream API calls it
        self._secret = secret  # the upstream API key, never to appear in an error

    def scrub(self, text: str) -> str:
        """``text`` without the upstream key (some APIs echo it in their error bodies)."""
        return text.replace(self._secret, "***") if self._secret else text

    @abstractmethod
    async def complete(self, body: JSON, timeouts: Timeouts) -> JSON:
        """Send a non-streaming request; return an OpenAI ``chat.completion`` dict."""

    async def stream(self, body: JSON, timeouts: Timeouts) -> AsyncIterator[JSON]:
        """Send a streaming request; yield OpenAI ``chat.completion.chunk`` dicts."""
        raise NotImplementedError(f"{type(self).__name__} does not stream")
        yield {}  # pragma: no cover - makes this an async generator

    async def aclose(self) -> None:
        """Release resources held by this provider (shared HTTP sessions are not closed)."""
