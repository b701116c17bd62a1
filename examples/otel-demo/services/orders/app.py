"""The orders service (spec/otel-demo.md §1.3, §2.3): takes an order, checks and reserves inventory
(which prices it) and sends a notification.

A downstream that fails (connection error, timeout, non-2xx) becomes ``{"error": "..."}`` in its
field of the response, which stays 200 as in the seed's code; the server span turns ERROR with the
exception event, and ``orders.failed`` counts the stage.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
from opentelemetry.trace import Status, StatusCode
from pydantic import BaseModel

from services.common.faults import Faults
from services.common.faults_asgi import FaultMiddleware
from services.common.lifecycle import data_dir, downstream_timeout
from services.common.otel_setup import Telemetry

log = logging.getLogger("orders")
SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    product_name TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
)
"""


class Order(BaseModel):
    user_id: int
    product_name: str
    quantity: int


class DownstreamError(Exception):
    """A downstream call that did not give a usable answer."""


class OrdersStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connect() as connection:
            connection.cursor().execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)

    def insert(self, order: Order, status: str = "pending") -> int:
        connection = self._connect()
        try:
            cursor = connection.cursor().execute(
                "INSERT INTO orders (user_id, product_name, quantity, status) VALUES (?, ?, ?, ?)",
                (order.user_id, order.product_name, order.quantity, status),
            )
            connection.commit()
            return int(cursor.lastrowid or 0)
        finally:
            connection.close()

    def all(self) -> list[dict[str, Any]]:
        connection = self._connect()
        try:
            connection.row_factory = sqlite3.Row
            rows = connection.cursor().execute("SELECT * FROM orders ORDER BY created_at DESC, id DESC").fetchall()
            return [dict(row) for row in rows]
        finally:
            connection.close()


def create_app(telemetry: Telemetry) -> FastAPI:
    SQLite3Instrumentor().instrument()
    HTTPXClientInstrumentor().instrument()
    store = OrdersStore(data_dir("orders") / "orders.db")
    inventory_url = os.environ.get("INVENTORY_URL", "http://localhost:3000").rstrip("/")
    notifications_url = os.environ.get("NOTIFICATIONS_URL", "http://localhost:8081").rstrip("/")
    meter = telemetry.meter("orders")
    created = meter.create_counter("orders.created", unit="{order}", description="Orders taken, by product")
    failed = meter.create_counter("orders.failed", unit="{order}", description="Orders with a failed stage")
    clients: dict[str, httpx.AsyncClient] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        clients["http"] = httpx.AsyncClient(timeout=downstream_timeout())
        yield
        await clients["http"].aclose()

    app = FastAPI(title="orders (python-service)", lifespan=lifespan)

    async def call(url: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await clients["http"].post(url, json=payload)
        except httpx.TimeoutException as error:
            raise DownstreamError(f"timed out after {downstream_timeout()} s calling {url}") from error
        except httpx.HTTPError as error:
            raise DownstreamError(f"{type(error).__name__} calling {url}: {error}") from error
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if response.is_success and isinstance(body, dict):
            return body
        detail = body.get("error") if isinstance(body, dict) else None
        raise DownstreamError(f"{url} answered {response.status_code}" + (f": {detail}" if detail else ""))

    def fail(stage: str, error: Exception) -> dict[str, Any]:
        span = trace.get_current_span()
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{stage}: {error}"))
        failed.add(1, {"stage": stage})
        log.error(f"Failed at {stage}: {error}")
        return {"error": str(error)}

    async def run_order(order: Order, reserve_path: str, message: str) -> tuple[int, dict[str, Any]]:
        order_id = store.insert(order)
        created.add(1, {"product": order.product_name})
        item = {"product_name": order.product_name, "quantity": order.quantity}
        try:
            inventory = await call(f"{inventory_url}/inventory/check", item)
            log.info(f"Inventory check result: {inventory}")
        except DownstreamError as error:
            inventory = {"available": False, **fail("inventory", error)}
        pricing: dict[str, Any] | None = None
        if inventory.get("available"):
            try:
                pricing = await call(f"{inventory_url}{reserve_path}", item)
                log.info(f"Inventory reserved with pricing: {pricing}")
            except DownstreamError as error:
                pricing = fail("reserve", error)
        elif "error" not in inventory:
            failed.add(1, {"stage": "stock"})
        note = {
            "recipient": f"user_{order.user_id}@example.com",
            "message": message.format(id=order_id),
            "type": "email",
        }
        try:
            notification = await call(f"{notifications_url}/notifications/send", note)
            log.info(f"Notification sent: {notification}")
        except DownstreamError as error:
            notification = fail("notification", error)
        return order_id, {"inventory_check": inventory, "pricing": pricing, "notification": notification}

    @app.get("/")
    async def root() -> dict[str, str]:
        log.info("Python service root endpoint called")
        return {"service": "python-fastapi", "status": "running"}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "healthy"}

    @app.post("/orders")
    async def create_order(order: Order) -> dict[str, Any]:
        log.info(f"Creating order for user {order.user_id}")
        message = f"Your order #{{id}} for {order.quantity}x {order.product_name} has been placed!"
        order_id, parts = await run_order(order, "/inventory/reserve", message)
        log.info(f"Order {order_id} created successfully")
        return {"order_id": order_id, "status": "pending", **parts}

    @app.get("/orders")
    async def list_orders() -> dict[str, Any]:
        log.info("Fetching all orders")
        orders = store.all()
        log.info(f"Retrieved {len(orders)} orders")
        return {"orders": orders}

    @app.post("/orders/error")
    async def create_order_with_error(order: Order) -> dict[str, Any]:
        # The seed's forced error chain: reserve/error → pricing/calculate/error answer 500; the
        # notification is still sent (§1.3).
        log.info(f"Creating order with intentional error for user {order.user_id}")
        message = f"Error occurred while processing order #{{id}} for {order.quantity}x {order.product_name}"
        order_id, parts = await run_order(order, "/inventory/reserve/error", message)
        log.error("Order workflow completed with errors")
        return {
            "order_id": order_id,
            "status": "error",
            "inventory_check": parts["inventory_check"],
            "pricing_error": parts["pricing"],
            "notification": parts["notification"],
            "message": "This order workflow intentionally includes errors across all services for testing",
        }

    @app.get("/error")
    async def intentional_error() -> None:
        log.error("Intentional error triggered")
        raise HTTPException(status_code=500, detail="Intentional error for testing")

    app.add_middleware(FaultMiddleware, faults=Faults.from_env(os.environ))
    FastAPIInstrumentor.instrument_app(app, tracer_provider=telemetry.tracer_provider)
    return app
