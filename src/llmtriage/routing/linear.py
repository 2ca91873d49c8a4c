"""Linear router: one logistic regression per model on TF-IDF + structural features."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from llmtriage.routing.base import Router, sigmoid, standardizer
from llmtriage.routing.features import Features


def soft_label_rows(
    x: sp.csr_matrix, y: np.ndarray
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Rows duplicated as a positive and a negative example weighted by the score, so a
    logistic loss fits fractional scores (cross-entropy with soft labels)."""
    n = x.shape[0]
    rows = sp.vstack([x, x]).tocsr()
    labels = np.concatenate([np.ones(n), np.zeros(n)])
    weights = np.concatenate([y, 1.0 - y])
    keep = weights > 0
    return rows[keep], labels[keep], weights[keep]


class LinearRouter(Router):
    kind = "linear"
    summary = "per-model logistic regression on TF-IDF n-grams and structural features"

    def __init__(self, n_models: int, c: float = 1.0) -> None:
        super().__init__(n_models)
        self.c = c
        self.mean = np.zeros(0, np.float32)
        self.scale = np.ones(0, np.float32)
        self.coef = np.zeros((0, n_models), np.float32)
        self.bias = np.zeros(n_models, np.float32)

    def _design(self, features: Features) -> sp.csr_matrix:
        struct = (features.struct - self.mean) / self.scale
        return sp.hstack([features.tfidf, sp.csr_matrix(struct)], format="csr")

    def fit(self, features: Features, scores: np.ndarray) -> Self:
        from sklearn.linear_model import LogisticRegression  # fit-time only

        self.mean, self.scale = standardizer(features.struct)
        x = self._design(features)
        coefs, biases = [], []
        for m in range(self.n_models):
            y = scores[:, m]
            if y.min() == y.max():  # constant outcome: nothing to learn but the level
                coefs.append(np.zeros(x.shape[1]))
                biases.append(float(np.log((y[0] + 1e-3) / (1 - y[0] + 1e-3))))
                continue
            rows, labels, weights = soft_label_rows(x, y)
            lr = LogisticRegression(C=self.c, max_iter=300, solver="lbfgs")
            lr.fit(rows, labels, sample_weight=weights)
            coefs.append(lr.coef_[0])
            biases.append(float(lr.intercept_[0]))
        self.coef = np.ascontiguousarray(np.array(coefs).T, dtype=np.float32)
        self.bias = np.array(biases, dtype=np.float32)
        return self

    def predict(self, features: Features) -> np.ndarray:
        n_sparse = features.tfidf.shape[1]
        logits = features.tfidf @ self.coef[:n_sparse]
        struct = (features.struct - self.mean) / self.scale
        logits = logits + struct @ self.coef[n_sparse:] + self.bias
        return sigmoid(np.asarray(logits, dtype=np.float64))

    def params(self) -> dict[str, Any]:
        return {"c": self.c}

    def arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "scale": self.scale, "coef": self.coef, "bias": self.bias}

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.mean, self.scale = arrays["mean"], arrays["scale"]
        self.coef, self.bias = arrays["coef"], arrays["bias"]
