"""Batched request-log writes off the request path.

``BatchWriter.submit`` only appends to an in-memory queue (a short lock, no I/O, no logging),
so a slow or unavailable database never slows a request down. One daemon thread drains the
queue in batches of up to ``max_batch`` records, every ``flush_interval`` seconds or as soon as a
batch is full (or someone waits in ``flush``).

Failure handling:

* The store raises ``ValueError``/``TypeError`` for a record it can never accept (see
  ``Store.write_requests``). The writer then writes the batch record by record, logs and counts
  each refused record (``rejected``) and writes all the others, so one bad record cannot block
  the log.
* Any other exception means the store is unavailable; the error is logged once per outage.
  With a ``Spool`` (the gateway always gives one) the batch goes to the local spool file, and
  the writer retries with exponential backoff to replay the file into the store; without one
  the batch is put back at the head of the queue and retried. Replaying a batch that was in
  fact committed is harmless because stores skip known ids. A spool left by an earlier process
  is replayed at start.
* Closing drains the queue: everything submitted is written or, with the store down, spooled.
  What a SIGKILL can lose is what sat in memory: at most ``flush_interval`` seconds of records
  (or ``max_batch`` of them), plus any batch being written at that moment.
* Back-pressure: when more than ``max_queue`` records are waiting, nothing is dropped and
  ``submit`` keeps accepting; the writer logs one warning per overload episode (re-armed once the
  backlog falls to half the limit). Memory grows until the store catches up: losing the log
  silently would be worse, and the ``pending`` counter exposes the backlog to metrics.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from llmtriage.store.base import RequestRecord, Store
from llmtriage.store.spool import Spool

logger = logging.getLogger(__name__)

_DATA_ERRORS = (ValueError, TypeError)


class BatchWriter:
    """Owns a daemon thread that writes submitted records to ``store`` in batches."""

    def __init__(
        self,
        store: Store,
        *,
        max_batch: int = 500,
        flush_interval: float = 0.2,
        max_queue: int = 100_000,
        retry_initial: float = 0.1,
        retry_max: float = 5.0,
        spool: Spool | None = None,
    ) -> None:
        if max_batch < 1 or max_queue < 1:
            raise ValueError("max_batch and max_queue must be at least 1")
        if flush_interval <= 0 or retry_initial <= 0 or retry_max < retry_initial:
            raise ValueError("flush_interval and retry delays must be positive, initial <= max")
        self._store = store
        self._spool = spool
        self._max_batch = max_batch
        self._flush_interval = flush_interval
        self._max_queue = max_queue
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._cond = threading.Condition()
        self._queue: deque[RequestRecord] = deque()
        self._submitted = 0  # records accepted so far
        self._done = 0  # records written or rejected; they finish in submission order
        self._written = 0
        self._rejected = 0
        self._spooled = 0
        self._failures = 0
        self._flush_waiters = 0
        self._closing = False
        self._stopped = False
        self._close_started = False
        self._outage_failures = 0  # writer thread only
        self._overloaded = False  # writer thread only
        self._thread = threading.Thread(target=self._run, name="llmtriage-store-writer")
        self._thread.daemon = True
        self._thread.start()

    # -- caller side -------------------------------------------------------------------------

    def submit(self, record: RequestRecord) -> None:
        """Queue one record; O(1), never waits for the database. Raises after ``close()``."""
        with self._cond:
            if self._closing:
                raise RuntimeError("BatchWriter is closed")
            self._queue.append(record)
            self._submitted += 1
            size = len(self._queue)
            if size == 1 or size >= self._max_batch:
                self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record submitted before this call is written (or rejected).

        Returns False if ``timeout`` seconds passed first (e.g. the store is down).
        """
        with self._cond:
            target = self._submitted
            self._flush_waiters += 1
            self._cond.notify_all()
            try:
                # a stopped writer finishes nothing more: stop waiting and report
                self._cond.wait_for(lambda: self._done >= target or self._stopped, timeout)
                return self._done >= target
            finally:
                self._flush_waiters -= 1

    def close(self, timeout: float = 10.0) -> bool:
        """Flush, then stop the thread; idempotent. False if records remain unwritten."""
        with self._cond:
            first = not self._close_started
            self._close_started = True
        if not first:
            return self.pending == 0
        deadline = time.monotonic() + timeout
        self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        left = self.pending
        if left:
            logger.error("request log: closed with %d records not written to the store", left)
        return left == 0

    @property
    def written(self) -> int:
        """Records written to the store (including replays the store skipped as known)."""
        with self._cond:
            return self._written

    @property
    def pending(self) -> int:
        """Records submitted and not yet written or rejected."""
        with self._cond:
            return self._submitted - self._done

    @property
    def failures(self) -> int:
        """Failed write attempts (each outage retry counts once)."""
        with self._cond:
            return self._failures

    @property
    def spooled(self) -> int:
        """Records sent to the spool file because the store was unavailable."""
        with self._cond:
            return self._spooled

    @property
    def rejected(self) -> int:
        """Records the store refused as invalid (logged with their id, not retried)."""
        with self._cond:
            return self._rejected

    # -- writer thread -----------------------------------------------------------------------

    def _run(self) -> None:
        delay = self._retry_initial
        try:
            self._replay()  # what an earlier process spooled
            while (batch := self._next_batch(delay if self._spool else None)) is not None:
                rest = self._write(batch) if batch else []
                if not rest and self._replay():
                    delay = self._retry_initial
                    continue
                if rest and self._park(rest):
                    return
                if not self._wait_before_retry(delay):
                    delay = min(delay * 2, self._retry_max)
        finally:
            with self._cond:
                self._stopped = True
                self._cond.notify_all()

    def _ready(self) -> bool:
        return len(self._queue) >= self._max_batch or self._flush_waiters > 0 or self._closing

    def _next_batch(self, probe: float | None) -> list[RequestRecord] | None:
        """Wait for work; None once closing with nothing left; [] after ``probe`` seconds
        without any (time to retry the spool)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._queue or self._closing, probe):
                return []
            deadline = time.monotonic() + self._flush_interval
            while not self._ready() and (remaining := deadline - time.monotonic()) > 0:
                self._cond.wait(remaining)
            if not self._queue:
                return None
            n = min(self._max_batch, len(self._queue))
            batch = [self._queue.popleft() for _ in range(n)]
            backlog = len(self._queue) + n
        self._watch_backlog(backlog)
        return batch

    def _watch_backlog(self, backlog: int) -> None:
        if backlog > self._max_queue and not self._overloaded:
            self._overloaded = True
            logger.warning(
                "request log: %d records waiting for the store (limit %d); still accepting "
                "them, memory grows until the store catches up",
                backlog,
                self._max_queue,
            )
        elif backlog <= self._max_queue // 2:
            self._overloaded = False

    def _write(self, batch: list[RequestRecord]) -> list[RequestRecord]:
        """Write a batch; returns the records still to be written (empty on success)."""
        try:
            self._store.write_requests(batch)
        except _DATA_ERRORS:
            return self._write_each(batch)
        except Exception as exc:  # the store is unavailable: keep the batch, retry later
            self._note_failure(exc, len(batch))
            return batch
        self._finish(written=len(batch))
        return []

    def _write_each(self, batch: list[RequestRecord]) -> list[RequestRecord]:
        """Isolate the records the store refuses; write the others one by one."""
        for i, record in enumerate(batch):
            try:
                self._store.write_requests([record])
            except _DATA_ERRORS as exc:
                logger.error("request log: store refused request %s: %s", record.id, exc)
                self._finish(rejected=1)
                continue
            except Exception as exc:
                self._note_failure(exc, len(batch) - i)
                return batch[i:]
            self._finish(written=1)
        return []

    def _finish(self, written: int = 0, rejected: int = 0) -> None:
        if self._outage_failures:
            logger.warning(
                "request log: store writes recovered after %d failed attempts",
                self._outage_failures,
            )
            self._outage_failures = 0
        with self._cond:
            self._written += written
            self._rejected += rejected
            self._done += written + rejected
            self._cond.notify_all()

    def _note_failure(self, exc: Exception, count: int) -> None:
        with self._cond:
            self._failures += 1
        self._outage_failures += 1
        if self._outage_failures == 1:
            # the exception text only (never records or connection strings), once per outage
            logger.error(
                "request log: writing %d records to the store failed (%s: %s); keeping them "
                "and retrying with backoff",
                count,
                type(exc).__name__,
                str(exc)[:200],
            )

    def _park(self, rest: list[RequestRecord]) -> bool:
        """Keep records the store did not take: to the spool (all the queue when closing),
        else back to the queue. True when the writer should stop (closing, no spool)."""
        if self._spool is None:
            with self._cond:
                self._queue.extendleft(reversed(rest))
                return self._closing
        with self._cond:
            if self._closing:  # do not wait out one store timeout per batch
                rest += self._queue
                self._queue.clear()
        try:
            self._spool.append(rest)
        except OSError as exc:  # disk trouble too: keep them in memory
            logger.error("request log: cannot write the spool %s: %s", self._spool.path, exc)
            with self._cond:
                self._queue.extendleft(reversed(rest))
                return self._closing
        with self._cond:
            self._spooled += len(rest)
            self._done += len(rest)
            self._cond.notify_all()
        return False

    def _replay(self) -> bool:
        """Replay the spool into the store; True when nothing is left in it."""
        if not self._spool:
            return True
        try:
            n = self._spool.replay(self._store, self._max_batch)
        except Exception as exc:  # still unavailable: keep the file, retry later
            self._note_failure(exc, 0)
            return False
        with self._cond:
            self._written += n
        return True

    def _wait_before_retry(self, delay: float) -> bool:
        """Sleep ``delay`` seconds; True if the writer is closing (stop retrying)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._closing, delay)
