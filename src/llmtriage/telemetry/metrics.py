"""Prometheus metrics, on a registry owned by one app instance (no module-global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "llmtriage_requests",
            "Chat completion requests by outcome",
            ["model", "tier", "status"],
            registry=self.registry,
        )
        self.cost = Counter(
            "llmtriage_cost_usd", "Spend in USD by model", ["model"], registry=self.registry
        )
        self.counterfactual = Counter(
            "llmtriage_counterfactual_cost_usd",
            "What the same requests would have cost on the most expensive tier",
            registry=self.registry,
        )
        self.tokens = Counter(
            "llmtriage_tokens",
            "Tokens by model and direction",
            ["model", "direction"],
            registry=self.registry,
        )
        self.overhead = Histogram(
            "llmtriage_overhead_seconds",
            "Time spent in the gateway, excluding the upstream",
            buckets=OVERHEAD_BUCKETS,
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
