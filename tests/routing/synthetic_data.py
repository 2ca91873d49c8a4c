"""The synthetic routing problem of the routing tests: 'calculus proofs' only the big model
solves, 'greetings' every model solves. Three models, cheapest first, with per-request costs
near the prices of the config in test_triage.py (256 expected output tokens)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmtriage.types import ChatRequest

MODELS = ("tiny", "medium", "big")
PRICES = np.array([1e-4, 1e-3, 1e-2])

_HARD = (
    "Prove rigorously, as a calculus proof, that {x} is continuous on its domain ({i}).",
    "Give an epsilon-delta calculus proof that the limit of {x} exists, exercise {i}.",
    "Write a formal calculus proof that the derivative of {x} is bounded, problem {i}.",
    "Calculus proof request {i}: show the integral of {x} converges, with every step.",
)
_EASY = (
    "Hello {x}! Just wanted to say hi and thanks, greetings #{i}",
    "Hi {x}, good morning, hope you are well (greeting {i})",
    "Hey {x}, greetings from all of us, have a nice day {i}",
    "Good evening {x}, warm greetings and thank you {i}",
)
_MATH = ("x^2", "sin(x)", "exp(-x)", "1/x", "log(1+x)", "arctan(x)", "x^3 - x", "cos(2x)")
_NAMES = ("Anna", "Bob", "Carla", "Dmitri", "Eve", "Farid", "Grace", "Hugo")


@dataclass(frozen=True)
class Synthetic:
    requests: list[ChatRequest]
    scores: np.ndarray  # (n, 3)
    costs: np.ndarray  # (n, 3)
    hard: np.ndarray  # (n,) bool


def synthetic(n: int, seed: int) -> Synthetic:
    """Half hard, half easy prompts (alternating), from a seeded generator."""
    rng = np.random.default_rng(seed)
    prompts, scores, hard = [], [], []
    for i in range(n):
        is_hard = i % 2 == 0
        template = (_HARD if is_hard else _EASY)[rng.integers(4)]
        x = (_MATH if is_hard else _NAMES)[rng.integers(8)]
        prompts.append(template.format(x=x, i=int(rng.integers(100_000))))
        scores.append([0.0, 0.0, 1.0] if is_hard else [1.0, 1.0, 1.0])
        hard.append(is_hard)
    costs = PRICES[None, :] * (1 + 0.2 * rng.random((n, 1)))
    return Synthetic(
        [ChatRequest.from_prompt(p) for p in prompts],
        np.array(scores),
        costs,
        np.array(hard),
    )
