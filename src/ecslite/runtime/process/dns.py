"""The tasks' DNS resolver: a relay on the VPC resolver addresses (VPC base + 2) of the bridge.

Every task's ``/etc/resolv.conf`` names its VPC's resolver address, as on AWS
("AmazonProvidedDNS"); ecslite puts that address on the host bridge and answers there by relaying
each query, over UDP or TCP as it came, to the host's own resolvers (``nameserver`` lines of the
host's ``/etc/resolv.conf``, tried in order). A task therefore resolves whatever the host can.

:meth:`DnsForwarder.answer_locally` answers names ecslite itself knows: ``local_names`` (set by
the server to the Cloud Map view, control.cloudmap_dns) is asked about each question with the
resolver address the query came to, so a private DNS namespace answers only in its own VPC. It
returns records or NXDOMAIN for names in zones it owns (encoded by :mod:`.dns_wire`) and None for
everything else, which is relayed as before. Without ``local_names`` everything is relayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from ecslite.runtime.process.dns_wire import LocalNames, build_answer, parse_question

log = logging.getLogger(__name__)

PORT = 53
UPSTREAM_TIMEOUT = 2.0
HOST_RESOLV_CONF = Path("/etc/resolv.conf")


def host_resolvers(path: Path = HOST_RESOLV_CONF) -> list[str]:
    """IPv4 ``nameserver`` addresses of the host's resolv.conf, in order."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and ":" not in parts[1]:
            out.append(parts[1])
    return out


def servfail(query: bytes) -> bytes:
    """A SERVFAIL answer to ``query`` (same id and question), for when no upstream answers."""
    if len(query) < 12:
        return b""
    flags = struct.unpack("!H", query[2:4])[0]
    answer_flags = 0x8000 | (flags & 0x7900) | 0x0080 | 2  # QR, opcode+RD kept, RA, rcode SERVFAIL
    return query[:2] + struct.pack("!H", answer_flags) + query[4:6] + b"\0\0\0\0\0\0" + _question(query)


def _question(query: bytes) -> bytes:
    offset = 12
    while offset < len(query) and query[offset]:
        offset += query[offset] + 1
    return query[12 : offset + 5]


class _UdpListener(asyncio.DatagramProtocol):
    def __init__(self, forwarder: DnsForwarder, address: str) -> None:
        self.forwarder = forwarder
        self.address = address
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.forwarder.spawn(self._answer(data, addr))

    async def _answer(self, query: bytes, addr: tuple[str, int]) -> None:
        answer = await self.forwarder.resolve_udp(query, self.address)
        if answer and self.transport is not None:
            self.transport.sendto(answer, addr)


class _UdpQuery(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.answer.done():
            self.answer.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


class DnsForwarder:
    """Listens on any number of addresses (UDP and TCP port 53) and relays to the host's resolvers."""

    def __init__(self, upstreams: Sequence[str] | None = None, local_names: LocalNames | None = None) -> None:
        self.upstreams = list(upstreams) if upstreams is not None else host_resolvers()
        self.local_names = local_names
        self.listeners: dict[str, tuple[asyncio.DatagramTransport, asyncio.Server]] = {}
        self.work: set[asyncio.Task[None]] = set()
        # Tasks of one subnet start together: a second listen() on an address must wait for the
        # first rather than bind it again (EADDRINUSE) before the first has recorded its listener.
        self._binding = asyncio.Lock()

    def answer_locally(self, query: bytes, resolver: str = "") -> bytes | None:
        """An answer ecslite gives itself, or ``None`` to ask the host's resolvers."""
        if self.local_names is None:
            return None
        question = parse_question(query)
        if question is None or question.qclass != 1:
            return None
        try:
            answer = self.local_names(question.name, question.kind, resolver)
        except Exception:
            # A broken view must not take the tasks' resolver down: relay the query instead.
            log.exception("local DNS names failed", extra={"name": question.name})
            return None
        return build_answer(query, question, answer) if answer is not None else None

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self.work.add(task)
        task.add_done_callback(self.work.discard)

    async def listen(self, address: str) -> None:
        """Answer on ``address`` (which must exist on this host); listening twice is a no-op."""
        async with self._binding:
            if address in self.listeners:
                return
            loop = asyncio.get_running_loop()
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _UdpListener(self, address), local_addr=(address, PORT)
            )
            try:
                tcp = await asyncio.start_server(self._tcp_client, address, PORT, reuse_address=True)
            except OSError:
                udp.close()
                raise
            self.listeners[address] = (udp, tcp)

    async def unlisten(self, address: str) -> None:
        """Stop answering on ``address`` (its VPC is gone); not listening there is fine."""
        listener = self.listeners.pop(address, None)
        if listener is None:
            return
        udp, tcp = listener
        udp.close()
        tcp.close()
        # Bounded: a client still connected over TCP would otherwise hold the caller (Python 3.12+).
        with contextlib.suppress(Exception):
            await asyncio.wait_for(tcp.wait_closed(), 1.0)

    async def close(self) -> None:
        for udp, tcp in self.listeners.values():
            udp.close()
            tcp.close()
        for _, tcp in self.listeners.values():
            with contextlib.suppress(Exception):
                await tcp.wait_closed()
        self.listeners.clear()
        for task in list(self.work):
            task.cancel()
        for task in list(self.work):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- relaying -----------------------------------------------------------------------------

    async def resolve_udp(self, query: bytes, resolver: str = "") -> bytes:
        local = self.answer_locally(query, resolver)
        if local is not None:
            return local
        loop = asyncio.get_running_loop()
        for upstream in self.upstreams:
            transport, protocol = await loop.create_datagram_endpoint(_UdpQuery, remote_addr=(upstream, PORT))
            try:
                transport.sendto(query)
                return await asyncio.wait_for(protocol.answer, UPSTREAM_TIMEOUT)
            except (TimeoutError, OSError):
                continue
            finally:
                transport.close()
        return servfail(query)

    async def resolve_tcp(self, query: bytes, resolver: str = "") -> bytes:
        local = self.answer_locally(query, resolver)
        if local is not None:
            return local
        for upstream in self.upstreams:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(upstream, PORT), UPSTREAM_TIMEOUT)
            except (TimeoutError, OSError):
                continue
            try:
                writer.write(struct.pack("!H", len(query)) + query)
                await writer.drain()
                size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), UPSTREAM_TIMEOUT))[0]
                return await asyncio.wait_for(reader.readexactly(size), UPSTREAM_TIMEOUT)
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                continue
            finally:
                writer.close()
        # Resolvers that take no TCP (some stub resolvers) still answer the query over UDP.
        return await self.resolve_udp(query, resolver)

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.work.add(task)
            task.add_done_callback(self.work.discard)
        sockname = writer.get_extra_info("sockname")
        resolver = str(sockname[0]) if sockname else ""
        try:
            while True:
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                answer = await self.resolve_tcp(await reader.readexactly(size), resolver)
                writer.write(struct.pack("!H", len(answer)) + answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            writer.close()
