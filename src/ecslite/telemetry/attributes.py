"""Attribute values between their Python form, OTLP protobuf and msgpack detail blobs
(spec/telemetry.md §2, §8.2).

What is only shown, never searched (span attributes, events, links, log attributes), travels and
is stored as one compact blob per record: msgpack for records built in Python, or the original
OTLP protobuf bytes for records received over OTLP (no per-attribute Python work on the ingest
path, §8.1). The first byte of a blob says which (:data:`DETAIL_MSGPACK`, :data:`DETAIL_OTLP`).

Invariants:

- :func:`any_value` and :func:`set_any_value` are inverses over every ``AnyValue`` kind.
- In msgpack, attributes are a list of ``[key, value]`` pairs (:func:`attributes_to_msgpack`), or a map
  when every value is a plain scalar (Forward records, which pack faster that way);
  :func:`attributes_from_msgpack` reads both. A ``dict`` value is tagged so that it round-trips and
  stays distinct from a list of pairs.
- :func:`body_text` is the text a line filter searches: strings as they are, bytes decoded,
  maps and lists as JSON (bytes base64, non-finite floats as strings).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgpack
from opentelemetry.proto.common.v1 import common_pb2

from ecslite.telemetry.model import Attributes, AttrValue

# Blob formats (first byte of a detail blob).
DETAIL_MSGPACK = 0
DETAIL_OTLP = 1


# Tempo's tag type names; bool comes before int because a bool is an int.
_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "bool"),
    (int, "int"),
    (float, "float"),
    (str, "string"),
    (bytes, "bytes"),
    (list, "array"),
    (dict, "kvlist"),
)


def value_type(value: AttrValue) -> str:
    """The tag type names Tempo uses (``string``, ``int``, ``float``, ``bool``, ...)."""
    for kind, name in _TYPE_NAMES:
        if isinstance(value, kind):
            return name
    return "none"


def msgpack_detail(payload: list[Any]) -> bytes:
    """A detail blob in the msgpack format: the format byte, then ``payload``."""
    packed: bytes = msgpack.packb(payload, use_bin_type=True)
    return bytes([DETAIL_MSGPACK]) + packed


def msgpack_payload(blob: bytes) -> Any:
    """What :func:`msgpack_detail` packed into ``blob``."""
    return msgpack.unpackb(blob[1:], raw=False)


def any_value(value: common_pb2.AnyValue) -> AttrValue:
    """The Python form of an OTLP ``AnyValue``."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        return value.double_value
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value
    return None


def attributes_from_pb(pairs: Iterable[common_pb2.KeyValue]) -> dict[str, AttrValue]:
    return {kv.key: any_value(kv.value) for kv in pairs}


def set_any_value(target: common_pb2.AnyValue, value: AttrValue) -> None:
    """Write a Python attribute value into an OTLP ``AnyValue`` (the inverse of :func:`any_value`)."""
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, bytes):
        target.bytes_value = value
    elif isinstance(value, list):
        array = target.array_value
        for item in value:
            set_any_value(array.values.add(), item)
    elif isinstance(value, dict):
        kvlist = target.kvlist_value
        for key, item in value.items():
            kv = kvlist.values.add(key=key)
            set_any_value(kv.value, item)


def attributes_to_pb(attributes: Attributes) -> list[common_pb2.KeyValue]:
    out = []
    for key, value in attributes.items():
        kv = common_pb2.KeyValue(key=key)
        set_any_value(kv.value, value)
        out.append(kv)
    return out


def attributes_to_msgpack(attributes: Attributes) -> list[Any]:
    return [[k, pack_value(v)] for k, v in attributes.items()]


def attributes_from_msgpack(pairs: Sequence[Any] | Mapping[str, Any]) -> dict[str, AttrValue]:
    # A list of pairs, or (Forward records' fast path, flat values only) a msgpack map.
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return {k: unpack_value(v) for k, v in items}


# msgpack keeps str/bytes/int/float/bool/None/list apart; maps are tagged so that a kvlist with
# non-string-looking keys round-trips and stays distinct from a list of pairs.
_MAP_TAG = 1


def pack_value(value: AttrValue) -> Any:
    if isinstance(value, dict):
        return msgpack.ExtType(_MAP_TAG, msgpack.packb([[k, pack_value(v)] for k, v in value.items()]))
    if isinstance(value, list):
        return [pack_value(v) for v in value]
    return value


def unpack_value(value: Any) -> AttrValue:
    if isinstance(value, msgpack.ExtType) and value.code == _MAP_TAG:
        return {k: unpack_value(v) for k, v in msgpack.unpackb(value.data, raw=False)}
    if isinstance(value, list):
        return [unpack_value(v) for v in value]
    result: AttrValue = value
    return result


def body_text(body: AttrValue) -> str:
    if isinstance(body, str):
        return body
    if body is None:
        return ""
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    import orjson

    return orjson.dumps(_jsonable(body)).decode()


def _jsonable(value: AttrValue) -> Any:
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
