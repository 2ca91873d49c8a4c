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
        self._row_weights: np.ndarray | None = None

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
        self._row_weights = None
        return self

    def predict(self, features: Features) -> np.ndarray:
        n_sparse = features.n_columns
        if features.row is not None:  # one request: the coefficient rows it touches
            sparse_part = features.row_times(self.row_weights())[None, :]
        else:
            sparse_part = features.tfidf @ self.coef[:n_sparse]
        raw = sparse_part + self._struct(features) @ self.coef[n_sparse:]
        return np.clip(np.asarray(raw + self.bias, dtype=np.float64), 0.0, 1.0)

    def row_weights(self) -> np.ndarray:
        """The TF-IDF columns' coefficients (one row per column, C order), computed once."""
        n_sparse = len(self.coef) - len(self.mean)
        if self._row_weights is None or len(self._row_weights) != n_sparse:
            self._row_weights = np.ascontiguousarray(self.coef[:n_sparse], dtype=np.float32)
        return self._row_weights

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "scale": self.scale, "coef": self.coef, "bias": self.bias}

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.mean, self.scale = arrays["mean"], arrays["scale"]
        self.coef, self.bias = arrays["coef"], arrays["bias"]
        self._row_weights = None
