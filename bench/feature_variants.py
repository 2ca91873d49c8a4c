"""Cheaper featurizer settings for the linear router: quality (cost to 95%) and decision time.

Registers variants of ``default`` that differ only in their ``FeatureConfig`` (in this
process only), evaluates them side by side on prompt splits of the shared datasets (fit on
70%, scored on 30%), then times one decision at a time on the bundled sample's long prompts.

    .venv/bin/python bench/feature_variants.py [--seeds 0,1] [--dataset NAME ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np

from llmtriage.demo import sample_path
from llmtriage.evals import datasets
from llmtriage.evals.runner import evaluate
from llmtriage.routing import artifact, registry
from llmtriage.routing.model import train
from llmtriage.routing.registry import SPARSE_FEATURES, RouterSpec
from llmtriage.routing.triage import Triage
from llmtriage.types import ChatRequest

DATA = Path(__file__).resolve().parents[1].parent / "shared/data/routing"
DATASETS = ("routerbench_partial", "llmrouter_dcrouter", "routellm_gpt4_vs_mixtral")
VARIANTS = {
    "lin_base": SPARSE_FEATURES,  # what default used before: char 3-5-grams, 60k columns
    "lin_c4": dataclasses.replace(SPARSE_FEATURES, char_ngrams=(4, 4)),
    "lin_c4_b18": dataclasses.replace(SPARSE_FEATURES, char_ngrams=(4, 4), bits=18),
    "lin_c4_b17": dataclasses.replace(SPARSE_FEATURES, char_ngrams=(4, 4), bits=17),
    "lin_c4_b16": dataclasses.replace(SPARSE_FEATURES, char_ngrams=(4, 4), bits=16),
}


def register() -> None:
    for name, features in VARIANTS.items():
        registry.ROUTERS[name] = RouterSpec(name, name, "linear", {"alpha": 10.0}, features)


def quality(names: list[str], seeds: list[int]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {n: [] for n in VARIANTS}
    for name in names:
        ds = datasets.load(DATA / f"{name}.parquet")
        for seed in seeds:
            train_set, test_set = ds.split(0.3, seed=seed)
            ev = evaluate(train_set, test_set, list(VARIANTS), n_boot=10, seed=seed)
            row = {r.name: r.metrics["cost_to_95"]["value"] for r in ev.results if r.name in out}
            for variant, value in row.items():
                out[variant].append(value)
            print(name, seed, {k: round(v, 3) for k, v in row.items()}, flush=True)
    return out


def decision_ms(variant: str, n: int = 600) -> tuple[float, int]:
    sample = datasets.load(sample_path())
    requests = [ChatRequest.from_prompt(p) for p in sample.prompts]
    model = train(variant, sample.models, requests, sample.scores, sample.costs)
    with tempfile.TemporaryDirectory() as tmp:
        triage = Triage.from_artifact(artifact.save(model, Path(tmp) / "router.npz"))
    for r in requests[:100]:
        triage.decide(r)
    times = []
    for r in requests[:n]:
        t0 = time.perf_counter()
        triage.decide(r)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.percentile(times, 50)), model.featurizer.n_columns


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--dataset", action="append", choices=DATASETS)
    args = p.parse_args()
    register()
    c95 = quality(args.dataset or list(DATASETS), [int(s) for s in args.seeds.split(",")])
    for variant, values in c95.items():
        p50, cols = decision_ms(variant)
        print(f"{variant:<12} mean c95 {np.mean(values):.3f}  decide p50 {p50:.3f} ms  {cols} cols")


if __name__ == "__main__":
    main()
