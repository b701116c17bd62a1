"""LogQL parsing and pipeline semantics (spec/telemetry.md §7.2) on single lines, without a server."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecslite.telemetry.query.logql import (
    LineFilter,
    LogQLError,
    LogQuery,
    LogRange,
    MetricQuery,
    Parser,
    bytes_value,
    parse,
    parse_selector,
)
from ecslite.telemetry.query.logql_pipeline import Entry, Pipeline
from ecslite.telemetry.query.promql_ast import Aggregate, Binary


def run(query: str, line: str, **labels: str) -> Entry | None:
    parsed = parse(query)
    assert isinstance(parsed, LogQuery)
    stream = {"app": "shop", **labels}
    return Pipeline(parsed).run(Entry(1_000_000_000, line, dict(stream), frozenset(stream)))


def test_selector_and_pipeline_stages_parse() -> None:
    parsed = parse('{app="shop", env=~"prod|stage"} |= "GET" != `health` |~ "(?i)err" | json | status >= 500')
    assert isinstance(parsed, LogQuery)
    assert [(m.name, m.op, m.value) for m in parsed.matchers] == [("app", "=", "shop"), ("env", "=~", "prod|stage")]
    assert [type(s).__name__ for s in parsed.stages] == [
        "LineFilter",
        "LineFilter",
        "LineFilter",
        "Parser",
        "LabelFilter",
    ]
    assert parsed.pushdown() == ("GET",)


def test_pushdown_stops_at_line_rewrites() -> None:
    parsed = parse('{app="a"} |= "x" | line_format "{{.msg}}" |= "y"')
    assert isinstance(parsed, LogQuery)
    assert parsed.pushdown() == ("x",)


def test_metric_query_tree_reuses_promql_nodes() -> None:
    parsed = parse('sum by (level) (count_over_time({app="a"} |= "x" [5m])) / 2')
    assert isinstance(parsed, MetricQuery)
    assert isinstance(parsed.root, Binary)
    assert isinstance(parsed.root.lhs, Aggregate) and parsed.root.lhs.labels == ("level",)
    (leaf,) = parsed.ranges
    assert isinstance(leaf, LogRange)
    assert (leaf.function, leaf.range_ms) == ("count_over_time", 300_000)
    assert isinstance(leaf.query.stages[0], LineFilter)


def test_unwrap_is_required_for_value_aggregations() -> None:
    with pytest.raises(LogQLError, match="without unwrap"):
        parse('sum_over_time({app="a"} [1m])')
    parsed = parse('quantile_over_time(0.9, {app="a"} | logfmt | unwrap duration(took) [1m]) by (path)')
    assert isinstance(parsed, MetricQuery)
    leaf = parsed.ranges[0]
    assert leaf.param == 0.9 and leaf.grouping == ("path",)
    assert leaf.unwrap is not None and (leaf.unwrap.label, leaf.unwrap.conversion) == ("took", "duration")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('{app="a"', "parse error at line 1, col"),
        ('{app=~".*"}', "at least one regexp or equality matcher"),
        ('{app="a"} | regexp "(no names)"', "named capture"),
        ('rate({app="a"})', "expecting ["),
        ('{app="a"} | status >', "unexpected end of query"),
    ],
)
def test_parse_errors_read_like_loki(query: str, message: str) -> None:
    with pytest.raises(LogQLError, match=message.replace("[", r"\[")):
        parse(query)


def test_line_filters_are_case_sensitive_and_regexes_unanchored() -> None:
    assert run('{app="a"} |= "Error"', "an Error here") is not None
    assert run('{app="a"} |= "error"', "an Error here") is None
    assert run('{app="a"} |~ "err.r"', "an error here") is not None
    assert run('{app="a"} !~ "(?i)ERROR"', "an error here") is None
    assert run('{app="a"} |= "x" or "here"', "an error here") is not None


def test_json_flattens_nested_objects_and_renames_clashes() -> None:
    entry = run('{app="a"} | json', '{"app":"other","req":{"path":"/x","ms":12.5},"list":[1],"ok":true,"none":null}')
    assert entry is not None
    assert entry.labels == {"app": "shop", "app_extracted": "other", "req_path": "/x", "req_ms": "12.5", "ok": "true"}


def test_json_expressions_pick_paths() -> None:
    entry = run(
        '{app="a"} | json first="items[0].id", host="meta[\\"host name\\"]"',
        '{"items":[{"id":7}],"meta":{"host name":"h1"}}',
    )
    assert entry is not None
    assert entry.labels["first"] == "7" and entry.labels["host"] == "h1"


def test_parser_failure_marks_the_line_and_keeps_it() -> None:
    entry = run('{app="a"} | json', "plain text")
    assert entry is not None
    assert entry.labels["__error__"] == "JSONParserErr"
    assert run('{app="a"} | json | __error__=""', "plain text") is None
    entry = run('{app="a"} | logfmt', 'msg="unterminated')
    assert entry is not None and entry.labels["__error__"] == "LogfmtParserErr"


def test_logfmt_quoted_values() -> None:
    entry = run('{app="a"} | logfmt', 'level=warn msg="disk \\"sda\\" full" flag')
    assert entry is not None
    assert entry.labels["level"] == "warn" and entry.labels["msg"] == 'disk "sda" full'
    assert "flag" not in entry.labels


def test_numeric_duration_and_bytes_filters() -> None:
    line = "took=1.5s size=3MB code=503"
    assert run('{app="a"} | logfmt | took > 1s and size >= 2MiB', line) is not None
    assert run('{app="a"} | logfmt | took > 2s or code < 500', line) is None
    assert run('{app="a"} | logfmt | (code == 503, took < 2s)', line) is not None
    assert run('{app="a"} | logfmt | missing > 1', line) is None
    marked = run('{app="a"} | logfmt | took > 1', "took=soon")
    assert marked is not None and marked.labels["__error__"] == "LabelFilterErr"


def test_line_and_label_format_templates() -> None:
    entry = run(
        '{app="a"} | logfmt | line_format "{{.level}}: {{ .msg }}" | label_format sev=level', "level=info msg=hi"
    )
    assert entry is not None
    assert entry.line == "info: hi"
    assert entry.labels["sev"] == "info" and "level" not in entry.labels
    with pytest.raises(LogQLError, match="unsupported template"):
        Pipeline(parse('{app="a"} | line_format "{{ .a | upper }}"'))  # type: ignore[arg-type]


def test_pattern_and_regexp_parsers() -> None:
    entry = run('{app="a"} | pattern "<ip> - <_> \\"<method> <path>\\""', '10.0.0.1 - - "GET /orders"')
    assert entry is not None
    assert (entry.labels["ip"], entry.labels["method"], entry.labels["path"]) == ("10.0.0.1", "GET", "/orders")
    entry = run('{app="a"} | regexp "took (?P<ms>\\\\d+)ms"', "request took 42ms")
    assert entry is not None and entry.labels["ms"] == "42"


def test_drop_keep_and_decolorize() -> None:
    entry = run('{app="a"} | decolorize | logfmt | keep app, level', "\x1b[31mlevel=error\x1b[0m x=1")
    assert entry is not None
    assert set(entry.labels) == {"app", "level"}
    assert entry.line == "level=error x=1"


def test_selectors_for_series_and_bytes_units() -> None:
    assert [m.name for m in parse_selector('{a="1", b!="2"}')] == ["a", "b"]
    assert bytes_value("1KB") == 1000 and bytes_value("1KiB") == 1024 and bytes_value("2mb") == 2_000_000
    assert isinstance(parse('{app="a"} | unpack'), LogQuery)
    assert isinstance(parse('{app="a"} | unpack').stages[0], Parser)  # type: ignore[union-attr]


LOGQL_PIECES = st.sampled_from(
    [
        '{app="a"}',
        " |= ",
        '"x"',
        " | json",
        " | logfmt",
        " | status > 5",
        ' | line_format "{{.a}}"',
        "sum(",
        "count_over_time(",
        "[1m]",
        ")",
        " by (a)",
        " or ",
        " | ",
        "rate(",
        " / ",
        "2",
        '{app=~".*"}',
        " | unwrap x",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(LOGQL_PIECES, max_size=8).map("".join))
def test_any_query_parses_or_fails_with_logql_error(query: str) -> None:
    try:
        parsed = parse(query)
    except LogQLError:
        return
    if isinstance(parsed, LogQuery):
        Pipeline(parsed).run(Entry(0, '{"a": 1} a=2', {"app": "a"}, frozenset({"app"})))
