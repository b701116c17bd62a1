"""The export sink's three endpoints with real clients (spec/otel-demo.md §4.1 step 2; telemetry.md
§6.2–6.4): Loki pushes in JSON and in snappy protobuf as ecslite's Loki exporter encodes them, OTLP
from the OpenTelemetry SDK's HTTP exporters (gzip), remote write as ecslite's remote-write exporter
builds it. Each request is answered as the backend would answer it and counted; the sink runs on
its own event loop in this process, bound to 127.0.0.1 on free ports."""

from __future__ import annotations

import asyncio
import gzip
import logging
import socket
import threading
import time
from collections.abc import Iterator

import cramjam
import httpx
import orjson
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from ecslite.telemetry.export import protos
from ecslite.telemetry.export.loki import LokiEntry, LokiSender, push_request
from ecslite.telemetry.export.remote_write import RemoteWriteSender, write_request
from ecslite.telemetry.model import Sample
from ecslite.telemetry.sink import ExportSink, SinkPorts

pytestmark = [pytest.mark.integration]


class RunningSink:
    def __init__(self, sink: ExportSink, loop: asyncio.AbstractEventLoop) -> None:
        self.sink = sink
        self.loop = loop

    def url(self, kind: str, path: str) -> str:
        return f"http://127.0.0.1:{self.sink.bound[kind]}{path}"

    def totals(self) -> dict[str, dict[str, object]]:
        return dict(self.sink.stats()["totals"])


def run(loop: asyncio.AbstractEventLoop, coroutine: object) -> None:
    asyncio.run_coroutine_threadsafe(coroutine, loop).result(10)  # type: ignore[arg-type]


@pytest.fixture
def sink() -> Iterator[RunningSink]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    started = ExportSink(["127.0.0.1"], ports=SinkPorts(0, 0, 0))
    run(loop, started.start())
    try:
        yield RunningSink(started, loop)
    finally:
        run(loop, started.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def now_ns() -> int:
    return time.time_ns()


# -- Loki push on 3100 -------------------------------------------------------------------------------


def test_loki_json_push_is_accepted_and_counted(sink: RunningSink) -> None:
    body = orjson.dumps(
        {
            "streams": [
                {
                    "stream": {"job": "ecs-fargate", "container_name": "python-service", "cluster": ""},
                    "values": [[str(now_ns()), '{"log": "Creating order"}'], [str(now_ns()), "second"]],
                }
            ]
        }
    )
    response = httpx.post(
        sink.url("loki", "/loki/api/v1/push"), content=body, headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, response.content) == (204, b"")
    loki = sink.totals()["loki"]
    assert (loki["requests"], loki["records"], loki["bytes"], loki["errors"]) == (1, 2, len(body), 0)
    assert sink.sink.stats()["tasks"]["host"]["loki"]["records"] == 2


def test_loki_gzip_json_push_counts_the_bytes_sent(sink: RunningSink) -> None:
    raw = orjson.dumps({"streams": [{"stream": {"job": "a"}, "values": [[str(now_ns()), "x" * 1000]]}]})
    body = gzip.compress(raw)
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    response = httpx.post(sink.url("loki", "/loki/api/v1/push"), content=body, headers=headers)
    assert response.status_code == 204
    assert (sink.totals()["loki"]["records"], sink.totals()["loki"]["bytes"]) == (1, len(body))


def test_loki_snappy_protobuf_push_from_the_exporter_is_accepted(sink: RunningSink) -> None:
    labels = (("container", "python-service"), ("service_name", "orders"))
    entries = [
        LokiEntry(labels, now_ns() + i, f"line {i}", (("trace_id", "5b8efff798038103d269b633813fc60c"),))
        for i in range(3)
    ]
    body, headers = LokiSender("http://unused", format="protobuf").encode([push_request(entries)])
    assert headers["Content-Type"] == "application/x-protobuf"
    response = httpx.post(sink.url("loki", "/loki/api/v1/push"), content=body, headers=headers)
    assert response.status_code == 204
    assert sink.totals()["loki"]["records"] == 3


def test_loki_push_without_labels_is_refused_with_lokis_message(sink: RunningSink) -> None:
    body = orjson.dumps({"streams": [{"stream": {}, "values": [[str(now_ns()), "orphan"]]}]})
    response = httpx.post(
        sink.url("loki", "/loki/api/v1/push"), content=body, headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, response.text) == (400, "error at least one label pair is required per stream\n")
    loki = sink.totals()["loki"]
    assert (loki["records"], loki["rejected"], loki["errors"]) == (0, 1, 1)
    assert loki["lastError"] == "error at least one label pair is required per stream"


def test_loki_push_takes_valid_streams_and_refuses_a_too_long_line(sink: RunningSink) -> None:
    long_line = "x" * (256 * 1024 + 1)
    body = orjson.dumps(
        {
            "streams": [
                {"stream": {"job": "ok"}, "values": [[str(now_ns()), "fine"]]},
                {"stream": {"job": "big"}, "values": [[str(now_ns()), long_line]]},
            ]
        }
    )
    response = httpx.post(
        sink.url("loki", "/loki/api/v1/push"), content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.text == (
        "Max entry size '262144' bytes exceeded for stream '{job=\"big\"}' while adding an entry with length "
        "'262145' bytes\n"
    )
    assert (sink.totals()["loki"]["records"], sink.totals()["loki"]["rejected"]) == (1, 1)


def test_loki_protobuf_push_with_an_old_entry_is_refused(sink: RunningSink) -> None:
    request = protos.PushRequest()
    stream = request.streams.add(labels='{job="old"}')
    entry = stream.entries.add(line="ancient")
    entry.timestamp.seconds = 1_000_000_000  # 2001-09-09T01:46:40Z
    body = bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
    response = httpx.post(
        sink.url("loki", "/loki/api/v1/push"), content=body, headers={"Content-Type": "application/x-protobuf"}
    )
    assert response.status_code == 400
    assert response.text.startswith(
        "entry for stream '{job=\"old\"}' has timestamp too old: 2001-09-09T01:46:40Z, oldest acceptable timestamp is: "
    )


def test_loki_push_with_an_invalid_label_name_is_refused(sink: RunningSink) -> None:
    body = orjson.dumps({"streams": [{"stream": {"container-name": "a"}, "values": [[str(now_ns()), "x"]]}]})
    response = httpx.post(
        sink.url("loki", "/loki/api/v1/push"), content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert (
        response.text
        == "Error parsing labels '{container-name=\"a\"}' with error: invalid label name 'container-name'\n"
    )


def test_loki_push_with_a_corrupt_snappy_body_is_refused(sink: RunningSink) -> None:
    response = httpx.post(sink.url("loki", "/loki/api/v1/push"), content=b"\xff\xff\xff not snappy")
    assert response.status_code == 400 and response.text.startswith("snappy: corrupt input")
    assert sink.totals()["loki"]["errors"] == 1


def test_loki_push_with_an_unknown_encoding_is_refused(sink: RunningSink) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": "br"}
    response = httpx.post(sink.url("loki", "/loki/api/v1/push"), content=b"{}", headers=headers)
    assert (response.status_code, response.text) == (400, 'Content-Encoding "br" not supported\n')


def test_loki_ready_answers_ready_and_is_not_counted(sink: RunningSink) -> None:
    response = httpx.get(sink.url("loki", "/ready"))
    assert (response.status_code, response.text) == (200, "ready\n")
    assert sink.totals() == {}


# -- OTLP/HTTP on 4318 (Tempo) ---------------------------------------------------------------------


def test_sdk_span_exporter_with_gzip_is_accepted_and_counted(sink: RunningSink) -> None:
    exporter = OTLPSpanExporter(endpoint=sink.url("otlp", "/v1/traces"), compression=Compression.Gzip)
    provider = TracerProvider(resource=Resource.create({"service.name": "sink-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("sink-test")
    with tracer.start_as_current_span("parent"), tracer.start_as_current_span("child"):
        pass
    provider.shutdown()
    traces = sink.totals()["otlp/traces"]
    assert (traces["requests"], traces["records"], traces["errors"]) == (2, 2, 0)
    assert traces["lastStatus"] == 200


def test_sdk_metric_exporter_is_accepted_and_counts_data_points(sink: RunningSink) -> None:
    exporter = OTLPMetricExporter(endpoint=sink.url("otlp", "/v1/metrics"))
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "sink-test"}))
    counter = provider.get_meter("sink-test").create_counter("orders")
    counter.add(1, {"product": "Laptop"})
    counter.add(2, {"product": "Mouse"})
    provider.shutdown()  # collects and exports once
    metrics = sink.totals()["otlp/metrics"]
    assert (metrics["requests"], metrics["records"], metrics["errors"]) == (1, 2, 0)


def test_otlp_json_logs_are_answered_with_an_empty_json_response(sink: RunningSink) -> None:
    body = {
        "resourceLogs": [
            {"scopeLogs": [{"logRecords": [{"body": {"stringValue": "hi"}}, {"body": {"stringValue": "there"}}]}]}
        ]
    }
    response = httpx.post(sink.url("otlp", "/v1/logs"), json=body)
    assert (response.status_code, response.json(), response.headers["content-type"]) == (200, {}, "application/json")
    assert sink.totals()["otlp/logs"]["records"] == 2


def test_get_on_v1_traces_answers_405_like_tempo(sink: RunningSink) -> None:
    response = httpx.get(sink.url("otlp", "/v1/traces"))
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.text == "405 method not allowed, supported: [POST]"
    assert sink.totals() == {}


def test_otlp_with_an_unsupported_content_type_answers_415(sink: RunningSink) -> None:
    response = httpx.post(sink.url("otlp", "/v1/traces"), content=b"x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.text == "415 unsupported media type, supported: [application/json, application/x-protobuf]"
    assert sink.totals()["otlp/traces"]["errors"] == 1


def test_otlp_protobuf_with_a_short_trace_id_is_refused_with_a_status(sink: RunningSink) -> None:
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    request = trace_service_pb2.ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(name="bad")
    span.trace_id, span.span_id = b"\x01" * 8, b"\x02" * 8
    headers = {"Content-Type": "application/x-protobuf"}
    response = httpx.post(sink.url("otlp", "/v1/traces"), content=request.SerializeToString(), headers=headers)
    assert response.status_code == 400
    status = status_pb2.Status.FromString(response.content)
    assert (status.code, status.message) == (3, "unmarshal: invalid TraceID length")
    assert sink.totals()["otlp/traces"]["lastError"] == "unmarshal: invalid TraceID length"


def test_otlp_unknown_path_answers_404(sink: RunningSink) -> None:
    response = httpx.post(sink.url("otlp", "/"), content=b"", headers={"Content-Type": "application/x-protobuf"})
    assert (response.status_code, response.text) == (404, "404 page not found\n")


# -- remote write on 19291 (Thanos receive) --------------------------------------------------------


def remote_write(sink: RunningSink, samples: list[Sample]) -> httpx.Response:
    body, headers = RemoteWriteSender("http://unused").encode([write_request(samples)])
    return httpx.post(sink.url("remote_write", "/api/v1/receive"), content=body, headers=headers)


def test_remote_write_from_the_exporter_is_accepted_and_counted(sink: RunningSink) -> None:
    labels = (("__name__", "orders_total"), ("job", "ecs-fargate"))
    response = remote_write(sink, [Sample(labels, 1_000, 1.0), Sample(labels, 2_000, 2.0)])
    assert (response.status_code, response.content) == (200, b"")
    written = sink.totals()["remote_write"]
    assert (written["requests"], written["records"], written["errors"]) == (1, 2, 0)


def test_remote_write_of_an_older_sample_is_a_conflict(sink: RunningSink) -> None:
    labels = (("__name__", "orders_total"), ("job", "ecs-fargate"))
    assert remote_write(sink, [Sample(labels, 5_000, 5.0)]).status_code == 200
    again = remote_write(sink, [Sample(labels, 5_000, 5.0)])
    assert again.status_code == 200  # the same sample again is no conflict
    older = remote_write(sink, [Sample(labels, 4_000, 4.0)])
    assert (older.status_code, older.text) == (409, "add 1 samples: out of order sample\n")
    changed = remote_write(sink, [Sample(labels, 5_000, 6.0)])
    assert (changed.status_code, changed.text) == (409, "add 1 samples: duplicate sample for timestamp\n")
    assert sink.totals()["remote_write"]["errors"] == 2


def test_remote_write_with_unsorted_labels_is_a_conflict(sink: RunningSink) -> None:
    request = protos.WriteRequest()
    series = request.timeseries.add()
    series.labels.add(name="job", value="a")
    series.labels.add(name="__name__", value="up")
    series.samples.add(value=1.0, timestamp=1_000)
    body = bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
    response = httpx.post(sink.url("remote_write", "/api/v1/receive"), content=body)
    assert (response.status_code, response.text) == (409, "add 1 series: out of order labels\n")


def test_remote_write_with_a_framed_snappy_body_is_refused(sink: RunningSink) -> None:
    request = write_request([Sample((("__name__", "up"),), 1_000, 1.0)])
    framed = bytes(cramjam.snappy.compress(request))  # the stream format, which remote write does not use
    response = httpx.post(sink.url("remote_write", "/api/v1/receive"), content=framed)
    assert response.status_code == 400 and response.text.startswith("snappy decode error: ")


# -- binding -----------------------------------------------------------------------------------------


def test_a_taken_port_leaves_the_sink_off_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    sink = ExportSink(["127.0.0.1"], ports=SinkPorts(0, port, 0))
    try:
        with caplog.at_level(logging.WARNING, logger="ecslite.telemetry.sink.listener"):
            asyncio.run(sink.start())
        assert not sink.listening and sink.bound == {}
        assert sink.problem is not None and f"port {port} on 127.0.0.1 is not free" in sink.problem
        assert [r.getMessage() for r in caplog.records].count(
            "export sink off: tasks' Loki, Tempo and Thanos endpoints will not answer"
        ) == 1
        assert sink.stats()["listening"] is False
    finally:
        asyncio.run(sink.stop())
        holder.close()
