"""The eval report's table cells: values with intervals, and undefined metrics as a dash."""

from __future__ import annotations

from llmtriage.evals.report import _cell


def test_fraction_cell_shows_value_and_interval() -> None:
    cell = _cell({"value": 0.1234, "ci_low": 0.1, "ci_high": 0.15}, "frac")
    assert cell == "12.3% [10.0%, 15.0%]"


def test_absolute_cell() -> None:
    assert _cell({"value": 0.5, "ci_low": 0.4, "ci_high": 0.6}, "abs") == "0.500 [0.400, 0.600]"


def test_nan_or_missing_is_a_dash_never_nan() -> None:
    assert _cell({"value": float("nan"), "ci_low": float("nan"), "ci_high": 1.0}, "frac") == "–"
    assert _cell(None, "abs") == "–"
    assert _cell({"value": None}, "abs") == "–"
    cell = _cell({"value": 0.2, "ci_low": float("nan"), "ci_high": float("nan")}, "frac")
    assert cell == "20.0%"
