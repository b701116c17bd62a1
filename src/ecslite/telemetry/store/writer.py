"""One writer thread per signal: batches arrive from the pipeline, commits go to the active segment.

Commits happen every ``commit_interval`` seconds (250 ms) or as soon as ``commit_rows`` (5,000)
records wait, whichever comes first (§8.2), so a record is readable well within 2 s of being
accepted while a busy writer still commits large transactions.

Invariants:

- ``pending`` counts records submitted and not yet committed; the pipeline reads it to push back
  before memory grows (§1.4). :meth:`SignalWriter.wait_for_room` blocks the ingest thread (never
  the event loop) while the backlog is over its limit.
- A batch the database refuses (a bug or a full disk) is logged and counted in ``failed`` with
  its record count, never retried forever and never silently dropped.
- :meth:`flush` returns once everything submitted before it was committed (tests, shutdown).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from ecslite.telemetry.store.segments import Segment, SegmentSet

log = logging.getLogger(__name__)

WriteFunction = Callable[[sqlite3.Connection, Segment, Sequence[Any]], tuple[int | None, int | None]]
"""Writes batches inside an open transaction; returns the (min, max) data time written."""


class SignalWriter:
    def __init__(
        self,
        segments: SegmentSet,
        write: WriteFunction,
        *,
        commit_interval: float = 0.25,
        commit_rows: int = 5000,
        max_pending: int = 100_000,
        name: str = "",
    ) -> None:
        self.segments = segments
        self.write = write
        self.commit_interval = commit_interval
        self.commit_rows = commit_rows
        self.max_pending = max_pending
        self._queue: deque[tuple[Any, int]] = deque()
        self._cond = threading.Condition()
        self._oldest: float | None = None
        self._queued_rows = 0
        self.pending = 0
        self.committed = 0
        self.failed = 0
        self._submitted_seq = 0
        self._committed_seq = 0
        self._flush_requested = False
        self._closing = False
        self._maintenance: list[Callable[[], None]] = []
        self._thread = threading.Thread(
            target=self._run, name=f"telemetry-writer-{name or segments.signal}", daemon=True
        )
        self._thread.start()

    # -- producer side -------------------------------------------------------------------------

    def submit(self, batch: Any, rows: int) -> None:
        with self._cond:
            if self._closing:
                raise RuntimeError("telemetry writer is closed")
            self._queue.append((batch, rows))
            self._queued_rows += rows
            self.pending += rows
            self._submitted_seq += 1
            if self._oldest is None:
                # The first record starts the commit interval: wake the writer so it times it.
                self._oldest = time.monotonic()
                self._cond.notify_all()
            elif self._queued_rows >= self.commit_rows:
                self._cond.notify_all()

    def has_room(self) -> bool:
        return self.pending < self.max_pending

    def wait_for_room(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.pending >= self.max_pending and not self._closing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def flush(self, timeout: float = 10.0) -> bool:
        """Commit everything submitted so far; False if that did not happen within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._submitted_seq
            self._flush_requested = True
            self._cond.notify_all()
            while self._committed_seq < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(remaining)
            return True

    def run_on_writer(self, work: Callable[[], None]) -> None:
        """Run ``work`` on the writer thread between commits (segment removal, rotation)."""
        with self._cond:
            self._maintenance.append(work)
            self._cond.notify_all()

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)

    # -- the thread ------------------------------------------------------------------------------

    def _take(self) -> tuple[list[tuple[Any, int]], int, list[Callable[[], None]]] | None:
        with self._cond:
            while True:
                maintenance, self._maintenance = self._maintenance, []
                if self._queue:
                    waited = time.monotonic() - (self._oldest or 0.0)
                    due = (
                        self._queued_rows >= self.commit_rows
                        or waited >= self.commit_interval
                        or self._flush_requested
                        or self._closing
                    )
                    if due:
                        taken = list(self._queue)
                        self._queue.clear()
                        self._queued_rows = 0
                        self._oldest = None
                        self._flush_requested = False
                        return taken, self._submitted_seq, maintenance
                    if maintenance:
                        return [], self._committed_seq, maintenance
                    self._cond.wait(self.commit_interval - waited)
                    continue
                self._flush_requested = False
                if maintenance:
                    return [], self._committed_seq, maintenance
                if self._closing:
                    return None
                self._cond.wait(1.0)

    def _run(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            items, seq, maintenance = taken
            for work in maintenance:
                try:
                    work()
                except Exception:
                    log.exception("telemetry store maintenance failed", extra={"signal": self.segments.signal})
            rows = sum(n for _, n in items)
            if items:
                self._commit([b for b, _ in items], rows)
            with self._cond:
                self.pending -= rows
                self._committed_seq = max(self._committed_seq, seq)
                self._cond.notify_all()

    def _commit(self, batches: list[Any], rows: int) -> None:
        try:
            segment = self.segments.active()
            with segment.lock:
                conn = segment.conn
                conn.execute("BEGIN")
                try:
                    low, high = self.write(conn, segment, batches)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    segment.cache.clear()  # ids cached during the failed transaction do not exist
                    raise
            segment.note_times(low, high)
            segment.last_write = self.segments.now()
            self.committed += rows
        except Exception:
            self.failed += rows
            log.exception("telemetry batch could not be stored", extra={"signal": self.segments.signal, "rows": rows})
