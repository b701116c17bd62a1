"""PromQL queries against the telemetry store: parse, load the samples every selector needs in one
read per selector, then evaluate at one time (instant query) or at each step (range query), as
Prometheus 2.x does (spec/telemetry.md §7.1).

Layout: :mod:`.promql_ast` (parsing with the ``promql-parser`` package), :mod:`.promql_eval`
(selectors, subqueries, dispatch), :mod:`.promql_functions`, :mod:`.promql_range`, :mod:`.promql_aggregate`,
:mod:`.promql_binary`, :mod:`.promql_histogram`, :mod:`.promql_values`.

Invariants: a range query evaluates at ``start + k·step ≤ end`` and returns series sorted by
labels; every selector's window covers all evaluation times of the query (offsets, ``@``,
lookback and subquery ranges included), so evaluation never reads the store; evaluation stops
with :class:`QueryTimeout` past the deadline. Runs on a worker thread, never on the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ecslite.telemetry.model import Labels
from ecslite.telemetry.query.promql_ast import (
    At,
    Call,
    MatrixSel,
    Node,
    Paren,
    ParseError,
    StringLit,
    Subquery,
    VectorSel,
    children,
    parse,
    unwrap,
)
from ecslite.telemetry.query.promql_eval import DEFAULT_SUBQUERY_STEP_MS, LOOKBACK_MS, Evaluator
from ecslite.telemetry.query.promql_values import (
    EvalError,
    Matrix,
    QueryTimeout,
    Value,
    series_over_steps,
)
from ecslite.telemetry.store.matchers import Matcher
from ecslite.telemetry.store.metrics import SeriesData

MAX_POINTS = 11_000
DEFAULT_TIMEOUT = 120.0

SeriesReader = Callable[[Sequence[Matcher], int, int], list[SeriesData]]
"""Reads every series matching all matchers with its samples in ``[start_ms, end_ms]``."""

__all__ = [
    "MAX_POINTS",
    "EvalError",
    "ParseError",
    "PromQL",
    "QueryTimeout",
    "expression_type",
]


@dataclass(frozen=True, slots=True)
class PromQL:
    """A parsed query, ready to evaluate against a :data:`SeriesReader`."""

    text: str
    root: Node

    @classmethod
    def parse(cls, text: str) -> PromQL:
        return cls(text, parse(text))

    @property
    def type(self) -> str:
        return expression_type(self.root)

    def instant(self, reader: SeriesReader, time_ms: int, timeout: float = DEFAULT_TIMEOUT) -> Value:
        evaluator = self._evaluator(reader, time_ms, time_ms, 0, timeout)
        return evaluator.eval(self.root, time_ms)

    def range(
        self, reader: SeriesReader, start_ms: int, end_ms: int, step_ms: int, timeout: float = DEFAULT_TIMEOUT
    ) -> Matrix:
        kind = self.type
        if kind not in ("vector", "scalar"):
            raise EvalError(
                f'invalid expression type "{_display(kind)}" for range query, must be Scalar or instant Vector'
            )
        evaluator = self._evaluator(reader, start_ms, end_ms, step_ms, timeout)
        steps = ((ts, evaluator.eval(self.root, ts)) for ts in range(start_ms, end_ms + 1, step_ms))
        collected = series_over_steps(
            steps, "range query evaluated to a value that is neither scalar nor instant vector"
        )
        return Matrix([collected[labels] for labels in sorted(collected)])

    def _evaluator(self, reader: SeriesReader, start_ms: int, end_ms: int, step_ms: int, timeout: float) -> Evaluator:
        deadline = time.monotonic() + timeout
        windows: dict[VectorSel, tuple[int, int]] = {}
        _windows(self.root, start_ms, end_ms, start_ms, end_ms, windows)
        data: dict[VectorSel, list[SeriesData]] = {}
        for selector, (lo, hi) in windows.items():
            data[selector] = _load(reader, selector, lo, hi)
            if time.monotonic() > deadline:
                raise QueryTimeout("query timed out in query execution")
        return Evaluator(data, start_ms=start_ms, end_ms=end_ms, deadline=deadline)


def _display(kind: str) -> str:
    return {"matrix": "range vector", "vector": "instant vector"}.get(kind, kind)


def expression_type(node: Node) -> str:
    """The static type Prometheus gives an expression: vector, scalar, matrix or string."""
    node = unwrap(node)
    if isinstance(node, MatrixSel | Subquery):
        return "matrix"
    if isinstance(node, StringLit):
        return "string"
    if isinstance(node, VectorSel):
        return "vector"
    if isinstance(node, Call):
        return "scalar" if node.name in ("time", "scalar", "pi") else "vector"
    from ecslite.telemetry.query.promql_ast import Aggregate, Binary, NumberLit, Unary

    if isinstance(node, NumberLit):
        return "scalar"
    if isinstance(node, Unary):
        return expression_type(node.expr)
    if isinstance(node, Binary):
        sides = (expression_type(node.lhs), expression_type(node.rhs))
        return "scalar" if sides == ("scalar", "scalar") else "vector"
    if isinstance(node, Aggregate):
        return "vector"
    return "vector"


def _at_bounds(at: At | None, lo: int, hi: int, start: int, end: int) -> tuple[int, int]:
    if at is None:
        return lo, hi
    fixed = start if at.kind == "start" else end if at.kind == "end" else at.ms
    return fixed, fixed


def _windows(node: Node, lo: int, hi: int, start: int, end: int, out: dict[VectorSel, tuple[int, int]]) -> None:
    """The sample window each selector needs when ``node`` is evaluated at times in ``[lo, hi]``."""
    if isinstance(node, VectorSel | MatrixSel):
        selector = node.selector if isinstance(node, MatrixSel) else node
        span = node.range_ms if isinstance(node, MatrixSel) else LOOKBACK_MS
        a, b = _at_bounds(selector.at, lo, hi, start, end)
        window = (a - selector.offset_ms - span, b - selector.offset_ms)
        have = out.get(selector)
        out[selector] = window if have is None else (min(have[0], window[0]), max(have[1], window[1]))
        return
    if isinstance(node, Subquery):
        a, b = _at_bounds(node.at, lo, hi, start, end)
        step = node.step_ms or DEFAULT_SUBQUERY_STEP_MS
        _windows(node.expr, a - node.offset_ms - node.range_ms - step, b - node.offset_ms, start, end, out)
        return
    if isinstance(node, Paren):
        _windows(node.expr, lo, hi, start, end, out)
        return
    for child in children(node):
        _windows(child, lo, hi, start, end, out)


def _load(reader: SeriesReader, selector: VectorSel, lo: int, hi: int) -> list[SeriesData]:
    groups = selector.groups()
    if len(groups) == 1:
        return reader(groups[0], lo, hi)
    merged: dict[Labels, SeriesData] = {}
    for matchers in groups:
        for series in reader(matchers, lo, hi):
            merged.setdefault(series.labels, series)
    return [merged[labels] for labels in sorted(merged)]
