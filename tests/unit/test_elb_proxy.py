"""The local ALB's proxy (spec/ecs.md §7.3, §7.5) against small targets on loopback: routing,
forwarded headers, 503/502/504, streaming both ways, fixed responses and redirects."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import httpx

from ecslite.elb.balancer import LEAST_OUTSTANDING, ROUND_ROBIN, Balancer, Endpoint
from ecslite.elb.http1 import TargetPool
from ecslite.elb.listeners import bind_listener_socket
from ecslite.elb.proxy import ListenerConfig, ListenerProxy

TG = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0000000000000001"
LOOPBACK = "127.0.0.1"

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class FakeRouting:
    def __init__(self, targets: Sequence[Endpoint] = (), algorithm: str = ROUND_ROBIN) -> None:
        self.targets = list(targets)
        self.algo = algorithm

    def routing_targets(self, target_group_arn: str) -> list[Endpoint]:
        return list(self.targets) if target_group_arn == TG else []

    def algorithm(self, target_group_arn: str) -> str:
        return self.algo


def forward_rules(*extra: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    default = {
        "Priority": "default",
        "IsDefault": True,
        "Conditions": [],
        "Actions": [{"Type": "forward", "TargetGroupArn": TG}],
    }
    return (*extra, default)


async def read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readline()).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    return lines[0], headers, body


def echo(name: str) -> Handler:
    """A target answering with its name and the request it saw (headers one per line)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line, headers, body = await read_request(reader)
                text = "\n".join([name, line, *(f"{k}: {v}" for k, v in headers.items()), f"body={len(body)}"]).encode()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(text), text))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return handle


async def serve(handler: Handler) -> tuple[asyncio.AbstractServer, Endpoint]:
    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(closing, LOOPBACK, 0)
    return server, (LOOPBACK, int(server.sockets[0].getsockname()[1]))


async def alb(
    routing: FakeRouting,
    rules: tuple[dict[str, Any], ...] | None = None,
    idle: float = 5.0,
    balancer: Balancer | None = None,
) -> tuple[asyncio.AbstractServer, str, TargetPool]:
    pool = TargetPool()
    config = ListenerConfig("listener", "lb", 8080, rules or forward_rules(), idle)
    proxy = ListenerProxy(config, routing, balancer or Balancer(), pool)
    server = await asyncio.start_server(proxy.handle, LOOPBACK, 0)
    return server, f"http://{LOOPBACK}:{server.sockets[0].getsockname()[1]}", pool


async def shutdown(upstream: TargetPool, *servers: asyncio.AbstractServer) -> None:
    await upstream.close()
    for server in servers:
        server.close()
    # Let the connection handlers see their peers gone before the loop ends.
    await asyncio.sleep(0.1)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 30))


def test_round_robin_over_both_targets_with_forwarded_headers() -> None:
    async def test() -> None:
        a, ea = await serve(echo("a"))
        b, eb = await serve(echo("b"))
        server, url, upstream = await alb(FakeRouting([ea, eb]))
        async with httpx.AsyncClient(trust_env=False) as client:
            bodies = [
                (await client.get(f"{url}/path?q=1", headers={"X-Forwarded-For": "10.9.9.9"})).text for _ in range(4)
            ]
        assert [body.split("\n")[0] for body in bodies] == ["a", "b", "a", "b"] or [
            b.split("\n")[0] for b in bodies
        ] == ["b", "a", "b", "a"]
        seen = bodies[0]
        assert "GET /path?q=1 HTTP/1.1" in seen
        assert "x-forwarded-for: 10.9.9.9, 127.0.0.1" in seen
        assert "x-forwarded-proto: http" in seen
        assert "x-forwarded-port: 8080" in seen
        assert re.search(r"x-amzn-trace-id: Root=1-[0-9a-f]{8}-[0-9a-f]{24}\n", seen)
        await shutdown(upstream, server, a, b)

    run(test)


def test_no_targets_answers_503() -> None:
    async def test() -> None:
        server, url, upstream = await alb(FakeRouting([]))
        async with httpx.AsyncClient(trust_env=False) as client:
            response = await client.get(url)
        assert response.status_code == 503
        assert "503 Service Temporarily Unavailable" in response.text
        assert response.headers["server"] == "awselb/2.0"
        await shutdown(upstream, server)

    run(test)


def test_refused_connection_answers_502() -> None:
    async def test() -> None:
        closed, endpoint = await serve(echo("gone"))
        closed.close()
        await closed.wait_closed()
        await asyncio.sleep(0)
        server, url, upstream = await alb(FakeRouting([endpoint]))
        async with httpx.AsyncClient(trust_env=False) as client:
            response = await client.get(url)
        assert response.status_code == 502
        await shutdown(upstream, server)

    run(test)


def test_malformed_and_reset_responses_answer_502() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"this is not http\r\n\r\n")
        await writer.drain()
        writer.close()

    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.transport.abort()

    async def test() -> None:
        for handler in (garbage, reset):
            target, endpoint = await serve(handler)
            server, url, upstream = await alb(FakeRouting([endpoint]))
            async with httpx.AsyncClient(trust_env=False) as client:
                response = await client.get(url)
            assert response.status_code == 502, handler.__name__
            await shutdown(upstream, server, target)

    run(test)


def test_a_silent_target_answers_504_after_the_idle_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(1)

    async def test() -> None:
        target, endpoint = await serve(silent)
        server, url, upstream = await alb(FakeRouting([endpoint]), idle=0.3)
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with httpx.AsyncClient(trust_env=False) as client:
            response = await client.get(url)
        assert response.status_code == 504
        assert 0.25 < loop.time() - started < 3
        await shutdown(upstream, server, target)

    run(test)


def test_bodies_stream_both_ways() -> None:
    first_chunk_seen = asyncio.Event()

    async def streaming(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, _, body = await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        writer.write(b"%x\r\nfirst %d\r\n" % (len(f"first {len(body)}"), len(body)))
        await writer.drain()
        await first_chunk_seen.wait()
        writer.write(b"4\r\nlast\r\n0\r\n\r\n")
        await writer.drain()

    async def upload() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"x" * 100_000
            await asyncio.sleep(0)

    async def test() -> None:
        target, endpoint = await serve(streaming)
        server, url, upstream = await alb(FakeRouting([endpoint]))
        async with (
            httpx.AsyncClient(trust_env=False) as client,
            client.stream("POST", url, content=upload()) as response,
        ):
            chunks = response.aiter_text()
            first = await chunks.__anext__()
            assert first == "first 800000"  # the first part arrived before the target finished
            first_chunk_seen.set()
            rest = "".join([part async for part in chunks])
        assert rest == "last"
        await shutdown(upstream, server, target)

    run(test)


def test_fixed_response_and_redirect_rules_answer_without_a_target() -> None:
    rules = forward_rules(
        {
            "Priority": "1",
            "Conditions": [{"Field": "path-pattern", "Values": ["/health"]}],
            "Actions": [
                {
                    "Type": "fixed-response",
                    "FixedResponseConfig": {"StatusCode": "200", "ContentType": "text/plain", "MessageBody": "ok"},
                }
            ],
        },
        {
            "Priority": "2",
            "Conditions": [{"Field": "path-pattern", "Values": ["/old/*"]}],
            "Actions": [{"Type": "redirect", "RedirectConfig": {"Path": "/new/#{path}", "StatusCode": "HTTP_301"}}],
        },
    )

    async def test() -> None:
        server, url, upstream = await alb(FakeRouting([]), rules)
        async with httpx.AsyncClient(trust_env=False) as client:
            health = await client.get(f"{url}/health")
            moved = await client.get(f"{url}/old/x?a=1", headers={"Host": "shop.local"})
        assert (health.status_code, health.headers["content-type"], health.text) == (200, "text/plain", "ok")
        assert moved.status_code == 301
        assert moved.headers["location"] == "http://shop.local:8080/new/old/x?a=1"
        await shutdown(upstream, server)

    run(test)


def test_least_outstanding_requests_avoids_a_busy_target() -> None:
    balancer = Balancer()
    a, b = (LOOPBACK, 1), (LOOPBACK, 2)
    assert balancer.pick(TG, [a, b], LEAST_OUTSTANDING) == a
    balancer.started(TG, a)
    assert [balancer.pick(TG, [a, b], LEAST_OUTSTANDING) for _ in range(3)] == [b, b, b]
    balancer.finished(TG, a)
    assert {balancer.pick(TG, [a, b], LEAST_OUTSTANDING) for _ in range(2)} == {a, b}
    assert [balancer.pick(TG, [a, b]) for _ in range(4)] in ([a, b, a, b], [b, a, b, a])


def test_a_listener_port_taken_on_the_host_is_served_on_another() -> None:
    taken = socket.socket()
    taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    taken.bind((LOOPBACK, 0))
    taken.listen(1)
    port = int(taken.getsockname()[1])
    try:
        bound = bind_listener_socket(port)
        try:
            assert bound.getsockname()[0] == LOOPBACK
            assert int(bound.getsockname()[1]) not in (0, port)
        finally:
            bound.close()
    finally:
        taken.close()
