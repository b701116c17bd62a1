"""The ASGI pieces the edge's apps (the AWS APIs, S3's REST API, ECR's registry) share: their types,
reading a whole request body under a cap, and sending a whole response."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The request's body, or None once it grows past ``limit`` bytes (the rest is left unread)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def respond(send: Send, status: int, headers: Headers, body: bytes, *, length: int | None = None) -> None:
    """Sends a whole response with its ``content-length``: ``body``'s, or ``length`` for a HEAD answer
    that states the size of a body it does not carry."""
    head = [*headers, (b"content-length", str(len(body) if length is None else length).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
