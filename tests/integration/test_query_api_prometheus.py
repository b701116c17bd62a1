"""The Prometheus HTTP API of a real server fed metrics by the OpenTelemetry SDK through its OTLP/HTTP
receiver (spec/telemetry.md §7.1): response shapes of every endpoint, GET and POST forms, and the
error envelope. PromQL results themselves are compared with the real Prometheus in
test_promql_vs_prometheus.py."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource as SdkResource

from tests.conftest import start_server, stop_server
from tests.fixtures.ports import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    http_port = free_port()
    server = start_server(tmp_path_factory.mktemp("prom"), "--otlp-http-port", str(http_port))
    try:
        exporter = OTLPMetricExporter(endpoint=f"http://127.0.0.1:{http_port}/v1/metrics")
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
        resource = SdkResource.create({"service.name": "metrics-app", "service.instance.id": "i-1"})
        provider = MeterProvider(resource=resource, metric_readers=[reader])
        meter = provider.get_meter("tests")
        requests = meter.create_counter("http.server.requests", unit="{request}", description="Requests served")
        duration = meter.create_histogram("http.server.request.duration", unit="s", description="Request time")
        for route, seconds in (("/a", 0.02), ("/a", 0.3), ("/b", 1.2), ("/a", 0.04)):
            requests.add(1, {"http.route": route})
            duration.record(seconds, {"http.route": route})
        provider.force_flush()
        provider.shutdown()
        url = f"{server.endpoint}/prometheus"
        deadline = time.monotonic() + 5
        while not query(url, "http_server_requests_total")["data"]["result"]:
            assert time.monotonic() < deadline, "the metrics did not become readable"
            time.sleep(0.1)
        yield url
    finally:
        stop_server(server)


def query(url: str, expr: str, **params: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.post(f"{url}/api/v1/query", data={"query": expr, **params}, timeout=30).json()
    return body


def test_instant_vector_shape_by_post_and_get(prom: str) -> None:
    posted = query(prom, "sum by (http_route) (http_server_requests_total)")
    assert posted["status"] == "success"
    assert posted["data"]["resultType"] == "vector"
    result = {r["metric"]["http_route"]: r["value"] for r in posted["data"]["result"]}
    assert result["/a"][1] == "3" and result["/b"][1] == "1"
    assert isinstance(result["/a"][0], int | float)
    got = httpx.get(f"{prom}/api/v1/query", params={"query": "http_server_requests_total"}, timeout=30).json()
    metrics = [r["metric"] for r in got["data"]["result"]]
    assert {
        "__name__": "http_server_requests_total",
        "job": "metrics-app",
        "instance": "i-1",
        "http_route": "/b",
    } in metrics


def test_scalar_string_and_matrix_shapes(prom: str) -> None:
    scalar = query(prom, "1 + 1", time="1700000000.5")["data"]
    assert scalar == {"resultType": "scalar", "result": [1700000000.5, "2"]}
    string = query(prom, '"hello"', time="1700000000")["data"]
    assert string == {"resultType": "string", "result": [1700000000, "hello"]}
    matrix = query(prom, "http_server_requests_total[10m]")["data"]
    assert matrix["resultType"] == "matrix"
    assert matrix["result"] and all(r["values"] and isinstance(r["values"][0][1], str) for r in matrix["result"])


def test_range_query_shape(prom: str) -> None:
    now = time.time()
    body = httpx.get(
        f"{prom}/api/v1/query_range",
        params={"query": "sum(http_server_requests_total)", "start": str(now - 60), "end": str(now), "step": "15s"},
        timeout=30,
    ).json()
    assert body["status"] == "success"
    (series,) = body["data"]["result"]
    assert series["metric"] == {}
    assert [v[1] for v in series["values"]] == ["4"] * len(series["values"])
    steps = [v[0] for v in series["values"]]
    assert all(b - a == pytest.approx(15) for a, b in itertools.pairwise(steps))


def test_histogram_from_the_sdk_answers_quantiles(prom: str) -> None:
    result = query(prom, 'histogram_quantile(0.5, http_server_request_duration_seconds_bucket{http_route="/a"})')
    (sample,) = result["data"]["result"]
    assert sample["metric"] == {"http_route": "/a", "instance": "i-1", "job": "metrics-app"}
    # The SDK's default bounds are 0, 5, 10, ...: rank 1.5 of 3 falls halfway into (0, 5].
    assert sample["value"][1] == "2.5"
    count = query(prom, 'http_server_request_duration_seconds_count{http_route="/a"}')["data"]["result"]
    assert count[0]["value"][1] == "3"


def test_series_labels_and_values(prom: str) -> None:
    series = httpx.get(f"{prom}/api/v1/series", params={"match[]": "http_server_requests_total"}, timeout=30).json()
    assert series["status"] == "success"
    assert sorted(s["http_route"] for s in series["data"]) == ["/a", "/b"]
    labels = httpx.post(f"{prom}/api/v1/labels", data={}, timeout=30).json()["data"]
    assert labels == sorted(labels) and {"__name__", "job", "instance", "http_route"} <= set(labels)
    names = httpx.get(f"{prom}/api/v1/label/__name__/values", timeout=30).json()["data"]
    assert {"http_server_requests_total", "http_server_request_duration_seconds_bucket", "target_info"} <= set(names)
    routes = httpx.get(
        f"{prom}/api/v1/label/http_route/values", params={"match[]": '{__name__=~"http_server_requests.*"}'}, timeout=30
    ).json()["data"]
    assert routes == ["/a", "/b"]


def test_metadata_and_status_endpoints(prom: str) -> None:
    metadata = httpx.get(f"{prom}/api/v1/metadata", timeout=30).json()["data"]
    assert metadata["http_server_request_duration_seconds"] == [
        {"type": "histogram", "help": "Request time", "unit": "seconds"}
    ]
    assert metadata["http_server_requests_total"][0]["type"] == "counter"
    one = httpx.get(f"{prom}/api/v1/metadata", params={"metric": "target_info"}, timeout=30).json()["data"]
    assert list(one) == ["target_info"]
    build = httpx.get(f"{prom}/api/v1/status/buildinfo", timeout=30).json()
    assert build["status"] == "success" and build["data"]["version"].startswith("2.")
    assert httpx.get(f"{prom}/api/v1/rules", timeout=30).json()["data"] == {"groups": []}
    assert httpx.get(f"{prom}/api/v1/alerts", timeout=30).json()["data"] == {"alerts": []}
    assert httpx.get(f"{prom}/-/ready", timeout=30).status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "status", "kind", "message"),
    [
        ("query", {"query": "sum("}, 400, "bad_data", 'invalid parameter "query": parse error: '),
        ("query", {"query": "rate(up)"}, 400, "bad_data", "expected type matrix"),
        ("series", {}, 400, "bad_data", "no match[] parameter provided"),
        ("series", {"match[]": "sum(up)"}, 400, "bad_data", 'invalid parameter "match[]"'),
        ("label/0bad/values", {}, 400, "bad_data", 'invalid label name: "0bad"'),
        (
            "query",
            {"query": "http_server_requests_total + ignoring(http_route) http_server_requests_total"},
            422,
            "execution",
            "many-to-many matching not allowed",
        ),
        ("query_range", {"query": "up", "start": "1", "end": "2", "step": "-1"}, 400, "bad_data", "negative"),
    ],
)
def test_errors_use_the_prometheus_envelope(
    prom: str, path: str, params: dict[str, str], status: int, kind: str, message: str
) -> None:
    response = httpx.get(f"{prom}/api/v1/{path}", params=params, timeout=30)
    assert response.status_code == status
    body = response.json()
    assert body["status"] == "error" and body["errorType"] == kind
    assert message in body["error"]


def test_format_query_pretty_prints(prom: str) -> None:
    body = httpx.post(f"{prom}/api/v1/format_query", data={"query": "sum(rate(x[5m]))by(a)"}, timeout=30).json()
    assert body == {"status": "success", "data": "sum by (a) (rate(x[5m]))"}
    bad = httpx.post(f"{prom}/api/v1/format_query", data={"query": "sum("}, timeout=30)
    assert bad.status_code == 400 and bad.json()["errorType"] == "bad_data"


def test_unknown_paths_are_not_aws_errors(prom: str) -> None:
    response = httpx.get(f"{prom}/api/v1/nothing", timeout=30)
    assert response.status_code == 404
    assert "html" not in response.headers.get("content-type", "")
