"""PromQL functions over range vectors (matrix selectors and subqueries), as Prometheus 2.x
``functions.go`` computes them: ``rate``/``increase``/``delta`` with extrapolation to the window
edges, ``irate``/``idelta``, the ``*_over_time`` family, ``deriv``/``predict_linear`` (least
squares), ``holt_winters``, ``changes`` and ``resets``. Sums use Kahan-Babuška compensation and
means Prometheus' overflow-safe running mean, so results match Prometheus to the last bits that
matter. Every function except ``last_over_time`` drops the metric name.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from ecslite.telemetry.query.promql_ast import Call
from ecslite.telemetry.query.promql_values import (
    EvalError,
    Sample,
    Series,
    Value,
    Vector,
    check_unique,
    drop_name,
    go_div,
    kahan_add,
)

if TYPE_CHECKING:
    from ecslite.telemetry.query.promql_eval import Evaluator

Function = Callable[["Evaluator", Call, int], Value]


RangeFn = Callable[[Series, int, int, int], float | None]


def over_range(fn: RangeFn, keep_name: bool = False) -> Function:
    """Apply ``fn(series, window start, window end, range)`` to each series of the range argument."""

    def apply(ev: Evaluator, node: Call, ts: int) -> Value:
        matrix, lo, hi = ev.range_of(node.args[0], ts)
        out = []
        for series in matrix.series:
            value = fn(series, lo, hi, hi - lo)
            if value is not None:
                out.append(Sample(series.labels if keep_name else drop_name(series.labels), value))
        check_unique(out)
        return Vector(out)

    return apply


def extrapolated_rate(series: Series, lo: int, hi: int, range_ms: int, counter: bool, per_second: bool) -> float | None:
    """Prometheus' ``extrapolatedRate``: the increase over the samples, counter resets added back,
    extrapolated towards the window edges by at most 1.1 × the mean sample gap (not below zero)."""
    times, values = series.timestamps, series.values
    if len(values) < 2:
        return None
    result = values[-1] - values[0]
    if counter:
        last = 0.0
        for value in values:
            if value < last:
                result += last
            last = value
    to_start = (times[0] - lo) / 1000
    to_end = (hi - times[-1]) / 1000
    sampled = (times[-1] - times[0]) / 1000
    average_gap = sampled / (len(values) - 1)
    if counter and result > 0 and values[0] >= 0:
        to_zero = sampled * (values[0] / result)
        if to_zero < to_start:
            to_start = to_zero
    threshold = average_gap * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average_gap / 2
    interval += to_end if to_end < threshold else average_gap / 2
    result = result * go_div(interval, sampled)
    if per_second:
        result = result / (range_ms / 1000)
    return result


def instant_value(series: Series, rate: bool) -> float | None:
    values, times = series.values, series.timestamps
    if len(values) < 2:
        return None
    last, previous = values[-1], values[-2]
    result = last if rate and last < previous else last - previous
    interval = times[-1] - times[-2]
    if interval == 0:
        return None
    if rate:
        result /= interval / 1000
    return result


def mean(values: list[float]) -> float:
    mean, compensation, count = 0.0, 0.0, 0.0
    for value in values:
        count += 1
        if math.isinf(mean):
            if math.isinf(value) and (mean > 0) == (value > 0):
                continue
            if not math.isinf(value) and not math.isnan(value):
                continue
        mean, compensation = kahan_add(value / count - mean / count, mean, compensation)
    return mean if math.isinf(mean) else mean + compensation


def kahan_sum(values: list[float]) -> float:
    total, compensation = 0.0, 0.0
    for value in values:
        total, compensation = kahan_add(value, total, compensation)
    return total if math.isinf(total) else total + compensation


def variance(values: list[float]) -> float:
    count, mean, c_mean, aux, c_aux = 0.0, 0.0, 0.0, 0.0, 0.0
    for value in values:
        count += 1
        delta = value - (mean + c_mean)
        mean, c_mean = kahan_add(delta / count, mean, c_mean)
        aux, c_aux = kahan_add(delta * (value - (mean + c_mean)), aux, c_aux)
    return (aux + c_aux) / count


def minimum(values: list[float]) -> float:
    result = values[0]
    for value in values[1:]:
        if value < result or math.isnan(result):
            result = value
    return result


def maximum(values: list[float]) -> float:
    result = values[0]
    for value in values[1:]:
        if value > result or math.isnan(result):
            result = value
    return result


def quantile(q: float, values: list[float]) -> float:
    """Prometheus' ``quantile``: linear interpolation between the closest ranks (NaN sorts first)."""
    if not values:
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if math.isnan(q):
        return math.nan
    ordered = sorted(values, key=lambda v: (not math.isnan(v), v if v == v else 0.0))
    n = len(ordered)
    rank = q * (n - 1)
    lower = max(0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def median_absolute_deviation(values: list[float]) -> float:
    median = quantile(0.5, values)
    return quantile(0.5, [abs(v - median) for v in values])


def linear_regression(times: list[int], values: list[float], intercept_ms: int) -> tuple[float, float]:
    if all(v == values[0] for v in values[1:]):
        if math.isinf(values[0]):
            return math.nan, math.nan
        return 0.0, values[0]
    n = float(len(values))
    sx = cx = sy = cy = sxy = cxy = sx2 = cx2 = 0.0
    for t, v in zip(times, values, strict=True):
        x = (t - intercept_ms) / 1000
        sx, cx = kahan_add(x, sx, cx)
        sy, cy = kahan_add(v, sy, cy)
        sxy, cxy = kahan_add(x * v, sxy, cxy)
        sx2, cx2 = kahan_add(x * x, sx2, cx2)
    sx, sy, sxy, sx2 = sx + cx, sy + cy, sxy + cxy, sx2 + cx2
    cov = sxy - sx * sy / n
    var = sx2 - sx * sx / n
    slope = go_div(cov, var)
    return slope, sy / n - slope * sx / n


def deriv(series: Series, lo: int, hi: int, r: int) -> float | None:
    if len(series.values) < 2:
        return None
    return linear_regression(series.timestamps, series.values, series.timestamps[0])[0]


def predict_linear(ev: Evaluator, node: Call, ts: int) -> Value:
    seconds = ev.scalar(node.args[1], ts)

    def predict(series: Series, lo: int, hi: int, r: int) -> float | None:
        if len(series.values) < 2:
            return None
        slope, intercept = linear_regression(series.timestamps, series.values, ts)
        return intercept + slope * seconds

    return over_range(predict)(ev, node, ts)


def quantile_over_time(ev: Evaluator, node: Call, ts: int) -> Value:
    q = ev.scalar(node.args[0], ts)
    inner = Call(node.name, [node.args[1]])
    return over_range(lambda s, lo, hi, r: quantile(q, s.values))(ev, inner, ts)


def holt_winters(ev: Evaluator, node: Call, ts: int) -> Value:
    sf, tf = ev.scalar(node.args[1], ts), ev.scalar(node.args[2], ts)
    if not 0 < sf < 1:
        raise EvalError(f"invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:f}")
    if not 0 < tf < 1:
        raise EvalError(f"invalid trend factor. Expected: 0 < tf < 1, got: {tf:f}")

    def smooth(series: Series, lo: int, hi: int, r: int) -> float | None:
        values = series.values
        if len(values) < 2:
            return None
        s0, s1, trend = 0.0, values[0], values[1] - values[0]
        for i in range(1, len(values)):
            x = sf * values[i]
            if i > 1:
                trend = tf * (s1 - s0) + (1 - tf) * trend
            y = (1 - sf) * (s1 + trend)
            s0, s1 = s1, x + y
        return s1

    return over_range(smooth)(ev, node, ts)


def changes(series: Series, lo: int, hi: int, r: int) -> float:
    count = 0
    values = series.values
    for previous, current in itertools.pairwise(values):
        if not (current == previous or (math.isnan(current) and math.isnan(previous))):
            count += 1
    return float(count)


def resets(series: Series, lo: int, hi: int, r: int) -> float:
    values = series.values
    return float(sum(1 for previous, current in itertools.pairwise(values) if current < previous))
