"""`llmtriage demo`: the embedded gateway, a replayed workload over HTTP, and a report.

No keys, no servers to install: replay providers answer with real recorded model outputs from
the bundled RouterBench sample (MIT; see data/README.md). The router is trained on 70% of the
sample; the workload is the other 30%, sent through the gateway with the official openai
client. Quality is the recorded score of the answer the gateway returned.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

SAMPLE = "routerbench_sample.parquet"
FRONTIER = "gpt-4-1106-preview"


def sample_path() -> Path:
    """Path of the bundled sample dataset (RouterBench subset, MIT; see data/README.md)."""
    return Path(str(resources.files("llmtriage.data").joinpath(SAMPLE)))


@dataclass
class Outcome:
    model: str
    tier: str
    cost: float
    quality: float
    frontier_cost: float
    frontier_quality: float
    overhead_ms: float


def _replay(base_url: str, workload: object, concurrency: int, quiet: bool) -> list[Outcome]:
    import openai
    from tqdm import tqdm

    from llmtriage.evals.datasets import RoutingDataset

    assert isinstance(workload, RoutingDataset)
    client = openai.OpenAI(base_url=base_url + "/v1", api_key="demo", max_retries=0)
    col = {m: j for j, m in enumerate(workload.models)}
    f = col[FRONTIER]

    def one(i: int) -> Outcome:
        raw = client.chat.completions.with_raw_response.create(
            model="triage/auto", messages=[{"role": "user", "content": workload.prompts[i]}]
        )
        h = raw.headers
        m = h["x-triage-model"]
        return Outcome(
            m,
            h["x-triage-tier"],
            float(h["x-triage-cost-usd"].split()[0]),
            float(workload.scores[i, col[m]]),
            float(workload.costs[i, f]),
            float(workload.scores[i, f]),
            float(h["x-triage-overhead-ms"]),
        )

    with ThreadPoolExecutor(concurrency) as pool:
        it = pool.map(one, range(len(workload)))
        out = list(tqdm(it, total=len(workload), desc="replaying", unit="req", disable=quiet))
    client.close()
    return out


def _summary(out: list[Outcome]) -> str:
    import numpy as np

    n = len(out)
    cost, fcost = sum(o.cost for o in out), sum(o.frontier_cost for o in out)
    q, fq = np.mean([o.quality for o in out]), np.mean([o.frontier_quality for o in out])
    lines = [f"{'model':<36} {'tier':<9} {'share':>6} {'quality':>8}"]
    for (model, tier), k in sorted(
        Counter((o.model, o.tier) for o in out).items(), key=lambda kv: -kv[1]
    ):
        mq = np.mean([o.quality for o in out if o.model == model])
        lines.append(f"{model:<36} {tier:<9} {100 * k / n:5.1f}% {mq:8.3f}")
    overhead = np.percentile([o.overhead_ms for o in out], [50, 99])
    lines += [
        "",
        f"requests: {n}   quality {q:.3f} vs always-{FRONTIER} {fq:.3f} ({100 * q / fq:.1f}%)",
        f"cost: ${cost:.4f} vs ${fcost:.4f} always-frontier "
        f"({100 * cost / fcost:.1f}% of it, {100 * (1 - cost / fcost):.1f}% saved)",
        f"gateway overhead per request: p50 {overhead[0]:.2f} ms, p99 {overhead[1]:.2f} ms",
    ]
    return "\n".join(lines)


def _plot(out: list[Outcome], path: Path) -> None:
    import matplotlib as mpl

    mpl.use("Agg")
    import numpy as np
    from matplotlib import pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    mix = Counter(o.model for o in out).most_common()
    a.barh([m[-28:] for m, _ in mix][::-1], [k for _, k in mix][::-1], color="#4a7")
    a.set_title("where requests went")
    a.set_xlabel("requests")
    b.plot(np.cumsum([o.frontier_cost for o in out]), label=f"always {FRONTIER}")
    b.plot(np.cumsum([o.cost for o in out]), label="llmtriage (triage/auto)")
    b.set_title("cumulative cost (USD)")
    b.set_xlabel("requests")
    b.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run_live(out_dir: Path, quiet: bool = False, concurrency: int = 8) -> int:
    from llmtriage.embedded import embedded_config, embedded_triage, sample_split
    from llmtriage.gateway.app import create_app
    from llmtriage.gateway.server import BackgroundServer

    out_dir.mkdir(parents=True, exist_ok=True)
    train_set, workload = sample_split()
    print(
        f"llmtriage demo: training the default router on {len(train_set)} RouterBench "
        f"prompts; replaying {len(workload)} held-out prompts through the gateway"
    )
    cfg = embedded_config(out_dir / "llmtriage.db")
    app = create_app(cfg, embedded_triage(cfg, train_set))
    with BackgroundServer(app) as server:
        print(
            f"gateway: {server.base_url}  (metrics {server.base_url}/metrics, "
            f"health {server.base_url}/healthz)"
        )
        outcomes = _replay(server.base_url, workload, concurrency, quiet)
        writer = app.state.gateway.writer
        writer.flush(10.0)
        logged = app.state.gateway.store.count_requests()
    summary = _summary(outcomes)
    print("\n" + summary)
    _plot(outcomes, out_dir / "routing.png")
    (out_dir / "report.md").write_text(
        "# llmtriage demo\n\nReplayed workload: held-out RouterBench prompts (recorded answers"
        f" of real models).\n\n```\n{summary}\n```\n\n![routing](routing.png)\n"
    )
    print(f"\nrequest log: {logged} records in {out_dir / 'llmtriage.db'}")
    print(f"report: {out_dir / 'report.md'}  plot: {out_dir / 'routing.png'}")
    print(
        "keep a gateway running with `llmtriage serve` (metrics at /metrics; the dashboard "
        "arrives with the observability issue)"
    )
    return 0


def run_offline(out: Path, quiet: bool = False) -> int:
    """Offline evaluation of the default router on the sample (`llmtriage demo --offline`)."""
    from llmtriage.cli import _table
    from llmtriage.embedded import sample_split
    from llmtriage.evals import report, runner

    train, test = sample_split()
    ev = runner.evaluate(train, test, ["default", "knn", "rules"], n_boot=200, progress=not quiet)
    paths = report.write(ev, out)
    print(_table(ev))
    print(f"\nreport: {paths['report']}  plot: {paths['plot']}")
    return 0
