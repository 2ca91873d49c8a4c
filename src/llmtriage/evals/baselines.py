"""Reference routers every evaluation reports beside the real ones (DESIGN.md §5).

Each returns ``(knobs, choices)`` with choices of shape (K, n_test): the model index picked
for every test prompt at every operating point, so they go through the same metrics code.
"""

from __future__ import annotations

import itertools

import numpy as np

from llmtriage.routing.policy import knob_grid, sweep


def oracle(scores: np.ndarray, costs: np.ndarray, cost_ref: float) -> tuple[np.ndarray, ...]:
    """Knows every test outcome: the knob sweep over the true scores and true costs."""
    knobs = knob_grid()
    return knobs, sweep(scores, costs, knobs, cost_ref)


def task_lookup(
    train_tasks: np.ndarray,
    train_scores: np.ndarray,
    test_tasks: np.ndarray,
    cost_est: np.ndarray,
    cost_ref: float,
) -> tuple[np.ndarray, ...]:
    """Per-task mean score from training data (uses the ``task`` label routers never see)."""
    overall = train_scores.mean(axis=0)
    table = {t: train_scores[train_tasks == t].mean(axis=0) for t in np.unique(train_tasks)}
    quality = np.array([table.get(t, overall) for t in test_tasks])
    knobs = knob_grid()
    return knobs, sweep(quality, cost_est, knobs, cost_ref)


def _mixes(a: int, b: int, n: int, rng: np.random.Generator, steps: int) -> np.ndarray:
    """Choices sending a random share p of prompts to model b and the rest to a, p in [0, 1]."""
    shares = np.linspace(0, 1, steps)
    u = rng.random(n)
    return np.where(u[None, :] < shares[:, None], b, a)


def random_router(
    cheap: int, best: int, n: int, seed: int, steps: int = 21
) -> tuple[np.ndarray, ...]:
    """Query-blind coin flips between the cheapest and the best model (RouteLLM's random)."""
    return np.linspace(0, 1, steps), _mixes(cheap, best, n, np.random.default_rng(seed), steps)


def zero_router(
    train_scores: np.ndarray, train_costs: np.ndarray, n: int, seed: int, steps: int = 11
) -> tuple[np.ndarray, ...]:
    """Query-blind mixes along the upper hull of the single models (RouterBench's zero router).

    The hull is taken on training means; the knob counts hull segments (integer part) and the
    share of the segment's costlier model (fraction).
    """
    q, c = train_scores.mean(axis=0), train_costs.mean(axis=0)
    hull = [int(np.argmin(c))]
    while True:
        cur = hull[-1]
        better = np.flatnonzero((q > q[cur]) & (c > c[cur]))
        if len(better) == 0:
            break
        slope = (q[better] - q[cur]) / (c[better] - c[cur])
        hull.append(int(better[np.argmax(slope)]))
    rng = np.random.default_rng(seed)
    if len(hull) == 1:
        return np.zeros(1), np.full((1, n), hull[0])
    parts = [_mixes(a, b, n, rng, steps)[: steps - 1] for a, b in itertools.pairwise(hull)]
    choices = np.vstack([*parts, np.full((1, n), hull[-1])])
    knobs = np.concatenate(
        [i + np.linspace(0, 1, steps)[: steps - 1] for i in range(len(hull) - 1)]
        + [[len(hull) - 1]]
    )
    return knobs, choices
