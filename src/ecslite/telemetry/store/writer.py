"""One writer thread per signal: batches arrive from the pipeline, commits go to the active segment.

Commits happen every ``commit_interval`` seconds (250 ms) or as soon as ``commit_rows`` (5,000)
records wait, whichever comes first (§8.2), so a record is readable well within 2 s of being
accepted while a busy writer still commits large transactions.

Who runs the SQL is the writer's :class:`Engine`: :class:`LocalEngine` runs it on this thread
through the segment's own connection (memory mode, tests); the writer process of
:mod:`~ecslite.telemetry.store.process` runs it in a child process, so SQLite and the per-row
work of a commit never compete with the event loop and the receivers for the server's GIL.
Either way the thread keeps every batch until its commit is confirmed.

Invariants:

- ``pending`` counts records submitted and not yet committed; the pipeline reads it to push back
  before memory grows (§1.4). :meth:`SignalWriter.wait_for_room` blocks the ingest thread (never
  the event loop) while the backlog is over its limit.
- A batch the database refuses (a bug or a full disk) is logged and counted in ``failed`` with
  its record count, never retried forever and never silently dropped.
- :meth:`flush` returns once everything submitted before it was committed (tests, shutdown).
- Idle work (the lazy full-text index of logs) runs only when no batch waits and the writer
  spent less than :data:`IDLE_MAX_BUSY` of the last second committing, so a burst is stored
  first and indexed after; past a backlog of :data:`MAX_UNINDEXED` rows every commit is followed
  by a slice of at least as many rows as it wrote, so the backlog stays bounded under a sustained
  load.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ecslite.telemetry.store.segments import Segment, SegmentSet

log = logging.getLogger(__name__)

WriteFunction = Callable[[sqlite3.Connection, Segment, Sequence[Any]], tuple[int | None, int | None]]
"""Writes batches inside an open transaction; returns the (min, max) data time written."""
IndexFunction = Callable[[sqlite3.Connection, int], int]
"""Does one slice of idle work inside an open transaction; returns the rows still waiting."""

IDLE_DELAY = 0.05  # quiet time before idle work starts, so a burst's commits come first
IDLE_MAX_BUSY = 0.3  # idle work waits while commits took more than this share of the last second
INDEX_CHUNK = 20_000  # rows per slice of idle work (a transaction of about 100 ms; larger slices fill FTS5 cheaper)
MAX_UNINDEXED = 500_000  # past this backlog a slice also follows every commit


class BusyShare:
    """The share of the last ``window`` seconds spent working."""

    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self._spans: deque[tuple[float, float]] = deque()

    def add(self, start: float, end: float) -> None:
        self._spans.append((start, end))

    def share(self, now: float) -> float:
        cutoff = now - self.window
        while self._spans and self._spans[0][1] <= cutoff:
            self._spans.popleft()
        return sum(end - max(start, cutoff) for start, end in self._spans) / self.window


class Engine(Protocol):
    """Runs a writer's SQL. ``commit`` raises when the batches could not be stored."""

    restarts: int

    def prepare(self, batch: Any) -> Any:
        """What the writer keeps for ``batch`` until its commit (called on the submitting thread)."""

    def commit(self, segment: Segment, batches: list[Any], rows: int) -> tuple[int | None, int | None]:
        """Store prepared batches in ``segment``; the (min, max) data time written."""

    def release(self, segment: Segment) -> None:
        """Forget ``segment`` (its files are about to be removed)."""

    def has_idle_work(self) -> bool: ...

    def idle(self) -> None:
        """One slice of idle work."""

    def close(self) -> None: ...


class LocalEngine:
    """SQL on the writer thread through each segment's own connection, under the segment's lock."""

    def __init__(self, write: WriteFunction, index: IndexFunction | None = None) -> None:
        self.write = write
        self.index = index
        self.restarts = 0
        # Segments whose idle work may not be done, with the rows known to wait (-1: unknown).
        self._backlog: dict[Segment, int] = {}

    def hint(self, segment: Segment) -> None:
        """``segment`` (opened at start) may have idle work left from before."""
        if self.index is not None:
            self._backlog[segment] = -1

    def prepare(self, batch: Any) -> Any:
        return batch

    def commit(self, segment: Segment, batches: list[Any], rows: int) -> tuple[int | None, int | None]:
        with segment.lock:
            conn = segment.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                bounds = self.write(conn, segment, batches)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                segment.cache.clear()  # ids cached during the failed transaction do not exist
                raise
        if self.index is not None:
            waiting = max(self._backlog.get(segment, 0), 0) + rows
            self._backlog[segment] = waiting
            if waiting > MAX_UNINDEXED:
                try:
                    self._slice(segment, max(INDEX_CHUNK, rows))
                except Exception:  # the rows are committed; only the index waits
                    log.exception("telemetry idle work failed", extra={"segment": segment.name})
        return bounds

    def release(self, segment: Segment) -> None:
        self._backlog.pop(segment, None)

    def has_idle_work(self) -> bool:
        return bool(self._backlog)

    def idle(self) -> None:
        if not self._backlog:
            return
        segment = next(iter(self._backlog))
        try:
            self._slice(segment, INDEX_CHUNK)
        except BaseException:
            self._backlog.pop(segment, None)  # not again and again: its rows stay found by scanning
            raise

    def _slice(self, segment: Segment, limit: int) -> None:
        assert self.index is not None
        with segment.lock:
            if segment.closed:
                self._backlog.pop(segment, None)
                return
            conn = segment.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                waiting = self.index(conn, limit)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        if waiting:
            self._backlog[segment] = waiting
        else:
            self._backlog.pop(segment, None)

    def close(self) -> None:
        self._backlog.clear()


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
        engine: Engine | None = None,
    ) -> None:
        self.segments = segments
        self.write = write
        self.engine: Engine = engine or LocalEngine(write)
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
        self._busy = BusyShare()
        self._thread = threading.Thread(
            target=self._run, name=f"telemetry-writer-{name or segments.signal}", daemon=True
        )
        self._thread.start()

    # -- producer side -------------------------------------------------------------------------

    def submit(self, batch: Any, rows: int) -> None:
        # The engine's preparation (the writer process's serialization) runs here, on the
        # submitting thread, so the writer thread only hands ready commits over (store.process).
        prepared = self.engine.prepare(batch)
        with self._cond:
            if self._closing:
                raise RuntimeError("telemetry writer is closed")
            self._queue.append((prepared, rows))
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

    def drop(self, segment: Segment) -> None:
        """Remove a segment of this signal; call on the writer thread (:meth:`run_on_writer`)."""
        self.engine.release(segment)
        self.segments.drop(segment)

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        self.engine.close()

    # -- the thread ------------------------------------------------------------------------------

    def _take(self) -> tuple[list[tuple[Any, int]], int, list[Callable[[], None]]] | None:
        """The next commit's batches (or only maintenance); ``([], -1, [])`` when idle work is due;
        ``None`` when closed."""
        quiet = False
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
                if self.engine.has_idle_work():
                    if quiet and self._busy.share(time.monotonic()) < IDLE_MAX_BUSY:
                        return [], -1, []
                    quiet = True
                    self._cond.wait(IDLE_DELAY)
                    continue
                self._cond.wait(1.0)

    def _run(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            items, seq, maintenance = taken
            if seq < 0:
                self._idle()
                continue
            for work in maintenance:
                try:
                    work()
                except Exception:
                    log.exception("telemetry store maintenance failed", extra={"signal": self.segments.signal})
            rows = sum(n for _, n in items)
            if items:
                started = time.monotonic()
                self._commit([b for b, _ in items], rows)
                self._busy.add(started, time.monotonic())
            with self._cond:
                self.pending -= rows
                self._committed_seq = max(self._committed_seq, seq)
                self._cond.notify_all()

    def _idle(self) -> None:
        try:
            self.engine.idle()
        except Exception:
            log.exception("telemetry store idle work failed", extra={"signal": self.segments.signal})

    def _commit(self, batches: list[Any], rows: int) -> None:
        try:
            segment = self.segments.active()
            low, high = self.engine.commit(segment, batches, rows)
            segment.note_times(low, high)
            segment.last_write = self.segments.now()
            self.committed += rows
        except Exception:
            self.failed += rows
            log.exception("telemetry batch could not be stored", extra={"signal": self.segments.signal, "rows": rows})
