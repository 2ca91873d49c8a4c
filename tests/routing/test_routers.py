"""Tests for every registered router (registry.ROUTERS), the training entry point, the
zero-data rules router, and router artifacts (save/load, refusal of foreign or unsafe files)."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from synthetic_data import MODELS, PRICES, Synthetic

from llmtriage.exceptions import ConfigError
from llmtriage.routing import artifact, registry
from llmtriage.routing.cost import CostModel
from llmtriage.routing.model import RoutingModel, train, zero_data
from llmtriage.types import ChatRequest

NAMES = list(registry.ROUTERS)
LEARNED = [name for name in NAMES if name != "rules"]
NEW = [
    ChatRequest.from_prompt("Give a calculus proof that e^x is its own derivative, fully."),
    ChatRequest.from_prompt("Hi there Zoe, many greetings and thanks!"),
    ChatRequest(
        messages=[
            {"role": "user", "content": "Prove that the integral of 1/x diverges."},
            {"role": "assistant", "content": "Sketch: compare with the harmonic series."},
            {"role": "user", "content": "yes"},
        ]
    ),
]


@pytest.fixture(scope="module")
def saved(trained: Callable[[str], RoutingModel], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real artifact on disk, for the tests that damage it."""
    return artifact.save(trained("linear"), tmp_path_factory.mktemp("art") / "router.npz")


@pytest.mark.parametrize("name", NAMES)
def test_predictions_have_one_column_per_model_within_0_1(
    name: str, trained: Callable[[str], RoutingModel], test_set: Synthetic
) -> None:
    model = trained(name)
    assert model.models == MODELS
    quality, cost = model.estimate(test_set.requests)
    assert quality.shape == (len(test_set.requests), len(MODELS))
    assert cost.shape == quality.shape
    assert np.isfinite(quality).all()
    assert quality.min() >= 0.0 and quality.max() <= 1.0
    assert (cost > 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_one_request_gets_the_estimate_of_its_batch_row(
    name: str, trained: Callable[[str], RoutingModel], test_set: Synthetic
) -> None:
    # the gateway estimates one request at a time, on a lean path of its own
    model = trained(name)
    quality, cost = model.estimate(test_set.requests[:12])
    for i, req in enumerate(test_set.requests[:12]):
        q1, c1 = model.estimate([req])
        np.testing.assert_allclose(q1[0], quality[i], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(c1[0], cost[i], rtol=1e-6)


@pytest.mark.parametrize("name", LEARNED)
def test_learned_router_sees_the_big_models_advantage_on_hard_prompts(
    name: str, trained: Callable[[str], RoutingModel], test_set: Synthetic
) -> None:
    quality, _ = trained(name).estimate(test_set.requests)
    advantage = quality[:, 2] - quality[:, 0]
    hard, easy = advantage[test_set.hard], advantage[~test_set.hard]
    assert hard.mean() > easy.mean() + 0.3, (hard.mean(), easy.mean())
    assert np.median(hard) > np.median(easy)


@pytest.mark.parametrize("name", NAMES)
def test_artifact_round_trip_gives_identical_estimates(
    name: str, trained: Callable[[str], RoutingModel], test_set: Synthetic, tmp_path: Path
) -> None:
    model = trained(name)
    path = artifact.save(model, tmp_path / "router")
    assert path.suffix == ".npz" and path.exists()
    loaded = artifact.load(path, expected_models=list(MODELS))
    assert loaded.models == MODELS
    assert loaded.name == name
    requests = [*NEW, *test_set.requests[:10]]
    q0, c0 = model.estimate(requests)
    q1, c1 = loaded.estimate(requests)
    np.testing.assert_allclose(q1, q0, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(c1, c0, rtol=1e-6)


def test_loading_for_other_models_names_both_lists(saved: Path) -> None:
    other = ["gpt-4o", "claude-sonnet", "llama-8b"]
    with pytest.raises(ConfigError) as err:
        artifact.load(saved, expected_models=other)
    message = str(err.value)
    for name in [*MODELS, *other]:
        assert name in message


def _npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def _meta(obj: object) -> np.ndarray:
    return np.frombuffer(json.dumps(obj).encode("utf-8"), dtype=np.uint8)


def _real(saved: Path) -> dict[str, np.ndarray]:
    with np.load(saved) as archive:
        return {k: archive[k] for k in archive.files}


def _corrupt(case: str, saved: Path, path: Path) -> Path:
    """A damaged copy of the artifact ``saved``, or a foreign archive, at ``path``."""
    data = saved.read_bytes()
    mid = len(data) // 2
    if case == "garbage":
        path.write_bytes(b"not an archive\n" * 50)
    elif case == "empty-file":
        path.write_bytes(b"")
    elif case == "truncated":
        path.write_bytes(data[:mid])
    elif case == "flipped-bytes":
        path.write_bytes(
            data[:mid] + bytes(b ^ 0xFF for b in data[mid : mid + 64]) + data[mid + 64 :]
        )
    elif case == "foreign-npz":
        _npz(path, weights=np.arange(4.0))
    elif case == "meta-not-json":
        _npz(path, __meta__=np.frombuffer(b"{oops", dtype=np.uint8))
    elif case == "other-format":
        _npz(path, __meta__=_meta({"format": "x", "format_version": 1}))
    elif case == "column-out-of-range":  # would index past the IDF (and the C kernel's scratch)
        real = _real(saved)
        columns = real["feat_columns"].copy()
        columns[7] = len(real["feat_idf"]) + 1000
        _npz(path, **{**real, "feat_columns": columns})
    elif case == "column-map-size":
        real = _real(saved)
        _npz(path, **{**real, "feat_columns": real["feat_columns"][:1000]})
    else:  # "missing-array": a real artifact with one array dropped
        _npz(path, **{k: v for k, v in _real(saved).items() if k != "feat_idf"})
    return path


CORRUPTIONS = [
    "garbage",
    "empty-file",
    "truncated",
    "flipped-bytes",
    "foreign-npz",
    "meta-not-json",
    "other-format",
    "missing-array",
    "column-out-of-range",
    "column-map-size",
]


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_corrupt_or_foreign_artifact_raises_config_error(
    case: str, saved: Path, tmp_path: Path
) -> None:
    path = _corrupt(case, saved, tmp_path / "bad.npz")
    with pytest.raises(ConfigError) as err:
        artifact.load(path)
    assert err.value.path == "router.artifact"


class _Payload:
    """Pickles to a call that creates a marker file: proof that loading ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_artifacts_load_without_pickle(saved: Path, tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    payload = np.empty(1, dtype=object)
    payload[0] = _Payload(marker)
    pickle.dumps(payload)  # sanity: the payload really pickles
    path = _npz(tmp_path / "evil.npz", **{**_real(saved), "feat_idf": payload})
    with pytest.raises(ConfigError):
        artifact.load(path)
    assert not marker.exists()


def test_unknown_router_name_lists_the_known_ones(train_set: Synthetic) -> None:
    with pytest.raises(ConfigError) as err:
        train("nope", MODELS, train_set.requests, train_set.scores, train_set.costs)
    message = str(err.value)
    assert "nope" in message
    for name in NAMES:
        assert name in message
    with pytest.raises(ConfigError):
        registry.build("knn2", 3)


HARD_ZERO_DATA = [
    "Prove rigorously that there are infinitely many prime numbers.",
    "Consider the molecular orbital diagram of nitric oxide (NO). The unpaired electron "
    "occupies an antibonding pi* orbital. Which statement about the ionization of NO to NO+ "
    "is correct?\n(A) The bond order decreases from 2.5 to 2\n(B) The bond order increases "
    "from 2.5 to 3 and the bond shortens\n(C) The molecule becomes paramagnetic\n(D) The "
    "electron is removed from a sigma bonding orbital",
    "A Delaware company sells a defective ladder that injures a buyer in Texas. Analyze the "
    "company's tort liability and which court has jurisdiction over the lawsuit.",
]
EASY_ZERO_DATA = ["hi, thanks!", "translate hello to French"]


def test_zero_data_rules_give_the_frontier_an_edge_on_hard_prompts() -> None:
    models = ("tiny", "medium", "big")
    cost = CostModel.from_prices(PRICES * 1e4, PRICES * 4e4, [256] * 3)
    model = zero_data(models, cost)
    quality, _ = model.estimate([ChatRequest.from_prompt(p) for p in HARD_ZERO_DATA])
    easy_q, _ = model.estimate([ChatRequest.from_prompt(p) for p in EASY_ZERO_DATA])
    hard_adv = quality[:, -1] - quality[:, 0]
    easy_adv = easy_q[:, -1] - easy_q[:, 0]
    assert hard_adv.min() > easy_adv.max(), (hard_adv, easy_adv)
    assert ((quality >= 0) & (quality <= 1)).all()
