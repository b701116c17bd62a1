"""FilterLogEvents through boto3: streams, time range, pagination and every filter pattern form."""

from __future__ import annotations

import json
import time
from typing import Any

import botocore.exceptions
import pytest

from tests.conftest import make_client

LINES = {
    "web/1": [
        "[ERROR 400] BAD REQUEST",
        json.dumps({"level": "error", "latency": 250, "user": {"id": 7}, "path": "/api/items"}),
        '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534',
    ],
    "web/2": [
        "[INFO 200] OK",
        json.dumps({"level": "info", "latency": 50, "user": {"id": 8}, "path": "/health"}),
        '10.0.0.2 - - [10/Oct/2000:13:25:16 -0700] "POST /api HTTP/1.1" 200 99',
    ],
    "worker/1": [
        "[ERROR 500] INTERNAL SERVER ERROR",
        json.dumps({"level": "error", "latency": 90, "user": {"id": None}}),
        "job finished in 1532ms",
    ],
}


@pytest.fixture
def logs(endpoint: str) -> Any:
    return make_client("logs", endpoint)


@pytest.fixture
def start(logs: Any) -> int:
    """Three streams; line i of every stream at start + 10*i + stream index, so streams interleave."""
    base = int(time.time() * 1000) - 60_000
    logs.create_log_group(logGroupName="app")
    for index, (stream, lines) in enumerate(LINES.items()):
        logs.create_log_stream(logGroupName="app", logStreamName=stream)
        events = [{"timestamp": base + 10 * i + index, "message": m} for i, m in enumerate(lines)]
        logs.put_log_events(logGroupName="app", logStreamName=stream, logEvents=events)
    return base


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


def found(logs: Any, **kwargs: Any) -> list[str]:
    return [e["message"] for e in logs.filter_log_events(logGroupName="app", **kwargs)["events"]]


def test_events_of_all_streams_interleave_by_timestamp(logs: Any, start: int) -> None:
    result = logs.filter_log_events(logGroupName="app")
    events = result["events"]
    assert [(e["logStreamName"], e["timestamp"]) for e in events] == [
        (stream, start + 10 * i + index) for i in range(3) for index, stream in enumerate(LINES)
    ]
    assert result["searchedLogStreams"] == []
    ids = [e["eventId"] for e in events]
    assert len(set(ids)) == 9 and all(len(i) == 56 and i.isdigit() for i in ids)
    assert ids == sorted(ids)


def test_stream_names_and_prefix_select_streams(logs: Any, start: int) -> None:
    assert found(logs, logStreamNames=["worker/1"]) == LINES["worker/1"]
    assert len(found(logs, logStreamNamePrefix="web/")) == 6
    assert found(logs, logStreamNames=["nope"]) == []
    code, message = error_of(
        logs.filter_log_events, logGroupName="app", logStreamNames=["web/1"], logStreamNamePrefix="web"
    )
    assert (code, message) == (
        "InvalidParameterException",
        "logStreamNames and logStreamNamePrefix are mutually exclusive. Specify only one of them.",
    )


def test_time_range_is_inclusive(logs: Any, start: int) -> None:
    events = logs.filter_log_events(logGroupName="app", startTime=start + 10, endTime=start + 20)["events"]
    assert [e["timestamp"] - start for e in events] == [10, 11, 12, 20]


def test_pagination_with_limit_and_next_token(logs: Any, start: int) -> None:
    seen: list[str] = []
    kwargs: dict[str, Any] = {"limit": 4}
    pages = 0
    while True:
        page = logs.filter_log_events(logGroupName="app", **kwargs)
        seen += [e["eventId"] for e in page["events"]]
        pages += 1
        if "nextToken" not in page:
            break
        kwargs["nextToken"] = page["nextToken"]
    assert pages == 3 and len(seen) == 9 and seen == sorted(seen)
    paginator = logs.get_paginator("filter_log_events")
    assert sum(len(p["events"]) for p in paginator.paginate(logGroupName="app", PaginationConfig={"PageSize": 2})) == 9


def test_start_from_head_false_returns_newest_first(logs: Any, start: int) -> None:
    events = logs.filter_log_events(logGroupName="app", startTime=start, startFromHead=False, limit=3)
    assert [e["timestamp"] - start for e in events["events"]] == [22, 21, 20]
    rest = logs.filter_log_events(logGroupName="app", nextToken=events["nextToken"], limit=3)
    assert [e["timestamp"] - start for e in rest["events"]] == [12, 11, 10]


def test_invalid_next_token_is_refused(logs: Any, start: int) -> None:
    code, message = error_of(logs.filter_log_events, logGroupName="app", nextToken="garbage")
    assert (code, message) == ("InvalidParameterException", "The specified nextToken is invalid.")


def test_missing_group_is_not_found(logs: Any) -> None:
    code, message = error_of(logs.filter_log_events, logGroupName="nope")
    assert (code, message) == ("ResourceNotFoundException", "The specified log group does not exist.")


def test_group_by_identifier(logs: Any, start: int) -> None:
    arn = logs.describe_log_groups()["logGroups"][0]["logGroupArn"]
    assert len(logs.filter_log_events(logGroupIdentifier=arn)["events"]) == 9


# -- pattern forms ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("ERROR", ["[ERROR 400] BAD REQUEST", "[ERROR 500] INTERNAL SERVER ERROR"]),
        ("Error", []),
        ("error", [LINES["web/1"][1], LINES["worker/1"][1]]),
        ("ERROR REQUEST", ["[ERROR 400] BAD REQUEST"]),
        ('"SERVER ERROR"', ["[ERROR 500] INTERNAL SERVER ERROR"]),
        ("?OK ?BAD", ["[ERROR 400] BAD REQUEST", "[INFO 200] OK"]),
        ("ERROR -BAD", ["[ERROR 500] INTERNAL SERVER ERROR"]),
        ("%[0-9]+ms$%", ["job finished in 1532ms"]),
    ],
)
def test_term_patterns(logs: Any, start: int, pattern: str, expected: list[str]) -> None:
    assert found(logs, filterPattern=pattern) == expected


@pytest.mark.parametrize(
    ("pattern", "expected_paths"),
    [
        ('{ $.level = "error" }', ["/api/items", None]),
        ("{ $.latency > 100 }", ["/api/items"]),
        ('{ $.level = "error" && $.latency < 100 }', [None]),
        ('{ $.path = "/health" || $.latency >= 250 }', ["/api/items", "/health"]),
        ("{ $.user.id IS NULL }", [None]),
        ("{ $.path NOT EXISTS }", [None]),
        ('{ $.path = "/api/*" }', ["/api/items"]),
    ],
)
def test_json_patterns(logs: Any, start: int, pattern: str, expected_paths: list[str | None]) -> None:
    docs = [json.loads(m) for m in found(logs, filterPattern=pattern)]
    assert [d.get("path") for d in docs] == expected_paths


@pytest.mark.parametrize(
    ("pattern", "expected_users"),
    [
        ("[ip, id, user, timestamp, request, status = 404, size]", ["frank"]),
        ("[ip, id, user, timestamp, request, status = 2*, size]", ["-"]),
        ("[ip, ..., size > 1000]", ["frank"]),
        ("[ip = 10.*, ...]", ["-"]),
        ('[ip, id, user, timestamp, request = "GET *", ...]', ["frank"]),
    ],
)
def test_space_delimited_patterns(logs: Any, start: int, pattern: str, expected_users: list[str]) -> None:
    assert [m.split()[2] for m in found(logs, filterPattern=pattern)] == expected_users


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("user-service", "Invalid character(s) in term 'user-service'"),
        ("?", "Invalid character(s) in term '?'"),
        ('{ $.level = "error"', "If a filter pattern starts with '{' it must end with '}'"),
        ("{ level = error }", "Invalid filter pattern"),
        ("[a, ..., b, ...]", "Invalid filter pattern"),
    ],
)
def test_invalid_patterns_are_refused(logs: Any, start: int, pattern: str, message: str) -> None:
    code, text = error_of(logs.filter_log_events, logGroupName="app", filterPattern=pattern)
    assert (code, text) == ("InvalidParameterException", message)


def test_filtered_pages_continue_after_the_last_match(logs: Any, start: int) -> None:
    first = logs.filter_log_events(logGroupName="app", filterPattern="ERROR", limit=1)
    assert [e["message"] for e in first["events"]] == ["[ERROR 400] BAD REQUEST"]
    second = logs.filter_log_events(logGroupName="app", filterPattern="ERROR", limit=1, nextToken=first["nextToken"])
    assert [e["message"] for e in second["events"]] == ["[ERROR 500] INTERNAL SERVER ERROR"]
    assert "nextToken" not in second
