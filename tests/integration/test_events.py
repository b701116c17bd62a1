"""EventBridge rules through boto3 and the AWS CLI against the real server (fake runtime): the seed's
rule on stopped tasks writing to a log group, PutEvents matched by a custom rule, an ECS target
starting a task, and the API's answers and errors (spec/ecs.md §12.1)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import REGION, make_client
from tests.integration.test_tasks_helpers import (
    SUBNETS,
    app,
    error_of,
    fake,
    fargate_definition,
    run_fargate,
    wait_status,
)

ACCOUNT = "000000000000"
GROUP = "/aws/events/ecs-stopped"
GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}"
SEED_PATTERN = {
    "source": ["aws.ecs"],
    "detail-type": ["ECS Task State Change"],
    "detail": {"lastStatus": ["STOPPED"], "stoppedReason": ["Essential container in task exited"]},
}


@pytest.fixture
def events(endpoint: str) -> Any:
    return make_client("events", endpoint)


@pytest.fixture
def logs(endpoint: str) -> Any:
    return make_client("logs", endpoint)


def logged(logs: Any, wanted: int, group: str = GROUP, timeout: float = 15) -> list[dict[str, Any]]:
    """The group's events once there are at least ``wanted`` (FilterLogEvents across its streams)."""
    deadline = time.monotonic() + timeout
    while True:
        found: list[dict[str, Any]] = logs.filter_log_events(logGroupName=group)["events"]
        if len(found) >= wanted or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_seed_rule_logs_the_stopped_task_event(events: Any, logs: Any, ecs: Any) -> None:
    logs.create_log_group(logGroupName=GROUP)
    arn = events.put_rule(Name="ecs-stopped", EventPattern=json.dumps(SEED_PATTERN))["RuleArn"]
    assert arn == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/ecs-stopped"
    put = events.put_targets(Rule="ecs-stopped", Targets=[{"Id": "log", "Arn": GROUP_ARN}])
    assert (put["FailedEntryCount"], put["FailedEntries"]) == (0, [])
    definition = fargate_definition(ecs, app(dockerLabels=fake(run_seconds=0.2, exit_code=1)))
    task_arn = run_fargate(ecs, definition)["tasks"][0]["taskArn"]
    stopped = wait_status(ecs, task_arn, "STOPPED")
    assert stopped["stoppedReason"] == "Essential container in task exited"
    [record] = logged(logs, 1)
    event = json.loads(record["message"])
    assert (event["source"], event["detail-type"], event["resources"]) == (
        "aws.ecs",
        "ECS Task State Change",
        [task_arn],
    )
    assert event["detail"]["lastStatus"] == "STOPPED"
    assert event["detail"]["containers"][0]["exitCode"] == 1
    # One stream per event, named after its id; the record is readable with GetLogEvents too.
    assert record["logStreamName"] == event["id"]
    again = logs.get_log_events(logGroupName=GROUP, logStreamName=event["id"], startFromHead=True)["events"]
    assert [e["message"] for e in again] == [record["message"]]
    time.sleep(0.3)  # the RUNNING and other changes of the task matched nothing
    assert len(logs.filter_log_events(logGroupName=GROUP)["events"]) == 1


def test_put_events_reach_a_custom_rule_through_an_input_transformer(events: Any, logs: Any) -> None:
    logs.create_log_group(logGroupName=GROUP)
    pattern = {"source": ["shop.orders"], "detail": {"total": [{"exists": True}], "state": ["PAID"]}}
    events.put_rule(Name="paid", EventPattern=json.dumps(pattern), Description="paid orders")
    transformer = {
        "InputPathsMap": {"id": "$.detail.id", "total": "$.detail.total", "time": "$.time"},
        "InputTemplate": '{"timestamp": <time>, "message": "order <id> paid <total>"}',
    }
    when = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=1)
    events.put_targets(Rule="paid", Targets=[{"Id": "log", "Arn": GROUP_ARN, "InputTransformer": transformer}])
    entries = [
        {
            "Source": "shop.orders",
            "DetailType": "Order",
            "Detail": json.dumps({"id": "o-1", "state": "PAID", "total": 12}),
            "Time": when,
        },
        {
            "Source": "shop.orders",
            "DetailType": "Order",
            "Detail": json.dumps({"id": "o-2", "state": "NEW", "total": 5}),
        },
        {"Source": "shop.orders", "DetailType": "Order", "Detail": "not json"},
    ]
    result = events.put_events(Entries=entries)
    assert result["FailedEntryCount"] == 1
    assert result["Entries"][2] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    [record] = logged(logs, 1)
    assert record["message"] == "order o-1 paid 12"
    assert record["timestamp"] == int(when.timestamp()) * 1000
    assert record["logStreamName"] == result["Entries"][0]["EventId"]


def test_ecs_target_starts_a_task_on_a_matched_event(events: Any, ecs: Any) -> None:
    definition = fargate_definition(ecs, app(), family="cleanup")
    events.put_rule(Name="cleanup", EventPattern=json.dumps({"source": ["ops.jobs"]}))
    target = {
        "Id": "run",
        "Arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/default",
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecsEventsRole",
        "EcsParameters": {
            "TaskDefinitionArn": definition,
            "LaunchType": "FARGATE",
            "NetworkConfiguration": {"awsvpcConfiguration": {"Subnets": SUBNETS["awsvpcConfiguration"]["subnets"]}},
        },
        "Input": json.dumps({"containerOverrides": [{"name": "app", "environment": [{"name": "JOB", "value": "1"}]}]}),
    }
    events.put_targets(Rule="cleanup", Targets=[target])
    events.put_events(Entries=[{"Source": "ops.jobs", "DetailType": "Job", "Detail": "{}"}])
    deadline = time.monotonic() + 15
    while not (arns := ecs.list_tasks(startedBy="events-rule/cleanup")["taskArns"]):
        assert time.monotonic() < deadline, "no task started"
        time.sleep(0.1)
    task = wait_status(ecs, arns[0], "RUNNING")
    assert task["taskDefinitionArn"] == definition
    assert task["overrides"]["containerOverrides"][0]["environment"] == [{"name": "JOB", "value": "1"}]


def test_rules_are_described_listed_paged_enabled_and_deleted(events: Any) -> None:
    for name in ("b-rule", "a-rule", "c-other"):
        events.put_rule(Name=name, ScheduleExpression="rate(5 minutes)", State="DISABLED")
    events.put_rule(Name="a-rule", EventPattern='{"source": ["x"]}', Description="d")
    described = events.describe_rule(Name="a-rule")
    assert {k: described[k] for k in ("Name", "State", "EventBusName", "CreatedBy", "Description")} == {
        "Name": "a-rule",
        "State": "DISABLED",
        "EventBusName": "default",
        "CreatedBy": ACCOUNT,
        "Description": "d",
    }
    assert "ScheduleExpression" not in described and described["EventPattern"] == '{"source": ["x"]}'
    first = events.list_rules(Limit=2)
    assert [r["Name"] for r in first["Rules"]] == ["a-rule", "b-rule"]
    second = events.list_rules(Limit=2, NextToken=first["NextToken"])
    assert [r["Name"] for r in second["Rules"]] == ["c-other"] and "NextToken" not in second
    assert [r["Name"] for r in events.list_rules(NamePrefix="b")["Rules"]] == ["b-rule"]
    events.enable_rule(Name="b-rule")
    assert events.describe_rule(Name="b-rule")["State"] == "ENABLED"
    events.put_targets(Rule="b-rule", Targets=[{"Id": "1", "Arn": GROUP_ARN}, {"Id": "2", "Arn": GROUP_ARN}])
    assert events.list_rule_names_by_target(TargetArn=GROUP_ARN)["RuleNames"] == ["b-rule"]
    assert [t["Id"] for t in events.list_targets_by_rule(Rule="b-rule")["Targets"]] == ["1", "2"]
    assert error_of(events.delete_rule, Name="b-rule") == (
        "ValidationException",
        "Rule can't be deleted since it has targets.",
    )
    removed = events.remove_targets(Rule="b-rule", Ids=["1", "2"])
    assert removed["FailedEntryCount"] == 0
    events.delete_rule(Name="b-rule")
    assert [r["Name"] for r in events.list_rules()["Rules"]] == ["a-rule", "c-other"]
    assert events.list_event_buses()["EventBuses"] == [
        {"Name": "default", "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"}
    ]


def test_api_errors_have_eventbridge_codes_and_texts(events: Any) -> None:
    assert error_of(events.describe_rule, Name="nope") == (
        "ResourceNotFoundException",
        "Rule nope does not exist on EventBus default.",
    )
    assert error_of(events.put_targets, Rule="nope", Targets=[{"Id": "1", "Arn": GROUP_ARN}]) == (
        "ResourceNotFoundException",
        "Rule nope does not exist on EventBus default.",
    )
    assert error_of(events.put_rule, Name="r", EventPattern='{"source": ["x"]}', EventBusName="orders") == (
        "ResourceNotFoundException",
        "Event bus orders does not exist.",
    )
    code, message = error_of(events.put_rule, Name="r", EventPattern='{"source": "x"}')
    assert code == "InvalidEventPatternException" and message.startswith("Event pattern is not valid. Reason: ")
    assert error_of(events.put_rule, Name="r", ScheduleExpression="rate(0 minutes)")[0] == "ValidationException"
    assert error_of(events.put_rule, Name="r")[0] == "ValidationException"
    events.put_rule(Name="r", EventPattern='{"source": ["x"]}')
    targets = [{"Id": str(i), "Arn": GROUP_ARN} for i in range(6)]
    assert error_of(events.put_targets, Rule="r", Targets=targets)[0] == "LimitExceededException"
    assert events.list_targets_by_rule(Rule="r")["Targets"] == []


def test_test_event_pattern_answers_as_the_rules_match(events: Any) -> None:
    event = {"source": "aws.ecs", "detail-type": "ECS Task State Change", "detail": {"lastStatus": "STOPPED"}}
    pattern = {"source": ["aws.ecs"], "detail": {"lastStatus": [{"anything-but": "RUNNING"}]}}
    assert events.test_event_pattern(EventPattern=json.dumps(pattern), Event=json.dumps(event))["Result"] is True
    pattern["detail"] = {"lastStatus": ["RUNNING"]}
    assert events.test_event_pattern(EventPattern=json.dumps(pattern), Event=json.dumps(event))["Result"] is False


def test_aws_cli_put_rule_and_targets(aws: Callable[..., Any]) -> None:
    made = aws("events", "put-rule", "--name", "cli-rule", "--event-pattern", json.dumps(SEED_PATTERN))
    assert made["RuleArn"] == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/cli-rule"
    aws("events", "put-targets", "--rule", "cli-rule", "--targets", f"Id=log,Arn={GROUP_ARN}")
    described = aws("events", "describe-rule", "--name", "cli-rule")
    assert json.loads(described["EventPattern"]) == SEED_PATTERN and described["State"] == "ENABLED"
    assert [t["Arn"] for t in aws("events", "list-targets-by-rule", "--rule", "cli-rule")["Targets"]] == [GROUP_ARN]
