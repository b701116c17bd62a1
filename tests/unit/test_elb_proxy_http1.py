"""The local ALB's HTTP/1.1 on both sides (elb.http1, elb.proxy): pooled keep-alive connections to
targets, a pooled connection the target closed, chunked bodies both ways, bodyless responses,
``Connection: close`` from either side, HTTP/1.0 clients, malformed requests, a slow target."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from ecslite.elb import http1
from ecslite.elb.balancer import LEAST_OUTSTANDING, Balancer
from ecslite.elb.http1 import ProtocolError, TargetConnection, TargetPool, parse_request, parse_response
from ecslite.elb.listeners import StoreRouting
from ecslite.elb.proxy import ListenerConfig, ListenerProxy
from ecslite.store import elbv2 as elb_store
from ecslite.store.db import Database
from tests.unit.test_elb_proxy import LOOPBACK, FakeRouting, Handler, echo, forward_rules, read_request, run, serve

TG_ARN = forward_rules()[-1]["Actions"][0]["TargetGroupArn"]


class Listener:
    """A listener proxy on loopback with its own pool, and a raw-socket client for it."""

    def __init__(self, proxy: ListenerProxy, server: asyncio.AbstractServer) -> None:
        self.proxy = proxy
        self.server = server
        self.port = int(server.sockets[0].getsockname()[1])
        self.url = f"http://{LOOPBACK}:{self.port}"

    @property
    def pool(self) -> TargetPool:
        return self.proxy.pool

    async def raw(self, data: bytes) -> bytes:
        """``data`` sent on a new connection; everything read until the proxy closes it."""
        reader, writer = await asyncio.open_connection(LOOPBACK, self.port)
        writer.write(data)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        return answer

    async def raw_writer(self) -> tuple[asyncio.StreamWriter]:
        """A writer on a new connection to the listener (for a connection object the pool holds)."""
        _, writer = await asyncio.open_connection(LOOPBACK, self.port)
        return (writer,)

    async def close(self, *targets: asyncio.AbstractServer) -> None:
        await self.pool.close()
        for server in (self.server, *targets):
            server.close()
        await asyncio.sleep(0.1)


async def listener(handler: Handler, idle: float = 5.0) -> tuple[Listener, asyncio.AbstractServer]:
    target, endpoint = await serve(handler)
    proxy = ListenerProxy(
        ListenerConfig("listener", "lb", 8080, forward_rules(), idle), FakeRouting([endpoint]), Balancer(), TargetPool()
    )
    server = await asyncio.start_server(proxy.handle, LOOPBACK, 0)
    return Listener(proxy, server), target


def counting_echo(connections: list[int]) -> Handler:
    inner = echo("t")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await inner(reader, writer)

    return handle


def test_keep_alive_requests_reuse_one_pooled_target_connection() -> None:
    async def test() -> None:
        connections: list[int] = []
        alb, target = await listener(counting_echo(connections))
        async with httpx.AsyncClient(trust_env=False) as client:
            for number in range(5):
                response = await client.get(f"{alb.url}/n/{number}")
                assert response.status_code == 200 and f"GET /n/{number} HTTP/1.1" in response.text
        # Another client connection takes the same pooled target connection.
        async with httpx.AsyncClient(trust_env=False) as client:
            assert (await client.post(f"{alb.url}/p", content=b"abc")).text.endswith("body=3")
        assert len(connections) == 1 and alb.pool.opened == 1
        assert alb.pool.idle_count(alb.proxy.routing.routing_targets(TG_ARN)[0]) == 1
        await alb.close(target)

    run(test)


def test_a_target_closing_after_each_response_gets_a_new_connection_each_time() -> None:
    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()  # no Connection: close: the proxy only learns it from the socket

    async def test() -> None:
        alb, target = await listener(closing)
        async with httpx.AsyncClient(trust_env=False) as client:
            for _ in range(4):
                assert (await client.get(alb.url)).text == "ok"
                await asyncio.sleep(0.02)
        assert alb.pool.opened == 4
        await alb.close(target)

    run(test)


def test_a_pooled_connection_the_target_drops_is_retried_once_only_without_a_body() -> None:
    served: list[str] = []

    async def drops_second(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Answers the first request on a connection; takes the second and closes without a word,
        # as a target closing an idle connection just as a request arrives does.
        line, _, _ = await read_request(reader)
        served.append(line)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        await read_request(reader)
        writer.transport.abort()

    async def test() -> None:
        alb, target = await listener(drops_second)
        async with httpx.AsyncClient(trust_env=False) as client:
            assert (await client.get(f"{alb.url}/1")).status_code == 200
            # The pooled connection looks fine and is dropped with the request on it: sent again.
            assert (await client.get(f"{alb.url}/2")).status_code == 200
            assert alb.pool.opened == 2
            # With a body on its way the request is not sent twice: the client gets a 502.
            response = await client.post(f"{alb.url}/3", content=b"payload")
            assert response.status_code == 502
        assert served == ["GET /1 HTTP/1.1", "GET /2 HTTP/1.1"]
        assert alb.proxy.stats.by_status == {200: 2, 502: 1}
        await alb.close(target)

    run(test)


def test_chunked_bodies_both_ways_and_trailers_dropped() -> None:
    seen: list[tuple[dict[str, str], bytes]] = []

    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            _, headers, body = await read_request(reader)
            seen.append((headers, body))
            writer.write(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum\r\n\r\n")
            writer.write(b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nx-sum: 11\r\n\r\n")
            await writer.drain()

    async def upload() -> object:
        for part in (b"ab", b"", b"cde" * 1000):
            yield part

    async def test() -> None:
        alb, target = await listener(chunked)
        async with httpx.AsyncClient(trust_env=False) as client:
            for _ in range(2):  # twice: the chunked exchanges leave the connections reusable
                response = await client.post(alb.url, content=upload())  # type: ignore[arg-type]
                assert (response.status_code, response.text) == (201, "hello world")
                assert response.headers["transfer-encoding"] == "chunked"
                assert "x-sum" not in response.headers and "trailer" not in response.headers
        headers, body = seen[0]
        assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers
        assert body == b"ab" + b"cde" * 1000
        assert alb.pool.opened == 1
        await alb.close(target)

    run(test)


def test_a_response_ended_by_close_is_sent_chunked_to_http11_and_as_is_to_http10() -> None:
    async def old_target(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end")
        await writer.drain()
        writer.close()

    async def test() -> None:
        alb, target = await listener(old_target)
        answer = await alb.raw(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert b"transfer-encoding: chunked" in head.lower() and b"connection: close" in head.lower()
        assert body == b"d\r\nuntil the end\r\n0\r\n\r\n"
        answer = await alb.raw(b"GET / HTTP/1.0\r\n\r\n")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK") and b"transfer-encoding" not in head.lower()
        assert body == b"until the end"
        await alb.close(target)

    run(test)


def test_head_204_and_304_have_no_body_and_keep_both_connections() -> None:
    async def bodyless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            line, _, _ = await read_request(reader)
            if line.startswith("HEAD"):
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n")
            elif "/none" in line:
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            else:
                writer.write(b'HTTP/1.1 304 Not Modified\r\netag: "x"\r\n\r\n')
            await writer.drain()

    async def test() -> None:
        alb, target = await listener(bodyless)
        reader, writer = await asyncio.open_connection(LOOPBACK, alb.port)
        writer.write(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET /none HTTP/1.1\r\nHost: a\r\n\r\n")
        writer.write(b"GET /cached HTTP/1.1\r\nHost: a\r\n\r\n")
        heads = [await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) for _ in range(3)]
        assert heads[0].startswith(b"HTTP/1.1 200 OK") and b"content-length: 1234" in heads[0]
        assert heads[1].startswith(b"HTTP/1.1 204 No Content")
        assert heads[2].startswith(b"HTTP/1.1 304 Not Modified") and b'etag: "x"' in heads[2]
        writer.write(b"GET /cached HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        rest = await asyncio.wait_for(reader.read(), 5)  # the last answer, then the close
        assert rest.startswith(b"HTTP/1.1 304") and rest.endswith(b"\r\n\r\n") and b"connection: close" in rest
        writer.close()
        assert alb.pool.opened == 1
        await alb.close(target)

    run(test)


def test_connection_close_from_the_target_is_not_pooled_nor_passed_on() -> None:
    async def closes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.5)  # keeps the socket open: only the header says it is done

    async def test() -> None:
        alb, target = await listener(closes)
        async with httpx.AsyncClient(trust_env=False) as client:
            for _ in range(2):
                response = await client.get(alb.url)
                assert response.text == "ok" and "connection" not in response.headers
        assert alb.pool.opened == 2
        await alb.close(target)

    run(test)


def test_http10_request_without_host_gets_the_targets_and_upgrade_is_not_forwarded() -> None:
    async def test() -> None:
        alb, target = await listener(echo("t"))
        endpoint = alb.proxy.routing.routing_targets(TG_ARN)[0]
        answer = await alb.raw(b"GET /old HTTP/1.0\r\nUser-Agent: ancient\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200 OK") and b"connection: close" in answer.lower()
        assert f"host: {endpoint[0]}:{endpoint[1]}" in answer.decode()
        # An ALB carries WebSocket upgrades only (test_elb_websocket): h2c goes as a plain request.
        upgrade = (
            b"GET /h2 HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\n"
            b"HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nSec-WebSocket-Version: 13\r\nKeep-Alive: 5\r\n\r\n"
        )
        seen = (await alb.raw(upgrade)).decode().lower()
        assert "upgrade" not in seen and "keep-alive" not in seen and "sec-websocket-version: 13" in seen
        assert "h2c" not in seen
        await alb.close(target)

    run(test)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET / HTTP/1.1\r\n\r\n",  # no Host
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
    ],
)
def test_malformed_requests_answer_400_and_close(request_bytes: bytes) -> None:
    async def test() -> None:
        alb, target = await listener(echo("t"))
        answer = await alb.raw(request_bytes)
        assert answer.startswith(b"HTTP/1.1 400 Bad Request") and b"connection: close" in answer
        assert alb.pool.opened == 0
        await alb.close(target)

    run(test)


def test_a_target_slow_on_a_pooled_connection_answers_504_and_one_slow_mid_body_closes() -> None:
    async def slow_second(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line, _, _ = await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        line, _, _ = await read_request(reader)
        if "/mid" in line:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf")
            await writer.drain()
        await asyncio.sleep(2)

    async def test() -> None:
        alb, target = await listener(slow_second, idle=0.3)
        loop = asyncio.get_running_loop()
        async with httpx.AsyncClient(trust_env=False) as client:
            assert (await client.get(alb.url)).text == "ok"
            started = loop.time()
            response = await client.get(f"{alb.url}/slow")
            assert response.status_code == 504 and 0.25 < loop.time() - started < 2
            assert (await client.get(alb.url)).text == "ok"  # on a new target connection
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get(f"{alb.url}/mid")  # the head went out: the client sees a cut
        assert alb.pool.opened == 2
        assert alb.proxy.stats.by_status == {200: 3, 504: 1}
        await alb.close(target)

    run(test)


def test_parsers_read_heads_strictly() -> None:
    head = parse_request(b"GET /a?b HTTP/1.1\r\nHost: x\r\nX-Long: one\r\n  two\r\nContent-Length: 5, 5\r\n\r\n")
    assert (head.method, head.target, head.close, head.framing.length) == (b"GET", b"/a?b", False, 5)
    assert head.headers[1] == (b"X-Long", b"one two")
    chunked = parse_request(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert chunked.framing.chunked and chunked.framing.length is None
    assert parse_request(b"GET / HTTP/1.0\r\n\r\n").close
    response = parse_response(b"HTTP/1.1 200\r\nConnection: keep-alive, Close\r\n\r\n")
    assert (response.status, response.reason, response.close, response.framing.length) == (200, b"", True, None)
    with pytest.raises(ProtocolError):
        parse_response(b"HTTP/1.1 20 OK\r\n\r\n")
    with pytest.raises(ProtocolError, match="Content-Length"):
        parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")


def test_a_pooled_connection_idle_past_the_expiry_is_closed_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http1, "KEEPALIVE_EXPIRY", 0.2)
    ended: list[int] = []
    inner = echo("t")

    async def noting_end(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await inner(reader, writer)
        ended.append(1)

    async def test() -> None:
        alb, target = await listener(noting_end)
        async with httpx.AsyncClient(trust_env=False) as client:
            assert (await client.get(alb.url)).status_code == 200
            await asyncio.sleep(0.3)
            assert (await client.get(alb.url)).status_code == 200  # a new connection: the old one expired
            assert alb.pool.opened == 2
            await asyncio.sleep(0.3)
            assert len(ended) == 1  # the expired one, closed when it was picked
            # Any release sweeps the pool: expired connections are closed wherever they lead.
            other = TargetConnection(("127.0.0.1", 1), asyncio.StreamReader(), *(await alb.raw_writer()))
            alb.pool.release(other)
            for _ in range(50):
                if len(ended) == 2:
                    break
                await asyncio.sleep(0.05)
            assert len(ended) == 2 and alb.pool.idle_count(other.endpoint) == 1
        await alb.close(target)

    run(test)


def test_store_routing_is_read_once_until_targets_or_groups_change() -> None:
    db = Database(None)
    group = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/g/1"
    with db.transaction():
        doc = {"TargetGroupArn": group, "TargetGroupName": "g", "TargetType": "ip"}
        elb_store.insert_target_group(db, "000000000000", "us-east-1", doc, {})
    calls: list[str] = []

    def healthy(arn: str) -> list[tuple[str, int]]:
        calls.append(arn)
        return [(row.id, row.port) for row in elb_store.targets_of(db, arn)]

    routing = StoreRouting(db, healthy)
    assert routing.routing_targets(group) == [] and routing.algorithm(group) == "round_robin"
    assert routing.routing_targets(group) == [] and len(calls) == 1
    row = elb_store.TargetRow(group, "10.0.0.5", 80, None, "healthy", None, None, 1.0, None, None)
    with db.transaction():
        elb_store.put_target(db, "000000000000", "us-east-1", row)
    assert routing.routing_targets(group) == [("10.0.0.5", 80)] and len(calls) == 2
    with db.transaction():
        elb_store.put_target_group_attributes(
            db, group, {"load_balancing.algorithm.type": "least_outstanding_requests"}
        )
    assert routing.algorithm(group) == LEAST_OUTSTANDING
    assert routing.routing_targets(group) == [("10.0.0.5", 80)] and len(calls) == 3
