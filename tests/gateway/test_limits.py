"""Keys, permissions, budgets and rate limits, over real HTTP with the openai client."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest
from conftest import gateway_config

from fakes.openai_upstream import FakeOpenAI
from llmtriage.gateway.app import create_app
from llmtriage.gateway.auth import hash_key
from llmtriage.gateway.server import BackgroundServer

CLIENT, ADMIN = "lt-client-key-for-tests-0001", "lt-admin-key-for-tests-0001"
# small-1 costs $0.1/$0.2 per Mtok; the fake upstream reports 11 + 7 tokens: $2.5e-6 a call
CALL_USD = (11 * 0.1 + 7 * 0.2) / 1e6


@dataclass
class Limited:
    upstream: FakeOpenAI
    base_url: str
    db: Path
    admin: httpx.Client
    clients: list[openai.OpenAI] = field(default_factory=list)

    def client(self, key: str = CLIENT) -> openai.OpenAI:
        c = openai.OpenAI(base_url=self.base_url + "/v1", api_key=key, max_retries=0, timeout=30)
        self.clients.append(c)
        return c


def serve(tmp_path: Path, **key: Any) -> Iterator[Limited]:
    keys = [{"name": "team", "hash": hash_key(CLIENT), **key}]
    auth = {"keys": keys, "admin_key_hash": hash_key(ADMIN), "refresh_s": 0.2}
    with FakeOpenAI() as upstream:
        cfg = gateway_config(upstream.base_url, tmp_path / "log.db", auth=auth)
        with BackgroundServer(create_app(cfg)) as server:
            headers = {"authorization": f"Bearer {ADMIN}"}
            with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as admin:
                limited = Limited(upstream, server.base_url, tmp_path / "log.db", admin)
                yield limited
                for c in limited.clients:
                    c.close()


@pytest.fixture
def budgeted(tmp_path: Path) -> Iterator[Limited]:
    # 100 calls' worth; only small-1 allowed, so no fallback can be pricier than it
    yield from serve(tmp_path, budget_usd_per_day=100 * CALL_USD, tiers=["small"])


def _ask(client: openai.OpenAI, i: int) -> int:
    try:
        client.chat.completions.create(
            model="triage/auto",
            messages=[{"role": "user", "content": f"q{i} [stall:0.3]"}],
            max_tokens=16,
        )
    except openai.RateLimitError as err:
        assert err.response.headers["retry-after"].isdigit()
        assert err.body["type"] == "budget_exceeded"  # type: ignore[index]
        return 429
    return 200


def _ledger(db: Path) -> tuple[float, float, int]:
    """(spend ledger today, sum of logged costs, logged requests) of key 'team'."""
    with sqlite3.connect(db) as con:
        (ledger,) = con.execute(
            "SELECT COALESCE(SUM(usd), 0) FROM spend WHERE key_name = 'team' AND period LIKE 'd:%'"
        ).fetchone()
        logged, n = con.execute(
            "SELECT COALESCE(SUM(cost_usd), 0), COUNT(*) FROM requests WHERE key_name = 'team'"
        ).fetchone()
    return float(ledger), float(logged), int(n)


def test_200_concurrent_requests_never_overspend_and_the_ledger_matches(
    budgeted: Limited,
) -> None:
    client, budget = budgeted.client(), 100 * CALL_USD
    with ThreadPoolExecutor(200) as pool:  # all 200 in flight together (each stalls 0.3 s)
        statuses = Counter(pool.map(lambda i: _ask(client, i), range(200)))
    assert statuses[200] + statuses[429] == 200
    assert 0 < statuses[200] <= 100 and statuses[429] > 0
    spend = budgeted.admin.get("/v1/admin/spend").json()["team"]
    assert spend["reserved_usd"] == pytest.approx(0, abs=1e-12)  # every reservation settled
    assert spend["today_usd"] == pytest.approx(statuses[200] * CALL_USD)
    assert spend["today_usd"] <= budget * (1 + 1e-9)  # reservations >= real cost: no overspend
    for _ in range(100):  # the log is written in batches, off the request path
        ledger, logged, n = _ledger(budgeted.db)
        if n == 200:
            break
        time.sleep(0.05)
    assert n == 200
    assert ledger == pytest.approx(logged) and logged == pytest.approx(spend["today_usd"])


def test_the_reservation_pays_for_every_one_of_n_choices(budgeted: Limited) -> None:
    # n=50 x 16 tokens holds ~0.65 of the budget: of 4 requests in flight together, one fits
    client = budgeted.client()

    def ask(i: int) -> int:
        try:
            client.chat.completions.create(
                model="small-1",
                messages=[{"role": "user", "content": f"q{i} [stall:0.5]"}],
                max_tokens=16,
                n=50,
            )
        except openai.RateLimitError:
            return 429
        return 200

    with ThreadPoolExecutor(4) as pool:
        assert sorted(pool.map(ask, range(4))) == [200, 429, 429, 429]


def test_a_spent_budget_is_a_429_with_retry_after_until_the_next_day(budgeted: Limited) -> None:
    client = budgeted.client()
    msgs = [{"role": "user", "content": "q0"}]
    with pytest.raises(openai.RateLimitError) as err:  # spend it all, then one more
        for _ in range(101):
            client.chat.completions.create(model="small-1", messages=msgs, max_tokens=16)  # type: ignore[arg-type]
    assert "daily budget" in err.value.message
    assert 0 < int(err.value.response.headers["retry-after"]) <= 86400


def test_requests_per_minute(tmp_path: Path) -> None:
    for stack in serve(tmp_path, requests_per_minute=5):
        client = stack.client()
        msgs = [{"role": "user", "content": "hi"}]
        for _ in range(5):
            client.chat.completions.create(model="small-1", messages=msgs)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError) as err:
            client.chat.completions.create(model="small-1", messages=msgs)  # type: ignore[arg-type]
        assert "5 requests per minute" in err.value.message
        assert 0 < int(err.value.response.headers["retry-after"]) <= 60


def test_tokens_per_minute_counts_what_was_used(tmp_path: Path) -> None:
    for stack in serve(tmp_path, tokens_per_minute=120):
        client = stack.client()
        msgs = [{"role": "user", "content": "hi"}]
        served = 0
        for _ in range(10):  # each reserves ~40 tokens, then uses 18
            try:
                client.chat.completions.create(model="small-1", messages=msgs, max_tokens=16)  # type: ignore[arg-type]
                served += 1
            except openai.RateLimitError as err:
                assert "tokens per minute" in err.message
                break
        assert 3 <= served <= 6  # 120 / 18 used, less the last one's reservation


def test_a_key_reaches_only_its_tiers_even_on_fallback(tmp_path: Path) -> None:
    for stack in serve(tmp_path, tiers=["small"]):
        client = stack.client()
        msgs = [{"role": "user", "content": "Prove the Riemann hypothesis"}]
        for model in ("big-1", "triage/frontier"):
            with pytest.raises(openai.PermissionDeniedError) as err:
                client.chat.completions.create(model=model, messages=msgs)  # type: ignore[arg-type]
            assert err.value.body["param"] == "model"  # type: ignore[index]
        raw = client.chat.completions.with_raw_response.create(model="triage/auto", messages=msgs)  # type: ignore[arg-type]
        assert raw.headers["x-triage-model"] == "small-1"
        fail = [{"role": "user", "content": "x [fail:503]"}]
        with pytest.raises(openai.APIStatusError) as failed:  # no escalation past its tiers
            client.chat.completions.create(model="triage/auto", messages=fail)  # type: ignore[arg-type]
        assert failed.value.status_code == 502
        assert "small-1" in failed.value.message and "big-1" not in failed.value.message


def test_admin_key_manages_keys_but_cannot_complete(tmp_path: Path) -> None:
    for stack in serve(tmp_path):
        msgs = [{"role": "user", "content": "hi"}]
        with pytest.raises(openai.AuthenticationError) as err:
            stack.client(ADMIN).chat.completions.create(model="small-1", messages=msgs)  # type: ignore[arg-type]
        assert "management endpoints only" in err.value.message
        created = stack.admin.post("/v1/admin/keys", json={"name": "ci", "models": ["mid-1"]})
        assert created.status_code == 201, created.text
        key = created.json()["key"]
        raw = stack.client(key).chat.completions.with_raw_response.create(
            model="mid-1",
            messages=msgs,  # type: ignore[arg-type]
        )
        assert raw.headers["x-triage-model"] == "mid-1"
        listed = stack.admin.get("/v1/admin/keys").json()["keys"]
        assert {k["name"] for k in listed} == {"team", "ci"}
        assert key not in str(listed) and "sha256" not in str(listed)
        bad = stack.admin.post("/v1/admin/keys", json={"name": "x", "requests_per_minute": -1})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "requests_per_minute"
        taken = stack.admin.post("/v1/admin/keys", json={"name": "team"})
        assert taken.status_code == 400 and taken.json()["error"]["param"] == "name"
        assert stack.admin.delete("/v1/admin/keys/ci").status_code == 200
        with pytest.raises(openai.AuthenticationError):
            stack.client(key).chat.completions.create(model="mid-1", messages=msgs)  # type: ignore[arg-type]
        assert stack.admin.delete("/v1/admin/keys/ci").status_code == 404
        as_client = httpx.get(
            stack.base_url + "/v1/admin/keys", headers={"authorization": f"Bearer {CLIENT}"}
        )
        assert as_client.status_code == 401
