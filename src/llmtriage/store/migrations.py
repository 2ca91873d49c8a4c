"""Versioned schema migrations for the SQLite store.

The schema is an ordered list of steps; ``schema_migrations`` records which versions a database
has (version + applied_at). Opening a database applies the missing steps, all in one transaction,
so a failed upgrade leaves the database as it was. A database with a *newer* version than this
code knows is refused (``ConfigError``): an old replica must not write to a schema it does not
understand. Steps are append-only: never edit a released step, add a new one.

The SQL is deliberately plain (TEXT/REAL/INTEGER, JSON as text) so the PostgreSQL store can
mirror the same steps with only the id column and placeholders changed.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from llmtriage.exceptions import ConfigError


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: ``statements`` run in order, then ``version`` is recorded."""

    version: int
    description: str
    statements: tuple[str, ...]


_REQUESTS = """
CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    ts REAL NOT NULL,
    requested_model TEXT NOT NULL,
    status INTEGER NOT NULL,
    key_name TEXT,
    session_id TEXT,
    router TEXT,
    tier TEXT,
    model TEXT,
    estimates TEXT,
    attempts TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    stream INTEGER NOT NULL DEFAULT 0,
    latency_ms REAL,
    ttft_ms REAL,
    overhead_ms REAL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    usage_estimated INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    counterfactual_cost_usd REAL NOT NULL DEFAULT 0,
    prompt_hash TEXT,
    prompt TEXT
)"""

_FEEDBACK = """
CREATE TABLE feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT,
    session_id TEXT,
    score REAL NOT NULL,
    metric TEXT,
    comment TEXT,
    key_name TEXT,
    ts REAL NOT NULL
)"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "request log",
        (
            _REQUESTS,
            "CREATE INDEX idx_requests_ts ON requests (ts)",
            "CREATE INDEX idx_requests_session_id ON requests (session_id)",
            "CREATE INDEX idx_requests_key_name ON requests (key_name)",
        ),
    ),
    Migration(
        2,
        "feedback",
        (
            _FEEDBACK,
            "CREATE INDEX idx_feedback_request_id ON feedback (request_id)",
            "CREATE INDEX idx_feedback_session_id ON feedback (session_id)",
        ),
    ),
)

_KEYS = """
CREATE TABLE api_keys (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    limits TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    revoked_at REAL
)"""

# What each key spent per UTC day ('d:2026-12-04') and month ('m:2026-12'), kept in the same
# transaction as the request rows it sums, so the ledger always equals the logged costs.
_SPEND = """
CREATE TABLE spend (
    key_name TEXT NOT NULL,
    period TEXT NOT NULL,
    usd REAL NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_name, period)
)"""

MIGRATIONS += (Migration(3, "client keys and spend ledger", (_KEYS, _SPEND)),)

LATEST_VERSION = MIGRATIONS[-1].version

_VERSIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    applied_at REAL NOT NULL
)"""


def check_order(migrations: tuple[Migration, ...]) -> None:
    """Raise ValueError unless versions are 1, 2, 3, ... in order (a programming error)."""
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migration versions must be 1..n in order, got {versions}")


def schema_version(conn: sqlite3.Connection) -> int:
    """The highest applied version (0 for an empty database)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(
    conn: sqlite3.Connection, url: str, migrations: tuple[Migration, ...] = MIGRATIONS
) -> int:
    """Bring the database up to the last of ``migrations``; returns the version reached.

    ``conn`` must be in autocommit mode (``isolation_level=None``): the whole upgrade runs in
    one explicit ``BEGIN IMMEDIATE`` transaction, so concurrent openers serialise here and a
    failing step rolls every step of this upgrade back.
    """
    check_order(migrations)
    known = migrations[-1].version if migrations else 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_VERSIONS_TABLE)
        current = schema_version(conn)
        if current > known:
            raise ConfigError(
                "store.url",
                f"the database at {url} has schema version {current}, newer than version "
                f"{known} known to this llmtriage; upgrade llmtriage to use it",
            )
        for step in migrations[current:]:
            for statement in step.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                (step.version, time.time()),
            )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return max(current, known)
