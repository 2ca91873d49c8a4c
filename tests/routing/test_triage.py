"""Tests for llmtriage.routing.triage: Triage.from_config with and without a trained artifact,
tier restriction, tier cost limits, and the reasons given."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from synthetic_data import MODELS

from llmtriage import config
from llmtriage.exceptions import ConfigError, RoutingError
from llmtriage.routing import artifact
from llmtriage.routing.model import RoutingModel
from llmtriage.routing.triage import Triage
from llmtriage.types import ChatRequest, RoutingDecision

TIERS = {"tiny": "small", "medium": "mid", "big": "frontier"}
PROOF = "Prove rigorously that the square root of 2 is irrational."
HARD = "Give a calculus proof that the integral of 1/x^2 from 1 to infinity converges."
EASY = "Hi Zoe, warm greetings and thanks from all of us!"
LIMIT = re.compile(r"limit|eligible|exceed|exclud", re.IGNORECASE)


def make_config(
    artifact_path: Path | None = None,
    frontier: dict[str, Any] | None = None,
    kind: str = "linear",
) -> config.Config:
    prices = {"tiny": (0.1, 0.4), "medium": (1.0, 4.0), "big": (10.0, 40.0)}
    data: dict[str, Any] = {
        "models": [
            {"name": m, "provider": "replay", "price": {"input_per_mtok": i, "output_per_mtok": o}}
            for m, (i, o) in prices.items()
        ],
        "tiers": [
            {"name": "small", "models": ["tiny"]},
            {"name": "mid", "models": ["medium"]},
            {"name": "frontier", "models": ["big"], **(frontier or {})},
        ],
    }
    if artifact_path is not None:
        data["router"] = {"kind": kind, "artifact": str(artifact_path)}
    return config.parse(data)


def ask(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def check_decision(d: RoutingDecision) -> None:
    assert isinstance(d, RoutingDecision)
    assert [e.model for e in d.estimates] == list(MODELS)
    assert [e.tier for e in d.estimates] == [TIERS[m] for m in MODELS]
    assert all(0.0 <= e.quality <= 1.0 and e.cost_usd > 0 for e in d.estimates)
    assert d.model in MODELS and d.tier == TIERS[d.model]
    assert d.reason.strip()
    assert d.to_dict()["model"] == d.model


@pytest.fixture(scope="module")
def saved(trained: Callable[[str], RoutingModel], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return artifact.save(trained("linear"), tmp_path_factory.mktemp("triage") / "router.npz")


# ---------------------------------------------------------------- zero data (no artifact)


def test_zero_data_decides_with_estimates_and_a_reason() -> None:
    triage = Triage.from_config(make_config())
    d = triage.decide(ask(PROOF))
    check_decision(d)
    assert d.router == "rules"
    assert all(e.eligible and not e.reason for e in d.estimates)
    assert d.tier == "frontier"  # a proof must not go to the cheap tiers
    again = triage.decide(ChatRequest.from_prompt(PROOF))
    assert (again.model, again.estimates) == (d.model, d.estimates)


@pytest.mark.parametrize(
    "prompt",
    [
        "hi, thanks!",
        "translate hello to French",
        "What is the capital of France?",
        "Rephrase: the cat sat on the mat.",
    ],
)
def test_zero_data_sends_trivial_prompts_to_the_small_tier(prompt: str) -> None:
    d = Triage.from_config(make_config()).decide(ask(prompt))
    assert d.tier == "small", d.reason


def test_tier_argument_restricts_the_choice() -> None:
    triage = Triage.from_config(make_config())
    for tier, model in [("small", "tiny"), ("mid", "medium"), ("frontier", "big")]:
        for prompt in (PROOF, "hi, thanks!"):
            d = triage.decide(ask(prompt), tier=tier)
            check_decision(d)
            assert (d.model, d.tier) == (model, tier)


def test_estimates_say_which_models_the_request_may_not_use() -> None:
    triage = Triage.from_config(make_config())
    d = triage.decide(ask(PROOF), tier="mid")
    why = {e.model: (e.eligible, e.reason) for e in d.estimates}
    assert why == {
        "tiny": (False, "not in the requested tier 'mid'"),
        "medium": (True, ""),
        "big": (False, "not in the requested tier 'mid'"),
    }
    d = triage.decide(ask(PROOF), models=frozenset({"tiny", "medium"}))
    assert d.model != "big"
    big = next(e for e in d.estimates if e.model == "big")
    assert (big.eligible, big.reason) == (False, "not among this key's models")
    assert all(e.eligible for e in d.estimates if e.model != "big")


def test_unknown_tier_is_a_routing_error() -> None:
    with pytest.raises(RoutingError) as err:
        Triage.from_config(make_config()).decide(ask(PROOF), tier="platinum")
    assert "platinum" in str(err.value)
    assert all(t in str(err.value) for t in ("small", "mid", "frontier"))


# ---------------------------------------------------------------- with a trained artifact


def test_artifact_for_the_same_models_loads_and_decides(saved: Path) -> None:
    triage = Triage.from_config(make_config(saved))
    assert triage.model.models == MODELS
    assert triage.model.name == "linear"
    hard, easy = triage.decide(ask(HARD)), triage.decide(ask(EASY))
    check_decision(hard)
    check_decision(easy)
    assert hard.router == "linear"
    assert hard.model == "big", hard.reason  # only big solves calculus proofs
    assert easy.model == "tiny", easy.reason  # every model solves greetings
    assert triage.decide(ask(HARD), tier="mid").model == "medium"


def test_artifact_for_other_models_is_a_config_error(
    trained: Callable[[str], RoutingModel], tmp_path: Path
) -> None:
    other = dataclasses.replace(trained("knn"), models=("gpt-4o-mini", "gpt-4o", "o3"))
    path = artifact.save(other, tmp_path / "other.npz")
    with pytest.raises(ConfigError) as err:
        Triage.from_config(make_config(path, kind="knn"))
    assert err.value.path == "router.artifact"
    assert "o3" in str(err.value) and "tiny" in str(err.value)


def test_missing_artifact_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        Triage.from_config(make_config(tmp_path / "absent.npz"))


# ---------------------------------------------------------------- tier cost limits


@pytest.mark.parametrize("with_artifact", [False, True], ids=["zero-data", "artifact"])
def test_tier_cost_limit_excludes_a_model(with_artifact: bool, saved: Path) -> None:
    cfg = make_config(saved if with_artifact else None, {"max_cost_per_request_usd": 0.001})
    triage = Triage.from_config(cfg)
    d = triage.decide(ask(PROOF if not with_artifact else HARD))
    check_decision(d)
    big = d.estimates[MODELS.index("big")]
    assert big.cost_usd > 0.001
    assert not big.eligible
    assert LIMIT.search(big.reason) and "cost" in big.reason
    assert d.to_dict()["estimates"][2]["excluded_because"] == big.reason
    assert all(e.eligible for e in d.estimates if e.model != "big")
    assert d.model != "big"


@pytest.mark.parametrize("tier", [None, "frontier"], ids=["any-tier", "frontier-only"])
def test_decision_reason_says_when_the_cost_limit_shaped_the_choice(tier: str | None) -> None:
    # Without a limit the proof goes to big; with big over its tier's limit, the choice is
    # either another model (any tier) or big as the fallback when nothing is eligible.
    triage = Triage.from_config(make_config(frontier={"max_cost_per_request_usd": 0.001}))
    d = triage.decide(ask(PROOF), tier=tier)
    assert LIMIT.search(d.reason), d.reason
