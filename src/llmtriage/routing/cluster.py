"""Cluster router: k-means over prompt embeddings, a table of per-cluster model quality.

Training-free at request time: one nearest-centroid lookup, then a table read.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np

from llmtriage.routing.base import Router
from llmtriage.routing.features import Features


class ClusterRouter(Router):
    kind = "cluster"
    summary = "k-means clusters of prompts; per-cluster mean score per model (shrunk to global)"

    def __init__(self, n_models: int, clusters: int = 32, prior: float = 5.0, seed: int = 0):
        super().__init__(n_models)
        self.clusters = clusters
        self.prior = prior  # pseudo-count pulling small clusters toward the global mean
        self.seed = seed
        self.centroids = np.zeros((0, 0), dtype=np.float32)
        self.table = np.zeros((0, n_models), dtype=np.float32)

    def fit(self, features: Features, scores: np.ndarray) -> Self:
        from sklearn.cluster import KMeans  # fit-time only

        x = features.dense
        k = max(1, min(self.clusters, len(x) // 2))
        km = KMeans(n_clusters=k, n_init=3, random_state=self.seed).fit(x)
        labels = km.labels_
        counts = np.bincount(labels, minlength=k).astype(np.float64)
        sums = np.zeros((k, self.n_models))
        np.add.at(sums, labels, scores)
        overall = scores.mean(axis=0)
        self.table = ((sums + self.prior * overall) / (counts[:, None] + self.prior)).astype(
            np.float32
        )
        self.centroids = np.ascontiguousarray(km.cluster_centers_.T, dtype=np.float32)
        return self

    def predict(self, features: Features) -> np.ndarray:
        d = features.dense
        # nearest centroid in Euclidean distance: argmax of x.c - |c|^2 / 2
        half_norm = 0.5 * (self.centroids**2).sum(axis=0)
        nearest = np.argmax(d @ self.centroids - half_norm, axis=1)
        return np.asarray(self.table[nearest])

    def params(self) -> dict[str, Any]:
        return {"clusters": self.clusters, "prior": self.prior, "seed": self.seed}

    def arrays(self) -> dict[str, np.ndarray]:
        return {"centroids": self.centroids, "table": self.table}

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.centroids, self.table = arrays["centroids"], arrays["table"]
