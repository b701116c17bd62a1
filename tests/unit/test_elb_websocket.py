"""WebSocket through the local ALB (elb.websocket, elb.proxy): a real WebSocket server as the target,
messages both ways, a close from either side, the idle timeout on an upgraded connection, a refused
upgrade passed on as a plain response, upgraded connections kept out of the pool, and upgrades the
load balancer does not carry (h2c, not GET) sent as plain requests."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ecslite.elb.balancer import Balancer, Endpoint
from ecslite.elb.http1 import TargetPool, parse_request
from ecslite.elb.metrics import AlbMeter
from ecslite.elb.proxy import ListenerConfig, ListenerProxy
from ecslite.elb.websocket import websocket_upgrade
from tests.unit.test_elb_proxy import LOOPBACK, FakeRouting, Handler, forward_rules, read_request, run
from tests.unit.test_elb_proxy import serve as serve_raw

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Alb:
    """A listener proxy on loopback (with a meter) in front of one target."""

    def __init__(self, proxy: ListenerProxy, server: asyncio.AbstractServer, meter: AlbMeter) -> None:
        self.proxy = proxy
        self.server = server
        self.meter = meter
        self.port = int(server.sockets[0].getsockname()[1])

    @property
    def pool(self) -> TargetPool:
        return self.proxy.pool

    async def close(self) -> None:
        await self.pool.close()
        self.server.close()
        await asyncio.sleep(0.1)


async def alb_for(endpoint: Endpoint, idle: float = 5.0) -> Alb:
    meter = AlbMeter()
    config = ListenerConfig("listener", "lb", 8080, forward_rules(), idle)
    proxy = ListenerProxy(config, FakeRouting([endpoint]), Balancer(), TargetPool(), meter=meter)
    return Alb(proxy, await asyncio.start_server(proxy.handle, LOOPBACK, 0), meter)


class EchoTarget:
    """A ``websockets`` server echoing each message; ``"close"`` makes it close with 4000."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        self.closed: list[int | None] = []

    async def handler(self, connection: ServerConnection) -> None:
        self.headers.append(
            {k.lower(): v for k, v in connection.request.headers.raw_items()} if connection.request else {}
        )
        try:
            async for message in connection:
                if message == "close":
                    await connection.close(4000, "bye")
                    break
                await connection.send(message)
        finally:
            self.closed.append(connection.close_code)


async def closed_within(seen: list[int | None], seconds: float) -> None:
    for _ in range(int(seconds / 0.05)):
        if seen:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the target's connection did not end")


def test_messages_both_ways_and_a_close_from_the_client() -> None:
    async def test() -> None:
        target = EchoTarget()
        async with serve(target.handler, LOOPBACK, 0) as server:
            alb = await alb_for((LOOPBACK, server.sockets[0].getsockname()[1]))
            async with connect(f"ws://{LOOPBACK}:{alb.port}/chat?room=1", ping_interval=None) as ws:
                for message in ("hello", b"\x00\x01binary", os.urandom(200_000)):  # random: deflate cannot shrink it
                    await ws.send(message)
                    assert await asyncio.wait_for(ws.recv(), 5) == message
                await ws.close()
            await closed_within(target.closed, 5)
            assert target.closed == [1000]  # the close handshake went through both ways
            seen = target.headers[0]
            assert seen["upgrade"] == "websocket" and seen["connection"].lower() == "upgrade"
            assert "sec-websocket-key" in seen and seen["sec-websocket-version"] == "13"
            assert seen["x-forwarded-for"] == LOOPBACK and seen["x-forwarded-proto"] == "http"
            assert seen["x-forwarded-port"] == "8080" and seen["x-amzn-trace-id"].startswith("Root=1-")
            # One request answered 101 by the target; the frames are processed bytes.
            assert alb.proxy.stats.by_status == {101: 1}
            counts = alb.meter.take()["lb"]
            assert counts.requests == 1 and counts.target_codes[1] == 1 and sum(counts.elb_codes) == 0
            assert counts.processed_bytes > 400_000 and counts.open == 0
            assert alb.pool.opened == 1 and alb.pool.idle_count((LOOPBACK, server.sockets[0].getsockname()[1])) == 0
            await alb.close()

    run(test)


def test_a_close_from_the_target_reaches_the_client() -> None:
    async def test() -> None:
        target = EchoTarget()
        async with serve(target.handler, LOOPBACK, 0) as server:
            alb = await alb_for((LOOPBACK, server.sockets[0].getsockname()[1]))
            async with connect(f"ws://{LOOPBACK}:{alb.port}/", ping_interval=None) as ws:
                await ws.send("close")
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
                assert closed.value.rcvd is not None
                assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, "bye")
            await closed_within(target.closed, 5)
            await alb.close()

    run(test)


def test_the_idle_timeout_ends_an_upgraded_connection_with_no_byte_either_way() -> None:
    async def test() -> None:
        target = EchoTarget()
        async with serve(target.handler, LOOPBACK, 0) as server:
            alb = await alb_for((LOOPBACK, server.sockets[0].getsockname()[1]), idle=0.6)
            loop = asyncio.get_running_loop()
            async with connect(f"ws://{LOOPBACK}:{alb.port}/", ping_interval=None) as ws:
                # Traffic keeps it open well past the idle timeout...
                for number in range(8):
                    await ws.send(str(number))
                    assert await asyncio.wait_for(ws.recv(), 5) == str(number)
                    quiet = loop.time()
                    await asyncio.sleep(0.2)
                # ...silence ends it: the client sees its connection cut, without a close frame.
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 10)
                assert 0.5 < loop.time() - quiet < 5 and closed.value.rcvd is None
            await closed_within(target.closed, 5)
            assert target.closed == [1006]  # the target's side was cut too
            await alb.close()

    run(test)


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


def raw_target(seen: list[tuple[str, dict[str, str]]], refuse: bool = False) -> Handler:
    """Plain HTTP on keep-alive connections; an upgrade is refused with 400, or accepted with a
    101 after which every byte is sent back as it came."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line, headers, _ = await read_request(reader)
                seen.append((line, headers))
                if "sec-websocket-key" in headers and not refuse:
                    key = accept_key(headers["sec-websocket-key"])
                    writer.write(
                        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Accept: %s\r\n\r\n" % key.encode()
                    )
                    while data := await reader.read(65536):
                        writer.write(data)
                        await writer.drain()
                    return
                status = b"400 Bad Request" if "sec-websocket-key" in headers else b"200 OK"
                writer.write(b"HTTP/1.1 %s\r\ncontent-length: 5\r\n\r\nplain" % status)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return handle


def upgrade_request(path: str = "/ws", method: str = "GET", upgrade: str = "websocket") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: {upgrade}\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nKeep-Alive: 5\r\n\r\n"
    ).encode()


def test_a_refused_upgrade_is_a_plain_response_on_a_connection_not_pooled() -> None:
    async def test() -> None:
        seen: list[tuple[str, dict[str, str]]] = []
        target, endpoint = await serve_raw(raw_target(seen, refuse=True))
        alb = await alb_for(endpoint)
        reader, writer = await asyncio.open_connection(LOOPBACK, alb.port)
        writer.write(upgrade_request())
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).lower()
        assert head.startswith(b"http/1.1 400 bad request") and b"upgrade" not in head
        assert await asyncio.wait_for(reader.readexactly(5), 5) == b"plain"
        line, headers = seen[0]
        assert line == "GET /ws HTTP/1.1" and headers["upgrade"] == "websocket"
        assert headers["connection"] == "Upgrade" and "keep-alive" not in headers
        assert headers["x-forwarded-for"] == LOOPBACK
        assert alb.pool.idle_count(endpoint) == 0  # the target was asked to upgrade it: not reused
        # The client's connection goes on as after any response; the next request needs a new one.
        writer.write(b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 OK") and await reader.readexactly(5) == b"plain"
        assert alb.pool.opened == 2 and alb.pool.idle_count(endpoint) == 1
        assert alb.proxy.stats.by_status == {400: 1, 200: 1}
        writer.close()
        await alb.close()
        target.close()

    run(test)


def test_an_upgrade_takes_a_new_connection_and_never_gives_it_to_the_pool() -> None:
    async def test() -> None:
        seen: list[tuple[str, dict[str, str]]] = []
        target, endpoint = await serve_raw(raw_target(seen))
        alb = await alb_for(endpoint)
        url = f"http://{LOOPBACK}:{alb.port}"
        async with httpx.AsyncClient(trust_env=False) as client:
            assert (await client.get(f"{url}/before")).text == "plain"
            assert alb.pool.opened == 1 and alb.pool.idle_count(endpoint) == 1
            reader, writer = await asyncio.open_connection(LOOPBACK, alb.port)
            writer.write(upgrade_request() + b"sent with the request")  # early bytes wait for the 101
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 101 Switching Protocols")
            assert b"sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=" in head.lower()
            assert b"connection: upgrade" in head.lower() and b"upgrade: websocket" in head.lower()
            assert await asyncio.wait_for(reader.readexactly(21), 5) == b"sent with the request"
            writer.write(b"GET / HTTP/1.1\r\n\r\n")  # after the 101 nothing is read as HTTP
            assert await asyncio.wait_for(reader.readexactly(18), 5) == b"GET / HTTP/1.1\r\n\r\n"
            # The pooled connection was left alone and is still there for plain requests.
            assert alb.pool.opened == 2 and alb.pool.idle_count(endpoint) == 1
            writer.close()
            await asyncio.sleep(0.2)
            assert (await client.get(f"{url}/after")).text == "plain"
            assert (await client.get(f"{url}/after")).text == "plain"
        assert alb.pool.opened == 2 and alb.pool.idle_count(endpoint) == 1
        assert [line for line, _ in seen] == ["GET /before HTTP/1.1", "GET /ws HTTP/1.1", *["GET /after HTTP/1.1"] * 2]
        await alb.close()
        target.close()

    run(test)


def test_a_101_to_a_request_that_did_not_ask_for_an_upgrade_is_a_502() -> None:
    async def switches_anyway(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    async def test() -> None:
        target, endpoint = await serve_raw(switches_anyway)
        alb = await alb_for(endpoint)
        async with httpx.AsyncClient(trust_env=False) as client:
            assert (await client.get(f"http://{LOOPBACK}:{alb.port}/")).status_code == 502
        assert alb.proxy.stats.by_status == {502: 1} and alb.pool.idle_count(endpoint) == 0
        await alb.close()
        target.close()

    run(test)


@pytest.mark.parametrize(("method", "upgrade"), [("GET", "h2c"), ("POST", "websocket")])
def test_upgrades_an_alb_does_not_carry_are_plain_requests(method: str, upgrade: str) -> None:
    async def test() -> None:
        seen: list[tuple[str, dict[str, str]]] = []
        target, endpoint = await serve_raw(raw_target(seen, refuse=True))
        alb = await alb_for(endpoint)
        reader, writer = await asyncio.open_connection(LOOPBACK, alb.port)
        writer.write(upgrade_request("/h", method, upgrade).replace(b"Sec-WebSocket-Key", b"X-Key"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 OK")
        _, headers = seen[0]
        assert "upgrade" not in headers and "connection" not in headers and headers["x-key"]
        assert alb.pool.idle_count(endpoint) == 1  # a plain exchange: pooled as usual
        writer.close()
        await alb.close()
        target.close()

    run(test)


def test_which_requests_are_websocket_upgrades() -> None:
    def upgrade(request: bytes) -> bytes | None:
        return websocket_upgrade(parse_request(request))

    assert upgrade(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\r\n") == b"WebSocket"
    assert upgrade(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: x, upgrade\r\nUpgrade: websocket\r\n\r\n") is not None
    assert upgrade(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n") is None  # Connection does not say
    assert upgrade(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n") is None
    assert upgrade(b"GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n") is None
