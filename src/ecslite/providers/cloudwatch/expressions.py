"""Metric math for GetMetricData and alarms on ``Metrics``: the simple expressions.

Supported: numbers, query ids (``m1``), ``+ - * /``, parentheses, unary minus, ``METRICS()``
(every MetricStat query of the request; ``METRICS("text")`` those whose label or id contains the
text), ``SUM``, ``AVG``, ``MIN`` and ``MAX`` over a list (``METRICS()`` or ``[m1, m2]``: a time
series) or over one series (a number, usable in arithmetic), and ``ABS`` of a series. Time series
combine on the timestamps they share; a division by zero leaves that timestamp out. Anything else
is refused with a message naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Series = dict[float, float]
Value = float | Series | list[Series]

_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d*)?|\.\d+)|([A-Za-z_][A-Za-z0-9_]*)|(\"[^\"]*\")|(.))")


class ExpressionError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Named:
    id: str
    label: str
    series: Series


def evaluate(expression: str, variables: Mapping[str, Series], metrics: Sequence[Named]) -> Series:
    """The series an expression yields; ``variables`` are the other queries' results by id."""
    parser = _Parser(_tokens(expression), variables, metrics)
    value = parser.expression()
    if parser.peek() is not None:
        raise ExpressionError(f"Unexpected '{parser.peek()}' in expression {expression}.")
    if isinstance(value, list):
        raise ExpressionError(f"The expression {expression} returns several time series; ecslite returns one.")
    if isinstance(value, float):
        raise ExpressionError(f"The expression {expression} returns a number, not a time series.")
    return value


def references(expression: str) -> set[str]:
    """The query ids an expression names (to order evaluation)."""
    return {token for token in _tokens(expression) if re.fullmatch(r"[a-z][A-Za-z0-9_]*", token)}


def _tokens(text: str) -> list[str]:
    out = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            break
        position = match.end()
        token = next((group for group in match.groups() if group is not None), None)
        if token is not None and token.strip():
            out.append(token)
    return out


_AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "SUM": sum,
    "AVG": lambda values: sum(values) / len(values),
    "MIN": min,
    "MAX": max,
}


class _Parser:
    def __init__(self, tokens: list[str], variables: Mapping[str, Series], metrics: Sequence[Named]) -> None:
        self.tokens = tokens
        self.index = 0
        self.variables = variables
        self.metrics = metrics

    def peek(self) -> str | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise ExpressionError(f"Expected '{expected or 'a value'}' but found '{token or 'the end'}'.")
        self.index += 1
        return token

    def expression(self) -> Value:
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            value = _combine(value, self.term(), op)
        return value

    def term(self) -> Value:
        value = self.factor()
        while self.peek() in ("*", "/"):
            op = self.take()
            value = _combine(value, self.factor(), op)
        return value

    def factor(self) -> Value:
        if self.peek() == "-":
            self.take()
            return _combine(-1.0, self.factor(), "*")
        return self.primary()

    def primary(self) -> Value:
        token = self.take()
        if token == "(":
            value = self.expression()
            self.take(")")
            return value
        if token == "[":
            items = [self._series(self.expression())]
            while self.peek() == ",":
                self.take()
                items.append(self._series(self.expression()))
            self.take("]")
            return items
        if re.fullmatch(r"\d+(?:\.\d*)?|\.\d+", token):
            return float(token)
        if self.peek() == "(":
            return self.call(token)
        if token in self.variables:
            return dict(self.variables[token])
        raise ExpressionError(f"Unknown id or function {token} in expression.")

    def call(self, name: str) -> Value:
        self.take("(")
        upper = name.upper()
        if upper == "METRICS":
            text = self.take()[1:-1] if self.peek() not in (")", None) else None
            self.take(")")
            return [m.series for m in self.metrics if text is None or text in m.label or text in m.id]
        argument = self.expression()
        self.take(")")
        if upper == "ABS":
            return {ts: abs(v) for ts, v in self._series(argument).items()}
        aggregate = _AGGREGATES.get(upper)
        if aggregate is None:
            raise ExpressionError(f"The function {name} is not supported by ecslite's metric math.")
        if not isinstance(argument, list):
            # Over one time series an aggregate is one number (SUM(m1) is the sum over the range).
            values = list(self._series(argument).values())
            if not values:
                raise ExpressionError(f"{name} of an empty time series has no value.")
            return float(aggregate(values))
        stamps = sorted({ts for series in argument for ts in series})
        out: Series = {}
        for ts in stamps:
            present = [series[ts] for series in argument if ts in series]
            if present:
                out[ts] = float(aggregate(present))
        return out

    @staticmethod
    def _series(value: Value) -> Series:
        if isinstance(value, list):
            raise ExpressionError("A list of time series cannot be used here.")
        if isinstance(value, float):
            raise ExpressionError("A number cannot be used where a time series is expected.")
        return value


def _combine(left: Value, right: Value, op: str) -> Value:
    if isinstance(left, list) or isinstance(right, list):
        raise ExpressionError("Arithmetic on a list of time series is not supported.")
    if isinstance(left, float) and isinstance(right, float):
        result = _apply(left, right, op)
        if result is None:
            raise ExpressionError("Division by zero.")
        return result
    stamps = (
        sorted(set(left) & set(right))
        if isinstance(left, dict) and isinstance(right, dict)
        else sorted(left if isinstance(left, dict) else right)  # type: ignore[arg-type]
    )
    out: Series = {}
    for ts in stamps:
        a = left[ts] if isinstance(left, dict) else left
        b = right[ts] if isinstance(right, dict) else right
        value = _apply(a, b, op)
        if value is not None:
            out[ts] = value
    return out


def _apply(a: float, b: float, op: str) -> float | None:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return None if b == 0 else a / b
