"""One local ALB listener: HTTP/1.1 from clients, rules, and a proxied exchange with a target
(spec/ecs.md §7.3, §7.5).

Client connections are parsed by ``h11`` on asyncio streams; targets are reached with ``httpx`` at
``address:port`` (task addresses on the bridge). Per request:

1. the listener's rules decide (:mod:`ecslite.elb.rules`): a fixed response, a redirect, or a
   target group;
2. the group's routing set comes from :class:`Routing` (healthy targets, failing open to every
   registered non-draining one); none → **503**; the balancer picks one target;
3. the request goes there with ``X-Forwarded-For`` as the load balancer's
   ``routing.http.xff_header_processing.mode`` says (``append``: the client's address appended, or
   the header made; ``preserve``: the client's header as sent, none when it sent none; ``remove``:
   none), ``X-Forwarded-Proto`` (``http`` or ``https``, the listener's protocol), ``X-Forwarded-Port``
   (the listener's port) and ``X-Amzn-Trace-Id`` (kept when the client
   sent one, else ``Root=1-<8 hex epoch seconds>-<24 hex>``); hop-by-hop headers are not forwarded,
   nor, with ``routing.http.drop_invalid_header_fields.enabled``, headers whose names are not
   letters, digits and hyphens;
4. bodies stream both ways, never buffered whole; a refused, reset or malformed exchange answers
   **502**, a target silent for the idle timeout (or not connecting within 10 s) **504**. Once the
   response has started, a failure can only close the client's connection.

With a meter (:mod:`ecslite.elb.metrics`), each connection, request and response is counted in
memory for the ``AWS/ApplicationELB`` metrics: who answered and with what class of status, the
target's response time (request sent to response head), bytes both ways.

Keep-alive follows h11: the next request is read once both sides finished the previous one; a
client connection idle for the idle timeout is closed, as an ALB does, and one older than
``client_keep_alive.seconds`` is closed after the response in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import h11
import httpx

from ecslite.elb.balancer import Balancer, Endpoint
from ecslite.elb.metrics import AlbMeter, BalancerCounts
from ecslite.elb.rules import FixedResponse, Forward, HttpRequest, Redirect, evaluate

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10.0  # an ALB gives a target 10 s to accept the connection
READ_SIZE = 65536
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


@dataclass
class ListenerStats:
    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    last_error: str | None = None


class ListenerProxy:
    """Serves one listener's connections; ``config`` may be swapped while it serves."""

    def __init__(
        self,
        config: ListenerConfig,
        routing: Routing,
        balancer: Balancer,
        client: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.time,
        meter: AlbMeter | None = None,
    ) -> None:
        self.config = config
        self.routing = routing
        self.balancer = balancer
        self.client = client
        self.clock = clock
        self.stats = ListenerStats()
        # AWS/ApplicationELB counts (elb.metrics); a listener's load balancer never changes.
        self.counts: BalancerCounts | None = meter.balancer(config.load_balancer_arn) if meter else None

    # -- connection ------------------------------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        source = str(peer[0]) if peer else "127.0.0.1"
        conn = h11.Connection(h11.SERVER)
        opened = time.monotonic()
        counts = self.counts
        if counts is not None:
            counts.connection_opened()
        try:
            while True:
                try:
                    event = await self._next(conn, reader, self.config.idle_timeout)
                except (TimeoutError, _ClientGone):
                    return
                except h11.RemoteProtocolError:
                    await self._send_error(conn, writer, 400)
                    return
                if not isinstance(event, h11.Request):
                    return
                await self._exchange(conn, reader, writer, event, source)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                if time.monotonic() - opened >= self.config.client_keep_alive:
                    return
                conn.start_next_cycle()
        except (ConnectionError, _ClientGone):
            return
        except Exception:
            # A bug here must cost one connection, not the listener; ELB answers its own faults with 500.
            log.exception("local ALB request failed", extra={"listener": self.config.arn})
            await self._send_error(conn, writer, 500)
        finally:
            if counts is not None:
                counts.connection_closed()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _next(self, conn: h11.Connection, reader: asyncio.StreamReader, timeout: float | None = None) -> Any:
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            try:
                data = await asyncio.wait_for(reader.read(READ_SIZE), timeout)
            except (ConnectionError, OSError) as error:
                raise _ClientGone from error
            if self.counts is not None:
                self.counts.processed_bytes += len(data)
            conn.receive_data(data)

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, event: Any) -> None:
        data = conn.send(event)
        if data:
            if self.counts is not None:
                self.counts.processed_bytes += len(data)
            writer.write(data)
            await writer.drain()

    async def _send_simple(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> None:
        self._count(status)
        all_headers = [(b"server", SERVER), (b"content-length", str(len(body)).encode()), *headers]
        await self._send(
            conn, writer, h11.Response(status_code=status, headers=all_headers, reason=REASONS.get(status, "").encode())
        )
        await self._send(conn, writer, h11.Data(data=body))
        await self._send(conn, writer, h11.EndOfMessage())

    async def _send_error(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, status: int, group: str | None = None
    ) -> None:
        """The load balancer's own error page; ``group``: the target group a target was chosen in."""
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        if self.counts is not None:
            self.counts.elb_response(status, group)
        with contextlib.suppress(Exception):
            await self._send_simple(conn, writer, status, [(b"content-type", b"text/html")], error_page(status))

    def _count(self, status: int) -> None:
        self.stats.requests += 1
        self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1

    # -- one request -----------------------------------------------------------------------------

    def describe(self, event: h11.Request, source: str) -> HttpRequest:
        target = event.target.decode("latin-1")
        path, _, query = target.partition("?")
        headers = tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in event.headers)
        host = next((v for k, v in headers if k == "host"), "")
        return HttpRequest(
            event.method.decode(), host, path, query, headers, source, self.config.protocol, self.config.port
        )

    async def _exchange(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        event: h11.Request,
        source: str,
    ) -> None:
        request = self.describe(event, source)
        decision = evaluate(self.config.rules, request)
        has_body = any(k.lower() == b"transfer-encoding" for k, _ in event.headers) or any(
            k.lower() == b"content-length" and v.strip() != b"0" for k, v in event.headers
        )
        if not isinstance(decision, Forward) or decision.target_group_arn is None:
            await self._discard_body(conn, reader)
            await self._answer(conn, writer, decision)
            return
        group = decision.target_group_arn
        endpoint = self.balancer.pick(group, self.routing.routing_targets(group), self.routing.algorithm(group))
        if endpoint is None:
            await self._discard_body(conn, reader)
            await self._send_error(conn, writer, 503)
            return
        if not has_body:
            await self._discard_body(conn, reader)
        body = self._body(conn, reader) if has_body else None
        self.balancer.started(group, endpoint)
        try:
            await self._forward(conn, writer, event, request, group, endpoint, body)
        finally:
            self.balancer.finished(group, endpoint)

    async def _answer(self, conn: h11.Connection, writer: asyncio.StreamWriter, decision: Any) -> None:
        if isinstance(decision, FixedResponse):
            if self.counts is not None:
                self.counts.rule_response(redirect=False)
            headers = [(b"content-type", decision.content_type.encode())] if decision.content_type else []
            await self._send_simple(conn, writer, decision.status, headers, decision.body.encode())
        elif isinstance(decision, Redirect):
            if self.counts is not None:
                self.counts.rule_response(redirect=True)
            await self._send_simple(conn, writer, decision.status, [(b"location", decision.location.encode())], b"")
        else:  # no rule (listener going away) or a forward with nothing to forward to
            await self._send_error(conn, writer, 503)

    async def _discard_body(self, conn: h11.Connection, reader: asyncio.StreamReader) -> None:
        while conn.their_state is h11.SEND_BODY:
            event = await self._next(conn, reader)
            if isinstance(event, h11.ConnectionClosed):
                raise _ClientGone

    async def _body(self, conn: h11.Connection, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        while True:
            event = await self._next(conn, reader, self.config.idle_timeout)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return
            else:
                raise _ClientGone

    def _upstream_headers(self, event: h11.Request, request: HttpRequest) -> list[tuple[bytes, bytes]]:
        headers: list[tuple[bytes, bytes]] = []
        forwarded_for: bytes | None = None
        trace: bytes | None = None
        drop_invalid = self.config.drop_invalid_headers
        for name, value in event.headers:
            lower = name.lower()
            if lower in HOP_BY_HOP or lower in (b"x-forwarded-proto", b"x-forwarded-port"):
                continue
            if drop_invalid and not VALID_HEADER_NAME.fullmatch(name):
                continue
            if lower == b"x-forwarded-for":
                forwarded_for = value if forwarded_for is None else forwarded_for + b", " + value
                continue
            if lower == b"x-amzn-trace-id":
                trace = value
            headers.append((name, value))
        client = request.source_ip.encode()
        mode = self.config.xff_mode
        if mode == "preserve" and forwarded_for is not None:
            headers.append((b"X-Forwarded-For", forwarded_for))
        elif mode not in ("preserve", "remove"):
            headers.append((b"X-Forwarded-For", client if forwarded_for is None else forwarded_for + b", " + client))
        headers.append((b"X-Forwarded-Proto", self.config.protocol.lower().encode()))
        headers.append((b"X-Forwarded-Port", str(self.config.port).encode()))
        if trace is None:
            headers.append((b"X-Amzn-Trace-Id", trace_id(self.clock()).encode()))
        return headers

    async def _forward(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        event: h11.Request,
        request: HttpRequest,
        group: str,
        endpoint: Endpoint,
        body: AsyncIterator[bytes] | None,
    ) -> None:
        address, port = endpoint
        url = f"http://{address}:{port}{event.target.decode('latin-1')}"
        upstream = httpx.Request(request.method, url, headers=self._upstream_headers(event, request), content=body)
        idle = self.config.idle_timeout
        upstream.extensions["timeout"] = httpx.Timeout(idle, connect=CONNECT_TIMEOUT_SECONDS).as_dict()
        sent = time.perf_counter()
        try:
            response = await self.client.send(upstream, stream=True)
        except _ClientGone:
            raise
        except httpx.TimeoutException as error:
            self._failed(endpoint, error)
            await self._send_error(conn, writer, 504, group)
            return
        except (httpx.TransportError, httpx.StreamError) as error:
            self._failed(endpoint, error)
            await self._send_error(conn, writer, 502, group)
            return
        if self.counts is not None:
            # TargetResponseTime: from the request leaving to the response's head arriving.
            self.counts.target_response(group, response.status_code, time.perf_counter() - sent)
        try:
            await self._relay(conn, writer, response)
        finally:
            await response.aclose()

    async def _relay(self, conn: h11.Connection, writer: asyncio.StreamWriter, response: httpx.Response) -> None:
        headers = [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP]
        self._count(response.status_code)
        await self._send(
            conn,
            writer,
            h11.Response(status_code=response.status_code, headers=headers, reason=response.reason_phrase.encode()),
        )
        try:
            async for chunk in response.aiter_raw():
                await self._send(conn, writer, h11.Data(data=chunk))
        except (httpx.TransportError, httpx.StreamError) as error:
            # Too late for a 502: the client sees its connection close mid-body, as behind an ALB.
            self.stats.last_error = f"{type(error).__name__}: {error}"
            raise _ClientGone from error
        await self._send(conn, writer, h11.EndOfMessage())

    def _failed(self, endpoint: Endpoint, error: Exception) -> None:
        self.stats.last_error = f"{endpoint[0]}:{endpoint[1]}: {type(error).__name__}: {error}"
        log.info("target exchange failed", extra={"listener": self.config.arn, "target": endpoint, "error": str(error)})
