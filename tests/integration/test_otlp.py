"""OTLP receivers of a real server (spec/telemetry.md §1): the OpenTelemetry Python SDK over gRPC and
HTTP, hand-built JSON, gzip, partial success, malformed bodies and the status codes of §1.2/§1.4.
What arrives is read back through the telemetry store's files (the store's own read API)."""

from __future__ import annotations

import gzip
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
import httpx
import orjson
import pytest
from google.rpc import status_pb2
from opentelemetry import trace as trace_api
from opentelemetry._logs import LogRecord as ApiLogRecord
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource as SdkResource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from ecslite.telemetry.span_records import SpanKind
from ecslite.telemetry.store import LogQuery, Matcher, StoreSettings, TelemetryStore
from tests.conftest import RunningServer, start_server, stop_server
from tests.fixtures.ports import free_port

pytestmark = pytest.mark.integration
T = TypeVar("T")
PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def otlp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, int, int]]:
    grpc_port, http_port = free_port(), free_port()
    server = start_server(
        tmp_path_factory.mktemp("otlp"),
        "--otlp-grpc-port",
        str(grpc_port),
        "--otlp-http-port",
        str(http_port),
        ephemeral=False,
    )
    yield server, grpc_port, http_port
    stop_server(server)


@pytest.fixture
def grpc_port(otlp_server: tuple[RunningServer, int, int]) -> int:
    return otlp_server[1]


@pytest.fixture
def http_url(otlp_server: tuple[RunningServer, int, int]) -> str:
    return f"http://127.0.0.1:{otlp_server[2]}"


@pytest.fixture
def read(otlp_server: tuple[RunningServer, int, int]) -> Callable[[Callable[[TelemetryStore], T]], T]:
    """Wait for ``probe`` to return something truthy.

    §8.2 makes records readable within 2 s of acceptance; that figure is measured by
    ``benchmarks/otlp_ingest.py``. Here, beside a loaded test run, the wait is 10 s.
    """
    directory = otlp_server[0].data_dir / "telemetry"

    def wait(probe: Callable[[TelemetryStore], T]) -> T:
        deadline = time.monotonic() + 10.0
        while True:
            store = TelemetryStore(StoreSettings(directory=directory, read_only=True))
            try:
                found = probe(store)
            finally:
                store.close()
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    return wait


def sdk_resource(name: str) -> SdkResource:
    return SdkResource.create({"service.name": name, "deployment.environment": "test"})


def test_sdk_spans_over_grpc_are_readable_by_trace_id(grpc_port: int, read: Any) -> None:
    provider = TracerProvider(resource=sdk_resource("grpc-service"))
    provider.add_span_processor(SimpleSpanProcessor(GrpcSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True)))
    tracer = provider.get_tracer("tests", "1.0")
    with tracer.start_as_current_span("POST /orders", kind=trace_api.SpanKind.SERVER) as root:
        root.set_attribute("http.request.method", "POST")
        with tracer.start_as_current_span("SELECT orders") as child:
            child.set_attribute("db.system", "sqlite")
    provider.shutdown()
    trace_id = root.get_span_context().trace_id.to_bytes(16, "big")
    spans = read(lambda store: store.trace(trace_id))
    assert sorted(s.span.name for s in spans) == ["POST /orders", "SELECT orders"]
    by_name = {s.span.name: s for s in spans}
    assert by_name["POST /orders"].span.kind == SpanKind.SERVER
    assert by_name["SELECT orders"].span.parent_span_id == root.get_span_context().span_id.to_bytes(8, "big")
    assert by_name["POST /orders"].resource.attributes["deployment.environment"] == "test"
    assert by_name["POST /orders"].scope.name == "tests"
    assert by_name["SELECT orders"].detail().attributes == {"db.system": "sqlite"}


def test_sdk_spans_over_http_protobuf_with_gzip(http_url: str, read: Any) -> None:
    provider = TracerProvider(resource=sdk_resource("http-service"))
    exporter = HttpSpanExporter(endpoint=f"{http_url}/v1/traces", compression=Compression.Gzip)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("tests").start_as_current_span("GET /health") as span:
        span.add_event("checked", {"ok": True})
    provider.shutdown()
    trace_id = span.get_span_context().trace_id.to_bytes(16, "big")
    [stored] = read(lambda store: store.trace(trace_id))
    assert stored.resource.service_name == "http-service"
    assert [(e.name, e.attributes) for e in stored.detail().events] == [("checked", {"ok": True})]


def test_http_protobuf_is_also_served_on_the_grpc_port(grpc_port: int, read: Any) -> None:
    provider = TracerProvider(resource=sdk_resource("one-port"))
    exporter = HttpSpanExporter(endpoint=f"http://127.0.0.1:{grpc_port}/v1/traces")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("tests").start_as_current_span("both transports") as span:
        pass
    provider.shutdown()
    assert read(lambda store: store.trace(span.get_span_context().trace_id.to_bytes(16, "big")))


def test_sdk_logs_over_grpc_and_http_land_in_streams(grpc_port: int, http_url: str, read: Any) -> None:
    for name, exporter in (
        ("logs-grpc", GrpcLogExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True)),
        ("logs-http", HttpLogExporter(endpoint=f"{http_url}/v1/logs")),
    ):
        provider = LoggerProvider(resource=sdk_resource(name))
        provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
        provider.get_logger("tests").emit(
            ApiLogRecord(
                timestamp=time.time_ns(),
                body=f"stock low for item {name}",
                severity_number=SeverityNumber.WARN,
                severity_text="WARNING",
                attributes={"item": name},
            )
        )
        provider.shutdown()
    now = time.time_ns()
    for name in ("logs-grpc", "logs-http"):
        query = LogQuery([Matcher("service_name", "=", name)], now - 60 * 10**9, now + 10**9)
        [stored] = read(lambda store, q=query: store.read_logs(q))
        assert stored.record.body == f"stock low for item {name}"
        assert dict(stored.labels)["level"] == "warn"
        assert dict(stored.labels)["source"] == "otlp"
        assert stored.detail().attributes == {"item": name}


def test_sdk_metrics_over_http_become_prometheus_series(http_url: str, read: Any) -> None:
    reader = PeriodicExportingMetricReader(HttpMetricExporter(endpoint=f"{http_url}/v1/metrics"), 60_000)
    provider = MeterProvider(resource=sdk_resource("metrics-service"), metric_readers=[reader])
    meter = provider.get_meter("tests")
    meter.create_counter("orders.created", unit="{orders}").add(3, {"region": "eu"})
    meter.create_histogram("http.server.request.duration", unit="s").record(0.3, {"http.route": "/orders"})
    provider.shutdown()
    now = int(time.time() * 1000)
    counter = [Matcher("__name__", "=", "orders_created_total"), Matcher("job", "=", "metrics-service")]
    [series] = read(lambda store: store.read_series(counter, now - 60_000, now + 1000))
    assert dict(series.labels)["region"] == "eu" and series.values[-1] == 3.0
    buckets = [Matcher("__name__", "=", "http_server_request_duration_seconds_bucket"), Matcher("le", "=", "+Inf")]
    [inf] = read(lambda store: store.read_series(buckets, now - 60_000, now + 1000))
    assert dict(inf.labels)["http_route"] == "/orders" and inf.values[-1] == 1.0
    assert read(lambda store: store.metric_metadata("orders_created_total"))[0].type == "counter"


def json_trace(trace_id: str, span_id: str, **extra: Any) -> dict[str, Any]:
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "parentSpanId": "",
        "name": "POST /orders",
        "kind": "SPAN_KIND_SERVER",
        "startTimeUnixNano": str(time.time_ns()),
        "endTimeUnixNano": time.time_ns() + 123_000_000,
        "attributes": [{"key": "http.response.status_code", "value": {"intValue": "500"}}],
        "status": {"code": 2, "message": "pricing failed"},
        "someFutureField": {"x": 1},
        **extra,
    }
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "json-service"}}]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": "s"}, "spans": [span]}]}]}


def test_json_with_upper_case_hex_enum_names_and_unknown_fields(http_url: str, read: Any) -> None:
    body = json_trace("5B8EFFF798038103D269B633813FC60C", "EEE19B7EC3C1B174")
    response = httpx.post(f"{http_url}/v1/traces", content=orjson.dumps(body), headers=JSON)
    assert (response.status_code, response.json()) == (200, {})
    assert response.headers["content-type"] == "application/json"
    [stored] = read(lambda store: store.trace(bytes.fromhex("5b8efff798038103d269b633813fc60c")))
    assert (stored.span.kind, stored.span.status_code, stored.span.http_status) == (2, 2, 500)
    assert stored.span.status_message == "pricing failed"
    assert stored.span.duration_ns == 123_000_000 or stored.span.duration_ns > 0


def test_partial_success_reports_rejected_spans_in_json_and_protobuf(http_url: str) -> None:
    body = json_trace("00000000000000000000000000000000", "eee19b7ec3c1b174")
    response = httpx.post(f"{http_url}/v1/traces", content=orjson.dumps(body), headers=JSON)
    assert response.status_code == 200
    assert response.json() == {
        "partialSuccess": {
            "rejectedSpans": "1",
            "errorMessage": "1 rejected: invalid trace id (16 bytes, not all zero)",
        }
    }
    request = trace_service_pb2.ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add()
    spans.spans.add(trace_id=b"\x01" * 16, span_id=b"\x01" * 8, start_time_unix_nano=10, end_time_unix_nano=5)
    response = httpx.post(f"{http_url}/v1/traces", content=request.SerializeToString(), headers=PROTOBUF)
    answer = trace_service_pb2.ExportTraceServiceResponse.FromString(response.content)
    assert (response.status_code, answer.partial_success.rejected_spans) == (200, 1)
    assert answer.partial_success.error_message == "1 rejected: end time before start time"


def test_empty_request_is_a_success(http_url: str) -> None:
    response = httpx.post(f"{http_url}/v1/logs", content=b"", headers=PROTOBUF)
    assert (response.status_code, response.content) == (200, b"")


def test_malformed_bodies_get_400_with_a_status_in_the_request_encoding(http_url: str) -> None:
    response = httpx.post(f"{http_url}/v1/traces", content=b"\xff\xff\xff", headers=PROTOBUF)
    status = status_pb2.Status.FromString(response.content)
    assert (response.status_code, status.code) == (400, 3)
    assert status.message.startswith("invalid protobuf")
    response = httpx.post(f"{http_url}/v1/metrics", content=b"{not json", headers=JSON)
    assert response.status_code == 400
    assert response.json()["code"] == 3 and response.json()["message"].startswith("invalid JSON")
    response = httpx.post(f"{http_url}/v1/logs", content=b"x", headers={**PROTOBUF, "Content-Encoding": "gzip"})
    assert response.status_code == 400


def test_wrong_method_path_type_and_encoding_get_their_codes(http_url: str) -> None:
    response = httpx.get(f"{http_url}/v1/traces")
    assert (response.status_code, response.headers["allow"]) == (405, "POST")
    response = httpx.post(f"{http_url}/", content=b"", headers=PROTOBUF)
    assert response.status_code == 404
    assert "/v1/traces, /v1/metrics and /v1/logs" in status_pb2.Status.FromString(response.content).message
    assert httpx.post(f"{http_url}/v1development/profiles", content=b"", headers=PROTOBUF).status_code == 404
    assert httpx.post(f"{http_url}/v1/traces", content=b"", headers={"Content-Type": "text/plain"}).status_code == 415
    response = httpx.post(f"{http_url}/v1/traces", content=b"", headers={**PROTOBUF, "Content-Encoding": "br"})
    assert response.status_code == 400
    response = httpx.options(f"{http_url}/v1/traces")
    assert (response.status_code, response.headers["access-control-allow-origin"]) == (204, "*")


def test_body_over_64_mib_after_decompression_gets_413(http_url: str) -> None:
    bomb = gzip.compress(b"\x00" * (70 * 1024 * 1024), compresslevel=1)
    response = httpx.post(
        f"{http_url}/v1/traces", content=bomb, headers={**PROTOBUF, "Content-Encoding": "gzip"}, timeout=30
    )
    assert response.status_code == 413
    assert status_pb2.Status.FromString(response.content).message == (
        "request body larger than 64 MiB after decompression"
    )


def test_grpc_codes_for_garbage_and_unimplemented_methods(grpc_port: int) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as raised:
            export(b"\xff\xff\xff", timeout=5)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        profiles = channel.unary_unary("/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export")
        with pytest.raises(grpc.RpcError) as raised:
            profiles(b"", timeout=5)
        assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_busy_port_stops_the_server_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        with pytest.raises(RuntimeError) as raised:
            start_server(tmp_path, "--otlp-http-port", str(port), timeout=20)
    message = " ".join(str(raised.value).split())
    assert f"Cannot listen for OTLP/HTTP on 127.0.0.1:{port}: Address already in use." in message
    assert "pass --otlp-http-port with another port, or --otlp-http-port 0 to turn this receiver off" in message


def span_batch(trace_id: bytes, count: int) -> bytes:
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    kv = resource_spans.resource.attributes.add(key="service.name")
    kv.value.string_value = "flood"
    spans = resource_spans.scope_spans.add()
    now = time.time_ns()
    for i in range(count):
        spans.spans.add(
            trace_id=trace_id,
            span_id=(i + 1).to_bytes(8, "big"),
            name=f"op {i % 7}",
            start_time_unix_nano=now,
            end_time_unix_nano=now + 1000,
        )
    return request.SerializeToString()


def test_overload_pushes_back_and_stores_every_accepted_span(tmp_path: Path) -> None:
    import concurrent.futures

    http_port = free_port()
    server = start_server(
        tmp_path, "--otlp-http-port", str(http_port), "--telemetry-max-pending", "1024", ephemeral=False
    )
    try:
        url = f"http://127.0.0.1:{http_port}/v1/traces"

        def sender(worker: int) -> list[tuple[bytes, int, str | None]]:
            results = []
            with httpx.Client(timeout=30) as client:
                for n in range(25):
                    trace_id = (worker * 1000 + n + 1).to_bytes(16, "big")
                    response = client.post(url, content=span_batch(trace_id, 512), headers=PROTOBUF)
                    results.append((trace_id, response.status_code, response.headers.get("retry-after")))
            return results

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = [r for batch in pool.map(sender, range(8)) for r in batch]
        statuses = [status for _, status, _ in results]
        assert set(statuses) == {200, 503}, "a sender faster than the store gets push-back"
        assert {retry for _, status, retry in results if status == 503} == {"1"}
        stats = httpx.get(f"{server.endpoint}/_ecslite/telemetry/stats").json()
        assert stats["pipeline"]["refused"] == {"otlp_http/traces": statuses.count(503)}
        rss_kib = int(
            next(
                line for line in Path(f"/proc/{server.pid}/status").read_text().splitlines() if line.startswith("VmRSS")
            ).split()[1]
        )
        assert rss_kib < 1024 * 1024, "memory stays bounded"
        deadline = time.monotonic() + 5
        while httpx.get(f"{server.endpoint}/_ecslite/telemetry/stats").json()["pipeline"]["pending"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        store = TelemetryStore(StoreSettings(directory=tmp_path / "telemetry", read_only=True))
        try:
            for trace_id, status, _ in results:
                assert len(store.trace(trace_id)) == (512 if status == 200 else 0)
        finally:
            store.close()
    finally:
        stop_server(server)
