"""The ho11y-like generator (spec/otel-demo.md §3): ho11y's ``/`` body, logs and metrics; the demo's orders
as a ``POST`` downstream; failing downstreams as ERROR client spans without exiting; self-invocation."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.examples.conftest import Demo, TelemetryServer
from tests.examples.otel_demo import (
    EXAMPLE,
    ServiceProcess,
    eventually,
    read_trace,
    span_attributes,
    start_service,
)
from tests.fixtures.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
XRAY_ID = re.compile(r"1-([0-9a-f]{8})-([0-9a-f]{24})")


def loadgen_environment(telemetry: TelemetryServer, port: int, **extra: str) -> dict[str, str]:
    # ho11y's form of the endpoint: host:port, plaintext gRPC.
    return {
        "HO11Y_PORT": str(port),
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"127.0.0.1:{telemetry.grpc_port}",
        "HO11Y_LOG_DEST": "stdout",
        "HO11Y_LOAD_RPS": "0",
        **extra,
    }


def start_loadgen(telemetry: TelemetryServer, tmp_path: Path, **extra: str) -> ServiceProcess:
    port = free_port()
    environment = {**loadgen_environment(telemetry, port, **extra), "PORT": str(port)}
    return start_service("loadgen", port, environment, tmp_path, health_path="/metrics")


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port nothing listens on (bound without listen, so no other test takes it meanwhile)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def metric_value(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        head, _, rest = series.partition("{")
        if head != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value.split(" ")[0])
    return None


def test_generator_drives_orders_in_one_trace_over_five_services(demo: Demo, tmp_path: Path) -> None:
    loadgen = start_loadgen(
        demo.telemetry,
        tmp_path,
        DOWNSTREAM0=f"POST {demo['orders'].url}/orders",
        DOWNSTREAM1="DUMMY:2kB:5ms",
        # A known product, so the order reaches pricing (an unknown one, 2 % by default, stops at inventory).
        HO11Y_UNKNOWN_PRODUCT_SHARE="0",
    )
    try:
        response = httpx.get(f"{loadgen.url}/", timeout=30)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        match = re.fullmatch(r'\{"traceId":"(1-[0-9a-f]{8}-[0-9a-f]{24})"\}', response.text)
        assert match, response.text
        xray_id = match.group(1)
        metrics = httpx.get(f"{loadgen.url}/metrics", timeout=10).text
    finally:
        assert loadgen.stop() == 0
    # Tempo's API takes the X-Ray form (Beyond, telemetry.md §7.3).
    # Orders' SERVER span ends after its downstream calls, so it travels in a later batch than theirs.
    spans = read_trace(
        demo.telemetry.url,
        xray_id,
        services=5,
        server_spans={("ho11y-svc", "GET /"), ("python-fastapi-service", "POST /orders")},
    )
    services = {s["service"] for s in spans}
    assert services == {
        "ho11y-svc",
        "python-fastapi-service",
        "nodejs-express-service",
        "go-gin-service",
        "java-spring-boot-service",
    }
    root = next(s for s in spans if not s.get("parentSpanId"))
    assert (root["service"], root["kind"], root["name"]) == ("ho11y-svc", "SPAN_KIND_SERVER", "GET /")
    client = next(s for s in spans if s["service"] == "ho11y-svc" and s["kind"] == "SPAN_KIND_CLIENT")
    orders = next(s for s in spans if s["name"] == "POST /orders" and s["kind"] == "SPAN_KIND_SERVER")
    assert orders["parentSpanId"] == client["spanId"]
    # X-Ray trace ids: the first 8 hex digits are the start time in seconds.
    assert abs(int(xray_id[2:10], 16) - int(root["startTimeUnixNano"]) // 10**9) <= 1

    assert metric_value(metrics, "ho11y_total", http_status_code="200") == 1
    assert metric_value(metrics, "ho11y_downstream_payload_bytes_sum", downstream="DUMMY:2kB:5ms") == 2048
    order_bytes = metric_value(
        metrics, "ho11y_downstream_payload_bytes_sum", downstream=f"POST {demo['orders'].url}/orders"
    )
    assert order_bytes is not None and order_bytes > 100
    assert metric_value(metrics, "ho11y_downstream_duration_seconds_count") == 2
    buckets = re.findall(r'ho11y_downstream_duration_seconds_bucket\{le="([^"]+)"\}', metrics)
    assert buckets == [f"{0.0001 * 2**k:.4f}" for k in range(10)] + ["+Inf"]
    assert re.findall(r'ho11y_randhist_bucket\{le="([^"]+)"\}', metrics)[:3] == ["-2.0", "-1.5", "-1.0"]
    assert "ho11y_randval " in metrics

    lines = loadgen.lines()
    invoke = next(line for line in lines if line.get("event") == "invoke")
    assert invoke["traceID"] == xray_id and invoke["msg"] == "ho11y was invoked" and invoke["level"] == "info"
    assert invoke["trace_id"] == xray_id[2:10] + xray_id[11:]
    dummy = next(line for line in lines if line.get("event") == "downstream" and "DUMMY" in line["msg"])
    assert (dummy["body_bytes"], dummy["duration_sec"]) == (2048, 0.005)


def test_xray_sample_profile_traces_frontend_and_both_downstreams(
    telemetry_server: TelemetryServer, tmp_path: Path
) -> None:
    definition = json.loads((EXAMPLE / "xray-sample-task-definition.json").read_text())
    ports = {c["name"]: free_port() for c in definition["containerDefinitions"]}
    started: list[ServiceProcess] = []
    try:
        for container in reversed(definition["containerDefinitions"]):
            environment = {item["name"]: item["value"] for item in container["environment"]}
            for name, port in ports.items():  # localhost:876x of the task → this host's free ports
                for key, value in environment.items():
                    environment[key] = value.replace(
                        f"localhost:{container_port(definition, name)}/", f"127.0.0.1:{port}/"
                    )
            environment.update(HO11Y_PORT=str(ports[container["name"]]), HO11Y_LOAD_RPS="0")
            environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"127.0.0.1:{telemetry_server.grpc_port}"
            started.append(start_service("loadgen", ports[container["name"]], environment, tmp_path, "/metrics"))
        xray_id = httpx.get(f"http://127.0.0.1:{ports['frontend']}/", timeout=30).json()["traceId"]
    finally:
        for process in started:
            process.stop()
    spans = read_trace(
        telemetry_server.url,
        xray_id,
        services=3,
        server_spans={("frontend", "GET /"), ("downstream0", "GET /"), ("downstream1", "GET /")},
    )
    servers = {s["service"]: s for s in spans if s["kind"] == "SPAN_KIND_SERVER"}
    assert set(servers) == {"frontend", "downstream0", "downstream1"}
    by_id = {s["spanId"]: s for s in spans}
    for downstream in ("downstream0", "downstream1"):
        parent = by_id[servers[downstream]["parentSpanId"]]
        assert (parent["service"], parent["kind"]) == ("frontend", "SPAN_KIND_CLIENT")


def container_port(definition: dict[str, Any], name: str) -> int:
    container = next(c for c in definition["containerDefinitions"] if c["name"] == name)
    return int(container["portMappings"][0]["containerPort"])


def test_openmetrics_scrape_carries_the_trace_id_exemplar(telemetry_server: TelemetryServer, tmp_path: Path) -> None:
    loadgen = start_loadgen(telemetry_server, tmp_path, DOWNSTREAM0="DUMMY:1kB:1ms")
    try:
        xray_id = httpx.get(f"{loadgen.url}/", timeout=10).json()["traceId"]
        om = httpx.get(f"{loadgen.url}/metrics", headers={"Accept": "application/openmetrics-text"}, timeout=10)
        plain = httpx.get(f"{loadgen.url}/metrics", timeout=10)
    finally:
        loadgen.stop()
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert f'# {{traceid="{xray_id}"}}' in om.text
    assert plain.headers["content-type"].startswith("text/plain")
    assert "traceid" not in plain.text


def test_failing_downstreams_become_error_spans_and_the_generator_keeps_running(
    demo: Demo, tmp_path: Path, closed_port: int
) -> None:
    loadgen = start_loadgen(
        demo.telemetry,
        tmp_path,
        DOWNSTREAM0=f"http://127.0.0.1:{closed_port}/",
        DOWNSTREAM1=f"{demo['pricing'].url}/error",
        DOWNSTREAM2="DUMMY:1kB:1ms",
    )
    try:
        first = httpx.get(f"{loadgen.url}/", timeout=30)
        second = httpx.get(f"{loadgen.url}/", timeout=30)
        assert loadgen.process.poll() is None, "a failing downstream must not end the generator"
    finally:
        loadgen.stop()
    assert first.status_code == second.status_code == 200
    assert first.json()["errors"] == 2
    spans = read_trace(demo.telemetry.url, first.json()["traceId"], services=2, server_spans={("ho11y-svc", "GET /")})
    clients = [s for s in spans if s["service"] == "ho11y-svc" and s["kind"] == "SPAN_KIND_CLIENT"]
    assert len(clients) == 2, "DUMMY downstreams make no spans"
    refused = next(s for s in clients if span_attributes(s).get("error.type") == "ClientConnectorError")
    assert refused["status"]["code"] == "STATUS_CODE_ERROR"
    assert [event["name"] for event in refused["events"]] == ["exception"]
    server_error = next(s for s in clients if span_attributes(s).get("error.type") == "500")
    assert server_error["status"]["code"] == "STATUS_CODE_ERROR"
    assert [event["name"] for event in server_error["events"]] == ["exception"]
    errors = [line for line in loadgen.lines() if line.get("level") == "error" and line.get("event") == "downstream"]
    assert len(errors) == 4


def test_exit_on_downstream_error_restores_ho11y_behaviour(
    telemetry_server: TelemetryServer, tmp_path: Path, closed_port: int
) -> None:
    loadgen = start_loadgen(
        telemetry_server,
        tmp_path,
        DOWNSTREAM0=f"http://127.0.0.1:{closed_port}/",
        HO11Y_EXIT_ON_DOWNSTREAM_ERROR="1",
    )
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{loadgen.url}/", timeout=30)
    assert loadgen.process.wait(timeout=10) == 1


def test_self_invocation_drives_the_downstreams(demo: Demo, tmp_path: Path) -> None:
    before = len(httpx.get(f"{demo['orders'].url}/orders", timeout=10).json()["orders"])
    loadgen = start_loadgen(
        demo.telemetry, tmp_path, DOWNSTREAM0=f"POST {demo['orders'].url}/orders", HO11Y_LOAD_RPS="10"
    )
    try:

        def calls() -> float:
            text = httpx.get(f"{loadgen.url}/metrics", timeout=10).text
            return metric_value(text, "ho11y_total", http_status_code="200") or 0.0

        assert eventually(lambda: calls() >= 10, timeout=20)
    finally:
        loadgen.stop()
    after = len(httpx.get(f"{demo['orders'].url}/orders", timeout=10).json()["orders"])
    assert after - before >= 10
    invokes = [line for line in loadgen.lines() if line.get("event") == "invoke"]
    assert len({line["traceID"] for line in invokes}) == len(invokes), "each self-invocation starts its own trace"


def test_failure_injection_and_throttling(telemetry_server: TelemetryServer, tmp_path: Path) -> None:
    failing = start_loadgen(telemetry_server, tmp_path, HO11Y_INJECT_FAILURE="1")
    try:
        codes = {httpx.get(f"{failing.url}/", timeout=10).status_code for _ in range(60)}
    finally:
        failing.stop()
    assert 200 in codes
    assert codes - {200} and codes - {200} <= {400, 403, 301, 404, 501}

    throttled = start_loadgen(telemetry_server, tmp_path, HO11Y_CUTOFF_TPS="2")
    try:
        statuses = []
        with httpx.Client(timeout=10) as client:
            # Calls are counted per 0.5 s: keep calling across several periods.
            deadline = time.monotonic() + 1.6
            while time.monotonic() < deadline:
                statuses.append(client.get(f"{throttled.url}/").status_code)
        text = httpx.get(f"{throttled.url}/metrics", timeout=10).text
    finally:
        throttled.stop()
    assert 429 in statuses and 200 in statuses
    assert metric_value(text, "ho11y_total", http_status_code="429") == statuses.count(429)
