"""Gateway overhead: calls straight to a fake upstream vs through llmtriage (and LiteLLM).

All on loopback. Starts a minimal OpenAI-compatible upstream (aiohttp, its own process), the
gateway (``llmtriage serve``: one uvicorn worker, router ``default`` trained on the bundled
sample, SQLite request log on) and, with ``--litellm VENV``, a LiteLLM proxy on the same
upstream. Then measures, in one run: latency p50/p99 at concurrency 1 (targets alternating in
blocks), streaming time to first token at concurrency 1, throughput and CPU ms per request at
concurrency 16 and 64, and the gateway's RSS over a long run at concurrency 64. Each target is
measured alone: the other proxy is stopped (SIGSTOP) meanwhile, the upstream always runs.
Issue targets: added p50 <= 1 ms, >= 1,500 req/s at c=16 (>= 12x LiteLLM), TTFT +<= 1 ms,
RSS <= 250 MB and flat.

    .venv/bin/python bench/gateway_overhead.py [--quick] [--litellm VENV] [--model NAME]
        [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson
import uvloop
import yaml
from aiohttp import web

from llmtriage.demo import sample_path
from llmtriage.embedded import MODELS, TIERS
from llmtriage.evals import datasets

HOST = "127.0.0.1"
N_PROMPTS = 200
CLK_TCK = os.sysconf("SC_CLK_TCK")
BIN = Path(sys.executable).parent
PHASES = {  # (c=1 latency requests, stream requests, throughput seconds, RSS-phase requests)
    "full": (2000, 1000, 15.0, 100_000),
    "quick": (200, 100, 2.0, 5_000),
}

# ---------------------------------------------------------------- the fake upstream


def _chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    obj = {"id": "chatcmpl-b", "object": "chat.completion.chunk", "created": 1, "model": "b"}
    return b"data: " + orjson.dumps({**obj, "choices": [choice]}) + b"\n\n"


USAGE = {"prompt_tokens": 42, "completion_tokens": 3, "total_tokens": 45}
ANSWER = {"index": 0, "message": {"role": "assistant", "content": "B."}, "finish_reason": "stop"}
COMPLETION = orjson.dumps(
    {"id": "chatcmpl-b", "object": "chat.completion", "created": 1, "model": "b"}
    | {"choices": [ANSWER], "usage": USAGE}
)
STREAM = b"".join(
    _chunk(d, f)
    for d, f in [
        ({"role": "assistant", "content": ""}, None),
        ({"content": "B."}, None),
        ({}, "stop"),
    ]
)
USAGE_CHUNK = b"data: " + orjson.dumps({"id": "chatcmpl-b", "choices": [], "usage": USAGE})
DONE = b"data: [DONE]\n\n"


async def _upstream_handler(request: web.Request) -> web.StreamResponse:
    body = orjson.loads(await request.read())
    if not body.get("stream"):
        return web.Response(body=COMPLETION, content_type="application/json")
    resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await resp.prepare(request)
    await resp.write(STREAM)  # one write per part would time the upstream's syscalls
    if (body.get("stream_options") or {}).get("include_usage"):
        await resp.write(USAGE_CHUNK + b"\n\n")
    await resp.write(DONE)
    return resp


def run_upstream(port: int) -> None:
    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", _upstream_handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, HOST, port).start()
        await asyncio.Event().wait()

    uvloop.run(main())


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, seconds: float = 120) -> None:
    """Poll ``url`` (no proxies) until it answers 200; on failure show the server's log."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with opener.open(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{url} did not come up (exit code {proc.poll()}):\n{tail}")


def gateway_config(tmp: Path, upstream: str, artifact: Path) -> Path:
    models = [
        {"name": name, "provider": "openai", "base_url": f"{upstream}/v1"}
        | {"price": {"input_per_mtok": pin, "output_per_mtok": pout}}
        for name, pin, pout, _ in MODELS
    ]
    tiers = [{"name": t, "models": [m for m, *_, tier in MODELS if tier == t]} for t in TIERS]
    router = {"kind": "default", "artifact": str(artifact)}
    store = {"url": f"sqlite:///{tmp / 'requests.db'}"}
    path = tmp / "gateway.yaml"
    path.write_text(
        yaml.safe_dump({"models": models, "tiers": tiers, "router": router} | {"store": store})
    )
    return path


def litellm_config(tmp: Path, upstream: str) -> Path:
    params = {"api_base": f"{upstream}/v1", "api_key": "dummy"}
    models = [
        {"model_name": name, "litellm_params": {"model": f"openai/{name}", **params}}
        for name, *_ in MODELS
    ]
    path = tmp / "litellm.yaml"
    path.write_text(yaml.safe_dump({"model_list": models}, sort_keys=False))
    return path


def start(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen(cmd, stdout=out, stderr=out, env=env, start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT the process group we started (graceful: the log writer flushes), then kill."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (LiteLLM may serve from a child)."""
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parents[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [c for c, p in parents.items() if p in frontier]
        tree += frontier
    return tree


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


# ---------------------------------------------------------------- load generation


class Target:
    """One endpoint under test with its pre-encoded request bodies."""

    def __init__(self, name: str, base: str, models: list[str], prompts: list[str], pid: int):
        self.name, self.pid = name, pid
        self.url = f"{base}/v1/chat/completions"
        self.bodies = [self._body(models[i % len(models)], p, False) for i, p in enumerate(prompts)]
        self.streams = [self._body(models[i % len(models)], p, True) for i, p in enumerate(prompts)]

    @staticmethod
    def _body(model: str, prompt: str, stream: bool) -> bytes:
        msgs = [{"role": "user", "content": prompt}]
        return orjson.dumps({"model": model, "messages": msgs, "stream": stream})


HEADERS = {"content-type": "application/json", "authorization": "Bearer dummy"}
ROUNDS = 5  # c=1 phases alternate targets in this many blocks, so drift hits all alike


@contextlib.contextmanager
def alone(targets: list[Target], measured: Target) -> Iterator[None]:
    """Stop (SIGSTOP) every proxy but ``measured`` for the block: on a 2-core machine an idle
    proxy's background loops (LiteLLM's) would otherwise slow whatever is being measured."""
    others = [t for t in targets if t is not measured and t.name != "upstream"]
    for t in others:
        os.killpg(t.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for t in others:
            os.killpg(t.pid, signal.SIGCONT)


def session(limit: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit), timeout=aiohttp.ClientTimeout(total=60)
    )


async def call(s: aiohttp.ClientSession, url: str, body: bytes) -> float:
    t0 = time.perf_counter()
    async with s.post(url, data=body, headers=HEADERS) as r:
        data = await r.read()
        if r.status != 200:
            raise RuntimeError(f"{url}: HTTP {r.status}: {data[:300]!r}")
    return time.perf_counter() - t0


async def first_token(s: aiohttp.ClientSession, url: str, body: bytes) -> float:
    """Seconds to the first ``data:`` line; the stream is read to its ``[DONE]``."""
    t0 = time.perf_counter()
    ttft, done = None, False
    async with s.post(url, data=body, headers=HEADERS) as r:
        if r.status != 200:
            raise RuntimeError(f"{url}: HTTP {r.status}: {(await r.read())[:300]!r}")
        async for line in r.content:
            if ttft is None and line.startswith(b"data:"):
                ttft = time.perf_counter() - t0
            done = done or line.strip() == DONE.strip()
    if ttft is None or not done:
        raise RuntimeError(f"{url}: stream without data or [DONE]")
    return ttft


def pct(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


async def sequential(targets: list[Target], n: int, stream: bool) -> dict[str, dict[str, float]]:
    """Concurrency 1: each target alone, in ``ROUNDS`` alternating blocks of n / ROUNDS.

    Each block opens its own connection with one untimed call: a server stopped meanwhile
    may close an idle keep-alive connection the moment it resumes."""
    times: dict[str, list[float]] = {t.name: [] for t in targets}
    fn = first_token if stream else call
    for r in range(ROUNDS):
        for t in targets:
            bodies = t.streams if stream else t.bodies
            with alone(targets, t):
                async with session(1) as s:
                    await fn(s, t.url, bodies[r])
                    for i in range(r * n // ROUNDS, (r + 1) * n // ROUNDS):
                        times[t.name].append(await fn(s, t.url, bodies[i % N_PROMPTS]))
    return {name: pct(ts) for name, ts in times.items()}


async def load(t: Target, conc: int, seconds: float, max_requests: int) -> dict[str, float]:
    """``conc`` workers on one keep-alive pool until the deadline or ``max_requests``."""
    issued, ok, errors = 0, 0, 0
    pids = process_tree(t.pid)
    async with session(conc) as s:
        cpu0, t0 = cpu_seconds(pids), time.perf_counter()
        deadline = t0 + seconds

        async def worker() -> None:
            nonlocal issued, ok, errors
            while issued < max_requests and time.perf_counter() < deadline:
                issued += 1
                try:
                    await call(s, t.url, t.bodies[issued % N_PROMPTS])
                    ok += 1
                except (RuntimeError, aiohttp.ClientError, TimeoutError):
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(conc)))
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds(pids) - cpu0
    cpu_ms = cpu * 1e3 / max(ok, 1)
    return {"requests": ok, "errors": errors, "rps": ok / elapsed, "cpu_ms_per_request": cpu_ms}


async def rss_run(gw: Target, total: int) -> dict[str, object]:
    """The gateway's RSS after warm-up, then at each fifth of ``total`` requests (c=64)."""
    before = rss_mb(gw.pid)
    samples, done = [], 0
    for _ in range(5):
        done += int((await load(gw, 64, 3600.0, total // 5))["requests"])
        samples.append({"requests": done, "rss_mb": round(rss_mb(gw.pid), 1)})
    return {"rss_mb_before": round(before, 1), "samples": samples}


async def measure(targets: list[Target], gw: Target, phase: str) -> dict[str, Any]:
    n_lat, n_stream, secs, n_rss = PHASES[phase]
    for t in targets:  # warm-up: connections, caches, the router's first calls
        with alone(targets, t):
            await load(t, 16, 30.0, 500)
    await sequential(targets, 50, stream=True)
    out: dict[str, Any] = {"latency_c1": await sequential(targets, n_lat, stream=False)}
    out["ttft_c1"] = await sequential(targets, n_stream, stream=True)
    for conc in (16, 64):
        out[f"throughput_c{conc}"] = {}
        for t in targets:
            with alone(targets, t):
                out[f"throughput_c{conc}"][t.name] = await load(t, conc, secs, 200_000)
    with alone(targets, gw):
        out["rss"] = await rss_run(gw, n_rss)
    return out


# ---------------------------------------------------------------- reporting


def summary(res: dict[str, Any], names: list[str]) -> dict[str, dict[str, float]]:
    """The table's rows: label -> {target: value}; "added" rows are minus the upstream's."""
    lat, ttft = res["latency_c1"], res["ttft_c1"]

    def added(d: dict[str, Any], k: str) -> dict[str, float]:
        return {n: d[n][k] - d["upstream"][k] for n in names if n != "upstream"}

    out = {
        "latency c=1 p50 ms": {n: lat[n]["p50_ms"] for n in names},
        "latency c=1 p99 ms": {n: lat[n]["p99_ms"] for n in names},
        "added p50 ms": added(lat, "p50_ms"),
        "added p99 ms": added(lat, "p99_ms"),
        "stream TTFT p50 ms": {n: ttft[n]["p50_ms"] for n in names},
        "added TTFT p50 ms": added(ttft, "p50_ms"),
    }
    for c in (16, 64):
        tp = res[f"throughput_c{c}"]
        out[f"req/s c={c}"] = {n: tp[n]["rps"] for n in names}
        out[f"CPU ms/req c={c}"] = {n: tp[n]["cpu_ms_per_request"] for n in names}
        out[f"errors c={c}"] = {n: tp[n]["errors"] for n in names}
    return out


def table(rows: dict[str, dict[str, float]], names: list[str]) -> str:
    width = max(map(len, rows)) + 2
    lines = [" " * width + "".join(f"{n:>12}" for n in names)]
    for label, vals in rows.items():
        fmt = "{:.0f}" if label.startswith(("req/s", "errors")) else "{:.3f}"
        cells = ["-" if n not in vals else fmt.format(vals[n]) for n in names]
        lines.append(label.ljust(width) + "".join(f"{c:>12}" for c in cells))
    return "\n".join(lines)


def log_summary(db: Path) -> dict[str, object]:
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT tier, count(*) FROM requests GROUP BY tier").fetchall()
    return {"log_rows": sum(c for _, c in rows), "tier_mix": dict(rows)}


def train_artifact(tmp: Path, given: str | None) -> Path:
    if given:
        return Path(given)
    out, data = tmp / "router", str(sample_path())
    subprocess.run([BIN / "llmtriage", "train", "--data", data, "--out", str(out)], check=True)
    return out.with_suffix(".npz")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return {**env, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", **extra}


# LiteLLM fetches a few files from GitHub at start-up unless told not to; the URLs left point
# at a closed loopback port, so nothing leaves the machine.
LITELLM_OFFLINE = {
    f"LITELLM_LOCAL_{k}": "True"
    for k in ("MODEL_COST_MAP", "ANTHROPIC_BETA_HEADERS", "AUTOROUTER_PRESETS", "BLOG_POSTS")
} | {"LITELLM_LOCAL_POLICY_TEMPLATES": "True"}
LITELLM_OFFLINE |= {
    k.replace("LOCAL_", "") + "_URL": "http://127.0.0.1:9/" for k in LITELLM_OFFLINE
}


def start_litellm(venv: Path, tmp: Path, upstream: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cfg = litellm_config(tmp, upstream)
    # no auth on either side: our gateway runs keyless here too (LiteLLM >= 1.10x refuses that
    # unless told it is local development)
    env = clean_env(
        LITELLM_LOG="ERROR",
        LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY="true",
        HF_HUB_OFFLINE="1",  # its token counter fetches a tokenizer from a hub otherwise
        TRANSFORMERS_OFFLINE="1",
        **LITELLM_OFFLINE,
    )
    cmd = [str(venv / "bin/litellm"), "--config", str(cfg), "--host", HOST, "--port", str(port)]
    proc = start([*cmd, "--num_workers", "1"], tmp / "litellm.log", env)
    base = f"http://{HOST}:{port}"
    wait_ready(proc, f"{base}/health/liveliness", tmp / "litellm.log", 300)
    return proc, base


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    artifact = train_artifact(tmp, args.artifact)
    prompts = datasets.load(sample_path()).prompts[:N_PROMPTS]
    up_port = free_port()
    upstream_proc = multiprocessing.get_context("fork").Process(
        target=run_upstream, args=(up_port,), daemon=True
    )
    upstream_proc.start()
    upstream = f"http://{HOST}:{up_port}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        gw_port = free_port()
        cfg = gateway_config(tmp, upstream, artifact)
        cmd = [str(BIN / "llmtriage"), "serve", "--config", str(cfg)]
        gw_proc = start([*cmd, "--port", str(gw_port)], tmp / "gateway.log", clean_env())
        procs.append(gw_proc)
        gw_base = f"http://{HOST}:{gw_port}"
        wait_ready(gw_proc, f"{gw_base}/healthz", tmp / "gateway.log")
        targets = [
            Target("upstream", upstream, ["bench"], prompts, upstream_proc.pid or 0),
            Target("llmtriage", gw_base, [args.model], prompts, gw_proc.pid),
        ]
        if args.litellm:
            ll_proc, ll_base = start_litellm(Path(args.litellm), tmp, upstream)
            procs.append(ll_proc)
            names = [m for m, *_ in MODELS]
            targets.append(Target("litellm", ll_base, names, prompts, ll_proc.pid))
        res = uvloop.run(measure(targets, targets[1], "quick" if args.quick else "full"))
    finally:
        for p in procs:
            stop(p)
        upstream_proc.terminate()
        upstream_proc.join(10)
    res["gateway_log"] = log_summary(tmp / "requests.db")
    return res | {"targets": [t.name for t in targets]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short smoke run (< 60 s)")
    p.add_argument("--litellm", metavar="VENV", help="venv with litellm[proxy] to compare")
    p.add_argument("--artifact", help="router artifact to use instead of training one")
    p.add_argument(
        "--model",
        default="triage/auto",
        help="model the gateway is asked for: triage/auto (routed) or a configured name "
        "(pass-through: the gateway without the routing decision)",
    )
    p.add_argument("--requests-rss", type=int, help="requests in the RSS phase")
    p.add_argument("--json", metavar="FILE", help="write the results here")
    args = p.parse_args()
    if args.requests_rss:
        key = "quick" if args.quick else "full"
        PHASES[key] = (*PHASES[key][:3], args.requests_rss)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        res = run(args, Path(tmp))
    names = res["targets"]
    res["table"] = summary(res, names)
    res["seconds"], res["loadavg"] = round(time.monotonic() - started, 1), os.getloadavg()
    print(table(res["table"], names))
    rss = res["rss"]
    print(f"gateway RSS MB: {rss['rss_mb_before']} after warm-up, then {rss['samples']}")
    if "litellm" in names:
        tp = res["table"]["req/s c=16"]
        print(f"req/s c=16, llmtriage / LiteLLM: {tp['llmtriage'] / tp['litellm']:.1f}x")
    print(f"request log: {res['gateway_log']}; {res['seconds']} s; loadavg {res['loadavg']}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
