"""Placement through the API (spec/ecs.md §5): virtual instances made on command, RunTask with
strategies and constraints, its ``failures[]`` shapes, and ListContainerInstances ``filter``."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.integration.test_tasks_helpers import app, ec2_definition, error_of

pytestmark = pytest.mark.integration


def add_instances(endpoint: str, **body: Any) -> list[dict[str, Any]]:
    response = httpx.post(f"{endpoint}/_ecslite/container-instances", json={"cluster": "default", **body}, timeout=10)
    response.raise_for_status()
    instances: list[dict[str, Any]] = response.json()["containerInstances"]
    return instances


def attribute(instance: dict[str, Any], name: str) -> str | None:
    return next((a.get("value") for a in instance["attributes"] if a["name"] == name), None)


def resource(instance: dict[str, Any], kind: str, name: str) -> Any:
    item = next(r for r in instance[kind] if r["name"] == name)
    return item.get("stringSetValue") if item["type"] == "STRINGSET" else item["integerValue"]


def instance_of(ecs: Any, task_arn: str) -> str:
    arn: str = ecs.describe_tasks(tasks=[task_arn])["tasks"][0]["containerInstanceArn"]
    return arn


def test_virtual_instances_register_like_their_type(endpoint: str, ecs: Any) -> None:
    added = add_instances(endpoint, instanceType="m5.large", availabilityZone="us-east-1b", count=3)
    assert len(added) == 3
    described = ecs.describe_container_instances(containerInstances=[i["containerInstanceArn"] for i in added])
    for instance in described["containerInstances"]:
        assert instance["status"] == "ACTIVE" and instance["agentConnected"] is True
        assert instance["ec2InstanceId"].startswith("i-") and len(instance["ec2InstanceId"]) == 19
        assert resource(instance, "registeredResources", "CPU") == 2048
        assert resource(instance, "registeredResources", "MEMORY") == 7824
        assert set(resource(instance, "registeredResources", "PORTS")) == {"22", "2375", "2376", "51678", "51679"}
        assert attribute(instance, "ecs.instance-type") == "m5.large"
        assert attribute(instance, "ecs.availability-zone") == "us-east-1b"
        assert attribute(instance, "ecs.os-type") == "linux"
        assert attribute(instance, "ecs.cpu-architecture") == "x86_64"
        assert attribute(
            instance,
            "ecs.ami-id",
        ).startswith("ami-")  # type: ignore[union-attr]
        assert attribute(
            instance,
            "ecs.subnet-id",
        ).startswith("subnet-")  # type: ignore[union-attr]
        assert attribute(
            instance,
            "ecs.vpc-id",
        ).startswith("vpc-")  # type: ignore[union-attr]
        assert any(a["name"] == "ecs.capability.task-eni" for a in instance["attributes"])


def test_virtual_instances_without_a_zone_go_round_robin(endpoint: str) -> None:
    added = add_instances(endpoint, instanceType="t3.medium", count=6)
    zones = Counter(attribute(i, "ecs.availability-zone") for i in added)
    assert len(zones) >= 2 and max(zones.values()) - min(zones.values()) <= 1


def test_gpu_and_graviton_types(endpoint: str) -> None:
    (gpu,) = add_instances(endpoint, instanceType="g4dn.12xlarge")
    assert len(resource(gpu, "registeredResources", "GPU")) == 4
    (arm,) = add_instances(endpoint, instanceType="c6g.large")
    assert attribute(arm, "ecs.cpu-architecture") == "arm64"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"instanceType": "m99.huge"}, "Unknown instance type 'm99.huge'"),
        ({"instanceType": "m5.large", "availabilityZone": "eu-west-1a"}, "is not in region us-east-1"),
        ({"instanceType": "m5.large", "count": 0}, "count must be between 1 and 100"),
        ({"instanceType": "m5.large", "cluster": "nope"}, "Cluster not found."),
        ({"instanceType": "m5.large", "capacityProvider": "nope"}, "Capacity provider 'nope'"),
    ],
)
def test_virtual_instance_errors(endpoint: str, body: dict[str, Any], fragment: str) -> None:
    response = httpx.post(f"{endpoint}/_ecslite/container-instances", json={"cluster": "default", **body}, timeout=10)
    assert response.status_code == 400
    assert fragment in response.json()["message"]


def test_cli_adds_lists_and_removes_instances(endpoint: str, ecs: Any) -> None:
    def cli(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "ecslite", *args, "--endpoint", endpoint],
            capture_output=True,
            text=True,
            timeout=60,
            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    out = cli("instances", "add", "--cluster", "default", "--type", "t3.large", "--az", "us-east-1a", "--count", "2")
    assert out.count("t3.large") == 2 and "us-east-1a" in out
    arns = ecs.list_container_instances()["containerInstanceArns"]
    assert len(arns) == 2
    listed = cli("instances", "list", "--filter", "attribute:ecs.instance-type == t3.large")
    assert all(arn.rsplit("/", 1)[-1] in listed for arn in arns)
    removed = cli("instances", "remove", arns[0].rsplit("/", 1)[-1])
    assert "INACTIVE" in removed
    assert ecs.list_container_instances()["containerInstanceArns"] == arns[1:]


def test_list_container_instances_filter(endpoint: str, ecs: Any) -> None:
    small = add_instances(endpoint, instanceType="t3.small", availabilityZone="us-east-1a", count=2)
    large = add_instances(
        endpoint, instanceType="m5.large", availabilityZone="us-east-1b", attributes={"stack": "prod"}
    )
    small_arns = [i["containerInstanceArn"] for i in small]
    large_arns = [i["containerInstanceArn"] for i in large]

    def listed(expression: str, **params: Any) -> list[str]:
        arns: list[str] = ecs.list_container_instances(filter=expression, **params)["containerInstanceArns"]
        return arns

    assert listed("attribute:ecs.instance-type == t3.small") == small_arns
    assert listed("attribute:ecs.instance-type =~ t3.*") == small_arns
    assert listed("attribute:ecs.availability-zone in [us-east-1b, us-east-1c]") == large_arns
    assert listed("attribute:stack exists") == large_arns
    assert listed("not(attribute:stack == prod)") == small_arns
    assert listed("attribute:stack != prod") == []
    assert listed("runningTasksCount == 0 and agentConnected == true") == small_arns + large_arns
    assert listed("registeredAt > 2020-01-01") == small_arns + large_arns
    assert listed(f"ec2InstanceId == {small[1]['ec2InstanceId']}") == small_arns[1:]
    page = ecs.list_container_instances(filter="attribute:ecs.os-type == linux", maxResults=2)
    assert page["containerInstanceArns"] == small_arns and "nextToken" in page
    rest = ecs.list_container_instances(filter="attribute:ecs.os-type == linux", nextToken=page["nextToken"])
    assert rest["containerInstanceArns"] == large_arns


def test_list_filter_sees_task_groups(endpoint: str, ecs: Any) -> None:
    added = add_instances(endpoint, instanceType="m5.large", count=2)
    task = ecs.run_task(taskDefinition=ec2_definition(ecs), group="batch-a")["tasks"][0]
    assert ecs.list_container_instances(filter="task:group == batch-a")["containerInstanceArns"] == [
        task["containerInstanceArn"]
    ]
    others = ecs.list_container_instances(filter="not(task:group == batch-a)")["containerInstanceArns"]
    assert others == [
        i["containerInstanceArn"] for i in added if i["containerInstanceArn"] != task["containerInstanceArn"]
    ]


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("attribute:ecs.instance-type ==", "ends too early"),
        ("colour == red", "Unexpected 'colour'"),
        ("runningTasksCount =~ 3", "cannot be used with runningTasksCount"),
        ("registeredAt < tomorrow", "registeredAt takes a date"),
    ],
)
def test_malformed_filter_is_invalid_parameter(ecs: Any, expression: str, fragment: str) -> None:
    code, message = error_of(ecs.list_container_instances, filter=expression)
    assert code == "InvalidParameterException"
    assert message.startswith(f"Invalid filter expression '{expression}'.") and fragment in message


def test_run_task_binpack_memory_fills_the_fullest_instance(endpoint: str, ecs: Any) -> None:
    big, small = (add_instances(endpoint, instanceType=t)[0]["containerInstanceArn"] for t in ("m5.xlarge", "m5.large"))
    definition = ec2_definition(ecs, app(memory=1024, cpu=128))
    tasks = ecs.run_task(
        taskDefinition=definition, count=9, placementStrategy=[{"type": "binpack", "field": "memory"}]
    )["tasks"]
    placed = Counter(t["containerInstanceArn"] for t in tasks)
    assert placed == {small: 7, big: 2}  # m5.large offers 7824 MiB: seven 1 GiB tasks, then the bigger one


def test_run_task_spread_by_zone_then_instance(endpoint: str, ecs: Any) -> None:
    for zone in ("us-east-1a", "us-east-1b", "us-east-1c"):
        add_instances(endpoint, instanceType="m5.large", availabilityZone=zone, count=2)
    definition = ec2_definition(ecs, app(memory=128, cpu=64))
    strategy = [
        {"type": "spread", "field": "attribute:ecs.availability-zone"},
        {"type": "spread", "field": "instanceId"},
    ]
    tasks = ecs.run_task(taskDefinition=definition, count=6, placementStrategy=strategy, group="spread")["tasks"]
    assert Counter(t["availabilityZone"] for t in tasks) == {"us-east-1a": 2, "us-east-1b": 2, "us-east-1c": 2}
    assert len({t["containerInstanceArn"] for t in tasks}) == 6


def test_run_task_member_of_and_distinct_instance(endpoint: str, ecs: Any) -> None:
    add_instances(endpoint, instanceType="t3.medium", count=2)
    wanted = [i["containerInstanceArn"] for i in add_instances(endpoint, instanceType="c5.large", count=2)]
    definition = ec2_definition(ecs, app(memory=128, cpu=64))
    result = ecs.run_task(
        taskDefinition=definition,
        count=3,
        group="pinned",
        placementConstraints=[
            {"type": "memberOf", "expression": "attribute:ecs.instance-type =~ c5.*"},
            {"type": "distinctInstance"},
        ],
    )
    assert sorted(t["containerInstanceArn"] for t in result["tasks"]) == sorted(wanted)
    (failure,) = result["failures"]
    assert failure["reason"] == "ATTRIBUTE"
    assert failure["arn"].startswith("arn:aws:ecs:us-east-1:000000000000:container-instance/default/")
    assert "DistinctInstance placement constraint unsatisfied" in failure["detail"]
    assert "MemberOf placement constraint unsatisfied" in failure["detail"]


def test_task_definition_member_of_constraint_applies(endpoint: str, ecs: Any) -> None:
    add_instances(endpoint, instanceType="t3.medium")
    (arm,) = add_instances(endpoint, instanceType="t4g.medium")
    definition = ec2_definition(
        ecs,
        app(memory=128),
        placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.cpu-architecture == arm64"}],
    )
    tasks = ecs.run_task(taskDefinition=definition, count=2)["tasks"]
    assert {t["containerInstanceArn"] for t in tasks} == {arm["containerInstanceArn"]}


@pytest.mark.parametrize(
    ("container", "reason"),
    [
        (app(memory=100_000), "RESOURCE:MEMORY"),
        (app(memory=128, cpu=10_000), "RESOURCE:CPU"),
        (app(memory=128, portMappings=[{"containerPort": 80, "hostPort": 22}]), "RESOURCE:PORTS"),
        (app(memory=128, portMappings=[{"containerPort": 53, "hostPort": 53, "protocol": "udp"}]), None),
        (app(memory=128, resourceRequirements=[{"type": "GPU", "value": "1"}]), "RESOURCE:GPU"),
    ],
)
def test_run_task_failures_have_ecs_shapes(
    endpoint: str, ecs: Any, container: dict[str, Any], reason: str | None
) -> None:
    (instance,) = add_instances(endpoint, instanceType="m5.large")
    definition = ec2_definition(ecs, container)
    result = ecs.run_task(taskDefinition=definition, count=2)
    if reason is None:  # one UDP port: the first task takes it, the second finds it in use
        assert len(result["tasks"]) == 1
        reason = "RESOURCE:PORTS_UDP"
    else:
        assert result["tasks"] == []
    failure = result["failures"][-1]
    assert failure == {
        "arn": instance["containerInstanceArn"],
        "reason": reason,
        "detail": failure["detail"],
    }
    assert failure["detail"].startswith("No container instance met all of the task's requirements. 1 instance:")


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"placementStrategy": [{"type": "binpack", "field": "disk"}]}, "binpack"),
        ({"placementStrategy": [{"type": "spread"}]}, "spread"),
        ({"placementConstraints": [{"type": "memberOf", "expression": "zone = a"}]}, "Invalid placement constraint"),
        ({"placementConstraints": [{"type": "memberOf"}]}, "An expression must be specified"),
    ],
)
def test_run_task_refuses_bad_placement(endpoint: str, ecs: Any, params: dict[str, Any], fragment: str) -> None:
    add_instances(endpoint, instanceType="m5.large")
    code, message = error_of(ecs.run_task, taskDefinition=ec2_definition(ecs), **params)
    assert code == "InvalidParameterException" and fragment in message
