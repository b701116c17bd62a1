"""The notifications service (spec/otel-demo.md §1.3, §2.3): aiohttp.web. ``POST /notifications`` is the
guide's name for ``POST /notifications/send``; ``notifications.sent`` counts by ``type``."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor

from services.common.faults import INJECTED_ERROR, Faults, mark_span
from services.common.lifecycle import data_dir
from services.common.otel_setup import Telemetry

log = logging.getLogger("notifications")
SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient TEXT NOT NULL,
    message TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    sent_at TIMESTAMP NOT NULL
)
"""
Handler = Callable[[Any], Awaitable[Any]]  # aiohttp.web is imported once the instrumentor has patched it


class NotificationsStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        connection = sqlite3.connect(path)
        try:
            connection.cursor().execute(SCHEMA)
            connection.commit()
        finally:
            connection.close()

    def insert(self, recipient: str, message: str, kind: str) -> None:
        connection = sqlite3.connect(self.path)
        try:
            connection.cursor().execute(
                "INSERT INTO notifications (recipient, message, type, status, sent_at) VALUES (?, ?, ?, ?, ?)",
                (recipient, message, kind, "sent", datetime.now(UTC).isoformat(timespec="milliseconds")),
            )
            connection.commit()
        finally:
            connection.close()

    def all(self) -> list[dict[str, Any]]:
        connection = sqlite3.connect(self.path)
        try:
            connection.row_factory = sqlite3.Row
            rows = connection.cursor().execute("SELECT * FROM notifications ORDER BY sent_at DESC, id DESC").fetchall()
            return [dict(row) for row in rows]
        finally:
            connection.close()


def create_app(telemetry: Telemetry) -> Any:
    SQLite3Instrumentor().instrument()
    # Before web.Application exists: the instrumentor swaps in a subclass that adds its middleware first.
    AioHttpServerInstrumentor().instrument(tracer_provider=telemetry.tracer_provider)
    from aiohttp import web

    store = NotificationsStore(data_dir("notifications") / "notifications.db")
    sent = telemetry.meter("notifications").create_counter(
        "notifications.sent", unit="{notification}", description="Notifications sent, by type"
    )
    faults = Faults.from_env(os.environ)

    @web.middleware
    async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        decision = faults.decide(request.path)
        if decision is None:
            response: web.StreamResponse = await handler(request)
            return response
        mark_span(decision)
        if decision.delay_s:
            await asyncio.sleep(decision.delay_s)
        if decision.error:
            return web.json_response(INJECTED_ERROR, status=500)
        delayed: web.StreamResponse = await handler(request)
        return delayed

    async def send(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.json_response({"error": "the body must be a JSON object"}, status=400)
        recipient, message, kind = (str(body.get(key, "")) for key in ("recipient", "message", "type"))
        log.info(f"Sending notification to {recipient}")
        store.insert(recipient, message, kind)
        sent.add(1, {"type": kind})
        log.info("Notification sent successfully")
        return web.json_response({"status": "sent", "recipient": recipient, "type": kind})

    async def list_notifications(request: web.Request) -> web.Response:
        log.info("Fetching all notifications")
        rows = store.all()
        log.info(f"Retrieved {len(rows)} notifications")
        return web.json_response({"notifications": rows})

    async def root(request: web.Request) -> web.Response:
        log.info("Java service root endpoint called")
        return web.json_response({"service": "java-spring-boot", "status": "running"})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "healthy"})

    async def intentional_error(request: web.Request) -> web.Response:
        log.error("Intentional error triggered")
        return web.json_response({"error": "Intentional error for testing"}, status=500)

    app = web.Application(middlewares=[inject_faults])
    app.router.add_get("/", root)
    app.router.add_get("/health", health)
    app.router.add_post("/notifications/send", send)
    app.router.add_post("/notifications", send)
    app.router.add_get("/notifications", list_notifications)
    app.router.add_get("/error", intentional_error)
    return app
