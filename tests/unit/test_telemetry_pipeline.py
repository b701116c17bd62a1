"""The ingest pipeline's push-back (spec/telemetry.md §1.4): records waiting anywhere — as request
bodies, as ready-made records from Forward, in the store's writers — are bounded, every refusal is
counted, and everything accepted is stored."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from ecslite.telemetry.log_records import LogBatch, log_from_python
from ecslite.telemetry.model import Resource, Scope, Signal
from ecslite.telemetry.pipeline import IngestRequest, Outcome, Pipeline, PipelineSettings
from ecslite.telemetry.store import LogQuery, Matcher, StoreSettings, TelemetryStore

RESOURCE = Resource({"service.name": "flood"})


@pytest.fixture
def store() -> Iterator[TelemetryStore]:
    opened = TelemetryStore(StoreSettings(commit_interval=0.01))
    yield opened
    opened.close()


class Gate:
    """A store tap that holds the ingest thread at its first batch until opened."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.open = threading.Event()

    def __call__(self, signal: str, batch: object) -> None:
        self.reached.set()
        self.open.wait(10)


def logs(first: int, count: int) -> LogBatch:
    now = time.time_ns()
    return LogBatch(
        RESOURCE, Scope(), [log_from_python(time_ns=now, body=f"line {n}") for n in range(first, first + count)]
    )


def test_ready_made_records_waiting_for_the_ingest_thread_count_against_the_limit(store: TelemetryStore) -> None:
    gate = Gate()
    store.add_tap(gate)
    pipeline = Pipeline(store, PipelineSettings(max_pending_items=100))
    try:
        futures = [pipeline.submit_batches(Signal.LOGS, [logs(0, 10)], None, "forward")]
        assert gate.reached.wait(5)
        taken = 10
        for n in range(1, 30):
            future = pipeline.submit_batches(Signal.LOGS, [logs(n * 10, 10)], None, "forward")
            if future is None:
                continue
            futures.append(future)
            taken += 10
        assert taken <= 100 + 10, "what waits is bounded by max_pending_items"
        assert pipeline.refused[("forward", Signal.LOGS)] == 30 - len(futures)
        assert pipeline.refused[("forward", Signal.LOGS)] > 0
        gate.open.set()
        results = [f.result(10) for f in futures if f is not None]
        assert all(r.outcome is Outcome.OK for r in results)
        assert store.flush()
        stored = store.read_logs(LogQuery([Matcher("service_name", "=", "flood")], 0, 2**62, limit=1000))
        assert len(stored) == sum(r.accepted for r in results) == taken
        assert pipeline.counters()["queuedItems"] == 0
    finally:
        gate.open.set()
        pipeline.close()


def test_request_bodies_waiting_count_against_the_byte_limit(store: TelemetryStore) -> None:
    gate = Gate()
    store.add_tap(gate)
    pipeline = Pipeline(store, PipelineSettings(max_queue_bytes=3000))
    request = trace_service_pb2.ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add()
    now = time.time_ns()
    spans.spans.add(
        trace_id=b"\x01" * 16, span_id=b"\x01" * 8, name="x" * 900, start_time_unix_nano=now, end_time_unix_nano=now + 1
    )
    body = request.SerializeToString()
    try:
        first = pipeline.submit(IngestRequest(Signal.TRACES, body))
        assert first is not None and gate.reached.wait(5)
        accepted = [pipeline.submit(IngestRequest(Signal.TRACES, body)) for _ in range(6)]
        fit = 3000 // len(body) - 1  # the first body still counts until the ingest thread is done with it
        assert fit == 2
        assert sum(f is not None for f in accepted) == fit
        assert pipeline.refused[("otlp", Signal.TRACES)] == 6 - fit
        gate.open.set()
        assert first.result(10).accepted == 1
        assert [f.result(10).outcome for f in accepted if f is not None] == [Outcome.OK] * fit
        assert pipeline.queued_bytes == 0
    finally:
        gate.open.set()
        pipeline.close()
