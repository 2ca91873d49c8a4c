"""Turn per-model estimates into one choice per request.

Two rules, both vectorised over requests:
- ``knob``: maximise q - knob * cost / cost_ref (+ a per-model bias from share targets).
  knob = 0 buys the best expected quality; larger knobs trade quality for money. This is the
  Lagrangian of "best mean quality under a mean-cost budget", so sweeping it traces the
  router's cost/quality curve and calibration picks one point on it.
- ``threshold``: the cheapest model whose estimate is at least ``threshold`` x the best
  estimate for this request; used when no calibration data exists (the zero-data router).
Models whose estimated cost exceeds their tier's ``max_cost_per_request_usd`` are ineligible;
when nothing is eligible the cheapest model is taken and the reason says so.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

_TIE = 1e-9


@dataclass(frozen=True)
class Policy:
    knob: float = 0.0
    cost_ref: float = 1.0
    threshold: float | None = None
    bias: np.ndarray | None = None  # (M,) additive, from target_share calibration
    max_cost: np.ndarray | None = None  # (M,) USD, inf where the tier has no threshold
    labels: tuple[str, ...] = field(default=())

    @functools.cached_property
    def _max_cost(self) -> list[float] | None:  # as Python floats, for choose_one
        return None if self.max_cost is None else self.max_cost.tolist()

    @functools.cached_property
    def _bias(self) -> list[float] | None:
        return None if self.bias is None else self.bias.tolist()

    def eligible(self, cost: np.ndarray) -> np.ndarray:
        if self.max_cost is None:
            return np.ones(cost.shape, dtype=bool)
        return np.asarray(cost <= self.max_cost[None, :])

    def choose(
        self, quality: np.ndarray, cost: np.ndarray, allowed: np.ndarray | None = None
    ) -> np.ndarray:
        """Index of the chosen model for each request (rows of ``quality``/``cost``)."""
        mask = None if allowed is None else allowed.tolist()
        rows = zip(quality.tolist(), cost.tolist(), strict=True)
        return np.array([self.choose_one(q, c, mask)[0] for q, c in rows], dtype=np.intp)

    def choose_one(
        self, quality: list[float], cost: list[float], allowed: list[bool] | None = None
    ) -> tuple[int, list[bool]]:
        """The chosen model of one request given as lists, and the models' eligibility. Plain
        Python floats: on a dozen models they beat numpy's per-call overhead, and this is the
        request hot path."""
        n = len(quality)
        max_cost = self._max_cost
        eligible = (
            [c <= m for c, m in zip(cost, max_cost, strict=True)]
            if max_cost is not None
            else [True] * n
        )
        ok = (
            eligible
            if allowed is None
            else [e and a for e, a in zip(eligible, allowed, strict=True)]
        )
        if self.threshold is not None:
            best = max((q for q, o in zip(quality, ok, strict=True) if o), default=-math.inf)
            floor = self.threshold * best
            values = [
                -c if o and q >= floor else -math.inf
                for q, c, o in zip(quality, cost, ok, strict=True)
            ]
        else:
            # the same tiny cost tie-break as sweep(): equal quality goes to the cheaper model
            kt, ref = self.knob + _TIE, self.cost_ref
            bias = self._bias or [0.0] * n
            values = [
                (q - kt * c / ref) + b if o else -math.inf
                for q, c, b, o in zip(quality, cost, bias, ok, strict=True)
            ]
        i = max(range(n), key=values.__getitem__)
        if values[i] == -math.inf:  # nothing eligible: the cheapest model allowed at all
            fallback = (
                cost
                if allowed is None
                else [c if a else math.inf for c, a in zip(cost, allowed, strict=True)]
            )
            i = min(range(n), key=fallback.__getitem__)
        return i, eligible


def sweep(quality: np.ndarray, cost: np.ndarray, knobs: np.ndarray, cost_ref: float) -> np.ndarray:
    """Choices (len(knobs), n) of the knob rule at every knob value; ties go to the cheaper."""
    norm = cost / cost_ref
    # A tiny cost tie-break makes equal-quality choices deterministic and cheap.
    values = quality[None] - (knobs[:, None, None] + _TIE) * norm[None]
    return np.argmax(values, axis=2)


def knob_grid(points: int = 241) -> np.ndarray:
    """0, then log-spaced knob values wide enough to go from best quality to cheapest."""
    return np.concatenate([[0.0], np.geomspace(1e-3, 1e4, points - 1)])
