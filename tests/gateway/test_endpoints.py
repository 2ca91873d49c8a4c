"""Models, dry-run routing, feedback, health, metrics and the request log."""

from __future__ import annotations

import sqlite3
import time

import httpx2 as httpx
from conftest import Stack


def _wait_rows(stack: Stack, n: int) -> list[sqlite3.Row]:
    deadline = time.time() + 10
    while True:
        con = sqlite3.connect(stack.db)
        con.row_factory = sqlite3.Row
        rows = con.execute("SELECT * FROM requests ORDER BY ts").fetchall()
        con.close()
        if len(rows) >= n or time.time() > deadline:
            return rows
        time.sleep(0.05)


def test_models_lists_virtual_and_configured(stack: Stack) -> None:
    ids = [m.id for m in stack.client.models.list()]
    assert ids == [
        "triage/auto",
        "triage/small",
        "triage/mid",
        "triage/frontier",
        "small-1",
        "mid-1",
        "big-1",
    ]


def test_route_dry_run_calls_no_model(stack: Stack) -> None:
    before = len(stack.upstream.received)
    r = httpx.post(
        stack.base_url + "/v1/route",
        json={"model": "triage/auto", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status_code == 200
    d = r.json()
    assert d["model"] == "small-1" and d["reason"]
    assert [e["model"] for e in d["estimates"]] == ["small-1", "mid-1", "big-1"]
    assert len(stack.upstream.received) == before


def test_feedback_joins_a_logged_request(stack: Stack) -> None:
    raw = stack.client.chat.completions.with_raw_response.create(
        model="triage/auto", messages=[{"role": "user", "content": "hello"}]
    )
    rid = raw.headers["x-triage-request-id"]
    ok = httpx.post(
        stack.base_url + "/v1/feedback", json={"request_id": rid, "score": 0.8, "metric": "thumbs"}
    )
    assert ok.status_code == 200 and ok.json()["requests"] == 1
    missing = httpx.post(stack.base_url + "/v1/feedback", json={"request_id": "req_x", "score": 1})
    assert missing.status_code == 404
    bad = httpx.post(stack.base_url + "/v1/feedback", json={"request_id": rid, "score": 3})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "score"


def test_every_request_is_logged(stack: Stack) -> None:
    ok = stack.client.chat.completions.with_raw_response.create(
        model="triage/auto", messages=[{"role": "user", "content": "log me"}], user="sess-1"
    )
    httpx.post(
        stack.base_url + "/v1/chat/completions",
        json={"model": "small-1", "messages": [{"role": "user", "content": "x [fail:500]"}]},
    )
    rows = _wait_rows(stack, 2)
    assert len(rows) == 2
    first, failed = rows
    assert first["id"] == ok.headers["x-triage-request-id"]
    assert first["status"] == 200 and first["session_id"] == "sess-1"
    assert first["model"] == "small-1" and first["tier"] == "small" and first["router"] == "rules"
    assert first["prompt_tokens"] == 11 and first["completion_tokens"] == 7
    assert first["cost_usd"] > 0 and first["counterfactual_cost_usd"] > first["cost_usd"]
    assert first["prompt"] is None and len(first["prompt_hash"]) == 64  # default: hash only
    assert failed["status"] == 502 and "500" in failed["error"]


def test_health_and_metrics(stack: Stack) -> None:
    stack.client.chat.completions.create(
        model="small-1", messages=[{"role": "user", "content": "count me"}]
    )
    health = httpx.get(stack.base_url + "/healthz").json()
    assert health["status"] == "ok" and health["models"] == 3
    text = httpx.get(stack.base_url + "/metrics").text
    assert 'llmtriage_requests_total{model="small-1",status="200",tier="small"} 1.0' in text
    assert "llmtriage_overhead_seconds_bucket" in text


def test_a_refused_request_is_logged_with_the_model_it_asked_for(stack: Stack) -> None:
    r = httpx.post(
        stack.base_url + "/v1/chat/completions",
        json={"model": "triage/nope", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 404
    (row,) = _wait_rows(stack, 1)
    assert row["status"] == 404 and row["requested_model"] == "triage/nope"


def test_a_streams_cost_header_is_marked_as_an_estimate(stack: Stack) -> None:
    with stack.client.chat.completions.with_streaming_response.create(
        model="triage/auto", messages=[{"role": "user", "content": "hello"}], stream=True
    ) as raw:
        assert raw.headers["x-triage-cost-estimated"] == "true"  # sent before the usage
        assert float(raw.headers["x-triage-cost-usd"]) > 0


def test_unknown_paths_and_methods_get_openai_style_errors(stack: Stack) -> None:
    missing = httpx.get(stack.base_url + "/v1/nope")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    wrong = httpx.get(stack.base_url + "/v1/chat/completions")
    assert (
        wrong.status_code == 405 and "GET /v1/chat/completions" in wrong.json()["error"]["message"]
    )
    assert "POST" in wrong.headers["allow"]
