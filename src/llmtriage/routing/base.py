"""The Router extension point: estimate, per request, the quality each model would reach."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Self

import numpy as np

from llmtriage.routing.features import Features


class Router(ABC):
    """Predicts an (n_requests, n_models) matrix of expected scores in [0, 1].

    ``predict`` is the one required method. Learned routers also implement ``fit``; every
    router describes its hyper-parameters with ``params()`` and its fitted state with
    ``arrays()`` so that artifacts hold only JSON and numpy arrays (see artifact.py), and
    rebuilds itself from both with ``from_state``.
    """

    kind: ClassVar[str]
    summary: ClassVar[str]

    def __init__(self, n_models: int) -> None:
        self.n_models = n_models

    @abstractmethod
    def predict(self, features: Features) -> np.ndarray:
        """Expected score of every model for every request, shape (n, n_models)."""

    def fit(self, features: Features, scores: np.ndarray) -> Self:
        """Learn from training requests and their (n, n_models) observed scores."""
        raise NotImplementedError(f"{type(self).__name__} does not learn from data")

    def row_weights(self) -> np.ndarray | None:
        """Per-TF-IDF-column weights (n_columns x k float32) whose product with a request's
        row ``predict`` reads through ``Features.row_times``; the featurizer then computes
        it in its pass over the text. None (the default): the router needs no such product."""
        return None

    def params(self) -> dict[str, Any]:
        """Hyper-parameters as JSON-ready values (constructor keyword arguments)."""
        return {}

    def arrays(self) -> dict[str, np.ndarray]:
        """Fitted state as named numpy arrays."""
        return {}

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore fitted state produced by ``arrays()``."""
        if arrays:
            raise NotImplementedError(f"{type(self).__name__} has no fitted state")


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def standardizer(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and scale of a training matrix (scale 1 where a column is constant)."""
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)
