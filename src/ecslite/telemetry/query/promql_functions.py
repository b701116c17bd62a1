"""PromQL functions, with the semantics of Prometheus 2.x ``functions.go`` (spec/telemetry.md §7.1).

Conventions kept from Prometheus:

- Functions drop the metric name from their output, except ``last_over_time``, ``sort*``,
  ``label_replace``/``label_join`` and the ``vector``/``absent`` constructors; a result holding
  one label set twice is an error ("vector cannot contain metrics with the same labelset").
- Functions of range vectors (``rate``, ``*_over_time``, ...) live in :mod:`.promql_range`.
- Native histograms do not exist here, so the ``histogram_count``-style functions, which only
  read native histogram samples, return empty vectors as Prometheus does for float series.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ecslite.telemetry.model import Labels
from ecslite.telemetry.query.promql_ast import Call, MatrixSel, Node, StringLit, VectorSel, unwrap
from ecslite.telemetry.query.promql_range import (
    changes,
    deriv,
    extrapolated_rate,
    holt_winters,
    instant_value,
    kahan_sum,
    maximum,
    mean,
    median_absolute_deviation,
    minimum,
    over_range,
    predict_linear,
    quantile_over_time,
    resets,
    variance,
)
from ecslite.telemetry.query.promql_values import (
    NAME,
    EvalError,
    Sample,
    Scalar,
    Value,
    Vector,
    check_unique,
    drop_name,
    get_label,
    go_div,
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


def _native_histogram_only(ev: Evaluator, node: Call, ts: int) -> Value:
    for arg in node.args:
        if not isinstance(unwrap(arg), StringLit):
            ev.eval(arg, ts)
    return Vector()


def _histogram_quantile(ev: Evaluator, node: Call, ts: int) -> Value:
    from ecslite.telemetry.query.promql_histogram import histogram_quantile

    return histogram_quantile(ev.scalar(node.args[0], ts), ev.vector(node.args[1], ts))


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
    "rate": over_range(lambda s, lo, hi, r: extrapolated_rate(s, lo, hi, r, True, True)),
    "increase": over_range(lambda s, lo, hi, r: extrapolated_rate(s, lo, hi, r, True, False)),
    "delta": over_range(lambda s, lo, hi, r: extrapolated_rate(s, lo, hi, r, False, False)),
    "irate": over_range(lambda s, lo, hi, r: instant_value(s, True)),
    "idelta": over_range(lambda s, lo, hi, r: instant_value(s, False)),
    "deriv": over_range(deriv),
    "predict_linear": predict_linear,
    "holt_winters": holt_winters,
    "double_exponential_smoothing": holt_winters,
    "changes": over_range(changes),
    "resets": over_range(resets),
    "avg_over_time": over_range(lambda s, lo, hi, r: mean(s.values)),
    "sum_over_time": over_range(lambda s, lo, hi, r: kahan_sum(s.values)),
    "count_over_time": over_range(lambda s, lo, hi, r: float(len(s.values))),
    "min_over_time": over_range(lambda s, lo, hi, r: minimum(s.values)),
    "max_over_time": over_range(lambda s, lo, hi, r: maximum(s.values)),
    "last_over_time": over_range(lambda s, lo, hi, r: s.values[-1], keep_name=True),
    "present_over_time": over_range(lambda s, lo, hi, r: 1.0),
    "stddev_over_time": over_range(lambda s, lo, hi, r: math.sqrt(variance(s.values))),
    "stdvar_over_time": over_range(lambda s, lo, hi, r: variance(s.values)),
    "mad_over_time": over_range(lambda s, lo, hi, r: median_absolute_deviation(s.values)),
    "quantile_over_time": quantile_over_time,
    "minute": _date_function(lambda d: float(d.minute)),
    "hour": _date_function(lambda d: float(d.hour)),
    "day_of_month": _date_function(lambda d: float(d.day)),
    "day_of_week": _date_function(lambda d: float((d.weekday() + 1) % 7)),
    "day_of_year": _date_function(lambda d: float(d.timetuple().tm_yday)),
    "days_in_month": _date_function(_days_in_month),
    "month": _date_function(lambda d: float(d.month)),
    "year": _date_function(lambda d: float(d.year)),
}
