"""k-nearest-neighbour router: a request scores like the training prompts most similar to it."""

from __future__ import annotations

from typing import Any, Literal, Self

import numpy as np
import scipy.sparse as sp

from llmtriage.routing.base import Router
from llmtriage.routing.features import Features


class KnnRouter(Router):
    """Per-model mean score of the k most cosine-similar training prompts.

    ``space="tfidf"`` searches the sparse TF-IDF rows exactly (the classic baseline; its cost
    grows with the training set); ``space="dense"`` searches the SVD projection.
    """

    kind = "knn"
    summary = "k nearest training prompts (cosine on TF-IDF), per-model mean score"

    def __init__(
        self, n_models: int, k: int = 100, space: Literal["tfidf", "dense"] = "tfidf"
    ) -> None:
        super().__init__(n_models)
        self.k = k
        self.space = space
        self.train_x: sp.csr_matrix | np.ndarray | None = None
        self.train_y = np.zeros((0, n_models), dtype=np.float32)

    def _space(self, features: Features) -> sp.csr_matrix | np.ndarray:
        return features.tfidf if self.space == "tfidf" else features.dense

    def fit(self, features: Features, scores: np.ndarray) -> Self:
        x = self._space(features)
        if isinstance(x, np.ndarray):
            self.train_x = np.ascontiguousarray(x)  # rows are training prompts
        else:
            self.train_x = sp.csr_matrix(x.T)
        self.train_y = scores.astype(np.float32)
        return self

    def predict(self, features: Features) -> np.ndarray:
        if self.train_x is None:
            raise RuntimeError("KnnRouter.predict called before fit")
        x = self._space(features)
        if isinstance(self.train_x, np.ndarray):
            sims = (self.train_x @ x.T).T  # (n_train, d) @ (d, n): one gemv per request
        else:
            sims = sp.csr_matrix(x @ self.train_x).toarray()
        k = min(self.k, sims.shape[1])
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        return np.asarray(self.train_y[top].mean(axis=1))

    def params(self) -> dict[str, Any]:
        return {"k": self.k, "space": self.space}

    def arrays(self) -> dict[str, np.ndarray]:
        x = self.train_x
        out: dict[str, np.ndarray] = {"train_y": self.train_y}
        if sp.issparse(x):
            x = sp.csr_matrix(x)
            out |= {
                "x_data": x.data,
                "x_indices": x.indices,
                "x_indptr": x.indptr,
                "x_shape": np.asarray(x.shape),
            }
        elif x is not None:
            out["x_dense"] = x
        return out

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.train_y = arrays["train_y"]
        if "x_dense" in arrays:
            self.train_x = arrays["x_dense"]
        else:
            rows, cols = (int(v) for v in arrays["x_shape"])
            self.train_x = sp.csr_matrix(
                (arrays["x_data"], arrays["x_indices"], arrays["x_indptr"]), shape=(rows, cols)
            )
