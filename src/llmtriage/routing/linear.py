"""Linear router: per-model linear probability models on TF-IDF + structural features.

One ridge regression per model, solved jointly (conjugate gradients on the sparse design),
clipped to [0, 1]. The default strength (alpha = 10) was chosen by cross-validation inside
the training splits of the development data. Prediction is one sparse-dense product: its
cost does not grow with the training set.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from llmtriage.routing.base import Router, standardizer
from llmtriage.routing.features import Features


class LinearRouter(Router):
    kind = "linear"
    summary = "per-model ridge (linear probability) on TF-IDF n-grams + structural features"

    def __init__(self, n_models: int, alpha: float = 10.0) -> None:
        super().__init__(n_models)
        self.alpha = alpha
        self.mean = np.zeros(0, np.float32)
        self.scale = np.ones(0, np.float32)
        self.coef = np.zeros((0, n_models), np.float32)
        self.bias = np.zeros(n_models, np.float32)
        self._folded: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _struct(self, features: Features) -> np.ndarray:
        # structural features scaled down so the TF-IDF part carries most of the weight
        return (features.struct - self.mean) / self.scale * 0.1

    def fit(self, features: Features, scores: np.ndarray) -> Self:
        from sklearn.linear_model import Ridge  # fit-time only

        self.mean, self.scale = standardizer(features.struct)
        x = sp.hstack([features.tfidf, sp.csr_matrix(self._struct(features))], format="csr")
        model = Ridge(alpha=self.alpha, solver="sparse_cg", tol=1e-4).fit(x, scores)
        self.coef = np.ascontiguousarray(np.asarray(model.coef_).T, dtype=np.float32)
        self.bias = np.asarray(model.intercept_, dtype=np.float32)
        self._folded = None
        return self

    def predict(self, features: Features) -> np.ndarray:
        sparse, struct, bias = self._split()
        if features.row is not None:  # one request: the coefficient rows it touches
            raw = features.row_times(sparse) + features.struct[0] @ struct + bias
            return np.clip(raw, 0.0, 1.0, out=raw)[None, :].astype(np.float64)
        raw = features.tfidf @ sparse + features.struct @ struct + bias
        return np.clip(np.asarray(raw, dtype=np.float64), 0.0, 1.0)

    def _split(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(TF-IDF columns' coefficients, structural coefficients and intercept with the
        structural standardisation folded in): computed once, so a prediction is two
        products and a sum."""
        if self._folded is None:
            n_sparse = len(self.coef) - len(self.mean)
            factor = (np.float32(0.1) / self.scale).astype(np.float32)
            struct = (self.coef[n_sparse:] * factor[:, None]).astype(np.float32)
            bias = (self.bias - (self.mean * factor) @ self.coef[n_sparse:]).astype(np.float32)
            sparse = np.ascontiguousarray(self.coef[:n_sparse], dtype=np.float32)
            self._folded = (sparse, struct, bias)
        return self._folded

    def row_weights(self) -> np.ndarray:
        return self._split()[0]

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "scale": self.scale, "coef": self.coef, "bias": self.bias}

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.mean, self.scale = arrays["mean"], arrays["scale"]
        self.coef, self.bias = arrays["coef"], arrays["bias"]
        self._folded = None
