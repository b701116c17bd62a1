"""The telemetry writer process's own side (started by :class:`~ecslite.telemetry.store.process.WriterProcess`).

    python -m ecslite.telemetry.store.writer_child     # speaks the protocol of store.process on stdin/stdout

It holds one connection per segment file it was asked to write, runs each commit as one
transaction (the rows, then ``writer_state.token``), and answers. Between requests, once nothing
has arrived for :data:`~ecslite.telemetry.store.writer.IDLE_DELAY`, it works off the lazy
full-text index of the logs segments it wrote or was told about, one slice at a time, looking for
a request between slices.

Checkpoints are idle work too: a segment's connection runs with ``wal_autocheckpoint=0``, a WAL is
checkpointed (PASSIVE) once the process is quiet, or right after a commit that leaves it past
:data:`WAL_CHECKPOINT_BYTES`, so a burst's commits do not pay for them.

Invariants: the protocol owns file descriptors 0 and 1 (``print`` and stray output go to
stderr); its own logs are JSON lines on stderr like the server's; it exits when its input closes;
SIGINT is ignored (the server decides when it stops, see store.process).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import select
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ecslite import logconfig
from ecslite.telemetry.model import Signal
from ecslite.telemetry.store import logs as log_tables
from ecslite.telemetry.store import metrics as metric_tables
from ecslite.telemetry.store import spans as span_tables
from ecslite.telemetry.store.process import FRAME, from_wire
from ecslite.telemetry.store.segments import Segment
from ecslite.telemetry.store.writer import IDLE_DELAY, IDLE_MAX_BUSY, INDEX_CHUNK, MAX_UNINDEXED, BusyShare

log = logging.getLogger(__name__)

WRITERS: dict[str, Callable[[sqlite3.Connection, Segment, Sequence[Any]], tuple[int | None, int | None]]] = {
    Signal.TRACES: span_tables.write_rows,
    Signal.LOGS: log_tables.write,
    Signal.METRICS: metric_tables.write,
}
EXIT_STATUS = 70  # what the test hook exits with
WAL_CHECKPOINT_BYTES = 128 * 1024 * 1024  # a WAL past this is checkpointed right after the commit
WAL_KEEP_BYTES = 32 * 1024 * 1024  # what a checkpointed WAL file is cut back to


class ChildWriter:
    def __init__(self) -> None:
        self.segments: dict[str, Segment] = {}
        self.active: dict[str, str] = {}  # signal → the path its last commit went to
        self.unchecked: set[str] = set()  # segments committed to since their last checkpoint
        self.due: set[str] = set()  # of those, WALs too long to wait for idle time
        # Logs segments whose full-text index may lag, with the rows known to wait (-1: unknown).
        self.backlog: dict[str, int] = {}
        self.exit_at: str | None = None  # test hook: "before_commit" or "after_commit"

    def handle(self, request: tuple[Any, ...]) -> tuple[Any, ...]:
        kind = request[0]
        if kind == "commit":
            return self.commit(*request[1:])
        if kind == "index":
            self.backlog.setdefault(request[1], -1)
        elif kind == "release":
            self.release(request[1])
        elif kind == "close":
            self.close()
        elif kind == "exit_at_next_commit" and request[1] in ("before_commit", "after_commit"):
            self.exit_at = request[1]
        else:
            return ("error", f"unknown request {kind!r}")
        return ("ok",)

    def segment(self, signal_name: str, path: str) -> Segment:
        found = self.segments.get(path)
        if found is None:
            # Statements embed a segment's resource and scope ids (store.spans, store.logs): room
            # for many of them in the statement cache.
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, cached_statements=512)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA temp_store=MEMORY")
            conn.execute("PRAGMA cache_size=-65536")
            # Checkpoints are this process's own idle work (or follow a commit past WAL_CHECKPOINT_BYTES):
            # a checkpoint in the middle of a burst copies index pages that the next commits change
            # again, and costs a burst a third of its write time.
            conn.execute("PRAGMA wal_autocheckpoint=0")
            conn.execute(f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}")
            found = self.segments[path] = Segment(signal_name, "", 0, Path(path), conn)
        return found

    def commit(self, signal_name: str, path: str, token: int, wire: list[tuple[Any, ...]]) -> tuple[Any, ...]:
        previous = self.active.get(signal_name)
        if previous is not None and previous != path:
            # A new segment took over (a new day, or the last one full): the old one's connection
            # and page cache go; idle indexing opens it again if it still needs to.
            self._close(previous)
        self.active[signal_name] = path
        segment = self.segment(signal_name, path)
        conn = segment.conn
        batches = from_wire(signal_name, wire)
        # IMMEDIATE: the write lock up front, under SQLite's busy wait. A deferred transaction reads
        # first and asks for the lock at its first insert, and SQLite refuses that upgrade at once
        # when another connection holds the lock for a moment (no busy wait for a reader).
        conn.execute("BEGIN IMMEDIATE")
        try:
            low, high = WRITERS[signal_name](conn, segment, batches)
            conn.execute("UPDATE writer_state SET token = ?", (token,))
            if self.exit_at == "before_commit":
                os._exit(EXIT_STATUS)  # the test hook: rows written, never committed
            conn.execute("COMMIT")
        except Exception as error:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            segment.cache.clear()  # ids cached during the failed transaction do not exist
            log.exception("telemetry commit failed", extra={"signal": signal_name, "segment": path})
            return ("error", f"{type(error).__name__}: {error}")
        if self.exit_at == "after_commit":
            os._exit(EXIT_STATUS)  # the test hook: committed, never answered
        self.unchecked.add(path)
        with contextlib.suppress(FileNotFoundError):
            if os.stat(f"{path}-wal").st_size > WAL_CHECKPOINT_BYTES:
                self.due.add(path)
        if signal_name == Signal.LOGS:
            rows = sum(map(len, batches))
            waiting = max(self.backlog.get(path, 0), 0) + rows
            self.backlog[path] = waiting
            if waiting > MAX_UNINDEXED:
                self.index_slice(path, max(INDEX_CHUNK, rows))  # bounded under a sustained load
        return ("ok", low, high)

    def after_answer(self) -> None:
        """Work that must not wait for idle time, done once the commit's answer is out."""
        while self.due:
            self.checkpoint(self.due.pop())

    def has_idle_work(self) -> bool:
        return bool(self.backlog or self.unchecked)

    def idle(self) -> None:
        """One slice of idle work: a checkpoint first (cheap, and it keeps readers' WAL short),
        then the full-text index."""
        if self.unchecked:
            self.checkpoint(next(iter(self.unchecked)))
        elif self.backlog:
            self.index_slice(None, INDEX_CHUNK)

    def checkpoint(self, path: str) -> None:
        self.unchecked.discard(path)
        self.due.discard(path)
        segment = self.segments.get(path)
        if segment is None:
            return
        try:
            # PASSIVE: copies what no reader still needs and never waits for one.
            segment.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            log.exception("telemetry checkpoint failed", extra={"segment": path})

    def index_slice(self, path: str | None, limit: int) -> None:
        path = path or next(iter(self.backlog))
        if not Path(path).exists():
            self.backlog.pop(path, None)
            return
        conn = self.segment(Signal.LOGS, path).conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            waiting = log_tables.index_pending(conn, limit)
            conn.execute("COMMIT")
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            # Not again and again: the segment's unindexed rows are still found by scanning.
            log.exception("telemetry full-text indexing failed", extra={"segment": path})
            self.backlog.pop(path, None)
            return
        if waiting:
            self.backlog[path] = waiting
        else:
            self.backlog.pop(path, None)
            if path not in self.active.values():
                self._close(path)

    def release(self, path: str) -> None:
        self.backlog.pop(path, None)
        self.active = {signal_name: p for signal_name, p in self.active.items() if p != path}
        self._close(path)

    def _close(self, path: str) -> None:
        self.unchecked.discard(path)  # closing the connection checkpoints what it can
        self.due.discard(path)
        segment = self.segments.pop(path, None)
        if segment is not None:
            segment.conn.close()

    def close(self) -> None:
        for path in list(self.segments):
            self.release(path)


def _read_exact(stream: Any, size: int) -> bytes | None:
    """``size`` bytes from the raw input, or None at its end."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    done = 0
    while done < size:
        got = stream.readinto(view[done:])
        if not got:
            return None
        done += got
    return bytes(buffer)


def serve(child: ChildWriter, source: Any, sink: Any) -> None:
    fd = source.fileno()
    busy = BusyShare()
    last_request = time.monotonic()
    while True:
        if child.has_idle_work():
            now = time.monotonic()
            quiet = last_request + IDLE_DELAY - now
            if quiet <= 0 and busy.share(now) >= IDLE_MAX_BUSY:
                quiet = IDLE_DELAY  # still busy with a burst: look again a little later
            if not select.select([fd], [], [], max(quiet, 0.0))[0]:
                if quiet <= 0:
                    child.idle()
                continue
        header = _read_exact(source, FRAME.size)
        if header is None:
            return
        body = _read_exact(source, FRAME.unpack(header)[0])
        if body is None:
            return
        started = time.monotonic()
        request = pickle.loads(body)
        answer = pickle.dumps(child.handle(request), protocol=5)
        sink.write(FRAME.pack(len(answer)) + answer)
        sink.flush()
        child.after_answer()
        last_request = time.monotonic()
        busy.add(started, last_request)
        if request[0] == "close":
            return


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    source = os.fdopen(os.dup(0), "rb", buffering=0)
    sink = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logconfig.configure(os.environ.get("ECSLITE_LOG_LEVEL", "warning"))
    # What this process allocates (records, rows) holds no reference cycles and dies with its
    # commit: the collector would only walk it again and again. Rare collections suffice.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    child = ChildWriter()
    try:
        serve(child, source, sink)
    except BrokenPipeError:
        pass  # the server is gone
    finally:
        child.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
