"""The telemetry store (spec/telemetry.md §8): writes through the writer threads, reads across segments,
retention by age and by size, persistence across a reopen."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecslite.clock import FakeClock
from ecslite.telemetry.log_records import LogBatch, decode_log_detail, log_from_python
from ecslite.telemetry.model import MetricBatch, MetricMetadata, Resource, Sample, Scope, Signal
from ecslite.telemetry.span_records import SpanBatch, SpanEvent, SpanKind, StatusCode, span_from_python
from ecslite.telemetry.store import LogQuery, Matcher, SpanQuery, StoreSettings, TelemetryStore

NOW = 1_750_000_000.0
NS = 1_000_000_000
RESOURCE = Resource({"service.name": "orders", "aws.ecs.task.family": "shop", "container.name": "web"})
OTHER = Resource({"service.name": "pricing"})


def tid(n: int) -> bytes:
    return n.to_bytes(16, "big")


def sid(n: int) -> bytes:
    return n.to_bytes(8, "big")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture(params=["memory", "files"])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[TelemetryStore]:
    directory = None if request.param == "memory" else tmp_path / "telemetry"
    opened = TelemetryStore(StoreSettings(directory=directory, commit_interval=0.01), clock)
    yield opened
    opened.close()


def write_trace(store: TelemetryStore, trace: int, start_ns: int) -> None:
    root = span_from_python(
        trace_id=tid(trace),
        span_id=sid(1),
        name="POST /orders",
        kind=SpanKind.SERVER,
        start_ns=start_ns,
        end_ns=start_ns + 120_000_000,
        attributes={"http.request.method": "POST", "http.response.status_code": 500, "order.id": "7"},
        status_code=StatusCode.ERROR,
        status_message="pricing failed",
        events=[SpanEvent(start_ns + 1000, "exception", {"exception.type": "ValueError"})],
    )
    child = span_from_python(
        trace_id=tid(trace),
        span_id=sid(2),
        parent_span_id=sid(1),
        name="GET /price",
        kind=SpanKind.SERVER,
        start_ns=start_ns + 10_000_000,
        end_ns=start_ns + 30_000_000,
    )
    store.write_spans(SpanBatch(RESOURCE, Scope("fastapi", "0.1"), [root]))
    store.write_spans(SpanBatch(OTHER, Scope(), [child]))


def test_trace_read_back_by_id_with_resource_and_detail(store: TelemetryStore) -> None:
    write_trace(store, 1, int(NOW * NS))
    assert store.flush()
    spans = store.trace(tid(1))
    assert [s.span.name for s in spans] == ["POST /orders", "GET /price"]
    root = spans[0]
    assert root.resource.attributes["aws.ecs.task.family"] == "shop"
    assert root.scope.name == "fastapi"
    detail = root.detail()
    assert detail.attributes["order.id"] == "7"
    assert detail.events[0].attributes == {"exception.type": "ValueError"}
    assert root.span.http_status == 500
    assert store.trace(tid(99)) == []


def test_trace_summary_names_root_and_counts_errors(store: TelemetryStore) -> None:
    write_trace(store, 1, int(NOW * NS))
    store.flush()
    summary = store.trace_summaries([tid(1)])[tid(1)]
    assert (summary.root_service, summary.root_name) == ("orders", "POST /orders")
    assert (summary.span_count, summary.error_count) == (2, 1)
    assert summary.services == ("orders", "pricing")
    assert summary.duration_ns == 120_000_000


def test_trace_summary_without_root_says_not_yet_received(store: TelemetryStore) -> None:
    child = span_from_python(trace_id=tid(5), span_id=sid(2), parent_span_id=sid(1), name="x", start_ns=1, end_ns=2)
    store.write_spans(SpanBatch(OTHER, Scope(), [child]))
    store.flush()
    assert store.trace_summaries([tid(5)])[tid(5)].root_trace_name == "<root span not yet received>"


def test_search_traces_by_service_tag_duration_and_error(store: TelemetryStore) -> None:
    base = int(NOW * NS)
    write_trace(store, 1, base)
    write_trace(store, 2, base + NS)
    store.flush()
    found = store.search_traces(SpanQuery(service="orders", tags={"http.request.method": "POST"}))
    assert [t.trace_id for t in found] == [tid(2), tid(1)]
    assert store.search_traces(SpanQuery(service="orders", tags={"order.id": "8"})) == []
    assert len(store.search_traces(SpanQuery(service="orders", tags={"order.id": "7"}))) == 2
    assert store.search_traces(SpanQuery(min_duration_ns=200_000_000)) == []
    assert [t.trace_id for t in store.search_traces(SpanQuery(error=True), limit=1)] == [tid(2)]
    window = store.search_traces(SpanQuery(start_ns=base + NS // 2, end_ns=base + 2 * NS))
    assert [t.trace_id for t in window] == [tid(2)]


def test_services_operations_and_tag_catalog(store: TelemetryStore) -> None:
    write_trace(store, 1, int(NOW * NS))
    store.flush()
    assert store.services() == ["orders", "pricing"]
    assert store.operations("orders") == [("orders", "POST /orders", SpanKind.SERVER)]
    assert ("span", "order.id", "string") in store.span_tag_names("span")
    assert ("resource", "aws.ecs.task.family", "string") in store.span_tag_names()
    assert store.span_tag_values("http.response.status_code", "span") == [("500", "int")]
    assert store.span_tag_values("service.name", "resource") == [("orders", "string"), ("pricing", "string")]


def test_logs_by_stream_labels_time_and_line_filter(store: TelemetryStore) -> None:
    base = int(NOW * NS)
    records = [
        log_from_python(time_ns=base + i, body=f"order {i} created", severity_number=9, source="stdout")
        for i in range(5)
    ]
    records.append(log_from_python(time_ns=base + 10, body="DB down", severity_number=17, trace_id=tid(1)))
    store.write_logs(LogBatch(RESOURCE, Scope(), records))
    store.flush()
    everything = LogQuery([Matcher("service_name", "=", "orders")], base, base + NS)
    assert [r.record.body for r in store.read_logs(everything)][:2] == ["DB down", "order 4 created"]
    errors = LogQuery([Matcher("level", "=", "error")], base, base + NS)
    assert [r.record.body for r in store.read_logs(errors)] == ["DB down"]
    found = store.read_logs(LogQuery([Matcher("container", "=~", "w.b")], base, base + NS, contains=["der 3"]))
    assert [r.record.body for r in found] == ["order 3 created"]
    case = store.read_logs(LogQuery([Matcher("container", "=", "web")], base, base + NS, contains=["ORDER"]))
    assert case == []
    short = store.read_logs(LogQuery([Matcher("source", "=", "stdout")], base, base + NS, contains=["2"]))
    assert [r.record.body for r in short] == ["order 2 created"]
    forward = store.read_logs(
        LogQuery([Matcher("service_name", "!=", "")], base, base + 3, direction="forward", limit=2)
    )
    assert [r.record.body for r in forward] == ["order 0 created", "order 1 created"]
    assert store.read_logs(LogQuery([Matcher("service_name", "=", "orders")], base + NS, base + 2 * NS)) == []
    assert store.log_label_names() == ["container", "level", "service_name", "source", "task_family"]
    assert store.log_label_values("level") == ["error", "info"]
    assert store.log_label_values("source", [Matcher("level", "=", "error")]) == ["otlp"]


def test_log_detail_keeps_map_bodies_and_attributes(store: TelemetryStore) -> None:
    record = log_from_python(time_ns=5, body={"msg": "hi", "n": [1, 2.5]}, attributes={"k": b"\x00"})
    store.write_logs(LogBatch(RESOURCE, Scope(), [record]))
    store.flush()
    [stored] = store.read_logs(LogQuery([Matcher("service_name", "=", "orders")], 0, 10))
    assert stored.record.body == '{"msg":"hi","n":[1,2.5]}'
    assert decode_log_detail(stored.record.detail).body == {"msg": "hi", "n": [1, 2.5]}
    assert stored.detail().attributes == {"k": b"\x00"}


def samples(name: str, job: str, points: list[tuple[int, float]]) -> list[Sample]:
    labels = (("__name__", name), ("job", job))
    return [Sample(labels, ts, value) for ts, value in points]


def test_series_selection_by_every_matcher_and_range_reads(store: TelemetryStore) -> None:
    ms = int(NOW * 1000)
    batch = MetricBatch(
        RESOURCE,
        samples("http_requests_total", "orders", [(ms, 1.0), (ms + 15_000, 3.0)])
        + samples("http_requests_total", "pricing", [(ms, 7.0)])
        + samples("up", "orders", [(ms, 1.0)]),
        metadata=[MetricMetadata("http_requests_total", "counter", "Requests.", "")],
    )
    store.write_metrics(batch)
    store.flush()
    name = Matcher("__name__", "=", "http_requests_total")
    data = store.read_series([name, Matcher("job", "=", "orders")], ms, ms + 60_000)
    assert [(d.timestamps, d.values) for d in data] == [([ms, ms + 15_000], [1.0, 3.0])]
    assert len(store.read_series([name, Matcher("job", "!=", "orders")], ms, ms + 60_000)) == 1
    assert len(store.read_series([name, Matcher("job", "=~", "ord.*")], ms, ms + 60_000)) == 1
    assert len(store.read_series([name, Matcher("job", "!~", "ord.*")], ms, ms + 60_000)) == 1
    assert store.read_series([name], ms + 1, ms + 10_000) == []
    assert store.select_series([Matcher("job", "=", "orders")], ms, ms) == [
        (("__name__", "http_requests_total"), ("job", "orders")),
        (("__name__", "up"), ("job", "orders")),
    ]
    assert store.metric_label_names() == ["__name__", "job"]
    assert store.metric_label_values("__name__") == ["http_requests_total", "up"]
    assert store.metric_label_values("job", [Matcher("__name__", "=", "up")]) == ["orders"]
    assert store.metric_metadata() == [MetricMetadata("http_requests_total", "counter", "Requests.", "")]


def test_same_sample_twice_keeps_the_last_value(store: TelemetryStore) -> None:
    store.write_metrics(MetricBatch(RESOURCE, samples("g", "a", [(1000, 1.0)])))
    store.write_metrics(MetricBatch(RESOURCE, samples("g", "a", [(1000, 2.0)])))
    store.flush()
    [series] = store.read_series([Matcher("__name__", "=", "g")], 0, 2000)
    assert series.values == [2.0]


def test_data_survives_a_reopen(tmp_path: Path, clock: FakeClock) -> None:
    settings = StoreSettings(directory=tmp_path / "t", commit_interval=0.01)
    first = TelemetryStore(settings, clock)
    write_trace(first, 3, int(NOW * NS))
    first.close()
    second = TelemetryStore(settings, clock)
    try:
        assert [s.span.name for s in second.trace(tid(3))] == ["POST /orders", "GET /price"]
        write_trace(second, 4, int(NOW * NS))
        second.flush()
        assert len(second.trace(tid(4))) == 2
        assert second.segment_names(Signal.TRACES) == ["traces-2025-06-15.db"]
    finally:
        second.close()


def test_retention_removes_segments_older_than_the_signal_retention(tmp_path: Path, clock: FakeClock) -> None:
    store = TelemetryStore(StoreSettings(directory=tmp_path / "t", commit_interval=0.01), clock)
    try:
        write_trace(store, 1, int(NOW * NS))
        store.flush()
        clock.advance(86400)  # the next day: a new segment takes the writes
        write_trace(store, 2, int((NOW + 86400) * NS))
        store.flush()
        assert store.segment_names(Signal.TRACES) == ["traces-2025-06-15.db", "traces-2025-06-16.db"]
        clock.advance(3 * 86400 - 60)
        assert store.enforce_retention() == ["traces-2025-06-15.db"]
        assert store.trace(tid(1)) == []
        assert len(store.trace(tid(2))) == 2
        assert not (tmp_path / "t" / "traces-2025-06-15.db").exists()
    finally:
        store.close()


def test_size_cap_removes_oldest_segments_first(tmp_path: Path, clock: FakeClock) -> None:
    cap = 1024 * 1024
    store = TelemetryStore(StoreSettings(directory=tmp_path / "t", commit_interval=0.01, max_bytes=cap), clock)
    try:
        blob = os.urandom(2000).hex()
        for i in range(200):
            records = [log_from_python(time_ns=int(NOW * NS) + i * 100 + j, body=blob) for j in range(5)]
            store.write_logs(LogBatch(RESOURCE, Scope(), records))
            store.flush()
            clock.advance(1)
            if i % 20 == 19:
                store.enforce_retention()
        store.enforce_retention()
        assert store.size_bytes() <= cap * 1.5
        names = store.segment_names(Signal.LOGS)
        assert len(names) > 1 and not names[0].endswith("2025-06-15.db")
        newest = store.read_logs(
            LogQuery([Matcher("service_name", "=", "orders")], int(NOW * NS), int((NOW + 1000) * NS), limit=1)
        )
        assert newest[0].record.time_ns == int(NOW * NS) + 199 * 100 + 4
    finally:
        store.close()
