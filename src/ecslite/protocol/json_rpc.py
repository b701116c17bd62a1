"""The AWS JSON 1.0/1.1 protocol: request bodies in, response bodies out, errors in ``__type`` form.

Parsing checks JSON types against the input shape (a wrong type is a ``SerializationException``,
as AWS answers it); constraints are checked afterwards by :mod:`ecslite.protocol.validate`.
Serializing writes only modelled members and leaves out unset ones, never ``null``. Both run from
plans compiled once per shape (see below), not by walking the botocore model per request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
    try:
        return _plan(shape).read(value)
    except _Invalid as invalid:
        raise invalid.error(path) from None


def serialize_response(operation: OperationModel, data: dict[str, Any] | None) -> bytes:
    shape = operation.output_shape
    if shape is None or not data:
        return b"{}"
    return orjson.dumps(write_value(shape, data))


def write_value(shape: Shape, value: Any) -> Any:
    """``value`` with only the members ``shape`` models, unset ones left out, in JSON wire types."""
    write = _plan(shape).write
    return value if write is None else write(value)


# -- compiled plans --------------------------------------------------------------------------------
#
# Walking botocore shapes per request (attribute lookups, type dispatch, path strings) cost more
# than the operations themselves, so each shape is compiled once into a reader and a writer:
# closures that know their members' readers and writers. Paths for error messages are built only
# when a value is refused, from the segments collected on the way out.

Reader = Callable[[Any], Any]
Writer = Callable[[Any], Any]


class _Invalid(Exception):
    """A refused value, on its way up to the top, where its path is known."""

    def __init__(self, build: Callable[[str], SerializationError]) -> None:
        super().__init__()
        self.build = build
        self.segments: list[str | int] = []  # innermost first; ints are list indexes

    def error(self, prefix: str) -> SerializationError:
        path = prefix
        for segment in reversed(self.segments):
            if isinstance(segment, int):
                path += f"[{segment}]"
            elif path:
                path += f".{segment}"
            else:
                path = segment
        return self.build(path)


@dataclass(frozen=True, slots=True)
class _Plan:
    read: Reader
    write: Writer | None  # None: the value goes out as it is


# Plans by shape identity; the shape is kept alongside so its id is never reused.
_PLANS: dict[int, tuple[Shape, _Plan]] = {}


def _plan(shape: Shape) -> _Plan:
    found = _PLANS.get(id(shape))
    if found is None:
        found = _PLANS[id(shape)] = (shape, _compile(shape, {}))
    return found[1]


def _compile(shape: Shape, memo: dict[str, _Plan]) -> _Plan:
    # ``memo`` holds the plans of the shapes being compiled, by name, so recursive shapes close
    # over the (still filling) member tables instead of recursing forever.
    if shape.name in memo:
        return memo[shape.name]
    kind = shape.type_name
    if kind == "structure":
        return _compile_structure(shape, memo)
    if kind == "list":
        return _compile_list(shape, memo)
    if kind == "map":
        return _compile_map(shape, memo)
    return _Plan(_scalar_reader(kind), _SCALAR_WRITERS.get(kind))


def _compile_structure(shape: Shape, memo: dict[str, _Plan]) -> _Plan:
    readers: dict[str, Reader] = {}
    writers: dict[str, Writer | None] = {}

    def read(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _Invalid(_expected("an object", value))
        out = {}
        for key, item in value.items():
            reader = readers.get(key)
            if reader is None or item is None:
                continue  # AWS ignores members it does not know
            try:
                out[key] = reader(item)
            except _Invalid as invalid:
                invalid.segments.append(key)
                raise
        return out

    def write(value: Any) -> dict[str, Any]:
        out = {}
        for key, item in value.items():
            if item is None or key not in writers:
                continue
            writer = writers[key]
            out[key] = item if writer is None else writer(item)
        return out

    def write_plain(value: Any) -> dict[str, Any]:
        return {k: v for k, v in value.items() if v is not None and k in writers}

    memo[shape.name] = _Plan(read, write)
    for name, member in shape.members.items():  # type: ignore[attr-defined]
        member_plan = _compile(member, memo)
        readers[name] = member_plan.read
        writers[name] = member_plan.write
    if any(writer is not None for writer in writers.values()):
        return memo[shape.name]
    # Only scalars that go out as they are (strings, booleans): filtering is all there is to do.
    plan = memo[shape.name] = _Plan(read, write_plain)
    return plan


def _compile_list(shape: Shape, memo: dict[str, _Plan]) -> _Plan:
    item_plan = _compile(shape.member, memo)  # type: ignore[attr-defined]
    reader, writer = item_plan.read, item_plan.write

    def read(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise _Invalid(_expected("an array", value))
        out = []
        for index, item in enumerate(value):
            try:
                out.append(reader(item))
            except _Invalid as invalid:
                invalid.segments.append(index)
                raise
        return out

    def write(value: Any) -> list[Any]:
        return [writer(item) for item in value]  # type: ignore[misc]

    return _Plan(read, None if writer is None else write)


def _compile_map(shape: Shape, memo: dict[str, _Plan]) -> _Plan:
    value_plan = _compile(shape.value, memo)  # type: ignore[attr-defined]
    reader, writer = value_plan.read, value_plan.write

    def read(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _Invalid(_expected("an object", value))
        out = {}
        for key, item in value.items():
            if item is None:
                continue
            try:
                out[key] = reader(item)
            except _Invalid as invalid:
                invalid.segments.append(key)
                raise
        return out

    def write(value: Any) -> dict[str, Any]:
        if writer is None:
            return {k: v for k, v in value.items() if v is not None}
        return {k: writer(v) for k, v in value.items() if v is not None}

    return _Plan(read, write)


def _expected(what: str, value: Any) -> Callable[[str], SerializationError]:
    return lambda path: SerializationError(f"Expected {what} at '{path or '<root>'}' but found {_type_name(value)}.")


def _read_string(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid(_expected("a string", value))
    return value


def _read_boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(_expected("a boolean", value))
    return value


def _integer_reader(kind: str) -> Reader:
    low, high, name = _INT_RANGES[kind]

    def read(value: Any) -> int:
        number: int
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        else:
            raise _Invalid(_expected("an integer", value))
        if not low <= number <= high:
            raise _Invalid(lambda path: SerializationError(f"The number at '{path}' is out of range for {name}."))
        return number

    return read


def _read_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(_expected("a number", value))
    return float(value)


def _converting(parse: Callable[[Any, str], Any]) -> Reader:
    """A reader for a scalar the ``values`` module converts; its errors carry the path it is given."""

    def read(value: Any) -> Any:
        try:
            return parse(value, "")
        except SerializationError:
            raise _Invalid(lambda path: _raised(parse, value, path)) from None

    return read


def _raised(parse: Callable[[Any, str], Any], value: Any, path: str) -> SerializationError:
    try:
        parse(value, path)
    except SerializationError as error:
        return error
    return SerializationError(f"Unable to read the value at '{path}'.")


def _scalar_reader(kind: str) -> Reader:
    if kind == "string":
        return _read_string
    if kind in _INT_RANGES:
        return _integer_reader(kind)
    if kind in ("float", "double"):
        return _read_float
    if kind == "boolean":
        return _read_boolean
    if kind == "timestamp":
        return _converting(parse_timestamp)
    if kind == "blob":
        return _converting(parse_blob)
    return lambda value: value  # document types carry any JSON


_SCALAR_WRITERS: dict[str, Writer] = {
    "timestamp": to_epoch,
    "blob": blob_text,
    "integer": int,
    "long": int,
    "float": float,
    "double": float,
}


def serialize_error(error: AwsError, json_version: str = "1.1") -> bytes:
    body: dict[str, Any] = {"__type": error.code}
    if error.message:
        body["message"] = error.message
    body.update(error.fields)
    return orjson.dumps(body)


def content_type(json_version: str) -> str:
    return f"application/x-amz-json-{json_version}"
