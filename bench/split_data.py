"""Write prompt-disjoint train/test files of the shared datasets for `llmtriage eval`.

    .venv/bin/python bench/split_data.py --out /tmp/splits [--seed 0] [--test-fraction 0.3]

Each dataset becomes OUT/NAME.train.parquet and OUT/NAME.test.parquet, split by prompt with
the same permutation as RoutingDataset.split (so bench/quality.py seed N matches).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[1].parent / "shared/data/routing"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-fraction", type=float, default=0.3)
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(DATA.glob("*.parquet")):
        df = pd.read_parquet(path)
        ids = np.sort(df["prompt_id"].astype(str).unique())
        perm = ids[np.random.default_rng(args.seed).permutation(len(ids))]
        test_ids = set(perm[: round(len(ids) * args.test_fraction)])
        is_test = df["prompt_id"].astype(str).isin(test_ids)
        df[~is_test].to_parquet(out / f"{path.stem}.train.parquet", index=False)
        df[is_test].to_parquet(out / f"{path.stem}.test.parquet", index=False)
        print(f"{path.stem}: {len(ids) - len(test_ids)} train / {len(test_ids)} test prompts")


if __name__ == "__main__":
    main()
