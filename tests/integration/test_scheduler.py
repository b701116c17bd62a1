"""EventBridge Scheduler through boto3 and the AWS CLI against a real server (fake runtime): the
REST-JSON API with its errors, and schedules starting ECS tasks through RunTask with the target's
parameters (startedBy, group, tags, network configuration) when they come due."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import RunningServer, make_client
from tests.integration.test_tasks_helpers import DEFAULT_SUBNETS, error_of, fargate_definition

ROLE = "arn:aws:iam::000000000000:role/scheduler"
GROUP_ARN = "arn:aws:scheduler:us-east-1:000000000000:schedule-group/"


@pytest.fixture
def scheduler(endpoint: str) -> Any:
    return make_client("scheduler", endpoint)


def soon(seconds: float = 2) -> str:
    """An ``at()`` expression a few seconds from now (UTC, whole seconds, rounded up)."""
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds + 1)
    return f"at({moment.strftime('%Y-%m-%dT%H:%M:%S')})"


def cluster_arn(ecs: Any, name: str = "jobs") -> str:
    arn: str = ecs.create_cluster(clusterName=name)["cluster"]["clusterArn"]
    return arn


def wait_for_tasks(ecs: Any, cluster: str, started_by: str, count: int, timeout: float = 20) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        arns: list[str] = ecs.list_tasks(cluster=cluster, startedBy=started_by)["taskArns"]
        if len(arns) >= count or time.monotonic() > deadline:
            return arns
        time.sleep(0.2)


def ecs_target(cluster: str, definition: str, **params: Any) -> dict[str, Any]:
    return {"Arn": cluster, "RoleArn": ROLE, "EcsParameters": {"TaskDefinitionArn": definition, **params}}


def test_schedule_starts_fargate_tasks_with_its_parameters(scheduler: Any, ecs: Any) -> None:
    cluster = cluster_arn(ecs)
    definition = fargate_definition(ecs, family="report", tags=[{"key": "owner", "value": "finance"}])
    network = {
        "awsvpcConfiguration": {"Subnets": [DEFAULT_SUBNETS[1]], "AssignPublicIp": "DISABLED"},
    }
    target = ecs_target(
        cluster,
        definition,
        TaskCount=2,
        LaunchType="FARGATE",
        PlatformVersion="1.4.0",
        NetworkConfiguration=network,
        Group="nightly-reports",
        EnableECSManagedTags=True,
        PropagateTags="TASK_DEFINITION",
        Tags=[{"key": "team", "value": "data"}],
    )
    overrides = {"containerOverrides": [{"name": "app", "environment": [{"name": "REPORT", "value": "daily"}]}]}
    created = scheduler.create_schedule(
        Name="report",
        ScheduleExpression=soon(),
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={**target, "Input": json.dumps(overrides)},
        ActionAfterCompletion="DELETE",
    )
    assert created["ScheduleArn"] == "arn:aws:scheduler:us-east-1:000000000000:schedule/default/report"
    arns = wait_for_tasks(ecs, "jobs", "chronos-schedule/report", 2)
    assert len(arns) == 2
    tasks = ecs.describe_tasks(cluster="jobs", tasks=arns, include=["TAGS"])["tasks"]
    for task in tasks:
        assert task["startedBy"] == "chronos-schedule/report"
        assert task["group"] == "nightly-reports"
        assert task["launchType"] == "FARGATE" and task["platformVersion"] == "1.4.0"
        assert task["taskDefinitionArn"] == definition
        assert task["overrides"]["containerOverrides"] == overrides["containerOverrides"]
        tags = {t["key"]: t["value"] for t in task["tags"]}
        assert tags["team"] == "data" and tags["owner"] == "finance"
        assert tags["aws:ecs:clusterName"] == "jobs"
        (eni,) = task["attachments"]
        details = {d["name"]: d["value"] for d in eni["details"]}
        assert details["subnetId"] == DEFAULT_SUBNETS[1]
    # A one-time schedule with ActionAfterCompletion DELETE is gone once it has run.
    deadline = time.monotonic() + 10
    while scheduler.list_schedules()["Schedules"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert error_of(scheduler.get_schedule, Name="report") == (
        "ResourceNotFoundException",
        "Schedule report does not exist.",
    )


def test_failed_run_task_is_logged_and_the_schedule_kept(scheduler: Any, ecs: Any, server: RunningServer) -> None:
    cluster = cluster_arn(ecs, "empty")
    definition = fargate_definition(ecs, family="needs-network")
    # awsvpc without a network configuration: RunTask refuses it, so every attempt fails.
    scheduler.create_schedule(
        Name="broken",
        ScheduleExpression=soon(),
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={**ecs_target(cluster, definition, LaunchType="FARGATE"), "RetryPolicy": {"MaximumRetryAttempts": 0}},
    )
    log = server.data_dir / "server.log"
    deadline = time.monotonic() + 15
    line = None
    while line is None and time.monotonic() < deadline:
        line = next(
            (
                json.loads(text)
                for text in log.read_text().splitlines()
                if "schedule/default/broken" in text and "failed for good" in text
            ),
            None,
        )
        time.sleep(0.2)
    assert line is not None and line["level"] == "warning"
    assert line["reason"].startswith("InvalidParameterException: ") and line["dead_letter_queue"] == "none"
    assert ecs.list_tasks(cluster="empty")["taskArns"] == []
    assert scheduler.get_schedule(Name="broken")["State"] == "ENABLED"


def test_schedule_api_and_its_errors(scheduler: Any, ecs: Any) -> None:
    cluster = cluster_arn(ecs)
    definition = fargate_definition(ecs, family="job")
    target = ecs_target(cluster, definition)
    (group,) = scheduler.list_schedule_groups()["ScheduleGroups"]
    assert group["Name"] == "default" and group["State"] == "ACTIVE" and group["Arn"] == GROUP_ARN + "default"
    made = scheduler.create_schedule_group(Name="batch", Tags=[{"Key": "env", "Value": "dev"}])
    assert made["ScheduleGroupArn"] == GROUP_ARN + "batch"
    assert error_of(scheduler.create_schedule_group, Name="batch") == (
        "ConflictException",
        "Schedule group batch already exists.",
    )
    scheduler.create_schedule_group(Name="adhoc")
    page = scheduler.list_schedule_groups(MaxResults=2)
    assert [g["Name"] for g in page["ScheduleGroups"]] == ["adhoc", "batch"]
    last = scheduler.list_schedule_groups(MaxResults=2, NextToken=page["NextToken"])
    assert [g["Name"] for g in last["ScheduleGroups"]] == ["default"] and "NextToken" not in last
    assert [g["Name"] for g in scheduler.list_schedule_groups(NamePrefix="b")["ScheduleGroups"]] == ["batch"]
    assert error_of(scheduler.list_schedules, NextToken=page["NextToken"]) == (
        "ValidationException",
        "Invalid NextToken.",
    )
    base = {"FlexibleTimeWindow": {"Mode": "OFF"}, "Target": target}
    for name, expression, group_name, state in [
        ("hourly-a", "rate(1 hour)", None, "ENABLED"),
        ("hourly-b", "cron(0 * * * ? *)", "batch", "DISABLED"),
        ("daily", "rate(1 day)", "batch", "ENABLED"),
    ]:
        extra = {"GroupName": group_name} if group_name else {}
        scheduler.create_schedule(Name=name, ScheduleExpression=expression, State=state, **extra, **base)
    got = scheduler.get_schedule(Name="hourly-b", GroupName="batch")
    assert got["Arn"].endswith(":schedule/batch/hourly-b") and got["State"] == "DISABLED"
    assert got["Target"]["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
    assert got["ActionAfterCompletion"] == "NONE"
    names = lambda **kw: [s["Name"] for s in scheduler.list_schedules(**kw)["Schedules"]]  # noqa: E731
    assert names(NamePrefix="hourly") == ["hourly-a", "hourly-b"]
    assert names(GroupName="batch") == ["hourly-b", "daily"]
    assert names(State="ENABLED") == ["hourly-a", "daily"]
    first = scheduler.list_schedules(MaxResults=2)
    assert [s["Name"] for s in first["Schedules"]] == ["hourly-a", "hourly-b"]
    rest = scheduler.list_schedules(MaxResults=2, NextToken=first["NextToken"])
    assert [s["Name"] for s in rest["Schedules"]] == ["daily"] and "NextToken" not in rest
    summary = first["Schedules"][0]
    assert summary["Target"] == {"Arn": cluster} and summary["GroupName"] == "default"
    # Errors: duplicate, unknown schedule or group, bad expression, window and target.
    assert error_of(
        scheduler.create_schedule, Name="daily", GroupName="batch", ScheduleExpression="rate(1 day)", **base
    ) == (
        "ConflictException",
        "Schedule daily already exists.",
    )
    assert error_of(scheduler.get_schedule, Name="daily")[0] == "ResourceNotFoundException"
    assert error_of(scheduler.list_schedules, GroupName="nope") == (
        "ResourceNotFoundException",
        "Schedule group nope does not exist.",
    )
    assert error_of(scheduler.create_schedule, Name="x", ScheduleExpression="rate(1 minutes)", **base) == (
        "ValidationException",
        "Invalid Schedule Expression rate(1 minutes).",
    )
    code, message = error_of(
        scheduler.create_schedule,
        Name="x",
        ScheduleExpression="rate(5 minutes)",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 2000},
        Target=target,
    )
    assert code == "ValidationException" and "maximumWindowInMinutes" in message
    bad_target = {**target, "Arn": "arn:aws:sqs:us-east-1:000000000000:queue"}
    assert (
        error_of(
            scheduler.create_schedule,
            Name="x",
            ScheduleExpression="rate(5 minutes)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target=bad_target,
        )[0]
        == "ValidationException"
    )
    # UpdateSchedule replaces the definition; DeleteSchedule removes it.
    scheduler.update_schedule(
        Name="daily",
        GroupName="batch",
        ScheduleExpression="cron(30 2 * * ? *)",
        ScheduleExpressionTimezone="Europe/Paris",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10},
        Target=target,
    )
    updated = scheduler.get_schedule(Name="daily", GroupName="batch")
    assert updated["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert updated["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10}
    assert updated["LastModificationDate"] >= updated["CreationDate"]
    scheduler.delete_schedule(Name="hourly-a")
    assert error_of(scheduler.delete_schedule, Name="hourly-a")[0] == "ResourceNotFoundException"
    # Tags (schedule groups only) and group deletion, which takes the group's schedules with it.
    arn = GROUP_ARN + "batch"
    scheduler.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "data"}])
    scheduler.untag_resource(ResourceArn=arn, TagKeys=["env"])
    assert scheduler.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "data"}]
    assert error_of(scheduler.list_tags_for_resource, ResourceArn=GROUP_ARN + "gone")[0] == "ResourceNotFoundException"
    assert error_of(scheduler.delete_schedule_group, Name="default")[0] == "ValidationException"
    scheduler.delete_schedule_group(Name="batch")
    assert error_of(scheduler.get_schedule_group, Name="batch")[0] == "ResourceNotFoundException"
    assert names() == []


def test_schedule_through_the_aws_cli(aws: Callable[..., Any], ecs: Any) -> None:
    cluster = cluster_arn(ecs, "cli")
    definition = fargate_definition(ecs, family="cli-job")
    target = ecs_target(
        cluster,
        definition,
        LaunchType="FARGATE",
        NetworkConfiguration={"awsvpcConfiguration": {"Subnets": [DEFAULT_SUBNETS[0]]}},
    )
    created = aws(
        "scheduler",
        "create-schedule",
        "--name",
        "cli-job",
        "--schedule-expression",
        soon(),
        "--flexible-time-window",
        '{"Mode": "OFF"}',
        "--target",
        json.dumps(target),
    )
    assert created["ScheduleArn"].endswith(":schedule/default/cli-job")
    shown = aws("scheduler", "get-schedule", "--name", "cli-job")
    assert shown["Target"]["EcsParameters"]["LaunchType"] == "FARGATE"
    (arn,) = wait_for_tasks(ecs, "cli", "chronos-schedule/cli-job", 1)
    (task,) = ecs.describe_tasks(cluster="cli", tasks=[arn])["tasks"]
    assert task["taskDefinitionArn"] == definition
    listed = aws("scheduler", "list-schedules", "--name-prefix", "cli")
    assert [s["Name"] for s in listed["Schedules"]] == ["cli-job"]
