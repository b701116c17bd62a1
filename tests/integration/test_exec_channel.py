"""ECS Exec's data channel over a real WebSocket to the server (fake runtime), with a client written
here from the session-manager-plugin's behaviour (spec/ecs.md §11.3–11.4): the token opens one
channel once, the handshake asks for InteractiveCommands, and a runtime that cannot run commands ends
the session with channel_closed saying so."""

from __future__ import annotations

import hashlib
import struct
import uuid
from typing import Any

import orjson
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.integration.test_tasks_helpers import FAST_WAITER, fargate_definition, run_fargate


def frame(kind: str, sequence: int, payload_type: int, payload: bytes) -> bytes:
    """A plugin-side frame, laid out as the plugin's SerializeClientMessage writes it."""
    raw = uuid.uuid4().bytes
    return (
        struct.pack(">I", 116)
        + kind.encode().ljust(32, b" ")
        + struct.pack(">IQqQ", 1, 1, sequence, 1 if sequence == 0 else 0)
        + raw[8:]
        + raw[:8]
        + hashlib.sha256(payload).digest()
        + struct.pack(">II", payload_type, len(payload))
        + payload
    )


def parse(data: bytes) -> dict[str, Any]:
    kind = data[4:36].strip(b" \x00").decode()
    sequence = struct.unpack_from(">q", data, 48)[0]
    payload_type, length = struct.unpack_from(">II", data, 112)
    raw = data[64:80]
    return {
        "type": kind,
        "sequence": sequence,
        "payloadType": payload_type,
        "payload": data[120 : 120 + length],
        "id": str(uuid.UUID(bytes=raw[8:] + raw[:8])),
    }


def acknowledgement(message: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "AcknowledgedMessageType": message["type"],
            "AcknowledgedMessageId": message["id"],
            "AcknowledgedMessageSequenceNumber": message["sequence"],
            "IsSequentialMessage": True,
        }
    )


def opening(token: str) -> str:
    return orjson.dumps(
        {
            "MessageSchemaVersion": "1.0",
            "RequestId": str(uuid.uuid4()),
            "TokenValue": token,
            "ClientId": str(uuid.uuid4()),
            "ClientVersion": "1.2.553.0",
        }
    ).decode()


def session(ecs: Any) -> dict[str, Any]:
    arn = run_fargate(ecs, fargate_definition(ecs), enableExecuteCommand=True)["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_running").wait(tasks=[arn], WaiterConfig=FAST_WAITER)
    result: dict[str, Any] = ecs.execute_command(task=arn, command="/bin/sh", interactive=True)["session"]
    return result


def test_the_channel_handshakes_and_says_why_the_fake_runtime_cannot_run_the_command(ecs: Any) -> None:
    opened = session(ecs)
    with connect(opened["streamUrl"], open_timeout=10) as websocket:
        websocket.send(opening(opened["tokenValue"]))
        request = parse(websocket.recv(timeout=10))
        assert (request["type"], request["sequence"], request["payloadType"]) == ("output_stream_data", 0, 5)
        action = orjson.loads(request["payload"])["RequestedClientActions"][0]
        assert action["ActionType"] == "SessionType"
        assert action["ActionParameters"]["SessionType"] == "InteractiveCommands"
        response = {
            "ClientVersion": "1.2.553.0",
            "ProcessedClientActions": [{"ActionType": "SessionType", "ActionStatus": 1}],
        }
        websocket.send(frame("acknowledge", 0, 0, acknowledgement(request)))
        websocket.send(frame("input_stream_data", 0, 6, orjson.dumps(response)))
        received = [parse(websocket.recv(timeout=10))]
        while received[-1]["type"] != "channel_closed":
            received.append(parse(websocket.recv(timeout=10)))
        ack = next(m for m in received if m["type"] == "acknowledge")
        assert orjson.loads(ack["payload"])["AcknowledgedMessageSequenceNumber"] == 0
        complete = next(m for m in received if m["type"] == "output_stream_data")
        assert (complete["sequence"], complete["payloadType"]) == (1, 7)
        closed = next(m for m in received if m["type"] == "channel_closed")
        body = orjson.loads(closed["payload"])
        assert body["SessionId"] == opened["sessionId"]
        assert body["Output"] == (
            "The runtime of this ecslite server cannot run commands in containers (use the process runtime)."
        )


def test_a_token_opens_one_channel_only(ecs: Any) -> None:
    opened = session(ecs)
    with connect(opened["streamUrl"], open_timeout=10) as websocket:
        websocket.send(opening(opened["tokenValue"]))
        assert parse(websocket.recv(timeout=10))["payloadType"] == 5
    with connect(opened["streamUrl"], open_timeout=10) as again:
        again.send(opening(opened["tokenValue"]))
        with pytest.raises(ConnectionClosed) as closed:
            again.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    with connect(opened["streamUrl"].replace(opened["sessionId"], "ecs-execute-command-00000000000000000")) as other:
        other.send(opening(opened["tokenValue"]))
        with pytest.raises(ConnectionClosed):
            other.recv(timeout=10)
