"""The Session Manager data channel's message layout (agent/ssm_messages.py), checked against frames
built byte by byte from the plugin's documented layout (spec/ecs.md §11.3)."""

from __future__ import annotations

import hashlib
import struct
import uuid

import orjson
import pytest

from ecslite.agent import ssm_messages as ssm

MESSAGE_ID = uuid.UUID("dd01e56b-ff48-483e-a508-b5f073f31b16")


def hand_built(kind: bytes, sequence: int, flags: int, payload_type: int, payload: bytes) -> bytes:
    """A frame as ``SerializeClientMessage`` writes it: UUID low half first, type padded with spaces."""
    raw = MESSAGE_ID.bytes
    return (
        struct.pack(">I", 116)
        + kind.ljust(32, b" ")
        + struct.pack(">I", 1)
        + struct.pack(">Q", 1503434274948)
        + struct.pack(">q", sequence)
        + struct.pack(">Q", flags)
        + raw[8:]
        + raw[:8]
        + hashlib.sha256(payload).digest()
        + struct.pack(">I", payload_type)
        + struct.pack(">I", len(payload))
        + payload
    )


def test_encode_writes_the_plugins_layout() -> None:
    message = ssm.AgentMessage(
        "input_stream_data", 2, b"payload", 1, flags=0, message_id=MESSAGE_ID, created_date=1503434274948
    )
    assert message.encode() == hand_built(b"input_stream_data", 2, 0, 1, b"payload")
    assert len(message.encode()) == 120 + len(b"payload")


def test_decode_reads_a_hand_built_frame() -> None:
    decoded = ssm.decode(hand_built(b"output_stream_data", 7, 1, 12, b"3"))
    assert (decoded.message_type, decoded.sequence_number, decoded.flags) == ("output_stream_data", 7, 1)
    assert (decoded.payload_type, decoded.payload, decoded.message_id) == (12, b"3", MESSAGE_ID)
    assert decoded.created_date == 1503434274948 and decoded.schema_version == 1


def test_decode_accepts_nul_padded_types_and_empty_payloads() -> None:
    frame = bytearray(hand_built(b"acknowledge", 0, 3, 0, b""))
    frame[4 + len(b"acknowledge") : 36] = b"\x00" * (32 - len(b"acknowledge"))
    assert ssm.decode(bytes(frame)).message_type == "acknowledge"


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda f: f[:100], "at least 120 bytes"),
        (lambda f: struct.pack(">I", 100) + f[4:], "header length 100"),
        (lambda f: f[:-1], "payload length 7, but 6 bytes follow"),
        (lambda f: f[:-1] + b"X", "payload digest does not match"),
    ],
)
def test_decode_refuses_broken_frames(mutate: object, error: str) -> None:
    frame = hand_built(b"input_stream_data", 0, 0, 1, b"payload")
    with pytest.raises(ssm.MessageError, match=error):
        ssm.decode(mutate(frame))  # type: ignore[operator]


def test_acknowledgement_names_the_message_it_acknowledges() -> None:
    received = ssm.AgentMessage("output_stream_data", 5, b"hi", 1, message_id=MESSAGE_ID)
    ack = ssm.decode(ssm.acknowledgement(received).encode())
    assert (ack.message_type, ack.flags, ack.sequence_number) == ("acknowledge", 3, 0)
    assert orjson.loads(ack.payload) == {
        "AcknowledgedMessageType": "output_stream_data",
        "AcknowledgedMessageId": str(MESSAGE_ID),
        "AcknowledgedMessageSequenceNumber": 5,
        "IsSequentialMessage": True,
    }


def test_handshake_request_asks_for_interactive_commands() -> None:
    request = orjson.loads(ssm.handshake_request("3.3.1802.0", "/bin/sh"))
    [action] = request["RequestedClientActions"]
    assert request["AgentVersion"] == "3.3.1802.0"
    assert action["ActionType"] == "SessionType"
    assert action["ActionParameters"]["SessionType"] == "InteractiveCommands"


def test_first_stream_message_carries_syn() -> None:
    assert ssm.stream_message("output_stream_data", 0, 1, b"x").flags == 1
    assert ssm.stream_message("output_stream_data", 1, 1, b"x").flags == 0
