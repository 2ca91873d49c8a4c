"""Stacked ensemble: member routers blended per model with weights learned out of fold.

Each member is fitted on k-1 folds and predicts the held-out fold; per model, non-negative
blend weights (and an intercept) are fitted to those out-of-fold predictions by least squares,
so a member only earns weight for what it predicts on prompts it has not seen. The members
are then refitted on all the data.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np

from llmtriage.routing.base import Router
from llmtriage.routing.features import Features


def _members(specs: list[dict[str, Any]], n_models: int) -> list[Router]:
    from llmtriage.routing.registry import from_state  # the registry imports this module

    return [from_state(s["kind"], n_models, s.get("params", {})) for s in specs]


def _nnls_blend(preds: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Non-negative weights (n_members,) and an intercept, minimising squared error."""
    from scipy.optimize import nnls  # fit-time only

    n = len(target)
    # intercept as a free term: center both sides, fit weights, recover the intercept
    mean_p, mean_t = preds.mean(axis=0), target.mean()
    weights, _ = nnls(preds - mean_p, target - mean_t)
    if weights.sum() == 0:
        weights = np.full(preds.shape[1], 1.0 / preds.shape[1])
    intercept = mean_t - mean_p @ weights
    return np.concatenate([weights, [intercept]]) if n else weights


class StackRouter(Router):
    kind = "stack"
    summary = "stacked ensemble: members blended per model by out-of-fold NNLS weights"

    def __init__(
        self, n_models: int, members: list[dict[str, Any]], folds: int = 5, seed: int = 0
    ) -> None:
        super().__init__(n_models)
        self.member_specs = members
        self.folds = folds
        self.seed = seed
        self.members = _members(members, n_models)
        # (n_members + 1, n_models): blend weights then intercept, per model
        self.blend = np.vstack(
            [np.full((len(members), n_models), 1.0 / len(members)), np.zeros((1, n_models))]
        )

    def _stacked(self, features: Features) -> np.ndarray:
        return np.stack([m.predict(features) for m in self.members], axis=2)  # (n, M, members)

    def fit(self, features: Features, scores: np.ndarray) -> Self:
        n = len(features)
        fold = np.random.default_rng(self.seed).permutation(n) % self.folds
        oof = np.zeros((n, self.n_models, len(self.members)))
        for f in range(self.folds):
            train, held = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
            fitted = _members(self.member_specs, self.n_models)
            for j, member in enumerate(fitted):
                member.fit(features.take(train), scores[train])
                oof[held, :, j] = member.predict(features.take(held))
        self.blend = np.column_stack(
            [_nnls_blend(oof[:, m, :], scores[:, m]) for m in range(self.n_models)]
        )
        for member in self.members:
            member.fit(features, scores)
        return self

    def predict(self, features: Features) -> np.ndarray:
        stacked = self._stacked(features)
        w, b = self.blend[:-1], self.blend[-1]
        return np.clip(np.einsum("nmj,jm->nm", stacked, w) + b, 0.0, 1.0)

    def params(self) -> dict[str, Any]:
        return {"members": self.member_specs, "folds": self.folds, "seed": self.seed}

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"blend": self.blend}
        for j, member in enumerate(self.members):
            out |= {f"m{j}.{k}": v for k, v in member.arrays().items()}
        return out

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.blend = arrays["blend"]
        for j, member in enumerate(self.members):
            prefix = f"m{j}."
            member.load_arrays(
                {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            )
