"""Input validation against a botocore shape: required members, lengths, ranges, enums, patterns.

Runs after parsing, so values already have their Python types. Violations are reported the way
AWS front ends report them (``1 validation error detected: Value 'x' at 'a.b' failed to satisfy
constraint: Member must ...``), under the error code the service uses for bad input.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
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
    if isinstance(value, list | dict):
        # AWS echoes collections; a 10,000-event batch must not come back inside its own error.
        return f"'[{len(value)} items]'" if isinstance(value, list) else f"'{{{len(value)} entries}}'"
    return f"'{value}'" if isinstance(value, str) else str(value)


Path = tuple[Any, str | int] | None  # (parent, segment), built per step, formatted only when reported


def _format(path: Path) -> str:
    segments: list[str] = []
    while path is not None:
        path, segment = path
        segments.append(str(segment))
    return ".".join(reversed(segments))


class _Collector:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.full = False

    def add(self, value: Any, path: Path, constraint: str) -> None:
        if not self.full:
            self.items.append(f"Value {_show(value)} at '{_format(path)}' failed to satisfy constraint: {constraint}")
            self.full = len(self.items) >= _MAX_REPORTED


Checker = Callable[[Any, Path, _Collector], None]


def violations(shape: Shape, value: Any) -> list[str]:
    """All constraint violations of ``value`` (a parsed input structure) against ``shape``."""
    out = _Collector()
    checker = _checker_for(shape)
    if checker is not None:
        checker(value, None, out)
    return out.items


def validate(shape: Shape | None, value: dict[str, Any], error_code: str) -> None:
    if shape is None:
        return
    found = violations(shape, value)
    if found:
        n = len(found)
        noun = "error" if n == 1 else "errors"
        raise AwsError(error_code, f"{n} validation {noun} detected: " + "; ".join(found))


# -- compiled checkers -----------------------------------------------------------------------------
#
# Each shape is compiled once into a checker that visits only what carries a constraint: most of a
# large input (environment lists, commands, free-form strings) has none and is never walked.

# Checkers by shape identity (None: nothing to check); the shape is kept so its id is not reused.
_CHECKERS: dict[int, tuple[Shape, Checker | None]] = {}


def _checker_for(shape: Shape) -> Checker | None:
    found = _CHECKERS.get(id(shape))
    if found is None:
        found = _CHECKERS[id(shape)] = (shape, _compile(shape, {}))
    return found[1]


def _compile(shape: Shape, memo: dict[str, Checker | None]) -> Checker | None:
    if shape.name in memo:
        return memo[shape.name]
    kind = shape.type_name
    if kind == "structure":
        return _compile_structure(shape, memo)
    if kind == "list":
        return _compile_list(shape, memo)
    if kind == "map":
        return _compile_map(shape, memo)
    if kind == "string":
        return _compile_string(shape)
    if kind in ("integer", "long", "float", "double"):
        return _compile_range(shape)
    if kind == "blob":
        return _compile_size(shape, "length")
    return None


def field_name(member: str) -> str:
    """How AWS names a member in validation messages: its Java property name (``RoleName`` → ``roleName``)."""
    return member[:1].lower() + member[1:]


def _compile_structure(shape: Shape, memo: dict[str, Checker | None]) -> Checker | None:
    required = tuple(shape.required_members)
    members: dict[str, Checker] = {}
    names = {name: field_name(name) for name in shape.members}  # type: ignore[attr-defined]

    def check(value: dict[str, Any], path: Path, out: _Collector) -> None:
        if out.full:
            return
        for name in required:
            if value.get(name) is None:
                out.add(None, (path, names[name]), "Member must not be null")
        for name, item in value.items():
            checker = members.get(name)
            if checker is not None and item is not None:
                checker(item, (path, names[name]), out)

    # A recursive shape refers to this checker before it is known to be needed; keep it then.
    memo[shape.name] = check
    for name, member in shape.members.items():  # type: ignore[attr-defined]
        checker = _compile(member, memo)
        if checker is not None:
            members[name] = checker
    if not required and not members:
        memo[shape.name] = None
        return None
    return check


def _compile_list(shape: Shape, memo: dict[str, Checker | None]) -> Checker | None:
    size = _compile_size(shape, "length")
    item = _compile(shape.member, memo)  # type: ignore[attr-defined]
    if size is None and item is None:
        return None

    def check(value: list[Any], path: Path, out: _Collector) -> None:
        if out.full:
            return
        if size is not None:
            size(value, path, out)
        if item is not None:
            for i, element in enumerate(value, 1):
                item(element, ((path, i), "member"), out)

    return check


def _compile_map(shape: Shape, memo: dict[str, Checker | None]) -> Checker | None:
    size = _compile_size(shape, "length")
    key_check = _compile(shape.key, memo)  # type: ignore[attr-defined]
    value_check = _compile(shape.value, memo)  # type: ignore[attr-defined]
    if size is None and key_check is None and value_check is None:
        return None

    def check(value: dict[str, Any], path: Path, out: _Collector) -> None:
        if out.full:
            return
        if size is not None:
            size(value, path, out)
        for key, item in value.items():
            if key_check is not None:
                key_check(key, ((path, key), "key"), out)
            if value_check is not None:
                value_check(item, ((path, key), "value"), out)

    return check


def _compile_size(shape: Shape, what: str) -> Checker | None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is None and high is None:
        return None

    def check(value: Any, path: Path, out: _Collector) -> None:
        size = len(value)
        if low is not None and size < low:
            out.add(value, path, f"Member must have {what} greater than or equal to {low}")
        if high is not None and size > high:
            out.add(value, path, f"Member must have {what} less than or equal to {high}")

    return check


def _compile_range(shape: Shape) -> Checker | None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is None and high is None:
        return None

    def check(value: float, path: Path, out: _Collector) -> None:
        if out.full:
            return
        if low is not None and value < low:
            out.add(value, path, f"Member must have value greater than or equal to {low}")
        if high is not None and value > high:
            out.add(value, path, f"Member must have value less than or equal to {high}")

    return check


def _compile_string(shape: Shape) -> Checker | None:
    enum = shape.enum  # type: ignore[attr-defined]
    allowed = frozenset(enum)
    enum_constraint = f"Member must satisfy enum value set: [{', '.join(enum)}]"
    size = _compile_size(shape, "length")
    pattern = shape.metadata.get("pattern")
    compiled = _compiled(pattern) if pattern else None
    if not enum and size is None and compiled is None:
        return None

    def check(value: str, path: Path, out: _Collector) -> None:
        if out.full:
            return
        if enum and value not in allowed:
            out.add(value, path, enum_constraint)
            return
        if size is not None:
            size(value, path, out)
        # AWS front ends match the whole value (Java's String.matches): `bad name` fails `[A-Za-z0-9]+`.
        if compiled is not None and compiled.fullmatch(value) is None:
            out.add(value, path, f"Member must satisfy regular expression pattern: {pattern}")

    return check
