"""Values, scalar functions and aggregations of the Logs Insights language.

Values are ``None`` (no value), ``str``, ``int``, ``float``, ``bool`` and :class:`Instant` (a point
in time, shown as ``2024-01-01 00:00:00.000`` in UTC, as Insights shows ``@timestamp``). Strings
holding numbers compare and compute as numbers, as fields extracted by ``parse`` do in Insights.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_MONDAY_OFFSET_MS = 4 * 86_400_000  # 1970-01-01 was a Thursday; weeks start on Monday


@dataclass(frozen=True, slots=True, order=True)
class Instant:
    ms: int

    def __str__(self) -> str:
        moment = datetime.fromtimestamp(self.ms / 1000, UTC)
        return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{self.ms % 1000:03d}"


def to_number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, Instant):
        return value.ms
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return None
        return None if math.isnan(number) or math.isinf(number) else number
    return None


def to_text(value: Any) -> str:
    """How a value appears in GetQueryResults."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    return str(value)


def truthy(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return value != ""
    if isinstance(value, Instant):
        return True
    return bool(value)


def compare(op: str, left: Any, right: Any) -> bool:
    """``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``; a missing operand never compares true."""
    if left is None or right is None:
        return False
    numeric = any(isinstance(v, int | float | Instant) and not isinstance(v, bool) for v in (left, right))
    a: Any
    b: Any
    if numeric:
        a, b = to_number(left), to_number(right)
        if a is None or b is None:
            a, b = to_text(left), to_text(right)
    else:
        a, b = to_text(left), to_text(right)
    if op == "=":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if type(a) is not type(b) and not (isinstance(a, int | float) and isinstance(b, int | float)):
        return False
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def arithmetic(op: str, left: Any, right: Any) -> Any:
    a, b = to_number(left), to_number(right)
    if a is None or b is None:
        return None
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b if b else None
    if op == "%":
        return a % b if b else None
    try:
        result = float(a) ** float(b)
    except (OverflowError, ZeroDivisionError):
        return None
    return None if isinstance(result, complex) else result


# -- time ----------------------------------------------------------------------------------------------


def floor_time(ms: int, count: int, unit: str) -> int:
    """``ms`` rounded down to a multiple of ``count`` units (calendar units for months and longer)."""
    if unit in _UNIT_MS:
        size = count * _UNIT_MS[unit]
        offset = _MONDAY_OFFSET_MS if unit == "w" else 0
        return ((ms - offset) // size) * size + offset
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    months = {"mo": 1, "q": 3, "y": 12}[unit] * count
    index = (moment.year * 12 + moment.month - 1) // months * months
    return calendar.timegm((index // 12, index % 12 + 1, 1, 0, 0, 0)) * 1000


def ceil_time(ms: int, count: int, unit: str) -> int:
    floor = floor_time(ms, count, unit)
    if floor == ms:
        return ms
    if unit in _UNIT_MS:
        return floor + count * _UNIT_MS[unit]
    moment = datetime.fromtimestamp(floor / 1000, UTC)
    months = {"mo": 1, "q": 3, "y": 12}[unit] * count
    index = moment.year * 12 + moment.month - 1 + months
    return calendar.timegm((index // 12, index % 12 + 1, 1, 0, 0, 0)) * 1000


# -- scalar functions -------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return None if value is None else to_text(value)


def _string_fn(fn: Callable[[str], Any]) -> Callable[..., Any]:
    def apply(value: Any) -> Any:
        text = _text(value)
        return None if text is None else fn(text)

    return apply


def _number_fn(fn: Callable[[float], Any]) -> Callable[..., Any]:
    def apply(value: Any) -> Any:
        number = to_number(value)
        if number is None:
            return None
        try:
            return fn(number)
        except (ValueError, OverflowError):
            return None

    return apply


def _substr(value: Any, start: Any, length: Any = None) -> Any:
    text, begin = _text(value), to_number(start)
    if text is None or begin is None:
        return None
    begin = max(0, int(begin))
    if length is None:
        return text[begin:]
    size = to_number(length)
    return None if size is None else text[begin : begin + max(0, int(size))]


def _replace(value: Any, find: Any, replacement: Any) -> Any:
    text = _text(value)
    return None if text is None else text.replace(_text(find) or "", _text(replacement) or "")


def _strcontains(value: Any, part: Any) -> Any:
    text = _text(value)
    return None if text is None else int((_text(part) or "") in text)


def _extreme(pick: Callable[..., Any]) -> Callable[..., Any]:
    def apply(*values: Any) -> Any:
        numbers = [n for n in (to_number(v) for v in values) if n is not None]
        return pick(numbers) if numbers else None

    return apply


def _from_millis(value: Any) -> Any:
    number = to_number(value)
    return None if number is None else Instant(int(number))


def _to_millis(value: Any) -> Any:
    if isinstance(value, Instant):
        return value.ms
    number = to_number(value)
    return None if number is None else int(number)


def _if(condition: Any, then: Any, otherwise: Any = None) -> Any:
    return then if truthy(condition) else otherwise


# name → (callable, minimum arguments, maximum arguments or None for any)
FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int | None]] = {
    "strlen": (_string_fn(len), 1, 1),
    "tolower": (_string_fn(str.lower), 1, 1),
    "toupper": (_string_fn(str.upper), 1, 1),
    "trim": (_string_fn(str.strip), 1, 1),
    "ltrim": (_string_fn(str.lstrip), 1, 1),
    "rtrim": (_string_fn(str.rstrip), 1, 1),
    "concat": (lambda *values: "".join(_text(v) or "" for v in values), 1, None),
    "substr": (_substr, 2, 3),
    "replace": (_replace, 3, 3),
    "strcontains": (_strcontains, 2, 2),
    "coalesce": (lambda *values: next((v for v in values if v is not None), None), 1, None),
    "abs": (_number_fn(abs), 1, 1),
    "ceil": (_number_fn(math.ceil), 1, 1),
    "floor": (_number_fn(math.floor), 1, 1),
    "sqrt": (_number_fn(math.sqrt), 1, 1),
    "log": (_number_fn(math.log), 1, 1),
    "greatest": (_extreme(max), 1, None),
    "least": (_extreme(min), 1, None),
    "frommillis": (_from_millis, 1, 1),
    "tomillis": (_to_millis, 1, 1),
    "if": (_if, 2, 3),
}
# Functions the evaluator implements itself: they look at fields, not values, or need periods.
SPECIAL_FUNCTIONS: dict[str, tuple[int, int]] = {
    "ispresent": (1, 1),
    "isempty": (1, 1),
    "isblank": (1, 1),
    "bin": (1, 1),
    "datefloor": (2, 2),
    "dateceil": (2, 2),
}
AGGREGATE_ARITY: dict[str, tuple[int, int]] = {
    "count": (0, 1),
    "count_distinct": (1, 1),
    "sum": (1, 1),
    "avg": (1, 1),
    "min": (1, 1),
    "max": (1, 1),
    "pct": (2, 2),
    "stddev": (1, 1),
    "earliest": (1, 1),
    "latest": (1, 1),
}


# -- aggregations -------------------------------------------------------------------------------------


class Accumulator:
    """One aggregate of one group: fed ``(value, timestamp_ms)`` per record, then finished."""

    def __init__(self, name: str, star: bool, parameter: float | None) -> None:
        self.name = name
        self.star = star
        self.parameter = parameter
        self.count = 0
        self.values: list[Any] = []
        self.distinct: set[str] = set()
        self.total: float | int = 0
        self.numeric = 0
        self.best: tuple[int, Any] | None = None

    def add(self, value: Any, timestamp: int) -> None:
        name = self.name
        if name == "count":
            if self.star or value is not None:
                self.count += 1
            return
        if value is None:
            return
        if name == "count_distinct":
            self.distinct.add(to_text(value))
        elif name in ("earliest", "latest"):
            if self.best is None or (timestamp < self.best[0] if name == "earliest" else timestamp >= self.best[0]):
                self.best = (timestamp, value)
        elif name in ("sum", "avg"):
            number = to_number(value)
            if number is not None:
                self.total += number
                self.numeric += 1
        else:
            self.values.append(value)

    def result(self) -> Any:
        name = self.name
        if name == "count":
            return self.count
        if name == "count_distinct":
            return len(self.distinct)
        if name in ("earliest", "latest"):
            return None if self.best is None else self.best[1]
        if name == "sum":
            return self.total if self.numeric else None
        if name == "avg":
            return self.total / self.numeric if self.numeric else None
        return _from_values(name, self.values, self.parameter)


def _from_values(name: str, values: Sequence[Any], parameter: float | None) -> Any:
    if name in ("min", "max"):
        if values and all(isinstance(v, Instant) for v in values):
            return min(values) if name == "min" else max(values)
        numbers = [n for n in (to_number(v) for v in values) if n is not None]
        if numbers:
            return min(numbers) if name == "min" else max(numbers)
        texts = [to_text(v) for v in values]
        return (min(texts) if name == "min" else max(texts)) if texts else None
    numbers = sorted(n for n in (to_number(v) for v in values) if n is not None)
    if not numbers:
        return None
    if name == "pct":
        # Nearest rank: the smallest value with at least p percent of the values at or below it.
        rank = max(1, math.ceil((parameter or 0) / 100 * len(numbers)))
        return numbers[min(rank, len(numbers)) - 1]
    if len(numbers) < 2:
        return 0
    mean = sum(numbers) / len(numbers)
    return math.sqrt(sum((n - mean) ** 2 for n in numbers) / (len(numbers) - 1))
