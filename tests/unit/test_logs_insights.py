"""The Logs Insights language: parsing, checking and evaluation (model/logs_insights*.py)."""

from __future__ import annotations

import json

import pytest

from ecslite.model.logs_insights import EXPECTED_COMMAND, MalformedQuery, parse_query
from ecslite.model.logs_insights_eval import InsightsEvent, QueryResult, check_query, run_query
from ecslite.model.logs_insights_values import Instant, ceil_time, floor_time

BASE = 1_704_067_200_000  # 2024-01-01 00:00:00 UTC


def event(offset_s: float, message: str | dict[str, object], stream: str = "web/1") -> InsightsEvent:
    text = message if isinstance(message, str) else json.dumps(message)
    ts = BASE + int(offset_s * 1000)
    return InsightsEvent(ts, ts + 7, text, stream, "000000000000:/ecs/app", f"p{offset_s}")


EVENTS = sorted(
    [
        event(0, {"level": "error", "latency": 120, "path": "/a", "user": {"id": 1}}),
        event(30, {"level": "info", "latency": 20, "path": "/a", "user": {"id": 2}}),
        event(90, {"level": "info", "latency": 40, "path": "/b", "user": {"id": 1}}),
        event(301, {"level": "error", "latency": 300, "path": "/b", "tags": ["x", "y"]}),
        event(302, "GET /health 200 3ms", stream="sidecar/1"),
        event(650, {"level": "warn", "latency": 60, "path": "/a", "ok": True}),
    ],
    key=lambda e: -e.timestamp,
)


def run(text: str, events: list[InsightsEvent] = EVENTS, limit: int | None = None) -> QueryResult:
    query = parse_query(text)
    check_query(query)
    return run_query(query, events, limit)


def rows(text: str, **kwargs: object) -> list[dict[str, str]]:
    return [dict(row) for row in run(text, **kwargs).rows]  # type: ignore[arg-type]


def test_stats_count_by_bin_groups_by_time_newest_first() -> None:
    assert rows("stats count(*) by bin(5m)") == [
        {"bin(5m)": "2024-01-01 00:10:00.000", "count(*)": "1"},
        {"bin(5m)": "2024-01-01 00:05:00.000", "count(*)": "2"},
        {"bin(5m)": "2024-01-01 00:00:00.000", "count(*)": "3"},
    ]


def test_stats_aggregates_by_field_with_aliases() -> None:
    result = rows(
        "filter ispresent(level) | stats count(*) as n, avg(latency) as mean, sum(latency), min(latency), "
        "max(latency), pct(latency, 50) as p50, count_distinct(path) as paths by level | sort level"
    )
    assert result == [
        {"level": "error", "n": "2", "mean": "210", "sum(latency)": "420", "min(latency)": "120",
         "max(latency)": "300", "p50": "120", "paths": "2"},
        {"level": "info", "n": "2", "mean": "30", "sum(latency)": "60", "min(latency)": "20",
         "max(latency)": "40", "p50": "20", "paths": "2"},
        {"level": "warn", "n": "1", "mean": "60", "sum(latency)": "60", "min(latency)": "60",
         "max(latency)": "60", "p50": "60", "paths": "1"},
    ]  # fmt: skip


def test_stats_expression_of_aggregates() -> None:
    assert rows("stats sum(latency) / count(latency) as mean, count() as all") == [{"mean": "108", "all": "6"}]


def test_stats_over_no_records_returns_no_rows() -> None:
    assert rows("filter level = 'none' | stats count(*)") == []


def test_fields_sort_limit_and_ptr() -> None:
    assert rows("fields @timestamp, latency | filter latency >= 60 | sort latency desc | limit 2") == [
        {"@timestamp": "2024-01-01 00:05:01.000", "latency": "300", "@ptr": "p301"},
        {"@timestamp": "2024-01-01 00:00:00.000", "latency": "120", "@ptr": "p0"},
    ]


def test_default_order_is_newest_first_with_all_fields() -> None:
    first = run("limit 1").rows[0]
    assert [name for name, _ in first] == [
        "@timestamp", "@message", "@logStream", "@log", "@ingestionTime", "level", "latency", "path", "ok", "@ptr",
    ]  # fmt: skip
    assert dict(first)["@log"] == "000000000000:/ecs/app"
    assert dict(first)["ok"] == "true"


def test_json_fields_are_discovered_with_dotted_paths() -> None:
    assert rows("filter user.id = 1 | fields path, user.id") == [
        {"path": "/b", "user.id": "1", "@ptr": "p90"},
        {"path": "/a", "user.id": "1", "@ptr": "p0"},
    ]
    assert rows("filter ispresent(tags.1) | display tags.0, tags.1") == [{"tags.0": "x", "tags.1": "y", "@ptr": "p301"}]


def test_filter_boolean_logic_like_in_and_regex() -> None:
    assert [r["path"] for r in rows("filter level = 'info' or latency > 200 | fields path")] == ["/b", "/b", "/a"]
    assert len(rows("filter not (level = 'info') and ispresent(level)")) == 3
    assert [r["@ptr"] for r in rows("filter @message like /GET \\/health/")] == ["p302"]
    assert [r["@ptr"] for r in rows("filter @message like 'health'")] == ["p302"]
    assert [r["@ptr"] for r in rows("filter @message not like 'level'")] == ["p302"]
    assert [r["@ptr"] for r in rows("filter @message =~ /\\d+ms$/")] == ["p302"]
    assert [r["@ptr"] for r in rows("filter level in ['warn', 'error'] | sort @timestamp asc")] == [
        "p0",
        "p301",
        "p650",
    ]
    assert [r["@ptr"] for r in rows("filter level not in ['warn', 'error'] and ispresent(level)")] == ["p90", "p30"]


def test_string_functions() -> None:
    result = rows(
        "filter path = '/a' and level = 'warn' | fields strlen(level) as n, toupper(level) as up, "
        "concat(path, '-', level) as joined, substr(level, 1, 2) as part, replace(path, '/', '_') as safe, "
        "strcontains(level, 'ar') as has, coalesce(missing, 'dflt') as c"
    )
    assert result == [
        {
            "n": "4",
            "up": "WARN",
            "joined": "/a-warn",
            "part": "ar",
            "safe": "_a",
            "has": "1",
            "c": "dflt",
            "@ptr": "p650",
        }
    ]


def test_arithmetic_and_numeric_functions() -> None:
    result = rows("filter latency = 120 | fields latency * 2 + 1 as a, latency / 7 as b, abs(-3) as c, 2 ^ 3 as d")
    assert result == [{"a": "241", "b": repr(120 / 7), "c": "3", "d": "8", "@ptr": "p0"}]


def test_parse_with_glob_and_regex() -> None:
    assert rows(
        "parse @message '* * * *' as method, path, status, took | filter method = 'GET' | display path, status, took"
    ) == [{"path": "/health", "status": "200", "took": "3ms", "@ptr": "p302"}]
    assert rows(
        "parse @message /(?<verb>[A-Z]+) (?<target>\\S+) (?<code>\\d{3})/ | filter code >= 200 | display verb, code"
    ) == [{"verb": "GET", "code": "200", "@ptr": "p302"}]


def test_dedup_keeps_first_occurrence() -> None:
    assert [r["path"] for r in rows("filter ispresent(path) | dedup path | fields path")] == ["/a", "/b"]


def test_query_limit_caps_rows_but_not_statistics() -> None:
    result = run("fields @timestamp", limit=2)
    assert len(result.rows) == 2
    assert (result.records_matched, result.records_scanned) == (6, 6)
    assert result.bytes_scanned == sum(len(e.message.encode()) for e in EVENTS)


def test_records_matched_counts_events_through_filters() -> None:
    result = run("filter level = 'error' | stats count(*)")
    assert (result.records_matched, result.records_scanned) == (2, 6)


def test_comments_and_case_insensitive_keywords() -> None:
    assert rows("# errors only\nFILTER level = 'error' AND latency > 200 | STATS count(*) AS n") == [{"n": "1"}]


def test_backticked_field_names() -> None:
    events = [event(1, {"user-agent": "curl"})]
    assert rows("fields `user-agent` as ua", events=events) == [{"ua": "curl", "@ptr": "p1"}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("count(*)", f"mismatched input 'count' expecting {EXPECTED_COMMAND}"),
        ("fields @timestamp |", f"mismatched input '<EOF>' expecting {EXPECTED_COMMAND}"),
        ("filter (a = 1", "mismatched input '<EOF>' expecting ')'"),
        ("limit x", "mismatched input 'x' expecting INTEGER_LITERAL"),
        ("fields a b", "mismatched input 'b' expecting {<EOF>, '|'}"),
        ("fields nosuch(a)", "Unknown function: nosuch"),
        ("fields count(*)", "Aggregate function count() can only be used in stats."),
        ("stats strlen(a)", "Expression 'strlen(a)' in stats must use an aggregate function."),
        ("stats count(*) by bin(a)", "bin() takes a time period such as 5m."),
        ("fields substr(a)", "Function substr() takes 2 to 3 arguments, got 1."),
        ("parse @message '* *' as a", "The number of fields (1) does not match the number of wildcards (2) in parse."),
        ("filter a = 'x", "token recognition error at: ''x'"),
        ("filter a ~ b", "token recognition error at: '~'"),
    ],
)
def test_malformed_queries_are_rejected(text: str, message: str) -> None:
    assert EXPECTED_COMMAND == "{K_FIELDS, K_DISPLAY, K_FILTER, K_PARSE, K_STATS, K_SORT, K_LIMIT, K_DEDUP}"
    with pytest.raises(MalformedQuery) as caught:
        check_query(parse_query(text))
    assert caught.value.message == message


def test_instant_formatting_and_calendar_rounding() -> None:
    assert str(Instant(BASE + 61_005)) == "2024-01-01 00:01:01.005"
    assert floor_time(BASE + 3_599_999, 1, "h") == BASE
    assert floor_time(BASE + 40 * 86_400_000, 1, "mo") == BASE + 31 * 86_400_000  # 2024-02-01
    assert floor_time(BASE + 100 * 86_400_000, 1, "q") == BASE + 91 * 86_400_000  # 2024-04-01
    assert floor_time(BASE + 2 * 86_400_000, 1, "w") == BASE  # 2024-01-01 was a Monday
    assert ceil_time(BASE + 1, 1, "d") == BASE + 86_400_000
    assert ceil_time(BASE, 1, "d") == BASE


def test_bin_units_and_datefloor() -> None:
    assert rows("stats count(*) by bin(1h)") == [{"bin(1h)": "2024-01-01 00:00:00.000", "count(*)": "6"}]
    assert rows("filter latency = 300 | fields datefloor(@timestamp, 1m) as m, tomillis(@timestamp) as ms") == [
        {"m": "2024-01-01 00:05:00.000", "ms": str(BASE + 301_000), "@ptr": "p301"}
    ]
