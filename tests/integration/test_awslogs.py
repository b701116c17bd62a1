"""The awslogs log driver behind the real server (fake runtime, its scripted output): a container's lines
reach CloudWatch Logs, read back with GetLogEvents, FilterLogEvents (every pattern form) and Logs
Insights; start failures of the logger; stream names; multi-line events; regions (spec/ecs.md §10.1, §3.3)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import make_client
from tests.integration.test_tasks_helpers import (
    app,
    describe,
    ec2_definition,
    fake,
    fargate_definition,
    register_instance,
    run_fargate,
    wait_status,
)

EXECUTION_ROLE = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole"
GROUP = "/ecs/app"
LINES = [
    "GET /health 200 3ms",
    "2>ERROR database timeout after 30s",
    '{"level": "error", "msg": "payment failed", "latency": 250}',
    '{"level": "info", "msg": "payment ok", "latency": 12}',
    "10.0.0.1 alice GET /api 500 1024",
    "10.0.0.2 bob GET /api 200 2048",
    "WARN disk almost full",
    "DEBUG cache miss",
]
PRINTED = [line.removeprefix("2>") for line in LINES]


@pytest.fixture
def logs(endpoint: str) -> Any:
    return make_client("logs", endpoint)


def awslogs(group: str = GROUP, **options: str) -> dict[str, Any]:
    base = {"awslogs-group": group, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}
    return {"logDriver": "awslogs", "options": {**base, **options}}


def run_logging_task(ecs: Any, *containers: dict[str, Any]) -> tuple[str, str]:
    definition = fargate_definition(ecs, *containers, executionRoleArn=EXECUTION_ROLE)
    arn = run_fargate(ecs, definition)["tasks"][0]["taskArn"]
    return arn, arn.rsplit("/", 1)[1]


def events_of(logs: Any, stream: str, group: str = GROUP, wanted: int = 1, timeout: float = 15) -> list[dict[str, Any]]:
    """The stream's events from the head, once there are at least ``wanted``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            events: list[dict[str, Any]] = logs.get_log_events(
                logGroupName=group, logStreamName=stream, startFromHead=True
            )["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        if len(events) >= wanted or time.monotonic() > deadline:
            return events
        time.sleep(0.1)


def filtered(logs: Any, pattern: str) -> list[str]:
    return [e["message"] for e in logs.filter_log_events(logGroupName=GROUP, filterPattern=pattern)["events"]]


def insights(logs: Any, query: str, start_ms: int) -> list[dict[str, str]]:
    started = logs.start_query(
        logGroupName=GROUP, startTime=start_ms // 1000 - 60, endTime=start_ms // 1000 + 600, queryString=query
    )
    deadline = time.monotonic() + 20
    while True:
        result = logs.get_query_results(queryId=started["queryId"])
        if result["status"] == "Complete":
            return [{f["field"]: f["value"] for f in row if f["field"] != "@ptr"} for row in result["results"]]
        assert time.monotonic() < deadline, result["status"]
        time.sleep(0.05)


def test_container_lines_round_trip_through_get_filter_and_insights(ecs: Any, logs: Any) -> None:
    container = app(
        dockerLabels=fake(output="\n".join(LINES)),
        logConfiguration=awslogs(**{"awslogs-create-group": "true"}),
    )
    before = int(time.time() * 1000)
    arn, task_id = run_logging_task(ecs, container)
    stream = f"ecs/app/{task_id}"
    events = events_of(logs, stream, wanted=len(LINES))
    after = int(time.time() * 1000)
    # stdout and stderr in one stream, one event per line, in the order printed.
    assert [e["message"] for e in events] == PRINTED
    assert all(before <= e["timestamp"] <= e["ingestionTime"] <= after for e in events)
    described = logs.describe_log_streams(logGroupName=GROUP)["logStreams"]
    assert [s["logStreamName"] for s in described] == [stream]

    assert filtered(logs, "ERROR timeout") == ["ERROR database timeout after 30s"]
    assert filtered(logs, '"payment failed"') == [LINES[2]]
    assert filtered(logs, "?WARN ?DEBUG") == ["WARN disk almost full", "DEBUG cache miss"]
    assert filtered(logs, "GET -health") == [LINES[4], LINES[5]]
    assert filtered(logs, '{ $.level = "error" }') == [LINES[2]]
    assert filtered(logs, '{ $.latency > 100 || $.msg = "payment ok" }') == [LINES[2], LINES[3]]
    assert filtered(logs, "[ip, user, method, path, status = 5*, size]") == [LINES[4]]

    by_level = insights(
        logs, "filter ispresent(level) | stats count(*) as n, sum(latency) as total by level | sort level", before
    )
    assert by_level == [{"level": "error", "n": "1", "total": "250"}, {"level": "info", "n": "1", "total": "12"}]
    minutes = Counter(e["timestamp"] // 60_000 * 60_000 for e in events)
    by_minute = insights(logs, "stats count(*) as n by bin(1m) | sort n desc", before)
    assert sorted((row["bin(1m)"], row["n"]) for row in by_minute) == sorted(
        (time.strftime("%Y-%m-%d %H:%M:%S.000", time.gmtime(minute // 1000)), str(n)) for minute, n in minutes.items()
    )
    ecs.stop_task(task=arn)


def test_aws_cli_filters_what_a_container_printed(ecs: Any, logs: Any, aws: Callable[..., Any]) -> None:
    logs.create_log_group(logGroupName=GROUP)
    _, task_id = run_logging_task(ecs, app(dockerLabels=fake(output="\n".join(LINES)), logConfiguration=awslogs()))
    events_of(logs, f"ecs/app/{task_id}", wanted=len(LINES))
    found = aws("logs", "filter-log-events", "--log-group-name", GROUP, "--filter-pattern", "?ERROR ?WARN")
    assert [e["message"] for e in found["events"]] == ["ERROR database timeout after 30s", "WARN disk almost full"]
    assert {e["logStreamName"] for e in found["events"]} == {f"ecs/app/{task_id}"}


def test_missing_group_without_create_group_stops_the_task_and_stores_nothing(ecs: Any, logs: Any) -> None:
    arn, _ = run_logging_task(ecs, app(dockerLabels=fake(output="never"), logConfiguration=awslogs()))
    task = wait_status(ecs, arn, "STOPPED")
    reason = (
        "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: "
        "failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not "
        "exist. : exit status 1 Create the log group /ecs/app in us-east-1 first (aws logs create-log-group "
        '--log-group-name /ecs/app), or set awslogs-create-group to "true".'
    )
    assert (task["stopCode"], task["stoppedReason"]) == ("TaskFailedToStart", reason)
    [container] = task["containers"]
    assert (container["lastStatus"], container["reason"]) == ("STOPPED", reason)
    assert "exitCode" not in container and "startedAt" not in task
    assert logs.describe_log_groups()["logGroups"] == []


def test_refused_logger_options_stop_the_task_with_dockers_text(ecs: Any, logs: Any) -> None:
    options = {"awslogs-create-group": "true", "awslogs-datetime-format": "%Y", "awslogs-multiline-pattern": "^x"}
    arn, _ = run_logging_task(ecs, app(logConfiguration=awslogs(**options)))
    task = wait_status(ecs, arn, "STOPPED")
    assert (task["stopCode"], task["stoppedReason"]) == (
        "TaskFailedToStart",
        "ResourceInitializationError: failed to validate logger args: you cannot configure log opt "
        "'awslogs-datetime-format' and 'awslogs-multiline-pattern' at the same time",
    )
    assert logs.describe_log_groups()["logGroups"] == []


def test_multiline_pattern_gathers_a_stack_trace_into_one_event(ecs: Any, logs: Any) -> None:
    output = "INFO start\nERROR failed\nTraceback (most recent call last):\n  File app.py, line 3\nINFO done"
    options = {"awslogs-create-group": "true", "awslogs-multiline-pattern": "^(INFO|ERROR)"}
    container = app(dockerLabels=fake(output=output, run_seconds=0.5), logConfiguration=awslogs(**options))
    arn, task_id = run_logging_task(ecs, container)
    wait_status(ecs, arn, "STOPPED")
    events = events_of(logs, f"ecs/app/{task_id}", wanted=3)
    assert [e["message"] for e in events] == [
        "INFO start\n",
        "ERROR failed\nTraceback (most recent call last):\n  File app.py, line 3\n",
        "INFO done\n",
    ]


def test_datetime_format_starts_each_event(ecs: Any, logs: Any) -> None:
    output = "2024-05-01 10:00:00 one\ncontinued\n2024-05-01 10:00:01 two"
    options = {"awslogs-create-group": "true", "awslogs-datetime-format": "%Y-%m-%d %H:%M:%S"}
    container = app(dockerLabels=fake(output=output, run_seconds=0.5), logConfiguration=awslogs(**options))
    arn, task_id = run_logging_task(ecs, container)
    wait_status(ecs, arn, "STOPPED")
    events = events_of(logs, f"ecs/app/{task_id}", wanted=2)
    assert [e["message"] for e in events] == ["2024-05-01 10:00:00 one\ncontinued\n", "2024-05-01 10:00:01 two\n"]


def test_ec2_without_prefix_names_the_stream_after_the_container_id(ecs: Any, logs: Any) -> None:
    register_instance(ecs)
    options = {"awslogs-group": GROUP, "awslogs-region": "us-east-1", "awslogs-create-group": "true"}
    container = app(
        memory=128, dockerLabels=fake(output="from ec2"), logConfiguration={"logDriver": "awslogs", "options": options}
    )
    arn = ecs.run_task(taskDefinition=ec2_definition(ecs, container), launchType="EC2")["tasks"][0]["taskArn"]
    runtime_id = wait_status(ecs, arn, "RUNNING")["containers"][0]["runtimeId"]
    assert len(runtime_id) == 64
    assert [e["message"] for e in events_of(logs, runtime_id)] == ["from ec2"]


def test_awslogs_region_picks_the_groups_region(ecs: Any, endpoint: str) -> None:
    other = make_client("logs", endpoint, region="eu-west-1")
    other.create_log_group(logGroupName=GROUP)
    container = app(dockerLabels=fake(output="to ireland"), logConfiguration=awslogs(**{"awslogs-region": "eu-west-1"}))
    _, task_id = run_logging_task(ecs, container)
    assert [e["message"] for e in events_of(other, f"ecs/app/{task_id}")] == ["to ireland"]
    assert make_client("logs", endpoint).describe_log_groups()["logGroups"] == []


def test_lines_longer_than_16_kib_are_split_into_events(ecs: Any, logs: Any) -> None:
    long_line = "".join(f"{i:05d}" for i in range(4000))  # 20,000 characters
    options = {"awslogs-create-group": "true"}
    container = app(dockerLabels=fake(output=f"{long_line}\nshort"), logConfiguration=awslogs(**options))
    _, task_id = run_logging_task(ecs, container)
    events = events_of(logs, f"ecs/app/{task_id}", wanted=3)
    assert [e["message"] for e in events] == [long_line[:16384], long_line[16384:], "short"]


def test_containers_without_awslogs_keep_their_output_for_ecslite_logs(ecs: Any, logs: Any, endpoint: str) -> None:
    import httpx

    arn, task_id = run_logging_task(ecs, app(dockerLabels=fake(output="plain\n2>on stderr", run_seconds=0.3)))
    wait_status(ecs, arn, "STOPPED")
    response = httpx.get(f"{endpoint}/_ecslite/tasks/{task_id}/containers/app/output", timeout=10)
    records = [json.loads(line) for line in response.text.splitlines()]
    assert [(r["source"], r["message"]) for r in records] == [("stdout", "plain"), ("stderr", "on stderr")]
    created = describe(ecs, arn)["createdAt"].timestamp() * 1000
    assert all(r["timestamp"] >= int(created) for r in records)
    since = records[1]["timestamp"] + 1
    later = httpx.get(f"{endpoint}/_ecslite/tasks/{task_id}/containers/app/output", params={"since": since})
    assert later.text == ""
    missing = httpx.get(f"{endpoint}/_ecslite/tasks/{task_id}/containers/nope/output")
    assert (missing.status_code, missing.json()) == (404, {"message": f"Task {task_id} has no container named nope."})
    assert logs.describe_log_groups()["logGroups"] == []
