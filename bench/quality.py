"""Quality targets of the routing core, over several prompt splits of each shared dataset.

For each dataset and seed: split by prompt (70/30), fit every router on the 70% only, score
on the 30% (the same runner as `llmtriage eval`), and print cost to reach 95% / 100% of the
best single model's quality (fraction of its cost) per router, the mean over seeds, and each
router's cost_to_95 relative to the kNN baseline's in the same split.

    .venv/bin/python bench/quality.py [--seeds 0,1,2] [--router default --router linear ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from llmtriage.evals import datasets
from llmtriage.evals.runner import evaluate

DATA = Path(__file__).resolve().parents[1].parent / "shared/data/routing"
DATASETS = ("routerbench_partial", "llmrouter_dcrouter", "routellm_gpt4_vs_mixtral")


def _value(metrics: dict[str, dict[str, float]], key: str) -> float:
    v = metrics.get(key, {}).get("value", float("nan"))
    return float("nan") if v is None else float(v)


def run(name: str, seeds: list[int], routers: list[str]) -> dict[str, dict[str, list[float]]]:
    ds = datasets.load(DATA / f"{name}.parquet")
    table: dict[str, dict[str, list[float]]] = {}
    for seed in seeds:
        train, test = ds.split(0.3, seed=seed)
        ev = evaluate(train, test, routers, n_boot=20, seed=seed, progress=False)
        for r in ev.results:
            if r.kind == "single":
                continue
            row = table.setdefault(r.name, {"cost_to_95": [], "cost_to_100": []})
            row["cost_to_95"].append(_value(r.metrics, "cost_to_95"))
            row["cost_to_100"].append(_value(r.metrics, "cost_to_100"))
        print(f"  {name} seed {seed} done", flush=True)
    return table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--router", action="append")
    p.add_argument("--dataset", action="append", choices=DATASETS)
    p.add_argument("--json", default=None, help="also write the figures to this file")
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    routers = list(dict.fromkeys(["knn", *(args.router or ["default"])]))
    out = {}
    for name in args.dataset or DATASETS:
        table = run(name, seeds, routers)
        out[name] = table
        base = np.array(table["knn"]["cost_to_95"])
        print(
            f"\n{name}: cost to 95% / 100% of the best model (fraction of its cost), seeds {seeds}"
        )
        for router, row in table.items():
            c95, c100 = np.array(row["cost_to_95"]), np.array(row["cost_to_100"])
            print(
                f"  {router:<14} c95 {np.nanmean(c95):6.3f} {np.round(c95, 3)}  "
                f"c100 {np.nanmean(c100):6.3f}  c95/knn {np.nanmean(c95 / base):5.2f}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
