"""One local ALB listener: HTTP/1.1 from clients, rules, and a proxied exchange with a target
(spec/ecs.md §7.3, §7.5).

Both sides speak HTTP/1.1 through :mod:`ecslite.elb.http1` on asyncio streams: client requests are
parsed there, and targets at ``address:port`` (task addresses on the bridge) are reached over
keep-alive connections from a :class:`~ecslite.elb.http1.TargetPool` shared by the listeners. Per
request:

1. the listener's rules decide (:mod:`ecslite.elb.rules`): a fixed response, a redirect, or a
   target group;
2. the group's routing set comes from :class:`Routing` (healthy targets, failing open to every
   registered non-draining one); none → **503**; the balancer picks one target;
3. the request goes there with ``X-Forwarded-For`` as the load balancer's
   ``routing.http.xff_header_processing.mode`` says (``append``: the client's address appended, or
   the header made; ``preserve``: the client's header as sent, none when it sent none; ``remove``:
   none), ``X-Forwarded-Proto`` (``http`` or ``https``, the listener's protocol), ``X-Forwarded-Port``
   (the listener's port) and ``X-Amzn-Trace-Id`` (kept when the client
   sent one, else ``Root=1-<8 hex epoch seconds>-<24 hex>``); hop-by-hop headers are not forwarded
   (``Upgrade`` among them, but for a WebSocket upgrade: 5 below),
   nor, with ``routing.http.drop_invalid_header_fields.enabled``, headers whose names are not
   letters, digits and hyphens; a request without ``Host`` (HTTP/1.0) gets the target's;
4. bodies stream both ways, never buffered whole, framed by ``Content-Length`` or chunked (a
   response without either is sent chunked to HTTP/1.1 clients, and to HTTP/1.0 ones until the
   connection closes); responses to ``HEAD`` and 1xx/204/304 responses have none. A refused,
   reset or malformed exchange answers **502**, a target silent for the idle timeout (or not
   connecting within 10 s) **504**. A pooled connection that the target closed meanwhile is
   replaced by a new one, once, when no byte of the request's body had been sent on it. Once the
   response has started, a failure can only close the client's connection.
5. WebSocket (as an ALB carries it on HTTP and HTTPS listeners): an HTTP/1.1 ``GET`` without a
   body whose ``Connection`` names ``upgrade`` and whose ``Upgrade`` names ``websocket`` is routed
   like any request and sent on a new target connection, never a pooled one, with
   ``Connection: Upgrade`` and its ``Upgrade`` kept (``Sec-WebSocket-*`` and the forwarded headers
   go as usual). A **101** from the target is passed on and the two connections are joined: bytes
   go both ways as they come until either side closes, or until neither has sent a byte for the
   idle timeout; then both are closed. Any other answer is passed on as a normal response. Either
   way the target connection is not pooled. While joined, the connection is one outstanding
   request on its target for ``least_outstanding_requests`` (how an ALB weighs WebSockets there
   is unverified). A 101 to any other request is a malformed exchange (**502**). Other upgrades
   (``h2c``, which an ALB does not support) are plain requests without their ``Upgrade``.

With a meter (:mod:`ecslite.elb.metrics`), each connection, request and response is counted in
memory for the ``AWS/ApplicationELB`` metrics: who answered and with what class of status, the
target's response time (request sent to response head), bytes both ways. An upgrade is one
request with its target's status (101 falls in no published ``HTTPCode_Target_*`` class), and the
bytes of an upgraded connection are processed bytes.

Keep-alive: the next request is read once the previous exchange is over on both sides. A client
connection is closed after a response when the client asked (``Connection: close``, or HTTP/1.0),
when its request body was not read whole, when it has been idle for the idle timeout (as an ALB
does), and when it is older than ``client_keep_alive.seconds``. A malformed request is answered
**400** and its connection closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ecslite.elb.balancer import Balancer, Endpoint
from ecslite.elb.http1 import (
    LAST_CHUNK,
    READ_SIZE,
    Framing,
    PeerClosed,
    ProtocolError,
    RequestHead,
    ResponseHead,
    TargetConnection,
    TargetPool,
    body_chunks,
    buffered,
    chunk,
    parse_request,
    parse_response,
    read_head,
)
from ecslite.elb.metrics import AlbMeter, BalancerCounts
from ecslite.elb.rules import FixedResponse, Forward, HttpRequest, Redirect, evaluate, ordered
from ecslite.elb.websocket import tunnel, websocket_upgrade

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
REASONS = {
    400: "Bad Request",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}
SERVER = b"awselb/2.0"
VALID_HEADER_NAME = re.compile(rb"[A-Za-z0-9-]+")
NOT_FORWARDED = HOP_BY_HOP | {b"x-forwarded-proto", b"x-forwarded-port"}


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    """What one listener serves: its rules (the default rule included) and the LB's idle timeout."""

    arn: str
    load_balancer_arn: str
    port: int
    rules: tuple[dict[str, Any], ...]
    idle_timeout: float = 60.0
    xff_mode: str = "append"  # routing.http.xff_header_processing.mode: append | preserve | remove
    drop_invalid_headers: bool = False  # routing.http.drop_invalid_header_fields.enabled
    client_keep_alive: float = 3600.0  # client_keep_alive.seconds
    addresses: tuple[str, ...] = ()  # the load balancer's private addresses
    protocol: str = "HTTP"  # HTTPS: clients speak TLS (``elb.tls``), targets still get plain HTTP
    certificates: tuple[str, ...] = ()  # HTTPS: ACM certificate ARNs, the default first
    ssl_policy: str | None = None


class Routing(Protocol):
    """The target groups' side: where a group's traffic may go, and how to choose."""

    def routing_targets(self, target_group_arn: str) -> Sequence[Endpoint]: ...

    def algorithm(self, target_group_arn: str) -> str: ...


def trace_id(now: float | None = None) -> str:
    """A new ``X-Amzn-Trace-Id`` value: ``Root=1-<8 hex seconds>-<24 hex>``."""
    seconds = int(time.time() if now is None else now)
    return f"Root=1-{seconds:08x}-{secrets.token_hex(12)}"


def error_page(status: int) -> bytes:
    title = f"{status} {REASONS.get(status, '')}".strip()
    lines = ["<html>", f"<head><title>{title}</title></head>", "<body>", f"<center><h1>{title}</h1></center>"]
    return "\r\n".join([*lines, "</body>", "</html>", ""]).encode()


class _ClientGone(Exception):
    """The client closed or broke its connection."""


class _TargetFailed(Exception):
    """The exchange with the target failed before its response started: answered with ``status``."""

    def __init__(self, status: int, error: BaseException) -> None:
        super().__init__(str(error))
        self.status = status
        self.error = error


@dataclass
class ListenerStats:
    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    last_error: str | None = None


class _Client:
    """One client connection's side of the exchange in flight."""

    __slots__ = ("body_done", "close", "reader", "source", "started", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, source: str) -> None:
        self.reader = reader
        self.writer = writer
        self.source = source
        self.started = False  # a response head went out for the request in flight
        self.close = False  # the connection ends after this response
        self.body_done = True  # the request's body was read whole


class ListenerProxy:
    """Serves one listener's connections; ``config`` may be swapped while it serves."""

    def __init__(
        self,
        config: ListenerConfig,
        routing: Routing,
        balancer: Balancer,
        pool: TargetPool,
        *,
        clock: Callable[[], float] = time.time,
        meter: AlbMeter | None = None,
    ) -> None:
        self.config = config
        self.routing = routing
        self.balancer = balancer
        self.pool = pool
        self.clock = clock
        self.stats = ListenerStats()
        self._rng = random.Random()
        # AWS/ApplicationELB counts (elb.metrics); a listener's load balancer never changes.
        self.counts: BalancerCounts | None = meter.balancer(config.load_balancer_arn) if meter else None

    @property
    def config(self) -> ListenerConfig:
        return self._config

    @config.setter
    def config(self, config: ListenerConfig) -> None:
        self._config = config
        self._rules = ordered(config.rules)  # sorted once, not per request

    # -- connection ------------------------------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        client = _Client(reader, writer, str(peer[0]) if peer else "127.0.0.1")
        opened = time.monotonic()
        counts = self.counts
        if counts is not None:
            counts.connection_opened()
        try:
            while True:
                try:
                    async with asyncio.timeout(self.config.idle_timeout):
                        head = await read_head(reader)
                except (TimeoutError, PeerClosed):
                    return
                except ProtocolError:
                    client.close = True
                    await self._send_error(client, 400)
                    return
                if counts is not None:
                    counts.processed_bytes += len(head)
                try:
                    request = parse_request(head)
                except ProtocolError:
                    client.close = True
                    await self._send_error(client, 400)
                    return
                client.started = False
                client.close = request.close
                client.body_done = request.framing.length == 0 and not request.framing.chunked
                await self._exchange(client, request)
                if client.close or not client.body_done:
                    return
                if time.monotonic() - opened >= self.config.client_keep_alive:
                    return
        except (ConnectionError, _ClientGone, PeerClosed):
            return
        except Exception:
            # A bug here must cost one connection, not the listener; ELB answers its own faults with 500.
            log.exception("local ALB request failed", extra={"listener": self.config.arn})
            client.close = True
            await self._send_error(client, 500)
        finally:
            if counts is not None:
                counts.connection_closed()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _write(self, client: _Client, data: bytes) -> None:
        if self.counts is not None:
            self.counts.processed_bytes += len(data)
        try:
            client.writer.write(data)
            await client.writer.drain()
        except (ConnectionError, OSError) as error:
            raise _ClientGone from error

    def _head(self, client: _Client, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
        if client.close or not client.body_done:
            headers = [*headers, (b"connection", b"close")]
        lines = [b"HTTP/1.1 %d %s" % (status, reason), *(name + b": " + value for name, value in headers)]
        return b"\r\n".join(lines) + b"\r\n\r\n"

    async def _send_simple(self, client: _Client, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self._count(status)
        all_headers = [(b"server", SERVER), (b"content-length", str(len(body)).encode()), *headers]
        client.started = True
        await self._write(client, self._head(client, status, REASONS.get(status, "").encode(), all_headers) + body)

    async def _send_error(self, client: _Client, status: int, group: str | None = None) -> None:
        """The load balancer's own error page; ``group``: the target group a target was chosen in."""
        if client.started:
            return
        if self.counts is not None:
            self.counts.elb_response(status, group)
        with contextlib.suppress(Exception):
            await self._send_simple(client, status, [(b"content-type", b"text/html")], error_page(status))

    def _count(self, status: int) -> None:
        self.stats.requests += 1
        self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1

    # -- one request -----------------------------------------------------------------------------

    def describe(self, request: RequestHead, source: str) -> HttpRequest:
        target = request.target.decode("latin-1")
        path, _, query = target.partition("?")
        headers = tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in request.headers)
        host = next((v for k, v in headers if k == "host"), "")
        return HttpRequest(
            request.method.decode(), host, path, query, headers, source, self.config.protocol, self.config.port
        )

    async def _exchange(self, client: _Client, head: RequestHead) -> None:
        request = self.describe(head, client.source)
        decision = evaluate(self._rules, request, self._rng, presorted=True)
        if not isinstance(decision, Forward) or decision.target_group_arn is None:
            await self._discard_body(client, head.framing)
            await self._answer(client, decision)
            return
        group = decision.target_group_arn
        endpoint = self.balancer.pick(group, self.routing.routing_targets(group), self.routing.algorithm(group))
        if endpoint is None:
            await self._discard_body(client, head.framing)
            await self._send_error(client, 503)
            return
        self.balancer.started(group, endpoint)
        try:
            await self._forward(client, head, request, group, endpoint)
        finally:
            self.balancer.finished(group, endpoint)

    async def _answer(self, client: _Client, decision: Any) -> None:
        if isinstance(decision, FixedResponse):
            if self.counts is not None:
                self.counts.rule_response(redirect=False)
            headers = [(b"content-type", decision.content_type.encode())] if decision.content_type else []
            await self._send_simple(client, decision.status, headers, decision.body.encode())
        elif isinstance(decision, Redirect):
            if self.counts is not None:
                self.counts.rule_response(redirect=True)
            await self._send_simple(client, decision.status, [(b"location", decision.location.encode())], b"")
        else:  # no rule (listener going away) or a forward with nothing to forward to
            await self._send_error(client, 503)

    async def _discard_body(self, client: _Client, framing: Framing) -> None:
        if client.body_done:
            return
        async for _ in self._client_body(client, framing):
            pass

    async def _client_body(self, client: _Client, framing: Framing) -> AsyncIterator[bytes]:
        try:
            async for data in body_chunks(client.reader, framing, self.config.idle_timeout):
                if self.counts is not None:
                    self.counts.processed_bytes += len(data)
                yield data
        except (PeerClosed, ProtocolError, TimeoutError) as error:
            raise _ClientGone from error
        client.body_done = True

    def _upstream_headers(
        self, head: RequestHead, request: HttpRequest, endpoint: Endpoint, upgrade: bytes | None = None
    ) -> list[bytes]:
        """The request's header lines for the target, framing included; ``upgrade``: the
        ``Upgrade`` value of a WebSocket upgrade, kept with its ``Connection``."""
        lines: list[bytes] = []
        forwarded_for: bytes | None = None
        trace: bytes | None = None
        host = False
        drop_invalid = self.config.drop_invalid_headers
        chunked = head.framing.chunked
        for name, value in head.headers:
            lower = name.lower()
            if lower in NOT_FORWARDED or (chunked and lower == b"content-length"):
                continue
            if drop_invalid and not VALID_HEADER_NAME.fullmatch(name):
                continue
            if lower == b"x-forwarded-for":
                forwarded_for = value if forwarded_for is None else forwarded_for + b", " + value
                continue
            if lower == b"x-amzn-trace-id":
                trace = value
            elif lower == b"host":
                host = True
            lines.append(name + b": " + value)
        if not host:
            lines.append(b"Host: %s:%d" % (endpoint[0].encode(), endpoint[1]))
        client = request.source_ip.encode()
        mode = self.config.xff_mode
        if mode == "preserve" and forwarded_for is not None:
            lines.append(b"X-Forwarded-For: " + forwarded_for)
        elif mode not in ("preserve", "remove"):
            lines.append(b"X-Forwarded-For: " + (client if forwarded_for is None else forwarded_for + b", " + client))
        lines.append(b"X-Forwarded-Proto: " + self.config.protocol.lower().encode())
        lines.append(b"X-Forwarded-Port: %d" % self.config.port)
        if trace is None:
            lines.append(b"X-Amzn-Trace-Id: " + trace_id(self.clock()).encode())
        if chunked:
            lines.append(b"Transfer-Encoding: chunked")
        if upgrade is not None:
            lines += [b"Connection: Upgrade", b"Upgrade: " + upgrade]
        return lines

    async def _forward(
        self, client: _Client, head: RequestHead, request: HttpRequest, group: str, endpoint: Endpoint
    ) -> None:
        upgrade = websocket_upgrade(head) if client.body_done else None
        lines = self._upstream_headers(head, request, endpoint, upgrade)
        message = b"\r\n".join([b"%s %s HTTP/1.1" % (head.method, head.target), *lines]) + b"\r\n\r\n"
        try:
            connection, response, sent = await self._send_request(client, head, message, endpoint, upgrade is not None)
        except _TargetFailed as failed:
            self._failed(endpoint, failed.error)
            await self._send_error(client, failed.status, group)
            return
        if self.counts is not None:
            # TargetResponseTime: from the request leaving to the response's head arriving. An
            # upgrade counts once here with its 101; whether an ALB files 101 under any
            # HTTPCode_Target_* metric is unverified (there is no 1XX one), so it shows in
            # RequestCount only.
            self.counts.target_response(group, response.status, time.perf_counter() - sent)
        if response.status == 101:
            try:
                await self._switch(client, connection, response)
            finally:
                connection.close()
            return
        reusable = False
        try:
            reusable = await self._relay(client, head, connection, response)
        finally:
            if reusable and upgrade is None:
                self.pool.release(connection)
            else:
                connection.close()

    async def _send_request(
        self, client: _Client, head: RequestHead, message: bytes, endpoint: Endpoint, upgrade: bool = False
    ) -> tuple[TargetConnection, ResponseHead, float]:
        """The request sent on a pooled or new connection (always new for an ``upgrade``) and the
        response's head read: a pooled connection found closed is replaced once while no byte of
        the body went out on it. A 101 is an answer only to an upgrade."""
        idle = self.config.idle_timeout
        sent = time.perf_counter()  # TargetResponseTime includes a new connection's setup
        connection = None if upgrade else self.pool.pooled(endpoint)
        while True:
            reused = connection is not None
            if connection is None:
                try:
                    connection = await self.pool.connect(endpoint)
                except TimeoutError as error:
                    raise _TargetFailed(504, error) from None
                except OSError as error:
                    raise _TargetFailed(502, error) from None
            body_sent = False
            try:
                connection.writer.write(message)
                if not client.body_done:
                    body_sent = True
                    await self._send_body(client, head.framing, connection, idle)
                else:
                    await connection.writer.drain()
                while True:
                    async with asyncio.timeout(idle):
                        response = parse_response(await read_head(connection.reader))
                    if response.status >= 200 or response.status == 101:
                        break  # 100 Continue and other interim responses are the target's business
                if response.status == 101 and not upgrade:
                    raise ProtocolError("101 Switching Protocols to a request without Upgrade")
                return connection, response, sent
            except _ClientGone:
                connection.close()
                raise
            except TimeoutError as error:
                connection.close()
                raise _TargetFailed(504, error) from None
            except PeerClosed as error:
                connection.close()
                if reused and not body_sent and not error.received:
                    connection = None  # the target closed it while pooled: a fresh one, once
                    continue
                raise _TargetFailed(502, error) from None
            except (ProtocolError, ConnectionError, OSError) as error:
                connection.close()
                if reused and not body_sent and isinstance(error, ConnectionError):
                    connection = None
                    continue
                raise _TargetFailed(502, error) from None

    async def _send_body(self, client: _Client, framing: Framing, connection: TargetConnection, idle: float) -> None:
        writer = connection.writer
        try:
            async for data in self._client_body(client, framing):
                writer.write(chunk(data) if framing.chunked else data)
                async with asyncio.timeout(idle):
                    await writer.drain()
            if framing.chunked:
                writer.write(LAST_CHUNK)
            async with asyncio.timeout(idle):
                await writer.drain()
        except (ConnectionError, OSError) as error:
            raise PeerClosed(str(error), False) from error

    async def _relay(
        self, client: _Client, head: RequestHead, connection: TargetConnection, response: ResponseHead
    ) -> bool:
        """The response to the client; whether the target connection can take another request."""
        status = response.status
        headers = [(k, v) for k, v in response.headers if k.lower() not in HOP_BY_HOP]
        bodyless = head.method == b"HEAD" or status in (204, 304) or status < 200
        framing = response.framing
        out_chunked = False
        if not bodyless and framing.length is None:
            if head.keep_alive_version:
                out_chunked = True
                headers.append((b"transfer-encoding", b"chunked"))
            else:
                client.close = True  # HTTP/1.0: the body ends when the connection does
        self._count(status)
        client.started = True
        out = self._head(client, status, response.reason, headers)
        if not bodyless and framing.length and buffered(connection.reader):
            # The body's start came with the head (as a small body does): one write for both.
            first = await connection.reader.read(min(framing.length, READ_SIZE))
            out += first
            framing = Framing(False, framing.length - len(first))
        await self._write(client, out)
        if bodyless:
            return not response.close
        try:
            async for data in body_chunks(connection.reader, framing, self.config.idle_timeout):
                await self._write(client, chunk(data) if out_chunked else data)
        except (PeerClosed, ProtocolError, TimeoutError) as error:
            # Too late for a 502: the client sees its connection close mid-body, as behind an ALB.
            self.stats.last_error = f"{type(error).__name__}: {error}"
            raise _ClientGone from error
        if out_chunked:
            await self._write(client, LAST_CHUNK)
        return not response.close and (framing.chunked or response.framing.length is not None)

    async def _switch(self, client: _Client, connection: TargetConnection, response: ResponseHead) -> None:
        """The target's 101 to the client, then the two connections joined until either ends or
        both are idle for the idle timeout; the client's connection ends with it."""
        headers = [(k, v) for k, v in response.headers if k.lower() not in HOP_BY_HOP]
        upgrade = b", ".join(v for k, v in response.headers if k.lower() == b"upgrade") or b"websocket"
        headers += [(b"connection", b"Upgrade"), (b"upgrade", upgrade)]
        self._count(101)
        client.started = True
        client.close = True
        lines = [
            b"HTTP/1.1 101 " + (response.reason or b"Switching Protocols"),
            *(name + b": " + value for name, value in headers),
        ]
        await self._write(client, b"\r\n".join(lines) + b"\r\n\r\n")
        counts = self.counts

        def counted(size: int) -> None:
            if counts is not None:
                counts.processed_bytes += size

        await tunnel(
            (client.reader, client.writer), (connection.reader, connection.writer), self.config.idle_timeout, counted
        )

    def _failed(self, endpoint: Endpoint, error: BaseException) -> None:
        self.stats.last_error = f"{endpoint[0]}:{endpoint[1]}: {type(error).__name__}: {error}"
        log.info("target exchange failed", extra={"listener": self.config.arn, "target": endpoint, "error": str(error)})
