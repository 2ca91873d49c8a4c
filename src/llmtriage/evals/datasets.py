"""Routing datasets in the tidy format of DESIGN.md §3.3: one row per prompt x model.

``load`` reads Parquet, JSONL or CSV, validates every row (one error naming the file, the row
or column, and what was expected) and pivots to dense (prompt, model) matrices.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from llmtriage.exceptions import DataError

REQUIRED = ("prompt_id", "prompt", "model", "score")
READERS = {".parquet": pd.read_parquet, ".jsonl": None, ".csv": pd.read_csv}


@dataclass(frozen=True)
class RoutingDataset:
    """Dense view: prompts (n), models (M), observed scores and costs (n, M)."""

    name: str
    prompt_ids: np.ndarray
    prompts: list[str]
    models: tuple[str, ...]
    scores: np.ndarray
    costs: np.ndarray
    tasks: np.ndarray | None
    cost_estimated: bool

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, idx: np.ndarray, name: str | None = None) -> RoutingDataset:
        return RoutingDataset(
            name or self.name,
            self.prompt_ids[idx],
            [self.prompts[i] for i in idx],
            self.models,
            self.scores[idx],
            self.costs[idx],
            None if self.tasks is None else self.tasks[idx],
            self.cost_estimated,
        )

    def split(self, test_fraction: float, seed: int = 0) -> tuple[RoutingDataset, RoutingDataset]:
        """Split by prompt; the permutation depends only on the sorted prompt ids and seed."""
        order = np.argsort(self.prompt_ids, kind="stable")
        perm = order[np.random.default_rng(seed).permutation(len(order))]
        n_test = round(len(perm) * test_fraction)
        return self.subset(np.sort(perm[n_test:])), self.subset(np.sort(perm[:n_test]))


def _read(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise DataError(f"{path}: unsupported file type {suffix!r}; use .parquet, .jsonl or .csv")
    try:
        if suffix == ".jsonl":
            return pd.read_json(path, lines=True, dtype=False)
        if suffix == ".csv":
            return pd.read_csv(path, keep_default_na=False, na_values=[""])
        return pd.read_parquet(path)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (ValueError, OSError) as exc:
        reason = " ".join(str(exc).split())  # one line, for the CLI's one-line errors
        raise DataError(f"{path}: cannot be read as {suffix[1:]}: {reason}") from None


def _first_bad(mask: pd.Series) -> int:
    """Position (0-based data row) of the first True in mask."""
    return int(np.flatnonzero(mask.to_numpy())[0])


def _validate(
    df: pd.DataFrame, path: Path, prices: Mapping[str, tuple[float, float]] | None
) -> None:
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}; "
            f"expected at least {', '.join(REQUIRED)}"
        )
    if df.empty:
        raise DataError(f"{path}: no rows")
    for col in ("prompt_id", "prompt", "model"):
        bad = df[col].isna() | (df[col].astype(str).str.strip().str.len() == 0)
        if bad.any():
            raise DataError(f"{path}: row {_first_bad(bad) + 1}: column {col!r} is empty")
    score = pd.to_numeric(df["score"], errors="coerce")
    bad = score.isna() | (score < 0) | (score > 1)
    if bad.any():
        i = _first_bad(bad)
        raise DataError(
            f"{path}: row {i + 1}: column 'score' is {df['score'].iloc[i]!r}; "
            "expected a number in [0, 1]"
        )
    df["score"] = score.astype(float)
    df["prompt_id"] = df["prompt_id"].astype(str)
    df["model"] = df["model"].astype(str)  # numeric model names would not match str labels
    dup = df.duplicated(["prompt_id", "model"])
    if dup.any():
        i = _first_bad(dup)
        raise DataError(
            f"{path}: row {i + 1}: duplicate (prompt_id, model) = "
            f"({df['prompt_id'].iloc[i]!r}, {df['model'].iloc[i]!r})"
        )
    _validate_cost(df, path, prices)


def _validate_cost(
    df: pd.DataFrame, path: Path, prices: Mapping[str, tuple[float, float]] | None
) -> None:
    if "cost_usd" in df.columns:
        cost = pd.to_numeric(df["cost_usd"], errors="coerce")
        bad = cost.isna() | (cost < 0)
        if bad.any():
            i = _first_bad(bad)
            raise DataError(
                f"{path}: row {i + 1}: column 'cost_usd' is "
                f"{df['cost_usd'].iloc[i]!r}; expected a number >= 0"
            )
        df["cost_usd"] = cost.astype(float)
        return
    if not {"input_tokens", "output_tokens"} <= set(df.columns) or prices is None:
        raise DataError(
            f"{path}: no 'cost_usd' column; expected it, or 'input_tokens' and "
            "'output_tokens' with prices from a config (--config)"
        )
    for col in ("input_tokens", "output_tokens"):
        tokens = pd.to_numeric(df[col], errors="coerce")
        bad = tokens.isna() | (tokens < 0)
        if bad.any():
            i = _first_bad(bad)
            raise DataError(
                f"{path}: row {i + 1}: column {col!r} is {df[col].iloc[i]!r}; "
                "expected a number >= 0"
            )
        df[col] = tokens.astype(float)
    unknown = sorted(set(df["model"]) - set(prices))
    if unknown:
        raise DataError(f"{path}: model(s) {', '.join(unknown)} have no configured price")
    inp = df["model"].map(lambda m: prices[m][0])
    out = df["model"].map(lambda m: prices[m][1])
    df["cost_usd"] = (df["input_tokens"] * inp + df["output_tokens"] * out) / 1e6


def load(
    path: str | Path, prices: Mapping[str, tuple[float, float]] | None = None
) -> RoutingDataset:
    """Read and validate a tidy dataset. ``prices`` maps model -> (input, output) USD per 1M
    tokens, used only when the file has token counts instead of ``cost_usd``."""
    p = Path(path)
    df = _read(p)
    from_tokens = "cost_usd" not in df.columns  # _validate fills cost_usd in from tokens
    _validate(df, p, prices)
    clash = df["prompt"] != df.groupby("prompt_id")["prompt"].transform("first")
    if clash.any():
        i = _first_bad(clash)
        raise DataError(
            f"{p}: row {i + 1}: prompt_id {df['prompt_id'].iloc[i]!r} has a different prompt "
            "text than its first row; expected one text per prompt_id"
        )
    wide = df.pivot(index="prompt_id", columns="model", values=["score", "cost_usd"])
    holes = wide["score"].isna().to_numpy()
    if holes.any():
        r, c = np.argwhere(holes)[0]
        pid, model = wide.index[r], wide["score"].columns[c]
        raise DataError(
            f"{p}: prompt_id {pid!r} has no row for model {model!r}; "
            "every prompt needs one row per model"
        )
    # models cheapest first (mean cost), the order tiers and the rules router expect
    mean_cost = wide["cost_usd"].to_numpy().mean(axis=0)
    columns = wide["cost_usd"].columns
    models = tuple(str(columns[i]) for i in np.argsort(mean_cost, kind="stable"))
    first = df.drop_duplicates("prompt_id").set_index("prompt_id").loc[wide.index]
    return RoutingDataset(
        name=p.stem,
        prompt_ids=wide.index.to_numpy(dtype=str),
        prompts=first["prompt"].astype(str).tolist(),
        models=models,
        scores=wide["score"][list(models)].to_numpy(dtype=np.float64),
        costs=wide["cost_usd"][list(models)].to_numpy(dtype=np.float64),
        tasks=first["task"].astype(str).to_numpy() if "task" in first.columns else None,
        cost_estimated=from_tokens or bool(first.get("cost_estimated", pd.Series([False])).any()),
    )


def fingerprint(ds: RoutingDataset) -> str:
    h = hashlib.sha256("\0".join(ds.prompt_ids).encode())
    h.update(ds.scores.tobytes())
    return h.hexdigest()[:16]
