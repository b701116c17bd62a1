"""The Session Manager data channel's binary messages, as the open-source ``session-manager-plugin``
reads and writes them (``src/message/clientmessage.go``, ``messageparser.go``; spec/ecs.md §11.3).

One message per WebSocket binary frame, big-endian::

    offset  size  field
    0       4     header length (always 116: the offset of the payload length)
    4       32    message type, UTF-8, padded with spaces ("input_stream_data", "acknowledge", …)
    36      4     schema version (1)
    40      8     created date, epoch milliseconds
    48      8     sequence number (signed)
    56      8     flags (bit 0 SYN, bit 1 FIN; acknowledgements carry 3)
    64      16    message id: a UUID stored as its low 8 bytes, then its high 8 bytes
    80      32    SHA-256 of the payload
    112     4     payload type (1 output, 3 size, 5–7 handshake, 10 flag, 12 exit code, …)
    116     4     payload length
    120     n     payload

Pure functions and dataclasses: both ends of ecslite's channel (the server in
:mod:`ecslite.agent.exec_server`, the ``ecslite exec`` client) and the tests use them.
"""

from __future__ import annotations

import enum
import hashlib
import struct
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

HEADER_LENGTH = 116
PAYLOAD_OFFSET = HEADER_LENGTH + 4
TYPE_LENGTH = 32
SCHEMA_VERSION = 1

INPUT_STREAM = "input_stream_data"
OUTPUT_STREAM = "output_stream_data"
ACKNOWLEDGE = "acknowledge"
CHANNEL_CLOSED = "channel_closed"
START_PUBLICATION = "start_publication"
PAUSE_PUBLICATION = "pause_publication"

# The plugin's session type for ECS Exec shells (config.InteractiveCommandsPluginName).
INTERACTIVE_COMMANDS = "InteractiveCommands"
MESSAGE_SCHEMA_VERSION = "1.0"


class PayloadType(enum.IntEnum):
    OUTPUT = 1
    ERROR = 2
    SIZE = 3
    PARAMETER = 4
    HANDSHAKE_REQUEST = 5
    HANDSHAKE_RESPONSE = 6
    HANDSHAKE_COMPLETE = 7
    ENC_CHALLENGE_REQUEST = 8
    ENC_CHALLENGE_RESPONSE = 9
    FLAG = 10
    STDERR = 11
    EXIT_CODE = 12


class Flag(enum.IntEnum):
    DISCONNECT_TO_PORT = 1
    TERMINATE_SESSION = 2
    CONNECT_TO_PORT_ERROR = 3


class MessageError(ValueError):
    """A frame that is not a valid data channel message."""


@dataclass(frozen=True, slots=True)
class AgentMessage:
    message_type: str
    sequence_number: int = 0
    payload: bytes = b""
    payload_type: int = 0
    flags: int = 0
    message_id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_date: int = field(default_factory=lambda: int(time.time() * 1000))
    schema_version: int = SCHEMA_VERSION

    def encode(self) -> bytes:
        kind = self.message_type.encode()
        if len(kind) > TYPE_LENGTH:
            raise MessageError(f"message type {self.message_type!r} is longer than {TYPE_LENGTH} bytes")
        raw = self.message_id.bytes
        return b"".join(
            (
                struct.pack(">I", HEADER_LENGTH),
                kind.ljust(TYPE_LENGTH, b" "),
                struct.pack(">IQqQ", self.schema_version, self.created_date, self.sequence_number, self.flags),
                raw[8:] + raw[:8],
                hashlib.sha256(self.payload).digest(),
                struct.pack(">II", self.payload_type, len(self.payload)),
                self.payload,
            )
        )

    def json(self) -> Any:
        return orjson.loads(self.payload)


def decode(frame: bytes) -> AgentMessage:
    """Parse and check one frame: its length fields and the payload's SHA-256 (the plugin's ``Validate``)."""
    if len(frame) < PAYLOAD_OFFSET:
        raise MessageError(f"a message needs at least {PAYLOAD_OFFSET} bytes, got {len(frame)}")
    (header_length,) = struct.unpack_from(">I", frame, 0)
    if header_length != HEADER_LENGTH:
        raise MessageError(f"header length {header_length}, expected {HEADER_LENGTH}")
    kind = frame[4 : 4 + TYPE_LENGTH].strip(b"\x00 ").decode("utf-8", "replace")
    schema, created, sequence, flags = struct.unpack_from(">IQqQ", frame, 36)
    raw_id = frame[64:80]
    digest = frame[80:112]
    payload_type, length = struct.unpack_from(">II", frame, 112)
    payload = frame[PAYLOAD_OFFSET:]
    if len(payload) != length:
        raise MessageError(f"payload length {length}, but {len(payload)} bytes follow")
    if length and hashlib.sha256(payload).digest() != digest:
        raise MessageError("payload digest does not match")
    if not kind:
        raise MessageError("message type is missing")
    return AgentMessage(
        message_type=kind,
        sequence_number=sequence,
        payload=bytes(payload),
        payload_type=payload_type,
        flags=flags,
        message_id=uuid.UUID(bytes=raw_id[8:] + raw_id[:8]),
        created_date=created,
        schema_version=schema,
    )


def stream_message(direction: str, sequence: int, payload_type: int, payload: bytes) -> AgentMessage:
    """An ``input_stream_data`` / ``output_stream_data`` message; the first of a stream carries SYN."""
    return AgentMessage(direction, sequence, payload, int(payload_type), flags=1 if sequence == 0 else 0)


def acknowledgement(of: AgentMessage) -> AgentMessage:
    """The ``acknowledge`` message for a stream message (``SerializeClientMessageWithAcknowledgeContent``)."""
    content = {
        "AcknowledgedMessageType": of.message_type,
        "AcknowledgedMessageId": str(of.message_id),
        "AcknowledgedMessageSequenceNumber": of.sequence_number,
        "IsSequentialMessage": True,
    }
    return AgentMessage(ACKNOWLEDGE, 0, orjson.dumps(content), 0, flags=3)


def channel_closed(session_id: str, destination: str, output: str = "") -> AgentMessage:
    message_id = uuid.uuid4()
    content = {
        "MessageId": str(message_id),
        "CreatedDate": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "DestinationId": destination,
        "SessionId": session_id,
        "MessageType": CHANNEL_CLOSED,
        "SchemaVersion": SCHEMA_VERSION,
        "Output": output,
    }
    return AgentMessage(CHANNEL_CLOSED, 0, orjson.dumps(content), 0, flags=0, message_id=message_id)


def handshake_request(agent_version: str, command: str) -> bytes:
    """The agent's first stream payload: the session type the plugin must start (``HandshakeRequestPayload``)."""
    return orjson.dumps(
        {
            "AgentVersion": agent_version,
            "RequestedClientActions": [
                {
                    "ActionType": "SessionType",
                    "ActionParameters": {
                        "SessionType": INTERACTIVE_COMMANDS,
                        "Properties": {"commands": command, "separateOutPutStream": False},
                    },
                }
            ],
        }
    )


def handshake_response(client_version: str, processed: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"ClientVersion": client_version, "ProcessedClientActions": processed, "Errors": []})


def handshake_complete(seconds: float, customer_message: str = "") -> bytes:
    # HandshakeTimeToComplete is a Go time.Duration: nanoseconds.
    return orjson.dumps({"HandshakeTimeToComplete": int(seconds * 1e9), "CustomerMessage": customer_message})


def size_payload(cols: int, rows: int) -> bytes:
    return orjson.dumps({"cols": cols, "rows": rows})


def open_data_channel(token: str, client_id: str, client_version: str) -> str:
    """The first (text) frame a client sends: the token ExecuteCommand returned (``OpenDataChannelInput``)."""
    return orjson.dumps(
        {
            "MessageSchemaVersion": MESSAGE_SCHEMA_VERSION,
            "RequestId": str(uuid.uuid4()),
            "TokenValue": token,
            "ClientId": client_id,
            "ClientVersion": client_version,
        }
    ).decode()
