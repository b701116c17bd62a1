"""PromQL evaluation semantics (spec/telemetry.md §7.1) on in-memory series: selectors with lookback
and staleness, rate extrapolation, histogram_quantile, aggregations, vector matching, subqueries,
``@`` and offsets, functions, value formatting and parameter parsing. The same features are also
checked against the real Prometheus in tests/integration/test_promql_vs_prometheus.py."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecslite.telemetry.query.params import (
    BadParameter,
    go_duration_ns,
    parse_duration_ms,
    parse_loki_time_ns,
    parse_prometheus_time,
    prometheus_duration_ms,
)
from ecslite.telemetry.query.promql import EvalError, ParseError, PromQL
from ecslite.telemetry.query.promql_values import STALE_NAN, Matrix, Scalar, Vector, format_value
from ecslite.telemetry.store.matchers import Matcher, match_all
from ecslite.telemetry.store.metrics import SeriesData


class Data:
    def __init__(self) -> None:
        self.series: list[SeriesData] = []

    def add(self, name: str, labels: dict[str, str], points: Sequence[tuple[float, float]]) -> None:
        full = tuple(sorted({"__name__": name, **labels}.items()))
        self.series.append(SeriesData(full, [round(t * 1000) for t, _ in points], [v for _, v in points]))

    def read(self, matchers: Sequence[Matcher], lo: int, hi: int) -> list[SeriesData]:
        out = []
        for s in sorted(self.series, key=lambda s: s.labels):
            if not match_all(matchers, dict(s.labels)):
                continue
            pairs = [(t, v) for t, v in zip(s.timestamps, s.values, strict=True) if lo <= t <= hi]
            if pairs:
                out.append(SeriesData(s.labels, [t for t, _ in pairs], [v for _, v in pairs]))
        return out

    def instant(self, query: str, at: float) -> dict[tuple[tuple[str, str], ...], float]:
        value = PromQL.parse(query).instant(self.read, round(at * 1000))
        assert isinstance(value, Vector), value
        return {s.labels: s.value for s in value.samples}

    def scalar(self, query: str, at: float) -> float:
        value = PromQL.parse(query).instant(self.read, round(at * 1000))
        assert isinstance(value, Scalar), value
        return value.value


def labels(**pairs: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(pairs.items()))


@pytest.fixture
def data() -> Data:
    return Data()


def test_instant_selector_takes_latest_sample_within_lookback(data: Data) -> None:
    data.add("up", {"job": "a"}, [(0, 1), (60, 2)])
    assert data.instant("up", 100) == {labels(__name__="up", job="a"): 2}
    assert data.instant("up", 360) == {labels(__name__="up", job="a"): 2}  # exactly 5 m old: still there
    assert data.instant("up", 360.001) == {}
    assert data.instant("up", 30) == {labels(__name__="up", job="a"): 1}


def test_instant_selector_hides_series_after_staleness_marker(data: Data) -> None:
    data.add("up", {"job": "a"}, [(0, 1), (30, STALE_NAN), (90, 3)])
    assert data.instant("up", 40) == {}
    assert data.instant("up", 100) == {labels(__name__="up", job="a"): 3}
    assert data.instant("count_over_time(up[2m])", 100) == {labels(job="a"): 2}  # the marker is no sample


def test_regex_matchers_are_fully_anchored(data: Data) -> None:
    data.add("m", {"path": "/api"}, [(0, 1)])
    data.add("m", {"path": "/api/v2"}, [(0, 2)])
    assert list(data.instant('m{path=~"/api"}', 1).values()) == [1]
    assert sorted(data.instant('m{path!~"/api"}', 1).values()) == [2]


def test_rate_extrapolates_to_window_edges(data: Data) -> None:
    # Samples every 10 s from t=5 to t=55 rising 1/s; the 60 s window at t=60 is [0, 60].
    data.add("c", {}, [(t, float(t)) for t in range(5, 60, 10)])
    # 50 sampled over 50 s, 5 s to each edge (< 1.1 × the 10 s gap): extrapolated to 60 s.
    assert data.instant("increase(c[1m])", 60) == {(): pytest.approx(50 * 60 / 50)}
    assert data.instant("rate(c[1m])", 60) == {(): pytest.approx(1.0)}
    # Window [−30, 60]: 35 s before the first sample is more than 1.1 gaps, so half a gap is added.
    assert data.instant("increase(c[90s])", 60) == {(): pytest.approx(50 * (50 + 5 + 5) / 50)}


def test_increase_never_extrapolates_a_counter_below_zero(data: Data) -> None:
    data.add("c", {}, [(30, 1.0), (40, 2.0), (50, 3.0)])
    # Zero would be reached 10 s before the first sample; the window starts 30 s before it.
    increase = data.instant("increase(c[60s])", 60)[()]
    assert increase == pytest.approx(2.0 * (20 + 10 + 10) / 20)


def test_rate_adds_back_counter_resets(data: Data) -> None:
    data.add("c", {}, [(0, 10), (10, 20), (20, 5), (30, 15)])
    # 10 + 20 (the value before the reset) + 15 − 20 = 25 over 30 s sampled; the window [−10, 30]
    # starts 10 s before the first sample (< 1.1 gaps), so the increase covers 40 s.
    value = data.instant("increase(c[40s])", 30)[()]
    assert value == pytest.approx(25 * 40 / 30)
    assert data.instant("resets(c[1m])", 30) == {(): 1}


def test_irate_uses_last_two_samples_and_handles_reset(data: Data) -> None:
    data.add("c", {}, [(0, 0), (10, 100), (20, 40)])
    assert data.instant("irate(c[1m])", 20) == {(): 4.0}
    assert data.instant("idelta(c[1m])", 20) == {(): -60.0}


def test_rate_needs_two_samples(data: Data) -> None:
    data.add("c", {}, [(0, 1)])
    assert data.instant("rate(c[1m])", 10) == {}


def test_histogram_quantile_interpolates_in_bucket(data: Data) -> None:
    for le, count in (("0.1", 10.0), ("0.5", 60.0), ("1", 90.0), ("+Inf", 100.0)):
        data.add("h_bucket", {"le": le, "svc": "a"}, [(0, count)])
    # rank 50 lies in (0.1, 0.5]: 0.1 + 0.4 × (50 − 10) / 50
    assert data.instant("histogram_quantile(0.5, h_bucket)", 1) == {labels(svc="a"): pytest.approx(0.42)}
    # rank 99 lies in +Inf: the highest finite bound
    assert data.instant("histogram_quantile(0.99, h_bucket)", 1) == {labels(svc="a"): 1.0}
    assert data.instant("histogram_quantile(1.5, h_bucket)", 1) == {labels(svc="a"): math.inf}


def test_histogram_quantile_without_inf_bucket_is_nan(data: Data) -> None:
    data.add("h_bucket", {"le": "1"}, [(0, 3.0)])
    data.add("h_bucket", {"le": "2"}, [(0, 5.0)])
    assert math.isnan(data.instant("histogram_quantile(0.5, h_bucket)", 1)[()])


def test_aggregations_by_and_without(data: Data) -> None:
    data.add("m", {"a": "1", "b": "x"}, [(0, 1)])
    data.add("m", {"a": "1", "b": "y"}, [(0, 3)])
    data.add("m", {"a": "2", "b": "x"}, [(0, 8)])
    assert data.instant("sum by (a) (m)", 1) == {labels(a="1"): 4, labels(a="2"): 8}
    assert data.instant("sum(m) without (a)", 1) == {labels(b="x"): 9, labels(b="y"): 3}
    assert data.instant("avg(m)", 1) == {(): 4}
    assert data.instant("stddev(m)", 1)[()] == pytest.approx(math.sqrt(((1 - 4) ** 2 + (3 - 4) ** 2 + 16) / 3))
    assert data.instant("quantile(0.5, m)", 1) == {(): 3}
    assert data.instant('count_values("v", m)', 1) == {labels(v="1"): 1, labels(v="3"): 1, labels(v="8"): 1}
    top = PromQL.parse("topk(2, m)").instant(data.read, 1000)
    assert isinstance(top, Vector)
    assert [s.value for s in top.samples] == [8, 3]
    assert data.instant("bottomk(1, m)", 1) == {labels(__name__="m", a="1", b="x"): 1}


def test_arithmetic_drops_name_and_comparison_filters(data: Data) -> None:
    data.add("m", {"a": "1"}, [(0, 5)])
    data.add("m", {"a": "2"}, [(0, 15)])
    assert data.instant("m * 2", 1) == {labels(a="1"): 10, labels(a="2"): 30}
    assert data.instant("m > 10", 1) == {labels(__name__="m", a="2"): 15}
    assert data.instant("m > bool 10", 1) == {labels(a="1"): 0, labels(a="2"): 1}
    assert data.instant("20 > m", 1) == {labels(__name__="m", a="1"): 5, labels(__name__="m", a="2"): 15}
    assert data.scalar("1 < bool 2", 1) == 1.0
    assert math.isinf(data.instant("m / 0", 1)[labels(a="1")])


def test_vector_matching_one_to_one_and_group_left(data: Data) -> None:
    data.add("req", {"method": "GET", "code": "200"}, [(0, 8)])
    data.add("req", {"method": "GET", "code": "500"}, [(0, 2)])
    data.add("info", {"method": "GET", "version": "1.2"}, [(0, 1)])
    assert data.instant("req / on(method) group_left sum by (method) (req)", 1) == {
        labels(method="GET", code="200"): 0.8,
        labels(method="GET", code="500"): 0.2,
    }
    joined = data.instant("req * on(method) group_left(version) info", 1)
    assert joined == {
        labels(method="GET", code="200", version="1.2"): 8,
        labels(method="GET", code="500", version="1.2"): 2,
    }
    assert data.instant('req{code="200"} - on(method) info', 1) == {labels(method="GET"): 7}


def test_vector_matching_refuses_many_to_many(data: Data) -> None:
    data.add("req", {"method": "GET", "code": "200"}, [(0, 8)])
    data.add("req", {"method": "GET", "code": "500"}, [(0, 2)])
    with pytest.raises(EvalError, match="found duplicate series for the match group"):
        data.instant("req + ignoring(code) req", 1)
    with pytest.raises(EvalError, match="many-to-one matching must be explicit"):
        data.instant('req + on(method) req{code="200"}', 1)


def test_set_operators(data: Data) -> None:
    data.add("a", {"k": "1"}, [(0, 1)])
    data.add("a", {"k": "2"}, [(0, 2)])
    data.add("b", {"k": "2"}, [(0, 20)])
    data.add("b", {"k": "3"}, [(0, 30)])
    assert data.instant("a and b", 1) == {labels(__name__="a", k="2"): 2}
    assert data.instant("a unless b", 1) == {labels(__name__="a", k="1"): 1}
    assert data.instant("a or b", 1) == {
        labels(__name__="a", k="1"): 1,
        labels(__name__="a", k="2"): 2,
        labels(__name__="b", k="3"): 30,
    }


def test_subquery_evaluates_at_aligned_steps(data: Data) -> None:
    data.add("g", {}, [(t, float(t)) for t in range(0, 300, 10)])
    # Inner times are multiples of 60 s in [205 − 120, 205]: 120 and 180.
    assert data.instant("count_over_time(g[2m:1m])", 205) == {(): 2}
    assert data.instant("max_over_time(g[2m:1m])", 205) == {(): 180}


def test_offset_and_at_modifiers(data: Data) -> None:
    data.add("g", {}, [(t, float(t)) for t in range(0, 1000, 10)])
    assert data.instant("g offset 1m", 500) == {labels(__name__="g"): 440}
    assert data.instant("g @ 100", 900) == {labels(__name__="g"): 100}
    matrix = PromQL.parse("g @ start()").range(data.read, 200_000, 260_000, 30_000)
    assert [s.values for s in matrix.series] == [[200, 200, 200]]
    assert [s.timestamps for s in matrix.series] == [[200_000, 230_000, 260_000]]


def test_range_query_turns_scalar_into_series_and_rejects_matrix(data: Data) -> None:
    matrix = PromQL.parse("time()").range(data.read, 0, 20_000, 10_000)
    assert isinstance(matrix, Matrix)
    assert matrix.series[0].labels == ()
    assert matrix.series[0].values == [0, 10, 20]
    with pytest.raises(EvalError, match='invalid expression type "range vector" for range query'):
        PromQL.parse("g[1m]").range(data.read, 0, 10_000, 1_000)


def test_label_replace_and_label_join(data: Data) -> None:
    data.add("m", {"host": "web-1", "dc": "eu"}, [(0, 1)])
    replaced = data.instant('label_replace(m, "n", "$1:${1}x$$", "host", "web-(.*)")', 1)
    assert list(replaced) == [labels(__name__="m", host="web-1", dc="eu", n="1:1x$")]
    unmatched = data.instant('label_replace(m, "n", "$1", "host", "db-(.*)")', 1)
    assert list(unmatched) == [labels(__name__="m", host="web-1", dc="eu")]
    joined = data.instant('label_join(m, "both", "/", "dc", "host")', 1)
    assert list(joined) == [labels(__name__="m", host="web-1", dc="eu", both="eu/web-1")]
    with pytest.raises(EvalError, match="invalid destination label name in label_replace"):
        data.instant('label_replace(m, "1x", "", "host", ".*")', 1)


def test_functions_dropping_names_must_not_collide(data: Data) -> None:
    data.add("a", {"k": "1"}, [(0, 1)])
    data.add("b", {"k": "1"}, [(0, 2)])
    with pytest.raises(EvalError, match="vector cannot contain metrics with the same labelset"):
        data.instant('abs({__name__=~"a|b"})', 1)
    assert len(data.instant('last_over_time({__name__=~"a|b"}[1m])', 1)) == 2


def test_absent_takes_labels_from_equality_matchers(data: Data) -> None:
    assert data.instant('absent(nope{job="x", env=~"p.*"})', 1) == {labels(job="x"): 1}
    data.add("up", {}, [(0, 1)])
    assert data.instant("absent(up)", 1) == {}


def test_over_time_functions(data: Data) -> None:
    data.add("g", {}, [(0, 4), (10, 2), (20, 9), (30, 1)])
    at = 30
    assert data.instant("avg_over_time(g[1m])", at) == {(): 4}
    assert data.instant("min_over_time(g[1m])", at) == {(): 1}
    assert data.instant("max_over_time(g[1m])", at) == {(): 9}
    assert data.instant("sum_over_time(g[1m])", at) == {(): 16}
    assert data.instant("changes(g[1m])", at) == {(): 3}
    assert data.instant("quantile_over_time(0.5, g[1m])", at) == {(): 3}
    assert data.instant("last_over_time(g[1m])", at) == {labels(__name__="g"): 1}


def test_parse_errors_are_reported() -> None:
    with pytest.raises(ParseError, match="expected type matrix"):
        PromQL.parse("rate(x)")
    with pytest.raises(ParseError, match="no expression"):
        PromQL.parse("  ")
    assert PromQL.parse("holt_winters(x[5m], 0.5, 0.5)").type == "vector"


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1"), (1.5, "1.5"), (1e20, "100000000000000000000"), (1e-7, "0.0000001"), (-0.0, "-0"), (0.1, "0.1")],
)
def test_values_are_formatted_like_go(value: float, text: str) -> None:
    assert format_value(value) == text


def test_special_values_are_formatted_like_prometheus() -> None:
    assert [format_value(v) for v in (math.nan, math.inf, -math.inf)] == ["NaN", "+Inf", "-Inf"]


def test_time_and_duration_parameters() -> None:
    assert parse_prometheus_time("1700000000.1234", "time") == 1_700_000_000_123
    assert parse_prometheus_time("2023-11-14T22:13:20.5Z", "time") == 1_700_000_000_500
    assert parse_duration_ms("1h30m", "step") == 5_400_000
    assert parse_duration_ms("15.5", "step") == 15_500
    assert prometheus_duration_ms("30m1h") is None
    assert go_duration_ns("1.2s") == 1_200_000_000
    assert go_duration_ns("100ms") == 100_000_000
    assert parse_loki_time_ns("1700000000000000000", "start") == 1_700_000_000_000_000_000
    assert parse_loki_time_ns("1700000000", "start") == 1_700_000_000_000_000_000
    with pytest.raises(BadParameter, match='invalid parameter "time": cannot parse "noon" to a valid timestamp'):
        parse_prometheus_time("noon", "time")


PROMQL_PIECES = st.sampled_from(
    [
        "up",
        "rate(",
        "sum",
        " by (a)",
        "(",
        ")",
        "[5m]",
        "[1m:10s]",
        '{a=~"x.*"}',
        " + ",
        " / on(a) ",
        "1",
        "-",
        " offset 1m",
        " @ 100",
        "topk(2,",
        ",",
        '"s"',
        "histogram_quantile(0.9,",
        " > bool ",
        " and ",
        "abs(",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(PROMQL_PIECES, max_size=8).map("".join))
def test_any_query_parses_or_fails_with_parse_error_and_evaluates_or_fails_cleanly(query: str) -> None:
    data = Data()
    data.add("up", {"a": "x1"}, [(0, 1), (60, 2)])
    try:
        expr = PromQL.parse(query)
    except ParseError:
        return
    try:
        expr.instant(data.read, 90_000)
        if expr.type in ("vector", "scalar"):
            expr.range(data.read, 0, 120_000, 30_000)
    except EvalError:
        pass
