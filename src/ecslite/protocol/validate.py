"""Input validation against a botocore shape: required members, lengths, ranges, enums, patterns.

Runs after parsing, so values already have their Python types. Violations are reported the way
AWS front ends report them (``1 validation error detected: Value 'x' at 'a.b' failed to satisfy
constraint: Member must ...``), under the error code the service uses for bad input.
"""

from __future__ import annotations

import functools
from typing import Any

import regex
from botocore.model import Shape

from ecslite.protocol.errors import AwsError

# AWS stops listing after a handful of violations; so do we, and we stop walking early.
_MAX_REPORTED = 10


@functools.cache
def _compiled(pattern: str) -> regex.Pattern[str] | None:
    try:
        return regex.compile(pattern)
    except regex.error:
        # A pattern we cannot compile must not turn valid input into an error.
        return None


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bytes):
        return "java.nio.HeapByteBuffer"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"'{value}'" if isinstance(value, str) else str(value)


class _Collector:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, value: Any, path: str, constraint: str) -> None:
        if len(self.items) < _MAX_REPORTED:
            self.items.append(f"Value {_show(value)} at '{path}' failed to satisfy constraint: {constraint}")

    @property
    def full(self) -> bool:
        return len(self.items) >= _MAX_REPORTED


def violations(shape: Shape, value: Any) -> list[str]:
    """All constraint violations of ``value`` (a parsed input structure) against ``shape``."""
    out = _Collector()
    _check(shape, value, "", out)
    return out.items


def validate(shape: Shape | None, value: dict[str, Any], error_code: str) -> None:
    if shape is None:
        return
    found = violations(shape, value)
    if found:
        n = len(found)
        noun = "error" if n == 1 else "errors"
        raise AwsError(error_code, f"{n} validation {noun} detected: " + "; ".join(found))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _check(shape: Shape, value: Any, path: str, out: _Collector) -> None:
    if out.full:
        return
    kind = shape.type_name
    if kind == "structure":
        _check_structure(shape, value, path, out)
    elif kind == "list":
        _check_size(shape, value, len(value), path, out, "length")
        member = shape.member  # type: ignore[attr-defined]
        for i, item in enumerate(value, 1):
            _check(member, item, f"{path}.{i}.member", out)
    elif kind == "map":
        _check_size(shape, value, len(value), path, out, "length")
        for key, item in value.items():
            _check(shape.key, key, f"{path}.{key}.key", out)  # type: ignore[attr-defined]
            _check(shape.value, item, f"{path}.{key}.value", out)  # type: ignore[attr-defined]
    elif kind == "string":
        _check_string(shape, value, path, out)
    elif kind in ("integer", "long", "float", "double"):
        _check_range(shape, value, path, out)
    elif kind == "blob":
        _check_size(shape, value, len(value), path, out, "length")


def _check_structure(shape: Shape, value: dict[str, Any], path: str, out: _Collector) -> None:
    for name in shape.required_members:
        if value.get(name) is None:
            out.add(None, _join(path, name), "Member must not be null")
    members = shape.members  # type: ignore[attr-defined]
    for name, item in value.items():
        member = members.get(name)
        if member is not None and item is not None:
            _check(member, item, _join(path, name), out)


def _check_size(shape: Shape, value: Any, size: int, path: str, out: _Collector, what: str) -> None:
    meta = shape.metadata
    low, high = meta.get("min"), meta.get("max")
    if low is not None and size < low:
        out.add(value, path, f"Member must have {what} greater than or equal to {low}")
    if high is not None and size > high:
        out.add(value, path, f"Member must have {what} less than or equal to {high}")


def _check_range(shape: Shape, value: float, path: str, out: _Collector) -> None:
    meta = shape.metadata
    low, high = meta.get("min"), meta.get("max")
    if low is not None and value < low:
        out.add(value, path, f"Member must have value greater than or equal to {low}")
    if high is not None and value > high:
        out.add(value, path, f"Member must have value less than or equal to {high}")


def _check_string(shape: Shape, value: str, path: str, out: _Collector) -> None:
    enum = shape.enum  # type: ignore[attr-defined]
    if enum and value not in enum:
        out.add(value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]")
        return
    _check_size(shape, value, len(value), path, out, "length")
    pattern = shape.metadata.get("pattern")
    if pattern:
        compiled = _compiled(pattern)
        # Smithy patterns are not implicitly anchored: the value must contain a match.
        if compiled is not None and compiled.search(value) is None:
            out.add(value, path, f"Member must satisfy regular expression pattern: {pattern}")
