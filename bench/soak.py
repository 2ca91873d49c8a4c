"""Soak: minutes of mixed, fault-injected traffic through ``llmtriage serve``; is its RSS flat?

All on loopback. Starts two fake OpenAI upstreams (``tests/fakes/openai_upstream.py``): a flaky
one (30% seeded chaos: error statuses, stalls, garbled JSON, dropped connections) serving
small-1 and mid-1, and a healthy one serving big-1, so every fault can be absorbed by retries,
fallback and the circuit breaker. Then a real ``llmtriage serve`` process (SQLite request log
on) gets ``--concurrency`` workers of mixed traffic: ``triage/auto``, ``triage/small``,
``small-1`` and ``mid-1``, half streaming, some with ``tools`` or ``response_format``, ~5%
malformed requests (must be 4xx), feedback on every 20th success, and the odd ``GET
/v1/models``, ``/healthz`` or ``/metrics``.

Measured: requests by outcome and status, client-visible errors (5xx, transport errors or broken
streams/bodies on well-formed requests; expected 0), req/s, the gateway's RSS every
``--sample-s``, and its growth after warm-up (the first 20% of the run or 60 s, whichever is
smaller): the RSS at the end of warm-up against the max over the rest and the final RSS
(target < 10%). After SIGTERM, the rows in the request log are compared with the requests
sent to /v1/chat/completions. Exits 1 if a check fails.

    .venv/bin/python bench/soak.py [--minutes 10 | --quick] [--concurrency 16] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]

from fakes.openai_upstream import FakeOpenAI  # noqa: E402
from gateway_overhead import BIN, HOST, clean_env, free_port, rss_mb, start, wait_ready  # noqa: E402

MODELS = ("triage/auto", "triage/small", "small-1", "mid-1")
FAST = {
    "first_token_timeout_s": 1.0,
    "retries": {"attempts": 2, "backoff_s": 0.01, "max_backoff_s": 0.5},
    # default threshold and window; a short cooldown so circuits open, probe and close often
    "breaker": {"failures": 5, "window_s": 30.0, "cooldown_s": 2.0},
}
HEADERS = {"content-type": "application/json", "authorization": "Bearer unused"}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
BAD = {  # kind -> body; each must be answered 4xx
    "invalid-json": b'{"model": "triage/auto", "messages": [',
    "no-messages": b'{"model": "triage/auto"}',
    "unknown-model": b'{"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}',
}
GETS = ("/v1/models", "/healthz", "/metrics")
MAX_EXAMPLES = 10


# ---------------------------------------------------------------- state


@dataclass
class Soak:
    """The run's shared state: what was sent, what came back, what was sampled."""

    s: aiohttp.ClientSession
    base: str
    pid: int
    t0: float
    deadline: float
    max_requests: int
    seq: int = 0
    chat_sent: int = 0
    ok: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    served: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # client-visible, the first few
    n_errors: int = 0
    unexpected: Counter[str] = field(default_factory=Counter)  # bad request not 4xx, etc.
    samples: list[dict[str, Any]] = field(default_factory=list)
    upstream_calls: Counter[str] = field(default_factory=Counter)

    def error(self, what: str) -> None:
        self.n_errors += 1
        if len(self.errors) < MAX_EXAMPLES:
            self.errors.append(what)


# ---------------------------------------------------------------- the gateway


def write_config(tmp: Path, flaky: str, healthy: str) -> Path:
    """small-1 and mid-1 on the flaky upstream, big-1 (frontier) on the healthy one."""
    spec = [("small-1", "small", 0.1, 0.2, flaky), ("mid-1", "mid", 1.0, 2.0, flaky)]
    spec.append(("big-1", "frontier", 10.0, 30.0, healthy))
    models = [
        {"name": name, "provider": "openai", "base_url": url, "upstream_model": f"up-{name}"}
        | {"price": {"input_per_mtok": pin, "output_per_mtok": pout}}
        for name, _, pin, pout, url in spec
    ]
    tiers = [{"name": t, "models": [m], "max_latency_ms": 2000} for m, t, *_ in spec]
    store = {"url": f"sqlite:///{tmp / 'requests.db'}"}
    data = {"models": models, "tiers": tiers, "store": store, "gateway": FAST}
    path = tmp / "gateway.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def start_gateway(cfg: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [str(BIN / "llmtriage"), "serve", "--config", str(cfg), "--port", str(port)]
    proc = start(cmd, log, clean_env())
    base = f"http://{HOST}:{port}"
    try:
        wait_ready(proc, f"{base}/healthz", log)
    except RuntimeError:
        stop_gateway(proc)
        raise
    return proc, base


def stop_gateway(proc: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM (graceful: drains and flushes the log), then SIGKILL after 60 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


# ---------------------------------------------------------------- traffic


def chat_body(i: int) -> tuple[bytes, bool]:
    """Request ``i`` of the mix: model, streaming, tools and response_format vary with ``i``."""
    stream = (i // len(MODELS)) % 2 == 1
    body: dict[str, Any] = {"model": MODELS[i % len(MODELS)], "stream": stream}
    text = f"soak question {i}"
    if i % 7 == 3:
        body["tools"] = TOOLS
        text += " [tool]"  # both fakes answer with a tool call (non-streaming)
    if i % 11 == 5:
        body["response_format"] = {"type": "json_object"}
    if stream and i % 3 == 0:
        body["stream_options"] = {"include_usage": True}
    body["messages"] = [{"role": "system", "content": "Be brief."}]
    body["messages"].append({"role": "user", "content": text})
    return orjson.dumps(body), stream


async def stream_ok(r: aiohttp.ClientResponse) -> bool:
    """Read the SSE stream to its end: True if it ends with [DONE] and has no error event."""
    done = False
    async for line in r.content:
        if not line.startswith(b"data: "):
            continue
        payload = line[6:].strip()
        if payload == b"[DONE]":
            done = True
        elif b'"error"' in payload and "error" in orjson.loads(payload):
            return False
    return done


async def body_ok(r: aiohttp.ClientResponse) -> bool:
    data = await r.read()
    if r.status != 200:
        return True  # judged by its status
    try:
        return bool(orjson.loads(data)["choices"][0]["message"])
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return False


async def chat(st: Soak, i: int) -> None:
    body, stream = chat_body(i)
    kind = "stream" if stream else "json"
    st.chat_sent += 1
    try:
        async with st.s.post(f"{st.base}/v1/chat/completions", data=body, headers=HEADERS) as r:
            ok = await (stream_ok(r) if stream and r.status == 200 else body_ok(r))
            status, headers = r.status, r.headers
    except (aiohttp.ClientError, TimeoutError) as exc:
        st.outcomes[f"chat {kind} transport-error"] += 1
        st.error(f"#{i} {kind}: {exc!r}")
        return
    st.outcomes[f"chat {kind} {status}" + ("" if ok else " broken")] += 1
    if status >= 500 or not ok:
        st.error(f"#{i} {kind}: HTTP {status}" + ("" if ok else ", broken body/stream"))
    elif status != 200:
        st.unexpected[f"well-formed chat got {status}"] += 1
    else:
        st.ok += 1
        st.served[headers.get("x-triage-model", "?")] += 1
        if st.ok % 20 == 0:
            await feedback(st, headers.get("x-triage-request-id", ""))


async def request(st: Soak, method: str, path: str, label: str, data: bytes | None = None) -> int:
    """One plain request; its outcome is counted under ``label``; returns the status (0: none)."""
    try:
        async with st.s.request(method, st.base + path, data=data, headers=HEADERS) as r:
            await r.read()
            status = r.status
    except (aiohttp.ClientError, TimeoutError):
        status = 0
    st.outcomes[f"{label} {status or 'transport-error'}"] += 1
    return status


async def feedback(st: Soak, request_id: str) -> None:
    body = orjson.dumps({"request_id": request_id, "score": 0.7})
    if await request(st, "POST", "/v1/feedback", "feedback", body) != 200:
        st.unexpected["feedback not 200"] += 1


async def bad(st: Soak, i: int) -> None:
    kind = list(BAD)[i % len(BAD)]
    st.chat_sent += 1
    status = await request(st, "POST", "/v1/chat/completions", f"bad {kind}", BAD[kind])
    if not 400 <= status < 500:
        st.unexpected[f"bad request ({kind}) got {status or 'transport-error'}"] += 1


async def worker(st: Soak) -> None:
    """Take request numbers until the deadline (or ``max_requests``): ~5% bad, ~1% GETs."""
    while time.monotonic() < st.deadline and st.seq < st.max_requests:
        i, st.seq = st.seq, st.seq + 1
        if i % 20 == 19:
            await bad(st, i)
        elif i % 97 == 50:
            path = GETS[(i // 97) % len(GETS)]
            if await request(st, "GET", path, f"GET {path}") != 200:
                st.unexpected[f"GET {path} not 200"] += 1
        else:
            await chat(st, i)


# ---------------------------------------------------------------- sampling


async def circuits(st: Soak) -> dict[str, str]:
    try:
        async with st.s.get(f"{st.base}/healthz") as r:
            return dict((await r.json())["circuits"])
    except (aiohttp.ClientError, TimeoutError, KeyError, ValueError):
        return {}


def drain(fakes: dict[str, FakeOpenAI], st: Soak) -> None:
    """Count and forget the fakes' received bodies (they grow the bench, not the gateway)."""
    for name, fake in fakes.items():
        n = len(fake.received)
        del fake.received[:n]
        st.upstream_calls[name] += n


def sample(st: Soak, open_circuits: list[str]) -> bool:
    """Append one RSS sample; False when the gateway has gone."""
    try:
        rss = rss_mb(st.pid)
    except (OSError, RuntimeError):
        return False
    t = round(time.monotonic() - st.t0, 2)
    st.samples.append({"t_s": t, "rss_mb": round(rss, 2), "chat_sent": st.chat_sent})
    st.samples[-1]["open_circuits"] = open_circuits
    return True


async def sampler(st: Soak, fakes: dict[str, FakeOpenAI], every: float) -> None:
    """Every ``every`` seconds until the deadline: RSS, open circuits; drain the fakes."""
    while time.monotonic() < st.deadline:
        state = await circuits(st)
        if not sample(st, sorted(m for m, s in state.items() if s == "open")):
            return
        drain(fakes, st)
        await asyncio.sleep(min(every, max(st.deadline - time.monotonic(), 0.0)))


async def soak(args: argparse.Namespace, pid: int, base: str, fakes: dict[str, FakeOpenAI]) -> Soak:
    conn = aiohttp.TCPConnector(limit=args.concurrency + 2)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as s:
        t0 = time.monotonic()
        st = Soak(s, base, pid, t0, t0 + args.minutes * 60, args.max_requests)
        load = asyncio.gather(*(worker(st) for _ in range(args.concurrency)))
        await asyncio.gather(load, sampler(st, fakes, args.sample_s))
        sample(st, sorted(m for m, v in (await circuits(st)).items() if v == "open"))
        drain(fakes, st)
    return st


# ---------------------------------------------------------------- results


def rss_growth(samples: list[dict[str, Any]], run_s: float) -> dict[str, Any]:
    """RSS at the end of warm-up vs the max over the rest and the final RSS."""
    warmup = min(0.2 * run_s, 60.0)
    base = next((x for x in samples if x["t_s"] >= warmup), samples[-1])
    rest = [x["rss_mb"] for x in samples if x["t_s"] > base["t_s"]] or [base["rss_mb"]]
    peak, final = max(rest), samples[-1]["rss_mb"]
    g_max, g_final = (100 * (v - base["rss_mb"]) / base["rss_mb"] for v in (peak, final))
    return {
        "warmup_s": round(warmup, 1),
        "rss_first_mb": samples[0]["rss_mb"],
        "rss_warmup_mb": base["rss_mb"],
        "rss_max_after_mb": peak,
        "rss_final_mb": final,
        "growth_max_pct": round(g_max, 2),
        "growth_final_pct": round(g_final, 2),
        "ok": g_max < 10 and g_final < 10,
    }


def log_rows(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT status, count(*) FROM requests GROUP BY status").fetchall()
    return {"rows": sum(n for _, n in rows), "by_status": {str(s): n for s, n in rows}}


def breaker_lines(log: Path) -> dict[str, int]:
    """Circuit state changes the gateway logged, by new state."""
    text = log.read_text(errors="replace")
    return {s: text.count(f"-> {s} (") for s in ("open", "half_open", "closed")}


def figures(st: Soak, run_s: float, log: dict[str, Any], fakes: dict[str, FakeOpenAI]) -> Any:
    elapsed = st.samples[-1]["t_s"]
    return {
        "minutes": run_s / 60,
        "elapsed_s": elapsed,
        "chat_sent": st.chat_sent,
        "chat_ok": st.ok,
        "outcomes": dict(sorted(st.outcomes.items())),
        "client_visible_errors": st.n_errors,
        "error_examples": st.errors,
        "unexpected": dict(st.unexpected),
        "chat_rps": round(st.chat_sent / elapsed, 1),
        "http_rps": round(sum(st.outcomes.values()) / elapsed, 1),
        "served_by": dict(st.served),
        "upstream_calls": dict(st.upstream_calls),
        "faults_injected": dict(fakes["flaky"].faults),
        "samples_with_open_circuit": sum(bool(x["open_circuits"]) for x in st.samples),
        "rss": rss_growth(st.samples, run_s),
        "rss_samples": st.samples,
        "request_log": log | {"matches_chat_sent": log["rows"] == st.chat_sent},
    }


def summary(r: dict[str, Any]) -> str:
    rss, lg = r["rss"], r["request_log"]
    verdict = "PASS" if rss["ok"] else "FAIL"
    rows = [
        ("run", f"{r['elapsed_s']:.0f} s, warm-up {rss['warmup_s']:.0f} s"),
        ("chat requests sent", f"{r['chat_sent']} ({r['chat_rps']}/s; all HTTP {r['http_rps']}/s)"),
        ("chat 200 and intact", str(r["chat_ok"])),
        ("client-visible errors", str(r["client_visible_errors"])),
        ("unexpected answers", json.dumps(r["unexpected"]) if r["unexpected"] else "0"),
        ("served by", ", ".join(f"{m} {n}" for m, n in sorted(r["served_by"].items()))),
        ("faults injected", str(sum(r["faults_injected"].values()))),
        ("circuit changes (log)", ", ".join(f"{k} {v}" for k, v in r["breaker_log"].items())),
        (
            "RSS MB start/warm/max/end",
            "{rss_first_mb} / {rss_warmup_mb} / {rss_max_after_mb} / {rss_final_mb}".format(**rss),
        ),
        (
            "RSS growth after warm-up",
            f"max {rss['growth_max_pct']:+.1f}%, final "
            f"{rss['growth_final_pct']:+.1f}% -> {verdict} (< 10%)",
        ),
        (
            "request log rows",
            f"{lg['rows']} of {r['chat_sent']} sent -> "
            + ("match" if lg["matches_chat_sent"] else "MISMATCH"),
        ),
        ("gateway exit after SIGTERM", f"{r['gateway_exit']} (0 or -15: drained)"),
    ]
    outcomes = [(f"  {k}", str(v)) for k, v in r["outcomes"].items()]
    width = max(len(k) for k, _ in rows + outcomes) + 2
    lines = [k.ljust(width) + v for k, v in rows] + ["outcomes:"]
    return "\n".join(lines + [k.ljust(width) + v for k, v in outcomes])


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    with FakeOpenAI(chaos=0.3, seed=7) as flaky, FakeOpenAI() as healthy:
        fakes = {"flaky": flaky, "healthy": healthy}
        cfg = write_config(tmp, flaky.base_url, healthy.base_url)
        proc, base = start_gateway(cfg, tmp / "gateway.log")
        try:
            st = uvloop.run(soak(args, proc.pid, base, fakes))
        finally:
            code = stop_gateway(proc)
        res = figures(st, args.minutes * 60, log_rows(tmp / "requests.db"), fakes)
    return res | {"gateway_exit": code, "breaker_log": breaker_lines(tmp / "gateway.log")}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0, help="length of the run (default 10)")
    p.add_argument("--quick", action="store_true", help="a 1-minute run")
    p.add_argument("--concurrency", type=int, default=16, help="async workers (default 16)")
    p.add_argument("--sample-s", type=float, default=1.0, help="RSS sampling interval")
    p.add_argument("--max-requests", type=int, default=5_000_000, help="stop after this many")
    p.add_argument("--json", metavar="FILE", help="write all figures here")
    args = p.parse_args()
    # the fakes log a traceback each time the gateway abandons a stalled stream: expected here
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    if args.quick:
        args.minutes = 1.0
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        res = run(args, Path(tmp))
    print(summary(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    checks = (res["rss"]["ok"], res["client_visible_errors"] == 0, not res["unexpected"])
    clean = res["request_log"]["matches_chat_sent"] and res["gateway_exit"] in (0, -15)
    return 0 if all(checks) and clean else 1


if __name__ == "__main__":
    sys.exit(main())
