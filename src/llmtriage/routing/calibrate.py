"""Set the policy's knob on held-out calibration data so a stated objective is met.

Objectives (config ``router.objective``): ``target_quality`` (fraction of the best single
model's mean quality), ``max_cost_per_request_usd`` (mean cost per request), ``target_share``
(fraction of requests per tier), or an explicit ``knob``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmtriage.config import Objective
from llmtriage.routing.model import Calibration
from llmtriage.routing.policy import knob_grid, sweep


@dataclass(frozen=True)
class Setting:
    knob: float
    bias: np.ndarray | None
    cost_ref: float
    expected_quality: float
    expected_cost: float


def cost_ref(cal: Calibration) -> float:
    """Mean observed cost of the best single model: the unit in which the knob trades."""
    best = int(np.argmax(cal.scores.mean(axis=0)))
    return float(max(cal.costs[:, best].mean(), 1e-12))


def realised(choices: np.ndarray, scores: np.ndarray, costs: np.ndarray) -> tuple[np.ndarray, ...]:
    """Mean observed (quality, cost) of each row of choices (one row per operating point)."""
    rows = np.arange(scores.shape[0])[None, :]
    return scores[rows, choices].mean(axis=1), costs[rows, choices].mean(axis=1)


def calibrate(cal: Calibration, objective: Objective, tiers: np.ndarray) -> Setting:
    """The knob (and tier biases) meeting ``objective`` on the calibration split.

    ``tiers`` gives each model's tier name (for ``target_share``).
    """
    ref = cost_ref(cal)
    if objective.target_share:
        return _by_share(cal, objective.target_share, tiers, ref)
    knobs = knob_grid() if objective.knob is None else np.array([objective.knob])
    q, c = realised(sweep(cal.quality_est, cal.cost_est, knobs, ref), cal.scores, cal.costs)
    if objective.knob is not None:
        i = 0
    elif objective.max_cost_per_request_usd is not None:
        fits = np.flatnonzero(c <= objective.max_cost_per_request_usd)
        i = _cheapest_best(q, c, fits) if len(fits) else int(np.argmin(c))
    else:
        target = (objective.target_quality or 0.95) * cal.scores.mean(axis=0).max()
        meets = np.flatnonzero(q >= target)
        i = int(meets[np.argmin(c[meets])]) if len(meets) else _cheapest_best(q, c, None)
    return Setting(float(knobs[i]), None, ref, float(q[i]), float(c[i]))


def _cheapest_best(q: np.ndarray, c: np.ndarray, among: np.ndarray | None) -> int:
    """Index of the cheapest point among those with the highest quality."""
    idx = np.arange(len(q)) if among is None else among
    top = idx[q[idx] >= q[idx].max() - 1e-12]
    return int(top[np.argmin(c[top])])


def _by_share(cal: Calibration, shares: dict[str, float], tiers: np.ndarray, ref: float) -> Setting:
    """Per-tier additive biases found by bisection, round-robin until shares settle."""
    bias = np.zeros(len(tiers))
    norm = cal.cost_est / ref
    for _ in range(8):
        for tier, target in shares.items():
            members = tiers == tier
            lo, hi = -2.0, 2.0
            for _ in range(30):
                mid = (lo + hi) / 2
                trial = np.where(members, mid, bias)
                share = members[np.argmax(cal.quality_est - norm + trial, axis=1)].mean()
                lo, hi = (mid, hi) if share < target else (lo, mid)
            bias[members] = (lo + hi) / 2
    choice = np.argmax(cal.quality_est - norm + bias, axis=1)[None, :]
    q, c = realised(choice, cal.scores, cal.costs)
    return Setting(1.0, bias, ref, float(q[0]), float(c[0]))
