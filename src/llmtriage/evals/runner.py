"""`llmtriage eval`: fit routers on TRAIN, sweep their knob, score on TEST (DESIGN.md §3.2, §5).

Routers and baselines all become a (K, n_test) matrix of choices, realised against the
recorded test outcomes, so one metrics path (bootstrap over prompts) serves all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from llmtriage.config import Objective
from llmtriage.evals import baselines
from llmtriage.evals.datasets import RoutingDataset, fingerprint
from llmtriage.evals.metrics import summarize
from llmtriage.routing import model as routing_model
from llmtriage.routing import registry
from llmtriage.routing.calibrate import calibrate
from llmtriage.routing.cost import CostModel
from llmtriage.routing.features import FeatureConfig, Featurizer
from llmtriage.routing.policy import knob_grid, sweep
from llmtriage.routing.text import struct_matrix
from llmtriage.types import ChatRequest


@dataclass
class Result:
    """One router's or baseline's operating points on TEST, and its metrics."""

    name: str
    kind: str  # "router" | "baseline" | "single"
    knobs: np.ndarray
    cost: np.ndarray  # mean realised cost per point
    quality: np.ndarray  # mean realised quality per point
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class Evaluation:
    train: RoutingDataset
    test: RoutingDataset
    results: list[Result]
    best_model: str
    info: dict[str, Any]


def _requests(ds: RoutingDataset) -> list[ChatRequest]:
    return [ChatRequest.from_prompt(p) for p in ds.prompts]


def _realise(choices: np.ndarray, ds: RoutingDataset) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(len(ds))[None, :]
    return ds.scores[rows, choices], ds.costs[rows, choices]


class _Scorer:
    """Turns choices into a Result with bootstrap metrics against the test set."""

    def __init__(self, test: RoutingDataset, n_boot: int, seed: int) -> None:
        self.test, self.n_boot, self.seed = test, n_boot, seed
        self.single_q, self.single_c = test.scores.T, test.costs.T
        self.two_models = len(test.models) == 2

    def __call__(self, name: str, kind: str, knobs: np.ndarray, choices: np.ndarray) -> Result:
        q, c = _realise(choices, self.test)
        strong = None
        if self.two_models:
            strong = choices == int(np.argmax(self.test.costs.mean(axis=0)))
        metrics = summarize(
            q, c, self.single_q, self.single_c, strong=strong, n_boot=self.n_boot, seed=self.seed
        )
        return Result(name, kind, knobs, c.mean(axis=1), q.mean(axis=1), metrics)


def _objectives(train: RoutingDataset, best: int) -> list[tuple[str, Objective]]:
    ref_cost = float(train.costs[:, best].mean())
    return [
        ("target_quality=0.95", Objective(target_quality=0.95)),
        ("target_quality=1.0", Objective(target_quality=1.0)),
        (
            f"max_cost_per_request_usd={0.3 * ref_cost:.3g}",
            Objective(max_cost_per_request_usd=0.3 * ref_cost),
        ),
        (
            f"target_share={{{train.models[best]}: 0.2}}",
            Objective(target_share={train.models[best]: 0.2}),
        ),
    ]


def _calibrated(
    model: routing_model.RoutingModel,
    train: RoutingDataset,
    test: RoutingDataset,
    q_est: np.ndarray,
    c_est: np.ndarray,
) -> list[dict[str, Any]]:
    """Each objective set on the calibration split, and what it realised on TEST."""
    if model.calibration is None:
        return []
    best = int(np.argmax(train.scores.mean(axis=0)))
    tiers = np.asarray(train.models)  # offline, every model is its own tier
    out = []
    for label, objective in _objectives(train, best):
        s = calibrate(model.calibration, objective, tiers)
        value = q_est - s.knob * c_est / s.cost_ref + (0 if s.bias is None else s.bias)
        q, c = _realise(np.argmax(value, axis=1)[None, :], test)
        out.append(
            {
                "objective": label,
                "knob": s.knob,
                "calibration": {"quality": s.expected_quality, "cost_usd": s.expected_cost},
                "test": {
                    "quality": float(q.mean()),
                    "cost_usd": float(c.mean()),
                    "quality_vs_best": float(q.mean() / test.scores.mean(axis=0).max()),
                    "share_best": float((np.argmax(value, axis=1) == best).mean()),
                },
            }
        )
    return out


def _router_results(
    train: RoutingDataset,
    test: RoutingDataset,
    names: list[str],
    score: _Scorer,
    cost_ref: float,
    progress: bool,
) -> list[Result]:
    train_req, test_req = _requests(train), _requests(test)
    featurizers: dict[FeatureConfig, Featurizer] = {}  # routers with equal configs share one
    out = []
    for name in tqdm(names, desc="routers", disable=not progress):
        config = registry.spec(name).features
        if config not in featurizers:
            featurizers[config] = Featurizer.fit(train_req, config)
        model = routing_model.train(
            name,
            train.models,
            train_req,
            train.scores,
            train.costs,
            featurizer=featurizers[config],
        )
        q_est, c_est = model.estimate(test_req)
        knobs = knob_grid()
        result = score(name, "router", knobs, sweep(q_est, c_est, knobs, cost_ref))
        result.metrics["fit_seconds"] = model.meta["fit_seconds"]
        result.metrics["calibration"] = _calibrated(model, train, test, q_est, c_est)
        out.append(result)
    return out


def _baseline_results(
    train: RoutingDataset, test: RoutingDataset, score: _Scorer, cost_ref: float, seed: int
) -> list[Result]:
    n = len(test)
    out = [score("oracle", "baseline", *baselines.oracle(test.scores, test.costs, cost_ref))]
    cheap = int(np.argmin(train.costs.mean(axis=0)))
    best = int(np.argmax(train.scores.mean(axis=0)))
    out.append(score("random", "baseline", *baselines.random_router(cheap, best, n, seed)))
    out.append(
        score("zero_router", "baseline", *baselines.zero_router(train.scores, train.costs, n, seed))
    )
    if train.tasks is not None and test.tasks is not None:
        costs = CostModel.fit(struct_matrix(_requests(train)), train.costs)
        c_est = costs.predict(struct_matrix(_requests(test)))
        out.append(
            score(
                "task_lookup",
                "baseline",
                *baselines.task_lookup(train.tasks, train.scores, test.tasks, c_est, cost_ref),
            )
        )
    for m, model in enumerate(test.models):
        out.append(score(f"single:{model}", "single", np.zeros(1), np.full((1, n), m)))
    return out


def evaluate(
    train: RoutingDataset,
    test: RoutingDataset,
    routers: list[str],
    n_boot: int = 1000,
    seed: int = 0,
    progress: bool = True,
) -> Evaluation:
    """Fit each router on ``train`` only and score everything on ``test``."""
    if train.models != test.models:
        raise ValueError(f"train and test have different models: {train.models} vs {test.models}")
    overlap = set(train.prompt_ids) & set(test.prompt_ids)
    if overlap:
        raise ValueError(f"{len(overlap)} prompt ids are in both train and test")
    best_train = int(np.argmax(train.scores.mean(axis=0)))
    cost_ref = float(train.costs[:, best_train].mean())
    score = _Scorer(test, n_boot, seed)
    results = _router_results(train, test, routers, score, cost_ref, progress)
    results += _baseline_results(train, test, score, cost_ref, seed)
    best_test = int(np.argmax(test.scores.mean(axis=0)))
    info = {
        "train": {"name": train.name, "prompts": len(train), "fingerprint": fingerprint(train)},
        "test": {"name": test.name, "prompts": len(test), "fingerprint": fingerprint(test)},
        "models": list(test.models),
        "cost_estimated": test.cost_estimated,
        "n_boot": n_boot,
        "seed": seed,
    }
    return Evaluation(train, test, results, test.models[best_test], info)
