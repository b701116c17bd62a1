"""The AWS JSON 1.0/1.1 protocol: request bodies in, response bodies out, errors in ``__type`` form.

Parsing checks JSON types against the input shape (a wrong type is a ``SerializationException``,
as AWS answers it); constraints are checked afterwards by :mod:`ecslite.protocol.validate`.
Serializing writes only modelled members and leaves out unset ones, never ``null``.
"""

from __future__ import annotations

from typing import Any

import orjson
from botocore.model import OperationModel, Shape

from ecslite.protocol.errors import AwsError, SerializationError
from ecslite.protocol.values import blob_text, parse_blob, parse_timestamp, to_epoch

_JSON_TYPE_NAMES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
# Smithy integers are 32-bit and longs 64-bit, as in the Java services; a value outside is refused
# here rather than reaching the store, which cannot hold integers past 64 bits.
_INT_RANGES = {"integer": (-(2**31), 2**31 - 1, "a 32-bit integer"), "long": (-(2**63), 2**63 - 1, "a 64-bit long")}


def _type_name(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return _JSON_TYPE_NAMES.get(type(value), "null")


def parse_request(operation: OperationModel, body: bytes) -> dict[str, Any]:
    """The operation's input as Python values, type-checked against its input shape."""
    if not body.strip():
        data: Any = {}
    else:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise SerializationError("Unable to parse the request body as JSON.") from None
    if not isinstance(data, dict):
        raise SerializationError("The request body must be a JSON object.")
    shape = operation.input_shape
    if shape is None:
        return {}
    result: dict[str, Any] = read_value(shape, data, "")
    return result


def read_value(shape: Shape, value: Any, path: str) -> Any:
    """One JSON value checked and converted per ``shape`` (``null`` members are dropped)."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _wrong_type(path, "an object", value)
        members = shape.members  # type: ignore[attr-defined]
        out: dict[str, Any] = {}
        for key, item in value.items():
            member = members.get(key)
            if member is None or item is None:
                continue  # AWS ignores members it does not know
            out[key] = read_value(member, item, f"{path}.{key}" if path else key)
        return out
    if kind == "list":
        if not isinstance(value, list):
            raise _wrong_type(path, "an array", value)
        member = shape.member  # type: ignore[attr-defined]
        return [read_value(member, item, f"{path}[{i}]") for i, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise _wrong_type(path, "an object", value)
        val_shape = shape.value  # type: ignore[attr-defined]
        return {k: read_value(val_shape, v, f"{path}.{k}") for k, v in value.items() if v is not None}
    return _read_scalar(kind, value, path)


def _read_scalar(kind: str, value: Any, path: str) -> Any:
    if kind == "string":
        if not isinstance(value, str):
            raise _wrong_type(path, "a string", value)
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            if not (isinstance(value, float) and value.is_integer()):
                raise _wrong_type(path, "an integer", value)
            value = int(value)
        low, high, name = _INT_RANGES[kind]
        if not low <= value <= high:
            raise SerializationError(f"The number at '{path}' is out of range for {name}.")
        return value
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _wrong_type(path, "a number", value)
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _wrong_type(path, "a boolean", value)
        return value
    if kind == "timestamp":
        return parse_timestamp(value, path)
    if kind == "blob":
        return parse_blob(value, path)
    return value  # document types carry any JSON


def _wrong_type(path: str, expected: str, value: Any) -> SerializationError:
    return SerializationError(f"Expected {expected} at '{path or '<root>'}' but found {_type_name(value)}.")


def serialize_response(operation: OperationModel, data: dict[str, Any] | None) -> bytes:
    shape = operation.output_shape
    if shape is None or not data:
        return b"{}"
    return orjson.dumps(write_value(shape, data))


def write_value(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        members = shape.members  # type: ignore[attr-defined]
        out = {}
        for key, item in value.items():
            if item is None:
                continue
            member = members.get(key)
            if member is not None:
                out[key] = write_value(member, item)
        return out
    if kind == "list":
        member = shape.member  # type: ignore[attr-defined]
        return [write_value(member, item) for item in value]
    if kind == "map":
        val_shape = shape.value  # type: ignore[attr-defined]
        return {k: write_value(val_shape, v) for k, v in value.items() if v is not None}
    if kind == "timestamp":
        return to_epoch(value)
    if kind == "blob":
        return blob_text(value)
    if kind in ("integer", "long"):
        return int(value)
    if kind in ("float", "double"):
        return float(value)
    return value


def serialize_error(error: AwsError, json_version: str = "1.1") -> bytes:
    body: dict[str, str] = {"__type": error.code}
    if error.message:
        body["message"] = error.message
    return orjson.dumps(body)


def content_type(json_version: str) -> str:
    return f"application/x-amz-json-{json_version}"
