"""PutLogEvents' rules and GetLogEvents' pages and tokens through boto3 (spec/ecs.md §10.2)."""

from __future__ import annotations

import time
from typing import Any

import botocore.exceptions
import pytest

from tests.conftest import make_client

HOUR = 3_600_000
DAY = 24 * HOUR


@pytest.fixture
def logs(endpoint: str) -> Any:
    client = make_client("logs", endpoint)
    client.create_log_group(logGroupName="g")
    client.create_log_stream(logGroupName="g", logStreamName="s")
    return client


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


def now_ms() -> int:
    return int(time.time() * 1000)


def put(logs: Any, events: list[tuple[int, str]], stream: str = "s") -> Any:
    log_events = [{"timestamp": ts, "message": message} for ts, message in events]
    return logs.put_log_events(logGroupName="g", logStreamName=stream, logEvents=log_events)


def stored(logs: Any, stream: str = "s") -> list[str]:
    events = logs.get_log_events(logGroupName="g", logStreamName=stream, startFromHead=True)["events"]
    return [e["message"] for e in events]


# -- PutLogEvents ----------------------------------------------------------------------------------------


def test_put_and_get_round_trip(logs: Any) -> None:
    now = now_ms()
    result = put(logs, [(now - 2, "first"), (now - 1, "second"), (now, "third")])
    assert "rejectedLogEventsInfo" not in result
    events = logs.get_log_events(logGroupName="g", logStreamName="s")["events"]
    assert [(e["timestamp"], e["message"]) for e in events] == [(now - 2, "first"), (now - 1, "second"), (now, "third")]
    assert all(abs(e["ingestionTime"] - now) < 5000 for e in events)


def test_sequence_token_is_accepted_and_ignored(logs: Any) -> None:
    now = now_ms()
    first = put(logs, [(now, "a")])
    second = logs.put_log_events(
        logGroupName="g", logStreamName="s", logEvents=[{"timestamp": now, "message": "b"}], sequenceToken="12345"
    )
    assert first["nextSequenceToken"] != second["nextSequenceToken"]
    assert stored(logs) == ["a", "b"]


def test_put_into_missing_group_or_stream_is_not_found(logs: Any) -> None:
    event = [{"timestamp": now_ms(), "message": "x"}]
    code, message = error_of(logs.put_log_events, logGroupName="nope", logStreamName="s", logEvents=event)
    assert (code, message) == ("ResourceNotFoundException", "The specified log group does not exist.")
    code, message = error_of(logs.put_log_events, logGroupName="g", logStreamName="nope", logEvents=event)
    assert (code, message) == ("ResourceNotFoundException", "The specified log stream does not exist.")
    assert stored(logs) == []


def test_events_out_of_order_are_refused_and_nothing_is_stored(logs: Any) -> None:
    now = now_ms()
    code, message = error_of(
        logs.put_log_events,
        logGroupName="g",
        logStreamName="s",
        logEvents=[{"timestamp": now, "message": "b"}, {"timestamp": now - 1, "message": "a"}],
    )
    assert (code, message) == (
        "InvalidParameterException",
        "Log events in a single PutLogEvents request must be in chronological order.",
    )
    assert stored(logs) == []


def test_more_than_ten_thousand_events_are_refused(logs: Any) -> None:
    now = now_ms()
    events = [{"timestamp": now, "message": "x"} for _ in range(10_001)]
    code, message = error_of(logs.put_log_events, logGroupName="g", logStreamName="s", logEvents=events)
    assert code == "InvalidParameterException"
    assert message.startswith("1 validation error detected: Value ")
    assert message.endswith(
        "at 'logEvents' failed to satisfy constraint: Member must have length less than or equal to 10000"
    )
    assert stored(logs) == []


def test_ten_thousand_events_are_accepted(logs: Any) -> None:
    now = now_ms()
    put(logs, [(now, f"{i}") for i in range(10_000)])
    assert logs.describe_log_groups()["logGroups"][0]["storedBytes"] == sum(len(str(i)) for i in range(10_000))


def test_oversized_event_is_refused(logs: Any) -> None:
    message_bytes = 262_144 - 26 + 1
    code, message = error_of(
        logs.put_log_events,
        logGroupName="g",
        logStreamName="s",
        logEvents=[{"timestamp": now_ms(), "message": "x" * message_bytes}],
    )
    assert (code, message) == ("InvalidParameterException", "Log event too large: 262145 bytes exceeds limit of 262144")
    assert stored(logs) == []


def test_largest_event_is_accepted(logs: Any) -> None:
    put(logs, [(now_ms(), "é" * ((262_144 - 26) // 2))])
    assert stored(logs) == ["é" * 131_059]


def test_oversized_batch_is_refused(logs: Any) -> None:
    now = now_ms()
    events = [(now, "x" * 200_000) for _ in range(5)] + [(now, "y" * 49_000)]
    size = sum(len(m) + 26 for _, m in events)
    assert size > 1_048_576
    code, message = error_of(
        logs.put_log_events,
        logGroupName="g",
        logStreamName="s",
        logEvents=[{"timestamp": ts, "message": m} for ts, m in events],
    )
    assert (code, message) == ("InvalidParameterException", f"Upload too large: {size} bytes exceeds limit of 1048576")
    assert stored(logs) == []


def test_batch_spanning_more_than_a_day_is_refused(logs: Any) -> None:
    now = now_ms()
    code, message = error_of(
        logs.put_log_events,
        logGroupName="g",
        logStreamName="s",
        logEvents=[{"timestamp": now - DAY - 1, "message": "a"}, {"timestamp": now, "message": "b"}],
    )
    assert (code, message) == (
        "InvalidParameterException",
        "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
    )
    assert stored(logs) == []


def test_too_old_and_too_new_events_are_rejected_and_the_rest_stored(logs: Any) -> None:
    now = now_ms()
    result = put(
        logs,
        [(now - 15 * DAY, "old"), (now - 14 * DAY - 5000, "old too"), (now, "ok"), (now + 3 * HOUR, "future")],
    )
    # Too-old end index is exclusive, too-new start index inclusive (API reference).
    assert result["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 2, "tooNewLogEventStartIndex": 3}
    assert stored(logs) == ["ok"]


def test_events_past_retention_are_reported_expired(logs: Any) -> None:
    logs.put_retention_policy(logGroupName="g", retentionInDays=1)
    now = now_ms()
    result = put(logs, [(now - 2 * DAY, "expired"), (now, "ok")])
    assert result["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 1}
    assert stored(logs) == ["ok"]


def test_span_counts_only_accepted_events(logs: Any) -> None:
    now = now_ms()
    result = put(logs, [(now - 20 * DAY, "old"), (now - HOUR, "a"), (now, "b")])
    assert result["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1}
    assert stored(logs) == ["a", "b"]


# -- GetLogEvents ----------------------------------------------------------------------------------------


@pytest.fixture
def ten(logs: Any) -> int:
    """Ten events e0..e9 one millisecond apart; returns the first timestamp."""
    start = now_ms() - 1000
    put(logs, [(start + i, f"e{i}") for i in range(10)])
    return start


def messages(page: dict[str, Any]) -> list[str]:
    return [e["message"] for e in page["events"]]


def test_get_without_start_from_head_returns_the_newest_page(logs: Any, ten: int) -> None:
    page = logs.get_log_events(logGroupName="g", logStreamName="s", limit=3)
    assert messages(page) == ["e7", "e8", "e9"]
    older = logs.get_log_events(logGroupName="g", logStreamName="s", limit=3, nextToken=page["nextBackwardToken"])
    assert messages(older) == ["e4", "e5", "e6"]


def test_forward_pages_end_with_the_same_token(logs: Any, ten: int) -> None:
    seen: list[str] = []
    page = logs.get_log_events(logGroupName="g", logStreamName="s", limit=4, startFromHead=True)
    token = None
    while True:
        seen += messages(page)
        if page["nextForwardToken"] == token:
            break
        token = page["nextForwardToken"]
        page = logs.get_log_events(logGroupName="g", logStreamName="s", limit=4, startFromHead=True, nextToken=token)
    assert seen == [f"e{i}" for i in range(10)]
    assert token is not None and token.startswith("f/") and token.endswith("/s") and len(token) == 60


def test_forward_token_at_the_end_sees_later_events(logs: Any, ten: int) -> None:
    page = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True)
    token = page["nextForwardToken"]
    again = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True, nextToken=token)
    assert again["events"] == [] and again["nextForwardToken"] == token
    put(logs, [(ten + 20, "late")])
    later = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True, nextToken=token)
    assert messages(later) == ["late"]


def test_backward_pages_reach_the_start_and_repeat_the_token(logs: Any, ten: int) -> None:
    page = logs.get_log_events(logGroupName="g", logStreamName="s", limit=6)
    assert messages(page) == [f"e{i}" for i in range(4, 10)]
    page = logs.get_log_events(logGroupName="g", logStreamName="s", limit=6, nextToken=page["nextBackwardToken"])
    assert messages(page) == [f"e{i}" for i in range(4)]
    token = page["nextBackwardToken"]
    end = logs.get_log_events(logGroupName="g", logStreamName="s", limit=6, nextToken=token)
    assert end["events"] == [] and end["nextBackwardToken"] == token
    forward = logs.get_log_events(logGroupName="g", logStreamName="s", limit=2, nextToken=end["nextForwardToken"])
    assert messages(forward) == ["e0", "e1"]


def test_time_range_includes_start_and_excludes_end(logs: Any, ten: int) -> None:
    page = logs.get_log_events(
        logGroupName="g", logStreamName="s", startTime=ten + 2, endTime=ten + 5, startFromHead=True
    )
    assert messages(page) == ["e2", "e3", "e4"]


def test_equal_timestamps_keep_the_order_they_were_put_in(logs: Any) -> None:
    now = now_ms()
    put(logs, [(now, "a"), (now, "b")])
    put(logs, [(now - 1, "before"), (now, "c")])
    assert stored(logs) == ["before", "a", "b", "c"]
    page = logs.get_log_events(logGroupName="g", logStreamName="s", limit=2, startFromHead=True)
    rest = logs.get_log_events(
        logGroupName="g", logStreamName="s", startFromHead=True, nextToken=page["nextForwardToken"]
    )
    assert messages(page) + messages(rest) == ["before", "a", "b", "c"]


def test_pages_stop_at_one_megabyte(logs: Any) -> None:
    now = now_ms()
    for batch in range(2):
        put(logs, [(now, f"{batch}{i}" + "x" * 199_998) for i in range(4)])
    page = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True)
    assert [m[:2] for m in messages(page)] == ["00", "01", "02", "03", "10"]
    rest = logs.get_log_events(
        logGroupName="g", logStreamName="s", startFromHead=True, nextToken=page["nextForwardToken"]
    )
    assert [m[:2] for m in messages(rest)] == ["11", "12", "13"]


def test_empty_stream_tokens_see_later_events(logs: Any) -> None:
    page = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True)
    assert page["events"] == []
    put(logs, [(now_ms(), "x")])
    later = logs.get_log_events(logGroupName="g", logStreamName="s", nextToken=page["nextForwardToken"])
    assert messages(later) == ["x"]


def test_token_of_another_stream_is_invalid(logs: Any, ten: int) -> None:
    logs.create_log_stream(logGroupName="g", logStreamName="other")
    token = logs.get_log_events(logGroupName="g", logStreamName="s")["nextForwardToken"]
    for bad in (token, "f/123", "garbage"):
        code, message = error_of(logs.get_log_events, logGroupName="g", logStreamName="other", nextToken=bad)
        assert (code, message) == ("InvalidParameterException", "The specified nextToken is invalid.")


def test_get_from_missing_stream_or_group_is_not_found(logs: Any) -> None:
    code, message = error_of(logs.get_log_events, logGroupName="g", logStreamName="nope")
    assert (code, message) == ("ResourceNotFoundException", "The specified log stream does not exist.")
    code, message = error_of(logs.get_log_events, logGroupName="nope", logStreamName="s")
    assert (code, message) == ("ResourceNotFoundException", "The specified log group does not exist.")


def test_get_by_log_group_identifier(logs: Any, ten: int) -> None:
    arn = logs.describe_log_groups()["logGroups"][0]["logGroupArn"]
    page = logs.get_log_events(logGroupIdentifier=arn, logStreamName="s", limit=1)
    assert messages(page) == ["e9"]
