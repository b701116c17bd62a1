"""Fluent Forward protocol v1, server side (spec/telemetry.md §4): TCP and unix-socket listeners,
every event mode, EventTime, ``chunk`` acknowledgements and the optional ``shared_key`` handshake.

Layers:

- :class:`ForwardSession` is the protocol without I/O: bytes in, decoded :class:`ForwardMessage`\\ s
  and handshake replies out. It is used by ecslite's host receiver, by the task-side gateway and
  by the built-in Fluent Bit's ``forward`` input alike.
- :class:`ForwardServer` runs listeners on an event loop and one worker thread. The loop only
  moves bytes (§1.4: parse on the ingest thread, never on the event loop): each connection's bytes
  go to the worker, which decodes them, hands the messages to a :class:`ForwardSink` and sends
  the acks back through the loop.
- :class:`PipelineSink` turns messages into log records (:mod:`.forward_records`) for the
  telemetry pipeline; :class:`ForwardReceiver` is the server component behind ``--forward-port``.

Invariants:

- A message with a ``chunk`` option is acknowledged (``{"ack": <chunk>}``) only after the sink
  accepted it; a sink that refuses (the pipeline is full) is asked again until it accepts, while
  the connection stops being read (§1.4: stop reading and delay acks). Nothing is dropped
  silently: messages the sink cannot use (``fluent_signal`` metrics and traces, entries without a
  map record) are counted.
- Framing follows §4.1: a stream of msgpack objects, ``nil`` heartbeats ignored, a buffer cap
  (Fluent Bit's ``Buffer_Max_Size``) past which the connection is closed.
- Modes are told apart by the second array element (§4.2): a time (Message), an array (Forward),
  ``bin``/``str`` entries (PackedForward), and those with ``compressed`` (gzip, possibly several
  concatenated members, or zstd) (CompressedPackedForward).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import queue
import secrets
import socket
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

import msgpack

if TYPE_CHECKING:
    from ecslite.telemetry.enrich import TaskOwner, TaskOwners
    from ecslite.telemetry.log_records import LogBatch
    from ecslite.telemetry.pipeline import Pipeline

log = logging.getLogger(__name__)

EVENT_TIME_EXT = 0
NS = 1_000_000_000
# Fluent Bit's in_forward defaults (§4.1): a bigger request closes the connection.
BUFFER_CHUNK_SIZE = 1_024_000
BUFFER_MAX_SIZE = 6_144_000
# Bytes read from one connection and not yet decoded, before the loop stops reading it.
HIGH_WATER = 4 * 1024 * 1024
LOW_WATER = 1024 * 1024
REFUSED_RETRY_SECONDS = 0.05
SIGNAL_LOGS = 0
SIGNAL_METRICS = 1
SIGNAL_TRACES = 2


class ForwardError(Exception):
    """The peer broke the protocol; the connection is closed (Fluent Bit does the same)."""


class EventTime(int):
    """Nanoseconds since the epoch, decoded from the EventTime ext type (§4.3)."""

    __slots__ = ()


def ext_hook(code: int, data: bytes) -> Any:
    """msgpack ext hook: EventTime (type 0, 8 bytes: big-endian seconds and nanoseconds)."""
    if code == EVENT_TIME_EXT and len(data) == 8:
        seconds, nanos = struct.unpack(">II", data)
        return EventTime(seconds * NS + nanos)
    return msgpack.ExtType(code, data)


def event_time(ns: int) -> msgpack.ExtType:
    """The EventTime ext value for ``ns`` (for senders: the router's forward output, FireLens)."""
    return msgpack.ExtType(EVENT_TIME_EXT, struct.pack(">II", ns // NS, ns % NS))


def time_ns(value: Any) -> int | None:
    """An entry's time in nanoseconds: EventTime, integer or float seconds, or ``[time, metadata]``
    (Fluent Bit's retained-metadata form, §4.2); ``None`` when it is none of these."""
    if isinstance(value, EventTime):
        return int(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value * NS
    if isinstance(value, float):
        seconds = int(value)  # the fraction on its own: a double holds only ~16 digits
        return seconds * NS + round((value - seconds) * NS)
    if isinstance(value, list) and value:
        return time_ns(value[0])
    if isinstance(value, msgpack.ExtType) and value.code == EVENT_TIME_EXT and len(value.data) == 8:
        seconds, nanos = struct.unpack(">II", value.data)
        return int(seconds * NS + nanos)
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None


@dataclass(slots=True)
class ForwardMessage:
    """One decoded request: the tag, its entries ``(time_ns, record)``, and the options."""

    tag: str
    entries: list[tuple[int, dict[Any, Any]]]
    options: dict[str, Any]
    mode: str  # message | forward | packed | compressed
    size: int = 0  # bytes of the request on the wire
    invalid: int = 0  # entries dropped because they had no time or no map record

    @property
    def chunk(self) -> Any:
        return self.options.get("chunk")

    @property
    def signal(self) -> int:
        value = self.options.get("fluent_signal", SIGNAL_LOGS)
        return value if isinstance(value, int) else SIGNAL_LOGS


def ack(chunk: Any) -> bytes:
    """The acknowledgement of a request that carried ``chunk`` (§4.4)."""
    packed: bytes = msgpack.packb({"ack": chunk}, use_bin_type=True)
    return packed


def _options(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    return {(_text(k) or str(k)): v for k, v in value.items()}


def _entry(value: Any) -> tuple[int, dict[Any, Any]] | None:
    if not isinstance(value, list | tuple) or len(value) < 2:
        return None
    ns = time_ns(value[0])
    record = value[1]
    if ns is None or not isinstance(record, dict):
        return None
    return ns, record


def _inflate_gzip(data: bytes, limit: int) -> bytes:
    """Every member of a (possibly concatenated) gzip stream, stopping at ``limit`` bytes."""
    out: list[bytes] = []
    total = 0
    while data:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = inflater.decompress(data, limit + 1 - total)
        except zlib.error as error:
            raise ForwardError(f"invalid gzip entries: {error}") from None
        total += len(chunk)
        out.append(chunk)
        if total > limit or inflater.unconsumed_tail:
            raise ForwardError(f"compressed entries larger than {limit} bytes")
        if not inflater.eof:
            raise ForwardError("truncated gzip entries")
        data = inflater.unused_data
    return b"".join(out)


def _decompress(data: bytes, method: str, limit: int) -> bytes:
    if method == "gzip":
        return _inflate_gzip(data, limit)
    if method == "zstd":
        try:
            import zstandard
        except ImportError:
            raise ForwardError("zstd compressed entries are not supported by this server") from None
        try:
            out = zstandard.ZstdDecompressor().decompressobj().decompress(data)
        except zstandard.ZstdError as error:
            raise ForwardError(f"invalid zstd entries: {error}") from None
        if len(out) > limit:
            raise ForwardError(f"compressed entries larger than {limit} bytes")
        return bytes(out)
    raise ForwardError(f"unknown compression {method!r} (gzip and zstd are supported)")


def unpacker(max_buffer_size: int = 0) -> msgpack.Unpacker:
    """A streaming unpacker with the EventTime hook. ``str`` values keep undecodable bytes as
    surrogates, so ``str``-typed packed entries (Fluentd) can be turned back into their bytes."""
    return msgpack.Unpacker(
        raw=False,
        ext_hook=ext_hook,
        max_buffer_size=max_buffer_size,
        strict_map_key=False,
        unicode_errors="surrogateescape",
    )


def decode_entries(data: bytes, limit: int = BUFFER_MAX_SIZE * 8) -> tuple[list[tuple[int, dict[Any, Any]]], int]:
    """The ``[time, record]`` entries of PackedForward bytes, and how many were unusable."""
    entries: list[tuple[int, dict[Any, Any]]] = []
    invalid = 0
    reader = unpacker()
    reader.feed(data)
    try:
        for value in reader:
            entry = _entry(value)
            if entry is None:
                invalid += 1
            else:
                entries.append(entry)
    except (ValueError, msgpack.UnpackException) as error:
        raise ForwardError(f"invalid packed entries: {error}") from None
    return entries, invalid


def decode_message(value: Any, size: int = 0, limit: int = BUFFER_MAX_SIZE * 8) -> ForwardMessage | None:
    """One request object as :class:`ForwardMessage`; ``None`` for a heartbeat (``nil``)."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) < 2:
        raise ForwardError(f"a forward request is an array [tag, ...]; got {type(value).__name__}")
    tag = _text(value[0])
    if tag is None:
        raise ForwardError("the tag of a forward request must be a string")
    second = value[1]
    if isinstance(second, list):
        options = _options(value[2]) if len(value) > 2 else {}
        entries = []
        invalid = 0
        for item in second:
            entry = _entry(item)
            if entry is None:
                invalid += 1
            else:
                entries.append(entry)
        return ForwardMessage(tag, entries, options, "forward", size, invalid)
    if isinstance(second, bytes | str):
        options = _options(value[2]) if len(value) > 2 else {}
        data = second if isinstance(second, bytes) else second.encode("utf-8", "surrogateescape")
        method = _text(options.get("compressed"))
        mode = "packed"
        if method:
            data = _decompress(data, method.lower(), limit)
            mode = "compressed"
        if options.get("fluent_signal", SIGNAL_LOGS) not in (SIGNAL_LOGS, None):
            # cmetrics/ctraces payloads (§4.2): counted by the sink, not decoded.
            return ForwardMessage(tag, [], options, mode, size, 0)
        entries, invalid = decode_entries(data, limit)
        return ForwardMessage(tag, entries, options, mode, size, invalid)
    ns = time_ns(second)
    if ns is None or len(value) < 3:
        raise ForwardError("a forward request's second element must be a time, an array of entries or packed entries")
    record = value[2]
    options = _options(value[3]) if len(value) > 3 else {}
    if not isinstance(record, dict):
        return ForwardMessage(tag, [], options, "message", size, 1)
    return ForwardMessage(tag, [(ns, record)], options, "message", size, 0)


# -- the handshake (§4.5) ----------------------------------------------------------------------


def _sha512_hex(*parts: bytes | str) -> str:
    digest = hashlib.sha512()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class ForwardSettings:
    """A listener's options, named as Fluent Bit's ``forward`` input names them."""

    buffer_chunk_size: int = BUFFER_CHUNK_SIZE
    buffer_max_size: int = BUFFER_MAX_SIZE
    shared_key: str | None = None
    self_hostname: str = "localhost"
    users: tuple[tuple[str, str], ...] = ()  # security.users: (username, password)
    empty_shared_key: bool = False


@dataclass(slots=True)
class Fed:
    """What feeding bytes to a session produced."""

    messages: list[ForwardMessage] = field(default_factory=list)
    replies: list[bytes] = field(default_factory=list)
    close: bool = False
    error: str | None = None


class ForwardSession:
    """One connection's protocol state: framing, decoding and the handshake; no I/O."""

    def __init__(self, settings: ForwardSettings | None = None) -> None:
        self.settings = settings or ForwardSettings()
        self._reader = unpacker(self.settings.buffer_max_size)
        self._secured = self.settings.shared_key is not None or self.settings.empty_shared_key
        self._nonce = secrets.token_bytes(16)
        self._auth_salt = secrets.token_bytes(16) if self.settings.users else b""
        self.authenticated = not self._secured
        self.peer_hostname: str | None = None
        self._mark = 0  # stream offset where the next request starts

    def greeting(self) -> bytes | None:
        """``HELO`` when a shared key is configured (the server speaks first), else nothing."""
        if not self._secured:
            return None
        helo: bytes = msgpack.packb(
            ["HELO", {"nonce": self._nonce, "auth": self._auth_salt, "keepalive": True}], use_bin_type=True
        )
        return helo

    def feed(self, data: bytes) -> Fed:
        fed = Fed()
        try:
            self._reader.feed(data)
        except msgpack.BufferFull:
            fed.close = True
            fed.error = f"request larger than the buffer limit ({self.settings.buffer_max_size} bytes)"
            return fed
        try:
            for value in self._reader:
                end = self._reader.tell()
                size, self._mark = end - self._mark, end
                if not self.authenticated:
                    self._handshake(value, fed)
                    if fed.close:
                        return fed
                    continue
                message = decode_message(value, size, self.settings.buffer_max_size * 8)
                if message is not None:
                    fed.messages.append(message)
        except ForwardError as error:
            fed.close, fed.error = True, str(error)
        except (ValueError, msgpack.UnpackException) as error:
            fed.close, fed.error = True, f"malformed msgpack: {error}"
        return fed

    def _handshake(self, value: Any, fed: Fed) -> None:
        if value is None:
            return
        if not isinstance(value, list) or len(value) < 6 or _text(value[0]) != "PING":
            fed.close, fed.error = True, "expected PING after HELO (shared_key is configured)"
            return
        hostname = _text(value[1]) or ""
        salt = value[2] if isinstance(value[2], bytes) else (_text(value[2]) or "").encode()
        digest = _text(value[3]) or ""
        username = _text(value[4]) or ""
        password_digest = _text(value[5]) or ""
        key = self.settings.shared_key or ""
        reason = ""
        if hostname == self.settings.self_hostname:
            reason = "Same hostname between input and output"
        elif digest != _sha512_hex(salt, hostname, self._nonce, key):
            reason = "shared_key mismatch"
        elif self.settings.users:
            known = dict(self.settings.users)
            password = known.get(username)
            if password is None or password_digest != _sha512_hex(self._auth_salt, username, password):
                reason = "username/password mismatch"
        ok = not reason
        pong = [
            "PONG",
            ok,
            reason,
            self.settings.self_hostname,
            _sha512_hex(salt, self.settings.self_hostname, self._nonce, key) if ok else "",
        ]
        fed.replies.append(msgpack.packb(pong, use_bin_type=True))
        if ok:
            self.authenticated = True
            self.peer_hostname = hostname
        else:
            fed.close, fed.error = True, f"handshake failed: {reason}"


def ping(helo: Any, shared_key: str, hostname: str, username: str = "", password: str = "") -> bytes:
    """A client's ``PING`` answering ``helo`` (used by ecslite's own senders and tests)."""
    options = helo[1] if isinstance(helo, list) and len(helo) > 1 and isinstance(helo[1], dict) else {}
    nonce = options.get("nonce", b"")
    auth = options.get("auth", b"")
    salt = secrets.token_bytes(16)
    password_digest = _sha512_hex(auth, username, password) if auth else ""
    packed: bytes = msgpack.packb(
        ["PING", hostname, salt, _sha512_hex(salt, hostname, nonce, shared_key), username, password_digest],
        use_bin_type=True,
    )
    return packed


# -- sinks -------------------------------------------------------------------------------------


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


# -- listeners -----------------------------------------------------------------------------------


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


# -- the telemetry pipeline as a sink ----------------------------------------------------------------


class PipelineSink:
    """Forward messages → log records → the telemetry pipeline (§2.3, §4.7).

    The owning task comes from ``owner_of(peer)`` (a listener inside or for one task), else from a
    FireLens record's ``ecs_task_arn`` (the host receiver can be fed by any task's router).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        owners: TaskOwners | None,
        *,
        receiver: str = "forward",
        owner_of: Callable[[Peer], TaskOwner | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from ecslite.telemetry.receivers.forward_records import RecordConverter

        self.pipeline = pipeline
        self.receiver = receiver
        self.owner_of = owner_of
        self.converter = RecordConverter(owners)
        self.clock = clock
        self.dropped_signals: Counter[int] = Counter()
        self.invalid_entries = 0
        self._local = threading.local()  # per delivering thread: the batches of a refused delivery

    def deliver(self, messages: Sequence[ForwardMessage], peer: Peer) -> bool:
        from ecslite.telemetry.model import Signal

        refused: tuple[Sequence[ForwardMessage], list[LogBatch]] | None = getattr(self._local, "refused", None)
        if refused is not None and refused[0] is messages:
            # Offered again after a refusal (§1.4): converted and counted once, with the time it
            # was first received as its observed time.
            batches = refused[1]
        else:
            owner = self.owner_of(peer) if self.owner_of is not None else None
            for message in messages:
                self.invalid_entries += message.invalid
                if message.signal != SIGNAL_LOGS:
                    self.dropped_signals[message.signal] += 1
            batches = self.converter.batches(messages, owner, int(self.clock() * NS))
        # Batches are enriched already (per record's task); the pipeline adds nothing more.
        if batches and self.pipeline.submit_batches(Signal.LOGS, batches, None, self.receiver) is None:
            self._local.refused = (messages, batches)
            return False
        self._local.refused = None
        return True

    def counters(self) -> dict[str, int]:
        return {
            "invalidEntries": self.invalid_entries,
            "droppedMetricsMessages": self.dropped_signals[SIGNAL_METRICS],
            "droppedTracesMessages": self.dropped_signals[SIGNAL_TRACES],
        }


class ForwardReceiver:
    """The host Forward receiver on 127.0.0.1 (``--forward-port``, 0 turns it off); a server component.

    The port is bound when the component is built, so a busy port stops the server before anything
    else starts (:class:`~.listeners.ReceiverPortBusy`), as the OTLP receivers do.
    """

    name = "forward-receiver"

    def __init__(
        self, pipeline: Pipeline, owners: TaskOwners | None, *, port: int = 24224, host: str = "127.0.0.1"
    ) -> None:
        self.sink = PipelineSink(pipeline, owners, receiver="forward")
        self.server = ForwardServer(self.sink, name="forward")
        self._socket: socket.socket | None = None
        if port:
            from ecslite.telemetry.receivers.listeners import ReceiverPortBusy

            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as error:
                sock.close()
                raise ReceiverPortBusy(
                    f"Cannot listen for Fluent Forward on {host}:{port}: {error.strerror or error}. Another "
                    "Fluent Bit, Fluentd or ecslite server holds it; pass --forward-port with another port, or "
                    "--forward-port 0 to turn this receiver off."
                ) from None
            sock.listen(1024)
            sock.setblocking(False)
            self._socket = sock

    @property
    def port(self) -> int | None:
        return self._socket.getsockname()[1] if self._socket is not None else None

    async def start(self) -> None:
        if self._socket is not None:
            await self.server.listen_socket(self._socket)

    async def stop(self) -> None:
        await self.server.close()

    def stats(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "connections": len(self.server.connections),
            "protocolErrors": self.server.worker.errors["protocol"],
            "refusals": self.server.worker.refusals,
            **self.sink.counters(),
        }


def chunk_id() -> str:
    """A fresh ``chunk`` option value: base64 of 128 random bits (§4.4)."""
    return base64.b64encode(secrets.token_bytes(16)).decode()
