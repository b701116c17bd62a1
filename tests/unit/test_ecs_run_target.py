"""The ECS target → RunTask translation shared by Scheduler schedules and EventBridge rules."""

from __future__ import annotations

import json

from ecslite.control.ecs_run_target import (
    RunOutcome,
    overrides_from_input,
    rule_started_by,
    run_task_request,
    scheduler_started_by,
)

CLUSTER = "arn:aws:ecs:us-east-1:000000000000:cluster/jobs"


def test_run_task_request_carries_every_ecs_parameter() -> None:
    params = {
        "TaskDefinitionArn": "arn:aws:ecs:us-east-1:000000000000:task-definition/report:3",
        "TaskCount": 2,
        "LaunchType": "FARGATE",
        "PlatformVersion": "1.4.0",
        "Group": "family:reports",
        "EnableECSManagedTags": True,
        "EnableExecuteCommand": False,
        "PropagateTags": "TASK_DEFINITION",
        "ReferenceId": "ref-1",
        "NetworkConfiguration": {
            "awsvpcConfiguration": {"Subnets": ["subnet-a"], "SecurityGroups": ["sg-1"], "AssignPublicIp": "DISABLED"}
        },
        "PlacementConstraints": [{"type": "distinctInstance"}],
        "PlacementStrategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"}],
        "Tags": [{"key": "team", "value": "data"}],
    }
    request = run_task_request(CLUSTER, params, started_by="chronos-schedule/nightly")
    assert request == {
        "cluster": CLUSTER,
        "taskDefinition": params["TaskDefinitionArn"],
        "count": 2,
        "startedBy": "chronos-schedule/nightly",
        "launchType": "FARGATE",
        "platformVersion": "1.4.0",
        "group": "family:reports",
        "enableECSManagedTags": True,
        "enableExecuteCommand": False,
        "propagateTags": "TASK_DEFINITION",
        "referenceId": "ref-1",
        "networkConfiguration": {
            "awsvpcConfiguration": {"subnets": ["subnet-a"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}
        },
        "placementConstraints": [{"type": "distinctInstance"}],
        "placementStrategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"}],
        "tags": [{"key": "team", "value": "data"}],
    }


def test_run_task_request_defaults_to_one_task_and_capacity_provider_strategy() -> None:
    strategy = [{"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}]
    request = run_task_request(
        CLUSTER, {"TaskDefinitionArn": "job:1", "CapacityProviderStrategy": strategy}, started_by="x"
    )
    assert request["count"] == 1 and request["capacityProviderStrategy"] == strategy
    assert "launchType" not in request and "networkConfiguration" not in request and "tags" not in request


def test_tags_in_each_spelling() -> None:
    tags = [{"Key": "a", "Value": "1"}, {"key": "b", "value": "2"}, {"c": "3", "d": "4"}]
    request = run_task_request(CLUSTER, {"TaskDefinitionArn": "job:1", "Tags": tags}, started_by="x")
    assert request["tags"] == [
        {"key": "a", "value": "1"},
        {"key": "b", "value": "2"},
        {"key": "c", "value": "3"},
        {"key": "d", "value": "4"},
    ]


def test_input_of_task_override_members_becomes_overrides() -> None:
    overrides = {"containerOverrides": [{"name": "app", "command": ["report", "--daily"]}], "cpu": "512"}
    request = run_task_request(
        CLUSTER, {"TaskDefinitionArn": "job:1"}, started_by="x", input_text=json.dumps(overrides)
    )
    assert request["overrides"] == overrides
    assert overrides_from_input("plain text") is None
    assert overrides_from_input('{"detail": {}}') is None
    assert overrides_from_input("[1]") is None
    assert overrides_from_input("{}") is None


def test_started_by_fits_ecs_alphabet() -> None:
    assert scheduler_started_by("nightly_report-1") == "chronos-schedule/nightly_report-1"
    assert scheduler_started_by("v1.2") == "chronos-schedule/v1-2"
    assert rule_started_by("on-upload") == "events-rule/on-upload"
    assert len(scheduler_started_by("n" * 200)) == 128


def test_outcome_is_ok_only_when_tasks_started_without_failures() -> None:
    assert RunOutcome.of({"tasks": [{"taskArn": "t1"}], "failures": []}).ok
    failed = RunOutcome.of({"tasks": [], "failures": [{"arn": "c", "reason": "RESOURCE:MEMORY"}]})
    assert not failed.ok and failed.reason == "c RESOURCE:MEMORY"
    refused = RunOutcome.refused("ClusterNotFoundException", "Cluster not found.")
    assert not refused.ok and refused.reason == "ClusterNotFoundException: Cluster not found."
    assert RunOutcome.of({"tasks": []}).reason == "RunTask started no task"
