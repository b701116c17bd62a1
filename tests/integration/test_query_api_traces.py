"""The Tempo and Jaeger query APIs and the span-derived metrics of a real server fed through its
OTLP receivers by the OpenTelemetry SDK (spec/telemetry.md §7.3, §7.4, §9.2, §9.3).

One trace crosses two services: ``frontend`` (SERVER ``POST /orders``, failing with an exception
event, and its CLIENT ``GET /price``) and ``pricing`` (SERVER ``GET /price`` and a CLIENT
``SELECT prices`` to SQLite). A second, fast trace has only ``frontend``'s ``GET /health``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.resources import Resource as SdkResource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from tests.conftest import start_server, stop_server
from tests.fixtures.ports import free_port

pytestmark = pytest.mark.integration
T = TypeVar("T")


def eventually(probe: Callable[[], T], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@dataclass
class Fed:
    url: str
    trace_id: str
    health_trace_id: str
    root_span_id: str
    client_span_id: str
    start_s: float


def provider(name: str, endpoint: str) -> TracerProvider:
    tracer_provider = TracerProvider(resource=SdkResource.create({"service.name": name, "team": "shop"}))
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    return tracer_provider


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fed]:
    http_port = free_port()
    server = start_server(tmp_path_factory.mktemp("traces"), "--otlp-http-port", str(http_port))
    endpoint = f"http://127.0.0.1:{http_port}"
    start_s = time.time()
    try:
        frontend, pricing = provider("frontend", endpoint), provider("pricing", endpoint)
        tracer, pricing_tracer = frontend.get_tracer("shop.web", "1.0"), pricing.get_tracer("shop.pricing")
        with tracer.start_as_current_span("POST /orders", kind=trace_api.SpanKind.SERVER) as root:
            root.set_attribute("http.request.method", "POST")
            root.set_attribute("http.response.status_code", 500)
            root.add_event("exception", {"exception.type": "ValueError", "exception.message": "no price"})
            with tracer.start_as_current_span("GET /price", kind=trace_api.SpanKind.CLIENT) as client:
                client.set_attribute("http.request.method", "GET")
                with pricing_tracer.start_as_current_span("GET /price", kind=trace_api.SpanKind.SERVER) as server_span:
                    server_span.set_attribute("http.request.method", "GET")
                    time.sleep(0.01)
                    with pricing_tracer.start_as_current_span("SELECT prices", kind=trace_api.SpanKind.CLIENT) as db:
                        db.set_attribute("db.system", "sqlite")
            root.set_status(Status(StatusCode.ERROR, "pricing failed"))
        with tracer.start_as_current_span("GET /health", kind=trace_api.SpanKind.SERVER) as health:
            health.set_attribute("http.request.method", "GET")
        frontend.shutdown()
        pricing.shutdown()
        fed = Fed(
            server.endpoint,
            f"{root.get_span_context().trace_id:032x}",
            f"{health.get_span_context().trace_id:032x}",
            f"{root.get_span_context().span_id:016x}",
            f"{client.get_span_context().span_id:016x}",
            start_s,
        )
        found = eventually(lambda: httpx.get(f"{fed.url}/tempo/api/traces/{fed.health_trace_id}").status_code == 200)
        assert found, "the spans did not become readable"
        yield fed
    finally:
        stop_server(server)


def get(fed: Fed, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{fed.url}{path}", params=params, timeout=30)


# -- Tempo -----------------------------------------------------------------------------------------


def test_tempo_trace_by_id_groups_spans_by_resource_and_scope(fed: Fed) -> None:
    response = get(fed, f"/tempo/api/traces/{fed.trace_id}")
    assert response.status_code == 200
    batches = response.json()["batches"]
    services = {
        attr["value"]["stringValue"]
        for batch in batches
        for attr in batch["resource"]["attributes"]
        if attr["key"] == "service.name"
    }
    assert services == {"frontend", "pricing"}
    names = sorted(span["name"] for batch in batches for scope in batch["scopeSpans"] for span in scope["spans"])
    assert names == ["GET /price", "GET /price", "POST /orders", "SELECT prices"]
    scopes = {scope["scope"]["name"] for batch in batches for scope in batch["scopeSpans"]}
    assert scopes == {"shop.web", "shop.pricing"}


def test_tempo_trace_by_id_as_protobuf_is_otlp_traces_data(fed: Fed) -> None:
    response = httpx.get(
        f"{fed.url}/tempo/api/traces/{fed.trace_id}", headers={"Accept": "application/protobuf"}, timeout=30
    )
    assert response.headers["content-type"].startswith("application/protobuf")
    data = trace_pb2.TracesData.FromString(response.content)
    spans = [span for rs in data.resource_spans for ss in rs.scope_spans for span in ss.spans]
    assert {span.trace_id.hex() for span in spans} == {fed.trace_id}
    root = next(span for span in spans if span.name == "POST /orders")
    assert root.span_id.hex() == fed.root_span_id
    assert root.status.code == trace_pb2.Status.STATUS_CODE_ERROR
    assert root.events[0].name == "exception"


def test_tempo_v2_trace_by_id(fed: Fed) -> None:
    body = get(fed, f"/tempo/api/v2/traces/{fed.trace_id}").json()
    assert body["status"] == "COMPLETE"
    assert len(body["trace"]["resourceSpans"]) == 2


def test_tempo_unknown_and_invalid_trace_ids(fed: Fed) -> None:
    unknown = get(fed, "/tempo/api/traces/abc123")
    assert unknown.status_code == 404
    assert unknown.text == "trace not found"
    invalid = get(fed, "/tempo/api/traces/not-a-trace")
    assert invalid.status_code == 400
    assert "invalid trace id" in invalid.text


def test_tempo_search_by_traceql(fed: Fed) -> None:
    body = get(fed, "/tempo/api/search", q='{ resource.service.name = "pricing" && name = "GET /price" }').json()
    assert [t["traceID"] for t in body["traces"]] == [fed.trace_id]
    found = body["traces"][0]
    assert found["rootServiceName"] == "frontend"
    assert found["rootTraceName"] == "POST /orders"
    assert found["spanSet"]["matched"] == 1
    assert found["spanSet"]["spans"][0]["attributes"] == [{"key": "service.name", "value": {"stringValue": "pricing"}}]
    assert int(found["startTimeUnixNano"]) >= int(fed.start_s * 1e9)


@pytest.mark.parametrize(
    ("query", "expect_main", "expect_health"),
    [
        ("{ status = error }", True, False),
        ("{ .http.response.status_code >= 500 }", True, False),
        ('{ span.http.request.method = "GET" && kind = server }', True, True),
        ('{ name =~ "GET /.*" && resource.team = "shop" }', True, True),
        ('{ .db.system = "sqlite" } && { rootServiceName = "frontend" }', True, False),
        ('{ name = "GET /health" } || { name = "nothing" }', False, True),
        ("{ duration > 5ms && kind = server }", True, False),
        ('{ .missing != "x" }', False, False),
        ("{ .db.system != nil }", True, False),
        ('{ .http.request.method = "GET" && .db.system = nil && kind = server }', True, True),
        ("{ }", True, True),
    ],
)
def test_tempo_traceql_conditions(fed: Fed, query: str, expect_main: bool, expect_health: bool) -> None:
    found = {t["traceID"] for t in get(fed, "/tempo/api/search", q=query).json()["traces"]}
    assert (fed.trace_id in found, fed.health_trace_id in found) == (expect_main, expect_health)


def test_tempo_search_by_logfmt_tags_and_duration(fed: Fed) -> None:
    found = get(fed, "/tempo/api/search", tags='service.name=PRIC name="GET /price"').json()["traces"]
    assert [t["traceID"] for t in found] == [fed.trace_id]
    slow_only = get(fed, "/tempo/api/search", tags="service.name=frontend", minDuration="5ms").json()["traces"]
    assert [t["traceID"] for t in slow_only] == [fed.trace_id]
    limited = get(fed, "/tempo/api/search", q="{}", limit="1").json()["traces"]
    assert len(limited) == 1


def test_tempo_search_rejects_bad_queries(fed: Fed) -> None:
    assert get(fed, "/tempo/api/search", q="{ name = }").status_code == 400
    pipeline = get(fed, "/tempo/api/search", q="{ } | count() > 1")
    assert pipeline.status_code == 400
    assert "unsupported" in pipeline.text
    assert get(fed, "/tempo/api/search", q="{}", minDuration="soon").status_code == 400


def test_tempo_tags_and_values(fed: Fed) -> None:
    names = get(fed, "/tempo/api/search/tags").json()["tagNames"]
    assert {"service.name", "team", "http.request.method", "db.system"} <= set(names)
    scopes = {s["name"]: s["tags"] for s in get(fed, "/tempo/api/v2/search/tags").json()["scopes"]}
    assert "service.name" in scopes["resource"]
    assert "http.request.method" in scopes["span"]
    assert {"duration", "name", "status", "rootServiceName"} <= set(scopes["intrinsic"])
    values = get(fed, "/tempo/api/search/tag/service.name/values").json()["tagValues"]
    assert values == ["frontend", "pricing"]
    typed = get(fed, "/tempo/api/v2/search/tag/span.http.response.status_code/values").json()["tagValues"]
    assert typed == [{"type": "int", "value": "500"}]
    status = get(fed, "/tempo/api/v2/search/tag/status/values").json()["tagValues"]
    assert {"type": "keyword", "value": "error"} in status


def test_tempo_probes(fed: Fed) -> None:
    assert get(fed, "/tempo/api/echo").text == "echo"
    assert get(fed, "/tempo/ready").text == "ready"
    assert get(fed, "/tempo/api/status/buildinfo").json()["version"].startswith("2.")
    assert get(fed, "/tempo/api/metrics/query_range", q="{} | rate()").status_code == 400


# -- Jaeger ----------------------------------------------------------------------------------------


def test_jaeger_services_and_operations(fed: Fed) -> None:
    services = get(fed, "/jaeger/api/services").json()
    assert services["data"] == ["frontend", "pricing"]
    assert services["total"] == 2 and services["errors"] is None
    operations = get(fed, "/jaeger/api/services/frontend/operations").json()["data"]
    assert operations == ["GET /health", "GET /price", "POST /orders"]
    servers = get(fed, "/jaeger/api/operations", service="frontend", spanKind="server").json()["data"]
    assert servers == [{"name": "GET /health", "spanKind": "server"}, {"name": "POST /orders", "spanKind": "server"}]


def test_jaeger_trace_by_id_converts_otlp(fed: Fed) -> None:
    body = get(fed, f"/jaeger/api/traces/{fed.trace_id}").json()
    (trace,) = body["data"]
    assert trace["traceID"] == fed.trace_id
    processes = {p["serviceName"]: pid for pid, p in trace["processes"].items()}
    assert set(processes) == {"frontend", "pricing"}
    assert {"key": "team", "type": "string", "value": "shop"} in trace["processes"][processes["frontend"]]["tags"]
    root = next(s for s in trace["spans"] if s["spanID"] == fed.root_span_id)
    assert root["references"] == []
    assert root["processID"] == processes["frontend"]
    tags = {t["key"]: (t["type"], t["value"]) for t in root["tags"]}
    assert tags["span.kind"] == ("string", "server")
    assert tags["otel.status_code"] == ("string", "ERROR")
    assert tags["otel.status_description"] == ("string", "pricing failed")
    assert tags["error"] == ("bool", True)
    assert tags["http.response.status_code"] == ("int64", 500)
    assert root["logs"][0]["fields"][0] == {"key": "event", "type": "string", "value": "exception"}
    assert root["duration"] > 0 and root["startTime"] >= int(fed.start_s * 1e6)
    client = next(s for s in trace["spans"] if s["spanID"] == fed.client_span_id)
    assert client["references"] == [{"refType": "CHILD_OF", "traceID": fed.trace_id, "spanID": fed.root_span_id}]


def test_jaeger_trace_search(fed: Fed) -> None:
    errors = get(fed, "/jaeger/api/traces", service="frontend", tags=orjson.dumps({"error": "true"}).decode()).json()
    assert [t["traceID"] for t in errors["data"]] == [fed.trace_id]
    by_operation = get(fed, "/jaeger/api/traces", service="frontend", operation="GET /health").json()["data"]
    assert [t["traceID"] for t in by_operation] == [fed.health_trace_id]
    status = get(fed, "/jaeger/api/traces", service="frontend", tags='{"http.response.status_code":"500"}').json()
    assert [t["traceID"] for t in status["data"]] == [fed.trace_id]
    slow = get(fed, "/jaeger/api/traces", service="pricing", minDuration="5ms", lookback="1h").json()["data"]
    assert [t["traceID"] for t in slow] == [fed.trace_id]


def test_jaeger_errors_use_its_envelope(fed: Fed) -> None:
    missing = get(fed, "/jaeger/api/traces")
    assert missing.status_code == 400
    assert missing.json() == {
        "data": None,
        "total": 0,
        "limit": 0,
        "offset": 0,
        "errors": [{"code": 400, "msg": "parameter 'service' is required"}],
    }
    unknown = get(fed, "/jaeger/api/traces/00000000000000000000000000000001")
    assert unknown.status_code == 404
    assert unknown.json()["errors"] == [{"code": 404, "msg": "trace not found"}]
    bad_tags = get(fed, "/jaeger/api/traces", service="frontend", tags="{oops")
    assert bad_tags.status_code == 400


def test_jaeger_dependencies_pair_client_and_server_spans(fed: Fed) -> None:
    links = get(fed, "/jaeger/api/dependencies", endTs=str(int(time.time() * 1000) + 60_000)).json()["data"]
    assert links == [
        {"parent": "frontend", "child": "pricing", "callCount": 1},
        {"parent": "pricing", "child": "sqlite", "callCount": 1},
        {"parent": "user", "child": "frontend", "callCount": 2},
    ]


# -- span metrics through the Prometheus API -------------------------------------------------------


def prom(fed: Fed, query: str) -> list[dict[str, Any]]:
    body = httpx.post(f"{fed.url}/prometheus/api/v1/query", data={"query": query}, timeout=30).json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_red_metrics_count_calls_errors_and_latency(fed: Fed) -> None:
    calls = eventually(lambda: prom(fed, 'traces_spanmetrics_calls_total{service="frontend"}'))
    by_name = {(r["metric"]["span_name"], r["metric"]["span_kind"]): r for r in calls}
    root = by_name[("POST /orders", "SPAN_KIND_SERVER")]
    assert root["value"][1] == "1"
    assert root["metric"]["status_code"] == "STATUS_CODE_ERROR"
    assert root["metric"]["http_request_method"] == "POST"
    assert root["metric"]["http_response_status_code"] == "500"
    assert ("GET /price", "SPAN_KIND_CLIENT") in by_name
    connector = prom(fed, 'sum(traces_span_metrics_calls_total{service_name="pricing"})')
    assert connector[0]["value"][1] == "2"
    errors = prom(fed, 'sum by (service) (traces_spanmetrics_calls_total{status_code="STATUS_CODE_ERROR"})')
    assert [(r["metric"], r["value"][1]) for r in errors] == [({"service": "frontend"}, "1")]
    p95 = prom(fed, 'histogram_quantile(0.95, sum by (le) (traces_spanmetrics_latency_bucket{service="pricing"}))')
    assert 0 < float(p95[0]["value"][1]) <= 16.384
    count = prom(fed, 'sum(traces_span_metrics_duration_milliseconds_count{service_name="frontend"})')
    assert count[0]["value"][1] == "3"


def test_service_graph_edges_become_metrics(fed: Fed) -> None:
    edges = eventually(lambda: prom(fed, "traces_service_graph_request_total"))
    found = {(r["metric"]["client"], r["metric"]["server"], r["metric"].get("connection_type", "")): r for r in edges}
    assert found[("frontend", "pricing", "")]["value"][1] == "1"
    assert found[("user", "frontend", "")]["value"][1] == "2"
    sqlite = eventually(lambda: prom(fed, 'traces_service_graph_request_total{server="sqlite"}'), timeout=30)
    assert sqlite[0]["metric"]["connection_type"] == "database"
    failed = prom(fed, "traces_service_graph_request_failed_total")
    assert {(r["metric"]["client"], r["metric"]["server"]) for r in failed} == {("user", "frontend")}


def test_latency_exemplars_point_at_traces(fed: Fed) -> None:
    eventually(lambda: prom(fed, "traces_spanmetrics_latency_bucket"))
    body = httpx.get(
        f"{fed.url}/prometheus/api/v1/query_exemplars",
        params={"query": 'traces_spanmetrics_latency_bucket{service="pricing"}', "start": "0", "end": "4e9"},
        timeout=30,
    ).json()
    assert body["status"] == "success"
    trace_ids = {e["labels"]["trace_id"] for series in body["data"] for e in series["exemplars"]}
    assert trace_ids == {fed.trace_id}
