"""The Smithy RPC v2 CBOR protocol: ``POST /service/<Service>/operation/<Operation>``, bodies in CBOR.

What the wire looks like (botocore's ``RpcV2CBORSerializer`` and ``RpcV2CBORParser`` are the
reference, and the unit tests run them against this module):

- The request names its service by the model's ``targetPrefix`` and its operation in the path, and
  carries ``smithy-protocol: rpc-v2-cbor``; the body is one CBOR map of the input members (empty
  or absent for an input without members). Timestamps are CBOR tag 1 around epoch seconds
  (integer or float), blobs are byte strings, numbers are CBOR integers or floats.
- A response is ``200`` with ``smithy-protocol: rpc-v2-cbor``, ``Content-Type: application/cbor``
  and a CBOR map of the modelled output members (unset ones left out); an operation without an
  output shape answers an empty body.
- An error is a CBOR map ``{"__type": <shape name>, "message": <text>}`` with the error's HTTP
  status. A query-compatible service (CloudWatch) also sends ``x-amzn-query-error: <code>;Sender``,
  which is where botocore takes the error code from (``InvalidParameterValue``, not the shape name).

Parsing checks the types against the input shape, as :mod:`ecslite.protocol.json_rpc` does for
JSON; constraints are checked afterwards by :mod:`ecslite.protocol.validate`.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import cbor2
from botocore.model import OperationModel, Shape

from ecslite.protocol.errors import AwsError, SerializationError
from ecslite.protocol.values import to_epoch

CONTENT_TYPE = "application/cbor"
PROTOCOL_HEADER = "smithy-protocol"
PROTOCOL = "rpc-v2-cbor"
_PREFIX = "/service/"
_INT_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_EPOCH_TAG = 1


def is_cbor_request(path: str, headers: dict[str, str]) -> bool:
    return headers.get(PROTOCOL_HEADER, "").lower() == PROTOCOL or path.startswith(_PREFIX)


def route(path: str) -> tuple[str, str] | None:
    """``(service, operation)`` named by ``/service/<service>/operation/<operation>``, else ``None``."""
    if not path.startswith(_PREFIX):
        return None
    parts = path[len(_PREFIX) :].split("/")
    if len(parts) != 3 or parts[1] != "operation" or not parts[0] or not parts[2]:
        return None
    return parts[0], parts[2]


# -- requests ----------------------------------------------------------------------------------


def parse_request(operation: OperationModel, body: bytes) -> dict[str, Any]:
    """The operation's input as Python values, type-checked against its input shape."""
    shape = operation.input_shape
    if not body:
        return {}
    try:
        data = cbor2.loads(body)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError):
        raise SerializationError("Unable to parse the request body as CBOR.") from None
    if not isinstance(data, dict):
        raise SerializationError("The request body must be a CBOR map.")
    if shape is None:
        return {}
    result: dict[str, Any] = _read(shape, data, "")
    return result


def _where(path: str) -> str:
    return path or "<root>"


def _join(path: str, segment: str) -> str:
    return f"{path}.{segment}" if path else segment


def _expected(what: str, value: Any, path: str) -> SerializationError:
    return SerializationError(f"Expected {what} at '{_where(path)}' but found {_kind(value)}.")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a text string"
    if isinstance(value, bytes):
        return "a byte string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, dt.datetime | cbor2.CBORTag):
        return "a tagged value"
    return "null"


def _read(shape: Shape, value: Any, path: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return _read_structure(shape, value, path)
    if kind == "list":
        if not isinstance(value, list):
            raise _expected("an array", value, path)
        member = shape.member  # type: ignore[attr-defined]
        return [_read(member, item, f"{path}[{index}]") for index, item in enumerate(value) if item is not None]
    if kind == "map":
        if not isinstance(value, dict):
            raise _expected("a map", value, path)
        target = shape.value  # type: ignore[attr-defined]
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _expected("text keys", key, path)
            if item is not None:
                out[key] = _read(target, item, _join(path, key))
        return out
    return _read_scalar(kind, value, path)


def _read_structure(shape: Shape, value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _expected("a map", value, path)
    members = shape.members  # type: ignore[attr-defined]
    wire = _wire_names(shape)
    out = {}
    for key, item in value.items():
        name = wire.get(key) if isinstance(key, str) else None
        if name is None or item is None:
            continue  # members the model does not know are ignored, as AWS does
        out[name] = _read(members[name], item, _join(path, name))
    return out


def _wire_names(shape: Shape) -> dict[str, str]:
    members = shape.members  # type: ignore[attr-defined]
    return {str(member.serialization.get("name", name)): name for name, member in members.items()}


def _read_scalar(kind: str, value: Any, path: str) -> Any:
    if kind == "string":
        if not isinstance(value, str):
            raise _expected("a text string", value, path)
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _expected("a boolean", value, path)
        return value
    if kind in _INT_RANGES:
        return _read_integer(kind, value, path)
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _expected("a number", value, path)
        return float(value)
    if kind == "timestamp":
        return _read_timestamp(value, path)
    if kind == "blob":
        if not isinstance(value, bytes):
            raise _expected("a byte string", value, path)
        return value
    return value  # documents carry any data item


def _read_integer(kind: str, value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _expected("an integer", value, path)
    if isinstance(value, float):
        if not value.is_integer():
            raise _expected("an integer", value, path)
        value = int(value)
    low, high = _INT_RANGES[kind]
    if not low <= value <= high:
        raise SerializationError(f"The number at '{_where(path)}' is out of range for {kind}.")
    return int(value)


def _read_timestamp(value: Any, path: str) -> float:
    """Tag 1 around epoch seconds (cbor2 hands it over as a datetime); bare numbers are accepted too."""
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return stamp.timestamp()
    if isinstance(value, cbor2.CBORTag) and value.tag == _EPOCH_TAG:
        value = value.value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _expected("a timestamp", value, path)
    return float(value)


# -- responses ---------------------------------------------------------------------------------


def serialize_response(operation: OperationModel, data: dict[str, Any] | None) -> bytes:
    shape = operation.output_shape
    if shape is None:
        return b""
    return bytes(cbor2.dumps(_write(shape, data or {})))


def _write(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        members = shape.members  # type: ignore[attr-defined]
        out = {}
        for name, member in members.items():
            item = value.get(name)
            if item is not None:
                out[str(member.serialization.get("name", name))] = _write(member, item)
        return out
    if kind == "list":
        member = shape.member  # type: ignore[attr-defined]
        return [_write(member, item) for item in value]
    if kind == "map":
        target = shape.value  # type: ignore[attr-defined]
        return {str(key): _write(target, item) for key, item in value.items() if item is not None}
    if kind == "timestamp":
        return cbor2.CBORTag(_EPOCH_TAG, to_epoch(value))
    if kind == "blob":
        return value.encode() if isinstance(value, str) else bytes(value)
    if kind in _INT_RANGES:
        return int(value)
    if kind in ("float", "double"):
        return float(value)
    return value


def serialize_error(error: AwsError, type_name: str) -> bytes:
    body: dict[str, Any] = {"__type": type_name}
    if error.message:
        body["message"] = error.message
    body.update(error.fields)
    return bytes(cbor2.dumps(body))


def query_error_header(error: AwsError) -> str:
    """``x-amzn-query-error``: the query protocol's code and fault, for query-compatible services."""
    return f"{error.code};{'Sender' if error.sender_fault else 'Receiver'}"
