"""Container instances through boto3 (spec/ecs.md §5.1): register, describe, list, state, deregister."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.test_tasks_helpers import (
    INSTANCE_ARN,
    app,
    ec2_definition,
    error_of,
    register_instance,
    wait_status,
)


def describe_instance(ecs: Any, arn: str, **params: Any) -> dict[str, Any]:
    instance: dict[str, Any] = ecs.describe_container_instances(containerInstances=[arn], **params)[
        "containerInstances"
    ][0]
    return instance


def test_register_creates_an_active_virtual_instance(ecs: Any) -> None:
    instance = ecs.register_container_instance(cluster="default", tags=[{"key": "pool", "value": "a"}])[
        "containerInstance"
    ]
    arn = instance["containerInstanceArn"]
    assert arn.startswith(INSTANCE_ARN + "default/") and len(arn.rsplit("/", 1)[1]) == 32
    assert instance["ec2InstanceId"].startswith("i-") and len(instance["ec2InstanceId"]) == 19
    assert (instance["status"], instance["agentConnected"], instance["version"]) == ("ACTIVE", True, 1)
    registered = {r["name"]: r for r in instance["registeredResources"]}
    assert registered["CPU"]["integerValue"] == 2048 and registered["MEMORY"]["integerValue"] == 3904
    assert registered["PORTS"]["stringSetValue"] == ["22", "2375", "2376", "51678", "51679"]
    assert instance["remainingResources"] == instance["registeredResources"]
    assert (instance["runningTasksCount"], instance["pendingTasksCount"]) == (0, 0)
    attributes = {a["name"]: a.get("value") for a in instance["attributes"]}
    assert attributes["ecs.os-type"] == "linux"
    assert attributes["ecs.availability-zone"] in ("us-east-1a", "us-east-1b", "us-east-1c")
    assert "ecs.capability.task-eni" in attributes
    assert instance["tags"] == [{"key": "pool", "value": "a"}]
    assert ecs.describe_clusters()["clusters"][0]["registeredContainerInstancesCount"] == 1


def test_register_takes_resources_and_identity_from_the_request(ecs: Any) -> None:
    identity = json.dumps(
        {"instanceId": "i-0123456789abcdef0", "availabilityZone": "us-east-1b", "instanceType": "m5.large"}
    )
    arn = register_instance(ecs, cpu=4096, memory=7680, instanceIdentityDocument=identity)
    instance = describe_instance(ecs, arn)
    assert instance["ec2InstanceId"] == "i-0123456789abcdef0"
    attributes = {a["name"]: a.get("value") for a in instance["attributes"]}
    assert (attributes["ecs.availability-zone"], attributes["ecs.instance-type"]) == ("us-east-1b", "m5.large")
    registered = {r["name"]: r.get("integerValue") for r in instance["registeredResources"]}
    assert (registered["CPU"], registered["MEMORY"]) == (4096, 7680)


def test_re_registering_the_same_ec2_instance_keeps_its_arn(ecs: Any) -> None:
    identity = json.dumps({"instanceId": "i-0123456789abcdef0"})
    first = register_instance(ecs, instanceIdentityDocument=identity)
    second = register_instance(ecs, instanceIdentityDocument=identity)
    assert first == second
    assert describe_instance(ecs, first)["version"] == 2
    assert ecs.list_container_instances()["containerInstanceArns"] == [first]


def test_register_with_custom_attributes(ecs: Any) -> None:
    arn = register_instance(ecs, attributes=[{"name": "stack", "value": "prod"}])
    attributes = {a["name"]: a.get("value") for a in describe_instance(ecs, arn)["attributes"]}
    assert attributes["stack"] == "prod"
    listed = ecs.list_attributes(targetType="container-instance", attributeName="stack")["attributes"]
    assert [(a["targetId"], a["value"]) for a in listed] == [(arn, "prod")]


def test_register_rejects_an_identity_document_that_is_not_json(ecs: Any) -> None:
    code, _ = error_of(ecs.register_container_instance, instanceIdentityDocument="not json")
    assert code == "InvalidParameterException"


def test_describe_includes_tags_and_health_only_when_asked(ecs: Any) -> None:
    arn = register_instance(ecs, tags=[{"key": "a", "value": "1"}])
    plain = describe_instance(ecs, arn)
    assert plain["tags"] == [] and "healthStatus" not in plain
    full = describe_instance(ecs, arn, include=["TAGS", "CONTAINER_INSTANCE_HEALTH"])
    assert full["tags"] == [{"key": "a", "value": "1"}]
    assert full["healthStatus"]["overallStatus"] == "OK"
    assert full["healthStatus"]["details"][0]["type"] == "CONTAINER_RUNTIME"


def test_describe_unknown_instances_are_missing_failures(ecs: Any) -> None:
    arn = register_instance(ecs)
    unknown = "a" * 32
    result = ecs.describe_container_instances(containerInstances=[arn.rsplit("/", 1)[1], unknown])
    assert [i["containerInstanceArn"] for i in result["containerInstances"]] == [arn]
    assert result["failures"] == [{"arn": INSTANCE_ARN + "default/" + unknown, "reason": "MISSING"}]


def test_describe_limits(ecs: Any) -> None:
    assert error_of(ecs.describe_container_instances, containerInstances=[]) == (
        "InvalidParameterException",
        "Container instances cannot be empty.",
    )
    assert error_of(ecs.describe_container_instances, containerInstances=["x"] * 101) == (
        "InvalidParameterException",
        "containerInstances can have at most 100 items.",
    )


def test_list_filters_by_status_and_paginates(ecs: Any) -> None:
    arns = [register_instance(ecs) for _ in range(5)]
    ecs.update_container_instances_state(containerInstances=arns[:2], status="DRAINING")
    assert ecs.list_container_instances()["containerInstanceArns"] == arns
    assert ecs.list_container_instances(status="DRAINING")["containerInstanceArns"] == arns[:2]
    assert ecs.list_container_instances(status="ACTIVE")["containerInstanceArns"] == arns[2:]
    page = ecs.list_container_instances(maxResults=2)
    assert page["containerInstanceArns"] == arns[:2] and "nextToken" in page
    pages = ecs.get_paginator("list_container_instances").paginate(PaginationConfig={"PageSize": 2})
    assert [a for p in pages for a in p["containerInstanceArns"]] == arns


def test_update_state_between_active_and_draining(ecs: Any) -> None:
    arn = register_instance(ecs)
    result = ecs.update_container_instances_state(containerInstances=[arn, "b" * 32], status="DRAINING")
    assert [(i["containerInstanceArn"], i["status"], i["version"]) for i in result["containerInstances"]] == [
        (arn, "DRAINING", 2)
    ]
    assert result["failures"] == [{"arn": INSTANCE_ARN + "default/" + "b" * 32, "reason": "MISSING"}]
    back = ecs.update_container_instances_state(containerInstances=[arn], status="ACTIVE")["containerInstances"]
    assert back[0]["status"] == "ACTIVE"


@pytest.mark.parametrize("status", ["REGISTERING", "DEREGISTERING", "REGISTRATION_FAILED"])
def test_update_state_only_to_active_or_draining(ecs: Any, status: str) -> None:
    arn = register_instance(ecs)
    assert error_of(ecs.update_container_instances_state, containerInstances=[arn], status=status) == (
        "InvalidParameterException",
        "Container instance status can only be updated to ACTIVE or DRAINING.",
    )


def test_deregister_an_idle_instance(ecs: Any) -> None:
    arn = register_instance(ecs)
    instance = ecs.deregister_container_instance(containerInstance=arn)["containerInstance"]
    assert (instance["status"], instance["agentConnected"]) == ("INACTIVE", False)
    assert ecs.list_container_instances()["containerInstanceArns"] == []
    assert ecs.list_container_instances(status="ACTIVE")["containerInstanceArns"] == []
    assert describe_instance(ecs, arn)["status"] == "INACTIVE"
    ecs.delete_cluster(cluster="default")


def test_deregister_with_running_tasks_needs_force(ecs: Any) -> None:
    arn = register_instance(ecs)
    definition = ec2_definition(ecs, app(memory=128))
    task = ecs.run_task(taskDefinition=definition, launchType="EC2")["tasks"][0]["taskArn"]
    code, message = error_of(ecs.deregister_container_instance, containerInstance=arn)
    assert code == "InvalidParameterException"
    assert message.startswith("Found running tasks on the instance.")
    ecs.deregister_container_instance(containerInstance=arn, force=True)
    stopped = wait_status(ecs, task, "STOPPED")
    assert stopped["stoppedReason"] == "Container instance deregistration forced by user"


def test_deregister_an_unknown_instance(ecs: Any) -> None:
    assert error_of(ecs.deregister_container_instance, containerInstance="c" * 32) == (
        "InvalidParameterException",
        "The referenced container instance was not found.",
    )


def test_register_on_an_unknown_cluster(ecs: Any) -> None:
    assert error_of(ecs.register_container_instance, cluster="nope") == (
        "ClusterNotFoundException",
        "Cluster not found.",
    )


def test_register_rejects_a_resource_without_a_name(ecs: Any) -> None:
    code, message = error_of(ecs.register_container_instance, totalResources=[{"type": "INTEGER", "integerValue": 1}])
    assert code == "InvalidParameterException"
    assert message.startswith("Invalid totalResources entry")
