"""The Provider extension point.

A provider takes an OpenAI Chat Completions request body (a dict, as the client sent it) and
returns an OpenAI ``chat.completion`` dict, or yields OpenAI ``chat.completion.chunk`` dicts
when streaming. Adapters for other APIs (Anthropic) translate both ways at this boundary, so
the gateway sees one shape. Errors are mapped here too: an upstream error status becomes
``ProviderHTTPError``; a connection failure or timeout becomes ``ProviderError``. No SDK
exception escapes an adapter.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-attempt limits in seconds (None = no limit)."""

    connect: float | None = 10.0
    total: float | None = None


class Provider(ABC):
    """One configured model behind one upstream API."""

    def __init__(self, name: str, upstream_model: str) -> None:
        self.name = name  # the model name requests, logs and tiers use
        self.upstream_model = upstream_model  # what the upstream API calls it

    @abstractmethod
    async def complete(self, body: JSON, timeouts: Timeouts) -> JSON:
        """Send a non-streaming request; return an OpenAI ``chat.completion`` dict."""

    async def stream(self, body: JSON, timeouts: Timeouts) -> AsyncIterator[JSON]:
        """Send a streaming request; yield OpenAI ``chat.completion.chunk`` dicts."""
        raise NotImplementedError(f"{type(self).__name__} does not stream")
        yield {}  # pragma: no cover - makes this an async generator

    async def aclose(self) -> None:
        """Release resources held by this provider (shared HTTP sessions are not closed)."""
