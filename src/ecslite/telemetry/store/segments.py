"""Segment files of one signal: layout, opening, rotation, reader connections and removal (§8.2).

Layout: ``<dir>/<signal>-<YYYY-MM-DD>.db`` for the first segment of a UTC day, then
``<signal>-<YYYY-MM-DD>.<n>.db`` when a day's segment grows past ``segment_bytes`` (so the size
cap can always remove whole files, even within one day). Only the newest segment is written;
retention removes whole segments, oldest first.

Invariants:

- Each segment is a complete database with the signal's schema; ids (resources, streams, series)
  are local to a segment, so readers merge results across segments by value, never by id.
- Files: WAL, ``synchronous=NORMAL``, 8 KiB pages; readers get their own connections (one per
  thread and segment, ``query_only``) with a 256 MiB ``mmap_size``.
- Memory mode (``directory=None``, ``--ephemeral`` and tests): every segment is one in-memory
  connection shared by the writer and readers under the segment's lock.
- A segment records the smallest and largest data time it holds (``min_ts``/``max_ts``), so a
  time-bounded query opens only the segments that can match.
- ``PRAGMA user_version`` is the segment's schema (:data:`SCHEMA_VERSION`); a writer opening an
  older segment upgrades it first (the signal's ``upgrade`` statements, one step per version), a
  reader reads it as it is (:attr:`Segment.version`). A segment of a newer schema is left alone by
  writers and readers alike: its rows may mean what this ecslite does not know (schema 3's
  ``logs.detail`` holding a ``log_details`` id would read as the detail itself to schema 2).
- With a writer process (:mod:`~ecslite.telemetry.store.writer`) the segment's ``conn`` only
  creates the schema and answers the writer's questions after a crash; the rows are written by the
  process through its own connection.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# 2: lazy full-text index (fts_state), writer_state; 3: logs index words per block (store.log_index)
# and share details: ``logs.detail`` may be the integer id of a ``log_details`` row (store.logs)
SCHEMA_VERSION = 3
PAGE_SIZE = 8192
READER_MMAP_BYTES = 256 * 1024 * 1024
_NAME = re.compile(r"^(?P<signal>[a-z]+)-(?P<day>\d{4}-\d{2}-\d{2})(?:\.(?P<seq>\d+))?\.db$")


class NewerSchema(sqlite3.DatabaseError):
    """A segment written by a newer ecslite (its ``user_version`` is above :data:`SCHEMA_VERSION`)."""


def utc_day(epoch_seconds: float) -> str:
    return dt.datetime.fromtimestamp(epoch_seconds, dt.UTC).strftime("%Y-%m-%d")


@dataclass(eq=False)
class Segment:
    signal: str
    day: str
    seq: int
    path: Path | None
    conn: sqlite3.Connection  # the writer's (and in memory mode everyone's) connection
    lock: threading.Lock = field(default_factory=threading.Lock)
    min_ts: int | None = None
    max_ts: int | None = None
    last_write: float = 0.0
    closed: bool = False
    version: int = SCHEMA_VERSION
    # Writer-side caches of ids local to this segment (resource hash → id, ...).
    cache: dict[str, dict[Any, Any]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        suffix = f".{self.seq}" if self.seq else ""
        return f"{self.signal}-{self.day}{suffix}.db"

    def overlaps(self, start: int | None, end: int | None) -> bool:
        if self.min_ts is None or self.max_ts is None:
            return False  # empty
        if start is not None and self.max_ts < start:
            return False
        return not (end is not None and self.min_ts > end)

    def note_times(self, low: int | None, high: int | None) -> None:
        if low is not None:
            self.min_ts = low if self.min_ts is None else min(self.min_ts, low)
        if high is not None:
            self.max_ts = high if self.max_ts is None else max(self.max_ts, high)

    def size(self) -> int:
        if self.closed:
            return 0
        if self.path is None:
            with self.lock:
                pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
            return int(pages) * PAGE_SIZE
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(FileNotFoundError):
                total += Path(str(self.path) + suffix).stat().st_size
        return total


class SegmentSet:
    """The segments of one signal, oldest first; thread-safe."""

    def __init__(
        self,
        signal: str,
        directory: Path | None,
        ddl: Sequence[str],
        time_bounds_sql: str,
        *,
        upgrade: Mapping[int, Sequence[str]] | None = None,
        now: Callable[[], float],
        segment_bytes: int,
        read_only: bool = False,
    ) -> None:
        self.signal = signal
        self.directory = directory
        self.ddl = ddl
        self.upgrade = upgrade or {}  # schema N → N + 1: statements
        self.time_bounds_sql = time_bounds_sql
        self.now = now
        self.segment_bytes = segment_bytes
        self.read_only = read_only
        self._lock = threading.Lock()
        self._segments: list[Segment] = []
        self._local = threading.local()
        self._rotate_requested = False
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            self._open_existing()

    # -- layout ------------------------------------------------------------------------------------

    def _open_existing(self) -> None:
        assert self.directory is not None
        found: list[tuple[str, int, Path]] = []
        for path in self.directory.iterdir():
            match = _NAME.match(path.name)
            if match and match["signal"] == self.signal:
                found.append((match["day"], int(match["seq"] or 0), path))
        for day, seq, path in sorted(found):
            try:
                segment = self._open(day, seq, path)
            except NewerSchema as error:
                log.error("telemetry segment written by a newer ecslite, left alone", extra={"path": str(path)})
                log.debug("newer schema", exc_info=error)
                continue
            except sqlite3.DatabaseError as error:
                if self.read_only:
                    continue
                # A damaged file must not keep the server from starting; it is kept for inspection.
                log.error("telemetry segment unreadable, set aside", extra={"path": str(path), "error": str(error)})
                path.rename(path.with_suffix(".damaged"))
                continue
            low, high = segment.conn.execute(self.time_bounds_sql).fetchone()
            segment.note_times(low, high)
            segment.last_write = path.stat().st_mtime
            self._segments.append(segment)

    def _open(self, day: str, seq: int, path: Path | None) -> Segment:
        if path is None:
            conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        elif self.read_only:
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA query_only=1")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                # The writer has created the file but not yet its tables: nothing to read in it yet.
                conn.close()
                raise sqlite3.DatabaseError(f"{path.name} has no tables yet")
            if version > SCHEMA_VERSION:
                conn.close()
                raise NewerSchema(f"{path} has schema {version}; this ecslite reads up to {SCHEMA_VERSION}")
            return Segment(self.signal, day, seq, path, conn, version=version)
        else:
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-65536")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            conn.close()
            raise NewerSchema(f"{path} has schema {version}; this ecslite writes {SCHEMA_VERSION}")
        if version < SCHEMA_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            steps = [self.ddl] if version == 0 else [self.upgrade.get(v, ()) for v in range(version, SCHEMA_VERSION)]
            for statement in (statement for step in steps for statement in step):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        return Segment(self.signal, day, seq, path, conn)

    def segments(self) -> list[Segment]:
        with self._lock:
            return list(self._segments)

    def active(self) -> Segment:
        """The segment to write now: today's newest, or a new one (a new day, or the last one full).

        Called only by the signal's writer thread.
        """
        today = utc_day(self.now())
        with self._lock:
            current = self._segments[-1] if self._segments else None
            rotate = self._rotate_requested
            self._rotate_requested = False
        if current is not None and current.day == today and not rotate and current.size() < self.segment_bytes:
            return current
        seq = current.seq + 1 if current is not None and current.day == today else 0
        path = None if self.directory is None else self.directory / self._file_name(today, seq)
        segment = self._open(today, seq, path)
        with self._lock:
            self._segments.append(segment)
        return segment

    def request_rotation(self) -> None:
        with self._lock:
            self._rotate_requested = True

    def _file_name(self, day: str, seq: int) -> str:
        return f"{self.signal}-{day}{f'.{seq}' if seq else ''}.db"

    def is_active(self, segment: Segment) -> bool:
        with self._lock:
            return bool(self._segments) and self._segments[-1] is segment

    # -- removal -----------------------------------------------------------------------------------

    def drop(self, segment: Segment) -> None:
        """Remove a segment: close it and delete its files. Call on the signal's writer thread; when it
        was the active one, the next write starts a new segment."""
        with self._lock:
            if segment not in self._segments:
                return
            self._segments.remove(segment)
        with segment.lock:
            segment.closed = True
            segment.conn.close()
        if segment.path is not None:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(str(segment.path) + suffix).unlink()
        log.info("telemetry segment removed", extra={"segment": segment.name})

    def close(self) -> None:
        with self._lock:
            segments, self._segments = self._segments, []
        for segment in segments:
            with segment.lock:
                if not segment.closed:
                    segment.closed = True
                    with contextlib.suppress(sqlite3.Error):
                        if segment.path is not None:
                            segment.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    segment.conn.close()

    # -- readers -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def reader(self, segment: Segment) -> Iterator[sqlite3.Connection | None]:
        """A connection for reading ``segment`` on this thread; ``None`` if it was removed meanwhile."""
        if segment.path is None:
            with segment.lock:
                yield None if segment.closed else segment.conn
            return
        conns: dict[int, tuple[Segment, sqlite3.Connection]] = getattr(self._local, "conns", None) or {}
        self._local.conns = conns
        for key, (seg, conn) in list(conns.items()):
            if seg.closed:
                conn.close()
                del conns[key]
        if segment.closed:
            yield None
            return
        entry = conns.get(id(segment))
        if entry is None or entry[0] is not segment:
            try:
                conn = sqlite3.connect(segment.path, check_same_thread=False, isolation_level=None)
            except sqlite3.Error:
                yield None
                return
            conn.execute("PRAGMA query_only=1")
            conn.execute(f"PRAGMA mmap_size={READER_MMAP_BYTES}")
            conns[id(segment)] = (segment, conn)
        else:
            conn = entry[1]
        yield conn
