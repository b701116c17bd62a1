"""Every RunTask/StopTask/DescribeTasks/ListTasks rejection, with ECS's error type and exact message."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_tasks_helpers import (
    SUBNETS,
    app,
    ec2_definition,
    error_of,
    fargate_definition,
    run_fargate,
)

BOTH = (
    "InvalidParameterException",
    "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
)


@pytest.mark.parametrize("count", [0, 11])
def test_run_task_count_must_be_between_one_and_ten(ecs: Any, count: int) -> None:
    definition = fargate_definition(ecs)
    assert error_of(ecs.run_task, taskDefinition=definition, count=count, launchType="FARGATE") == (
        "InvalidParameterException",
        "count must be between 1 and 10.",
    )


def test_run_task_rejects_launch_type_with_capacity_provider_strategy(ecs: Any) -> None:
    definition = fargate_definition(ecs)
    strategy = [{"capacityProvider": "FARGATE", "weight": 1}]
    assert (
        error_of(
            ecs.run_task,
            taskDefinition=definition,
            launchType="FARGATE",
            capacityProviderStrategy=strategy,
            networkConfiguration=SUBNETS,
        )
        == BOTH
    )


def test_run_task_on_an_unknown_cluster(ecs: Any) -> None:
    definition = fargate_definition(ecs)
    assert error_of(run_fargate, ecs=ecs, definition=definition, cluster="nope") == (
        "ClusterNotFoundException",
        "Cluster not found.",
    )


def test_run_task_with_an_unknown_task_definition(ecs: Any) -> None:
    assert error_of(run_fargate, ecs=ecs, definition="missing:3") == (
        "ClientException",
        "Unable to describe task definition.",
    )


def test_run_task_with_an_inactive_revision(ecs: Any) -> None:
    definition = fargate_definition(ecs)
    ecs.deregister_task_definition(taskDefinition=definition)
    assert error_of(run_fargate, ecs=ecs, definition=definition) == ("ClientException", "TaskDefinition is inactive")
    assert error_of(run_fargate, ecs=ecs, definition="web") == (
        "ClientException",
        "Unable to describe task definition.",
    )


def test_run_task_with_a_launch_type_the_definition_does_not_support(ecs: Any) -> None:
    definition = ec2_definition(ecs)
    assert error_of(run_fargate, ecs=ecs, definition=definition, networkConfiguration=SUBNETS) == (
        "InvalidParameterException",
        "Task definition does not support launch_type FARGATE.",
    )


def test_awsvpc_needs_a_network_configuration(ecs: Any) -> None:
    definition = fargate_definition(ecs)
    assert error_of(ecs.run_task, taskDefinition=definition, launchType="FARGATE") == (
        "InvalidParameterException",
        "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
    )


def test_other_network_modes_reject_a_network_configuration(ecs: Any) -> None:
    ecs.register_container_instance(cluster="default")
    definition = ec2_definition(ecs)
    assert error_of(ecs.run_task, taskDefinition=definition, launchType="EC2", networkConfiguration=SUBNETS) == (
        "InvalidParameterException",
        "Network Configuration is not valid for the given networkMode of this task definition.",
    )


@pytest.mark.parametrize(
    ("vpc", "message"),
    [
        ({"subnets": [f"subnet-{i}" for i in range(17)]}, "subnets can have at most 16 items."),
        ({"subnets": []}, "subnets can not be empty."),
        (
            {"subnets": ["subnet-1"], "securityGroups": [f"sg-{i}" for i in range(6)]},
            "securityGroups can have at most 5 items.",
        ),
        (
            {"subnets": ["vpc-123"]},
            "Error retrieving subnet information for [vpc-123]: The subnet ID 'vpc-123' does not exist "
            "(ErrorCode: InvalidSubnetID.NotFound)",
        ),
    ],
)
def test_awsvpc_configuration_limits(ecs: Any, vpc: dict[str, Any], message: str) -> None:
    definition = fargate_definition(ecs)
    config = {"awsvpcConfiguration": vpc}
    assert error_of(run_fargate, ecs=ecs, definition=definition, networkConfiguration=config) == (
        "InvalidParameterException",
        message,
    )


def test_public_ip_only_on_fargate(ecs: Any) -> None:
    ecs.register_container_instance(cluster="default")
    definition = ec2_definition(ecs, networkMode="awsvpc")
    config = {"awsvpcConfiguration": {"subnets": ["subnet-1"], "assignPublicIp": "ENABLED"}}
    assert error_of(ecs.run_task, taskDefinition=definition, launchType="EC2", networkConfiguration=config) == (
        "InvalidParameterException",
        "Assign public IP is not supported for this launch type.",
    )


def test_unknown_platform_version(ecs: Any) -> None:
    definition = fargate_definition(ecs)
    code, message = error_of(run_fargate, ecs=ecs, definition=definition, platformVersion="1.2.0")
    assert code == "PlatformUnknownException"
    assert message.startswith("The specified platform version does not exist.")


@pytest.mark.parametrize("version", ["LATEST", "1.4.0", "1.3.0"])
def test_known_platform_versions(ecs: Any, version: str) -> None:
    task = run_fargate(ecs, fargate_definition(ecs), platformVersion=version)["tasks"][0]
    assert task["platformVersion"] == ("1.4.0" if version == "LATEST" else version)


def test_platform_version_must_be_null_on_ec2(ecs: Any) -> None:
    ecs.register_container_instance(cluster="default")
    definition = ec2_definition(ecs)
    assert error_of(ecs.run_task, taskDefinition=definition, launchType="EC2", platformVersion="LATEST") == (
        "InvalidParameterException",
        "The platform version must be null when specifying an EC2 launch type.",
    )


def test_override_for_an_unknown_container(ecs: Any) -> None:
    definition = fargate_definition(ecs)
    overrides = {"containerOverrides": [{"name": "django", "command": ["migrate"]}]}
    assert error_of(run_fargate, ecs=ecs, definition=definition, overrides=overrides) == (
        "InvalidParameterException",
        "Override for container named django is not a container in the TaskDefinition.",
    )


def test_override_without_a_name(ecs: Any) -> None:
    definition = fargate_definition(ecs)
    overrides = {"containerOverrides": [{"command": ["migrate"]}]}
    assert error_of(run_fargate, ecs=ecs, definition=definition, overrides=overrides) == (
        "InvalidParameterException",
        "name cannot be blank.",
    )


def test_overrides_longer_than_8192_characters(ecs: Any) -> None:
    definition = fargate_definition(ecs)
    overrides = {"containerOverrides": [{"name": "app", "command": ["echo", "x" * 8200]}]}
    assert error_of(run_fargate, ecs=ecs, definition=definition, overrides=overrides) == (
        "InvalidParameterException",
        "Container Overrides length must be at most 8192",
    )


def test_fargate_size_override_must_stay_a_fargate_size(ecs: Any) -> None:
    definition = fargate_definition(ecs)
    code, message = error_of(run_fargate, ecs=ecs, definition=definition, overrides={"memory": "4096"})
    assert code == "ClientException"
    assert "cpu 256 with memory 4096" in message


def test_started_by_allows_only_its_characters(ecs: Any) -> None:
    definition = fargate_definition(ecs)
    code, message = error_of(run_fargate, ecs=ecs, definition=definition, startedBy="me and you")
    assert code == "InvalidParameterException"
    assert message.startswith("startedBy can have up to 128 letters")
    code, _ = error_of(run_fargate, ecs=ecs, definition=definition, startedBy="x" * 129)
    assert code == "InvalidParameterException"


def test_client_token_reused_with_other_input_is_a_conflict(ecs: Any) -> None:
    definition = fargate_definition(ecs)
    first = run_fargate(ecs, definition, clientToken="tok")["tasks"][0]["taskArn"]
    code, message = error_of(run_fargate, ecs=ecs, definition=definition, clientToken="tok", count=2)
    assert code == "ConflictException"
    assert first in message


def test_ec2_launch_without_container_instances(ecs: Any) -> None:
    definition = ec2_definition(ecs)
    assert error_of(ecs.run_task, taskDefinition=definition, launchType="EC2") == (
        "InvalidParameterException",
        "No Container Instances were found in your cluster.",
    )
    # Neither a launch type nor a strategy: EC2 (§5.6).
    assert error_of(ecs.run_task, taskDefinition=definition) == (
        "InvalidParameterException",
        "No Container Instances were found in your cluster.",
    )


def test_strategy_with_a_provider_not_associated_with_the_cluster(ecs: Any) -> None:
    definition = fargate_definition(ecs)
    code, message = error_of(
        ecs.run_task,
        taskDefinition=definition,
        capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
        networkConfiguration=SUBNETS,
    )
    assert code == "InvalidParameterException"
    assert message.startswith(
        "The specified capacity provider strategy cannot contain a capacity provider that is not associated"
    )


# -- StopTask ------------------------------------------------------------------------------------


def test_stop_task_of_an_unknown_task(ecs: Any) -> None:
    assert error_of(ecs.stop_task, task="0" * 32) == ("InvalidParameterException", "The referenced task was not found.")


def test_stop_task_by_arn_of_another_cluster(ecs: Any) -> None:
    arn = run_fargate(ecs, fargate_definition(ecs))["tasks"][0]["taskArn"]
    ecs.create_cluster(clusterName="other")
    assert error_of(ecs.stop_task, cluster="other", task=arn) == (
        "InvalidParameterException",
        "The referenced task was not found.",
    )


def test_stop_task_on_an_unknown_cluster(ecs: Any) -> None:
    assert error_of(ecs.stop_task, cluster="nope", task="0" * 32) == ("ClusterNotFoundException", "Cluster not found.")


# -- DescribeTasks ---------------------------------------------------------------------------------


def test_describe_tasks_needs_at_least_one_task(ecs: Any) -> None:
    assert error_of(ecs.describe_tasks, tasks=[]) == ("InvalidParameterException", "Tasks cannot be empty.")


def test_describe_tasks_takes_at_most_100(ecs: Any) -> None:
    assert error_of(ecs.describe_tasks, tasks=["0" * 32] * 101) == (
        "InvalidParameterException",
        "tasks can have at most 100 items.",
    )


def test_describe_tasks_on_an_unknown_cluster(ecs: Any) -> None:
    assert error_of(ecs.describe_tasks, cluster="nope", tasks=["x"]) == (
        "ClusterNotFoundException",
        "Cluster not found.",
    )


# -- ListTasks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("other", [{"family": "web"}, {"launchType": "FARGATE"}, {"serviceName": "svc"}])
def test_list_tasks_started_by_must_be_alone(ecs: Any, other: dict[str, str]) -> None:
    assert error_of(ecs.list_tasks, startedBy="me", **other) == (
        "InvalidParameterException",
        "cannot specify startedBy with other arguments",
    )


def test_list_tasks_service_name_with_other_filters(ecs: Any) -> None:
    assert error_of(ecs.list_tasks, serviceName="svc", family="web") == (
        "InvalidParameterException",
        "cannot specify serviceName with other arguments",
    )


@pytest.mark.parametrize("size", [0, 101])
def test_list_tasks_page_size_range(ecs: Any, size: int) -> None:
    assert error_of(ecs.list_tasks, maxResults=size) == (
        "InvalidParameterException",
        "maxResults must be between 1 and 100.",
    )


def test_list_tasks_rejects_a_token_it_never_issued(ecs: Any) -> None:
    assert error_of(ecs.list_tasks, nextToken="not-a-token") == ("InvalidParameterException", "Invalid nextToken.")


def test_list_tasks_on_an_unknown_cluster(ecs: Any) -> None:
    assert error_of(ecs.list_tasks, cluster="nope") == ("ClusterNotFoundException", "Cluster not found.")


def test_start_task_needs_at_most_ten_instances(ecs: Any) -> None:
    definition = ec2_definition(ecs, app(memory=128))
    assert error_of(ecs.start_task, taskDefinition=definition, containerInstances=["x"] * 11) == (
        "InvalidParameterException",
        "containerInstances can have at most 10 items.",
    )
