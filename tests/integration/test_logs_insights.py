"""Logs Insights through boto3: StartQuery, GetQueryResults, StopQuery and DescribeQueries."""

from __future__ import annotations

import json
import time
from typing import Any

import botocore.exceptions
import pytest

from tests.conftest import make_client

ACCOUNT = "000000000000"


@pytest.fixture
def logs(endpoint: str) -> Any:
    return make_client("logs", endpoint)


@pytest.fixture
def base(logs: Any) -> int:
    """Requests of a web service over 12 minutes (whole seconds, at a 5-minute boundary) in two streams."""
    start = (int(time.time()) - 3600) // 300 * 300 * 1000
    logs.create_log_group(logGroupName="/ecs/web")
    for stream in ("web/a", "web/b"):
        logs.create_log_stream(logGroupName="/ecs/web", logStreamName=stream)
    requests = [
        # (seconds after start, stream, status, latency ms, path)
        (0, "web/a", 200, 12, "/"),
        (40, "web/b", 500, 300, "/api"),
        (120, "web/a", 200, 20, "/api"),
        (299, "web/b", 200, 28, "/"),
        (300, "web/a", 404, 5, "/missing"),
        (420, "web/b", 500, 250, "/api"),
        (660, "web/a", 200, 40, "/api"),
    ]
    for stream in ("web/a", "web/b"):
        events = [
            {
                "timestamp": start + s * 1000,
                "message": json.dumps({"status": status, "latency": latency, "path": path}),
            }
            for s, name, status, latency, path in requests
            if name == stream
        ]
        logs.put_log_events(logGroupName="/ecs/web", logStreamName=stream, logEvents=events)
    logs.put_log_events(
        logGroupName="/ecs/web",
        logStreamName="web/a",
        logEvents=[{"timestamp": start + 700_000, "message": "GET /health 200 3ms"}],
    )
    return start


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


def query(logs: Any, base: int, text: str, **kwargs: Any) -> dict[str, Any]:
    if not {"logGroupNames", "logGroupIdentifiers"} & set(kwargs):
        kwargs["logGroupName"] = "/ecs/web"
    started = logs.start_query(startTime=base // 1000, endTime=base // 1000 + 3600, queryString=text, **kwargs)
    return wait(logs, started["queryId"])


def wait(logs: Any, query_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        result: dict[str, Any] = logs.get_query_results(queryId=query_id)
        if result["status"] not in ("Scheduled", "Running"):
            return result
        time.sleep(0.05)
    raise AssertionError("query did not finish")


def table(result: dict[str, Any]) -> list[dict[str, str]]:
    return [{f["field"]: f["value"] for f in row} for row in result["results"]]


def stamp(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}"


def test_stats_count_by_bin_gives_exact_time_series(logs: Any, base: int) -> None:
    result = query(logs, base, "stats count(*) by bin(5m)")
    assert result["status"] == "Complete"
    assert table(result) == [
        {"bin(5m)": stamp(base + 600_000), "count(*)": "2"},
        {"bin(5m)": stamp(base + 300_000), "count(*)": "2"},
        {"bin(5m)": stamp(base), "count(*)": "4"},
    ]
    assert result["statistics"]["recordsMatched"] == 8.0
    assert result["statistics"]["recordsScanned"] == 8.0
    assert result["statistics"]["resultCount"] == 3.0


def test_stats_with_filter_and_aggregates_by_field(logs: Any, base: int) -> None:
    result = query(
        logs,
        base,
        "filter ispresent(status) | stats count(*) as requests, avg(latency) as mean, max(latency) as worst, "
        "pct(latency, 50) as p50 by path | sort requests desc, path asc",
    )
    assert table(result) == [
        {"path": "/api", "requests": "4", "mean": "152.5", "worst": "300", "p50": "40"},
        {"path": "/", "requests": "2", "mean": "20", "worst": "28", "p50": "12"},
        {"path": "/missing", "requests": "1", "mean": "5", "worst": "5", "p50": "5"},
    ]
    assert result["statistics"]["recordsMatched"] == 7.0


def test_fields_filter_sort_limit_with_ptr(logs: Any, base: int) -> None:
    result = query(
        logs, base, "fields @timestamp, @logStream, status | filter status >= 400 | sort @timestamp desc | limit 2"
    )
    rows = table(result)
    assert [{k: v for k, v in r.items() if k != "@ptr"} for r in rows] == [
        {"@timestamp": stamp(base + 420_000), "@logStream": "web/b", "status": "500"},
        {"@timestamp": stamp(base + 300_000), "@logStream": "web/a", "status": "404"},
    ]
    assert all(r["@ptr"] for r in rows)
    assert [f["field"] for f in result["results"][0]] == ["@timestamp", "@logStream", "status", "@ptr"]


def test_parse_and_like(logs: Any, base: int) -> None:
    result = query(
        logs,
        base,
        "filter @message like /health/ | parse @message '* * * *' as method, path, code, took | display method, code",
    )
    assert [{k: v for k, v in r.items() if k != "@ptr"} for r in table(result)] == [{"method": "GET", "code": "200"}]


def test_log_field_and_several_groups(logs: Any, base: int) -> None:
    logs.create_log_group(logGroupName="/ecs/other")
    logs.create_log_stream(logGroupName="/ecs/other", logStreamName="x")
    logs.put_log_events(
        logGroupName="/ecs/other", logStreamName="x", logEvents=[{"timestamp": base + 1000, "message": "other"}]
    )
    result = query(logs, base, "stats count(*) by @log | sort @log", logGroupNames=["/ecs/web", "/ecs/other"])
    assert table(result) == [
        {"@log": f"{ACCOUNT}:/ecs/other", "count(*)": "1"},
        {"@log": f"{ACCOUNT}:/ecs/web", "count(*)": "8"},
    ]
    result = query(
        logs,
        base,
        "stats count(*) as n",
        logGroupIdentifiers=[f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/ecs/other"],
    )
    assert table(result) == [{"n": "1"}]


def test_time_range_is_inclusive_of_whole_seconds(logs: Any, base: int) -> None:
    second = base // 1000
    started = logs.start_query(
        logGroupName="/ecs/web", startTime=second + 40, endTime=second + 299, queryString="stats count(*) as n"
    )
    assert table(wait(logs, started["queryId"])) == [{"n": "3"}]


def test_results_page_with_max_items(logs: Any, base: int) -> None:
    started = logs.start_query(
        logGroupName="/ecs/web", startTime=base // 1000, endTime=base // 1000 + 3600, queryString="fields @message"
    )
    full = wait(logs, started["queryId"])
    first = logs.get_query_results(queryId=started["queryId"], maxItems=5)
    second = logs.get_query_results(queryId=started["queryId"], maxItems=5, nextToken=first["nextToken"])
    assert len(first["results"]) == 5 and len(second["results"]) == 3 and "nextToken" not in second
    assert first["results"] + second["results"] == full["results"]


def test_malformed_query_is_refused(logs: Any, base: int) -> None:
    code, message = error_of(
        logs.start_query, logGroupName="/ecs/web", startTime=0, endTime=1, queryString="fields @message | count(*)"
    )
    assert code == "MalformedQueryException"
    assert message == (
        "mismatched input 'count' expecting {K_FIELDS, K_DISPLAY, K_FILTER, K_PARSE, K_STATS, K_SORT, K_LIMIT, K_DEDUP}"
    )
    assert logs.describe_queries()["queries"] == []


def test_start_query_errors(logs: Any, base: int) -> None:
    code, message = error_of(
        logs.start_query, logGroupName="nope", startTime=0, endTime=1, queryString="fields @message"
    )
    assert (code, message) == (
        "ResourceNotFoundException",
        f"Log group 'nope' does not exist for account ID '{ACCOUNT}'",
    )
    code, message = error_of(
        logs.start_query, logGroupName="/ecs/web", startTime=10, endTime=5, queryString="fields @message"
    )
    assert (code, message) == ("InvalidParameterException", "End time should not be before the start time.")
    code, message = error_of(logs.start_query, startTime=0, endTime=1, queryString="fields @message")
    assert (code, message) == (
        "InvalidParameterException",
        "A StartQuery operation must include exactly one of the following parameters: logGroupName, logGroupNames, "
        "or logGroupIdentifiers.",
    )
    assert logs.describe_queries()["queries"] == []


def test_get_and_stop_unknown_query_are_not_found(logs: Any) -> None:
    for call in (logs.get_query_results, logs.stop_query):
        code, message = error_of(call, queryId="0e6e3e4c-0000-0000-0000-000000000000")
        assert (code, message) == ("ResourceNotFoundException", "Query does not exist.")


def test_stop_finished_query_is_refused(logs: Any, base: int) -> None:
    started = logs.start_query(
        logGroupName="/ecs/web", startTime=base // 1000, endTime=base // 1000 + 60, queryString="fields @message"
    )
    wait(logs, started["queryId"])
    code, message = error_of(logs.stop_query, queryId=started["queryId"])
    assert (code, message) == ("InvalidParameterException", f"Query {started['queryId']} is not running")


def test_describe_queries_lists_newest_first_with_filters(logs: Any, base: int) -> None:
    first = query(logs, base, "stats count(*)")
    second = query(logs, base, "fields @message | limit 1")
    assert first["status"] == second["status"] == "Complete"
    queries = logs.describe_queries()["queries"]
    assert [q["queryString"] for q in queries] == ["fields @message | limit 1", "stats count(*)"]
    assert all(q["status"] == "Complete" and q["logGroupName"] == "/ecs/web" for q in queries)
    assert logs.describe_queries(status="Running")["queries"] == []
    assert len(logs.describe_queries(logGroupName="/ecs/web", maxResults=1)["queries"]) == 1
