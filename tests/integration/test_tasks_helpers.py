"""Helpers shared by the task integration tests (no tests here)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest

from ecslite.store.vpc import default_ids

TASK_ARN = "arn:aws:ecs:us-east-1:000000000000:task/"
INSTANCE_ARN = "arn:aws:ecs:us-east-1:000000000000:container-instance/"
TIMESTAMP_ORDER = (
    "createdAt",
    "pullStartedAt",
    "pullStoppedAt",
    "startedAt",
    "stoppingAt",
    "executionStoppedAt",
    "stoppedAt",
)
FAST_WAITER = {"Delay": 0.2, "MaxAttempts": 100}
# The default VPC's subnets (one per zone) of the tests' partition; their ids are stable (store.vpc).
DEFAULT_SUBNETS = default_ids("000000000000", "us-east-1", "172.31.0.0/16").subnets
SUBNET = DEFAULT_SUBNETS[0]
SUBNETS = {"awsvpcConfiguration": {"subnets": [SUBNET], "assignPublicIp": "DISABLED"}}


def error_of(call: Callable[..., Any], **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


def fake(**values: Any) -> dict[str, str]:
    """``dockerLabels`` scripting the fake runtime: ``fake(exit_code=1)`` → ``ecslite.fake.exit-code``."""
    return {f"ecslite.fake.{k.replace('_', '-')}": str(v) for k, v in values.items()}


def app(name: str = "app", **members: Any) -> dict[str, Any]:
    return {"name": name, "image": f"example/{name}:1", "essential": True, **members}


def fargate_definition(ecs: Any, *containers: dict[str, Any], family: str = "web", **members: Any) -> str:
    arn: str = ecs.register_task_definition(
        family=family,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=list(containers) or [app()],
        **members,
    )["taskDefinition"]["taskDefinitionArn"]
    return arn


def ec2_definition(ecs: Any, *containers: dict[str, Any], family: str = "batch", **members: Any) -> str:
    members.setdefault("networkMode", "bridge")
    arn: str = ecs.register_task_definition(
        family=family,
        containerDefinitions=list(containers) or [app(memory=256, cpu=256)],
        **members,
    )["taskDefinition"]["taskDefinitionArn"]
    return arn


def run_fargate(ecs: Any, definition: str, **params: Any) -> dict[str, Any]:
    params.setdefault("networkConfiguration", SUBNETS)
    result: dict[str, Any] = ecs.run_task(taskDefinition=definition, launchType="FARGATE", **params)
    return result


def describe(ecs: Any, arn: str, cluster: str = "default", **params: Any) -> dict[str, Any]:
    task: dict[str, Any] = ecs.describe_tasks(cluster=cluster, tasks=[arn], **params)["tasks"][0]
    return task


def wait_until(
    ecs: Any, arn: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20, cluster: str = "default"
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        task = describe(ecs, arn, cluster)
        if predicate(task):
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached in {timeout}s; task is {task['lastStatus']}: {task}")
        time.sleep(0.1)


def wait_status(ecs: Any, arn: str, status: str, timeout: float = 20, cluster: str = "default") -> dict[str, Any]:
    return wait_until(ecs, arn, lambda t: t["lastStatus"] == status, timeout, cluster)


def assert_timestamps_in_order(task: dict[str, Any]) -> None:
    present = [(f, task[f]) for f in TIMESTAMP_ORDER if f in task]
    assert [v for _, v in present] == sorted(v for _, v in present), present


def register_instance(ecs: Any, cluster: str = "default", cpu: int = 1024, memory: int = 2048, **params: Any) -> str:
    resources = [
        {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
    ]
    arn: str = ecs.register_container_instance(cluster=cluster, totalResources=resources, **params)[
        "containerInstance"
    ]["containerInstanceArn"]
    return arn
