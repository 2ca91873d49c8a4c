"""Tests for llmtriage.routing.calibrate: each objective on a hand-made calibration split.

The two-model split: ten requests, a cheap model (cost 1) and an expensive one (cost 10). The
cheap model's estimate on request i is i/10, the expensive one's is 1, so at knob k (cost_ref
= 10, the expensive model being the best single model) the expensive model serves request i
iff 1 - i/10 > 0.9 k: the t hardest-looking requests go to it, t falling as k grows. Observed:
the cheap model solves requests 5..9, the expensive one all. Serving the first t requests
expensively (t <= 5) realises quality (t + 5) / 10 and cost (9 t + 10) / 10.
"""

from __future__ import annotations

import numpy as np
import pytest

from llmtriage.config import Objective
from llmtriage.routing.calibrate import Setting, calibrate
from llmtriage.routing.model import Calibration
from llmtriage.routing.policy import Policy

N = 10
TIERS = np.array(["small", "frontier"])


def two_model_split() -> Calibration:
    quality_est = np.column_stack([np.arange(N) / N, np.ones(N)])
    cost = np.tile([1.0, 10.0], (N, 1))
    scores = np.column_stack([(np.arange(N) >= 5).astype(float), np.ones(N)])
    return Calibration(quality_est, cost.copy(), scores, cost.copy())


def realise(cal: Calibration, s: Setting) -> tuple[float, float, np.ndarray]:
    """Mean observed quality and cost of the setting's policy on the split, and its choices."""
    choice = Policy(knob=s.knob, cost_ref=s.cost_ref, bias=s.bias).choose(
        cal.quality_est, cal.cost_est
    )
    rows = np.arange(len(choice))
    return cal.scores[rows, choice].mean(), cal.costs[rows, choice].mean(), choice


@pytest.mark.parametrize(
    ("target", "t"),
    [(0.65, 2), (0.75, 3), (0.95, 5), (1.0, 5)],
)
def test_target_quality_takes_the_cheapest_point_reaching_it(target: float, t: int) -> None:
    cal = two_model_split()
    s = calibrate(cal, Objective(target_quality=target), TIERS)
    assert s.cost_ref == pytest.approx(10.0)
    assert s.expected_quality == pytest.approx((t + 5) / 10)
    assert s.expected_cost == pytest.approx((9 * t + 10) / 10)
    quality, cost, choice = realise(cal, s)
    assert choice.tolist() == [1] * t + [0] * (N - t)
    assert quality == pytest.approx(s.expected_quality)
    assert cost == pytest.approx(s.expected_cost)


@pytest.mark.parametrize(("budget", "t"), [(4.0, 3), (2.0, 1), (6.0, 5), (100.0, 5)])
def test_max_cost_per_request_respects_the_budget(budget: float, t: int) -> None:
    cal = two_model_split()
    s = calibrate(cal, Objective(max_cost_per_request_usd=budget), TIERS)
    quality, cost, _ = realise(cal, s)
    assert cost <= budget
    assert s.expected_cost <= budget
    assert quality == pytest.approx((t + 5) / 10)  # the best quality the budget buys
    assert s.expected_quality == pytest.approx(quality)


def test_max_cost_below_anything_reachable_takes_the_cheapest_point() -> None:
    s = calibrate(two_model_split(), Objective(max_cost_per_request_usd=0.5), TIERS)
    assert s.expected_cost == pytest.approx(1.0)
    assert s.expected_quality == pytest.approx(0.5)


@pytest.mark.parametrize(
    "shares",
    [
        {"small": 0.5, "mid": 0.3, "frontier": 0.2},
        {"frontier": 0.6},
        {"small": 0.8, "mid": 0.1, "frontier": 0.1},
    ],
)
def test_target_share_is_met_within_five_points(shares: dict[str, float]) -> None:
    rng = np.random.default_rng(3)
    n = 400
    quality_est = np.sort(rng.random((n, 3)), axis=1)  # dearer models look better
    cost = np.tile([0.1, 1.0, 5.0], (n, 1)) * (1 + 0.2 * rng.random((n, 1)))
    scores = (rng.random((n, 3)) < quality_est).astype(float)
    cal = Calibration(quality_est, cost, scores, cost)
    tiers = np.array(["small", "mid", "frontier"])
    s = calibrate(cal, Objective(target_share=shares), tiers)
    assert s.bias is not None and s.bias.shape == (3,)
    _, _, choice = realise(cal, s)
    for tier, target in shares.items():
        share = float((tiers[choice] == tier).mean())
        assert abs(share - target) <= 0.05, (tier, share, target)


@pytest.mark.parametrize("knob", [0.0, 0.5, 0.55, 3.0])
def test_explicit_knob_passes_through(knob: float) -> None:
    cal = two_model_split()
    s = calibrate(cal, Objective(knob=knob), TIERS)
    assert s.knob == knob
    assert s.bias is None
    # what the setting promises is what its knob does on the calibration split
    quality, cost, _ = realise(cal, s)
    assert s.expected_quality == pytest.approx(quality)
    assert s.expected_cost == pytest.approx(cost)


def test_unreachable_target_falls_back_to_the_max_quality_point() -> None:
    cal = two_model_split()
    # the expensive model fails request 9, which the cheap one solves: routing reaches 1.0
    # (t = 5..9), above the best single model's 0.9, but not 1.2 x 0.9; knob 0 gives 0.9
    cal.scores[9, 1] = 0.0
    s = calibrate(cal, Objective(target_quality=1.2), TIERS)
    quality, cost, choice = realise(cal, s)
    assert s.expected_quality == pytest.approx(1.0)
    assert quality == pytest.approx(1.0)
    assert choice[9] == 0
    assert s.expected_cost == pytest.approx(cost)
