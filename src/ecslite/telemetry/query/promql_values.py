"""PromQL values (scalar, string, instant vector, range vector) and the label and number helpers the
evaluator shares, with Prometheus' own formatting of sample values (spec/telemetry.md §7.1).

Labels are :data:`ecslite.telemetry.model.Labels`: sorted ``(name, value)`` pairs, ``__name__``
included, no empty values. Times are integer milliseconds.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple, TypeAlias

from ecslite.telemetry.model import Labels

NAME = "__name__"
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


class EvalError(Exception):
    """The query is valid but cannot be evaluated (Prometheus answers ``execution``, HTTP 422)."""


class QueryTimeout(Exception):
    """Evaluation ran past the query's timeout (``timeout``, HTTP 503)."""


class Sample(NamedTuple):
    labels: Labels
    value: float


class Series(NamedTuple):
    labels: Labels
    timestamps: list[int]
    values: list[float]


@dataclass(slots=True)
class Scalar:
    value: float


@dataclass(slots=True)
class String:
    value: str


@dataclass(slots=True)
class Vector:
    samples: list[Sample] = field(default_factory=list)


@dataclass(slots=True)
class Matrix:
    series: list[Series] = field(default_factory=list)


Value: TypeAlias = Scalar | String | Vector | Matrix


def series_over_steps(points: Iterable[tuple[int, Value]], not_a_vector: str) -> dict[Labels, Series]:
    """Values at successive steps gathered into series, one per label set, points in step order; a
    scalar is the series with no labels, any other value but a vector raises ``EvalError(not_a_vector)``."""
    collected: dict[Labels, Series] = {}
    for ts, value in points:
        pairs: list[tuple[Labels, float]]
        if isinstance(value, Scalar):
            pairs = [((), value.value)]
        elif isinstance(value, Vector):
            pairs = [(s.labels, s.value) for s in value.samples]
        else:
            raise EvalError(not_a_vector)
        for labels, v in pairs:
            series = collected.get(labels)
            if series is None:
                series = collected[labels] = Series(labels, [], [])
            series.timestamps.append(ts)
            series.values.append(v)
    return collected


# -- labels --------------------------------------------------------------------------------------


def drop_name(labels: Labels) -> Labels:
    if labels and any(name == NAME for name, _ in labels):
        return tuple(pair for pair in labels if pair[0] != NAME)
    return labels


def with_label(labels: Labels, name: str, value: str) -> Labels:
    """``labels`` with ``name`` set to ``value`` (removed when ``value`` is empty)."""
    kept = [pair for pair in labels if pair[0] != name]
    if value:
        kept.append((name, value))
        kept.sort()
    return tuple(kept)


def get_label(labels: Labels, name: str) -> str:
    for key, value in labels:
        if key == name:
            return value
    return ""


def format_labels(labels: Labels) -> str:
    """Prometheus' text form of a label set: ``{a="1", b="2"}``."""
    inner = ", ".join(f'{name}="{_escape(value)}"' for name, value in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def check_unique(samples: list[Sample]) -> None:
    """Prometheus refuses a vector holding one label set twice (after a function dropped names)."""
    if len(samples) < 2:
        return
    seen: set[Labels] = set()
    for sample in samples:
        if sample.labels in seen:
            raise EvalError("vector cannot contain metrics with the same labelset")
        seen.add(sample.labels)


# -- numbers -------------------------------------------------------------------------------------


def is_stale(value: float) -> bool:
    return value != value and struct.pack("<d", value) == struct.pack("<d", STALE_NAN)


def format_value(value: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'f', -1, 64)``: shortest round-trip digits, never an exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value)) if value != 0 or math.copysign(1.0, value) > 0 else "-0"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_timestamp(ms: int) -> float | int:
    """A sample time as the API writes it: Unix seconds, fractional only when needed."""
    if ms % 1000 == 0:
        return ms // 1000
    return ms / 1000


def go_div(a: float, b: float) -> float:
    """IEEE division as Go does it (x/0 is ±Inf, 0/0 is NaN) instead of Python's exception."""
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def go_mod(a: float, b: float) -> float:
    """Go's ``math.Mod``: the sign of the dividend, NaN for a zero divisor."""
    if b == 0 or math.isinf(a) or math.isnan(a) or math.isnan(b):
        return math.nan
    if math.isinf(b):
        return a
    return math.fmod(a, b)


def go_pow(a: float, b: float) -> float:
    """Go's ``math.Pow``: overflow gives ±Inf and invalid operands NaN instead of exceptions."""
    try:
        result = math.pow(a, b)
    except OverflowError:
        if a < 0 and b == int(b) and int(b) % 2 == 1:
            return -math.inf
        return math.inf
    except (ValueError, ZeroDivisionError):
        if a == 0 and b < 0:
            odd = b == int(b) and int(b) % 2 == 1
            return math.copysign(math.inf, a) if odd else math.inf
        return math.nan
    return result


def kahan_add(value: float, total: float, compensation: float) -> tuple[float, float]:
    """Kahan-Babuška summation step, as Prometheus sums ``sum_over_time`` and regressions."""
    new = total + value
    if math.isinf(new):
        compensation = 0.0
    elif abs(total) >= abs(value):
        compensation += (total - new) + value
    else:
        compensation += (value - new) + total
    return new, compensation
