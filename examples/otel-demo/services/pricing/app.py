"""The pricing service (spec/otel-demo.md §1.3, §2.3): Starlette, with the seed's Go code's manual
``db_select_pricing`` span (``db.operation``, ``db.table``, ``product.name``) around the price query.
``POST /calculate-price`` is the guide's name for ``POST /pricing/calculate``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
from opentelemetry.instrumentation.starlette import StarletteInstrumentor
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.common.faults import Faults
from services.common.faults_asgi import FaultMiddleware
from services.common.lifecycle import data_dir
from services.common.otel_setup import Telemetry

log = logging.getLogger("pricing")
SEED_PRICES = {"Laptop": 999.99, "Mouse": 29.99, "Keyboard": 79.99}
SCHEMA = """
CREATE TABLE IF NOT EXISTS pricing (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_name TEXT NOT NULL UNIQUE,
    unit_price REAL NOT NULL,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
)
"""


class BadRequest(Exception):
    pass


class PricingStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        connection = sqlite3.connect(path)
        try:
            connection.cursor().execute(SCHEMA)
            for number, (name, price) in enumerate(SEED_PRICES.items(), start=1):
                connection.cursor().execute(
                    "INSERT OR IGNORE INTO pricing (id, product_name, unit_price) VALUES (?, ?, ?)",
                    (number, name, price),
                )
            connection.commit()
        finally:
            connection.close()

    def unit_price(self, product_name: str) -> float | None:
        connection = sqlite3.connect(self.path)
        try:
            row = (
                connection.cursor()
                .execute("SELECT unit_price FROM pricing WHERE product_name = ?", (product_name,))
                .fetchone()
            )
        finally:
            connection.close()
        return float(row[0]) if row is not None else None

    def all(self) -> list[dict[str, Any]]:
        connection = sqlite3.connect(self.path)
        try:
            connection.row_factory = sqlite3.Row
            return [dict(row) for row in connection.cursor().execute("SELECT * FROM pricing ORDER BY id").fetchall()]
        finally:
            connection.close()


async def _item(request: Request) -> tuple[str, int]:
    try:
        body = await request.json()
    except ValueError as error:
        raise BadRequest(f"invalid JSON body: {error}") from None
    if not isinstance(body, dict) or not isinstance(body.get("product_name"), str):
        raise BadRequest("the body must be an object with product_name (string) and quantity (integer)")
    quantity = body.get("quantity", 0)
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise BadRequest("quantity must be an integer")
    return body["product_name"], quantity


def create_app(telemetry: Telemetry) -> Starlette:
    SQLite3Instrumentor().instrument()
    store = PricingStore(data_dir("pricing") / "pricing.db")
    tracer = telemetry.tracer("go-service-tracer")
    total_prices = telemetry.meter("pricing").create_histogram(
        "pricing.total_price", unit="{USD}", description="Total price of priced orders"
    )

    def lookup(product_name: str, span_name: str) -> float | None:
        attributes = {"db.operation": "select", "db.table": "pricing", "product.name": product_name}
        with tracer.start_as_current_span(span_name, attributes=attributes):
            return store.unit_price(product_name)

    async def calculate(request: Request) -> JSONResponse:
        try:
            product_name, quantity = await _item(request)
        except BadRequest as error:
            log.error(f"Invalid request: {error}")
            return JSONResponse({"error": str(error)}, status_code=400)
        log.info(f"Calculating pricing for {product_name}", extra={"product.name": product_name, "quantity": quantity})
        unit_price = lookup(product_name, "db_select_pricing")
        if unit_price is None:
            log.error(f"Product not found: {product_name}")
            return JSONResponse({"error": "Product not found"}, status_code=404)
        total = round(unit_price * quantity, 2)
        total_prices.record(total, {"product": product_name})
        log.info(f"Pricing calculated: {total:.2f}", extra={"unit.price": unit_price, "total.price": total})
        return JSONResponse(
            {"product_name": product_name, "unit_price": unit_price, "quantity": quantity, "total_price": total}
        )

    async def calculate_error(request: Request) -> JSONResponse:
        try:
            product_name, quantity = await _item(request)
        except BadRequest as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        log.error(f"Intentional pricing error for {product_name}", extra={"product.name": product_name})
        unit_price = lookup(product_name, "db_select_pricing_error")
        if unit_price is None:
            return JSONResponse({"error": "Product not found"}, status_code=404)
        total = round(unit_price * quantity, 2)
        log.error(f"Pricing calculation error (intentional): {total:.2f}")
        return JSONResponse(
            {
                "error": "Intentional pricing calculation error",
                "product_name": product_name,
                "unit_price": unit_price,
                "quantity": quantity,
                "total_price": total,
                "message": "This is an intentional error for testing distributed tracing",
            },
            status_code=500,
        )

    async def list_prices(request: Request) -> JSONResponse:
        log.info("Fetching all pricing")
        with tracer.start_as_current_span("db_select_all_pricing", attributes={"db.operation": "select"}):
            rows = store.all()
        log.info(f"Retrieved {len(rows)} pricing items")
        return JSONResponse({"pricing": rows})

    async def root(request: Request) -> JSONResponse:
        span = trace.get_current_span().get_span_context()
        log.info(f"Go service root endpoint called - trace_id: {span.trace_id:032x}")
        return JSONResponse({"service": "go-gin", "status": "running"})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "healthy"})

    async def intentional_error(request: Request) -> JSONResponse:
        log.error("Intentional error triggered")
        return JSONResponse({"error": "Intentional error for testing"}, status_code=500)

    routes = [
        Route("/", root),
        Route("/health", health),
        Route("/pricing", list_prices),
        Route("/pricing/calculate", calculate, methods=["POST"]),
        Route("/calculate-price", calculate, methods=["POST"]),
        Route("/pricing/calculate/error", calculate_error, methods=["POST"]),
        Route("/error", intentional_error),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(FaultMiddleware, faults=Faults.from_env(os.environ))])
    StarletteInstrumentor.instrument_app(app, tracer_provider=telemetry.tracer_provider)
    return app
