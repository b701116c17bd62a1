"""The telemetry store: per-signal segment files, writer threads, retention and the query primitives
the query APIs build on (spec/telemetry.md §8).

Writing: :meth:`TelemetryStore.write_spans`, :meth:`~TelemetryStore.write_logs` and
:meth:`~TelemetryStore.write_metrics` queue a batch for the signal's writer thread and return at
once; the record is readable after the next commit (at most ``commit_interval`` later, 250 ms by
default). :attr:`TelemetryStore.pending` and :meth:`~TelemetryStore.wait_for_room` let the pipeline
push back before memory grows.

Reading: every ``find_*``/``select_*``/``read_*`` method is synchronous and may take more than a
millisecond, so call it from a thread (``asyncio.to_thread``), never on the event loop. Results
are merged across segments by value (trace id, stream labels, series labels).

Retention (§8.2): a janitor thread removes segments last written longer ago than the signal's
retention, then, while the total size is over ``max_bytes``, the oldest segments of any signal;
an active segment that alone breaks the cap is rotated first so it can be removed next round.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ecslite.clock import Clock, SystemClock
from ecslite.telemetry.log_records import LogBatch
from ecslite.telemetry.model import Labels, MetricBatch, MetricMetadata, Signal
from ecslite.telemetry.span_records import SpanBatch
from ecslite.telemetry.store import logs as log_tables
from ecslite.telemetry.store import metrics as metric_tables
from ecslite.telemetry.store import spans as span_tables
from ecslite.telemetry.store.logs import LogQuery, StoredLog
from ecslite.telemetry.store.matchers import Matcher
from ecslite.telemetry.store.metrics import SeriesData, StoredExemplar
from ecslite.telemetry.store.process import ProcessEngine, WriterProcess
from ecslite.telemetry.store.segments import Segment, SegmentSet
from ecslite.telemetry.store.spans import SpanQuery, StoredSpan, TraceSummary
from ecslite.telemetry.store.writer import Engine, IndexFunction, LocalEngine, SignalWriter, WriteFunction

log = logging.getLogger(__name__)

DAY = 86400.0
GIB = 1024**3
Tap = Callable[[str, "SpanBatch | LogBatch | MetricBatch"], None]


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """``directory=None`` keeps everything in memory (``--ephemeral``, tests)."""

    directory: Path | None = None
    retention_seconds: dict[str, float] = field(
        default_factory=lambda: {Signal.TRACES: 3 * DAY, Signal.LOGS: 3 * DAY, Signal.METRICS: 15 * DAY}
    )
    max_bytes: int = 2 * GIB
    commit_interval: float = 0.25
    commit_rows: int = 5000
    max_pending: int = 100_000
    janitor_interval: float = 30.0
    searchable_span_keys: frozenset[str] = field(default_factory=frozenset)
    # Another process's files, read only: no writer threads, no janitor (tools, tests).
    read_only: bool = False
    # Files only: run the SQL in a writer process (store.process) rather than on the writer threads.
    writer_process: bool = True

    @property
    def segment_bytes(self) -> int:
        # Eight segments fit under the cap, so the cap removes at most an eighth of the data at once.
        return max(self.max_bytes // 8, 64 * 1024)


class TelemetryStore:
    def __init__(self, settings: StoreSettings, clock: Clock | None = None) -> None:
        from ecslite.telemetry.span_records import SEARCHABLE_SPAN_KEYS

        self.settings = settings
        self.clock = clock or SystemClock()
        self.searchable = SEARCHABLE_SPAN_KEYS | settings.searchable_span_keys
        self._sets: dict[str, SegmentSet] = {}
        self._writers: dict[str, SignalWriter] = {}
        tables: dict[
            str, tuple[tuple[str, ...], Mapping[int, Sequence[str]], str, WriteFunction, IndexFunction | None]
        ] = {
            Signal.TRACES: (span_tables.DDL, span_tables.UPGRADE, span_tables.TIME_BOUNDS_SQL, span_tables.write, None),
            Signal.LOGS: (
                log_tables.DDL,
                log_tables.UPGRADE,
                log_tables.TIME_BOUNDS_SQL,
                log_tables.write,
                log_tables.index_pending,
            ),
            Signal.METRICS: (
                metric_tables.DDL,
                metric_tables.UPGRADE,
                metric_tables.TIME_BOUNDS_SQL,
                metric_tables.write,
                None,
            ),
        }
        for signal, (ddl, upgrade, bounds, _write, _index) in tables.items():
            self._sets[signal] = SegmentSet(
                signal,
                settings.directory,
                ddl,
                bounds,
                upgrade=upgrade,
                now=self.clock.now,
                segment_bytes=settings.segment_bytes,
                read_only=settings.read_only,
            )
        self.process: WriterProcess | None = None
        if not settings.read_only and settings.directory is not None and settings.writer_process:
            try:
                self.process = WriterProcess(self._log_segment_paths, name=str(settings.directory))
            except OSError:
                log.exception("telemetry writer process could not start; writing in this process")
        for signal, (_ddl, _upgrade, _bounds, write, index) in tables.items():
            if settings.read_only:
                continue
            engine: Engine
            if self.process is not None:
                engine = ProcessEngine(self.process, signal)
            else:
                local = LocalEngine(write, index)
                for segment in self._sets[signal].segments():
                    local.hint(segment)
                engine = local
            self._writers[signal] = SignalWriter(
                self._sets[signal],
                write,
                commit_interval=settings.commit_interval,
                commit_rows=settings.commit_rows,
                max_pending=settings.max_pending,
                engine=engine,
            )
        self._taps: list[Tap] = []
        self._stop = threading.Event()
        self._janitor = threading.Thread(target=self._janitor_loop, name="telemetry-janitor", daemon=True)
        if not settings.read_only:
            self._janitor.start()

    # -- writing -----------------------------------------------------------------------------------

    def write_spans(self, batch: SpanBatch) -> None:
        self._writers[Signal.TRACES].submit(batch, len(batch.spans))
        if self._taps:
            self._tap(Signal.TRACES, batch)

    def write_logs(self, batch: LogBatch) -> None:
        self._writers[Signal.LOGS].submit(batch, len(batch.records))
        if self._taps:
            self._tap(Signal.LOGS, batch)

    def write_metrics(self, batch: MetricBatch) -> None:
        self._writers[Signal.METRICS].submit(batch, len(batch.samples) + len(batch.exemplars))
        if self._taps:
            self._tap(Signal.METRICS, batch)

    def add_tap(self, tap: Tap) -> None:
        """Call ``tap(signal, batch)`` with every batch the store accepts, on the writing thread
        (the exporters, §6.5: "a tap before routing"). A tap must only queue, never block."""
        self._taps.append(tap)

    def remove_tap(self, tap: Tap) -> None:
        if tap in self._taps:
            self._taps.remove(tap)

    def _tap(self, signal: str, batch: SpanBatch | LogBatch | MetricBatch) -> None:
        for tap in list(self._taps):
            try:
                tap(signal, batch)
            except Exception:  # a tap's bug never costs the store a write
                log.exception("telemetry tap failed", extra={"signal": signal})

    @property
    def pending(self) -> int:
        """Records accepted by the store and not yet committed, over all signals."""
        return sum(w.pending for w in self._writers.values())

    def pending_of(self, signal: str) -> int:
        return self._writers[signal].pending

    def has_room(self, signal: str) -> bool:
        return self._writers[signal].has_room()

    def wait_for_room(self, signal: str, timeout: float) -> bool:
        return self._writers[signal].wait_for_room(timeout)

    def flush(self, timeout: float = 10.0) -> bool:
        """Commit everything written so far (tests, shutdown)."""
        return all(w.flush(timeout) for w in self._writers.values())

    def counters(self) -> dict[str, dict[str, int]]:
        return {
            s: {"committed": w.committed, "failed": w.failed, "pending": w.pending, "writerRestarts": w.engine.restarts}
            for s, w in self._writers.items()
        }

    def close(self) -> None:
        self._stop.set()
        if self._janitor.is_alive():
            self._janitor.join(5.0)
        for writer in self._writers.values():
            writer.close()
        if self.process is not None:
            self.process.close()
        for segments in self._sets.values():
            segments.close()

    # -- retention ---------------------------------------------------------------------------------

    def _janitor_loop(self) -> None:
        while not self._stop.wait(self.settings.janitor_interval):
            try:
                self.enforce_retention()
            except Exception:
                log.exception("telemetry retention failed")

    def enforce_retention(self) -> list[str]:
        """Remove segments past their signal's retention, then the oldest while over the size cap.

        Returns the names of the segments removed. Removal runs on each signal's writer thread.
        """
        now = self.clock.now()
        doomed: list[Segment] = []
        for signal, segments in self._sets.items():
            cutoff = now - self.settings.retention_seconds.get(signal, 3 * DAY)
            for segment in segments.segments():
                if segment.last_write < cutoff and not segments.is_active(segment):
                    doomed.append(segment)
        sizes = {seg: seg.size() for s in self._sets.values() for seg in s.segments() if seg not in doomed}
        total = sum(sizes.values())
        for segment in sorted(sizes, key=lambda seg: seg.last_write):
            if total <= self.settings.max_bytes:
                break
            owner = self._sets[segment.signal]
            if owner.is_active(segment):
                owner.request_rotation()  # removable next round, once a new segment takes over
                continue
            doomed.append(segment)
            total -= sizes[segment]
        done = threading.Event() if doomed else None
        remaining = [len(doomed)]
        for segment in doomed:
            writer = self._writers[segment.signal]

            def drop(writer: SignalWriter = writer, segment: Segment = segment) -> None:
                writer.drop(segment)
                remaining[0] -= 1
                if remaining[0] == 0 and done is not None:
                    done.set()

            self._writers[segment.signal].run_on_writer(drop)
        if done is not None:
            done.wait(10.0)
        return [segment.name for segment in doomed]

    def clear(self, timeout: float = 10.0) -> None:
        """Remove every segment of every signal (``POST /_ecslite/reset``); writes go on into new ones."""
        self.flush(timeout)
        events = []
        for signal, segments in self._sets.items():
            done = threading.Event()
            writer = self._writers[signal]

            def drop_all(
                segments: SegmentSet = segments, writer: SignalWriter = writer, done: threading.Event = done
            ) -> None:
                for segment in segments.segments():
                    writer.drop(segment)
                done.set()

            self._writers[signal].run_on_writer(drop_all)
            events.append(done)
        for done in events:
            done.wait(timeout)

    def writer_info(self) -> dict[str, object]:
        """Where the SQL runs: ``{"process": pid or None, "restarts": n, "logIndexBacklog": rows}``."""
        process = self.process
        return {
            "process": process.pid if process is not None else None,
            "restarts": process.restarts if process is not None else 0,
            "logIndexBacklog": self.log_index_backlog(),
        }

    def _log_segment_paths(self) -> list[str]:
        return [str(seg.path) for seg in self._sets[Signal.LOGS].segments() if seg.path is not None]

    def log_index_backlog(self) -> int:
        """Log records not yet in the full-text index (found by scanning until they are)."""
        return sum(log_tables.unindexed(conn) for _segment, conn in self._each(Signal.LOGS))

    def size_bytes(self) -> int:
        return sum(seg.size() for s in self._sets.values() for seg in s.segments())

    def segment_names(self, signal: str) -> list[str]:
        return [seg.name for seg in self._sets[signal].segments()]

    # -- reading helpers ---------------------------------------------------------------------------

    def _each(
        self, signal: str, start: int | None = None, end: int | None = None
    ) -> Iterator[tuple[Segment, sqlite3.Connection]]:
        """(segment, connection) for each segment of ``signal`` that may hold data in [start, end]."""
        for segment in reversed(self._sets[signal].segments()):
            if (start is not None or end is not None) and not segment.overlaps(start, end):
                continue
            with self._sets[signal].reader(segment) as conn:
                if conn is not None:
                    yield segment, conn

    # -- traces ------------------------------------------------------------------------------------

    def trace(self, trace_id: bytes) -> list[StoredSpan]:
        """Every span of the trace (all segments), by start time; empty when unknown."""
        spans: list[StoredSpan] = []
        for segment, conn in self._each(Signal.TRACES):
            spans.extend(span_tables.trace_spans(conn, segment, trace_id))
        spans.sort(key=lambda s: (s.span.start_ns, s.span.span_id))
        return spans

    def trace_summaries(self, trace_ids: Sequence[bytes]) -> dict[bytes, TraceSummary]:
        parts: list[TraceSummary] = []
        for _segment, conn in self._each(Signal.TRACES):
            parts.extend(span_tables.summaries(conn, trace_ids))
        return span_tables.merge_summaries(parts)

    def find_spans(self, query: SpanQuery, limit: int = 1000) -> list[StoredSpan]:
        """Spans matching ``query``, newest first, at most ``limit``."""
        found: list[StoredSpan] = []
        for segment, conn in self._each(Signal.TRACES, query.start_ns, query.end_ns):
            found.extend(span_tables.find_spans(conn, segment, query, limit, self.searchable))
        found.sort(key=lambda s: s.span.start_ns, reverse=True)
        return found[:limit]

    def search_traces(self, query: SpanQuery, limit: int = 20, span_limit: int = 10_000) -> list[TraceSummary]:
        """Traces with at least one span matching ``query``, newest first, at most ``limit``.

        Looks at no more than ``span_limit`` matching spans (the newest); at demo scale that is all.
        """
        trace_ids: list[bytes] = []
        seen: set[bytes] = set()
        for stored in self.find_spans(query, span_limit):
            if stored.span.trace_id not in seen:
                seen.add(stored.span.trace_id)
                trace_ids.append(stored.span.trace_id)
                if len(trace_ids) >= limit:
                    break
        merged = self.trace_summaries(trace_ids)
        return sorted(merged.values(), key=lambda t: t.start_ns, reverse=True)

    def services(self, start_ns: int | None = None, end_ns: int | None = None) -> list[str]:
        names: set[str] = set()
        for _segment, conn in self._each(Signal.TRACES, start_ns, end_ns):
            names.update(span_tables.services(conn))
        return sorted(names)

    def operations(self, service: str | None = None) -> list[tuple[str, str, int]]:
        """Distinct (service, span name, span kind)."""
        found: set[tuple[str, str, int]] = set()
        for _segment, conn in self._each(Signal.TRACES):
            found.update(span_tables.operations(conn, service))
        return sorted(found)

    def span_tag_names(self, scope: str | None = None) -> list[tuple[str, str, str]]:
        """(scope, key, type) of attributes seen: scope ``span`` or ``resource``."""
        found: set[tuple[str, str, str]] = set()
        for _segment, conn in self._each(Signal.TRACES):
            found.update(span_tables.tag_names(conn, scope))
        return sorted(found)

    def span_tag_values(self, key: str, scope: str | None = None, limit: int = 1000) -> list[tuple[str, str]]:
        """(value, type) seen for a resource attribute or a searchable span attribute."""
        found: set[tuple[str, str]] = set()
        for _segment, conn in self._each(Signal.TRACES):
            found.update(span_tables.tag_values(conn, scope, key))
        return sorted(found)[:limit]

    # -- logs --------------------------------------------------------------------------------------

    def read_logs(self, query: LogQuery) -> list[StoredLog]:
        """Records of matching streams in the range, newest (or oldest) first, at most ``limit``."""
        found: list[StoredLog] = []
        for segment, conn in self._each(Signal.LOGS, query.start_ns, query.end_ns):
            found.extend(log_tables.read(conn, segment, query))
        backward = query.direction == "backward"
        found.sort(key=lambda r: r.time_ns, reverse=backward)
        return found[: query.limit]

    def log_streams(
        self, matchers: Sequence[Matcher], start_ns: int | None = None, end_ns: int | None = None
    ) -> list[Labels]:
        found: set[Labels] = set()
        for _segment, conn in self._each(Signal.LOGS, start_ns, end_ns):
            found.update(log_tables.all_streams(conn, matchers))
        return sorted(found)

    def log_label_names(self, start_ns: int | None = None, end_ns: int | None = None) -> list[str]:
        found: set[str] = set()
        for _segment, conn in self._each(Signal.LOGS, start_ns, end_ns):
            found.update(log_tables.label_names(conn))
        return sorted(found)

    def log_label_values(
        self, name: str, matchers: Sequence[Matcher] = (), start_ns: int | None = None, end_ns: int | None = None
    ) -> list[str]:
        found: set[str] = set()
        for _segment, conn in self._each(Signal.LOGS, start_ns, end_ns):
            found.update(log_tables.label_values(conn, name, matchers))
        return sorted(found)

    # -- metrics -----------------------------------------------------------------------------------

    def select_series(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[Labels]:
        """Label sets of series matching every matcher with a sample in [start_ms, end_ms]."""
        found: set[Labels] = set()
        for _segment, conn in self._each(Signal.METRICS, start_ms, end_ms):
            for sid, labels in metric_tables.select(conn, matchers).items():
                if labels not in found and metric_tables.has_samples(conn, sid, start_ms, end_ms):
                    found.add(labels)
        return sorted(found)

    def read_series(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[SeriesData]:
        """Samples in [start_ms, end_ms] of every matching series, sorted by labels, each in time order."""
        merged: dict[Labels, SeriesData] = {}
        for _segment, conn in self._each(Signal.METRICS, start_ms, end_ms):
            series = metric_tables.select(conn, matchers)
            for labels, data in metric_tables.read_samples(conn, series, start_ms, end_ms).items():
                have = merged.get(labels)
                if have is None:
                    merged[labels] = data
                else:
                    combined = dict(zip(have.timestamps, have.values, strict=True))
                    combined.update(zip(data.timestamps, data.values, strict=True))
                    ordered = sorted(combined.items())
                    have.timestamps = [t for t, _ in ordered]
                    have.values = [v for _, v in ordered]
        return [merged[labels] for labels in sorted(merged)]

    def metric_label_names(
        self, matchers: Sequence[Matcher] = (), start_ms: int | None = None, end_ms: int | None = None
    ) -> list[str]:
        found: set[str] = set()
        for _segment, conn in self._each(Signal.METRICS, start_ms, end_ms):
            if matchers:
                for labels in metric_tables.select(conn, matchers).values():
                    found.update(name for name, _ in labels)
            else:
                found.update(row[0] for row in conn.execute("SELECT DISTINCT name FROM series_labels"))
        return sorted(found)

    def metric_label_values(
        self, name: str, matchers: Sequence[Matcher] = (), start_ms: int | None = None, end_ms: int | None = None
    ) -> list[str]:
        found: set[str] = set()
        for _segment, conn in self._each(Signal.METRICS, start_ms, end_ms):
            if matchers:
                for labels in metric_tables.select(conn, matchers).values():
                    value = dict(labels).get(name)
                    if value:
                        found.add(value)
            else:
                rows = conn.execute("SELECT DISTINCT value FROM series_labels WHERE name=?", (name,))
                found.update(row[0] for row in rows)
        return sorted(found)

    def metric_metadata(self, name: str | None = None) -> list[MetricMetadata]:
        found: dict[str, MetricMetadata] = {}
        for _segment, conn in self._each(Signal.METRICS):
            for meta in metric_tables.metadata(conn, name):
                found.setdefault(meta.name, meta)
        return [found[n] for n in sorted(found)]

    def exemplars(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[StoredExemplar]:
        found: list[StoredExemplar] = []
        for _segment, conn in self._each(Signal.METRICS, start_ms, end_ms):
            series = metric_tables.select(conn, matchers)
            found.extend(metric_tables.exemplars(conn, series, start_ms, end_ms))
        found.sort(key=lambda e: (e.series, e.ts_ms))
        return found
