"""Per-request cost estimates for every model, before the call.

Two sources: configured prices (input tokens estimated from the text, output tokens as
expected per model) or a fit on recorded costs (log-linear in prompt length), which is what
offline evaluation uses when a dataset carries ``cost_usd``. Every router shares the same cost
model, so comparing routers compares their quality estimates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llmtriage.routing.text import STRUCT_NAMES

_LOG_CHARS = STRUCT_NAMES.index("log_chars")
_LOG_WORDS = STRUCT_NAMES.index("log_words")
assert _LOG_WORDS == _LOG_CHARS + 1  # predict slices them together
CHARS_PER_TOKEN = 4.0


def _design(struct: np.ndarray) -> np.ndarray:
    s = struct.astype(np.float64)
    return np.column_stack([np.ones(len(s)), s[:, _LOG_CHARS], s[:, _LOG_WORDS]])


class CostModel:
    """cost[n, m] = estimated USD of sending request n to model m."""

    def __init__(self, coef: np.ndarray, input_per_mtok: np.ndarray, output_usd: np.ndarray):
        # Either coef (M, 3) of a log-linear fit (with a smearing term folded into column 0),
        # or per-model input price per 1M tokens and expected output cost in USD.
        self.coef = coef
        self.input_per_mtok = input_per_mtok
        self.output_usd = output_usd
        self._usd_per_char = np.asarray(input_per_mtok, float) / 1e6 / CHARS_PER_TOKEN
        self._length_coef = np.ascontiguousarray(coef[:, 1:].T) if len(coef) else coef

    @classmethod
    def from_prices(
        cls,
        input_per_mtok: Sequence[float],
        output_per_mtok: Sequence[float],
        output_tokens: Sequence[float],
    ) -> CostModel:
        out_usd = np.asarray(output_per_mtok, float) * np.asarray(output_tokens, float) / 1e6
        return cls(np.zeros((0, 3)), np.asarray(input_per_mtok, float), out_usd)

    @classmethod
    def fit(cls, struct: np.ndarray, costs: np.ndarray) -> CostModel:
        """Least squares of log cost on log length, per model, with Duan's smearing."""
        x = _design(struct)
        logc = np.log(np.maximum(costs, 1e-12))
        coef, *_ = np.linalg.lstsq(x, logc, rcond=None)  # (3, M)
        resid = logc - x @ coef
        coef[0] += np.log(np.exp(resid).mean(axis=0))
        return cls(coef.T.copy(), np.zeros(0), np.zeros(0))

    def predict(self, struct: np.ndarray) -> np.ndarray:
        # few numpy calls: on one request (the hot path) each costs about a microsecond
        if len(self.coef):
            lengths = struct[:, _LOG_CHARS : _LOG_WORDS + 1].astype(np.float64)
            return np.asarray(np.exp(lengths @ self._length_coef + self.coef[:, 0]))
        chars = np.expm1(struct[:, _LOG_CHARS], dtype=np.float64)
        return np.asarray(np.multiply.outer(chars, self._usd_per_char) + self.output_usd)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "cost_coef": self.coef,
            "cost_input_per_mtok": self.input_per_mtok,
            "cost_output_usd": self.output_usd,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> CostModel:
        return cls(arrays["cost_coef"], arrays["cost_input_per_mtok"], arrays["cost_output_usd"])
