"""The telemetry writer process (store.process): a child that dies, whenever it dies, costs no
acknowledged record and stores none twice; a batch that keeps killing it is counted as failed with a
clear error; the wire format keeps every field."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecslite.clock import FakeClock
from ecslite.telemetry.log_records import LogBatch, log_from_python
from ecslite.telemetry.model import Exemplar, MetricBatch, MetricMetadata, Resource, Sample, Scope, Signal
from ecslite.telemetry.span_records import SpanBatch, span_from_python
from ecslite.telemetry.store import LogQuery, Matcher, StoreSettings, TelemetryStore
from ecslite.telemetry.store.process import from_wire, to_wire
from ecslite.telemetry.store.spans import summarise

NOW = 1_750_000_000.0
NS = 1_000_000_000
RESOURCE = Resource({"service.name": "orders"})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TelemetryStore]:
    opened = TelemetryStore(StoreSettings(directory=tmp_path / "telemetry", commit_interval=0.01), FakeClock(NOW))
    assert opened.process is not None
    yield opened
    opened.close()


def spans(trace: int, count: int) -> SpanBatch:
    start = int(NOW * NS)
    return SpanBatch(
        RESOURCE,
        Scope("test"),
        [
            span_from_python(
                trace_id=trace.to_bytes(16, "big"),
                span_id=(i + 1).to_bytes(8, "big"),
                name=f"op {i}",
                start_ns=start + i,
                end_ns=start + i + 1000,
                attributes={"http.route": "/orders"},
            )
            for i in range(count)
        ],
    )


def span_rows(directory: Path) -> int:
    total = 0
    for path in directory.glob("traces-*.db"):
        conn = sqlite3.connect(path)
        total += conn.execute("SELECT count(*) FROM spans").fetchone()[0]
        conn.close()
    return total


def writer_pid(store: TelemetryStore) -> int:
    assert store.process is not None and store.process.pid is not None
    return store.process.pid


def test_writes_go_through_a_child_process(store: TelemetryStore, tmp_path: Path) -> None:
    store.write_spans(spans(1, 3))
    assert store.flush()
    assert writer_pid(store) != os.getpid()
    assert len(store.trace((1).to_bytes(16, "big"))) == 3
    assert span_rows(tmp_path / "telemetry") == 3


def test_killed_between_commits_it_is_restarted_and_nothing_is_lost(
    store: TelemetryStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store.write_spans(spans(1, 5))
    assert store.flush()
    first = writer_pid(store)
    os.kill(first, signal.SIGKILL)
    time.sleep(0.2)
    with caplog.at_level(logging.ERROR, logger="ecslite.telemetry.store.process"):
        store.write_spans(spans(2, 7))
        assert store.flush()
    assert writer_pid(store) != first
    assert span_rows(tmp_path / "telemetry") == 12
    assert store.counters()[Signal.TRACES]["failed"] == 0
    assert store.process is not None and store.process.restarts == 1
    [record] = [r for r in caplog.records if r.getMessage() == "telemetry writer process exited; starting it again"]
    assert record.status == -signal.SIGKILL  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("when", "outcome"), [("before_commit", "committing again"), ("after_commit", "it had committed")]
)
def test_death_during_a_commit_stores_the_batch_exactly_once(
    store: TelemetryStore, tmp_path: Path, caplog: pytest.LogCaptureFixture, when: str, outcome: str
) -> None:
    store.write_spans(spans(1, 2))
    assert store.flush()
    assert store.process is not None
    store.process.call(("exit_at_next_commit", when))
    with caplog.at_level(logging.ERROR, logger="ecslite.telemetry.store.process"):
        store.write_spans(spans(2, 9))
        assert store.flush()
    assert span_rows(tmp_path / "telemetry") == 11
    assert len(store.trace((2).to_bytes(16, "big"))) == 9
    counters = store.counters()[Signal.TRACES]
    assert (counters["committed"], counters["failed"], counters["writerRestarts"]) == (11, 0, 1)
    [died] = [r for r in caplog.records if r.getMessage() == "telemetry writer process died during a commit"]
    assert (died.status, died.outcome, died.rows) == (70, outcome, 9)  # type: ignore[attr-defined]


def test_a_commit_waits_for_another_connection_holding_the_write_lock(store: TelemetryStore, tmp_path: Path) -> None:
    """Another writer on the segment (a connection recovering the WAL index, say) holds the lock for a
    moment: the commit waits for it instead of failing. A transaction that read first and asked for the
    lock only at its first insert was refused at once, without SQLite's busy wait."""
    store.write_spans(spans(1, 2))
    assert store.flush()
    [path] = (tmp_path / "telemetry").glob("traces-*.db")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    try:
        # A resource the child has not cached yet: its transaction reads the resources table first.
        inventory = spans(2, 3)
        store.write_spans(SpanBatch(Resource({"service.name": "inventory"}), inventory.scope, inventory.spans))
        assert store.flush()
    finally:
        release.join()
        other.close()
    counters = store.counters()[Signal.TRACES]
    assert (counters["committed"], counters["failed"]) == (5, 0)
    assert len(store.trace((2).to_bytes(16, "big"))) == 3


class _KillsTheWriter:
    """Unpickling this (in the child) ends the child: a batch no writer process survives."""

    def __reduce__(self) -> tuple[object, tuple[int]]:
        return (os._exit, (71,))


def test_a_batch_that_always_kills_the_writer_is_counted_failed(
    store: TelemetryStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    poison = SpanBatch(Resource({"service.name": "bad", "x": _KillsTheWriter()}), Scope(), spans(1, 4).spans)  # type: ignore[dict-item]
    with caplog.at_level(logging.ERROR):
        store.write_spans(poison)
        assert store.flush(30)
        store.write_spans(spans(2, 3))
        assert store.flush()
    counters = store.counters()[Signal.TRACES]
    assert (counters["committed"], counters["failed"]) == (3, 4)
    assert span_rows(tmp_path / "telemetry") == 3
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("telemetry writer process died during a commit") == 3
    assert "telemetry batch could not be stored" in messages


def test_logs_and_metrics_survive_a_killed_writer(store: TelemetryStore) -> None:
    base = int(NOW * NS)
    store.write_logs(LogBatch(RESOURCE, Scope(), [log_from_python(time_ns=base, body="before")]))
    assert store.flush()
    os.kill(writer_pid(store), signal.SIGKILL)
    store.write_logs(LogBatch(RESOURCE, Scope(), [log_from_python(time_ns=base + 1, body="after")]))
    ms = int(NOW * 1000)
    store.write_metrics(MetricBatch(RESOURCE, [Sample((("__name__", "up"),), ms, 1.0)]))
    assert store.flush()
    query = LogQuery([Matcher("service_name", "=", "orders")], base, base + NS, direction="forward")
    assert [r.record.body for r in store.read_logs(query)] == ["before", "after"]
    assert [d.values for d in store.read_series([Matcher("__name__", "=", "up")], ms, ms)] == [[1.0]]


def test_close_stops_the_child(tmp_path: Path) -> None:
    store = TelemetryStore(StoreSettings(directory=tmp_path / "telemetry", commit_interval=0.01))
    store.write_spans(spans(1, 1))
    assert store.flush()
    pid = writer_pid(store)
    store.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_wire_format_keeps_every_field() -> None:
    span_batch = spans(3, 2)
    logs = LogBatch(
        RESOURCE,
        Scope("s", "1"),
        [log_from_python(time_ns=5, body={"k": [1, 2.5]}, trace_id=b"\x01" * 16, severity_number=9)],
    )
    labels = (("__name__", "x"), ("job", "a"))
    metrics = MetricBatch(
        RESOURCE,
        [Sample(labels, 1, 2.0)],
        [MetricMetadata("x", "gauge", "help", "")],
        [Exemplar(labels, 1, 2.0, b"\x02" * 16, b"\x03" * 8, (("k", "v"),))],
    )
    [spans_back] = from_wire(Signal.TRACES, to_wire(Signal.TRACES, [span_batch]))
    assert spans_back == summarise(span_batch)
    assert spans_back.rows == [tuple(s[:12]) for s in span_batch.spans]
    [logs_back] = from_wire(Signal.LOGS, to_wire(Signal.LOGS, [logs]))
    assert logs_back.records() == [tuple(r) for r in logs.records]
    assert logs_back.resource == logs.resource
    [metrics_back] = from_wire(Signal.METRICS, to_wire(Signal.METRICS, [metrics]))
    assert metrics_back == metrics


def open_files(pid: int) -> list[str]:
    names = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            names.append(os.readlink(fd))
        except OSError:
            continue
    return names


def test_the_child_keeps_only_the_active_segment_of_a_signal_open(tmp_path: Path) -> None:
    store = TelemetryStore(
        StoreSettings(directory=tmp_path / "telemetry", commit_interval=0.01, max_bytes=512 * 1024), FakeClock(NOW)
    )
    try:
        trace = 0
        while len(store.segment_names(Signal.TRACES)) < 3:
            trace += 1
            store.write_spans(spans(trace, 200))
            assert store.flush()
            assert trace < 500
        segments = [name for name in open_files(writer_pid(store)) if "/traces-" in name and name.endswith(".db")]
        assert [Path(name).name for name in segments] == [store.segment_names(Signal.TRACES)[-1]]
        assert all(len(store.trace(t.to_bytes(16, "big"))) == 200 for t in range(1, trace + 1))
    finally:
        store.close()


def test_clear_removes_everything_and_writing_goes_on(store: TelemetryStore, tmp_path: Path) -> None:
    store.write_spans(spans(1, 3))
    assert store.flush()
    store.clear()
    assert store.trace((1).to_bytes(16, "big")) == []
    store.write_spans(spans(2, 4))
    assert store.flush()
    assert len(store.trace((2).to_bytes(16, "big"))) == 4
    assert span_rows(tmp_path / "telemetry") == 4


def test_the_idle_child_checkpoints_the_wal(store: TelemetryStore, tmp_path: Path) -> None:
    store.write_spans(spans(1, 1))
    assert store.flush()
    [database] = (tmp_path / "telemetry").glob("traces-*.db")
    before = database.stat().st_size
    store.write_spans(spans(2, 2000))
    assert store.flush()
    deadline = time.monotonic() + 10
    while database.stat().st_size < before + 500_000:  # the 2,000 spans' pages reach the database file
        assert time.monotonic() < deadline, "no checkpoint while idle"
        time.sleep(0.05)
