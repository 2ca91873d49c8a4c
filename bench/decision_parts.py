"""Where one routing decision's time goes, on the bundled sample's long prompts.

Trains ``default`` on the bundled sample (or loads --artifact), then times, one request at a
time over every sample prompt: the whole decision (p50/p99), and each of its parts alone
(mean of the best of 5 passes): text normalisation, the n-gram counts (C kernel, or numpy
with LLMTRIAGE_NATIVE=0), the rest of the TF-IDF row, the structural features, the linear layer, the
cost model, and policy + decision. The n-gram counts are also timed after streaming 16 MB
through the caches before each call, as a gateway sees them between requests.

    .venv/bin/python bench/decision_parts.py [--artifact FILE] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from llmtriage.demo import sample_path
from llmtriage.evals import datasets
from llmtriage.routing import artifact, native
from llmtriage.routing.features import _normalise, segments
from llmtriage.routing.model import train
from llmtriage.routing.text import conversation_text, focus_text, structural_features
from llmtriage.routing.triage import Triage
from llmtriage.types import ChatRequest


def mean_us(fn: Callable[[Any], object], items: Sequence[Any], passes: int = 5) -> float:
    best = float("inf")
    for _ in range(passes):
        t0 = time.perf_counter()
        for x in items:
            fn(x)
        best = min(best, (time.perf_counter() - t0) / len(items))
    return round(best * 1e6, 1)


def p50_us(
    fn: Callable[[Any], object], items: Sequence[Any], before: Callable[[], object]
) -> float:
    times = []
    for x in items:
        before()
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return round(float(np.median(times)) * 1e6, 1)


def load_triage(path: str | None) -> Triage:
    if path:
        return Triage.from_artifact(path)
    sample = datasets.load(sample_path())
    requests = [ChatRequest.from_prompt(p) for p in sample.prompts]
    model = train("default", sample.models, requests, sample.scores, sample.costs)
    with tempfile.TemporaryDirectory() as tmp:
        return Triage.from_artifact(artifact.save(model, Path(tmp) / "router.npz"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--artifact", help="router artifact to use instead of training one")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args()
    triage = load_triage(args.artifact)
    fz, router, cost = triage.model.featurizer, triage.model.router, triage.model.cost
    requests = [ChatRequest.from_prompt(p) for p in datasets.load(sample_path()).prompts]
    texts = [(conversation_text(r), focus_text(r)) for r in requests]
    feats = [fz.transform([r]) for r in requests]
    segs = [segments(t, f) for t, f in texts]
    count = fz._native.count if fz._native is not None else None

    def ngram_counts(i: int) -> object:
        if count is not None:
            return count(*segs[i])
        return fz._column_counts(fz.ngrams.ids(*texts[i]))

    def struct(r: ChatRequest) -> object:
        return structural_features(r, conversation_text(r))

    def policy_and_decision(f: Any) -> object:
        q, c = router.predict(f)[0].tolist(), cost.predict(f.struct)[0].tolist()
        i, ok = triage.policy.choose_one(q, c)
        return triage._decision(i, q, c, ok, None)

    for r in requests[:100]:  # warm-up
        triage.decide(r)
    times = []
    for r in requests:
        t0 = time.perf_counter()
        triage.decide(r)
        times.append(time.perf_counter() - t0)
    junk = np.ones(16 * 2**20 // 8)
    idx = list(range(len(requests)))
    res = {
        "kernel": native.available(),
        "prompts": len(requests),
        "mean_bytes": round(float(np.mean([len(s[0]) for s in segs]))),
        "decide_p50_ms": round(1e3 * float(np.percentile(times, 50)), 3),
        "decide_p99_ms": round(1e3 * float(np.percentile(times, 99)), 3),
        "parts_mean_us": {
            "normalise text": mean_us(lambda t: _normalise(t[0]), texts),
            "n-gram counts": mean_us(ngram_counts, idx),
            "rest of the tf-idf row (focus, values)": round(
                mean_us(lambda t: fz._row(*t), texts)
                - mean_us(ngram_counts, idx)
                - mean_us(lambda t: _normalise(t[0]), texts),
                1,
            ),
            "structural features": mean_us(struct, requests),
            "linear layer": mean_us(router.predict, feats),
            "cost model": mean_us(lambda f: cost.predict(f.struct), feats),
            "policy + decision": round(
                mean_us(policy_and_decision, feats)
                - mean_us(router.predict, feats)
                - mean_us(lambda f: cost.predict(f.struct), feats),
                1,
            ),
        },
        "n-gram counts p50 us": {
            "warm": p50_us(ngram_counts, idx, lambda: None),
            "cold (16 MB streamed before each)": p50_us(ngram_counts, idx, junk.sum),
        },
    }
    print(json.dumps(res, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
