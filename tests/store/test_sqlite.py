"""Tests for the SQLite store: URL parsing, round trips, batch atomicity, dedup, WAL,
migrations, feedback joins, concurrent writers, and the store factory."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llmtriage.exceptions import ConfigError, RequestError
from llmtriage.store.base import FeedbackRecord, KeyRecord, RequestRecord, spend_periods
from llmtriage.store.factory import open_store
from llmtriage.store.migrations import LATEST_VERSION, MIGRATIONS, Migration, migrate
from llmtriage.store.sqlite import REQUEST_COLUMNS, SqliteStore, sqlite_path


def record(i: int | str, **changes: object) -> RequestRecord:
    base = RequestRecord(id=f"r{i}", ts=1_700_000_000.0, requested_model="triage/auto", status=200)
    return dataclasses.replace(base, **changes)


def full_record() -> RequestRecord:
    return RequestRecord(
        id="req-full",
        ts=1_700_000_123.456,
        requested_model="triage/auto",
        status=502,
        key_name="team-a",
        session_id="s1",
        router="knn",
        tier="small",
        model="llama-3.1-8b",
        estimates=[{"model": "llama-3.1-8b", "quality": 0.71, "cost": 1e-05}, {"x": None}],
        attempts=[{"model": "llama-3.1-8b", "status": 500, "ms": 12.5, "error": "boom"}],
        error="upstream failed",
        stream=True,
        latency_ms=812.25,
        ttft_ms=90.5,
        overhead_ms=1.75,
        prompt_tokens=123,
        completion_tokens=45,
        usage_estimated=True,
        cost_usd=0.000123,
        counterfactual_cost_usd=0.0456,
        prompt_hash="sha256:abc",
        prompt="Prove that √2 is irrational — ünïcode",
    )


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'log.db'}"


@pytest.fixture
def store(db_url: str) -> Iterator[SqliteStore]:
    s = SqliteStore(db_url)
    yield s
    s.close()


def raw(url: str) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(sqlite_path(url), isolation_level=None))


def query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    with raw(url) as conn:
        return conn.execute(sql, params).fetchall()


def names(url: str) -> set[str]:
    return {row[0] for row in query(url, "SELECT name FROM sqlite_master")}


# -- URLs ----------------------------------------------------------------------------------


def test_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert sqlite_path("sqlite:///rel/path.db") == "rel/path.db"
    assert sqlite_path("sqlite:////abs/path.db") == "/abs/path.db"
    assert sqlite_path("sqlite:///:memory:") == ":memory:"
    monkeypatch.chdir(tmp_path)
    SqliteStore("sqlite:///sub/dir/rel.db").close()
    assert (tmp_path / "sub" / "dir" / "rel.db").is_file()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite://x.db", "log.db"])
def test_bad_urls_raise_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match=r"store\.url") as info:
        SqliteStore(url)
    assert repr(url) in str(info.value)


def test_not_a_database_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError, match="cannot open"):
        SqliteStore(f"sqlite:///{path}")


# -- records -------------------------------------------------------------------------------


def test_round_trip_of_every_field(store: SqliteStore) -> None:
    full, minimal = full_record(), record("min")
    store.write_requests([full, minimal])
    assert store.get_request("req-full") == dataclasses.asdict(full)
    got = store.get_request("rmin")
    assert got == dataclasses.asdict(minimal)
    assert got is not None and got["estimates"] is None and got["attempts"] == []
    assert got["stream"] is False and got["key_name"] is None
    assert store.get_request("nope") is None
    assert store.count_requests() == 2


def test_schema_has_one_column_per_field(store: SqliteStore, db_url: str) -> None:
    cols = [row[1] for row in query(db_url, "PRAGMA table_info(requests)")]
    assert cols == [f.name for f in dataclasses.fields(RequestRecord)] == list(REQUEST_COLUMNS)


def test_numpy_values_in_estimates_are_stored_as_numbers(store: SqliteStore) -> None:
    rec = record(1, estimates=[{"quality": np.float32(0.5), "costs": np.array([1.0, 2.0])}])
    store.write_requests([rec])
    got = store.get_request("r1")
    assert got is not None and got["estimates"] == [{"quality": 0.5, "costs": [1.0, 2.0]}]


def test_unserialisable_record_writes_nothing(store: SqliteStore) -> None:
    bad = record("bad", estimates=[{"model": "m", "quality": object()}])
    with pytest.raises(ValueError, match="rbad"):
        store.write_requests([record(1), bad, record(2)])
    assert store.count_requests() == 0


def test_constraint_failure_rolls_back_whole_batch(store: SqliteStore) -> None:
    # passes encoding, fails inside the INSERT: exercises the SQL-level rollback
    bad = record("bad", requested_model=None)
    with pytest.raises(ValueError, match="cannot be stored"):
        store.write_requests([record(1), record(2), bad])
    assert store.count_requests() == 0
    store.write_requests([record(1)])  # the connection is usable afterwards
    assert store.count_requests() == 1


def test_replayed_ids_are_ignored(store: SqliteStore) -> None:
    store.write_requests([record(1), record(2, status=200)])
    store.write_requests([record(2, status=500), record(3)])
    store.write_requests([record(1), record(2), record(3)])
    store.write_requests([record(4), record(4, status=500)])  # duplicate inside one batch
    assert store.count_requests() == 4
    got = store.get_request("r2")
    assert got is not None and got["status"] == 200  # first write wins


def test_empty_batch_is_a_no_op(store: SqliteStore) -> None:
    store.write_requests([])
    assert store.count_requests() == 0


def test_wal_mode_and_synchronous_normal(store: SqliteStore, db_url: str) -> None:
    assert query(db_url, "PRAGMA journal_mode") == [("wal",)]
    with store._connection() as conn:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    other = SqliteStore(db_url, busy_timeout_ms=1234)
    with other._connection() as conn:
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 1234
    other.close()


def test_memory_store_is_shared_across_threads() -> None:
    store = SqliteStore("sqlite:///:memory:")
    worker = threading.Thread(target=store.write_requests, args=([record(1), record(2)],))
    worker.start()
    worker.join()
    assert store.count_requests() == 2
    store.close()


def test_closed_store_refuses_use(db_url: str) -> None:
    store = SqliteStore(db_url)
    store.close()
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.count_requests()


def test_concurrent_writers_all_land(store: SqliteStore) -> None:
    def work(t: int) -> None:
        for b in range(20):
            store.write_requests([record(f"{t}-{b}-{i}") for i in range(25)])
            assert store.get_request(f"r{t}-{b}-0") is not None

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.count_requests() == 8 * 20 * 25


def test_short_lived_threads_reuse_pooled_connections(store: SqliteStore) -> None:
    # the gateway's worker threads come and go; one connection per thread grew without bound
    for _ in range(30):
        thread = threading.Thread(target=store.count_requests)
        thread.start()
        thread.join()
    assert len(store._connections) == 1


# -- keys and the spend ledger ---------------------------------------------------------------


def test_keys_add_list_revoke(store: SqliteStore) -> None:
    store.add_key(KeyRecord("a", "sha256:" + "1" * 64, {"requests_per_minute": 5}, 1.0))
    store.add_key(KeyRecord("b", "sha256:" + "2" * 64, {}, 2.0))
    with pytest.raises(ValueError, match="'a'"):
        store.add_key(KeyRecord("a", "sha256:" + "3" * 64, {}, 3.0))
    assert [k.name for k in store.list_keys()] == ["a", "b"]
    assert store.list_keys()[0].limits == {"requests_per_minute": 5}
    assert store.revoke_key("a") and not store.revoke_key("a") and not store.revoke_key("zz")
    assert [k.name for k in store.list_keys()] == ["b"]
    assert [k.revoked_at is not None for k in store.list_keys(include_revoked=True)] == [
        True,
        False,
    ]


def test_spend_ledger_sums_logged_costs_once(store: SqliteStore) -> None:
    ts = 1_796_000_000.0  # 2026-11-30 UTC
    day, month = spend_periods(ts)
    billed = [
        dataclasses.replace(record(str(i)), key_name="k", cost_usd=0.25, ts=ts) for i in range(4)
    ]
    store.write_requests(billed[:3])
    store.write_requests(billed)  # a replay: three are known, only the fourth is billed
    store.write_requests([dataclasses.replace(record("free"), key_name="k", ts=ts)])
    assert store.spend([day, month]) == {("k", day): 1.0, ("k", month): 1.0}
    assert store.spend(["d:1999-01-01"]) == {}


# -- migrations ----------------------------------------------------------------------------


def versions(url: str) -> list[tuple[int, float]]:
    return query(url, "SELECT version, applied_at FROM schema_migrations")


def test_fresh_database_is_at_latest_version(store: SqliteStore, db_url: str) -> None:
    assert [v for v, _ in versions(db_url)] == list(range(1, LATEST_VERSION + 1))
    assert LATEST_VERSION == len(MIGRATIONS) >= 2
    tables = names(db_url)
    assert {"requests", "feedback", "schema_migrations", "idx_requests_ts"} <= tables
    assert {"idx_requests_session_id", "idx_requests_key_name"} <= tables
    assert {"idx_feedback_request_id", "idx_feedback_session_id"} <= tables


def test_reopening_applies_nothing(store: SqliteStore, db_url: str) -> None:
    before = versions(db_url)
    store.write_requests([record(1)])
    SqliteStore(db_url).close()
    assert versions(db_url) == before
    assert store.count_requests() == 1


def test_version_1_database_is_upgraded(db_url: str) -> None:
    with raw(db_url) as conn:
        assert migrate(conn, db_url, MIGRATIONS[:1]) == 1
        conn.execute(
            "INSERT INTO requests (id, ts, requested_model, status) VALUES ('old', 1, 'm', 200)"
        )
    assert "requests" in names(db_url) and "feedback" not in names(db_url)
    assert [v for v, _ in versions(db_url)] == [1]
    store = SqliteStore(db_url)
    assert [v for v, _ in versions(db_url)] == list(range(1, LATEST_VERSION + 1))
    assert store.get_request("old") is not None
    assert store.add_feedback(FeedbackRecord(score=1.0, ts=2.0, request_id="old")) == 1
    store.close()


def test_newer_database_is_refused(db_url: str) -> None:
    SqliteStore(db_url).close()
    newer = LATEST_VERSION + 7
    query(db_url, "INSERT INTO schema_migrations VALUES (?, 0)", (newer,))
    with pytest.raises(ConfigError, match=r"store\.url") as info:
        SqliteStore(db_url)
    message = str(info.value)
    assert db_url in message and str(newer) in message and str(LATEST_VERSION) in message


def test_failed_upgrade_rolls_back_every_step(db_url: str) -> None:
    steps = (
        *MIGRATIONS,
        Migration(LATEST_VERSION + 1, "ok", ("CREATE TABLE extra (x INTEGER)",)),
        Migration(LATEST_VERSION + 2, "broken", ("CREATE TABLE extra2 (x INTEGER)", "BOGUS SQL")),
    )
    with raw(db_url) as conn, pytest.raises(sqlite3.OperationalError, match="BOGUS"):
        migrate(conn, db_url, steps)
    assert not names(db_url) & {"requests", "extra", "extra2", "schema_migrations"}


def test_migration_versions_must_be_in_order(db_url: str) -> None:
    shuffled = (MIGRATIONS[1], MIGRATIONS[0])
    with pytest.raises(ValueError, match="in order"), raw(db_url) as conn:
        migrate(conn, db_url, shuffled)


# -- feedback ------------------------------------------------------------------------------


def feedback_rows(url: str) -> list[tuple[object, ...]]:
    sql = "SELECT request_id, session_id, score, metric, comment, key_name, ts FROM feedback"
    return query(url, sql)


def test_feedback_by_request_id(store: SqliteStore, db_url: str) -> None:
    store.write_requests([record(1)])
    fb = FeedbackRecord(
        score=0.8, ts=5.0, request_id="r1", metric="judge", comment="ok", key_name="k"
    )
    assert store.add_feedback(fb) == 1
    assert feedback_rows(db_url) == [("r1", None, 0.8, "judge", "ok", "k", 5.0)]


def test_feedback_for_unknown_request_stores_nothing(store: SqliteStore, db_url: str) -> None:
    store.write_requests([record(1)])
    assert store.add_feedback(FeedbackRecord(score=0.8, ts=5.0, request_id="nope")) == 0
    assert feedback_rows(db_url) == []


def test_feedback_by_session(store: SqliteStore, db_url: str) -> None:
    store.write_requests([record(i, session_id="s1") for i in range(3)] + [record(9)])
    assert store.add_feedback(FeedbackRecord(score=0.2, ts=6.0, session_id="s1")) == 3
    assert store.add_feedback(FeedbackRecord(score=0.2, ts=6.0, session_id="empty")) == 0
    assert feedback_rows(db_url) == [(None, "s1", 0.2, None, None, None, 6.0)]


def test_feedback_needs_a_target(store: SqliteStore) -> None:
    with pytest.raises(RequestError):
        store.add_feedback(FeedbackRecord(score=0.5, ts=1.0))


# -- factory -------------------------------------------------------------------------------


def test_factory_opens_sqlite(db_url: str) -> None:
    store = open_store(db_url)
    assert isinstance(store, SqliteStore)
    store.write_requests([record(1)])
    assert store.count_requests() == 1
    store.close()


@pytest.mark.parametrize("url", ["postgresql://u:secret@db/llm", "postgresql+psycopg://h/d"])
def test_factory_postgres_not_available_yet(url: str) -> None:
    with pytest.raises(ConfigError, match="not available in this version") as info:
        open_store(url)
    assert info.value.path == "store.url" and "secret" not in str(info.value)


@pytest.mark.parametrize("url", ["mysql://u:secret@h/d", "llmtriage.db"])
def test_factory_unknown_scheme_lists_supported(url: str) -> None:
    with pytest.raises(ConfigError, match="sqlite://") as info:
        open_store(url)
    assert info.value.path == "store.url" and "secret" not in str(info.value)
