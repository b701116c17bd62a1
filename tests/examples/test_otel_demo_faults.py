"""Failure injection and process life of the demo's services (spec/otel-demo.md §2.2, §2.4): each test
starts the services it needs with its own ``FAULT_*`` variables, exporting to a real ecslite server."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.examples.conftest import TelemetryServer
from tests.examples.otel_demo import eventually, span_attributes, spans_of, start_service
from tests.fixtures.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def otlp(telemetry: TelemetryServer, **extra: str) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": telemetry.otlp_grpc, **extra}


def server_span(telemetry: TelemetryServer, trace_id: str, name: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        response = httpx.get(f"{telemetry.url}/tempo/api/traces/{trace_id}", timeout=10)
        if response.status_code != 200:
            return None
        return next((s for s in spans_of(response.json()) if s["name"] == name), None)

    found: dict[str, Any] | None = eventually(probe, timeout=20)
    assert found is not None, f"no span {name!r} in trace {trace_id}"
    return found


def traceparent() -> tuple[str, dict[str, str]]:
    trace_id = secrets.token_hex(16)
    return trace_id, {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}


def test_error_rate_one_fails_every_call_but_health(
    telemetry_server: TelemetryServer, demo_venvs: dict[str, Path], tmp_path: Path
) -> None:
    pricing = start_service("pricing", free_port(), otlp(telemetry_server, FAULT_ERROR_RATE="1"), tmp_path)
    try:
        assert httpx.get(f"{pricing.url}/health", timeout=5).json() == {"status": "healthy"}
        trace_id, headers = traceparent()
        response = httpx.post(
            f"{pricing.url}/calculate-price", json={"product_name": "Mouse", "quantity": 1}, headers=headers
        )
        assert (response.status_code, response.json()) == (500, {"error": "injected fault"})
    finally:
        assert pricing.stop() == 0
    span = server_span(telemetry_server, trace_id, "POST /calculate-price")
    assert span["status"]["code"] == "STATUS_CODE_ERROR"
    assert span_attributes(span)["demo.fault"] == "error"
    assert [event["name"] for event in span["events"]] == ["exception"]


def test_fault_paths_limit_the_knobs_to_the_paths_named(
    telemetry_server: TelemetryServer, demo_venvs: dict[str, Path], tmp_path: Path
) -> None:
    environment = otlp(telemetry_server, FAULT_ERROR_RATE="1", FAULT_PATHS="/calculate-price")
    pricing = start_service("pricing", free_port(), environment, tmp_path)
    try:
        item = {"product_name": "Laptop", "quantity": 2}
        assert httpx.post(f"{pricing.url}/calculate-price", json=item).status_code == 500
        calculated = httpx.post(f"{pricing.url}/pricing/calculate", json=item)
        assert (calculated.status_code, calculated.json()["total_price"]) == (200, 1999.98)
    finally:
        pricing.stop()


def test_latency_is_added_and_marked_on_the_span(
    telemetry_server: TelemetryServer, demo_venvs: dict[str, Path], tmp_path: Path
) -> None:
    environment = otlp(telemetry_server, FAULT_LATENCY_MS="400", FAULT_LATENCY_JITTER_MS="0")
    notifications = start_service(
        "notifications", free_port(), {**environment, "OTEL_EXPORTER_PROMETHEUS_PORT": str(free_port())}, tmp_path
    )
    try:
        trace_id, headers = traceparent()
        started = time.monotonic()
        response = httpx.post(
            f"{notifications.url}/notifications/send",
            json={"recipient": "c@example.com", "message": "slow", "type": "email"},
            headers=headers,
        )
        elapsed = time.monotonic() - started
        assert response.json()["status"] == "sent"
        assert elapsed >= 0.4
        started = time.monotonic()
        httpx.get(f"{notifications.url}/health")
        assert time.monotonic() - started < 0.4, "/health is outside the default FAULT_PATHS"
    finally:
        notifications.stop()
    span = server_span(telemetry_server, trace_id, "POST /notifications/send")
    assert span_attributes(span)["demo.fault"] == "latency"
    assert int(span["endTimeUnixNano"]) - int(span["startTimeUnixNano"]) >= 400_000_000
    assert span.get("status", {}).get("code") != "STATUS_CODE_ERROR"


def test_stalled_notification_times_out_in_orders_as_an_error_field(
    telemetry_server: TelemetryServer, demo_venvs: dict[str, Path], tmp_path: Path
) -> None:
    slow = otlp(telemetry_server, FAULT_SLOW_RATE="1", FAULT_SLOW_MS="1500")
    notifications = start_service(
        "notifications", free_port(), {**slow, "OTEL_EXPORTER_PROMETHEUS_PORT": str(free_port())}, tmp_path
    )
    pricing = start_service("pricing", free_port(), otlp(telemetry_server), tmp_path)
    inventory = start_service("inventory", free_port(), otlp(telemetry_server, PRICING_URL=pricing.url), tmp_path)
    orders_environment = otlp(
        telemetry_server,
        INVENTORY_URL=inventory.url,
        NOTIFICATIONS_URL=notifications.url,
        DOWNSTREAM_TIMEOUT_S="0.5",
    )
    orders = start_service("orders", free_port(), orders_environment, tmp_path)
    try:
        trace_id, headers = traceparent()
        response = httpx.post(
            f"{orders.url}/orders",
            json={"user_id": 7, "product_name": "Mouse", "quantity": 1},
            headers=headers,
            timeout=30,
        )
        body = response.json()
        assert response.status_code == 200
        assert body["pricing"]["reserved"] is True
        assert body["notification"] == {
            "error": f"timed out after 0.5 s calling {notifications.url}/notifications/send"
        }
    finally:
        for process in (orders, inventory, pricing, notifications):
            process.stop()
    root = server_span(telemetry_server, trace_id, "POST /orders")
    assert root["status"]["code"] == "STATUS_CODE_ERROR"
    assert [event["name"] for event in root["events"]] == ["exception"]
    stalled = server_span(telemetry_server, trace_id, "POST /notifications/send")
    assert span_attributes(stalled)["demo.fault"] == "stall"


def test_stock_drain_makes_the_product_unavailable(
    telemetry_server: TelemetryServer, demo_venvs: dict[str, Path], tmp_path: Path
) -> None:
    pricing = start_service("pricing", free_port(), otlp(telemetry_server), tmp_path)
    environment = otlp(telemetry_server, PRICING_URL=pricing.url, FAULT_STOCK_DRAIN="on", FAULT_RESTOCK_S="600")
    inventory = start_service("inventory", free_port(), environment, tmp_path)
    try:
        laptops = {"product_name": "Laptop", "quantity": 30}
        first = httpx.post(f"{inventory.url}/inventory/reserve", json=laptops, timeout=10)
        assert first.json()["reserved"] is True
        check = httpx.post(f"{inventory.url}/inventory/check", json=laptops, timeout=10).json()
        assert check == {
            "available": False,
            "product_name": "Laptop",
            "available_quantity": 20,
            "requested_quantity": 30,
        }
        second = httpx.post(f"{inventory.url}/inventory/reserve", json=laptops, timeout=10)
        assert second.status_code == 409
        assert second.json()["error"] == "Insufficient stock"
    finally:
        inventory.stop()
        pricing.stop()


def test_crash_after_exits_one(telemetry_server: TelemetryServer, demo_venvs: dict[str, Path], tmp_path: Path) -> None:
    pricing = start_service("pricing", free_port(), otlp(telemetry_server, FAULT_CRASH_AFTER_S="1.5"), tmp_path)
    assert pricing.process.wait(timeout=20) == 1
    assert any("FAULT_CRASH_AFTER_S" in line["message"] for line in pricing.lines())


@pytest.mark.parametrize("service", ["orders", "inventory", "pricing", "notifications"])
def test_sigterm_finishes_flushes_and_exits_zero(
    service: str, telemetry_server: TelemetryServer, demo_venvs: dict[str, Path], tmp_path: Path
) -> None:
    # A batch delay far beyond the test: only the shutdown's flush can deliver the span.
    environment = otlp(telemetry_server, OTEL_BSP_SCHEDULE_DELAY="600000")
    if service == "notifications":
        environment["OTEL_EXPORTER_PROMETHEUS_PORT"] = str(free_port())
    process = start_service(service, free_port(), environment, tmp_path)
    trace_id, headers = traceparent()
    assert httpx.get(f"{process.url}/", headers=headers, timeout=10).status_code == 200
    assert process.stop() == 0
    assert server_span(telemetry_server, trace_id, "GET /")["kind"] == "SPAN_KIND_SERVER"


def test_adot_variables_are_warned_about_once(
    telemetry_server: TelemetryServer, demo_venvs: dict[str, Path], tmp_path: Path
) -> None:
    environment = otlp(telemetry_server, OTEL_PYTHON_DISTRO="aws_distro", OTEL_PYTHON_CONFIGURATOR="aws_configurator")
    orders = start_service("orders", free_port(), environment, tmp_path)
    orders.stop()
    warnings = [line for line in orders.lines() if "ADOT" in line["message"]]
    assert len(warnings) == 1
    assert warnings[0]["level"] == "WARNING"
    assert warnings[0]["message"].startswith(
        "OTEL_PYTHON_DISTRO=aws_distro and OTEL_PYTHON_CONFIGURATOR=aws_configurator name the AWS Distro"
    )


def test_http_protobuf_with_the_seeds_4317_signal_endpoint_posts_to_the_root_and_is_refused(
    telemetry_server: TelemetryServer, demo_venvs: dict[str, Path], tmp_path: Path
) -> None:
    # The seed's java-service: signal endpoint http://localhost:4317, protocol left to the SDK (Java's
    # default is http/protobuf). The endpoint is used as it is: a POST to "/", which ecslite refuses.
    root = f"http://127.0.0.1:{telemetry_server.http_port}"
    environment = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": root,
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_EXPORTER_PROMETHEUS_PORT": str(free_port()),
    }
    notifications = start_service("notifications", free_port(), environment, tmp_path)
    try:
        trace_id, headers = traceparent()
        httpx.get(f"{notifications.url}/", headers=headers, timeout=10)
    finally:
        assert notifications.stop() == 0
    refused = [line for line in notifications.lines() if "404" in line["message"]]
    assert refused, "the exporter did not report the refusal"
    assert refused[0]["logger"].startswith("opentelemetry.exporter.otlp.proto.http")
    assert httpx.get(f"{telemetry_server.url}/tempo/api/traces/{trace_id}", timeout=10).status_code == 404
