"""ECS Exec's data channel: the agent's side of the Session Manager protocol (spec/ecs.md §11.3–11.4).

``ExecuteCommand`` (:mod:`ecslite.providers.ecs.exec`) returns ``ws://<server>/ecs-exec/<sessionId>``
and a one-time token. The client (the real ``session-manager-plugin`` that ``aws ecs
execute-command`` runs, or ``ecslite exec``) opens that WebSocket and sends the token in its first,
text frame (``OpenDataChannelInput``). From then on every frame is a binary
:class:`~ecslite.agent.ssm_messages.AgentMessage`, and this side behaves as the SSM agent does:

1. handshake: ``output_stream_data`` #0 carries a ``HandshakeRequest`` asking for the
   ``InteractiveCommands`` session type; the client answers with a ``HandshakeResponse``; #1 is
   ``HandshakeComplete``;
2. the command starts in the container on a terminal (the runtime's ``open_exec``); its output goes
   out as ``output_stream_data`` (payload type 1) in order; ``input_stream_data`` from the client is
   keystrokes (type 1), terminal sizes (type 3, ``{"cols", "rows"}``) or flags (type 10,
   ``TerminateSession``);
3. every stream message is acknowledged by its receiver; ours stay queued until acknowledged and are
   sent again while they are not (the plugin drops output that arrives before its shell handler is
   ready and relies on the resend), and the client's duplicates are acknowledged and ignored;
4. when the command's terminal closes, ``channel_closed`` ends the session, and the socket closes.

Beyond what the SSM agent does for interactive sessions: a client whose ``ClientVersion`` starts with
``ecslite`` also gets the command's exit code as an ``ExitCode`` payload (type 12) before
``channel_closed`` (the real plugin, which prints every payload, never gets one). Sessions end after
:data:`~ecslite.providers.ecs.exec.IDLE_TIMEOUT_SECONDS` without input or output (§11.2).

Transcripts: when the cluster's ``executeCommandConfiguration`` says so, the session's output is
written to its CloudWatch Logs group (stream = session id) through the Logs provider's in-process
``append`` when the session ends; a missing group is logged, never fatal, as with the SSM agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from ecslite.agent import ssm_messages as ssm
from ecslite.clock import Clock
from ecslite.providers.ecs.exec import IDLE_TIMEOUT_SECONDS, ExecSession, ExecSessionBook
from ecslite.runtime.base import ExecProcess, RuntimeFailure

log = logging.getLogger(__name__)

AGENT_VERSION = "3.3.1802.0"
OPEN_TIMEOUT_SECONDS = 10.0
HANDSHAKE_TIMEOUT_SECONDS = 30.0
RESEND_AFTER_SECONDS = 0.5
RESEND_INTERVAL_SECONDS = 0.2
DRAIN_SECONDS = 2.0
CHUNK = 1024  # the plugin's StreamDataPayloadSize
ECSLITE_CLIENT = "ecslite"
TRANSCRIPT_EVENT_BYTES = 200_000
TERMINATE = int(ssm.Flag.TERMINATE_SESSION).to_bytes(4, "big")


class Transport(Protocol):
    """One WebSocket: text frames arrive as ``str``, binary as ``bytes``; ``None`` once it closed."""

    async def receive(self) -> bytes | str | None: ...

    async def send(self, data: bytes) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


Opener = Callable[[str, str, tuple[str, ...], int, int], Awaitable[ExecProcess]]
TranscriptSink = Callable[[ExecSession, list[tuple[int, str]]], Awaitable[None]]


class ChannelRefused(Exception):
    """The first frame did not open a session (bad JSON, unknown or used token)."""


@dataclass(slots=True)
class _Outgoing:
    message: ssm.AgentMessage
    sent_at: float


@dataclass(slots=True)
class ExecChannel:
    """One session's channel, from the handshake to ``channel_closed``."""

    session: ExecSession
    transport: Transport
    opener: Opener | None
    client_version: str = ""
    transcript: TranscriptSink | None = None
    idle_timeout: float = IDLE_TIMEOUT_SECONDS
    resend_after: float = RESEND_AFTER_SECONDS
    drain_seconds: float = DRAIN_SECONDS
    _next_out: int = 0
    _next_in: int = 0
    _unacked: dict[int, _Outgoing] = field(default_factory=dict)
    _early: dict[int, ssm.AgentMessage] = field(default_factory=dict)
    _handshaken: asyncio.Event = field(default_factory=asyncio.Event)
    _process: ExecProcess | None = None
    _pending_size: tuple[int, int] | None = None
    _last_activity: float = field(default_factory=time.monotonic)
    _output: list[tuple[int, bytes]] = field(default_factory=list)
    _closed: bool = False

    @property
    def ecslite_client(self) -> bool:
        return self.client_version.startswith(ECSLITE_CLIENT)

    async def run(self) -> int | None:
        """Serve the session; the command's exit code, ``None`` when it never ran or was cut off."""
        reader = asyncio.create_task(self._read_frames())
        resender = asyncio.create_task(self._resend_loop())
        try:
            return await self._serve(reader)
        finally:
            resender.cancel()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(reader, resender, return_exceptions=True)
            if self._process is not None:
                self._process.kill()
            await self._write_transcript()
            with contextlib.suppress(Exception):
                await self.transport.close()

    async def _serve(self, reader: asyncio.Task[None]) -> int | None:
        await self._send_stream(
            ssm.PayloadType.HANDSHAKE_REQUEST, ssm.handshake_request(AGENT_VERSION, self._command())
        )
        started = time.monotonic()
        if not await self._until(self._handshaken.wait(), reader, HANDSHAKE_TIMEOUT_SECONDS):
            return None
        await self._send_stream(ssm.PayloadType.HANDSHAKE_COMPLETE, ssm.handshake_complete(time.monotonic() - started))
        failure = await self._start()
        if failure is not None:
            await self._close_channel(failure)
            return None
        assert self._process is not None
        pump = asyncio.create_task(self._pump(self._process))
        idle = asyncio.create_task(self._idle_watch())
        done, _ = await asyncio.wait({pump, reader, idle}, return_when=asyncio.FIRST_COMPLETED)
        idle.cancel()
        if pump not in done:
            # The client went away or the session idled out: end the command.
            self._process.kill()
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
            if idle in done and not reader.done():
                await self._close_channel(f"Session {self.session.session_id} timed out after being idle.")
            return None
        code = await self._process.wait()
        if self.ecslite_client:
            await self._send_stream(ssm.PayloadType.EXIT_CODE, str(code).encode())
        await self._drain(reader)
        await self._close_channel("")
        return code

    def _command(self) -> str:
        return " ".join(self.session.command)

    async def _until(self, waiting: Awaitable[Any], reader: asyncio.Task[None], timeout: float) -> bool:
        task = asyncio.ensure_future(waiting)
        done, _ = await asyncio.wait({task, reader}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if task not in done:
            task.cancel()
            return False
        return True

    async def _start(self) -> str | None:
        if self.opener is None:
            return "The runtime of this ecslite server cannot run commands in containers (use the process runtime)."
        rows, cols = self._pending_size or (24, 80)
        try:
            self._process = await self.opener(
                self.session.task_id, self.session.container, self.session.command, rows, cols
            )
        except RuntimeFailure as failure:
            return f"The command could not start in container {self.session.container}: {failure.reason}"
        if self._pending_size is not None and self._pending_size != (rows, cols):
            self._process.resize(*self._pending_size)  # a size that arrived while the command started
        return None

    # -- output ----------------------------------------------------------------------------------

    async def _pump(self, process: ExecProcess) -> None:
        while data := await process.read():
            self._last_activity = time.monotonic()
            self._output.append((int(time.time() * 1000), data))
            for start in range(0, len(data), CHUNK):
                await self._send_stream(ssm.PayloadType.OUTPUT, data[start : start + CHUNK])

    async def _send_stream(self, payload_type: int, payload: bytes) -> None:
        message = ssm.stream_message(ssm.OUTPUT_STREAM, self._next_out, payload_type, payload)
        self._unacked[self._next_out] = _Outgoing(message, time.monotonic())
        self._next_out += 1
        await self._send(message.encode())

    async def _send(self, frame: bytes) -> None:
        if self._closed:
            return
        try:
            await self.transport.send(frame)
        except Exception:  # the client went away; the reader notices and ends the session
            self._closed = True

    async def _resend_loop(self) -> None:
        while True:
            await asyncio.sleep(min(RESEND_INTERVAL_SECONDS, self.resend_after / 2))
            now = time.monotonic()
            for sequence in sorted(self._unacked):
                outgoing = self._unacked.get(sequence)
                if outgoing is not None and now - outgoing.sent_at >= self.resend_after:
                    outgoing.sent_at = now
                    await self._send(outgoing.message.encode())

    async def _drain(self, reader: asyncio.Task[None]) -> None:
        """Give the client a moment to acknowledge the last output before the channel closes."""
        deadline = time.monotonic() + self.drain_seconds
        while self._unacked and not reader.done() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def _close_channel(self, output: str) -> None:
        target = f"ecs:{self.session.task_id}_{self.session.container}"
        await self._send(ssm.channel_closed(self.session.session_id, target, output).encode())

    async def _idle_watch(self) -> None:
        while True:
            remaining = self.idle_timeout - (time.monotonic() - self._last_activity)
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 5.0))

    # -- input -----------------------------------------------------------------------------------

    async def _read_frames(self) -> None:
        while True:
            frame = await self.transport.receive()
            if frame is None:
                return
            if isinstance(frame, str):
                continue  # only the opening frame is text
            try:
                message = ssm.decode(frame)
            except ssm.MessageError as bad:
                log.warning("exec channel: bad frame", extra={"session": self.session.session_id, "error": str(bad)})
                continue
            await self._on_message(message)

    async def _on_message(self, message: ssm.AgentMessage) -> None:
        if message.message_type == ssm.ACKNOWLEDGE:
            with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError):
                self._unacked.pop(int(message.json()["AcknowledgedMessageSequenceNumber"]), None)
            return
        if message.message_type != ssm.INPUT_STREAM:
            return
        await self._send(ssm.acknowledgement(message).encode())
        if message.sequence_number < self._next_in:
            return  # a resend of what we already have
        self._early[message.sequence_number] = message
        while self._next_in in self._early:
            self._handle_input(self._early.pop(self._next_in))
            self._next_in += 1

    def _handle_input(self, message: ssm.AgentMessage) -> None:
        self._last_activity = time.monotonic()
        kind = message.payload_type
        if kind == ssm.PayloadType.HANDSHAKE_RESPONSE:
            self._handshaken.set()
        elif kind == ssm.PayloadType.OUTPUT:
            if self._process is not None:
                self._process.write(message.payload)
        elif kind == ssm.PayloadType.SIZE:
            with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                size = message.json()
                rows, cols = int(size["rows"]), int(size["cols"])
                self._pending_size = (rows, cols)
                if self._process is not None:
                    self._process.resize(rows, cols)
        elif kind == ssm.PayloadType.FLAG and message.payload[-4:] == TERMINATE and self._process is not None:
            self._process.kill()

    # -- transcript ------------------------------------------------------------------------------

    async def _write_transcript(self) -> None:
        if self.transcript is None or self.session.transcript is None or not self._output:
            return
        events: list[tuple[int, str]] = []
        for stamp, data in self._output:
            text = data.decode("utf-8", "replace").replace("\r\n", "\n")
            for line in text.splitlines():
                if line:
                    events.append((stamp, line[:TRANSCRIPT_EVENT_BYTES]))
        if events:
            try:
                await self.transcript(self.session, events)
            except Exception as failed:  # the session is over either way; say why its log is missing
                log.warning(
                    "ECS Exec transcript not written",
                    extra={
                        "session": self.session.session_id,
                        "group": self.session.transcript.log_group,
                        "error": str(getattr(failed, "message", failed)),
                    },
                )


async def open_channel(
    transport: Transport, session_id: str, sessions: ExecSessionBook, clock: Clock
) -> tuple[ExecSession, str]:
    """Read the opening frame and claim its session (the token is usable once)."""
    try:
        first = await asyncio.wait_for(transport.receive(), OPEN_TIMEOUT_SECONDS)
    except TimeoutError:
        raise ChannelRefused("no OpenDataChannel frame") from None
    if first is None:
        raise ChannelRefused("closed before opening")
    try:
        opening = orjson.loads(first)
        token, version = str(opening["TokenValue"]), str(opening.get("ClientVersion") or "")
    except (orjson.JSONDecodeError, KeyError, TypeError) as bad:
        raise ChannelRefused(f"bad OpenDataChannel frame: {bad}") from None
    session = sessions.claim(session_id, token, clock.now())
    if session is None:
        raise ChannelRefused("unknown, expired or already used session token")
    return session, version


# -- the WebSocket route ---------------------------------------------------------------------------


class LogAppender(Protocol):
    async def append(
        self,
        account: str,
        region: str,
        group: str,
        stream: str,
        events: list[tuple[int, str]],
        create_group: bool = ...,
    ) -> Any: ...


class StarletteTransport:
    """A Starlette WebSocket as a :class:`Transport`."""

    def __init__(self, websocket: Any) -> None:
        self.websocket = websocket

    async def receive(self) -> bytes | str | None:
        try:
            message = await self.websocket.receive()
        except RuntimeError:  # receiving after the disconnect
            return None
        if message["type"] == "websocket.disconnect":
            return None
        data = message.get("bytes")
        if data is not None:
            return bytes(data)
        text = message.get("text")
        return str(text) if text is not None else None

    async def send(self, data: bytes) -> None:
        await self.websocket.send_bytes(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.websocket.close(code, reason)


class ExecServer:
    """The ``/ecs-exec/{session_id}`` WebSocket endpoint of the server's own app."""

    PATH = "/ecs-exec/{session_id}"

    def __init__(self, sessions: ExecSessionBook, runtime: Any, clock: Clock, logs: LogAppender | None) -> None:
        self.sessions = sessions
        self.runtime = runtime
        self.clock = clock
        self.logs = logs
        self.active: set[str] = set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """The route's ASGI app (Starlette mounts callable objects as raw ASGI apps)."""
        from starlette.websockets import WebSocket

        await self.serve(WebSocket(scope, receive, send))

    async def serve(self, websocket: Any) -> None:
        await websocket.accept()
        transport = StarletteTransport(websocket)
        try:
            session, version = await open_channel(
                transport, websocket.path_params["session_id"], self.sessions, self.clock
            )
        except ChannelRefused as refused:
            # 1008: policy violation, the WebSocket code for a refused credential.
            await transport.close(1008, str(refused)[:120])
            return
        open_exec = getattr(self.runtime, "open_exec", None)

        async def opener(task_id: str, name: str, command: tuple[str, ...], rows: int, cols: int) -> ExecProcess:
            assert open_exec is not None
            process: ExecProcess = await open_exec(task_id, name, command, rows=rows, cols=cols)
            return process

        channel = ExecChannel(
            session,
            transport,
            opener if open_exec is not None else None,
            client_version=version,
            transcript=self._transcript if self.logs is not None else None,
        )
        self.active.add(session.session_id)
        try:
            await channel.run()
        finally:
            self.active.discard(session.session_id)

    async def _transcript(self, session: ExecSession, events: list[tuple[int, str]]) -> None:
        assert self.logs is not None and session.transcript is not None
        target = session.transcript
        await self.logs.append(session.account, session.region, target.log_group, target.log_stream, events)
