"""Fluent Forward listeners (spec/telemetry.md §4, §1.4): TCP sockets and unix socket paths on an
event loop, and one worker thread that decodes every connection's bytes and feeds a
:class:`ForwardSink`.

The loop only moves bytes (§1.4: parse on the ingest thread, never on the event loop): each
connection's bytes go to the worker, which decodes them (:class:`~.forward_session.ForwardSession`),
hands the messages to the sink and sends the acks back through the loop.

Invariants:

- A message with a ``chunk`` option is acknowledged (``{"ack": <chunk>}``) only after the sink
  accepted it; a sink that refuses (the pipeline is full) is asked again until it accepts, while
  the connection stops being read (§1.4: stop reading and delay acks).
- A connection with more than :data:`HIGH_WATER` bytes read and not yet decoded is paused until
  the worker is below :data:`LOW_WATER` for it.
- A worker failure (a bug) closes that connection only; protocol errors are counted and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import socket
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from ecslite.telemetry.receivers.forward_protocol import ForwardMessage, ack
from ecslite.telemetry.receivers.forward_session import Fed, ForwardSession, ForwardSettings

log = logging.getLogger(__name__)

# Bytes read from one connection and not yet decoded, before the loop stops reading it.
HIGH_WATER = 4 * 1024 * 1024
LOW_WATER = 1024 * 1024
REFUSED_RETRY_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class Peer:
    """Who sent a connection's data: an IP address and port, or a unix socket (address ``None``)."""

    address: str | None
    port: int | None
    listener: str  # "tcp" | "unix"


class ForwardSink(Protocol):
    def deliver(self, messages: Sequence[ForwardMessage], peer: Peer) -> bool:
        """Take ``messages`` (True) or refuse them for now (False); refused ones are offered again."""
        ...


class _Connection(asyncio.Protocol):
    """One accepted connection: reads go to the worker, writes come back from it."""

    def __init__(self, server: ForwardServer, listener: str) -> None:
        self.server = server
        self.listener = listener
        self.session = ForwardSession(server.settings)
        self.transport: asyncio.Transport | None = None
        self.peer = Peer(None, None, listener)
        self.pending = 0  # bytes handed to the worker and not yet processed
        self.paused = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        name = transport.get_extra_info("peername")
        if isinstance(name, tuple) and len(name) >= 2:
            self.peer = Peer(str(name[0]), int(name[1]), self.listener)
        self.server.connections.add(self)
        greeting = self.session.greeting()
        if greeting:
            self.transport.write(greeting)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self.pending += len(data)
        self.server.worker.submit(self, data)
        if self.pending > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        # Answer what is in flight (acks) before closing: the worker closes once it is done.
        self.server.worker.submit(self, b"")
        return True

    # -- called on the loop by the worker --------------------------------------------------------

    def processed(self, size: int, replies: bytes, close: bool, eof: bool) -> None:
        self.pending -= size
        if self.transport is None or self.closed:
            return
        if replies:
            self.transport.write(replies)
        if close or eof:
            self.closed = True
            self.transport.close()
            return
        if self.paused and self.pending < LOW_WATER:
            self.paused = False
            self.transport.resume_reading()


class _Worker:
    """The thread that decodes every connection's bytes and feeds the sink, in arrival order."""

    def __init__(self, sink: ForwardSink, name: str) -> None:
        self.sink = sink
        self._queue: queue.SimpleQueue[tuple[_Connection, bytes] | None] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.errors: Counter[str] = Counter()
        self.refusals = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread.start()

    def submit(self, connection: _Connection, data: bytes) -> None:
        self._queue.put((connection, data))

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(10.0)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            connection, data = item
            try:
                self._process(connection, data)
            except Exception:  # a bug: this connection is closed, the others go on
                log.exception("forward worker failed", extra={"peer": str(connection.peer)})
                self.errors["internal"] += 1
                self._answer(connection, len(data), b"", close=True, eof=False)

    def _process(self, connection: _Connection, data: bytes) -> None:
        if connection.closed and not data:
            return
        fed = connection.session.feed(data) if data else Fed()
        if fed.error:
            self.errors["protocol"] += 1
            log.warning("forward connection closed", extra={"peer": str(connection.peer), "error": fed.error})
        acks = list(fed.replies)
        if fed.messages:
            while not self.sink.deliver(fed.messages, connection.peer):
                # Full (§1.4): hold this connection's acks and reading until the sink takes it.
                self.refusals += 1
                if connection.closed:
                    break
                time.sleep(REFUSED_RETRY_SECONDS)
            acks.extend(ack(m.chunk) for m in fed.messages if m.chunk is not None)
        self._answer(connection, len(data), b"".join(acks), close=fed.close, eof=not data)

    def _answer(self, connection: _Connection, size: int, replies: bytes, *, close: bool, eof: bool) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(connection.processed, size, replies, close, eof)


class ForwardServer:
    """Forward listeners (TCP sockets and unix socket paths) feeding one sink."""

    def __init__(self, sink: ForwardSink, settings: ForwardSettings | None = None, *, name: str = "forward") -> None:
        self.settings = settings or ForwardSettings()
        self.worker = _Worker(sink, f"{name}-decode")
        self.connections: set[_Connection] = set()
        self._servers: list[asyncio.Server] = []
        self._unix_paths: list[str] = []

    async def listen_socket(self, sock: socket.socket) -> None:
        """Serve an already bound, listening TCP socket."""
        self._ensure_worker()
        loop = asyncio.get_running_loop()
        self._servers.append(await loop.create_server(lambda: _Connection(self, "tcp"), sock=sock))

    async def listen_tcp(self, host: str, port: int) -> list[tuple[str, int]]:
        self._ensure_worker()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Connection(self, "tcp"), host, port, reuse_address=True)
        self._servers.append(server)
        return [s.getsockname()[:2] for s in server.sockets]

    async def listen_unix(self, path: str, mode: int | None = None) -> None:
        self._ensure_worker()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # a socket left by an earlier process
        loop = asyncio.get_running_loop()
        self._servers.append(await loop.create_unix_server(lambda: _Connection(self, "unix"), path))
        self._unix_paths.append(path)
        if mode is not None:
            os.chmod(path, mode)

    def _ensure_worker(self) -> None:
        if self._loop_started():
            return
        self.worker.start(asyncio.get_running_loop())

    def _loop_started(self) -> bool:
        return self.worker._loop is not None

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.close()
        self._servers.clear()
        await asyncio.to_thread(self.worker.stop)
        for path in self._unix_paths:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._unix_paths.clear()
