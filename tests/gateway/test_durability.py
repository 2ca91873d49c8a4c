"""The request log survives shutdown and store outages: a real ``llmtriage serve`` process."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import yaml
from conftest import gateway_config

from fakes.openai_upstream import FakeOpenAI

LLMTRIAGE = str(Path(sys.executable).parent / "llmtriage")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(self, upstream: str, tmp: Path, **extra: Any) -> None:
        self.db = tmp / "log.db"
        cfg = gateway_config(upstream, self.db, **extra).model_dump(exclude_none=True)
        path = tmp / "gateway.yaml"
        path.write_text(yaml.safe_dump(cfg))
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = (tmp / "serve.log").open("wb")
        cmd = [LLMTRIAGE, "serve", "--config", str(path), "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.http = httpx.Client(base_url=self.base, trust_env=False, timeout=30)
        for _ in range(300):
            try:
                if self.http.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("the gateway did not start")

    def ask(self, text: str) -> int:
        body = {"model": "triage/auto", "messages": [{"role": "user", "content": text}]}
        return self.http.post("/v1/chat/completions", json=body).status_code

    def rows(self) -> list[str]:
        with sqlite3.connect(self.db) as con:
            return [r[0] for r in con.execute("SELECT id FROM requests")]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.http.close()
        self.log.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FakeOpenAI, Served]]:
    with FakeOpenAI() as upstream:
        s = Served(upstream.base_url, tmp_path)
        try:
            yield upstream, s
        finally:
            s.stop()


def test_sigterm_drains_in_flight_and_flushes_every_record(
    served: tuple[FakeOpenAI, Served],
) -> None:
    _, s = served
    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(s.ask, [f"q{i}" for i in range(150)])) == {200}
    with ThreadPoolExecutor(40) as pool:  # one thread each: all 40 are sent at once
        slow = [pool.submit(s.ask, f"slow {i} [stall:1.0]") for i in range(40)]
        time.sleep(0.4)  # they are in flight now
        s.proc.send_signal(signal.SIGTERM)
        assert [f.result() for f in slow] == [200] * 40  # drained, not dropped
    assert s.proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once drained
    rows = s.rows()
    assert len(rows) == 190 and len(set(rows)) == 190


def test_sigterm_cancels_what_outlives_the_grace_period_and_logs_it(tmp_path: Path) -> None:
    with FakeOpenAI() as upstream:
        s = Served(upstream.base_url, tmp_path, gateway={"shutdown_timeout_s": 1.0})
        try:
            with ThreadPoolExecutor(2) as pool:
                stuck = [pool.submit(s.ask, f"stuck {i} [stall:8]") for i in range(2)]
                time.sleep(0.5)
                t0 = time.monotonic()
                s.proc.send_signal(signal.SIGTERM)
                assert s.proc.wait(20) in (0, -signal.SIGTERM)
                assert time.monotonic() - t0 < 6  # the grace period, not the 8 s stall
                for f in stuck:  # uvicorn answers a cancelled request 500, or closes it
                    with contextlib.suppress(httpx.TransportError):
                        assert f.result(timeout=10) >= 500
            with sqlite3.connect(s.db) as con:
                rows = con.execute("SELECT status, error FROM requests").fetchall()
            assert len(rows) == 2 and all(r[0] == 503 and "shut down" in r[1] for r in rows)
        finally:
            s.stop()


def test_store_outage_spools_and_every_record_arrives_once(
    served: tuple[FakeOpenAI, Served],
) -> None:
    _, s = served
    assert s.ask("before") == 200
    while not s.rows():  # written before the outage begins
        time.sleep(0.05)
    lock = sqlite3.connect(s.db, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # the store is down for writers
    try:
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(s.ask, [f"during {i}" for i in range(60)])) == {200}

        def spooled() -> Any:
            return s.http.get("/healthz").json()["log"]["spooled"]

        deadline = time.monotonic() + 30
        while spooled() < 60 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert spooled() == 60
        assert os.path.getsize(str(s.db) + ".spool.jsonl") > 0
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    deadline = time.monotonic() + 30
    while len(s.rows()) < 61 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert s.ask("after") == 200
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once drained
    rows = s.rows()
    assert len(rows) == 62 and len(set(rows)) == 62
    assert not os.path.exists(str(s.db) + ".spool.jsonl")
