"""Retries, fallback, escalation and circuit breaking against misbehaving upstreams."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import orjson
import pytest
from conftest import gateway_config

from fakes.openai_upstream import FakeOpenAI
from llmtriage import config
from llmtriage.gateway.app import create_app
from llmtriage.gateway.server import BackgroundServer

FAST = {
    "first_token_timeout_s": 1.0,
    "retries": {"attempts": 2, "backoff_s": 0.01, "max_backoff_s": 0.5},
}


def _config(
    flaky: str, healthy: str, db: Path, breaker: dict[str, Any], timeout_ms: float = 2000
) -> config.Config:
    """small-1 and mid-1 on the flaky upstream, big-1 (frontier) on the healthy one."""
    cfg = gateway_config(flaky, db).model_dump(exclude_none=True)
    cfg["models"][2]["base_url"] = healthy
    for tier in cfg["tiers"]:
        tier["max_latency_ms"] = timeout_ms
    cfg["gateway"] = {**FAST, "breaker": breaker}
    return config.parse(cfg, db.parent)


def _client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key="x", max_retries=0, timeout=20)


def _ask(client: openai.OpenAI, i: int) -> str:
    """One request, alternating streaming and routing modes; returns the answer text."""
    model = ("small-1", "triage/auto", "triage/small", "mid-1")[i % 4]
    msgs = [{"role": "user", "content": f"question {i}"}]
    if i % 2:
        stream = client.chat.completions.create(model=model, messages=msgs, stream=True)  # type: ignore[arg-type]
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    resp = client.chat.completions.create(model=model, messages=msgs)  # type: ignore[arg-type]
    return resp.choices[0].message.content or ""


def _rows(db: Path, n: int) -> list[tuple[Any, ...]]:
    for _ in range(300):
        with sqlite3.connect(db) as con:
            rows = con.execute("SELECT status, model, attempts FROM requests").fetchall()
        if len(rows) >= n:
            return rows
        time.sleep(0.05)
    return rows


@pytest.fixture
def chaos(tmp_path: Path) -> Iterator[tuple[FakeOpenAI, FakeOpenAI, str, Path]]:
    with FakeOpenAI(chaos=0.3, seed=7) as flaky, FakeOpenAI() as healthy:
        # the breaker stays shut here so every fault is met by retry/fallback, not skipped
        cfg = _config(flaky.base_url, healthy.base_url, tmp_path / "log.db", {"failures": 10**6})
        with BackgroundServer(create_app(cfg)) as server:
            yield flaky, healthy, server.base_url, tmp_path / "log.db"


def test_no_client_visible_error_with_one_healthy_model(
    chaos: tuple[FakeOpenAI, FakeOpenAI, str, Path],
) -> None:
    flaky, _, base_url, db = chaos
    n = 2000
    with _client(base_url) as client, ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda i: _ask(client, i), range(n)))
    assert answers == [f"echo: question {i}" for i in range(n)]
    assert sum(flaky.faults.values()) > 0.2 * n and len(flaky.faults) == 7  # every kind hit
    rows = _rows(db, n)
    assert len(rows) == n and {r[0] for r in rows} == {200}
    retried = [orjson.loads(r[2]) for r in rows if len(orjson.loads(r[2])) > 1]
    assert len(retried) > 0.2 * n  # the faults were absorbed by retries and fallbacks
    served = Counter(r[1] for r in rows)
    assert served["big-1"] > 0 and served["small-1"] > 0


def test_every_model_failing_is_a_clean_502_listing_attempts(tmp_path: Path) -> None:
    with FakeOpenAI(chaos=1.0, seed=3) as dead:
        db = tmp_path / "log.db"
        cfg = _config(dead.base_url, dead.base_url, db, {"failures": 10**6}, timeout_ms=250)
        with BackgroundServer(create_app(cfg)) as server, _client(server.base_url) as client:
            for i in range(12):
                with pytest.raises(openai.APIStatusError) as err:
                    _ask(client, 2 * i)  # non-streaming
                assert err.value.status_code == 502
                msg = err.value.message
                assert "all providers failed" in msg
                assert all(m in msg for m in ("small-1", "mid-1", "big-1")), msg
            with pytest.raises(openai.APIStatusError) as err:
                _ask(client, 1)  # streaming: no 200 before content, so a 502 as well
            assert err.value.status_code == 502


def test_retry_after_is_honoured_on_the_same_model(stack: Any) -> None:
    stack.upstream.fail_next(1, 429, retry_after=0.3)
    started = time.perf_counter()
    raw = stack.client.chat.completions.with_raw_response.create(
        model="small-1", messages=[{"role": "user", "content": "patience"}]
    )
    assert time.perf_counter() - started >= 0.3
    assert raw.headers["x-triage-model"] == "small-1"
    assert raw.parse().choices[0].message.content == "echo: patience"


def test_long_retry_after_moves_on_to_the_next_model(stack: Any) -> None:
    stack.upstream.fail_next(1, 429, retry_after=60)
    started = time.perf_counter()
    raw = stack.client.chat.completions.with_raw_response.create(
        model="small-1", messages=[{"role": "user", "content": "hurry"}]
    )
    assert time.perf_counter() - started < 5
    assert raw.headers["x-triage-model"] == "mid-1" and raw.headers["x-triage-tier"] == "mid"


def test_upstream_rejecting_the_request_is_a_400_without_fallback(stack: Any) -> None:
    stack.upstream.fail_next(1, 400)
    n_before = len(stack.upstream.received)
    with pytest.raises(openai.BadRequestError) as err:
        stack.client.chat.completions.create(
            model="small-1", messages=[{"role": "user", "content": "bad"}]
        )
    assert "rejected the request" in err.value.message
    assert len(stack.upstream.received) == n_before + 1


@pytest.mark.parametrize(("kind", "arg"), [("drop-before-content", None), ("stall-stream", "3")])
def test_stream_failing_before_content_falls_back_invisibly(
    tmp_path: Path, kind: str, arg: str | None
) -> None:
    with FakeOpenAI() as flaky, FakeOpenAI() as healthy:
        cfg = _config(flaky.base_url, healthy.base_url, tmp_path / "log.db", {})
        with BackgroundServer(create_app(cfg)) as server, _client(server.base_url) as client:
            flaky.misbehave_next(1, kind, arg)
            raw = client.chat.completions.with_raw_response.create(
                model="small-1", messages=[{"role": "user", "content": "go on"}], stream=True
            )
            text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
            assert text == "echo: go on"
            assert raw.headers["x-triage-model"] == "small-1"  # its retry succeeded
            flaky.heal()


def test_stream_failing_after_content_ends_with_an_error_event(stack: Any) -> None:
    stream = stack.client.chat.completions.create(
        model="small-1",
        messages=[{"role": "user", "content": "[drop-mid-stream] go"}],
        stream=True,
    )
    with pytest.raises(openai.APIError):
        "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_circuit_opens_skips_the_dead_model_and_recovers(tmp_path: Path) -> None:
    with FakeOpenAI() as flaky, FakeOpenAI() as healthy:
        breaker = {"failures": 3, "window_s": 60, "cooldown_s": 0.5}
        cfg = _config(flaky.base_url, healthy.base_url, tmp_path / "log.db", breaker)
        with BackgroundServer(create_app(cfg)) as server, _client(server.base_url) as client:
            flaky.fail_next(10**6, 503)
            for i in range(10):
                _ask(client, 4 * i)  # small-1, non-streaming: escalates past the dead models
            calls = len(flaky.received)
            assert calls <= 6 + 2  # 3 failures open each of small-1 and mid-1 (+ retries)
            health = httpx.get(server.base_url + "/healthz", trust_env=False).json()
            assert health["circuits"]["small-1"] == "open" and health["status"] == "degraded"
            for i in range(5):
                _ask(client, 4 * i)
            assert len(flaky.received) == calls  # open circuits cost nothing
            flaky.heal()  # the model comes back
            time.sleep(0.6)
            assert _ask(client, 0) == "echo: question 0"
            health = httpx.get(server.base_url + "/healthz", trust_env=False).json()
            assert health["circuits"]["small-1"] == "closed"
            assert health["circuits"]["mid-1"] == "open" and health["status"] == "degraded"


@pytest.mark.parametrize(
    ("gap", "idle", "finishes"),
    [(0.15, 60.0, True), (1.0, 0.4, False)],
    ids=["slow-but-steady", "silent-too-long"],
)
def test_a_started_stream_runs_past_the_tier_latency_while_it_keeps_sending(
    tmp_path: Path, gap: float, idle: float, finishes: bool
) -> None:
    # max_latency_ms 1000 bounds the wait for the first token; after it, only silence does
    db = tmp_path / "log.db"
    with FakeOpenAI() as up:
        cfg = _config(up.base_url, up.base_url, db, {"failures": 10**6}, timeout_ms=1000)
        gateway = cfg.gateway.model_copy(update={"stream_idle_timeout_s": idle})
        cfg = cfg.model_copy(update={"gateway": gateway})
        text = f"a story told slowly, piece by piece [slow-stream:{gap}]"
        body = {"model": "small-1", "stream": True, "messages": [{"role": "user", "content": text}]}
        with BackgroundServer(create_app(cfg)) as server:
            started = time.monotonic()
            url = server.base_url + "/v1/chat/completions"
            with httpx.stream("POST", url, json=body, timeout=30) as resp:
                events = resp.read().decode()
            assert resp.status_code == 200
            if finishes:
                assert time.monotonic() - started > 1.0 and events.endswith("data: [DONE]\n\n")
            else:
                assert "timed out" in events and "[DONE]" not in events
            assert [r[0] for r in _rows(db, 1)] == [200 if finishes else 502]
