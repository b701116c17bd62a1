"""Userland port proxies: a bridge-mode task's host ports (spec/ecs.md §2.5).

Each published port listens on ``publish_address:hostPort`` and relays to the task's address on
the bridge at ``containerPort``: TCP connection by connection, UDP datagram by datagram (one
upstream socket per client address, dropped after ``UDP_IDLE_SECONDS`` without traffic). The
proxies belong to the server process: they stop with it and are made again on start from the
sandbox state the network keeps (the task's namespace lives on meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

UDP_IDLE_SECONDS = 60.0
COPY_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class Route:
    protocol: str  # tcp | udp
    listen_host: str
    listen_port: int
    target_host: str
    target_port: int


class PortInUse(Exception):
    """The host port is taken on this machine (by another task, another server or any process)."""

    def __init__(self, route: Route) -> None:
        super().__init__(f"{route.listen_host}:{route.listen_port}/{route.protocol}")
        self.address = f"{route.listen_host}:{route.listen_port}"
        self.port = route.listen_port
        self.protocol = route.protocol


class TcpProxy:
    def __init__(self, route: Route) -> None:
        self.route = route
        self.server: asyncio.Server | None = None
        self.connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        try:
            self.server = await asyncio.start_server(
                self._accept, self.route.listen_host, self.route.listen_port, reuse_address=True
            )
        except OSError:
            raise PortInUse(self.route) from None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection(self.route.target_host, self.route.target_port)
            except OSError:
                writer.close()
                return
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                writer.close()
                up_writer.close()
        finally:
            self.connections.discard(task)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await self.server.wait_closed()
        for task in list(self.connections):
            task.cancel()
        for task in list(self.connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction; at its end, pass the half-close on (the other direction may go on)."""
    try:
        while data := await reader.read(COPY_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, proxy: UdpProxy, client: tuple[str, int]) -> None:
        self.proxy = proxy
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None
        self.last = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.last = time.monotonic()
        if self.proxy.transport is not None:
            self.proxy.transport.sendto(data, self.client)


class UdpProxy(asyncio.DatagramProtocol):
    def __init__(self, route: Route) -> None:
        self.route = route
        self.transport: asyncio.DatagramTransport | None = None
        self.flows: dict[tuple[str, int], _Upstream] = {}
        self.pending: dict[tuple[str, int], list[bytes]] = {}
        self.sweeper: asyncio.Task[None] | None = None
        self.opening: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_datagram_endpoint(
                lambda: self, local_addr=(self.route.listen_host, self.route.listen_port)
            )
        except OSError:
            raise PortInUse(self.route) from None
        self.sweeper = asyncio.create_task(self._sweep())

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        flow = self.flows.get(addr)
        if flow is not None and flow.transport is not None:
            flow.last = time.monotonic()
            flow.transport.sendto(data)
            return
        queued = self.pending.setdefault(addr, [])
        queued.append(data)
        if len(queued) == 1:
            task = asyncio.create_task(self._open(addr))
            self.opening.add(task)
            task.add_done_callback(self.opening.discard)

    async def _open(self, addr: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, flow = await loop.create_datagram_endpoint(
                lambda: _Upstream(self, addr), remote_addr=(self.route.target_host, self.route.target_port)
            )
        except OSError:
            self.pending.pop(addr, None)
            return
        self.flows[addr] = flow
        for data in self.pending.pop(addr, []):
            if flow.transport is not None:
                flow.transport.sendto(data)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(UDP_IDLE_SECONDS / 4)
            cutoff = time.monotonic() - UDP_IDLE_SECONDS
            for addr, flow in list(self.flows.items()):
                if flow.last < cutoff and flow.transport is not None:
                    flow.transport.close()
                    del self.flows[addr]

    async def stop(self) -> None:
        if self.sweeper is not None:
            self.sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.sweeper
        for task in list(self.opening):
            task.cancel()
        for flow in self.flows.values():
            if flow.transport is not None:
                flow.transport.close()
        self.flows.clear()
        if self.transport is not None:
            self.transport.close()


Proxy = TcpProxy | UdpProxy


async def start_proxies(routes: list[Route]) -> list[Proxy]:
    """Start a proxy per route; if one cannot bind, the ones started are stopped and PortInUse raised."""
    started: list[Proxy] = []
    try:
        for route in routes:
            proxy: Proxy = TcpProxy(route) if route.protocol == "tcp" else UdpProxy(route)
            await proxy.start()
            started.append(proxy)
    except BaseException:
        await stop_proxies(started)
        raise
    return started


async def stop_proxies(proxies: list[Proxy]) -> None:
    for proxy in proxies:
        try:
            await proxy.stop()
        except Exception:
            log.exception("port proxy failed to stop", extra={"route": proxy.route})
