"""The PromQL evaluator: one expression at one evaluation time, as Prometheus 2.x evaluates it
(spec/telemetry.md §7.1). Range queries call :meth:`Evaluator.eval` once per step.

Selector rules (Prometheus 2.x ``engine.go``):

- An instant selector at time ``t`` takes, per series, the latest sample at or before
  ``t - offset`` (``@`` replaces ``t``) that is no older than the lookback delta (5 m, bounds
  inclusive); a series whose latest such sample is a staleness marker has no value.
- A range selector ``[r]`` takes every sample in ``[t - offset - r, t - offset]`` (both ends
  inclusive in Prometheus 2.x) except staleness markers; series without samples are left out.
- A subquery ``expr[r:s]`` evaluates ``expr`` at every multiple of ``s`` (Unix epoch aligned) in
  that window; ``s`` defaults to the global evaluation interval (1 m). Inner results are cached
  per time, so consecutive steps of a range query share them.

Samples come from :class:`SeriesSource` data loaded before evaluation (:mod:`.promql`), so the
evaluator itself never touches the store.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Mapping

from ecslite.telemetry.model import Labels
from ecslite.telemetry.query import promql_aggregate, promql_binary, promql_functions
from ecslite.telemetry.query.promql_ast import (
    Aggregate,
    At,
    Binary,
    Call,
    MatrixSel,
    Node,
    NumberLit,
    Paren,
    StringLit,
    Subquery,
    Unary,
    VectorSel,
)
from ecslite.telemetry.query.promql_values import (
    EvalError,
    Matrix,
    QueryTimeout,
    Sample,
    Scalar,
    Series,
    String,
    Value,
    Vector,
    check_unique,
    drop_name,
    is_stale,
    series_over_steps,
)
from ecslite.telemetry.store.metrics import SeriesData

LOOKBACK_MS = 300_000
DEFAULT_SUBQUERY_STEP_MS = 60_000


class Evaluator:
    def __init__(
        self,
        data: Mapping[VectorSel, list[SeriesData]],
        *,
        start_ms: int,
        end_ms: int,
        lookback_ms: int = LOOKBACK_MS,
        deadline: float | None = None,
    ) -> None:
        self.data = data
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.lookback_ms = lookback_ms
        self.deadline = deadline
        self._subquery_cache: dict[tuple[int, int], Value] = {}
        self._ticks = 0

    # -- dispatch ------------------------------------------------------------------------------

    def eval(self, node: Node, ts: int) -> Value:
        if isinstance(node, NumberLit):
            return Scalar(node.value)
        if isinstance(node, StringLit):
            return String(node.value)
        if isinstance(node, Paren):
            return self.eval(node.expr, ts)
        if isinstance(node, VectorSel):
            return Vector([Sample(labels, value) for labels, _t, value in self.instant(node, ts)])
        if isinstance(node, MatrixSel | Subquery):
            return self.range_of(node, ts)[0]
        if isinstance(node, Call):
            return promql_functions.call(self, node, ts)
        if isinstance(node, Aggregate):
            return promql_aggregate.aggregate(self, node, ts)
        if isinstance(node, Binary):
            return promql_binary.binary(self, node, ts)
        if isinstance(node, Unary):
            return self._negate(self.eval(node.expr, ts))
        raise EvalError(f"unsupported expression {type(node).__name__}")

    def vector(self, node: Node, ts: int) -> list[Sample]:
        value = self.eval(node, ts)
        if not isinstance(value, Vector):
            raise EvalError(f"expected instant vector, got {type(value).__name__.lower()}")
        return value.samples

    def scalar(self, node: Node, ts: int) -> float:
        value = self.eval(node, ts)
        if isinstance(value, Scalar):
            return value.value
        raise EvalError(f"expected scalar, got {type(value).__name__.lower()}")

    def _negate(self, value: Value) -> Value:
        if isinstance(value, Scalar):
            return Scalar(-value.value)
        if isinstance(value, Vector):
            samples = [Sample(drop_name(s.labels), -s.value) for s in value.samples]
            check_unique(samples)
            return Vector(samples)
        raise EvalError("unary minus needs a scalar or an instant vector")

    # -- selectors -----------------------------------------------------------------------------

    def at_ms(self, at: At | None, ts: int) -> int:
        if at is None:
            return ts
        if at.kind == "start":
            return self.start_ms
        if at.kind == "end":
            return self.end_ms
        return at.ms

    def instant(self, sel: VectorSel, ts: int) -> list[tuple[Labels, int, float]]:
        """(labels, sample time, value) of each series with a value at ``ts``."""
        self.check_deadline()
        ref = self.at_ms(sel.at, ts) - sel.offset_ms
        oldest = ref - self.lookback_ms
        out: list[tuple[Labels, int, float]] = []
        for series in self.data.get(sel, ()):
            times = series.timestamps
            i = bisect.bisect_right(times, ref) - 1
            if i < 0 or times[i] < oldest:
                continue
            value = series.values[i]
            if is_stale(value):
                continue
            out.append((series.labels, times[i], value))
        return out

    def range_of(self, node: Node, ts: int) -> tuple[Matrix, int, int]:
        """A range vector (matrix selector or subquery) at ``ts`` with its window ``[lo, hi]``."""
        if isinstance(node, Paren):
            return self.range_of(node.expr, ts)
        if isinstance(node, MatrixSel):
            return self._matrix(node, ts)
        if isinstance(node, Subquery):
            return self._subquery(node, ts)
        raise EvalError(f"expected range vector, got {type(node).__name__}")

    def _matrix(self, node: MatrixSel, ts: int) -> tuple[Matrix, int, int]:
        self.check_deadline()
        sel = node.selector
        hi = self.at_ms(sel.at, ts) - sel.offset_ms
        lo = hi - node.range_ms
        out: list[Series] = []
        for series in self.data.get(sel, ()):
            times = series.timestamps
            a = bisect.bisect_left(times, lo)
            b = bisect.bisect_right(times, hi)
            if a >= b:
                continue
            values = series.values[a:b]
            stamps = times[a:b]
            if any(is_stale(v) for v in values):
                pairs = [(t, v) for t, v in zip(stamps, values, strict=True) if not is_stale(v)]
                if not pairs:
                    continue
                stamps = [t for t, _ in pairs]
                values = [v for _, v in pairs]
            out.append(Series(series.labels, stamps, values))
        return Matrix(out), lo, hi

    def _subquery(self, node: Subquery, ts: int) -> tuple[Matrix, int, int]:
        hi = self.at_ms(node.at, ts) - node.offset_ms
        lo = hi - node.range_ms
        step = node.step_ms or DEFAULT_SUBQUERY_STEP_MS
        first = -(-lo // step) * step

        def at(inner: int) -> Value:
            key = (id(node), inner)
            value = self._subquery_cache.get(key)
            if value is None:
                value = self._subquery_cache[key] = self.eval(node.expr, inner)
            return value

        steps = ((inner, at(inner)) for inner in range(first, hi + 1, step))
        collected = series_over_steps(steps, "subquery is only allowed on instant vector or scalar expressions")
        return Matrix(list(collected.values())), lo, hi

    def check_deadline(self) -> None:
        self._ticks += 1
        if self.deadline is not None and self._ticks % 64 == 0 and time.monotonic() > self.deadline:
            raise QueryTimeout("query timed out in expression evaluation")
