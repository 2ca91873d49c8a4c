"""Open the store a URL names: the scheme picks the implementation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from llmtriage.exceptions import ConfigError
from llmtriage.store.base import Store
from llmtriage.store.sqlite import SqliteStore

STORES: dict[str, Callable[[str], Store]] = {"sqlite": SqliteStore}

# schemes we know but do not ship yet: a clearer error than "unknown scheme"
_PLANNED = frozenset({"postgresql", "postgres"})


def spool_path(url: str, configured: str | None) -> Path:
    """Where records wait while the store is down: ``store.spool_path``, else next to a SQLite
    file, else ``./llmtriage-spool.jsonl``."""
    if configured:
        return Path(configured)
    scheme, _, rest = url.partition(":///")
    if scheme.lower() == "sqlite" and rest and not rest.startswith(":memory:"):
        return Path(rest.split("?", 1)[0] + ".spool.jsonl")
    return Path("llmtriage-spool.jsonl")


def open_store(url: str) -> Store:
    """The store for ``url`` (``sqlite:///path.db``, ``sqlite:///:memory:``).

    Raises ConfigError (key path ``store.url``) for a scheme that is not supported.
    """
    return STORES[check_url(url)](url)


def check_url(url: str) -> str:
    """The scheme of ``url`` if a store implements it; ConfigError (``store.url``) otherwise.
    Cheap: the gateway calls it before it starts, so a bad URL is a one-line error."""
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower() if sep else ""
    if scheme in STORES:
        return scheme
    # "postgresql+psycopg://" style driver suffixes name the same database
    if scheme.split("+", 1)[0] in _PLANNED:
        raise ConfigError(
            "store.url",
            "PostgreSQL stores are not available in this version; use sqlite:///path.db",
        )
    # name the scheme only: the rest of a URL may hold a password
    supported = ", ".join(f"{name}://" for name in sorted(STORES))
    got = f"scheme {scheme!r}" if scheme else "a value that is not a URL"
    raise ConfigError("store.url", f"unsupported store URL ({got}); supported: {supported}")
