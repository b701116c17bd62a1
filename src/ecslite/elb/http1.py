"""The HTTP/1.1 the local ALB speaks on both sides (:mod:`ecslite.elb.proxy`): message heads parsed
and checked, bodies framed by ``Content-Length``, ``Transfer-Encoding: chunked`` or (responses only)
the connection's end, and a pool of keep-alive connections to targets.

Parsing is strict where a lenient reading would let two parties disagree on where a message ends
(request smuggling): header names are tokens with no space before the colon, values carry no
control characters, ``Content-Length`` is digits (repeated only with one value), the only transfer
coding is ``chunked`` (it wins over a ``Content-Length``, which is then not forwarded), and an
HTTP/1.1 request names exactly one ``Host``. Heads end with CRLF CRLF and are at most
:data:`MAX_HEAD` bytes; folded header lines (obs-fold) are joined with a space. Chunk extensions
and trailers are read and dropped.

Target connections (:class:`TargetPool`) are kept per ``(address, port)`` once a response was read
whole on a connection the target keeps alive, and reused newest first for up to
:data:`KEEPALIVE_EXPIRY` seconds idle; one the target closed meanwhile is dropped when picked.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

MAX_HEAD = 65536  # bytes of one message head, the request line or status line included
READ_SIZE = 65536
CONNECT_TIMEOUT_SECONDS = 10.0  # an ALB gives a target 10 s to accept the connection
KEEPALIVE_EXPIRY = 5.0  # seconds a pooled target connection may stay idle before it is closed
MAX_IDLE_PER_TARGET = 100

Headers = list[tuple[bytes, bytes]]

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") (\S+) HTTP/([0-9])\.([0-9])")
_STATUS_LINE = re.compile(rb"HTTP/([0-9])\.([0-9]) ([0-9]{3})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?")
_NAME = re.compile(_TOKEN)
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # anything but HTAB below 0x20, and DEL
_DIGITS = re.compile(rb"[0-9]+")


class ProtocolError(Exception):
    """A message that cannot be read as HTTP/1.1."""


class PeerClosed(Exception):
    """The other side closed or broke the connection (``received``: whether any byte of the
    message had arrived)."""

    def __init__(self, message: str, received: bool = False) -> None:
        super().__init__(message)
        self.received = received


@dataclass(slots=True)
class Framing:
    """How a body is delimited: ``chunked``, else ``length`` bytes, else (``length`` None) until
    the connection closes (responses only)."""

    chunked: bool
    length: int | None


NO_BODY = Framing(False, 0)
# A parsed head: its start line's groups, headers, framing, and whether the connection closes after it.
_Parsed = tuple[tuple[Any, ...], Headers, Framing, bool]


@dataclass(slots=True)
class RequestHead:
    method: bytes
    target: bytes
    keep_alive_version: bool  # HTTP/1.1 or later: the connection stays open unless told otherwise
    headers: Headers
    framing: Framing
    close: bool  # ``Connection: close`` or HTTP/1.0: the connection ends after this exchange


@dataclass(slots=True)
class ResponseHead:
    status: int
    reason: bytes
    headers: Headers
    framing: Framing  # as the target sent it; a body the request's method forbids is left to the caller
    close: bool  # the target will not take another request on this connection


def _headers(lines: list[bytes]) -> Headers:
    headers: Headers = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not headers:
                raise ProtocolError("continuation line before any header")
            name, value = headers[-1]
            headers[-1] = (name, (value + b" " + line.strip(b" \t")).strip(b" "))
            continue
        name, colon, value = line.partition(b":")
        if not colon or not _NAME.fullmatch(name):
            raise ProtocolError(f"malformed header line {line[:40]!r}")
        headers.append((name, value.strip(b" \t")))
    return headers


def _split(head: bytes) -> list[bytes]:
    if _CONTROL.search(head.replace(b"\r\n", b"")):
        raise ProtocolError("control character in the message head")
    return head[:-4].split(b"\r\n")


def _framing(headers: Headers, request: bool) -> tuple[Framing, bool]:
    """The body's framing and whether ``Connection`` asks to close; strict on both."""
    length: bytes | None = None
    chunked = False
    close = False
    for name, value in headers:
        lower = name.lower()
        if lower == b"content-length":
            for part in value.split(b","):
                part = part.strip()
                if not _DIGITS.fullmatch(part) or (length is not None and part != length):
                    raise ProtocolError("bad Content-Length")
                length = part
        elif lower == b"transfer-encoding":
            if chunked or value.strip().lower() != b"chunked":
                raise ProtocolError("only Transfer-Encoding: chunked is supported")
            chunked = True
        elif lower == b"connection":
            close = close or any(token.strip().lower() == b"close" for token in value.split(b","))
    if chunked:
        return Framing(True, None), close
    if length is not None:
        return Framing(False, int(length)), close
    return (NO_BODY if request else Framing(False, None)), close


def _parse(head: bytes, start_line: re.Pattern[bytes], what: str, *, request: bool) -> _Parsed:
    """A message head, ending with CRLF CRLF: its start line's parts, headers, framing and whether the
    connection closes after it."""
    lines = _split(head)
    found = start_line.fullmatch(lines[0])
    if found is None:
        raise ProtocolError(f"malformed {what}")
    headers = _headers(lines[1:])
    framing, close = _framing(headers, request=request)
    return found.groups(), headers, framing, close


def parse_request(head: bytes) -> RequestHead:
    """A request head, ending with CRLF CRLF."""
    (method, target, major, minor), headers, framing, close = _parse(head, _REQUEST_LINE, "request line", request=True)
    modern = (int(major), int(minor)) >= (1, 1)
    if modern and sum(1 for name, _ in headers if name.lower() == b"host") != 1:
        raise ProtocolError("an HTTP/1.1 request names exactly one Host")
    return RequestHead(method, target, modern, headers, framing, close or not modern)


def parse_response(head: bytes) -> ResponseHead:
    """A response head, ending with CRLF CRLF."""
    (major, minor, status, reason), headers, framing, close = _parse(head, _STATUS_LINE, "status line", request=False)
    modern = (int(major), int(minor)) >= (1, 1)
    return ResponseHead(int(status), reason or b"", headers, framing, close or not modern)


def buffered(reader: asyncio.StreamReader) -> int:
    """Bytes already received and not yet read: a read of that many returns without waiting, so
    it needs no timeout (``StreamReader`` has no public way to tell)."""
    return len(reader._buffer)  # type: ignore[attr-defined]


async def read_head(reader: asyncio.StreamReader) -> bytes:
    """One head up to and including CRLF CRLF; :class:`PeerClosed` when the connection ends first
    (``received`` if part of a head had come), :class:`ProtocolError` when it is too long."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        raise PeerClosed("connection closed before a complete head", bool(error.partial)) from error
    except asyncio.LimitOverrunError as error:
        raise ProtocolError("message head too long") from error
    except (ConnectionError, OSError) as error:
        raise PeerClosed(str(error)) from error


async def body_chunks(reader: asyncio.StreamReader, framing: Framing, timeout: float | None) -> AsyncIterator[bytes]:
    """The body's bytes as they arrive (decoded from chunks), each read bounded by ``timeout``
    (:class:`TimeoutError`); :class:`PeerClosed` when the connection ends before the body does."""
    try:
        if framing.chunked:
            while True:
                async with asyncio.timeout(timeout):
                    line = await reader.readuntil(b"\r\n")
                size_text = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise ProtocolError("malformed chunk size") from None
                if size == 0:
                    while True:  # trailers, dropped
                        async with asyncio.timeout(timeout):
                            if await reader.readuntil(b"\r\n") == b"\r\n":
                                return
                while size > 0:
                    async with asyncio.timeout(timeout):
                        data = await reader.read(min(size, READ_SIZE))
                    if not data:
                        raise PeerClosed("connection closed inside a chunk", True)
                    size -= len(data)
                    yield data
                async with asyncio.timeout(timeout):
                    if await reader.readexactly(2) != b"\r\n":
                        raise ProtocolError("chunk not followed by CRLF")
        else:
            left = framing.length
            while left is None or left > 0:
                size = READ_SIZE if left is None else min(left, READ_SIZE)
                if buffered(reader):
                    data = await reader.read(size)
                else:
                    async with asyncio.timeout(timeout):
                        data = await reader.read(size)
                if not data:
                    if left is None:
                        return
                    raise PeerClosed("connection closed inside the body", True)
                if left is not None:
                    left -= len(data)
                yield data
    except asyncio.IncompleteReadError as error:
        raise PeerClosed("connection closed inside the body", True) from error
    except asyncio.LimitOverrunError as error:
        raise ProtocolError("chunk line too long") from error
    except (ConnectionError, OSError) as error:
        raise PeerClosed(str(error), True) from error


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


# -- target connections ------------------------------------------------------------------------


class TargetConnection:
    __slots__ = ("endpoint", "idle_since", "reader", "writer")

    def __init__(self, endpoint: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.endpoint = endpoint
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def usable(self, now: float) -> bool:
        """Still open on both sides and not idle for too long (the target may close it any time)."""
        return (
            now - self.idle_since < KEEPALIVE_EXPIRY
            and not self.reader.at_eof()
            and not self.writer.transport.is_closing()
            and not buffered(self.reader)  # bytes no request asked for
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.transport.abort()


class TargetPool:
    """Keep-alive connections to targets; ``allow`` says which addresses may be reached at all
    (the fake runtime's: loopback only), the others are refused with ``refusal``."""

    def __init__(self, allow: Callable[[str], bool] | None = None, refusal: str = "Connection refused") -> None:
        self.allow = allow
        self.refusal = refusal
        self._idle: dict[tuple[str, int], list[TargetConnection]] = {}
        self._swept = time.monotonic()
        self.opened = 0  # connections made, for tests and stats

    def pooled(self, endpoint: tuple[str, int]) -> TargetConnection | None:
        idle = self._idle.get(endpoint)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.usable(now):
                return connection
            connection.close()
        return None

    async def connect(self, endpoint: tuple[str, int]) -> TargetConnection:
        """A new connection: :class:`TimeoutError` after 10 s, :class:`OSError` when refused."""
        address, port = endpoint
        if self.allow is not None and not self.allow(address):
            raise ConnectionRefusedError(self.refusal)
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
            reader, writer = await asyncio.open_connection(address, port, limit=MAX_HEAD)
        self.opened += 1
        return TargetConnection(endpoint, reader, writer)

    def release(self, connection: TargetConnection) -> None:
        now = time.monotonic()
        if now - self._swept > KEEPALIVE_EXPIRY:
            self._sweep(now)
        idle = self._idle.setdefault(connection.endpoint, [])
        if len(idle) >= MAX_IDLE_PER_TARGET:
            connection.close()
            return
        connection.idle_since = now
        idle.append(connection)

    def _sweep(self, now: float) -> None:
        """Connections idle past the expiry closed, also those of targets no longer asked for."""
        self._swept = now
        for endpoint, idle in list(self._idle.items()):
            kept = [c for c in idle if now - c.idle_since < KEEPALIVE_EXPIRY]
            for connection in idle:
                if now - connection.idle_since >= KEEPALIVE_EXPIRY:
                    connection.close()
            if kept:
                self._idle[endpoint] = kept
            else:
                del self._idle[endpoint]

    def idle_count(self, endpoint: tuple[str, int]) -> int:
        return len(self._idle.get(endpoint, ()))

    async def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
