"""The default store: SQLite through the standard library, WAL mode, versioned migrations.

Threading: the store is shared by the batch writer's thread and the gateway's worker threads.
A file database lends each use a connection from a small pool (a connection serves one thread
at a time): SQLite's own file locking plus WAL lets readers run while the writer writes, and
``busy_timeout`` makes concurrent writers wait instead of failing. The pool holds as many
connections as were ever in use at once, whatever threads come and go (a connection per
thread leaked one per short-lived worker thread: the soak saw RSS climb ~200 bytes a
request). Every write is one ``BEGIN IMMEDIATE`` transaction, so a read transaction never has
to upgrade to a write lock (the case busy_timeout cannot resolve). ``sqlite:///:memory:`` is
private to one connection, so there the store keeps a single connection and serialises all
use with a lock. ``close()`` closes every connection; call it once nothing uses the store.

The record <-> row mapping lives in ``request_row`` / ``request_dict`` (the one place the
column list comes from: the ``RequestRecord`` dataclass fields).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

import orjson

from llmtriage.exceptions import ConfigError, RequestError
from llmtriage.store.base import FeedbackRecord, KeyRecord, RequestRecord, Store, spend_periods
from llmtriage.store.migrations import migrate

URL_PREFIX = "sqlite:///"
MEMORY = ":memory:"

REQUEST_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(RequestRecord))
JSON_COLUMNS = frozenset({"estimates", "attempts"})
BOOL_COLUMNS = frozenset({"stream", "usage_estimated"})

# One statement per batch: the rows travel as one JSON array and SQLite unpacks it. Binding
# them row by row (executemany) re-takes the GIL for every row, and on a busy gateway each
# re-take waits for the event loop's switch interval: the writer fell behind at ~900 rows/s.
# ON CONFLICT (id) DO NOTHING skips ids already stored (a replayed batch) like INSERT OR
# IGNORE, but only for the primary key: OR IGNORE would also silently drop a row that violates
# NOT NULL. PostgreSQL has the same clause (and json_populate_recordset for the unpacking).
_UNPACK = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(REQUEST_COLUMNS)))
_INSERT_REQUESTS = (
    f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) SELECT {_UNPACK} "
    "FROM json_each(?) WHERE true ON CONFLICT (id) DO NOTHING"
)
_SELECT_REQUEST = f"SELECT {', '.join(REQUEST_COLUMNS)} FROM requests WHERE id = ?"
_INSERT_FEEDBACK = (
    "INSERT INTO feedback (request_id, session_id, score, metric, comment, key_name, ts) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


_ADD_SPEND = (
    "INSERT INTO spend (key_name, period, usd, requests) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (key_name, period) DO UPDATE SET "
    "usd = usd + excluded.usd, requests = requests + excluded.requests"
)


def _json_default(value: object) -> Any:
    # numpy scalars and arrays (router estimates) become plain numbers and lists
    to_list = getattr(value, "tolist", None)
    if callable(to_list):
        return to_list()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _encode(name: str, value: Any) -> Any:
    if name in JSON_COLUMNS:
        if value is None:
            return None
        # orjson writes numpy arrays and scalars natively; the default catches the rest
        opts = orjson.OPT_SERIALIZE_NUMPY
        return orjson.dumps(value, default=_json_default, option=opts).decode()
    if name in BOOL_COLUMNS:
        return int(bool(value))
    return value


def request_row(record: RequestRecord) -> tuple[Any, ...]:
    """The row for one record, in ``REQUEST_COLUMNS`` order (JSON columns as text)."""
    return tuple(_encode(name, getattr(record, name)) for name in REQUEST_COLUMNS)


def request_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    """A row read back as a dict keyed by field name, JSON decoded and booleans restored."""
    out = dict(zip(REQUEST_COLUMNS, row, strict=True))
    for name in JSON_COLUMNS:
        if out[name] is not None:
            out[name] = orjson.loads(out[name])
    for name in BOOL_COLUMNS:
        out[name] = bool(out[name])
    return out


def sqlite_path(url: str) -> str:
    """The file path (or ``:memory:``) named by a ``sqlite:///`` URL."""
    path = url[len(URL_PREFIX) :] if url.startswith(URL_PREFIX) else ""
    if not path:
        raise ConfigError(
            "store.url",
            f"expected sqlite:///relative/path.db, sqlite:////absolute/path.db or "
            f"sqlite:///:memory:, got {url!r}",
        )
    return path


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SqliteStore(Store):
    """Request log and feedback in one SQLite database; see the module docstring on threads."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 5000) -> None:
        self.url = url
        self._path = sqlite_path(url)
        self._busy_timeout_ms = busy_timeout_ms
        self._lock = threading.Lock()  # guards the pool; in memory mode, all use
        self._connections: list[sqlite3.Connection] = []  # every open connection
        self._idle: list[sqlite3.Connection] = []  # those not lent out
        self._closed = False
        self._shared: sqlite3.Connection | None = None
        try:
            if self._path == MEMORY:
                self._shared = self._connect()
            else:
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            with self._connection() as conn:
                migrate(conn, url)
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise ConfigError("store.url", f"cannot open the database at {url}: {exc}") from exc
        except BaseException:
            self.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        # autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT);
        # check_same_thread off so close() may close every thread's connection
        # the timeout is SQLite's busy_timeout: wait this long for another writer's lock
        conn = sqlite3.connect(
            self._path,
            timeout=self._busy_timeout_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error:
            conn.close()
            raise
        with self._lock:
            self._connections.append(conn)
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        if self._closed:
            raise RuntimeError(f"store {self.url} is closed")
        if self._shared is not None:
            with self._lock:
                yield self._shared
            return
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
        try:
            yield conn
        finally:
            if conn.in_transaction:  # never lend out a connection inside a transaction
                conn.rollback()
            with self._lock:
                if not self._closed:
                    self._idle.append(conn)

    def write_requests(self, records: list[RequestRecord]) -> None:
        """Insert all records in one transaction; ids already stored are skipped.

        A record that cannot be stored (not JSON-serialisable, a missing required value, a
        value of the wrong type) raises ``ValueError`` and nothing of the batch is written;
        any other exception means the database itself failed.
        """
        if not records:
            return
        rows = [self._encode_record(record) for record in records]
        try:
            payload = orjson.dumps(rows)
        except orjson.JSONEncodeError as exc:  # e.g. a lone surrogate in a string
            raise ValueError(f"a request record cannot be stored: {exc}") from exc
        billed = [r for r in records if r.key_name is not None and r.cost_usd]
        with self._connection() as conn, _transaction(conn):
            if billed:  # a replayed record must not be billed twice: skip ids already held
                marks = ", ".join("?" for _ in billed)
                held = conn.execute(
                    f"SELECT id FROM requests WHERE id IN ({marks})", [r.id for r in billed]
                )
                known = {row[0] for row in held}
                billed = [r for r in billed if r.id not in known]
            try:
                conn.execute(_INSERT_REQUESTS, (payload,))
            except (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.ProgrammingError) as e:
                raise ValueError(f"a request record cannot be stored: {e}") from e
            conn.executemany(_ADD_SPEND, _spend_rows(billed))

    @staticmethod
    def _encode_record(record: RequestRecord) -> tuple[Any, ...]:
        try:
            return request_row(record)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"request {record.id!r} cannot be stored: {exc}") from exc

    def add_feedback(self, feedback: FeedbackRecord) -> int:
        """Store feedback for a request (returns 1) or a session (returns its request count).

        Nothing is stored when the request id is unknown or the session has no requests (0).
        """
        if feedback.request_id is not None:
            query, key = "SELECT COUNT(*) FROM requests WHERE id = ?", feedback.request_id
        elif feedback.session_id is not None:
            query, key = "SELECT COUNT(*) FROM requests WHERE session_id = ?", feedback.session_id
        else:
            raise RequestError("feedback needs a request_id or a session_id", field="request_id")
        with self._connection() as conn, _transaction(conn):
            joined = int(conn.execute(query, (key,)).fetchone()[0])
            if joined:
                conn.execute(_INSERT_FEEDBACK, _feedback_row(feedback))
        return joined

    def get_request(self, request_id: str) -> dict[str, Any] | None:
        """One logged request as a dict keyed by ``RequestRecord`` field names, or None."""
        with self._connection() as conn:
            row = conn.execute(_SELECT_REQUEST, (request_id,)).fetchone()
        return None if row is None else request_dict(row)

    def count_requests(self) -> int:
        """Number of logged requests."""
        with self._connection() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0])

    def add_key(self, key: KeyRecord) -> None:
        """Store a new key; ValueError if its name or hash is already stored."""
        row = (key.name, key.hash, orjson.dumps(key.limits).decode(), key.created_at)
        with self._connection() as conn, _transaction(conn):
            try:
                conn.execute(
                    "INSERT INTO api_keys (name, hash, limits, created_at) VALUES (?, ?, ?, ?)",
                    row,
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"a key named {key.name!r} (or with that hash) exists") from None

    def list_keys(self, include_revoked: bool = False) -> list[KeyRecord]:
        """Keys in the store, oldest first (hashes only: secrets are never stored)."""
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT name, hash, limits, created_at, revoked_at FROM api_keys"
                f"{where} ORDER BY created_at, name"
            ).fetchall()
        return [KeyRecord(n, h, orjson.loads(lim), c, r) for n, h, lim, c, r in rows]

    def revoke_key(self, name: str) -> bool:
        """Mark an active key revoked; False if there is none by that name."""
        with self._connection() as conn, _transaction(conn):
            cur = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                (time.time(), name),
            )
        return cur.rowcount > 0

    def spend(self, periods: list[str]) -> dict[tuple[str, str], float]:
        """USD per (key_name, period) from the ledger, for the given periods."""
        if not periods:
            return {}
        marks = ", ".join("?" for _ in periods)
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT key_name, period, usd FROM spend WHERE period IN ({marks})", periods
            ).fetchall()
        return {(k, p): float(usd) for k, p, usd in rows}

    def close(self) -> None:
        """Close every connection (of all threads); idempotent."""
        with self._lock:
            self._closed = True
            connections, self._connections, self._idle = self._connections, [], []
        for conn in connections:
            conn.close()


def _spend_rows(records: list[RequestRecord]) -> list[tuple[Any, ...]]:
    totals: dict[tuple[str, str], list[float]] = {}
    for r in records:
        for period in spend_periods(r.ts):
            t = totals.setdefault((str(r.key_name), period), [0.0, 0])
            t[0] += r.cost_usd
            t[1] += 1
    return [(k, p, usd, n) for (k, p), (usd, n) in totals.items()]


def _feedback_row(feedback: FeedbackRecord) -> tuple[Any, ...]:
    return (
        feedback.request_id,
        feedback.session_id,
        feedback.score,
        feedback.metric,
        feedback.comment,
        feedback.key_name,
        feedback.ts,
    )
