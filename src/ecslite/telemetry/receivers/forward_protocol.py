"""Fluent Forward protocol v1, decoding (spec/telemetry.md §4.1–§4.4): msgpack values in,
:class:`ForwardMessage`\\ s out, no I/O and no connection state.

- Modes are told apart by the second array element (§4.2): a time (Message), an array (Forward),
  ``bin``/``str`` entries (PackedForward), and those with ``compressed`` (gzip, possibly several
  concatenated members, or zstd) (CompressedPackedForward).
- An entry's time is an EventTime (§4.3, decoded by :func:`ext_hook`), integer or float seconds,
  or Fluent Bit's ``[time, metadata]``; an entry without a usable time or a map record is counted
  in :attr:`ForwardMessage.invalid`, never passed on.
- Decompressed entries stop at a limit (8 times ``Buffer_Max_Size``): past it the request is a
  :class:`ForwardError`, as is anything else that breaks the protocol.
"""

from __future__ import annotations

import base64
import secrets
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgpack

EVENT_TIME_EXT = 0
NS = 1_000_000_000
# Fluent Bit's in_forward defaults (§4.1): a bigger request closes the connection.
BUFFER_CHUNK_SIZE = 1_024_000
BUFFER_MAX_SIZE = 6_144_000
SIGNAL_LOGS = 0
SIGNAL_METRICS = 1
SIGNAL_TRACES = 2


class ForwardError(Exception):
    """The peer broke the protocol; the connection is closed (Fluent Bit does the same)."""


class EventTime(int):
    """Nanoseconds since the epoch, decoded from the EventTime ext type (§4.3)."""

    __slots__ = ()


_SECONDS_NANOS = struct.Struct(">II").unpack


def ext_hook(code: int, data: bytes) -> Any:
    """msgpack ext hook: EventTime (type 0, 8 bytes: big-endian seconds and nanoseconds)."""
    if code == EVENT_TIME_EXT and len(data) == 8:
        seconds, nanos = _SECONDS_NANOS(data)
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


def as_text(value: Any) -> str | None:
    """``value`` as text: a ``str`` as it is, ``bytes`` decoded (invalid UTF-8 replaced), else ``None``."""
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
    return {(as_text(k) or str(k)): v for k, v in value.items()}


def _entry(value: Any) -> tuple[int, dict[Any, Any]] | None:
    if not isinstance(value, list | tuple) or len(value) < 2:
        return None
    ns = time_ns(value[0])
    record = value[1]
    if ns is None or not isinstance(record, dict):
        return None
    return ns, record


def _entries(values: Iterable[Any]) -> tuple[list[tuple[int, dict[Any, Any]]], int]:
    """The usable ``[time, record]`` entries of ``values``, and how many were not."""
    entries: list[tuple[int, dict[Any, Any]]] = []
    append = entries.append
    invalid = 0
    for value in values:
        # The common entry, ``[EventTime, map]``, without a call: this loop runs once per record.
        if type(value) is list and len(value) == 2:
            stamp, record = value
            if type(stamp) is EventTime and type(record) is dict:
                append((int(stamp), record))
                continue
        entry = _entry(value)
        if entry is None:
            invalid += 1
        else:
            append(entry)
    return entries, invalid


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
    reader = unpacker()
    reader.feed(data)
    try:
        return _entries(reader)
    except (ValueError, msgpack.UnpackException) as error:
        raise ForwardError(f"invalid packed entries: {error}") from None


def decode_message(value: Any, size: int = 0, limit: int = BUFFER_MAX_SIZE * 8) -> ForwardMessage | None:
    """One request object as :class:`ForwardMessage`; ``None`` for a heartbeat (``nil``)."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) < 2:
        raise ForwardError(f"a forward request is an array [tag, ...]; got {type(value).__name__}")
    tag = as_text(value[0])
    if tag is None:
        raise ForwardError("the tag of a forward request must be a string")
    second = value[1]
    if isinstance(second, list):
        options = _options(value[2]) if len(value) > 2 else {}
        entries, invalid = _entries(second)
        return ForwardMessage(tag, entries, options, "forward", size, invalid)
    if isinstance(second, bytes | str):
        options = _options(value[2]) if len(value) > 2 else {}
        data = second if isinstance(second, bytes) else second.encode("utf-8", "surrogateescape")
        method = as_text(options.get("compressed"))
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


def chunk_id() -> str:
    """A fresh ``chunk`` option value: base64 of 128 random bits (§4.4)."""
    return base64.b64encode(secrets.token_bytes(16)).decode()
