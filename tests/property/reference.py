"""Reference walks of botocore shapes: the straightforward recursive reading, writing and checking.

The protocol layer compiles each shape into closures for speed; these plain versions say what the
compiled ones must do, and a property test holds the two to the same answers on random values.
"""

from __future__ import annotations

from typing import Any

import regex
from botocore.model import Shape

from ecslite.protocol.errors import SerializationError
from ecslite.protocol.values import blob_text, parse_blob, parse_timestamp, to_epoch

_JSON_TYPE_NAMES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
_INT_RANGES = {"integer": (-(2**31), 2**31 - 1, "a 32-bit integer"), "long": (-(2**63), 2**63 - 1, "a 64-bit long")}
_MAX_REPORTED = 10


def _type_name(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return _JSON_TYPE_NAMES.get(type(value), "null")


def _wrong_type(path: str, expected: str, value: Any) -> SerializationError:
    return SerializationError(f"Expected {expected} at '{path or '<root>'}' but found {_type_name(value)}.")


def read_value(shape: Shape, value: Any, path: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _wrong_type(path, "an object", value)
        members = shape.members  # type: ignore[attr-defined]
        return {
            key: read_value(members[key], item, f"{path}.{key}" if path else key)
            for key, item in value.items()
            if key in members and item is not None
        }
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
    if kind in _INT_RANGES:
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
    return value


def write_value(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        members = shape.members  # type: ignore[attr-defined]
        return {k: write_value(members[k], v) for k, v in value.items() if v is not None and k in members}
    if kind == "list":
        return [write_value(shape.member, item) for item in value]  # type: ignore[attr-defined]
    if kind == "map":
        return {k: write_value(shape.value, v) for k, v in value.items() if v is not None}  # type: ignore[attr-defined]
    if kind == "timestamp":
        return to_epoch(value)
    if kind == "blob":
        return blob_text(value)
    if kind in ("integer", "long"):
        return int(value)
    if kind in ("float", "double"):
        return float(value)
    return value


def violations(shape: Shape, value: Any) -> list[str]:
    out: list[str] = []
    _check(shape, value, "", out)
    return out


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "java.nio.HeapByteBuffer"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return f"'[{len(value)} items]'"
    if isinstance(value, dict):
        return f"'{{{len(value)} entries}}'"
    return f"'{value}'" if isinstance(value, str) else str(value)


def _add(out: list[str], value: Any, path: str, constraint: str) -> None:
    if len(out) < _MAX_REPORTED:
        out.append(f"Value {_show(value)} at '{path}' failed to satisfy constraint: {constraint}")


def _check(shape: Shape, value: Any, path: str, out: list[str]) -> None:
    if len(out) >= _MAX_REPORTED:
        return
    kind = shape.type_name
    if kind == "structure":
        for name in shape.required_members:
            if value.get(name) is None:
                field = name[:1].lower() + name[1:]
                _add(out, None, f"{path}.{field}" if path else field, "Member must not be null")
        members = shape.members  # type: ignore[attr-defined]
        for name, item in value.items():
            if name in members and item is not None:
                field = name[:1].lower() + name[1:]
                _check(members[name], item, f"{path}.{field}" if path else field, out)
    elif kind == "list":
        _check_size(shape, value, path, out)
        for i, item in enumerate(value, 1):
            _check(shape.member, item, f"{path}.{i}.member", out)  # type: ignore[attr-defined]
    elif kind == "map":
        _check_size(shape, value, path, out)
        for key, item in value.items():
            _check(shape.key, key, f"{path}.{key}.key", out)  # type: ignore[attr-defined]
            _check(shape.value, item, f"{path}.{key}.value", out)  # type: ignore[attr-defined]
    elif kind == "string":
        enum = shape.enum  # type: ignore[attr-defined]
        if enum and value not in enum:
            _add(out, value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]")
            return
        _check_size(shape, value, path, out)
        pattern = shape.metadata.get("pattern")
        if pattern:
            try:
                compiled = regex.compile(pattern)
            except regex.error:
                return
            if compiled.fullmatch(value) is None:
                _add(out, value, path, f"Member must satisfy regular expression pattern: {pattern}")
    elif kind in ("integer", "long", "float", "double"):
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            _add(out, value, path, f"Member must have value greater than or equal to {low}")
        if high is not None and value > high:
            _add(out, value, path, f"Member must have value less than or equal to {high}")
    elif kind == "blob":
        _check_size(shape, value, path, out)


def _check_size(shape: Shape, value: Any, path: str, out: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and len(value) < low:
        _add(out, value, path, f"Member must have length greater than or equal to {low}")
    if high is not None and len(value) > high:
        _add(out, value, path, f"Member must have length less than or equal to {high}")
