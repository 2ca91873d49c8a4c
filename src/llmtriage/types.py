"""Plain data shared across layers: the parsed request and the routing decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

Message = dict[str, Any]


def content_text(content: Any) -> str:
    """Text of an OpenAI message ``content`` (a string or a list of typed parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p["text"]
            for p in content
            if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
        )
    return ""


def last_user_text(messages: list[Message]) -> str:
    """Text of the last user message ('' if there is none)."""
    for m in reversed(messages):
        if m.get("role") == "user":
            return content_text(m.get("content"))
    return ""


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat completion request, parsed once at the edge.

    ``messages`` keeps the OpenAI message dicts as received (no copy, no conversion): the
    featurizer reads roles and contents directly.
    """

    messages: list[Message]
    model: str = "triage/auto"
    tools: list[dict[str, Any]] | None = None
    response_format: dict[str, Any] | None = None
    session_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_prompt(cls, prompt: str) -> ChatRequest:
        """A single-turn request holding one user message."""
        return cls(messages=[{"role": "user", "content": prompt}])


class ModelEstimate(NamedTuple):
    """What the router expects from one model for one request (a named tuple: a decision
    makes one per model on the request hot path, and a tuple is the cheapest to build)."""

    model: str
    tier: str
    quality: float
    cost_usd: float
    eligible: bool = True
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """The policy's choice for one request, with every model's estimate and the reason."""

    model: str
    tier: str
    estimates: tuple[ModelEstimate, ...]
    reason: str
    router: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (used by `llmtriage route` and the gateway's /v1/route)."""
        return {
            "model": self.model,
            "tier": self.tier,
            "router": self.router,
            "reason": self.reason,
            "estimates": [
                {
                    "model": e.model,
                    "tier": e.tier,
                    "quality": round(e.quality, 4),
                    "cost_usd": e.cost_usd,
                    "eligible": e.eligible,
                    **({"excluded_because": e.reason} if e.reason else {}),
                }
                for e in self.estimates
            ],
        }
