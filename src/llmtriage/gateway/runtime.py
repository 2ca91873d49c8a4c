"""Everything one gateway instance holds, built once from the config (no module globals)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import orjson

from llmtriage.config import Config
from llmtriage.gateway.auth import ClientKey, KeyTable
from llmtriage.gateway.breaker import CircuitBreaker
from llmtriage.gateway.errors import Forbidden, NotFound
from llmtriage.gateway.limits import Limiter
from llmtriage.providers.base import Provider, Timeouts
from llmtriage.routing.text import conversation_text
from llmtriage.routing.triage import Triage
from llmtriage.store.base import RequestRecord, Store
from llmtriage.store.writer import BatchWriter
from llmtriage.telemetry.metrics import Metrics
from llmtriage.types import ChatRequest, RoutingDecision

AUTO = "triage/auto"
TIER_PREFIX = "triage/"
CHARS_PER_TOKEN = 4.0


@dataclass(frozen=True, slots=True)
class Route:
    model: str
    tier: str
    decision: RoutingDecision | None
    allowed: frozenset[str] | None = None  # models the key may reach (fallbacks too)


@dataclass
class Gateway:
    config: Config
    triage: Triage
    keys: KeyTable
    metrics: Metrics
    providers: dict[str, Provider] = field(default_factory=dict)
    store: Store | None = None
    writer: BatchWriter | None = None
    limiter: Limiter = field(default_factory=Limiter)

    def __post_init__(self) -> None:
        cfg = self.config
        self.tier_of = cfg.tier_of()
        self.tier_names = [t.name for t in cfg.tiers]
        self.prices = {
            m.name: (m.price.input_per_mtok, m.price.output_per_mtok) for m in cfg.models
        }
        last = cfg.tiers[-1].models
        self.frontier = max(last, key=lambda m: sum(self.prices[m]))
        self.timeouts, self.stream_timeouts = _timeouts(cfg)
        self.breakers = {m.name: CircuitBreaker(m.name, cfg.gateway.breaker) for m in cfg.models}
        self.virtual = [AUTO, *(TIER_PREFIX + t for t in self.tier_names)]

    def resolve(self, req: ChatRequest, key: ClientKey | None = None) -> Route:
        """Which model serves the request: the router's choice, a tier's, or a named model,
        among those the key may use."""
        name, allowed = req.model, key.models if key is not None else None
        tier = name[len(TIER_PREFIX) :] if name.startswith(TIER_PREFIX) and name != AUTO else None
        if name == AUTO or tier in self.tier_names:
            if allowed is not None and not allowed & self.models_of(tier):
                raise Forbidden(f"this key may not use {name}", "model")
            d = self.triage.decide(req, tier=tier, models=allowed)
            return Route(d.model, d.tier, d, allowed)
        if name in self.tier_of:
            if allowed is not None and name not in allowed:
                raise Forbidden(f"this key may not use model {name}", "model")
            return Route(name, self.tier_of[name], None, allowed)
        raise NotFound(
            f"model {name!r} does not exist; use one of {', '.join(self.virtual)} "
            "or a configured model (GET /v1/models)",
            "model",
        )

    def models_of(self, tier: str | None) -> frozenset[str]:
        """The models of a tier (every model for None)."""
        return frozenset(m for m, t in self.tier_of.items() if tier in (None, t))

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        pin, pout = self.prices[model]
        return (prompt_tokens * pin + completion_tokens * pout) / 1e6

    def prompt_fields(self, req: ChatRequest) -> tuple[str | None, str | None]:
        """(prompt_hash, prompt) as the store's prompt_storage setting allows."""
        mode = self.config.store.prompt_storage
        if mode == "none":
            return None, None
        text = conversation_text(req)
        digest = hashlib.sha256(text.encode("utf-8", "ignore")).hexdigest()
        return digest, orjson.dumps(req.messages).decode() if mode == "full" else None

    def estimate_tokens(self, req: ChatRequest, output_text: str) -> tuple[int, int]:
        prompt = round(len(conversation_text(req)) / CHARS_PER_TOKEN)
        return prompt, max(1, round(len(output_text) / CHARS_PER_TOKEN)) if output_text else 0

    def finish(self, rec: RequestRecord) -> None:
        """Account a finished request: metrics now, the log record through the batch writer."""
        m = self.metrics
        m.requests.labels(rec.model or "-", rec.tier or "-", str(rec.status)).inc()
        if rec.status < 400 and rec.model:
            m.cost.labels(rec.model).inc(rec.cost_usd)
            m.counterfactual.inc(rec.counterfactual_cost_usd)
            m.tokens.labels(rec.model, "input").inc(rec.prompt_tokens or 0)
            m.tokens.labels(rec.model, "output").inc(rec.completion_tokens or 0)
        if rec.overhead_ms is not None:
            m.overhead.observe(rec.overhead_ms / 1000)
        if self.writer is not None:
            self.writer.submit(rec)


def _timeouts(cfg: Config) -> tuple[dict[str, Timeouts], dict[str, Timeouts]]:
    """Per tier, (a completion's limits, a stream's). A tier's ``max_latency_ms`` bounds a
    completion, and a stream's wait for its first token (with ``first_token_timeout_s`` if
    shorter); a stream that has started runs on while it keeps sending, up to
    ``default_timeout_s`` in all, with at most ``stream_idle_timeout_s`` between chunks."""
    g = cfg.gateway
    calls, streams = {}, {}
    for t in cfg.tiers:
        limit = t.max_latency_ms / 1000 if t.max_latency_ms else None
        calls[t.name] = Timeouts(
            g.connect_timeout_s, limit or g.default_timeout_s, g.first_token_timeout_s
        )
        first = min((x for x in (limit, g.first_token_timeout_s) if x is not None), default=None)
        streams[t.name] = Timeouts(
            g.connect_timeout_s, g.default_timeout_s, first, g.stream_idle_timeout_s
        )
    return calls, streams
