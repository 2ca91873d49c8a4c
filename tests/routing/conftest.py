"""Fixtures shared by the routing tests: the synthetic problem and routers trained on it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from synthetic_data import MODELS, Synthetic, synthetic

from llmtriage.routing import registry
from llmtriage.routing.features import FeatureConfig, Featurizer
from llmtriage.routing.model import RoutingModel, train


@pytest.fixture(scope="session")
def train_set() -> Synthetic:
    """300 training prompts x 3 models."""
    return synthetic(300, seed=0)


@pytest.fixture(scope="session")
def test_set() -> Synthetic:
    """60 held-out prompts of the same two kinds (different draws)."""
    return synthetic(60, seed=1)


@pytest.fixture(scope="session")
def trained(train_set: Synthetic) -> Callable[[str], RoutingModel]:
    """Router name -> that router trained on ``train_set`` (each trained once per session).

    Each router reads its registered feature configuration with the SVD projection cut to 16
    dimensions (the 128-dimension fit costs seconds and adds nothing on 300 prompts)."""
    featurizers: dict[FeatureConfig, Featurizer] = {}
    models: dict[str, RoutingModel] = {}

    def get(name: str) -> RoutingModel:
        if name not in models:
            features = registry.spec(name).features
            config = dataclasses.replace(features, svd_dims=min(features.svd_dims, 16))
            if config not in featurizers:
                featurizers[config] = Featurizer.fit(train_set.requests, config)
            data = train_set
            models[name] = train(
                name, MODELS, data.requests, data.scores, data.costs, featurizers[config]
            )
        return models[name]

    return get
