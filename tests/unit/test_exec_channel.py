"""ECS Exec's data channel, the agent side (agent/exec_server.py), driven frame by frame as the
session-manager-plugin drives it: handshake, ordered and acknowledged streams, resends, sizes, the
terminate flag, exit codes, channel_closed, one-time tokens and transcripts (spec/ecs.md §11.3–11.4)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import orjson

from ecslite.agent import exec_server
from ecslite.agent import ssm_messages as ssm
from ecslite.agent.exec_server import ChannelRefused, ExecChannel, open_channel
from ecslite.clock import FakeClock
from ecslite.providers.ecs.exec import ExecSession, ExecSessionBook, TranscriptTarget
from ecslite.runtime.base import ContainerNotFound


class Wire:
    """The client's end of the WebSocket: frames it sends, frames the server sent."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[bytes | str | None] = asyncio.Queue()
        self.sent: list[ssm.AgentMessage] = []
        self.closed = False
        self.new = asyncio.Event()

    async def receive(self) -> bytes | str | None:
        return await self.incoming.get()

    async def send(self, data: bytes) -> None:
        self.sent.append(ssm.decode(data))
        self.new.set()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True

    def client_sends(self, sequence: int, payload_type: int, payload: bytes) -> ssm.AgentMessage:
        message = ssm.stream_message(ssm.INPUT_STREAM, sequence, payload_type, payload)
        self.incoming.put_nowait(message.encode())
        return message

    def streams(self) -> list[ssm.AgentMessage]:
        return [m for m in self.sent if m.message_type == ssm.OUTPUT_STREAM]

    async def until(self, check: Any, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not check():
                self.new.clear()
                await self.new.wait()


class EchoProcess:
    """A terminal double: echoes input upper-cased; ``exit N`` ends it with code N."""

    def __init__(self) -> None:
        self.output: asyncio.Queue[bytes] = asyncio.Queue()
        self.sizes: list[tuple[int, int]] = []
        self.code: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.killed = False

    async def read(self) -> bytes:
        return await self.output.get()

    def write(self, data: bytes) -> None:
        text = data.decode()
        if text.startswith("exit "):
            self.output.put_nowait(b"")
            self.code.set_result(int(text.split()[1]))
        else:
            self.output.put_nowait(text.upper().encode())

    def resize(self, rows: int, cols: int) -> None:
        self.sizes.append((rows, cols))

    async def wait(self) -> int:
        return await self.code

    def kill(self) -> None:
        self.killed = True
        if not self.code.done():
            self.output.put_nowait(b"")
            self.code.set_result(137)


def session(**changes: Any) -> ExecSession:
    values: dict[str, Any] = {
        "session_id": "ecs-execute-command-0123456789abcdef0",
        "token": "secret-token",
        "account": "000000000000",
        "region": "us-east-1",
        "cluster_arn": "arn:aws:ecs:us-east-1:000000000000:cluster/default",
        "task_arn": "arn:aws:ecs:us-east-1:000000000000:task/default/" + "a" * 32,
        "task_id": "a" * 32,
        "container": "app",
        "container_arn": "arn:aws:ecs:us-east-1:000000000000:container/default/x/y",
        "command": ("/bin/sh",),
        "created_at": 1000.0,
    }
    values.update(changes)
    return ExecSession(**values)


def run(test: Coroutine[Any, Any, None]) -> None:
    asyncio.run(test)


async def handshake(wire: Wire) -> None:
    await wire.until(lambda: len(wire.streams()) >= 1)
    request = wire.streams()[0]
    assert (request.sequence_number, request.payload_type) == (0, ssm.PayloadType.HANDSHAKE_REQUEST)
    wire.client_sends(0, ssm.PayloadType.HANDSHAKE_RESPONSE, ssm.handshake_response("1.2.0.0", []))
    await wire.until(lambda: len(wire.streams()) >= 2)
    assert wire.streams()[1].payload_type == ssm.PayloadType.HANDSHAKE_COMPLETE


def start(channel: ExecChannel) -> asyncio.Task[int | None]:
    # Quick resends and a short wait for the last acknowledgements keep these tests fast.
    channel.resend_after, channel.drain_seconds = 0.05, 0.05
    return asyncio.get_running_loop().create_task(channel.run())


def test_a_session_streams_output_and_reports_the_exit_code_to_ecslite_clients() -> None:
    async def scenario() -> None:
        wire, process = Wire(), EchoProcess()
        opened: list[tuple[Any, ...]] = []

        async def opener(*args: Any) -> EchoProcess:
            opened.append(args)
            return process

        channel = ExecChannel(session(), wire, opener, client_version="ecslite/0.1")
        task = start(channel)
        await handshake(wire)
        wire.client_sends(1, ssm.PayloadType.SIZE, ssm.size_payload(120, 40))
        wire.client_sends(2, ssm.PayloadType.OUTPUT, b"hello")
        await wire.until(lambda: any(m.payload == b"HELLO" for m in wire.streams()))
        wire.client_sends(3, ssm.PayloadType.OUTPUT, b"exit 3")
        for message in list(wire.streams()):
            wire.incoming.put_nowait(ssm.acknowledgement(message).encode())
        assert await task == 3
        streams = {m.sequence_number: m for m in wire.streams()}  # unacknowledged ones come again
        assert sorted(streams) == list(range(len(streams)))
        last = streams[len(streams) - 1]
        assert last.payload_type == ssm.PayloadType.EXIT_CODE and last.payload == b"3"
        closed = wire.sent[-1]
        assert closed.message_type == ssm.CHANNEL_CLOSED
        assert orjson.loads(closed.payload)["SessionId"] == "ecs-execute-command-0123456789abcdef0"
        assert orjson.loads(closed.payload)["Output"] == ""
        assert process.sizes == [(40, 120)] and opened[0][:3] == ("a" * 32, "app", ("/bin/sh",))
        acks = [orjson.loads(m.payload) for m in wire.sent if m.message_type == ssm.ACKNOWLEDGE]
        assert [a["AcknowledgedMessageSequenceNumber"] for a in acks] == [0, 1, 2, 3]
        assert wire.closed

    run(scenario())


def test_the_real_plugin_gets_no_exit_code_payload() -> None:
    async def scenario() -> None:
        wire, process = Wire(), EchoProcess()

        async def opener(*args: Any) -> EchoProcess:
            return process

        task = start(ExecChannel(session(), wire, opener, client_version="1.2.553.0"))
        await handshake(wire)
        wire.client_sends(1, ssm.PayloadType.OUTPUT, b"exit 0")
        assert await task == 0
        assert all(m.payload_type != ssm.PayloadType.EXIT_CODE for m in wire.streams())
        assert wire.sent[-1].message_type == ssm.CHANNEL_CLOSED

    run(scenario())


def test_duplicates_are_acknowledged_once_handled_and_early_messages_wait_their_turn() -> None:
    async def scenario() -> None:
        wire, process = Wire(), EchoProcess()

        async def opener(*args: Any) -> EchoProcess:
            return process

        task = start(ExecChannel(session(), wire, opener, client_version="ecslite/0.1"))
        await handshake(wire)
        wire.client_sends(2, ssm.PayloadType.OUTPUT, b"second")
        wire.client_sends(1, ssm.PayloadType.OUTPUT, b"first")
        wire.client_sends(1, ssm.PayloadType.OUTPUT, b"first")  # a resend
        await wire.until(lambda: sum(m.payload in (b"FIRST", b"SECOND") for m in wire.streams()) == 2)
        echoed = [m.payload for m in wire.streams() if m.payload in (b"FIRST", b"SECOND")]
        assert echoed == [b"FIRST", b"SECOND"]
        wire.client_sends(3, ssm.PayloadType.OUTPUT, b"exit 0")
        await task
        acks = [orjson.loads(m.payload) for m in wire.sent if m.message_type == ssm.ACKNOWLEDGE]
        assert [a["AcknowledgedMessageSequenceNumber"] for a in acks] == [0, 2, 1, 1, 3]

    run(scenario())


def test_unacknowledged_output_is_sent_again() -> None:
    async def scenario() -> None:
        wire, process = Wire(), EchoProcess()

        async def opener(*args: Any) -> EchoProcess:
            return process

        task = start(ExecChannel(session(), wire, opener, client_version="ecslite/0.1"))
        await handshake(wire)
        wire.client_sends(1, ssm.PayloadType.OUTPUT, b"once")
        await wire.until(lambda: sum(m.payload == b"ONCE" for m in wire.streams()) >= 2, timeout=1)
        copies = [m for m in wire.streams() if m.payload == b"ONCE"]
        assert len({m.sequence_number for m in copies}) == 1 and len({m.message_id for m in copies}) == 1
        wire.client_sends(2, ssm.PayloadType.OUTPUT, b"exit 0")
        await task

    run(scenario())


def test_terminate_flag_and_a_vanishing_client_kill_the_command() -> None:
    async def scenario() -> None:
        for ending in ("flag", "disconnect"):
            wire, process = Wire(), EchoProcess()

            async def opener(*args: Any, process: EchoProcess = process) -> EchoProcess:
                return process

            task = start(ExecChannel(session(), wire, opener, client_version="ecslite/0.1"))
            await handshake(wire)
            if ending == "flag":
                wire.client_sends(1, ssm.PayloadType.FLAG, int(ssm.Flag.TERMINATE_SESSION).to_bytes(4, "big"))
                assert await task == 137
            else:
                wire.incoming.put_nowait(None)
                assert await task is None
            assert process.killed

    run(scenario())


def test_a_runtime_that_cannot_exec_closes_the_channel_with_the_reason() -> None:
    async def scenario() -> None:
        wire = Wire()
        task = start(ExecChannel(session(), wire, None, client_version="1.2.0.0"))
        await handshake(wire)
        assert await task is None
        closed = wire.sent[-1]
        assert closed.message_type == ssm.CHANNEL_CLOSED
        assert "cannot run commands in containers" in orjson.loads(closed.payload)["Output"]

        async def gone(*args: Any) -> EchoProcess:
            raise ContainerNotFound("container app of task x is not running")

        wire = Wire()
        task = start(ExecChannel(session(), wire, gone))
        await handshake(wire)
        assert await task is None
        output = orjson.loads(wire.sent[-1].payload)["Output"]
        assert output == "The command could not start in container app: container app of task x is not running"

    run(scenario())


def test_tokens_open_one_channel_once_and_expire() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        book = ExecSessionBook()
        book.add(session(created_at=clock.now()))
        for token, expected in (("wrong", "unknown"), ("secret-token", None), ("secret-token", "unknown")):
            wire = Wire()
            wire.incoming.put_nowait(ssm.open_data_channel(token, "client", "ecslite/0.1"))
            try:
                found, version = await open_channel(wire, "ecs-execute-command-0123456789abcdef0", book, clock)
            except ChannelRefused as refused:
                assert expected is not None and expected in str(refused)
            else:
                assert expected is None and found.container == "app" and version == "ecslite/0.1"
        book.add(session(session_id="ecs-execute-command-fffffffffffffffff", created_at=clock.now()))
        clock.advance(61)
        wire = Wire()
        wire.incoming.put_nowait(ssm.open_data_channel("secret-token", "client", "1.2"))
        try:
            await open_channel(wire, "ecs-execute-command-fffffffffffffffff", book, clock)
        except ChannelRefused:
            pass
        else:
            raise AssertionError("an expired token opened a channel")

    run(scenario())


def test_the_transcript_goes_to_the_sessions_log_target_line_by_line() -> None:
    async def scenario() -> None:
        wire, process = Wire(), EchoProcess()
        written: list[tuple[str, str, list[tuple[int, str]]]] = []

        async def opener(*args: Any) -> EchoProcess:
            return process

        async def sink(s: ExecSession, events: list[tuple[int, str]]) -> None:
            assert s.transcript is not None
            written.append((s.transcript.log_group, s.transcript.log_stream, events))

        target = TranscriptTarget("/ecs/exec", "ecs-execute-command-0123456789abcdef0")
        task = start(ExecChannel(session(transcript=target), wire, opener, client_version="x", transcript=sink))
        await handshake(wire)
        wire.client_sends(1, ssm.PayloadType.OUTPUT, b"one\r\ntwo")
        await wire.until(lambda: any(m.payload == b"ONE\r\nTWO" for m in wire.streams()))
        wire.client_sends(2, ssm.PayloadType.OUTPUT, b"exit 0")
        await task
        [(group, stream, events)] = written
        assert (group, stream) == ("/ecs/exec", "ecs-execute-command-0123456789abcdef0")
        assert [text for _, text in events] == ["ONE", "TWO"]

    run(scenario())


def test_idle_sessions_end() -> None:
    async def scenario() -> None:
        wire, process = Wire(), EchoProcess()

        async def opener(*args: Any) -> EchoProcess:
            return process

        task = start(ExecChannel(session(), wire, opener, client_version="x", idle_timeout=0.3))
        await handshake(wire)
        assert await task is None and process.killed
        assert "timed out" in orjson.loads(wire.sent[-1].payload)["Output"]

    run(scenario())


def test_module_constants_match_the_plugin() -> None:
    assert exec_server.CHUNK == 1024
    assert ssm.HEADER_LENGTH == 116
