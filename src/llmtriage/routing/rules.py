"""A zero-data router: difficulty from structural cues against per-model capability.

It is the fallback when no trained artifact exists, so its one job is to be sane: greetings
and rewrites go cheap; proofs, science, legal analysis, long multi-step or tool-using work
go to the capable models. q_m = sigmoid(2.5 * (capability_m - difficulty(x) + 0.5)), with
capabilities spread over [1, 3] by price rank when there is no data.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np

from llmtriage.routing.base import Router, sigmoid
from llmtriage.routing.features import Features
from llmtriage.routing.text import STRUCT_NAMES

# Difficulty weights on structural features (most are log1p counts), hand-set so that a
# greeting or a one-line fact lands near 0, code or multi-step work near 1 and proofs,
# science, legal analysis or a bare approval of a long plan at 2 or above.
_WEIGHTS = {
    "log_words": 0.3,
    "log_context_chars": 0.15,
    "math_symbols": 0.3,
    "code_symbols": 0.15,
    "n_tools": 0.4,
    "json_format": 0.4,
    "short_followup": 1.5,
    "cue_reasoning": 2.5,
    "cue_math": 1.5,
    "cue_code": 1.5,
    "cue_science": 3.0,
    "cue_legal": 3.0,
    "cue_multistep": 0.8,
    "cue_simple": -1.5,
    "cue_choice": 0.3,
}
_BIAS = -1.0
_MAX_DIFFICULTY = 3.5  # beyond this, more cues say nothing new: keep the frontier favoured
_STEEPNESS = 2.5
_MARGIN = 0.5


def _quality(capability: np.ndarray, difficulty: np.ndarray) -> np.ndarray:
    return sigmoid(_STEEPNESS * (capability - difficulty + _MARGIN))


class RulesRouter(Router):
    kind = "rules"
    summary = "zero-data: difficulty from cues (math, code, proofs, science, legal, tools)"

    def __init__(self, n_models: int, capability: list[float] | None = None) -> None:
        super().__init__(n_models)
        # Without data, capability grows with the model's position (cheapest first).
        self.capability = np.asarray(
            capability if capability is not None else np.linspace(1.0, 3.0, n_models),
            dtype=np.float64,
        )
        self.weights = np.array([_WEIGHTS.get(name, 0.0) for name in STRUCT_NAMES])

    def difficulty(self, features: Features) -> np.ndarray:
        return np.minimum(features.struct @ self.weights + _BIAS, _MAX_DIFFICULTY)

    def predict(self, features: Features) -> np.ndarray:
        d = self.difficulty(features)
        return _quality(self.capability[None, :], d[:, None])

    def fit(self, features: Features, scores: np.ndarray) -> Self:
        """Set each model's capability so its mean predicted score matches its observed mean."""
        d = self.difficulty(features)
        grid = np.linspace(-6, 8, 561)
        mean_at = _quality(grid[:, None], d[None, :]).mean(axis=1)  # increasing in capability
        self.capability = np.interp(scores.mean(axis=0), mean_at, grid)
        return self

    def params(self) -> dict[str, Any]:
        return {"capability": [float(c) for c in self.capability]}
