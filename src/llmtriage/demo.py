"""The embedded demo: no keys, no servers, only the bundled sample of real recorded answers.

For now (routing core) it is an offline evaluation: fit the recommended router on 70% of the
sample's prompts, score it on the other 30% against the baselines, print the table and write
the report. The gateway issue replaces it with a live replay through the gateway.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SAMPLE = "routerbench_sample.parquet"


def sample_path() -> Path:
    """Path of the bundled sample dataset (RouterBench subset, MIT; see data/README.md)."""
    return Path(str(resources.files("llmtriage.data").joinpath(SAMPLE)))


def run_offline(out: Path, quiet: bool = False) -> int:
    from llmtriage.cli import _table
    from llmtriage.evals import datasets, report, runner

    ds = datasets.load(sample_path())
    train, test = ds.split(test_fraction=0.3, seed=0)
    print(
        f"llmtriage demo: {len(ds)} RouterBench prompts x {len(ds.models)} models "
        f"(bundled sample); fitting on {len(train)}, scoring on {len(test)} held-out prompts"
    )
    ev = runner.evaluate(train, test, ["default", "knn", "rules"], n_boot=200, progress=not quiet)
    paths = report.write(ev, out)
    best = ev.test.costs[:, ev.test.models.index(ev.best_model)].mean()
    print(
        f"\nbest single model: {ev.best_model} (${best:.5f} per request); "
        "costs below are fractions of its cost\n"
    )
    print(_table(ev))
    print(f"\nreport: {paths['report']}  plot: {paths['plot']}")
    return 0
