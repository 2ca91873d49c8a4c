"""A zero-data router: difficulty from structural cues against per-model capability.

It is the fallback when no trained artifact exists, so its one job is to be sane: greetings
and rewrites go cheap; proofs, science, legal analysis, long multi-step or tool-using work
go to the capable models. q_m = sigmoid(capability_m - difficulty(x)).
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np

from llmtriage.routing.base import Router, sigmoid
from llmtriage.routing.features import Features
from llmtriage.routing.text import STRUCT_NAMES

# Difficulty weights on structural features (log counts), hand-set, and a bias.
_WEIGHTS = {
    "log_words": 0.25,
    "n_user_turns": 0.1,
    "log_context_chars": 0.1,
    "math_symbols": 0.25,
    "code_symbols": 0.1,
    "n_tools": 0.3,
    "json_format": 0.3,
    "short_followup": 1.0,
    "cue_reasoning": 1.4,
    "cue_math": 0.9,
    "cue_code": 0.6,
    "cue_science": 1.6,
    "cue_legal": 1.6,
    "cue_multistep": 0.5,
    "cue_simple": -1.2,
    "cue_choice": 0.2,
}
_BIAS = -0.5


class RulesRouter(Router):
    kind = "rules"
    summary = "zero-data: difficulty from cues (math, code, proofs, science, legal, tools)"

    def __init__(self, n_models: int, capability: list[float] | None = None) -> None:
        super().__init__(n_models)
        # Without data, capability grows with the model's position (cheapest first).
        self.capability = np.asarray(
            capability if capability is not None else np.linspace(0.5, 3.0, n_models),
            dtype=np.float64,
        )
        self.weights = np.array([_WEIGHTS.get(name, 0.0) for name in STRUCT_NAMES])

    def difficulty(self, features: Features) -> np.ndarray:
        return np.asarray(features.struct @ self.weights + _BIAS)

    def predict(self, features: Features) -> np.ndarray:
        d = self.difficulty(features)
        return sigmoid(self.capability[None, :] - d[:, None])

    def fit(self, features: Features, scores: np.ndarray) -> Self:
        """Set each model's capability so its mean predicted score matches its observed mean."""
        d = self.difficulty(features)
        grid = np.linspace(-6, 8, 561)
        mean_at = sigmoid(grid[:, None] - d[None, :]).mean(axis=1)  # increasing in capability
        self.capability = np.interp(scores.mean(axis=0), mean_at, grid)
        return self

    def params(self) -> dict[str, Any]:
        return {"capability": [float(c) for c in self.capability]}
