"""A trained routing model: featurizer + router + cost model for a fixed list of models."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llmtriage import __version__
from llmtriage.routing import registry
from llmtriage.routing.base import Router
from llmtriage.routing.cost import CostModel
from llmtriage.routing.features import FeatureConfig, Features, Featurizer
from llmtriage.routing.text import conversation_text
from llmtriage.types import ChatRequest


@dataclass
class Calibration:
    """Estimates and outcomes on a calibration split, kept so that any objective can be
    turned into a knob setting later (calibrate.py) without retraining."""

    quality_est: np.ndarray  # (n, M)
    cost_est: np.ndarray  # (n, M)
    scores: np.ndarray  # (n, M) observed
    costs: np.ndarray  # (n, M) observed

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "cal_quality_est": self.quality_est,
            "cal_cost_est": self.cost_est,
            "cal_scores": self.scores,
            "cal_costs": self.costs,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Calibration | None:
        if "cal_scores" not in arrays:
            return None
        return cls(
            arrays["cal_quality_est"],
            arrays["cal_cost_est"],
            arrays["cal_scores"],
            arrays["cal_costs"],
        )


@dataclass
class RoutingModel:
    """Estimates, for each request, every model's expected quality and cost."""

    name: str
    models: tuple[str, ...]
    featurizer: Featurizer
    router: Router
    cost: CostModel
    calibration: Calibration | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        weights = self.router.row_weights()
        if weights is not None and len(weights) == self.featurizer.n_columns:
            self.featurizer.multiply_rows_by(weights)

    def featurize(self, requests: list[ChatRequest]) -> Features:
        return self.featurizer.transform(requests)

    def estimate(self, requests: list[ChatRequest]) -> tuple[np.ndarray, np.ndarray]:
        """(quality, cost) matrices of shape (len(requests), len(models))."""
        feats = self.featurizer.transform(requests)
        return self.router.predict(feats), self.cost.predict(feats.struct)


def data_hash(prompts: list[str], scores: np.ndarray) -> str:
    """A short fingerprint of training data, recorded in artifacts."""
    h = hashlib.sha256()
    for p in prompts:
        h.update(p.encode("utf-8", "ignore"))
        h.update(b"\0")
    h.update(np.ascontiguousarray(scores, dtype=np.float32).tobytes())
    return h.hexdigest()[:16]


def train(
    name: str,
    models: tuple[str, ...],
    requests: list[ChatRequest],
    scores: np.ndarray,
    costs: np.ndarray,
    featurizer: Featurizer | None = None,
    calibration_fraction: float = 0.2,
    seed: int = 0,
) -> RoutingModel:
    """Fit router ``name`` and the cost model on training requests.

    A ``calibration_fraction`` of the prompts is held out first: a router fitted on the rest
    estimates them, and those estimates with the observed outcomes become the model's
    ``Calibration``. The router is then refitted on every training prompt. A featurizer
    fitted elsewhere (e.g. shared by several routers in one evaluation) may be passed in.
    """
    started = time.perf_counter()
    spec = registry.spec(name)
    featurizer = featurizer or Featurizer.fit(requests, spec.features)
    feats = featurizer.transform(requests)
    calibration = _held_out_calibration(spec, feats, scores, costs, calibration_fraction, seed)
    router = spec.build(len(models)).fit(feats, scores)
    meta = {
        "library_version": __version__,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "n_train": len(requests),
        "train_data_hash": data_hash([conversation_text(r) for r in requests], scores),
        "fit_seconds": round(time.perf_counter() - started, 3),
    }
    cost = CostModel.fit(feats.struct, costs)
    return RoutingModel(name, models, featurizer, router, cost, calibration, meta)


def _held_out_calibration(
    spec: registry.RouterSpec,
    feats: Features,
    scores: np.ndarray,
    costs: np.ndarray,
    fraction: float,
    seed: int,
) -> Calibration | None:
    """Estimates of a held-out ``fraction`` of the prompts by a router and a cost model fitted
    on the rest, beside their observed outcomes; None with fewer than 10 held-out prompts."""
    n_cal = round(len(scores) * fraction)
    if n_cal < 10:
        return None
    perm = np.random.default_rng(seed).permutation(len(scores))
    cal, fit = np.sort(perm[:n_cal]), np.sort(perm[n_cal:])
    held_out = spec.build(scores.shape[1]).fit(feats.take(fit), scores[fit])
    cal_feats = feats.take(cal)
    cost = CostModel.fit(feats.struct[fit], costs[fit])
    return Calibration(
        held_out.predict(cal_feats), cost.predict(cal_feats.struct), scores[cal], costs[cal]
    )


def zero_data(models: tuple[str, ...], cost: CostModel) -> RoutingModel:
    """The rules router with no training data (the fallback without an artifact)."""
    config = FeatureConfig(svd_dims=0)
    bits = config.bits
    featurizer = Featurizer(
        config,
        np.full(2**bits, -1, dtype=np.int32),
        np.zeros(0, dtype=np.float32),
        np.zeros((0, 0), dtype=np.float32),
    )
    router = registry.build("rules", len(models))
    return RoutingModel("rules", models, featurizer, router, cost, meta={"n_train": 0})
