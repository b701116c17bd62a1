"""The inventory service (spec/otel-demo.md §1.3, §2.3): Flask, one function per route as the seed's
Express code has. A reservation asks pricing for the price (``requests``, traced) and answers with it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import requests
from flask import Flask, Response, jsonify, request
from opentelemetry import trace
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Status, StatusCode

from services.common.faults import INJECTED_ERROR, Faults, mark_span
from services.common.lifecycle import data_dir, downstream_timeout
from services.common.otel_setup import Telemetry
from services.inventory.store import InventoryStore, drain_enabled, restock_interval

log = logging.getLogger("inventory")


class PricingFailed(Exception):
    def __init__(self, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.body = body


def create_app(telemetry: Telemetry) -> Flask:
    SQLite3Instrumentor().instrument()
    RequestsInstrumentor().instrument()
    store = InventoryStore(data_dir("inventory") / "inventory.db")
    pricing_url = os.environ.get("PRICING_URL", "http://localhost:8080").rstrip("/")
    timeout = downstream_timeout()
    drain = drain_enabled(os.environ)
    faults = Faults.from_env(os.environ)
    tracer = telemetry.tracer("inventory")

    def observe_stock(options: CallbackOptions) -> list[Observation]:
        return [Observation(quantity, {"product": name}) for name, quantity in store.snapshot().items()]

    telemetry.meter("inventory").create_observable_gauge(
        "inventory.stock", [observe_stock], unit="{item}", description="Items in stock, by product"
    )
    if drain:
        _start_restocking(store, restock_interval(os.environ), tracer)

    app = Flask("inventory")
    app.json.sort_keys = False  # type: ignore[attr-defined]  # fields in the order Express sends them
    FlaskInstrumentor.instrument_app(app, tracer_provider=telemetry.tracer_provider)  # type: ignore[no-untyped-call]

    @app.before_request
    def inject_faults() -> Response | tuple[Response, int] | None:
        # Registered after the instrumentation's hook: the request's server span is current here.
        decision = faults.decide(request.path)
        if decision is None:
            return None
        mark_span(decision)
        if decision.delay_s:
            time.sleep(decision.delay_s)
        return (jsonify(INJECTED_ERROR), 500) if decision.error else None

    def price(path: str, product_name: str, quantity: int) -> dict[str, Any]:
        url = f"{pricing_url}{path}"
        try:
            response = requests.post(url, json={"product_name": product_name, "quantity": quantity}, timeout=timeout)
        except requests.Timeout as error:
            raise PricingFailed(f"timed out after {timeout} s calling {url}") from error
        except requests.RequestException as error:
            raise PricingFailed(f"{type(error).__name__} calling {url}: {error}") from error
        try:
            body = response.json()
        except ValueError:
            body = None
        if not response.ok or not isinstance(body, dict):
            detail = body.get("error") if isinstance(body, dict) else None
            raise PricingFailed(f"{url} answered {response.status_code}" + (f": {detail}" if detail else ""), body)
        return body

    def failed(error: Exception) -> None:
        span = trace.get_current_span()
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, str(error)))

    def item() -> tuple[str, int]:
        body = request.get_json(silent=True) or {}
        return str(body.get("product_name", "")), int(body.get("quantity") or 0)

    @app.get("/")
    def root() -> Response:
        log.info("Node.js service root endpoint called")
        return jsonify(service="nodejs-express", status="running")

    @app.get("/health")
    def health() -> Response:
        return jsonify(status="healthy")

    @app.post("/inventory/check")
    def check() -> Response:
        product_name, quantity = item()
        log.info("Checking inventory", extra={"product_name": product_name, "quantity": quantity})
        row = store.find(product_name)
        if row is None:
            log.warning("Product not found", extra={"product_name": product_name})
            return jsonify(available=False, message="Product not found")
        available = row["quantity"] >= quantity
        log.info("Inventory check result", extra={"available": available, "product_name": product_name})
        return jsonify(
            available=available,
            product_name=row["product_name"],
            available_quantity=row["quantity"],
            requested_quantity=quantity,
        )

    @app.get("/inventory")
    def list_inventory() -> Response:
        log.info("Fetching all inventory")
        rows = store.all()
        log.info("Retrieved inventory items", extra={"count": len(rows)})
        return jsonify(inventory=rows)

    @app.get("/inventory/<item_id>")
    def one_item(item_id: str) -> Response | tuple[Response, int]:
        # The guide's GET /inventory/{item_id}: an id or a product name.
        row = store.find_by_id_or_name(item_id)
        if row is None:
            return jsonify(error="Product not found"), 404
        return jsonify(row)

    @app.post("/inventory/reserve")
    def reserve() -> Response | tuple[Response, int]:
        product_name, quantity = item()
        log.info("Reserving inventory", extra={"product_name": product_name, "quantity": quantity})
        try:
            pricing = price("/pricing/calculate", product_name, quantity)
        except PricingFailed as error:
            log.error("Failed to get pricing", extra={"error": str(error)})
            failed(error)
            return jsonify(error=str(error)), 500
        log.info("Pricing calculated", extra={"pricing": pricing})
        if drain and not store.take(product_name, quantity):
            log.warning("Stock ran out before the reservation", extra={"product_name": product_name})
            return jsonify(reserved=False, error="Insufficient stock", pricing=pricing), 409
        return jsonify(reserved=True, pricing=pricing)

    @app.post("/inventory/reserve/error")
    def reserve_error() -> tuple[Response, int]:
        product_name, quantity = item()
        log.info("Reserving inventory with error test", extra={"product_name": product_name, "quantity": quantity})
        try:
            pricing = price("/pricing/calculate/error", product_name, quantity)
        except PricingFailed as error:
            log.error("Failed to get pricing (expected)", extra={"error": str(error)})
            failed(error)
            if error.body is not None:
                return jsonify(reserved=False, pricing_error=error.body, error=str(error)), 500
            return jsonify(error=str(error), message="Error in pricing service call"), 500
        log.error("Pricing calculated with error", extra={"pricing": pricing})
        return jsonify(reserved=False, pricing_error=pricing, error="Error occurred during pricing calculation"), 500

    @app.get("/error")
    def intentional_error() -> tuple[Response, int]:
        log.error("Intentional error triggered")
        return jsonify(error="Intentional error for testing"), 500

    return app


def _start_restocking(store: InventoryStore, interval: float, tracer: trace.Tracer) -> threading.Thread:
    def loop() -> None:
        while True:
            time.sleep(interval)
            with tracer.start_as_current_span("inventory_restock"):
                store.restock()
                log.info("Restocked inventory (FAULT_STOCK_DRAIN)", extra={"stock": store.snapshot()})

    thread = threading.Thread(target=loop, name="restock", daemon=True)
    thread.start()
    return thread
