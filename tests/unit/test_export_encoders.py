"""Exporters against in-process fake receivers: what goes over the wire (§6.2–§6.4)."""

from __future__ import annotations

import asyncio
import gzip
import math
import struct
import threading
from collections.abc import Iterator
from typing import Any

import cramjam
import orjson
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from ecslite.protocol.errors import AwsError
from ecslite.telemetry.attributes import DETAIL_OTLP
from ecslite.telemetry.export import (
    CloudWatchLogsExporter,
    LokiEntry,
    LokiExporter,
    OtlpHttpExporter,
    QueueSettings,
    RemoteWriteExporter,
    RetryPolicy,
    cloudwatch_logs,
    loki,
    protos,
    remote_write,
)
from ecslite.telemetry.log_records import LogBatch, log_from_python
from ecslite.telemetry.model import STALE_NAN_BITS, MetricBatch, MetricMetadata, Resource, Sample, Scope
from ecslite.telemetry.span_records import SpanBatch, span_from_python
from tests.fixtures.http_sink import HttpSink

FAST = QueueSettings(flush_interval=0.02, policy=RetryPolicy(base=0.01, cap=0.05))
TASK = {
    "service.name": "orders",
    "aws.ecs.cluster.arn": "arn:aws:ecs:us-east-1:000000000000:cluster/demo",
    "aws.ecs.task.family": "shop",
    "aws.ecs.task.id": "0123456789abcdef0123456789abcdef",
    "container.name": "orders-api",
}
STALE = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    with HttpSink() as running:
        yield running


# -- snappy ---------------------------------------------------------------------------------------


def test_snappy_block_format_matches_a_known_vector() -> None:
    # Block format: a varint of the length, then a literal; the framed format would start with a
    # stream identifier chunk (0xff 06 00 00 "sNaPpY") that remote write receivers refuse.
    assert bytes(cramjam.snappy.compress_raw(b"hello")) == b"\x05\x10hello"


# -- remote write --------------------------------------------------------------------------------


def test_remote_write_sends_a_snappy_block_with_sorted_labels_and_its_headers(sink: HttpSink) -> None:
    out = RemoteWriteExporter(sink.url("/api/v1/write"), extra_labels={"job": "ecs-fargate"}, settings=FAST)
    out.start()
    samples = [
        Sample((("__name__", "http_requests_total"), ("zone", "a"), ("method", "GET")), 2000, 2.0),
        Sample((("__name__", "http_requests_total"), ("zone", "a"), ("method", "GET")), 1000, 1.0),
        Sample((("__name__", "queue.depth"), ("9lives", "x"), ("empty", ""), ("__meta", "y")), 1000, 7.0),
    ]
    out.export_metrics(MetricBatch(Resource(TASK), samples, [MetricMetadata("http_requests_total", "counter")]))
    assert out.flush(5)
    out.close()
    (request,) = sink.requests
    assert request.path == "/api/v1/write"
    assert request.headers["content-encoding"] == "snappy"
    assert request.headers["content-type"] == "application/x-protobuf"
    assert request.headers["x-prometheus-remote-write-version"] == "0.1.0"
    assert request.headers["user-agent"].startswith("ecslite/")
    assert not request.body.startswith(b"\xff\x06\x00\x00sNaPpY")
    decoded = remote_write.decode(request.body)
    assert decoded == {
        (("__name__", "http_requests_total"), ("job", "ecs-fargate"), ("method", "GET"), ("zone", "a")): [
            (1000, 1.0),
            (2000, 2.0),
        ],
        # Sorted bytewise, as Prometheus sorts: "_9" before "__".
        (("_9lives", "x"), ("__name__", "queue_depth"), ("job", "ecs-fargate")): [(1000, 7.0)],
    }
    for labels in decoded:
        names = [name for name, _ in labels]
        assert names == sorted(names) and len(set(names)) == len(names)
    raw = protos.WriteRequest.FromString(bytes(cramjam.snappy.decompress_raw(request.body)))
    assert [(m.metric_family_name, m.type) for m in raw.metadata] == [("http_requests_total", 1)]


def test_remote_write_merges_one_series_across_queued_batches_in_time_order(sink: HttpSink) -> None:
    out = RemoteWriteExporter(sink.url(), settings=QueueSettings(flush_interval=0.3))
    labels = (("__name__", "cpu"), ("task_id", "t1"))
    out.submit([Sample(labels, 3000, 3.0)])
    out.submit([Sample(labels, 1000, 1.0), Sample(labels, 2000, 2.0)])
    out.submit([Sample(labels, 2000, 2.5)])  # the same millisecond again: the last one queued wins
    out.start()
    assert out.flush(5)
    out.close()
    (request,) = sink.requests
    assert remote_write.decode(request.body) == {labels: [(1000, 1.0), (2000, 2.5), (3000, 3.0)]}


def test_remote_write_keeps_the_staleness_marker_bits(sink: HttpSink) -> None:
    out = RemoteWriteExporter(sink.url(), settings=FAST)
    out.start()
    out.submit([Sample((("__name__", "up"),), 1000, STALE)])
    assert out.flush(5)
    out.close()
    ((_, [(_, value)]),) = remote_write.decode(sink.requests[0].body).items()
    assert math.isnan(value) and struct.unpack("<Q", struct.pack("<d", value))[0] == STALE_NAN_BITS


def test_remote_write_leaves_out_series_without_a_name() -> None:
    body = remote_write.write_request([Sample((("job", "x"),), 1, 1.0), Sample((("__name__", ""),), 1, 1.0)])
    assert protos.WriteRequest.FromString(body).timeseries == []


def test_remote_write_is_not_retried_on_a_400(sink: HttpSink) -> None:
    sink.script(400)
    out = RemoteWriteExporter(sink.url(), settings=FAST)
    out.start()
    out.submit([Sample((("__name__", "x"),), 1, 1.0)])
    assert out.flush(5)
    out.close()
    assert len(sink.requests) == 1
    assert out.stats()[0].errors == 1


# -- Loki ----------------------------------------------------------------------------------------


def log_batch() -> LogBatch:
    records = [
        log_from_python(
            time_ns=1_732_430_000_123_456_789,
            body="Order 7 created",
            severity_number=9,
            trace_id=bytes.fromhex("5b8efff798038103d269b633813fc60c"),
            span_id=bytes.fromhex("0011223344556677"),
            source="stdout",
        ),
        log_from_python(time_ns=1_732_430_000_000_000_000, body={"msg": "boom", "code": 500}, severity_number=17),
    ]
    return LogBatch(Resource(TASK), Scope(), records)


def test_loki_json_push_has_section_2_3_labels_and_structured_metadata(sink: HttpSink) -> None:
    out = LokiExporter(sink.url("/loki/api/v1/push"), format="json", tenant_id="team-a", settings=FAST)
    out.start()
    out.export_logs(log_batch())
    assert out.flush(5)
    out.close()
    (request,) = sink.requests
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-scope-orgid"] == "team-a"
    streams = {tuple(s["stream"].items()): s["values"] for s in orjson.loads(request.body)["streams"]}
    common = {"cluster": "demo", "container": "orders-api", "service_name": "orders", "task_family": "shop"}
    info = tuple(sorted({**common, "level": "info", "source": "stdout"}.items()))
    error = tuple(sorted({**common, "level": "error", "source": "otlp"}.items()))
    assert streams[info] == [
        [
            "1732430000123456789",
            "Order 7 created",
            {
                "trace_id": "5b8efff798038103d269b633813fc60c",
                "span_id": "0011223344556677",
                "task_id": "0123456789abcdef0123456789abcdef",
            },
        ]
    ]
    assert streams[error] == [
        ["1732430000000000000", '{"msg":"boom","code":500}', {"task_id": "0123456789abcdef0123456789abcdef"}]
    ]


def test_loki_protobuf_push_is_a_snappy_block_of_a_push_request(sink: HttpSink) -> None:
    out = LokiExporter(sink.url("/loki/api/v1/push"), settings=FAST)
    out.start()
    labels = (("job", "fluent-bit"), ("path", 'C:\\logs\\"a"'))
    out.submit([LokiEntry(labels, 2_000_000_123, "second"), LokiEntry(labels, 1_000_000_000, "first", (("k", "v"),))])
    assert out.flush(5)
    out.close()
    (request,) = sink.requests
    assert request.headers["content-type"] == "application/x-protobuf"
    raw = protos.PushRequest.FromString(bytes(cramjam.snappy.decompress_raw(request.body)))
    (stream,) = raw.streams
    assert stream.labels == '{job="fluent-bit", path="C:\\\\logs\\\\\\"a\\""}'
    assert [(e.timestamp.seconds, e.timestamp.nanos, e.line) for e in stream.entries] == [
        (1, 0, "first"),
        (2, 123, "second"),
    ]
    assert [(p.name, p.value) for p in stream.entries[0].structuredMetadata] == [("k", "v")]
    assert loki.decode_push(request.body, "application/x-protobuf") == [
        LokiEntry(labels, 1_000_000_000, "first", (("k", "v"),)),
        LokiEntry(labels, 2_000_000_123, "second"),
    ]


def test_loki_labels_are_sanitized_and_empty_ones_dropped() -> None:
    assert loki.clean_labels({"service.name": "a", "9x": "b", "empty": ""}) == (("_9x", "b"), ("service_name", "a"))


def test_loki_push_decoding_reads_gzip_json_and_refuses_bad_bodies() -> None:
    body = gzip.compress(orjson.dumps({"streams": [{"stream": {"a": "b"}, "values": [["5", "x"]]}]}))
    assert loki.decode_push(body, "application/json", "gzip") == [LokiEntry((("a", "b"),), 5, "x")]
    with pytest.raises(loki.BadPush, match="invalid label name '1a'"):
        loki.decode_push(orjson.dumps({"streams": [{"stream": {"1a": "b"}, "values": []}]}))
    with pytest.raises(loki.BadPush, match="invalid push body"):
        loki.decode_push(b"\x00garbage", "application/x-protobuf")


# -- OTLP ----------------------------------------------------------------------------------------


def test_otlp_traces_leave_as_they_came_with_the_resource(sink: HttpSink) -> None:
    original = trace_pb2.Span(
        trace_id=bytes(range(16)),
        span_id=bytes(range(1, 9)),
        name="GET /orders",
        kind=2,
        start_time_unix_nano=10,
        end_time_unix_nano=20,
    )
    original.attributes.add(key="http.route").value.string_value = "/orders"
    received = span_from_python(
        trace_id=original.trace_id, span_id=original.span_id, name=original.name, start_ns=10, end_ns=20
    )._replace(detail=bytes([DETAIL_OTLP]) + original.SerializeToString())
    built = span_from_python(
        trace_id=bytes(range(16)),
        span_id=bytes(range(2, 10)),
        parent_span_id=bytes(range(1, 9)),
        name="db",
        start_ns=12,
        end_ns=18,
        kind=3,
        attributes={"db.system": "sqlite"},
    )
    out = OtlpHttpExporter(sink.url(), signals=["traces"], settings=FAST)
    out.start()
    out.export_spans(SpanBatch(Resource(TASK), Scope("tracer", "1.0"), [received, built]))
    out.export_logs(log_batch())  # not a signal this exporter carries
    assert out.flush(5)
    out.close()
    (request,) = sink.requests
    assert request.path == "/v1/traces"
    assert request.headers["content-encoding"] == "gzip"
    message = trace_service_pb2.ExportTraceServiceRequest.FromString(gzip.decompress(request.body))
    (resource_spans,) = message.resource_spans
    attrs = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
    assert attrs["aws.ecs.task.family"] == "shop"
    (scope_spans,) = resource_spans.scope_spans
    assert (scope_spans.scope.name, scope_spans.scope.version) == ("tracer", "1.0")
    first, second = scope_spans.spans
    assert first == original
    assert (second.name, second.kind, second.parent_span_id) == ("db", 3, bytes(range(1, 9)))
    assert {kv.key: kv.value.string_value for kv in second.attributes} == {"db.system": "sqlite"}


def test_otlp_logs_and_metrics_go_to_their_own_paths(sink: HttpSink) -> None:
    out = OtlpHttpExporter(sink.url(), settings=FAST, compress=False)
    out.start()
    out.export_logs(log_batch())
    counter = (("__name__", "orders_total"), ("method", "POST"))
    out.export_metrics(
        MetricBatch(
            Resource(TASK),
            [Sample(counter, 1000, 3.0), Sample((("__name__", "temp"),), 1000, 21.5)],
            [MetricMetadata("orders_total", "counter"), MetricMetadata("temp", "gauge")],
        )
    )
    assert out.flush(5)
    out.close()
    by_path = {r.path: r for r in sink.requests}
    logs = logs_service_pb2.ExportLogsServiceRequest.FromString(by_path["/v1/logs"].body)
    records = logs.resource_logs[0].scope_logs[0].log_records
    assert records[0].body.string_value == "Order 7 created"
    assert {kv.key: kv.value.string_value for kv in records[0].attributes}["log.iostream"] == "stdout"
    assert records[1].body.kvlist_value.values[0].key == "msg"
    metrics = metrics_service_pb2.ExportMetricsServiceRequest.FromString(by_path["/v1/metrics"].body)
    families = {m.name: m for m in metrics.resource_metrics[0].scope_metrics[0].metrics}
    assert families["orders_total"].sum.is_monotonic
    assert families["orders_total"].sum.data_points[0].as_double == 3.0
    assert families["orders_total"].sum.data_points[0].attributes[0].key == "method"
    assert families["temp"].gauge.data_points[0].time_unix_nano == 1_000_000_000


# -- CloudWatch Logs -----------------------------------------------------------------------------


def test_cloudwatch_chunks_keep_put_log_events_limits() -> None:
    events = [(i, "x" * 100) for i in range(25_000)]
    parts = cloudwatch_logs.chunks(list(reversed(events)))
    assert [len(p) for p in parts] == [8322, 8322, 8322, 34]  # 1,048,576 bytes at 126 bytes each
    assert all(p == sorted(p) for p in parts)
    day = 24 * 3600 * 1000
    assert [len(p) for p in cloudwatch_logs.chunks([(0, "a"), (day, "b"), (day + 1, "c")])] == [2, 1]
    (big,) = cloudwatch_logs.chunks([(0, "é" * 200_000)])
    assert len(big[0][1].encode()) <= 262_144 - 26


class FakeLogs:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, list[tuple[int, str]], bool]] = []
        self.missing: set[str] = set()

    async def append(
        self, account: str, region: str, group: str, stream: str, events: list[tuple[int, str]], create: bool = False
    ) -> Any:
        if group in self.missing:
            raise AwsError("ResourceNotFoundException", "The specified log group does not exist.")
        self.calls.append((group, stream, events, create))


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    running = asyncio.new_event_loop()
    thread = threading.Thread(target=running.run_forever, daemon=True)
    thread.start()
    yield running
    running.call_soon_threadsafe(running.stop)
    thread.join(5)
    running.close()


def test_cloudwatch_exporter_appends_through_the_logs_api(loop: asyncio.AbstractEventLoop) -> None:
    logs = FakeLogs()
    out = CloudWatchLogsExporter(
        logs, loop, account="000000000000", region="us-east-1", group="/ecs/app", settings=FAST
    )
    out.start()
    out.export_logs(log_batch())
    out.submit("/ecs/other", "web/web/abc", [(5, "b"), (1, "a")])
    assert out.flush(5)
    out.close()
    assert logs.calls == [
        (
            "/ecs/app",
            "ecslite/orders-api/0123456789abcdef0123456789abcdef",
            [(1_732_430_000_000, '{"msg":"boom","code":500}'), (1_732_430_000_123, "Order 7 created")],
            True,
        ),
        ("/ecs/other", "web/web/abc", [(1, "a"), (5, "b")], True),
    ]


def test_cloudwatch_exporter_counts_a_missing_group_as_an_error(loop: asyncio.AbstractEventLoop) -> None:
    logs = FakeLogs()
    logs.missing.add("/gone")
    out = CloudWatchLogsExporter(
        logs, loop, account="1", region="us-east-1", group="/gone", create_group=False, settings=FAST
    )
    out.start()
    out.submit("/gone", "s", [(1, "a")])
    assert out.flush(5)
    out.close()
    stats = out.stats()[0]
    assert stats.errors == 1 and "ResourceNotFoundException" in stats.last_error
