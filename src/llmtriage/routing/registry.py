"""The explicit registry of routers: name -> how to build one (no if/elif chains).

Each entry pairs a router with the feature configuration it is trained on. ``knn`` is the
classic baseline (word TF-IDF over the whole prompt); the others read the richer default
features (word and character n-grams, the final segment in its own namespace).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmtriage.exceptions import ConfigError
from llmtriage.routing.base import Router
from llmtriage.routing.cluster import ClusterRouter
from llmtriage.routing.ensemble import StackRouter
from llmtriage.routing.features import FeatureConfig
from llmtriage.routing.knn import KnnRouter
from llmtriage.routing.linear import LinearRouter
from llmtriage.routing.rules import RulesRouter

# Router classes by their ``kind``, used to rebuild routers from artifacts.
KINDS: dict[str, type[Router]] = {
    cls.kind: cls for cls in (RulesRouter, KnnRouter, ClusterRouter, LinearRouter, StackRouter)
}

BASELINE_FEATURES = FeatureConfig(word_ngrams=1, char_ngrams=(0, 0), focus=False, svd_dims=0)
DEFAULT_FEATURES = FeatureConfig()
SPARSE_FEATURES = FeatureConfig(svd_dims=0)  # routers that never read the dense projection
# default's features: character 4-grams alone instead of 3- to 5-grams and a 2**18 hash space.
# bench/feature_variants.py (3 seeds x 3 datasets): the same cost to reach 95% as the richer
# set, within noise (0.294 vs 0.297 mean), with a third of the n-grams to hash per request.
LEAN_FEATURES = FeatureConfig(char_ngrams=(4, 4), bits=18, svd_dims=0)


@dataclass(frozen=True)
class RouterSpec:
    name: str
    summary: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    features: FeatureConfig = DEFAULT_FEATURES

    def build(self, n_models: int) -> Router:
        return from_state(self.kind, n_models, self.params)


def _specs() -> list[RouterSpec]:
    return [
        RouterSpec("rules", RulesRouter.summary, "rules", features=BASELINE_FEATURES),
        RouterSpec(
            "knn",
            "baseline: 100 nearest prompts by word TF-IDF cosine, mean score",
            "knn",
            {"k": 100},
            BASELINE_FEATURES,
        ),
        RouterSpec("cluster", ClusterRouter.summary, "cluster", {"clusters": 32}),
        RouterSpec("linear", LinearRouter.summary, "linear", {"alpha": 10.0}, SPARSE_FEATURES),
        RouterSpec(
            "stack",
            StackRouter.summary + " (linear, cluster, dense kNN)",
            "stack",
            {
                "members": [
                    {"kind": "linear", "params": {"alpha": 10.0}},
                    {"kind": "cluster", "params": {"clusters": 32}},
                    {"kind": "knn", "params": {"k": 100, "space": "dense"}},
                ],
                "folds": 3,
            },
        ),
        # Chosen by measurement (bench/quality.py; README "Results"): as good as any family we
        # tried on held-out prompts, and the only one whose request-time cost does not grow
        # with the training set.
        RouterSpec(
            "default",
            "recommended: the linear router (word 1-2-grams, char 4-grams, focus segment)",
            "linear",
            {"alpha": 10.0},
            LEAN_FEATURES,
        ),
    ]


ROUTERS: dict[str, RouterSpec] = {spec.name: spec for spec in _specs()}


def spec(name: str, path: str = "router") -> RouterSpec:
    """The registered router ``name``; ConfigError (at key ``path``) listing the known names
    otherwise."""
    try:
        return ROUTERS[name]
    except KeyError:
        raise ConfigError(path, f"unknown router {name!r}; known: {', '.join(ROUTERS)}") from None


def build(name: str, n_models: int) -> Router:
    """A new, unfitted router registered under ``name``."""
    return spec(name).build(n_models)


def from_state(kind: str, n_models: int, params: dict[str, Any]) -> Router:
    """An unfitted router of class ``kind`` with the given hyper-parameters."""
    try:
        cls = KINDS[kind]
    except KeyError:
        raise ConfigError("router.kind", f"unknown router kind {kind!r}") from None
    return cls(n_models, **params)
