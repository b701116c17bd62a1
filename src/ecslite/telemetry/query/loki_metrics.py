"""LogQL metric queries over the store (spec/telemetry.md §7.2).

Each log range aggregation (``count_over_time``, ``rate``, ``unwrap`` … ``quantile_over_time``)
reads its lines once for the whole queried range (:func:`range_data`), then is evaluated per step
over the window ``(t - range, t]`` (Loki's windows are left-open); the vector operations around
the aggregations are PromQL's (:mod:`.promql_eval`, which :class:`LogEvaluator` extends).

Invariants: a line still carrying ``__error__`` fails the query with Loki's "pipeline error"
message; structured metadata only labels a series when the pipeline parsed it into a label; an
unwrapped label is not part of its series' labels; an evaluation past :data:`TIMEOUT` seconds
raises :class:`~.promql_values.QueryTimeout`.
"""

from __future__ import annotations

import bisect
import math
import time
from dataclasses import dataclass
from typing import Any

from ecslite.telemetry.model import Labels
from ecslite.telemetry.query.logql_ast import LogRange, MetricQuery
from ecslite.telemetry.query.logql_pipeline import ERROR, ERROR_DETAILS, Pipeline
from ecslite.telemetry.query.loki_lines import PAGE, run_pipeline, scan
from ecslite.telemetry.query.promql_eval import Evaluator
from ecslite.telemetry.query.promql_functions import absent_labels
from ecslite.telemetry.query.promql_range import quantile
from ecslite.telemetry.query.promql_values import (
    EvalError,
    Sample,
    Scalar,
    Value,
    Vector,
    format_timestamp,
    format_value,
    series_over_steps,
)
from ecslite.telemetry.store import TelemetryStore

TIMEOUT = 120.0
NOT_A_VECTOR = "a metric query must produce a vector or a scalar"


def evaluate_metric(
    store: TelemetryStore, query: MetricQuery, start: int, end: int, step_ms: int, instant: bool
) -> dict[str, Any]:
    """The ``data`` of Loki's answer: a vector or scalar at ``end`` when ``instant``, else a matrix
    with one point per ``step_ms`` from ``start`` (times in ns)."""
    start_ms, end_ms = start // 1_000_000, end // 1_000_000
    deadline = time.monotonic() + TIMEOUT
    data = {node: range_data(store, node, start_ms, end_ms) for node in query.ranges}
    evaluator = LogEvaluator(data, start_ms=start_ms, end_ms=end_ms, deadline=deadline)
    if instant:
        value = evaluator.eval(query.root, end_ms)
        return _instant_json(value, end_ms)
    steps = ((ts, evaluator.eval(query.root, ts)) for ts in range(start_ms, end_ms + 1, step_ms))
    collected = series_over_steps(steps, NOT_A_VECTOR)
    result = [
        {
            "metric": dict(labels),
            "values": [[format_timestamp(t), format_value(v)] for t, v in zip(s.timestamps, s.values, strict=True)],
        }
        for labels, s in sorted(collected.items())
    ]
    return {"resultType": "matrix", "result": result}


def range_data(store: TelemetryStore, node: LogRange, start_ms: int, end_ms: int) -> RangeData:
    """The values ``node`` aggregates, per series, for every step between ``start_ms`` and ``end_ms``."""
    low = (start_ms - node.range_ms - node.offset_ms) * 1_000_000
    high = (end_ms - node.offset_ms) * 1_000_000 + 1
    pipeline = Pipeline(node.query)
    series: dict[Labels, tuple[list[int], list[float]]] = {}
    for stored in scan(store, node.query.matchers, node.query.pushdown(), low, high, "forward", PAGE):
        line = run_pipeline(pipeline, stored)
        if line is None:
            continue
        labels = dict(line.labels)
        for name, text in line.metadata.items():
            if labels.get(name) == text and name not in line.parsed:
                labels.pop(name)
        if ERROR in labels:
            labels.pop(ERROR_DETAILS, None)
            raise EvalError(_pipeline_error(labels))
        if node.unwrap is not None:
            labels.pop(node.unwrap.label, None)
            if line.value is None:
                continue
            value = line.value
        elif node.function in ("bytes_over_time", "bytes_rate"):
            value = float(len(line.line.encode()))
        else:
            value = 1.0
        key = _grouped(labels, node)
        times, values = series.setdefault(key, ([], []))
        times.append(line.ts)
        values.append(value)
    return RangeData(series)


@dataclass(slots=True)
class RangeData:
    series: dict[Labels, tuple[list[int], list[float]]]  # times in ns, each series in time order


class LogEvaluator(Evaluator):
    """The PromQL evaluator with log range aggregations as its leaves."""

    def __init__(self, ranges: dict[LogRange, RangeData], *, start_ms: int, end_ms: int, deadline: float) -> None:
        super().__init__({}, start_ms=start_ms, end_ms=end_ms, deadline=deadline)
        self.ranges = ranges

    def eval(self, node: Any, ts: int) -> Value:
        if isinstance(node, LogRange):
            return Vector(self._aggregate(node, ts))
        return super().eval(node, ts)

    def _aggregate(self, node: LogRange, ts: int) -> list[Sample]:
        self.check_deadline()
        hi = (ts - node.offset_ms) * 1_000_000
        lo = hi - node.range_ms * 1_000_000
        seconds = node.range_ms / 1000
        out: list[Sample] = []
        for labels, (times, values) in self.ranges[node].series.items():
            # Loki's windows are left-open: (t - range, t].
            a = bisect.bisect_right(times, lo)
            b = bisect.bisect_right(times, hi)
            if a >= b:
                continue
            window = values[a:b]
            value = _range_value(node, window, seconds)
            if value is not None:
                out.append(Sample(labels, value))
        if node.function == "absent_over_time":
            return [] if out else [Sample(absent_labels_of(node), 1.0)]
        return out


def absent_labels_of(node: LogRange) -> Labels:
    from ecslite.telemetry.query.promql_ast import VectorSel

    return absent_labels(VectorSel(node.query.matchers))


def _range_value(node: LogRange, window: list[float], seconds: float) -> float | None:
    name = node.function
    if name == "count_over_time":
        return float(len(window))
    if name in ("rate", "bytes_rate"):
        return sum(window) / seconds
    if name in ("bytes_over_time", "sum_over_time"):
        return sum(window)
    if name == "absent_over_time":
        return 1.0
    if name == "avg_over_time":
        return sum(window) / len(window)
    if name == "min_over_time":
        return min(window)
    if name == "max_over_time":
        return max(window)
    if name == "first_over_time":
        return window[0]
    if name == "last_over_time":
        return window[-1]
    if name in ("stddev_over_time", "stdvar_over_time"):
        mean = sum(window) / len(window)
        variance = sum((v - mean) ** 2 for v in window) / len(window)
        return math.sqrt(variance) if name == "stddev_over_time" else variance
    if name == "quantile_over_time":
        return quantile(node.param if node.param is not None else math.nan, window)
    raise EvalError(f"unsupported range aggregation {name}")


def _grouped(labels: dict[str, str], node: LogRange) -> Labels:
    if node.grouping is None:
        return tuple(sorted(labels.items()))
    if node.without:
        return tuple(sorted((k, v) for k, v in labels.items() if k not in node.grouping))
    return tuple(sorted((k, v) for k, v in labels.items() if k in node.grouping))


def _pipeline_error(labels: dict[str, str]) -> str:
    kind = labels.get(ERROR, "")
    shown = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return (
        f"pipeline error: '{kind}' for series: '{{{shown}}}'.\n"
        f'Use a label filter to intentionally skip this error. (e.g | __error__!="{kind}").\n'
        'To skip all potential errors you can match empty errors.(e.g __error__="")\n'
        'The label filter can also be specified after unwrap. (e.g | unwrap latency | __error__="" )\n'
    )


def _vector(value: Value) -> list[Sample]:
    if isinstance(value, Vector):
        return value.samples
    raise EvalError(NOT_A_VECTOR)


def _instant_json(value: Value, ts_ms: int) -> dict[str, Any]:
    if isinstance(value, Scalar):
        return {"resultType": "scalar", "result": [format_timestamp(ts_ms), format_value(value.value)]}
    samples = _vector(value)
    return {
        "resultType": "vector",
        "result": [
            {"metric": dict(s.labels), "value": [format_timestamp(ts_ms), format_value(s.value)]} for s in samples
        ],
    }
