"""The explicit registry of routers: name -> how to build one (no if/elif chains)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmtriage.exceptions import ConfigError
from llmtriage.routing.base import Router
from llmtriage.routing.cluster import ClusterRouter
from llmtriage.routing.knn import KnnRouter
from llmtriage.routing.linear import LinearRouter
from llmtriage.routing.rules import RulesRouter

# Router classes by their ``kind``, used to rebuild routers from artifacts.
KINDS: dict[str, type[Router]] = {
    cls.kind: cls for cls in (RulesRouter, KnnRouter, ClusterRouter, LinearRouter)
}


@dataclass(frozen=True)
class RouterSpec:
    name: str
    summary: str
    build: Callable[[int], Router]


def _spec(cls: type[Router], **params: Any) -> RouterSpec:
    return RouterSpec(cls.kind, cls.summary, lambda n: cls(n, **params))


ROUTERS: dict[str, RouterSpec] = {
    spec.name: spec
    for spec in (
        _spec(RulesRouter),
        _spec(KnnRouter, k=100),
        _spec(ClusterRouter),
        _spec(LinearRouter),
        RouterSpec(
            "default",
            "recommended: kNN in the dense SVD space (placeholder)",
            lambda n: KnnRouter(n, k=50, space="dense"),
        ),
    )
}


def build(name: str, n_models: int) -> Router:
    """A new, unfitted router registered under ``name``."""
    try:
        spec = ROUTERS[name]
    except KeyError:
        raise ConfigError(
            "router", f"unknown router {name!r}; known: {', '.join(ROUTERS)}"
        ) from None
    return spec.build(n_models)


def from_state(kind: str, n_models: int, params: dict[str, Any]) -> Router:
    """An unfitted router of class ``kind`` with the given hyper-parameters."""
    try:
        cls = KINDS[kind]
    except KeyError:
        raise ConfigError("router.kind", f"unknown router kind {kind!r}") from None
    return cls(n_models, **params)
