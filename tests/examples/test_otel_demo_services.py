"""The OpenTelemetry demo's four services run on this host with the seed's variables, exporting OTLP to
a real ecslite server's host receivers (spec/otel-demo.md §1.3, §2.2–§2.5, §4.3).

What is checked goes through the services' HTTP endpoints and ecslite's query APIs (Tempo, Loki,
Prometheus): the JSON of §2.3, one trace across orders → inventory → pricing and orders →
notifications, trace ids on every log line, the Prometheus exporter on 9464 and the business metrics.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from tests.examples.conftest import Demo
from tests.examples.otel_demo import eventually, read_trace, span_attributes

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ORDERS = "python-fastapi-service"
INVENTORY = "nodejs-express-service"
PRICING = "go-gin-service"
NOTIFICATIONS = "java-spring-boot-service"


def traced_post(url: str, body: dict[str, Any]) -> tuple[str, httpx.Response]:
    """POST with a fresh W3C trace context, so the test knows the trace id the services continue."""
    trace_id = secrets.token_hex(16)
    headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
    return trace_id, httpx.post(url, json=body, headers=headers, timeout=30)


def chain(spans: list[dict[str, Any]], leaf: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(service, kind, name) from ``leaf`` up to the root, following parent span ids."""
    by_id = {s["spanId"]: s for s in spans}
    out, span = [], leaf
    while span is not None:
        out.append((span["service"], span["kind"].removeprefix("SPAN_KIND_"), span["name"]))
        span = by_id.get(span.get("parentSpanId", ""))
    return out


def test_health_endpoints_answer_healthy(demo: Demo) -> None:
    for name in ("orders", "inventory", "pricing", "notifications"):
        response = httpx.get(f"{demo[name].url}/health", timeout=5)
        assert response.status_code == 200, name
        assert response.json() == {"status": "healthy"}, name


def test_order_for_a_laptop_is_checked_priced_and_notified(demo: Demo) -> None:
    body = {"user_id": 1, "product_name": "Laptop", "quantity": 1}
    response = httpx.post(f"{demo['orders'].url}/orders", json=body, timeout=30)
    assert response.status_code == 200
    order = response.json()
    assert set(order) == {"order_id", "status", "inventory_check", "pricing", "notification"}
    assert isinstance(order["order_id"], int)
    assert order["status"] == "pending"
    assert order["inventory_check"]["available"] is True
    assert order["inventory_check"]["product_name"] == "Laptop"
    assert order["inventory_check"]["requested_quantity"] == 1
    assert order["pricing"] == {
        "reserved": True,
        "pricing": {"product_name": "Laptop", "unit_price": 999.99, "quantity": 1, "total_price": 999.99},
    }
    assert order["notification"] == {"status": "sent", "recipient": "user_1@example.com", "type": "email"}
    listed = httpx.get(f"{demo['orders'].url}/orders", timeout=10).json()["orders"]
    mine = next(o for o in listed if o["id"] == order["order_id"])
    assert {k: mine[k] for k in ("user_id", "product_name", "quantity", "status")} == {
        "user_id": 1,
        "product_name": "Laptop",
        "quantity": 1,
        "status": "pending",
    }
    assert mine["created_at"]


def test_order_trace_spans_orders_inventory_pricing_and_notifications(demo: Demo) -> None:
    trace_id, response = traced_post(
        f"{demo['orders'].url}/orders", {"user_id": 2, "product_name": "Keyboard", "quantity": 2}
    )
    assert response.json()["pricing"]["pricing"]["total_price"] == 159.98
    spans = read_trace(
        demo.telemetry.url,
        trace_id,
        services=4,
        server_spans={
            (ORDERS, "POST /orders"),
            (INVENTORY, "POST /inventory/check"),
            (INVENTORY, "POST /inventory/reserve"),
            (PRICING, "POST /pricing/calculate"),
            (NOTIFICATIONS, "POST /notifications/send"),
        },
    )
    assert {s["service"] for s in spans} == {ORDERS, INVENTORY, PRICING, NOTIFICATIONS}
    db_span = next(s for s in spans if s["name"] == "db_select_pricing")
    assert span_attributes(db_span) == {"db.operation": "select", "db.table": "pricing", "product.name": "Keyboard"}
    sqlite = next(s for s in spans if s.get("parentSpanId") == db_span["spanId"])
    assert span_attributes(sqlite)["db.system"] == "sqlite"
    assert chain(spans, sqlite) == [
        (PRICING, "CLIENT", "SELECT"),
        (PRICING, "INTERNAL", "db_select_pricing"),
        (PRICING, "SERVER", "POST /pricing/calculate"),
        (INVENTORY, "CLIENT", "POST"),
        (INVENTORY, "SERVER", "POST /inventory/reserve"),
        (ORDERS, "CLIENT", "POST"),
        (ORDERS, "SERVER", "POST /orders"),
    ]
    notification = next(s for s in spans if s["service"] == NOTIFICATIONS and s["kind"] == "SPAN_KIND_SERVER")
    assert chain(spans, notification) == [
        (NOTIFICATIONS, "SERVER", "POST /notifications/send"),
        (ORDERS, "CLIENT", "POST"),
        (ORDERS, "SERVER", "POST /orders"),
    ]
    check = next(s for s in spans if s["name"] == "POST /inventory/check")
    assert chain(spans, check)[-1] == (ORDERS, "SERVER", "POST /orders")
    assert all(s.get("status", {}).get("code") != "STATUS_CODE_ERROR" for s in spans)


def test_guide_endpoints_answer_as_the_guide_says(demo: Demo) -> None:
    inventory, pricing, notifications = demo["inventory"].url, demo["pricing"].url, demo["notifications"].url
    item = httpx.get(f"{inventory}/inventory/1", timeout=10)
    assert item.status_code == 200
    assert {k: item.json()[k] for k in ("id", "product_name")} == {"id": 1, "product_name": "Laptop"}
    assert httpx.get(f"{inventory}/inventory/Mouse", timeout=10).json()["id"] == 2
    missing = httpx.get(f"{inventory}/inventory/99", timeout=10)
    assert (missing.status_code, missing.json()) == (404, {"error": "Product not found"})
    price = httpx.post(f"{pricing}/calculate-price", json={"product_name": "Mouse", "quantity": 2}, timeout=10)
    assert price.json() == {"product_name": "Mouse", "unit_price": 29.99, "quantity": 2, "total_price": 59.98}
    sent = httpx.post(
        f"{notifications}/notifications",
        json={"recipient": "a@example.com", "message": "hi", "type": "email"},
        timeout=10,
    )
    assert sent.json() == {"status": "sent", "recipient": "a@example.com", "type": "email"}
    listed = httpx.get(f"{notifications}/notifications", timeout=10).json()["notifications"]
    assert any(n["recipient"] == "a@example.com" and n["message"] == "hi" for n in listed)


def test_repository_endpoints_answer(demo: Demo) -> None:
    roots = {
        "orders": {"service": "python-fastapi", "status": "running"},
        "inventory": {"service": "nodejs-express", "status": "running"},
        "pricing": {"service": "go-gin", "status": "running"},
        "notifications": {"service": "java-spring-boot", "status": "running"},
    }
    for name, expected in roots.items():
        assert httpx.get(f"{demo[name].url}/", timeout=10).json() == expected
        assert httpx.get(f"{demo[name].url}/error", timeout=10).status_code == 500
    stock = httpx.get(f"{demo['inventory'].url}/inventory", timeout=10).json()["inventory"]
    assert [row["product_name"] for row in stock] == ["Laptop", "Mouse", "Keyboard"]
    prices = httpx.get(f"{demo['pricing'].url}/pricing", timeout=10).json()["pricing"]
    assert {row["product_name"]: row["unit_price"] for row in prices} == {
        "Laptop": 999.99,
        "Mouse": 29.99,
        "Keyboard": 79.99,
    }
    check = httpx.post(
        f"{demo['inventory'].url}/inventory/check", json={"product_name": "Mouse", "quantity": 500}, timeout=10
    )
    assert check.json() == {
        "available": False,
        "product_name": "Mouse",
        "available_quantity": 200,
        "requested_quantity": 500,
    }


def test_unknown_product_is_not_available_and_not_priced(demo: Demo) -> None:
    order = httpx.post(
        f"{demo['orders'].url}/orders", json={"user_id": 3, "product_name": "Monitor", "quantity": 1}, timeout=30
    ).json()
    assert order["inventory_check"] == {"available": False, "message": "Product not found"}
    assert order["pricing"] is None
    assert order["notification"]["status"] == "sent"
    price = httpx.post(f"{demo['pricing'].url}/pricing/calculate", json={"product_name": "Monitor", "quantity": 1})
    assert (price.status_code, price.json()) == (404, {"error": "Product not found"})


def test_order_with_a_bad_body_is_422(demo: Demo) -> None:
    response = httpx.post(f"{demo['orders'].url}/orders", json={"user_id": "x", "product_name": "Laptop"}, timeout=10)
    assert response.status_code == 422
    fields = {tuple(error["loc"]) for error in response.json()["detail"]}
    assert fields == {("body", "user_id"), ("body", "quantity")}


def test_forced_error_chain_fails_in_three_services_and_still_notifies(demo: Demo) -> None:
    trace_id, response = traced_post(
        f"{demo['orders'].url}/orders/error", {"user_id": 4, "product_name": "Mouse", "quantity": 1}
    )
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "error"
    assert body["pricing_error"] == {
        "error": f"{demo['inventory'].url}/inventory/reserve/error answered 500: "
        f"{demo['pricing'].url}/pricing/calculate/error answered 500: "
        "Intentional pricing calculation error"
    }
    assert body["notification"]["status"] == "sent"
    error_servers = {
        (ORDERS, "POST /orders/error"),
        (INVENTORY, "POST /inventory/reserve/error"),
        (PRICING, "POST /pricing/calculate/error"),
    }
    spans = read_trace(demo.telemetry.url, trace_id, services=4, server_spans=error_servers)
    failed = {(s["service"], s["name"]) for s in spans if s.get("status", {}).get("code") == "STATUS_CODE_ERROR"}
    assert error_servers <= failed
    root = next(s for s in spans if s["name"] == "POST /orders/error" and s["kind"] == "SPAN_KIND_SERVER")
    assert [event["name"] for event in root.get("events", [])] == ["exception"]


def test_log_lines_carry_the_trace_id_on_stdout_and_over_otlp(demo: Demo) -> None:
    trace_id, response = traced_post(
        f"{demo['orders'].url}/orders", {"user_id": 5, "product_name": "Mouse", "quantity": 3}
    )
    order_id = response.json()["order_id"]
    lines = [line for line in demo["orders"].lines() if line.get("trace_id") == trace_id]
    messages = [line["message"] for line in lines]
    assert "Creating order for user 5" in messages
    assert f"Order {order_id} created successfully" in messages
    assert any(m.startswith("Inventory check result: ") for m in messages)
    first = lines[0]
    assert set(first) >= {"time", "level", "logger", "message", "trace_id", "span_id", "service"}
    assert first["service"] == ORDERS and first["level"] == "INFO" and len(first["span_id"]) == 16
    for name in ("inventory", "pricing", "notifications"):
        assert any(line.get("trace_id") == trace_id for line in demo[name].lines()), name

    def loki() -> list[Any]:
        query = '{service_name="python-fastapi-service"} |= "Creating order for user 5"'
        result = httpx.get(f"{demo.telemetry.url}/loki/api/v1/query_range", params={"query": query}, timeout=10)
        return [s for s in result.json()["data"]["result"] if s["stream"].get("trace_id") == trace_id]

    streams = eventually(loki, timeout=20)
    assert streams, "the OTLP log record with the trace id did not reach ecslite"
    assert streams[0]["values"][0][1] == "Creating order for user 5"


def test_notifications_serve_prometheus_metrics(demo: Demo) -> None:
    httpx.post(
        f"{demo['notifications'].url}/notifications/send",
        json={"recipient": "b@example.com", "message": "m", "type": "sms"},
        timeout=10,
    )
    text = httpx.get(f"http://127.0.0.1:{demo.prometheus_port}/metrics", timeout=10).text
    assert "http_server_request_duration_seconds_bucket{" in text
    sms = [line for line in text.splitlines() if line.startswith("notifications_sent_total{") and 'type="sms"' in line]
    assert sms and float(sms[0].rsplit(" ", 1)[1]) >= 1


def test_business_and_http_metrics_reach_ecslite_over_otlp(demo: Demo) -> None:
    httpx.post(f"{demo['orders'].url}/orders", json={"user_id": 6, "product_name": "Laptop", "quantity": 1})

    def query(promql: str) -> list[Any]:
        response = httpx.get(f"{demo.telemetry.url}/prometheus/api/v1/query", params={"query": promql}, timeout=10)
        result: list[Any] = response.json()["data"]["result"]
        return result

    assert eventually(lambda: query('orders_created_total{product="Laptop"}'), timeout=20)
    assert eventually(lambda: query('inventory_stock{product="Mouse"}'), timeout=20)
    assert eventually(lambda: query("pricing_total_price_count"), timeout=20)
    assert eventually(lambda: query('notifications_sent_total{type="email"}'), timeout=20)
    services = eventually(
        lambda: (
            {s["metric"].get("job") for s in query("http_server_request_duration_seconds_count")}
            >= {
                ORDERS,
                INVENTORY,
                PRICING,
                NOTIFICATIONS,
            }
        ),
        timeout=20,
    )
    assert services
    assert eventually(lambda: query("http_client_request_duration_seconds_count"), timeout=20)
