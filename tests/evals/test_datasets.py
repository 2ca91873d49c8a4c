"""Tests for llmtriage.evals.datasets: the tidy format of DESIGN.md §3.3, its errors, split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llmtriage.evals import datasets
from llmtriage.exceptions import DataError

# File order is deliberately not cheapest first: load() must sort models by mean cost.
COST = {"big": 0.01, "tiny": 0.0001, "mid": 0.001}
PRICES = {"big": (10.0, 30.0), "tiny": (0.1, 0.3), "mid": (1.0, 3.0)}


def _score(i: int, model: str) -> float:
    """Distinct per (prompt, model), so a transposed or shuffled matrix shows."""
    return round((i * 7 + len(model) * 3) % 11 / 10, 1)


def make_frame(n_prompts: int = 4) -> pd.DataFrame:
    rows = []
    for i in reversed(range(n_prompts)):  # prompt ids out of order in the file
        for model, cost in COST.items():
            rows.append(
                {
                    "prompt_id": f"p{i:02d}",
                    "prompt": f"question number {i}",
                    "model": model,
                    "score": _score(i, model),
                    "cost_usd": cost * (i + 1),
                    "task": "math" if i % 2 else "chat",
                    "input_tokens": 100 + i,
                    "output_tokens": 10 * (i + 1),
                }
            )
    return pd.DataFrame(rows)


def write(df: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        df.to_parquet(path)
    elif path.suffix == ".jsonl":
        df.to_json(path, orient="records", lines=True)
    else:
        df.to_csv(path, index=False)
    return path


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()


def load_error(df: pd.DataFrame, path: Path, **kwargs: object) -> str:
    write(df, path)
    with pytest.raises(DataError) as info:
        datasets.load(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert path.name in message
    return message


# ---------------------------------------------------------------- good files


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".csv"])
def test_load_builds_aligned_matrices(frame: pd.DataFrame, tmp_path: Path, suffix: str) -> None:
    ds = datasets.load(write(frame, tmp_path / f"bench{suffix}"))
    assert ds.name == "bench"
    assert ds.models == ("tiny", "mid", "big")  # cheapest first
    assert len(ds) == 4
    assert ds.scores.shape == ds.costs.shape == (4, 3)
    assert not ds.cost_estimated
    for _, row in frame.iterrows():
        r = list(ds.prompt_ids).index(row["prompt_id"])
        c = ds.models.index(row["model"])
        assert ds.prompts[r] == row["prompt"]
        assert ds.scores[r, c] == pytest.approx(row["score"])
        assert ds.costs[r, c] == pytest.approx(row["cost_usd"])
        assert ds.tasks is not None
        assert ds.tasks[r] == row["task"]


def test_optional_columns_may_be_absent(frame: pd.DataFrame, tmp_path: Path) -> None:
    df = frame.drop(columns=["task", "input_tokens", "output_tokens"])
    ds = datasets.load(write(df, tmp_path / "d.csv"))
    assert ds.tasks is None
    assert ds.costs.min() > 0


def test_numeric_prompt_ids_and_model_names_load(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "prompt_id": [1, 1, 2, 2],
            "prompt": ["a", "a", "b", "b"],
            "model": [7, 8, 7, 8],
            "score": [0.1, 0.9, 0.2, 0.8],
            "cost_usd": [1.0, 2.0, 1.0, 2.0],
        }
    )
    ds = datasets.load(write(df, tmp_path / "num.jsonl"))
    assert ds.models == ("7", "8")
    assert list(ds.prompt_ids) == ["1", "2"]
    np.testing.assert_allclose(ds.scores, [[0.1, 0.9], [0.2, 0.8]])


def test_cost_from_tokens_and_prices(frame: pd.DataFrame, tmp_path: Path) -> None:
    df = frame.drop(columns=["cost_usd"])
    ds = datasets.load(write(df, tmp_path / "tok.parquet"), prices=PRICES)
    assert ds.cost_estimated
    assert ds.models == ("tiny", "mid", "big")
    for _, row in df.iterrows():
        price_in, price_out = PRICES[row["model"]]
        expected = (row["input_tokens"] * price_in + row["output_tokens"] * price_out) / 1e6
        r, c = list(ds.prompt_ids).index(row["prompt_id"]), ds.models.index(row["model"])
        assert ds.costs[r, c] == pytest.approx(expected)


def test_tokens_without_prices_is_an_error(frame: pd.DataFrame, tmp_path: Path) -> None:
    message = load_error(frame.drop(columns=["cost_usd"]), tmp_path / "tok.csv")
    assert "cost_usd" in message
    assert "prices" in message


def test_model_without_price_is_named(frame: pd.DataFrame, tmp_path: Path) -> None:
    prices = {k: v for k, v in PRICES.items() if k != "mid"}
    message = load_error(frame.drop(columns=["cost_usd"]), tmp_path / "t.csv", prices=prices)
    assert "mid" in message


# ---------------------------------------------------------------- split


@pytest.fixture
def big_ds(tmp_path: Path) -> datasets.RoutingDataset:
    return datasets.load(write(make_frame(40), tmp_path / "big.parquet"))


def test_split_is_by_prompt_disjoint_and_complete(big_ds: datasets.RoutingDataset) -> None:
    train, test = big_ds.split(0.25, seed=3)
    assert len(test) == 10
    assert len(train) == 30
    assert not set(train.prompt_ids) & set(test.prompt_ids)
    assert set(train.prompt_ids) | set(test.prompt_ids) == set(big_ds.prompt_ids)
    assert train.models == test.models == big_ds.models
    # every row keeps its own prompt text, scores and costs
    for part in (train, test):
        for r, pid in enumerate(part.prompt_ids):
            src = list(big_ds.prompt_ids).index(pid)
            assert part.prompts[r] == big_ds.prompts[src]
            np.testing.assert_array_equal(part.scores[r], big_ds.scores[src])
            np.testing.assert_array_equal(part.costs[r], big_ds.costs[src])


def test_split_is_deterministic_per_seed(big_ds: datasets.RoutingDataset) -> None:
    a_train, a_test = big_ds.split(0.25, seed=7)
    b_train, b_test = big_ds.split(0.25, seed=7)
    assert list(a_test.prompt_ids) == list(b_test.prompt_ids)
    assert list(a_train.prompt_ids) == list(b_train.prompt_ids)
    others = [list(big_ds.split(0.25, seed=s)[1].prompt_ids) for s in range(8, 12)]
    assert any(o != list(a_test.prompt_ids) for o in others)


# ---------------------------------------------------------------- errors


def test_missing_column(frame: pd.DataFrame, tmp_path: Path) -> None:
    message = load_error(frame.drop(columns=["score"]), tmp_path / "d.csv")
    assert "missing column" in message
    assert "score" in message


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_prompt(frame: pd.DataFrame, tmp_path: Path, value: str) -> None:
    frame.loc[4, "prompt"] = value
    message = load_error(frame, tmp_path / "d.jsonl")
    assert "row 5" in message
    assert "'prompt'" in message


@pytest.mark.parametrize("value", [1.5, -0.1, "good"])
def test_bad_score(frame: pd.DataFrame, tmp_path: Path, value: object) -> None:
    frame["score"] = frame["score"].astype(object)
    frame.loc[6, "score"] = value
    message = load_error(frame, tmp_path / "d.csv")
    assert "row 7" in message
    assert "'score'" in message
    assert "[0, 1]" in message
    assert str(value) in message


def test_missing_score_in_parquet(frame: pd.DataFrame, tmp_path: Path) -> None:
    frame.loc[2, "score"] = np.nan
    message = load_error(frame, tmp_path / "d.parquet")
    assert "row 3" in message
    assert "'score'" in message


def test_duplicate_prompt_model(frame: pd.DataFrame, tmp_path: Path) -> None:
    df = pd.concat([frame, frame.iloc[[1]]], ignore_index=True)
    message = load_error(df, tmp_path / "d.csv")
    assert f"row {len(df)}" in message
    assert "duplicate" in message
    assert "'p03'" in message
    assert "'tiny'" in message


def test_prompt_missing_a_model(frame: pd.DataFrame, tmp_path: Path) -> None:
    df = frame[~((frame.prompt_id == "p02") & (frame.model == "mid"))]
    message = load_error(df, tmp_path / "d.csv")
    assert "'p02'" in message
    assert "'mid'" in message


def test_same_prompt_id_two_texts(frame: pd.DataFrame, tmp_path: Path) -> None:
    frame.loc[5, "prompt"] = "a different question"
    message = load_error(frame, tmp_path / "d.csv")
    assert "row 6" in message
    assert "'p02'" in message
    assert "different prompt text" in message


def test_negative_cost(frame: pd.DataFrame, tmp_path: Path) -> None:
    frame.loc[3, "cost_usd"] = -0.5
    message = load_error(frame, tmp_path / "d.csv")
    assert "row 4" in message
    assert "'cost_usd'" in message
    assert ">= 0" in message


def test_no_cost_and_no_tokens(frame: pd.DataFrame, tmp_path: Path) -> None:
    df = frame.drop(columns=["cost_usd", "output_tokens"])
    message = load_error(df, tmp_path / "d.csv", prices=PRICES)
    assert "cost_usd" in message
    assert "output_tokens" in message


@pytest.mark.parametrize("value", ["many", None, -5])
def test_bad_token_count(frame: pd.DataFrame, tmp_path: Path, value: object) -> None:
    df = frame.drop(columns=["cost_usd"])
    df["output_tokens"] = df["output_tokens"].astype(object)
    df.loc[7, "output_tokens"] = value
    message = load_error(df, tmp_path / "d.csv", prices=PRICES)
    assert "row 8" in message
    assert "'output_tokens'" in message


def test_unsupported_extension(frame: pd.DataFrame, tmp_path: Path) -> None:
    message = load_error(frame, tmp_path / "d.tsv")
    assert "'.tsv'" in message
    assert ".parquet" in message


@pytest.mark.parametrize("name", ["nope.parquet", "nope.jsonl", "nope.csv"])
def test_missing_file(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataError, match=rf"{name}: no such file"):
        datasets.load(tmp_path / name)


@pytest.mark.parametrize(
    ("name", "content"),
    [("bad.parquet", b"PAR1 this is not parquet"), ("bad.jsonl", b'{"a": 1}\n{oops\n')],
)
def test_corrupt_file(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        datasets.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: cannot be read as {path.suffix[1:]}")
    assert "\n" not in message


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("prompt_id,prompt,model,score,cost_usd\n")
    with pytest.raises(DataError, match=r"empty\.csv: no rows"):
        datasets.load(path)
