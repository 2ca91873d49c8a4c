"""Tests for BatchWriter: exactly-once delivery on close/flush, batching triggers, outage
retries without loss or duplicates, refused records, back-pressure, and a non-blocking submit."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from llmtriage.store.base import RequestRecord
from llmtriage.store.sqlite import SqliteStore
from llmtriage.store.writer import BatchWriter

LOGGER = "llmtriage.store.writer"


def record(i: int, **changes: object) -> RequestRecord:
    rec = RequestRecord(id=f"r{i}", ts=1.0, requested_model="triage/auto", status=200)
    for name, value in changes.items():
        setattr(rec, name, value)
    return rec


class SpyStore(SqliteStore):
    """Records which thread wrote which batch size; can be held shut by ``gate``."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.sizes: list[int] = []
        self.threads: set[int] = set()

    def write_requests(self, records: list[RequestRecord]) -> None:
        self.entered.set()
        self.gate.wait()
        self.sizes.append(len(records))
        self.threads.add(threading.get_ident())
        super().write_requests(records)


class FlakyStore(SqliteStore):
    """Test double for a database outage: the first ``fail`` writes raise OperationalError.

    With ``commit_first`` a failing write commits before raising (the ack got lost).
    """

    def __init__(self, url: str, fail: int, commit_first: bool = False) -> None:
        super().__init__(url)
        self.fail = fail
        self.commit_first = commit_first

    def write_requests(self, records: list[RequestRecord]) -> None:
        if self.fail > 0:
            self.fail -= 1
            if self.commit_first:
                super().write_requests(records)
            raise sqlite3.OperationalError("database is locked")
        super().write_requests(records)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'log.db'}"


@pytest.fixture
def cleanup() -> Iterator[list[Callable[[], object]]]:
    todo: list[Callable[[], object]] = []
    yield todo
    for fn in reversed(todo):
        fn()


def start(store: SqliteStore, cleanup: list[Callable[[], object]], **kw: float) -> BatchWriter:
    options: dict[str, float] = {"retry_initial": 0.01, "retry_max": 0.05, **kw}
    writer = BatchWriter(store, **options)  # type: ignore[arg-type]
    cleanup.append(store.close)
    cleanup.append(lambda: writer.close(5))
    return writer


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


def test_close_writes_exactly_what_was_submitted(url: str, cleanup: list) -> None:
    store = SqliteStore(url)
    writer = start(store, cleanup, max_batch=100)
    for i in range(1234):
        writer.submit(record(i))
    assert writer.close(10)
    assert store.count_requests() == 1234
    assert (writer.written, writer.pending, writer.failures, writer.rejected) == (1234, 0, 0, 0)


def test_flush_makes_records_visible_without_waiting_for_interval(url: str, cleanup: list) -> None:
    store = SqliteStore(url)
    writer = start(store, cleanup, flush_interval=60)
    for i in range(5):
        writer.submit(record(i))
    assert writer.flush(5)
    assert store.count_requests() == 5
    assert writer.flush(5)  # nothing new: returns at once


def test_full_batch_is_written_before_the_interval(url: str, cleanup: list) -> None:
    store = SqliteStore(url)
    writer = start(store, cleanup, max_batch=10, flush_interval=60)
    for i in range(10):
        writer.submit(record(i))
    assert eventually(lambda: store.count_requests() == 10)


def test_partial_batch_is_written_after_the_interval(url: str, cleanup: list) -> None:
    store = SqliteStore(url)
    writer = start(store, cleanup, max_batch=100, flush_interval=0.05)
    for i in range(3):
        writer.submit(record(i))
    assert eventually(lambda: store.count_requests() == 3)


def test_batches_never_exceed_max_batch(url: str, cleanup: list) -> None:
    store = SpyStore(url)
    writer = start(store, cleanup, max_batch=100)
    store.gate.clear()
    for i in range(1000):
        writer.submit(record(i))
    store.gate.set()
    assert writer.close(10)
    assert max(store.sizes) == 100 and sum(store.sizes) == 1000
    assert store.count_requests() == 1000


def test_outage_is_retried_until_everything_lands(
    url: str, cleanup: list, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    store = FlakyStore(url, fail=4)
    writer = start(store, cleanup, max_batch=20)
    for i in range(50):
        writer.submit(record(i))
    assert writer.flush(10)
    assert store.count_requests() == 50 and writer.written == 50
    assert writer.failures == 4
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "OperationalError" in errors[0].getMessage()
    assert any("recovered after 4" in r.getMessage() for r in caplog.records)


def test_replayed_batch_after_lost_ack_is_not_duplicated(url: str, cleanup: list) -> None:
    store = FlakyStore(url, fail=2, commit_first=True)
    writer = start(store, cleanup, max_batch=500)
    for i in range(30):
        writer.submit(record(i))
    assert writer.flush(10)
    assert store.count_requests() == 30
    assert writer.failures == 2 and writer.pending == 0


def test_flush_times_out_while_store_is_down_then_succeeds(url: str, cleanup: list) -> None:
    store = FlakyStore(url, fail=10**9)
    writer = start(store, cleanup)
    writer.submit(record(1))
    assert not writer.flush(0.3)
    assert writer.pending == 1 and writer.failures >= 1
    store.fail = 0  # the database is back
    assert writer.flush(5)
    assert store.count_requests() == 1 and writer.pending == 0


def test_close_with_store_down_keeps_count_of_unwritten(
    url: str, cleanup: list, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger=LOGGER)
    store = FlakyStore(url, fail=10**9)
    writer = start(store, cleanup)
    for i in range(7):
        writer.submit(record(i))
    assert not writer.close(0.5)
    assert writer.pending == 7 and store.count_requests() == 0
    assert any("7 records not written" in r.getMessage() for r in caplog.records)


def test_refused_record_does_not_block_the_others(
    url: str, cleanup: list, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger=LOGGER)
    store = SqliteStore(url)
    writer = start(store, cleanup)
    writer.submit(record(1))
    writer.submit(record(2, estimates=[{"quality": object()}]))
    writer.submit(record(3))
    assert writer.flush(5)
    assert store.count_requests() == 2 and store.get_request("r2") is None
    assert (writer.written, writer.rejected, writer.failures, writer.pending) == (2, 1, 0, 0)
    assert any("r2" in r.getMessage() for r in caplog.records)


def test_submit_does_no_io_on_the_caller_thread(url: str, cleanup: list) -> None:
    store = SpyStore(url)
    writer = start(store, cleanup, max_batch=100)
    store.gate.clear()  # the store is stuck inside write_requests
    writer.submit(record(-1))
    assert store.entered.wait(5)
    began = time.monotonic()
    for i in range(10_000):
        writer.submit(record(i))
    elapsed = time.monotonic() - began
    assert writer.pending == 10_001
    store.gate.set()
    assert writer.close(20)
    assert elapsed < 1.0
    assert store.count_requests() == 10_001
    assert threading.get_ident() not in store.threads and len(store.threads) == 1


def test_backlog_over_max_queue_warns_once_and_keeps_everything(
    url: str, cleanup: list, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    store = SpyStore(url)
    writer = start(store, cleanup, max_batch=5, max_queue=10)
    store.gate.clear()
    for i in range(50):
        writer.submit(record(i))
    store.gate.set()
    assert writer.close(10)
    assert store.count_requests() == 50
    warnings = [r for r in caplog.records if "waiting for the store" in r.getMessage()]
    assert len(warnings) == 1


def test_close_is_idempotent_and_submit_after_close_raises(url: str, cleanup: list) -> None:
    store = SqliteStore(url)
    writer = start(store, cleanup)
    writer.submit(record(1))
    assert writer.close(5)
    assert writer.close(5)
    assert not writer._thread.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(record(2))
    assert store.count_requests() == 1


@pytest.mark.parametrize(
    "options",
    [{"max_batch": 0}, {"max_queue": 0}, {"flush_interval": 0}, {"retry_initial": 0}],
)
def test_invalid_options_are_refused(url: str, cleanup: list, options: dict[str, float]) -> None:
    store = SqliteStore(url)
    cleanup.append(store.close)
    with pytest.raises(ValueError):
        BatchWriter(store, **options)  # type: ignore[arg-type]
