"""PromQL functions, with the semantics of Prometheus 2.x ``functions.go`` (spec/telemetry.md §7.1).

Conventions kept from Prometheus:

- Functions drop the metric name from their output, except ``last_over_time``, ``sort*``,
  ``label_replace``/``label_join`` and the ``vector``/``absent`` constructors; a result holding
  one label set twice is an error ("vector cannot contain metrics with the same labelset").
- ``rate``/``increase``/``delta`` extrapolate to the window edges (:func:`extrapolated_rate`);
  ``irate``/``idelta`` use the last two samples.
- Native histograms do not exist here, so the ``histogram_count``-style functions, which only
  read native histogram samples, return empty vectors as Prometheus does for float series.
"""

from __future__ import annotations

import calendar
import itertools
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ecslite.telemetry.model import Labels
from ecslite.telemetry.query.promql_ast import Call, MatrixSel, Node, StringLit, VectorSel, unwrap
from ecslite.telemetry.query.promql_values import (
    NAME,
    EvalError,
    Sample,
    Scalar,
    Series,
    Value,
    Vector,
    check_unique,
    drop_name,
    get_label,
    go_div,
    kahan_add,
    with_label,
)

if TYPE_CHECKING:
    from ecslite.telemetry.query.promql_eval import Evaluator

Function = Callable[["Evaluator", Call, int], Value]
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def call(ev: Evaluator, node: Call, ts: int) -> Value:
    function = FUNCTIONS.get(node.name)
    if function is None:
        raise EvalError(f"function {node.name!r} is not supported")
    return function(ev, node, ts)


# -- elementwise functions -----------------------------------------------------------------------


def _safe(fn: Callable[[float], float]) -> Callable[[float], float]:
    """Go's math functions return NaN/Inf where Python's raise."""

    def wrapped(x: float) -> float:
        try:
            return fn(x)
        except ValueError:
            if fn in (math.log, math.log2, math.log10) and x == 0:
                return -math.inf
            return math.nan
        except OverflowError:
            return math.inf

    return wrapped


def _elementwise(fn: Callable[[float], float]) -> Function:
    safe = _safe(fn)

    def apply(ev: Evaluator, node: Call, ts: int) -> Value:
        samples = [Sample(drop_name(s.labels), safe(s.value)) for s in ev.vector(node.args[0], ts)]
        check_unique(samples)
        return Vector(samples)

    return apply


def _sgn(x: float) -> float:
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    return x  # 0 and NaN stay as they are


def _round(ev: Evaluator, node: Call, ts: int) -> Value:
    nearest = ev.scalar(node.args[1], ts) if len(node.args) > 1 else 1.0
    inverse = go_div(1.0, nearest)
    samples = [
        Sample(drop_name(s.labels), go_div(math.floor(s.value * inverse + 0.5), inverse))
        if math.isfinite(s.value * inverse)
        else Sample(drop_name(s.labels), s.value)
        for s in ev.vector(node.args[0], ts)
    ]
    check_unique(samples)
    return Vector(samples)


def _clamp_between(ev: Evaluator, node: Call, ts: int, low: float, high: float) -> Value:
    samples = [Sample(drop_name(s.labels), _clamp(s.value, low, high)) for s in ev.vector(node.args[0], ts)]
    check_unique(samples)
    return Vector(samples)


def _clamp(value: float, low: float, high: float) -> float:
    # Go: math.Max(min, math.Min(max, v)); NaN bounds or values give NaN.
    if math.isnan(value) or math.isnan(low) or math.isnan(high):
        return math.nan
    return max(low, min(high, value))


def _clamp_fn(ev: Evaluator, node: Call, ts: int) -> Value:
    low, high = ev.scalar(node.args[1], ts), ev.scalar(node.args[2], ts)
    if high < low:
        return Vector()
    return _clamp_between(ev, node, ts, low, high)


def _clamp_min(ev: Evaluator, node: Call, ts: int) -> Value:
    return _clamp_between(ev, node, ts, ev.scalar(node.args[1], ts), math.inf)


def _clamp_max(ev: Evaluator, node: Call, ts: int) -> Value:
    return _clamp_between(ev, node, ts, -math.inf, ev.scalar(node.args[1], ts))


def _date_function(part: Callable[[datetime], float]) -> Function:
    def apply(ev: Evaluator, node: Call, ts: int) -> Value:
        samples = [Sample((), ts / 1000)] if not node.args else ev.vector(node.args[0], ts)
        out = []
        for s in samples:
            if not math.isfinite(s.value):
                out.append(Sample(drop_name(s.labels), math.nan))
                continue
            moment = datetime.fromtimestamp(int(s.value), UTC)
            out.append(Sample(drop_name(s.labels), part(moment)))
        check_unique(out)
        return Vector(out)

    return apply


# -- constructors and conversions ----------------------------------------------------------------


def _time(ev: Evaluator, node: Call, ts: int) -> Value:
    return Scalar(ts / 1000)


def _pi(ev: Evaluator, node: Call, ts: int) -> Value:
    return Scalar(math.pi)


def _vector(ev: Evaluator, node: Call, ts: int) -> Value:
    return Vector([Sample((), ev.scalar(node.args[0], ts))])


def _scalar(ev: Evaluator, node: Call, ts: int) -> Value:
    samples = ev.vector(node.args[0], ts)
    return Scalar(samples[0].value if len(samples) == 1 else math.nan)


def _timestamp(ev: Evaluator, node: Call, ts: int) -> Value:
    arg = unwrap(node.args[0])
    if isinstance(arg, VectorSel):
        # A selector's samples keep their own times here (Prometheus special-cases it).
        samples = [Sample(drop_name(labels), t / 1000) for labels, t, _v in ev.instant(arg, ts)]
    else:
        samples = [Sample(drop_name(s.labels), ts / 1000) for s in ev.vector(arg, ts)]
    check_unique(samples)
    return Vector(samples)


def absent_labels(node: Node) -> Labels:
    """Labels ``absent()`` gives its 1: the selector's equality matchers, minus names used twice."""
    node = unwrap(node)
    if isinstance(node, MatrixSel):
        node = node.selector
    if not isinstance(node, VectorSel):
        return ()
    found: dict[str, str] = {}
    dropped: set[str] = set()
    for matcher in node.matchers:
        if matcher.name == NAME:
            continue
        if matcher.op == "=" and matcher.name not in found:
            found[matcher.name] = matcher.value
        else:
            dropped.add(matcher.name)
    return tuple(sorted((k, v) for k, v in found.items() if k not in dropped and v))


def _absent(ev: Evaluator, node: Call, ts: int) -> Value:
    if ev.vector(node.args[0], ts):
        return Vector()
    return Vector([Sample(absent_labels(node.args[0]), 1.0)])


def _absent_over_time(ev: Evaluator, node: Call, ts: int) -> Value:
    matrix = ev.range_of(node.args[0], ts)[0]
    if matrix.series:
        return Vector()
    return Vector([Sample(absent_labels(node.args[0]), 1.0)])


def _sort(descending: bool) -> Function:
    def apply(ev: Evaluator, node: Call, ts: int) -> Value:
        samples = ev.vector(node.args[0], ts)
        if descending:
            ordered = sorted(samples, key=lambda s: (not math.isnan(s.value), -s.value if s.value == s.value else 0))
        else:
            ordered = sorted(samples, key=lambda s: (not math.isnan(s.value), s.value if s.value == s.value else 0))
        return Vector(ordered)

    return apply


# -- labels --------------------------------------------------------------------------------------


def _string_arg(node: Node, function: str) -> str:
    node = unwrap(node)
    if not isinstance(node, StringLit):
        raise EvalError(f"expected a string literal in {function}()")
    return node.value


def expand_template(template: str, match: re.Match[str]) -> str:
    """Go's ``regexp.Expand``: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``; unknown groups are empty."""
    out: list[str] = []
    i = 0
    while i < len(template):
        char = template[i]
        if char != "$" or i + 1 >= len(template):
            out.append(char)
            i += 1
            continue
        nxt = template[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt == "{":
            close = template.find("}", i + 2)
            name = template[i + 2 : close] if close > 0 else ""
            if close < 0 or not re.fullmatch(r"[A-Za-z0-9_]+", name):
                out.append(char)
                i += 1
                continue
            i = close + 1
        else:
            found = re.match(r"[A-Za-z0-9_]+", template[i + 1 :])
            if found is None:
                out.append(char)
                i += 1
                continue
            name = found.group(0)
            i += 1 + len(name)
        out.append(_group(match, name))
    return "".join(out)


def _group(match: re.Match[str], name: str) -> str:
    try:
        value = match.group(int(name)) if name.isdigit() else match.group(name)
    except IndexError:  # no such group: Go expands it to nothing
        return ""
    return value or ""


def _label_replace(ev: Evaluator, node: Call, ts: int) -> Value:
    dst = _string_arg(node.args[1], "label_replace")
    template = _string_arg(node.args[2], "label_replace")
    src = _string_arg(node.args[3], "label_replace")
    regex = _string_arg(node.args[4], "label_replace")
    try:
        pattern = re.compile(regex, re.DOTALL)
    except re.error as error:
        raise EvalError(f"invalid regular expression in label_replace(): {error}") from None
    if not LABEL_NAME.fullmatch(dst):
        raise EvalError(f"invalid destination label name in label_replace(): {dst}")
    out = []
    for sample in ev.vector(node.args[0], ts):
        match = pattern.fullmatch(get_label(sample.labels, src))
        if match is None:
            out.append(sample)
            continue
        out.append(Sample(with_label(sample.labels, dst, expand_template(template, match)), sample.value))
    check_unique(out)
    return Vector(out)


def _label_join(ev: Evaluator, node: Call, ts: int) -> Value:
    dst = _string_arg(node.args[1], "label_join")
    separator = _string_arg(node.args[2], "label_join")
    sources = [_string_arg(arg, "label_join") for arg in node.args[3:]]
    if not LABEL_NAME.fullmatch(dst):
        raise EvalError(f"invalid destination label name in label_join(): {dst}")
    for source in sources:
        if not LABEL_NAME.fullmatch(source):
            raise EvalError(f"invalid source label name in label_join(): {source}")
    out = []
    for sample in ev.vector(node.args[0], ts):
        joined = separator.join(get_label(sample.labels, s) for s in sources)
        out.append(Sample(with_label(sample.labels, dst, joined), sample.value))
    check_unique(out)
    return Vector(out)


# -- range-vector functions ----------------------------------------------------------------------

RangeFn = Callable[[Series, int, int, int], float | None]


def _over_range(fn: RangeFn, keep_name: bool = False) -> Function:
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


def _instant_value(series: Series, rate: bool) -> float | None:
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


def _avg(values: list[float]) -> float:
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


def _sum(values: list[float]) -> float:
    total, compensation = 0.0, 0.0
    for value in values:
        total, compensation = kahan_add(value, total, compensation)
    return total if math.isinf(total) else total + compensation


def _variance(values: list[float]) -> float:
    count, mean, c_mean, aux, c_aux = 0.0, 0.0, 0.0, 0.0, 0.0
    for value in values:
        count += 1
        delta = value - (mean + c_mean)
        mean, c_mean = kahan_add(delta / count, mean, c_mean)
        aux, c_aux = kahan_add(delta * (value - (mean + c_mean)), aux, c_aux)
    return (aux + c_aux) / count


def _min(values: list[float]) -> float:
    result = values[0]
    for value in values[1:]:
        if value < result or math.isnan(result):
            result = value
    return result


def _max(values: list[float]) -> float:
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


def _median_absolute_deviation(values: list[float]) -> float:
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


def _deriv(series: Series, lo: int, hi: int, r: int) -> float | None:
    if len(series.values) < 2:
        return None
    return linear_regression(series.timestamps, series.values, series.timestamps[0])[0]


def _predict_linear(ev: Evaluator, node: Call, ts: int) -> Value:
    seconds = ev.scalar(node.args[1], ts)

    def predict(series: Series, lo: int, hi: int, r: int) -> float | None:
        if len(series.values) < 2:
            return None
        slope, intercept = linear_regression(series.timestamps, series.values, ts)
        return intercept + slope * seconds

    return _over_range(predict)(ev, node, ts)


def _quantile_over_time(ev: Evaluator, node: Call, ts: int) -> Value:
    q = ev.scalar(node.args[0], ts)
    inner = Call(node.name, [node.args[1]])
    return _over_range(lambda s, lo, hi, r: quantile(q, s.values))(ev, inner, ts)


def _holt_winters(ev: Evaluator, node: Call, ts: int) -> Value:
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

    return _over_range(smooth)(ev, node, ts)


def _changes(series: Series, lo: int, hi: int, r: int) -> float:
    count = 0
    values = series.values
    for previous, current in itertools.pairwise(values):
        if not (current == previous or (math.isnan(current) and math.isnan(previous))):
            count += 1
    return float(count)


def _resets(series: Series, lo: int, hi: int, r: int) -> float:
    values = series.values
    return float(sum(1 for previous, current in itertools.pairwise(values) if current < previous))


def _native_histogram_only(ev: Evaluator, node: Call, ts: int) -> Value:
    for arg in node.args:
        if not isinstance(unwrap(arg), StringLit):
            ev.eval(arg, ts)
    return Vector()


def _histogram_quantile(ev: Evaluator, node: Call, ts: int) -> Value:
    from ecslite.telemetry.query.promql_histogram import histogram_quantile

    return histogram_quantile(ev.scalar(node.args[0], ts), ev.vector(node.args[1], ts))


def _range(fn: Callable[[Series, int, int, int], float | None], keep_name: bool = False) -> Function:
    return _over_range(fn, keep_name)


def _days_in_month(moment: datetime) -> float:
    return float(calendar.monthrange(moment.year, moment.month)[1])


FUNCTIONS: dict[str, Function] = {
    "abs": _elementwise(abs),
    "ceil": _elementwise(lambda x: float(math.ceil(x)) if math.isfinite(x) else x),
    "floor": _elementwise(lambda x: float(math.floor(x)) if math.isfinite(x) else x),
    "exp": _elementwise(math.exp),
    "sqrt": _elementwise(math.sqrt),
    "ln": _elementwise(math.log),
    "log2": _elementwise(math.log2),
    "log10": _elementwise(math.log10),
    "sgn": _elementwise(_sgn),
    "sin": _elementwise(math.sin),
    "cos": _elementwise(math.cos),
    "tan": _elementwise(math.tan),
    "asin": _elementwise(math.asin),
    "acos": _elementwise(math.acos),
    "atan": _elementwise(math.atan),
    "sinh": _elementwise(math.sinh),
    "cosh": _elementwise(math.cosh),
    "tanh": _elementwise(math.tanh),
    "asinh": _elementwise(math.asinh),
    "acosh": _elementwise(math.acosh),
    "atanh": _elementwise(math.atanh),
    "deg": _elementwise(lambda x: x * 180 / math.pi),
    "rad": _elementwise(lambda x: x * math.pi / 180),
    "round": _round,
    "clamp": _clamp_fn,
    "clamp_min": _clamp_min,
    "clamp_max": _clamp_max,
    "pi": _pi,
    "time": _time,
    "vector": _vector,
    "scalar": _scalar,
    "timestamp": _timestamp,
    "absent": _absent,
    "absent_over_time": _absent_over_time,
    "sort": _sort(False),
    "sort_desc": _sort(True),
    "label_replace": _label_replace,
    "label_join": _label_join,
    "histogram_quantile": _histogram_quantile,
    "histogram_count": _native_histogram_only,
    "histogram_sum": _native_histogram_only,
    "histogram_fraction": _native_histogram_only,
    "histogram_stddev": _native_histogram_only,
    "histogram_stdvar": _native_histogram_only,
    "histogram_avg": _native_histogram_only,
    "rate": _range(lambda s, lo, hi, r: extrapolated_rate(s, lo, hi, r, True, True)),
    "increase": _range(lambda s, lo, hi, r: extrapolated_rate(s, lo, hi, r, True, False)),
    "delta": _range(lambda s, lo, hi, r: extrapolated_rate(s, lo, hi, r, False, False)),
    "irate": _range(lambda s, lo, hi, r: _instant_value(s, True)),
    "idelta": _range(lambda s, lo, hi, r: _instant_value(s, False)),
    "deriv": _range(_deriv),
    "predict_linear": _predict_linear,
    "holt_winters": _holt_winters,
    "double_exponential_smoothing": _holt_winters,
    "changes": _range(_changes),
    "resets": _range(_resets),
    "avg_over_time": _range(lambda s, lo, hi, r: _avg(s.values)),
    "sum_over_time": _range(lambda s, lo, hi, r: _sum(s.values)),
    "count_over_time": _range(lambda s, lo, hi, r: float(len(s.values))),
    "min_over_time": _range(lambda s, lo, hi, r: _min(s.values)),
    "max_over_time": _range(lambda s, lo, hi, r: _max(s.values)),
    "last_over_time": _range(lambda s, lo, hi, r: s.values[-1], keep_name=True),
    "present_over_time": _range(lambda s, lo, hi, r: 1.0),
    "stddev_over_time": _range(lambda s, lo, hi, r: math.sqrt(_variance(s.values))),
    "stdvar_over_time": _range(lambda s, lo, hi, r: _variance(s.values)),
    "mad_over_time": _range(lambda s, lo, hi, r: _median_absolute_deviation(s.values)),
    "quantile_over_time": _quantile_over_time,
    "minute": _date_function(lambda d: float(d.minute)),
    "hour": _date_function(lambda d: float(d.hour)),
    "day_of_month": _date_function(lambda d: float(d.day)),
    "day_of_week": _date_function(lambda d: float((d.weekday() + 1) % 7)),
    "day_of_year": _date_function(lambda d: float(d.timetuple().tm_yday)),
    "days_in_month": _date_function(_days_in_month),
    "month": _date_function(lambda d: float(d.month)),
    "year": _date_function(lambda d: float(d.year)),
}

# Functions whose argument is a range vector (matrix selector or subquery).
RANGE_FUNCTIONS = frozenset(
    name
    for name in FUNCTIONS
    if name.endswith("_over_time")
    or name
    in {"rate", "increase", "delta", "irate", "idelta", "deriv", "predict_linear", "holt_winters", "changes", "resets"}
)
