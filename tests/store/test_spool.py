"""The spool: records survive a store outage (and the process) on disk, land once, in full.

The outage is real: another connection holds SQLite's write lock (BEGIN EXCLUSIVE), so the
writer's inserts fail with "database is locked" after a short busy timeout.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmtriage.store.base import RequestRecord
from llmtriage.store.spool import Spool
from llmtriage.store.sqlite import SqliteStore
from llmtriage.store.writer import BatchWriter


def record(i: int) -> RequestRecord:
    return RequestRecord(
        id=f"r{i}",
        ts=1.0 + i,
        requested_model="triage/auto",
        status=200,
        attempts=[{"model": "m", "status": 200, "ms": 1.5}],
        estimates=[{"model": "m", "quality": 0.5, "cost_usd": 1e-5}],
    )


class Lock:
    """Hold the database's write lock from another connection while inside ``with``."""

    def __init__(self, db: Path) -> None:
        self.con = sqlite3.connect(db, isolation_level=None)

    def __enter__(self) -> Lock:
        self.con.execute("BEGIN EXCLUSIVE")
        return self

    def __exit__(self, *exc: object) -> None:
        self.con.execute("ROLLBACK")
        self.con.close()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "log.db"
    SqliteStore(f"sqlite:///{path}").close()  # create the schema before anyone locks it
    yield path


def ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as con:
        return [r[0] for r in con.execute("SELECT id FROM requests ORDER BY ts")]


def writer(db: Path, spool: Spool) -> tuple[SqliteStore, BatchWriter]:
    store = SqliteStore(f"sqlite:///{db}", busy_timeout_ms=50)
    return store, BatchWriter(
        store, flush_interval=0.02, retry_initial=0.02, retry_max=0.1, spool=spool
    )


def wait_for(check: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return bool(check())  # type: ignore[operator]


def test_outage_spools_to_disk_then_replays_once(db: Path, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    store, w = writer(db, spool)
    with Lock(db):
        for i in range(50):
            w.submit(record(i))
        assert wait_for(lambda: w.spooled == 50)
        assert spool and ids(db) == []
    assert wait_for(lambda: len(ids(db)) == 50)  # replayed without any new traffic
    for i in range(50, 60):
        w.submit(record(i))
    assert w.close(5)
    store.close()
    assert ids(db) == [f"r{i}" for i in range(60)] and not spool
    with sqlite3.connect(db) as con:
        attempts = con.execute("SELECT attempts FROM requests WHERE id = 'r7'").fetchone()[0]
    assert '"ms":1.5' in attempts.replace(" ", "")


def test_close_during_outage_spools_everything_and_next_start_replays(
    db: Path, tmp_path: Path
) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    store, w = writer(db, spool)
    with Lock(db):
        for i in range(120):
            w.submit(record(i))
        assert w.close(10)  # nothing left in memory: all on disk
        store.close()
        assert w.spooled == 120 and spool
    store, w = writer(db, spool)  # the next process
    assert wait_for(lambda: len(ids(db)) == 120)
    assert w.close(5) and not spool
    store.close()


def test_replaying_a_spool_twice_writes_no_duplicates(db: Path, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    spool.append([record(i) for i in range(5)])
    copy = spool.path.read_bytes()
    store = SqliteStore(f"sqlite:///{db}")
    assert spool.replay(store) == 5
    spool.path.write_bytes(copy + b'{"torn": tru')  # and a torn last line
    assert spool.replay(store) == 5
    store.close()
    assert ids(db) == [f"r{i}" for i in range(5)]
