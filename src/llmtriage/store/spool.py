"""A local file that holds request-log records while the store is unavailable.

Records are appended as JSON lines and fsync'd, so they survive the process (SIGTERM during an
outage, a crash, a restart). ``replay`` writes them to the store in batches and removes the
file only when every line is in; a replay cut short is simply replayed again, which is safe
because stores skip ids they already hold. A line that cannot be parsed (a torn last write
when the machine died mid-append) is logged and skipped.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import orjson

from llmtriage.store.base import RequestRecord, Store

logger = logging.getLogger(__name__)

_FIELDS = frozenset(f.name for f in dataclasses.fields(RequestRecord))


class Spool:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __bool__(self) -> bool:
        """True when records wait in the file."""
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def append(self, records: list[RequestRecord]) -> None:
        """Add records durably (raises OSError if the file cannot be written)."""
        lines = b"".join(
            orjson.dumps(dataclasses.asdict(r), option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
            for r in records
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())

    def replay(self, store: Store, batch: int = 500) -> int:
        """Write every spooled record to ``store``; returns how many. Store errors propagate
        (the file is kept for the next try)."""
        if not self:
            return 0
        records = self._read()
        for i in range(0, len(records), batch):
            try:
                store.write_requests(records[i : i + batch])
            except (ValueError, TypeError):  # a record the store refuses: skip it alone
                for record in records[i : i + batch]:
                    try:
                        store.write_requests([record])
                    except (ValueError, TypeError) as exc:
                        logger.error("request log: store refused spooled %s: %s", record.id, exc)
        self.path.unlink()
        logger.warning("request log: replayed %d spooled records into the store", len(records))
        return len(records)

    def _read(self) -> list[RequestRecord]:
        records = []
        for n, line in enumerate(self.path.read_bytes().splitlines(), 1):
            try:
                data = orjson.loads(line)
                records.append(RequestRecord(**{k: v for k, v in data.items() if k in _FIELDS}))
            except (orjson.JSONDecodeError, TypeError, AttributeError) as exc:
                logger.error("request log: spool %s line %d unreadable (%s)", self.path, n, exc)
        return records
