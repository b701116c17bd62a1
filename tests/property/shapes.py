"""Hypothesis strategies that walk a botocore ``Shape`` and draw wire values for it.

Values are JSON-ready (what a client puts in a JSON 1.1 body). Most of what is drawn honours the
model, so requests get past validation and reach the operation; the rest deliberately breaks it:
missing required members, strings outside their length or enum or pattern, numbers out of range,
lists of the wrong size, and now and then a value of the wrong JSON type. Strings are biased toward
names of the resources the harness creates, so references resolve and deeper code runs.

Each request is drawn either strict (every value keeps to the model) or loose (any value may break
it). Choices are small integers where 0 keeps to the model, so shrinking moves a failing example
toward the most ordinary input that still fails.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.model import Shape
from hypothesis import strategies as st

# Past this depth structures come out empty and lists short, keeping every example small.
MAX_DEPTH = 5
MAX_ITEMS = 3

_CHARS = st.characters(exclude_categories=("Cs",))
_TEXT = st.text(_CHARS, max_size=24)
_EXTREME_INTS = (0, -1, 2**31 - 1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, 2**64 - 1, -(2**63) - 1, 10**20)
_WRONG_TYPE = st.one_of(st.none(), st.booleans(), st.integers(), st.just("x"), st.just([]), st.just({}))
_TIMESTAMP_TEXT = ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123+09:00", "1700000000", "nan", "inf", "yesterday")


@dataclass(frozen=True)
class Names:
    """Strings that name existing resources, by the member they are likely to fit.

    ``hints`` pairs a fragment of a member name (lower case, e.g. ``"cluster"``) with the values to
    try for members whose name contains it; other members draw from ``general``.
    """

    general: tuple[str, ...]
    hints: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def for_member(self, member: str) -> tuple[tuple[str, ...], int]:
        """The candidates for ``member`` and how often, in tenths, to pick one of them."""
        key = member.lower()
        for fragment, values in self.hints:
            if fragment in key:
                return values, 7
        return self.general, 4


def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None  # Java-only syntax such as \p{L}


@st.composite
def request_for(draw: st.DrawFn, shape: Shape, names: Names) -> Any:
    """A request body for an input ``shape``; ``names`` are strings that name existing resources."""
    loose = draw(st.booleans())
    return draw(value_for(shape, names, 0, loose))


@st.composite
def value_for(draw: st.DrawFn, shape: Shape, names: Names, depth: int, loose: bool, hint: str = "") -> Any:
    if loose and draw(st.integers(0, 29)) == 29:
        return draw(_WRONG_TYPE)
    kind = shape.type_name
    if kind == "structure":
        return draw(_structure(shape, names, depth, loose))
    if kind == "list":
        return draw(_list(shape, names, depth, loose, hint))
    if kind == "map":
        return draw(_map(shape, names, depth, loose, hint))
    if kind == "string":
        return draw(_string(shape, *names.for_member(hint), loose))
    if kind in ("integer", "long"):
        return draw(_integer(shape, loose))
    if kind in ("float", "double"):
        return draw(_float(shape, loose))
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "timestamp":
        if loose:
            return draw(st.one_of(st.floats(-1e12, 1e12, allow_nan=False), st.sampled_from(_TIMESTAMP_TEXT)))
        return draw(st.floats(0, 4e9, allow_nan=False))
    if kind == "blob":
        return draw(st.one_of(st.just("aGVsbG8="), _TEXT))
    return draw(_TEXT)


@st.composite
def _structure(draw: st.DrawFn, shape: Shape, names: Names, depth: int, loose: bool) -> dict[str, Any]:
    if depth >= MAX_DEPTH:
        return {}
    required = set(shape.required_members)
    out: dict[str, Any] = {}
    for name, member in shape.members.items():  # type: ignore[attr-defined]
        # Required members go missing only in loose requests; optional ones come about a third of the time.
        present = (not loose or draw(st.integers(0, 9)) != 9) if name in required else draw(st.integers(0, 2)) == 1
        if present:
            out[name] = draw(value_for(member, names, depth + 1, loose, name))
    return out


@st.composite
def _list(draw: st.DrawFn, shape: Shape, names: Names, depth: int, loose: bool, hint: str) -> list[Any]:
    low, limit = _bounds(shape)
    low = low or 0
    high = min(limit if limit is not None else MAX_ITEMS, max(low, MAX_ITEMS))
    member = shape.member  # type: ignore[attr-defined]
    if loose and draw(st.integers(0, 9)) == 9:
        sizes = {0, max(low - 1, 0)}
        scalar = member.type_name not in ("structure", "list", "map")
        if limit is not None and limit < (101 if scalar else 11):
            sizes.add(limit + 1)
        size = draw(st.sampled_from(sorted(sizes)))
    else:
        size = draw(st.integers(low, max(low, high)))
    if depth >= MAX_DEPTH:
        size = min(size, 1)
    return [draw(value_for(member, names, depth + 1, loose, hint)) for _ in range(size)]


@st.composite
def _map(draw: st.DrawFn, shape: Shape, names: Names, depth: int, loose: bool, hint: str) -> dict[str, Any]:
    size = draw(st.integers(0, 2 if depth < MAX_DEPTH else 0))
    out: dict[str, Any] = {}
    for _ in range(size):
        key = draw(_string(shape.key, *names.for_member(hint), loose))  # type: ignore[attr-defined]
        out[str(key)] = draw(value_for(shape.value, names, depth + 1, loose, hint))  # type: ignore[attr-defined]
    return out


@st.composite
def _string(draw: st.DrawFn, shape: Shape, names: Sequence[str], weight: int, loose: bool) -> str:
    enum = shape.enum  # type: ignore[attr-defined]
    choice = draw(st.integers(0, 9))
    if enum and (not loose or choice < 8):
        return str(draw(st.sampled_from(enum)))
    if names and choice < weight:
        return str(draw(st.sampled_from(names)))
    low, high = _bounds(shape)
    pattern = shape.metadata.get("pattern")
    compiled = _compiled(pattern) if pattern else None
    if compiled is not None and (not loose or choice < 8):
        return str(draw(st.from_regex(compiled, fullmatch=True)))
    outside = [n for n in (low - 1 if low else None, high + 1 if high is not None else None) if n is not None]
    if loose and choice == 9 and outside:
        # Deliberately one character outside the allowed length.
        size = draw(st.sampled_from(outside))
        return "a" * size if size <= 5000 else ""
    if loose:
        return str(draw(_TEXT))
    low = low or 0
    return str(draw(st.text(_CHARS, min_size=low, max_size=max(low, min(high or 24, 24)))))


@st.composite
def _integer(draw: st.DrawFn, shape: Shape, loose: bool) -> int:
    low, high = _bounds(shape)
    choice = draw(st.integers(0, 9)) if loose else 0
    if choice < 7:
        return int(draw(st.integers(low if low is not None else -1000, high if high is not None else 10**6)))
    if choice < 9:
        edges = [n for n in (low, high) if n is not None]
        candidates = [n + d for n in edges for d in (-1, 1)] or [-1]
        return int(draw(st.sampled_from(candidates)))
    return int(draw(st.sampled_from(_EXTREME_INTS)))


@st.composite
def _float(draw: st.DrawFn, shape: Shape, loose: bool) -> float:
    low, high = _bounds(shape)
    if not loose or draw(st.integers(0, 4)) < 4:
        return float(
            draw(
                st.floats(
                    float(low) if low is not None else -1e6,
                    float(high) if high is not None else 1e6,
                    allow_nan=False,
                )
            )
        )
    return float(draw(st.sampled_from([-1e308, 1e308, -1.5, 0.5, 1e-300])))


def _bounds(shape: Shape) -> tuple[int | None, int | None]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    return (int(low) if low is not None else None, int(high) if high is not None else None)


@st.composite
def mutation_of(draw: st.DrawFn, shape: Shape, value: Any, names: Names) -> Any:
    """``value`` (a request that keeps to ``shape``) with some members dropped, replaced or added.

    Starting from a known-good request reaches the checks that a wholly random one never gets past.
    ``rate`` is the chance, in fortieths, that any one node is touched; 0 sends ``value`` as it is.
    """
    rate = draw(st.integers(0, 4))
    return draw(_mutate(shape, value, names, 0, rate))


def _touch(draw: st.DrawFn, rate: int) -> bool:
    return bool(draw(st.integers(0, 39)) >= 40 - rate)


@st.composite
def _mutate(draw: st.DrawFn, shape: Shape, value: Any, names: Names, depth: int, rate: int, hint: str = "") -> Any:
    if _touch(draw, rate):
        return draw(value_for(shape, names, depth, draw(st.booleans()), hint))
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = shape.members  # type: ignore[attr-defined]
        out: dict[str, Any] = {}
        for name, item in value.items():
            if _touch(draw, rate):
                continue
            member = members.get(name)
            out[name] = draw(_mutate(member, item, names, depth + 1, rate, name)) if member is not None else item
        absent = [name for name in members if name not in value]
        if absent and _touch(draw, rate):
            name = draw(st.sampled_from(absent))
            out[name] = draw(value_for(members[name], names, depth + 1, False, name))
        return out
    if kind == "list" and isinstance(value, list):
        member = shape.member  # type: ignore[attr-defined]
        items = [draw(_mutate(member, item, names, depth + 1, rate, hint)) for item in value]
        if items and _touch(draw, rate):
            items.append(items[draw(st.integers(0, len(items) - 1))])  # a duplicate, e.g. a repeated name
        return items
    if kind == "map" and isinstance(value, dict):
        val_shape = shape.value  # type: ignore[attr-defined]
        return {k: draw(_mutate(val_shape, v, names, depth + 1, rate, hint)) for k, v in value.items()}
    return value
