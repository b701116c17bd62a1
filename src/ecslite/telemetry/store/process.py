"""The writer process: a child that runs the SQL of a file-backed store's writers (spec §8.2).

§8.2 gives each signal one writer thread; here those threads keep their batches, timing and
counters in the server, and hand each commit to one child process
(:mod:`~ecslite.telemetry.store.writer_child`), so SQLite and the per-row work of a write run on
the machine's other core instead of competing with the event loop and the receivers for the
server's GIL. Decoding stays in the server: the pipeline needs each request's outcome for its
answer, and the taps (RED metrics, exporters) need the records.

Protocol: over the child's stdin and stdout, frames of a 4-byte little-endian length and a pickle
(both ends are this program). Requests are answered in order:

- ``("commit", signal, path, token, batches)`` → ``("ok", low, high)`` or ``("error", text)``: one
  transaction with the batches (:func:`to_wire`) and ``writer_state.token = token``;
- ``("index", path)`` → ``("ok",)``: the logs segment may have unindexed rows (idle work);
- ``("release", path)`` → ``("ok",)``: close it, its files are about to be removed;
- ``("close",)`` → ``("ok",)``, then the child exits;
- ``("exit_at_next_commit", when)`` → ``("ok",)``: a test hook; the child dies during its next
  commit, ``"before_commit"`` (rows written, not committed) or ``"after_commit"`` (committed, not
  answered).

Invariants:

- Nothing acknowledged is lost when the child dies: a writer thread keeps its batches until the
  child answers. On a death the child is started again and, because every commit writes its
  token in the same transaction as its rows, the writer knows whether the commit it was waiting
  for happened: if so it is done, else it is sent again, so a commit is never stored twice. A
  batch that kills the child :data:`MAX_ATTEMPTS` times is counted as failed and logged.
- Every death is logged as an error with the exit status and counted (``restarts``).
- The child never outlives the server: it exits when its stdin closes (the server exited, however)
  and lives in its own session, so a Ctrl-C meant for the server does not kill it mid-commit.
- A file-backed store only: a child cannot share a ``:memory:`` database, so ``--ephemeral``
  stores keep the in-process :class:`~ecslite.telemetry.store.writer.LocalEngine`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pickle
import secrets
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

import msgpack

import ecslite
from ecslite.telemetry.log_records import LogRecord
from ecslite.telemetry.model import Exemplar, MetricBatch, Sample, Signal
from ecslite.telemetry.span_records import Span
from ecslite.telemetry.store import logs as log_tables
from ecslite.telemetry.store import spans as span_tables
from ecslite.telemetry.store.segments import Segment

log = logging.getLogger(__name__)

FRAME = struct.Struct("<I")
PIPE_BYTES = 1 << 20
MAX_ATTEMPTS = 3
REPLY_TIMEOUT = 300.0  # a commit is at most a few seconds; past this the child is stuck
CHILD_MODULE = "ecslite.telemetry.store.writer_child"


class WriterDied(Exception):
    """The writer process exited (or was stopped) before answering."""

    def __init__(self, status: int | None) -> None:
        super().__init__(f"the telemetry writer process exited with status {status}")
        self.status = status


class StoreRefused(Exception):
    """The writer process could not store a batch (its database said no, or it kept dying)."""


# -- wire format ---------------------------------------------------------------------------------
# Records travel in their fields' order, never as NamedTuples (pickle would call the class per
# record on load, five times the cost), and the tables read them by position. Each batch is
# serialized on its own, so no single C call holds the server's GIL for long (a commit's worth at
# once would hold it for milliseconds and delay the event loop). Spans travel summarised
# (store.spans.SpanRows: rows of plain values, per-trace tag sets, the batch's attribute types),
# so the child neither rebuilds nor walks each span's tags. Log records are one msgpack array per
# batch (:class:`~.logs.LogRows`: columns, with a detail shared by many records sent once): a third
# cheaper to build here than tuples and a pickle.


def to_wire(signal: str, batches: Sequence[Any]) -> list[Any]:
    if signal == Signal.TRACES:
        return [pickle.dumps(span_tables.summarise(b), protocol=5) for b in batches]
    if signal == Signal.LOGS:
        return [(b.resource, b.scope, _pack_records(b.records)) for b in batches]
    return [(b.resource, list(map(tuple, b.samples)), list(b.metadata), list(map(tuple, b.exemplars))) for b in batches]


def _pack_records(records: Sequence[LogRecord]) -> bytes | tuple[list[Sequence[Any]], list[bytes] | None]:
    columns, shared = log_tables.log_columns(records)
    try:
        packed: bytes = msgpack.packb((columns, shared), use_bin_type=True)
    except (UnicodeEncodeError, TypeError):  # lone surrogates in a record built in Python
        return columns, shared
    return packed


def from_wire(signal: str, wire: list[Any]) -> list[Any]:
    """Batches for the table writers (spans: :class:`~.spans.SpanRows`; logs: :class:`~.logs.LogRows`)."""
    if signal == Signal.TRACES:
        return [pickle.loads(data) for data in wire]
    if signal == Signal.LOGS:
        return [
            log_tables.LogRows(resource, *(msgpack.unpackb(rows, raw=False) if type(rows) is bytes else rows))
            for resource, _scope, rows in wire
        ]
    return [
        MetricBatch(resource, [Sample(*s) for s in samples], metadata, [Exemplar(*e) for e in exemplars])
        for resource, samples, metadata, exemplars in wire
    ]


@dataclass(frozen=True, slots=True)
class WireBatch:
    """A batch as the writer process receives it (:func:`to_wire`), with its data time bounds."""

    data: Any
    low: int | None
    high: int | None


def prepare(signal: str, batch: Any) -> WireBatch:
    if signal == Signal.TRACES:
        rows = span_tables.summarise(batch)
        return WireBatch(pickle.dumps(rows, protocol=5), rows.low, rows.high)
    low, high = bounds_of(signal, [batch])
    return WireBatch(to_wire(signal, [batch])[0], low, high)


def bounds_of(signal: str, batches: Sequence[Any]) -> tuple[int | None, int | None]:
    """The (min, max) data time of batches, as the table writers report it."""
    times: list[int] = []
    if signal == Signal.TRACES:
        for batch in batches:
            spans: Sequence[Span] = batch.spans
            if spans:
                times.append(min(map(itemgetter(5), spans)))
                times.append(max(map(itemgetter(6), spans)))
    elif signal == Signal.LOGS:
        for batch in batches:
            records: Sequence[LogRecord] = batch.records
            event_times = list(map(itemgetter(0), records))
            if 0 in event_times:  # a record without an event time is indexed by its observed time
                event_times = [r[0] or r[1] for r in records]
            if event_times:
                times.append(min(event_times))
                times.append(max(event_times))
    else:
        for batch in batches:
            times.extend(map(itemgetter(1), batch.samples))
    return (min(times), max(times)) if times else (None, None)


# -- the child, seen from the server ---------------------------------------------------------------


class WriterProcess:
    """The child process of one store; calls from several writer threads are serialised."""

    def __init__(self, hints: Callable[[], list[str]] | None = None, *, name: str = "telemetry") -> None:
        self.name = name
        self.hints = hints or list
        self.restarts = 0
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._hints_due = False
        self._closed = False
        self._start()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _start(self) -> None:
        env = dict(os.environ)
        # The child imports ecslite from wherever this process did (installed or a source tree).
        source = str(Path(ecslite.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH", "")) if p)
        env["ECSLITE_LOG_LEVEL"] = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", CHILD_MODULE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        if self._proc.stdin is not None:
            # A commit is megabytes: a 1 MiB pipe (the kernel's usual maximum) moves it in a few
            # writes instead of one switch to the child per 64 KiB.
            with contextlib.suppress(OSError):
                fcntl.fcntl(self._proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self._hints_due = True  # sent with the first call: the child is still importing now

    def call(self, request: tuple[Any, ...]) -> Any:
        """Send one request and return the answer; :class:`WriterDied` if the child died meanwhile
        (it is started again before the next call)."""
        frame = pickle.dumps(request, protocol=5)
        with self._lock:
            if self._closed:
                raise StoreRefused("the telemetry writer process is closed")
            if self._proc is None or self._proc.poll() is not None:
                self._restart(None)
            if self._hints_due:
                self._hints_due = False
                for path in self.hints():
                    self._exchange(("index", path))
            return self._exchange(request, frame)

    def _exchange(self, request: tuple[Any, ...], frame: bytes | None = None) -> Any:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        if frame is None:
            frame = pickle.dumps(request, protocol=5)
        try:
            proc.stdin.write(FRAME.pack(len(frame)))
            proc.stdin.write(frame)
            proc.stdin.flush()
            size = FRAME.unpack(_read_exact(proc.stdout.fileno(), FRAME.size))[0]
            return pickle.loads(_read_exact(proc.stdout.fileno(), size))
        except (OSError, EOFError, TimeoutError) as error:
            status = self._reap(proc)
            log.debug("telemetry writer process lost", exc_info=error)
            raise WriterDied(status) from None

    def _reap(self, proc: subprocess.Popen[bytes]) -> int | None:
        if proc.poll() is None:
            proc.kill()  # stuck (no answer in time): this process started it, so it may end it
        try:
            return proc.wait(10.0)
        except subprocess.TimeoutExpired:
            return None
        finally:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()

    def _restart(self, status: int | None) -> None:
        """Start a new child after a death (call with the lock held)."""
        if self._proc is not None:
            status = self._reap(self._proc) if status is None else status
        self.restarts += 1
        log.error(
            "telemetry writer process exited; starting it again",
            extra={"status": status, "restarts": self.restarts, "writer": self.name},
        )
        self._start()

    def restart_after(self, died: WriterDied) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return  # someone else already started a new one
            self._restart(died.status)

    def close(self, timeout: float = 30.0) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            proc = self._proc
            if proc is None or proc.poll() is not None:
                return
            try:
                self._exchange(("close",))
            except WriterDied:
                return
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("telemetry writer process did not exit; killing it", extra={"pid": proc.pid})
                proc.kill()
                proc.wait(10.0)
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()


def _read_exact(fd: int, size: int, timeout: float = REPLY_TIMEOUT) -> bytes:
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    while size:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise TimeoutError("no answer from the telemetry writer process")
        chunk = os.read(fd, size)
        if not chunk:
            raise EOFError("the telemetry writer process closed its output")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


class ProcessEngine:
    """A signal writer's engine that commits through the :class:`WriterProcess` (see module doc)."""

    def __init__(self, process: WriterProcess, signal: str) -> None:
        self.process = process
        self.signal = signal
        self.restarts = 0
        self._token = secrets.randbits(62)

    def prepare(self, batch: Any) -> WireBatch:
        return prepare(self.signal, batch)

    def commit(self, segment: Segment, batches: list[WireBatch], rows: int) -> tuple[int | None, int | None]:
        self._token += 1
        token = self._token
        request = ("commit", self.signal, str(segment.path), token, [batch.data for batch in batches])
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                reply = self.process.call(request)
            except WriterDied as died:
                self.restarts += 1
                self.process.restart_after(died)
                done = self._committed(segment, token)
                log.error(
                    "telemetry writer process died during a commit",
                    extra={
                        "signal": self.signal,
                        "rows": rows,
                        "status": died.status,
                        "attempt": attempt,
                        "outcome": "it had committed" if done else "committing again",
                    },
                )
                if done:
                    lows = [b.low for b in batches if b.low is not None]
                    highs = [b.high for b in batches if b.high is not None]
                    return (min(lows) if lows else None, max(highs) if highs else None)
                continue
            if reply[0] == "ok":
                return reply[1], reply[2]
            raise StoreRefused(str(reply[1]))
        raise StoreRefused(f"the telemetry writer process died {MAX_ATTEMPTS} times on this commit of {rows} records")

    def _committed(self, segment: Segment, token: int) -> bool:
        with segment.lock:
            row = segment.conn.execute("SELECT token FROM writer_state").fetchone()
        return row is not None and row[0] == token

    def release(self, segment: Segment) -> None:
        with contextlib.suppress(WriterDied, StoreRefused):  # a new child has no connection to it
            self.process.call(("release", str(segment.path)))

    def has_idle_work(self) -> bool:
        return False  # the child does its own when it has nothing else to do

    def idle(self) -> None:
        return None

    def close(self) -> None:
        return None
