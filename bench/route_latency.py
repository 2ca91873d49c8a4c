"""Routing decision latency and memory (issue targets: p50 <= 0.5 ms, p99 <= 2 ms, <= 200 MB).

Trains ROUTER on the largest shared dataset (or loads --artifact), then times
``Triage.decide`` one request at a time, features included, over prompts from the dataset:
wall time and the thread's CPU time (the machine is shared; steal time shows in the first).

    .venv/bin/python bench/route_latency.py [--router default] [--artifact FILE] [--n 3000]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from llmtriage.evals import datasets
from llmtriage.routing import artifact
from llmtriage.routing.model import train
from llmtriage.routing.triage import Triage
from llmtriage.types import ChatRequest

DATA = Path(__file__).resolve().parents[1].parent / "shared/data/routing"


_LOAD_PROBE = """
import sys
from llmtriage.routing.triage import Triage
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
before = rss()
Triage.from_artifact(sys.argv[1]).decide([{"role": "user", "content": "warm up, please"}])
print(rss() - before)
"""


def loaded_rss_mb(path: str) -> float:
    """RSS a loaded router adds, in a fresh process (in this one, freed training memory
    would be reused and hide it)."""
    out = subprocess.run(
        [sys.executable, "-c", _LOAD_PROBE, path], check=True, capture_output=True, text=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DATA / "routellm_gpt4_vs_mixtral.parquet"))
    p.add_argument("--router", default="default")
    p.add_argument("--artifact", default=None, help="load this artifact instead of training")
    p.add_argument("--n", type=int, default=3000)
    args = p.parse_args()
    ds = datasets.load(args.data)
    path = args.artifact
    fit_s = None
    if path is None:
        started = time.perf_counter()
        requests = [ChatRequest.from_prompt(t) for t in ds.prompts]
        model = train(args.router, ds.models, requests, ds.scores, ds.costs)
        fit_s = time.perf_counter() - started
        path = str(artifact.save(model, "/tmp/route_latency_artifact"))
        del model, requests
    gc.collect()
    triage = Triage.from_artifact(path)
    loaded = loaded_rss_mb(path)
    rng = np.random.default_rng(0)
    prompts = [ds.prompts[i] for i in rng.choice(len(ds), size=args.n, replace=True)]
    for text in prompts[:200]:  # warm-up
        triage.decide([{"role": "user", "content": text}])
    times, cpu = [], []
    for text in prompts:
        t0, c0 = time.perf_counter(), time.thread_time()
        triage.decide([{"role": "user", "content": text}])
        times.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    ms, cpu_ms = np.array(times) * 1e3, np.array(cpu) * 1e3
    print(
        json.dumps(
            {
                "router": args.router,
                "data": Path(args.data).name,
                "fit_seconds": None if fit_s is None else round(fit_s, 1),
                "decisions": len(ms),
                "p50_ms": round(float(np.percentile(ms, 50)), 3),
                "p99_ms": round(float(np.percentile(ms, 99)), 3),
                "mean_ms": round(float(ms.mean()), 3),
                # CPU time of the deciding thread: what another tenant's load cannot add to
                "cpu_p50_ms": round(float(np.percentile(cpu_ms, 50)), 3),
                "cpu_p99_ms": round(float(np.percentile(cpu_ms, 99)), 3),
                "router_rss_mb": round(loaded, 1),
                "artifact_mb": round(Path(path).stat().st_size / 2**20, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
