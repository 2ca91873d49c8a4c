"""Tests for llmtriage.routing.policy: the knob and threshold rules on hand-computed matrices,
tier cost limits, the allowed mask, the nothing-eligible fallback, and sweep()."""

from __future__ import annotations

import numpy as np
import pytest

from llmtriage.routing.policy import Policy, knob_grid, sweep

INF = np.inf
# three requests x three models, cheapest first
Q = np.array(
    [
        [0.50, 0.70, 0.90],
        [0.90, 0.90, 0.95],
        [0.20, 0.80, 0.85],
    ]
)
C = np.tile([1.0, 2.0, 10.0], (3, 1))


def choose(policy: Policy, allowed: list[bool] | None = None, cost: np.ndarray = C) -> list[int]:
    mask = None if allowed is None else np.array(allowed)
    return policy.choose(Q, cost, mask).tolist()


def test_knob_zero_buys_the_best_quality() -> None:
    assert choose(Policy(knob=0.0)) == [2, 2, 2]


def test_a_large_knob_buys_the_cheapest() -> None:
    assert choose(Policy(knob=1e6, cost_ref=10.0)) == [0, 0, 0]


def test_intermediate_knob_trades_quality_for_cost() -> None:
    # value = q - 0.5 * cost / 10:
    # row 0: 0.45, 0.60, 0.40 -> 1;  row 1: 0.85, 0.80, 0.45 -> 0;  row 2: 0.15, 0.70, 0.35 -> 1
    assert choose(Policy(knob=0.5, cost_ref=10.0)) == [1, 0, 1]


def test_threshold_picks_the_cheapest_model_within_the_threshold() -> None:
    # 90% of the best: row 0 needs >= 0.81 -> 2; row 1 >= 0.855 -> 0; row 2 >= 0.765 -> 1
    assert choose(Policy(threshold=0.9)) == [2, 0, 1]
    assert choose(Policy(threshold=1.0)) == [2, 2, 2]
    assert choose(Policy(threshold=0.1)) == [0, 0, 0]


def test_tier_max_cost_excludes_a_model() -> None:
    limits = np.array([INF, INF, 5.0])
    policy = Policy(knob=0.0, max_cost=limits)
    assert policy.eligible(C).tolist() == [[True, True, False]] * 3
    assert choose(policy) == [1, 0, 1]  # row 1: 0.90 = 0.90, the cheaper one
    # the threshold rule measures against the best *eligible* model: 90% of 0.70, 0.90, 0.80
    assert choose(Policy(threshold=0.9, max_cost=limits)) == [1, 0, 1]


def test_nothing_eligible_falls_back_to_the_cheapest_allowed_model() -> None:
    tight = np.array([0.5, 0.5, 0.5])
    assert choose(Policy(knob=0.0, max_cost=tight)) == [0, 0, 0]
    assert choose(Policy(threshold=0.9, max_cost=tight)) == [0, 0, 0]
    assert choose(Policy(knob=0.0, max_cost=tight), allowed=[False, True, True]) == [1, 1, 1]
    # the cheapest per request, from that request's cost row
    cost = np.array([[3.0, 2.0, 10.0], [1.0, 2.0, 10.0], [5.0, 4.0, 3.0]])
    assert choose(Policy(knob=0.0, max_cost=tight), cost=cost) == [1, 0, 2]


def test_allowed_mask_restricts_the_choice() -> None:
    assert choose(Policy(knob=0.0), allowed=[True, True, False]) == [1, 0, 1]
    assert choose(Policy(knob=1e6, cost_ref=10.0), allowed=[False, False, True]) == [2, 2, 2]
    # 90% of the best allowed: row 0 >= 0.81 -> 2; row 1 >= 0.855 -> 1; row 2 >= 0.765 -> 1
    assert choose(Policy(threshold=0.9), allowed=[False, True, True]) == [2, 1, 1]
    assert choose(Policy(knob=0.5, cost_ref=10.0), allowed=[False, True, True]) == [1, 1, 1]


def test_sweep_matches_policy_choose_at_every_knob() -> None:
    rng = np.random.default_rng(7)
    quality = rng.random((40, 4))
    cost = rng.random((40, 4)) * np.array([0.1, 0.5, 1.0, 3.0])
    knobs = knob_grid(61)
    ref = 1.3
    swept = sweep(quality, cost, knobs, ref)
    assert swept.shape == (len(knobs), 40)
    for k, row in zip(knobs, swept, strict=True):
        np.testing.assert_array_equal(Policy(knob=k, cost_ref=ref).choose(quality, cost), row)
    assert (swept[0] == quality.argmax(axis=1)).all()
    assert (swept[-1] == cost.argmin(axis=1)).all()


@pytest.mark.parametrize("order", ["cheap-first", "cheap-last"])
def test_ties_go_to_the_cheaper_model(order: str) -> None:
    quality = np.array([[0.8, 0.8, 0.3]])
    cost = np.array([[1.0, 2.0, 0.5]]) if order == "cheap-first" else np.array([[2.0, 1.0, 0.5]])
    cheaper = int(np.argmin(cost[0, :2]))
    assert sweep(quality, cost, np.array([0.0]), 1.0).tolist() == [[cheaper]]
    assert Policy(knob=0.0).choose(quality, cost).tolist() == [cheaper]
    assert Policy(knob=0.0, bias=np.zeros(3)).choose(quality, cost).tolist() == [cheaper]


def _rule(policy: Policy, quality: np.ndarray, cost: np.ndarray, allowed: np.ndarray | None) -> int:
    """The policy's rule written out in numpy, as the module docstring states it."""
    ok = policy.eligible(cost)[0] & (True if allowed is None else allowed)
    if policy.threshold is not None:
        best = np.where(ok, quality[0], -np.inf).max()
        value = np.where(ok & (quality[0] >= policy.threshold * best), -cost[0], -np.inf)
    else:
        value = quality[0] - (policy.knob + 1e-9) * cost[0] / policy.cost_ref
        value = np.where(ok, value + (0 if policy.bias is None else policy.bias), -np.inf)
    if np.isfinite(value.max()):
        return int(np.argmax(value))
    return int(np.argmin(np.where(True if allowed is None else allowed, cost[0], np.inf)))


@pytest.mark.parametrize("rule", ["knob", "bias", "threshold"])
def test_choose_one_makes_the_choice_of_choose(rule: str) -> None:
    """The list-based rule agrees with the rule written out in numpy everywhere, ties,
    tier cost limits, allowed masks and the nothing-eligible fallback included."""
    rng = np.random.default_rng(7)
    for _ in range(300):
        m = int(rng.integers(1, 12))
        quality = rng.choice([0.0, 0.5, 0.8, 1.0], size=(1, m)) if rng.random() < 0.3 else None
        quality = rng.random((1, m)) if quality is None else quality
        cost = rng.choice([0.001, 0.01, 0.1], size=(1, m))
        max_cost = np.where(rng.random(m) < 0.3, 0.005, np.inf) if rng.random() < 0.5 else None
        policy = Policy(
            knob=float(rng.choice([0.0, 0.3, 5.0])),
            cost_ref=0.05,
            threshold=0.9 if rule == "threshold" else None,
            bias=rng.normal(0, 0.1, m) if rule == "bias" else None,
            max_cost=max_cost,
        )
        allowed = rng.random(m) < 0.7 if rng.random() < 0.5 else None
        if allowed is not None and not allowed.any():
            allowed[int(rng.integers(m))] = True
        expected = _rule(policy, quality, cost, allowed)
        assert int(policy.choose(quality, cost, allowed)[0]) == expected
        mask = None if allowed is None else allowed.tolist()
        got, eligible = policy.choose_one(quality[0].tolist(), cost[0].tolist(), mask)
        assert got == expected
        assert eligible == policy.eligible(cost)[0].tolist()
