"""Failure injection as ASGI middleware (orders on FastAPI, pricing on Starlette; §2.4).

Added inside the OpenTelemetry ASGI middleware, so the span current here is the request's server
span: the delay is part of its duration and ``demo.fault`` lands on it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from services.common.faults import INJECTED_ERROR, Faults, mark_span

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class FaultMiddleware:
    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        decision = self.faults.decide(scope.get("path", "/"))
        if decision is None:
            await self.app(scope, receive, send)
            return
        mark_span(decision)
        if decision.delay_s:
            await asyncio.sleep(decision.delay_s)
        if not decision.error:
            await self.app(scope, receive, send)
            return
        body = json.dumps(INJECTED_ERROR).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 500, "headers": headers})
        await send({"type": "http.response.body", "body": body})
