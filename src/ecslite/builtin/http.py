"""A small HTTP/1.1 server on asyncio and ``httptools`` for the built-in images' endpoints (the
Fluent Bit monitoring API on 2020, the ``http`` input, the X-Ray daemon's sampling proxy) and for
ecslite's task-side gateway.

One handler coroutine per request; requests on a keep-alive connection are answered in order.
Bodies are capped (``max_body``, 413 past it); a handler that raises answers 500 with the
exception's text and is logged, so a bug never kills the listener.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import parse_qs, urlsplit

import httptools

log = logging.getLogger(__name__)

REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    peer: tuple[str, int] | None

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass(frozen=True, slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def encode(self, close: bool) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {REASONS.get(self.status, 'Status')}"]
        if self.status != 204:
            lines.append(f"Content-Type: {self.content_type}")
            lines.append(f"Content-Length: {len(self.body)}")
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        if close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head + (self.body if self.status != 204 else b"")


Handler = Callable[[Request], Awaitable[Response]]


class _Connection(asyncio.Protocol):
    def __init__(self, handler: Handler, max_body: int) -> None:
        self.handler = handler
        self.max_body = max_body
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.peer: tuple[str, int] | None = None
        self._answers: list[asyncio.Future[tuple[bytes, bool]]] = []
        self._reset()

    def _reset(self) -> None:
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._size = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        name = transport.get_extra_info("peername")
        if isinstance(name, tuple) and len(name) >= 2:
            self.peer = (str(name[0]), int(name[1]))

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._write_now(Response(400, f"malformed HTTP request: {error}".encode(), "text/plain"), True)

    def on_message_begin(self) -> None:
        self._reset()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size <= self.max_body:
            self._body.append(chunk)

    def on_message_complete(self) -> None:
        close = not self.parser.should_keep_alive()
        url = urlsplit(self._url.decode("latin-1"))
        if self._size > self.max_body:
            self._write_now(Response(413, b"request body too large", "text/plain"), True)
            return
        request = Request(
            method=self.parser.get_method().decode(),
            path=url.path or "/",
            query=parse_qs(url.query),
            headers=dict(self._headers),
            body=b"".join(self._body),
            peer=self.peer,
        )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[bytes, bool]] = loop.create_future()
        self._answers.append(future)
        task = loop.create_task(self._run(request, close))
        task.add_done_callback(lambda done: _settle(future, done))
        future.add_done_callback(self._flush)

    async def _run(self, request: Request, close: bool) -> tuple[bytes, bool]:
        try:
            response = await self.handler(request)
        except Exception as error:
            log.exception("HTTP handler failed", extra={"path": request.path})
            response = Response(500, f"internal error: {error}".encode(), "text/plain")
        return response.encode(close), close

    def _write_now(self, response: Response, close: bool) -> None:
        future: asyncio.Future[tuple[bytes, bool]] = asyncio.get_running_loop().create_future()
        future.set_result((response.encode(close), close))
        self._answers.append(future)
        self._flush()

    def _flush(self, _: object = None) -> None:
        while self._answers and self._answers[0].done():
            data, close = self._answers.pop(0).result()
            if self.transport is None or self.transport.is_closing():
                continue
            self.transport.write(data)
            if close:
                self.transport.close()


def _settle(future: asyncio.Future[tuple[bytes, bool]], task: asyncio.Task[tuple[bytes, bool]]) -> None:
    if future.done():
        return
    if task.cancelled():
        future.set_result((Response(503, b"shutting down", "text/plain").encode(True), True))
    else:
        future.set_result(task.result())


class HttpServer:
    """Listeners serving one handler; ``close`` stops them."""

    def __init__(self, handler: Handler, *, max_body: int = 64 * 1024 * 1024) -> None:
        self.handler = handler
        self.max_body = max_body
        self._servers: list[asyncio.Server] = []

    def _factory(self) -> _Connection:
        return _Connection(self.handler, self.max_body)

    async def listen(self, host: str, port: int) -> list[tuple[str, int]]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(self._factory, host, port, reuse_address=True)
        self._servers.append(server)
        return [s.getsockname()[:2] for s in server.sockets]

    async def listen_socket(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._servers.append(await loop.create_server(self._factory, sock=sock))

    def close(self) -> None:
        for server in self._servers:
            server.close()
        self._servers.clear()


def json_response(data: object, status: int = 200) -> Response:
    import orjson

    return Response(status, orjson.dumps(data), "application/json")


def text_response(text: str, status: int = 200, content_type: str = "text/plain") -> Response:
    return Response(status, text.encode(), content_type)
