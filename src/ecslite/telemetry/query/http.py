"""What every query API handler shares: JSON responses (orjson), running store reads and query
evaluation on a worker thread, and a last-resort handler that logs a failure and answers in the
API's own error shape without a traceback (spec/telemetry.md §7, design.md "Edge").
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger(__name__)
T = TypeVar("T")
Handler = Callable[[Request], Awaitable[Response]]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def text_response(text: str, status: int = 200) -> Response:
    return Response(text, status_code=status, media_type="text/plain; charset=utf-8")


async def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """Run a store read or an evaluation on a worker thread (they may take more than a millisecond)."""
    return await asyncio.to_thread(fn, *args)


def guarded(on_error: Callable[[str], Response]) -> Callable[[Handler], Handler]:
    """Answer an unexpected failure with ``on_error(message)`` after logging it with its traceback."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as error:
                log.exception("query API request failed", extra={"path": request.url.path})
                return on_error(f"internal error: {type(error).__name__}")

        return run

    return wrap
