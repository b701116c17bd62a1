"""CloudFormation's ECS resource handlers (Cluster, TaskDefinition, ClusterCapacityProviderAssociations,
Service) driven against an in-process server's providers on the fake runtime and a fake clock: what
they make shows through ECS's own operations, replacement decisions follow CloudFormation's "Update
requires", services are waited for until stable (and fail on the circuit breaker), deletes are
idempotent, and PascalCase properties with numbers and booleans as strings are taken as the API's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ecslite.clock import FakeClock
from ecslite.protocol.errors import AwsError
from ecslite.providers.calls import Calls
from ecslite.providers.cloudformation.resources import ecs
from ecslite.providers.cloudformation.resources.base import (
    HANDLERS,
    Physical,
    ResourceContext,
    ResourceFailed,
    ResourceHandler,
)
from ecslite.server import Server
from tests.unit.test_express_canary import running

T = TypeVar("T")
STACK = "stk"
STACK_ID = f"arn:aws:cloudformation:us-east-1:000000000000:stack/{STACK}/6a1f7c2e-0000-4000-8000-000000000001"
STACK_TAGS = [
    {"Key": "aws:cloudformation:stack-name", "Value": STACK},
    {"Key": "aws:cloudformation:logical-id", "Value": "X"},
    {"Key": "team", "Value": "shop"},
]
Scenario = Callable[[Server, FakeClock, Calls], Awaitable[None]]


def run(tmp_path: Path, scenario: Scenario) -> None:
    async def main() -> None:
        async with running(tmp_path) as (server, clock, call):
            await scenario(server, clock, call)

    asyncio.run(main())


def context(call: Calls, clock: FakeClock, logical_id: str) -> ResourceContext:
    return ResourceContext(call, clock, STACK, STACK_ID, logical_id, [dict(t) for t in STACK_TAGS])


async def drive(clock: FakeClock, work: Awaitable[T], limit: float = 900.0) -> T:
    """Runs a handler's operation while the fake clock moves on in half seconds (``limit`` at most)."""
    task = asyncio.ensure_future(work)
    deadline = clock.now() + limit
    while not task.done():
        if clock.now() >= deadline:
            task.cancel()
            raise AssertionError("the handler did not finish in time")
        await clock.run_for(0.5, 0.5)
    return task.result()


async def subnets(call: Calls) -> list[str]:
    return [s["SubnetId"] for s in (await call("ec2", "DescribeSubnets", {}))["Subnets"]]


async def ecs_tags(call: Calls, arn: str) -> dict[str, str]:
    return {t["key"]: t["value"] for t in (await call("ecs", "ListTagsForResource", {"resourceArn": arn}))["tags"]}


async def describe_service(call: Calls, cluster: str, arn: str) -> dict[str, Any]:
    found: dict[str, Any] = (await call("ecs", "DescribeServices", {"cluster": cluster, "services": [arn]}))[
        "services"
    ][0]
    return found


def task_definition(image: str = "example/web:1", **labels: str) -> dict[str, Any]:
    """A Fargate task definition as a template writes it: PascalCase, numbers and booleans as strings."""
    container: dict[str, Any] = {
        "Name": "web",
        "Image": image,
        "Essential": "true",
        "PortMappings": [{"ContainerPort": "80", "Protocol": "tcp"}],
    }
    if labels:
        container["DockerLabels"] = labels
    return {
        "RequiresCompatibilities": ["FARGATE"],
        "NetworkMode": "awsvpc",
        "Cpu": 256,
        "Memory": "512",
        "ContainerDefinitions": [container],
    }


async def cluster_with_definition(call: Calls, clock: FakeClock, **labels: str) -> tuple[str, Physical, dict[str, Any]]:
    """A cluster, a task definition and the properties of a one-task Fargate service running it."""
    cluster = await HANDLERS["AWS::ECS::Cluster"].create(context(call, clock, "Cluster"), {"ClusterName": "shop"})
    definition = await HANDLERS["AWS::ECS::TaskDefinition"].create(
        context(call, clock, "TaskDef"), task_definition(**labels)
    )
    props = {
        "Cluster": cluster.physical_id,
        "TaskDefinition": definition.physical_id,
        "LaunchType": "FARGATE",
        "NetworkConfiguration": {"AwsvpcConfiguration": {"Subnets": (await subnets(call))[:2]}},
    }
    return cluster.physical_id, definition, props


async def service_made(
    call: Calls, clock: FakeClock, **extra: Any
) -> tuple[str, ResourceHandler, ResourceContext, dict[str, Any], Physical]:
    """A one-task service (with ``extra`` properties) created and stable in a fresh cluster, as logical id "Web"."""
    cluster, _definition, props = await cluster_with_definition(call, clock)
    props.update(extra)
    handler = HANDLERS["AWS::ECS::Service"]
    rc = context(call, clock, "Web")
    made = await drive(clock, handler.create(rc, props))
    return cluster, handler, rc, props, made


# -- Cluster ---------------------------------------------------------------------------------------


def test_cluster_is_made_named_tagged_changed_in_place_and_deleted_idempotently(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        handler = HANDLERS["AWS::ECS::Cluster"]
        rc = context(call, clock, "Cluster")
        props = {
            "ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}],
            "Tags": [{"Key": "env", "Value": "test"}],
        }
        made = await handler.create(rc, props)
        name = made.physical_id
        assert name.startswith(f"{STACK}-Cluster-") and len(name) == len(f"{STACK}-Cluster-") + 12
        assert made.attributes == {"Arn": f"arn:aws:ecs:us-east-1:000000000000:cluster/{name}"}
        assert await ecs_tags(call, made.attributes["Arn"]) == {"team": "shop", "env": "test"}  # no aws: keys
        shown = (await call("ecs", "DescribeClusters", {"clusters": [name], "include": ["SETTINGS"]}))["clusters"][0]
        assert shown["settings"] == [{"name": "containerInsights", "value": "enabled"}]

        assert handler.needs_replacement(props, {**props, "ClusterName": "other"})
        # ECS refuses aws: keys from callers: a template's own is left out of the update too.
        changed = {
            "Tags": [{"Key": "env", "Value": "prod"}, {"Key": "tier", "Value": "1"}, {"Key": "aws:x", "Value": "y"}]
        }
        assert not handler.needs_replacement(props, changed)
        assert await handler.update(rc, made, props, changed) == made
        shown = (await call("ecs", "DescribeClusters", {"clusters": [name], "include": ["SETTINGS"]}))["clusters"][0]
        assert shown["settings"] == [{"name": "containerInsights", "value": "disabled"}]
        assert await ecs_tags(call, made.attributes["Arn"]) == {"team": "shop", "env": "prod", "tier": "1"}

        await handler.delete(rc, made, changed)
        shown = (await call("ecs", "DescribeClusters", {"clusters": [name]}))["clusters"][0]
        assert shown["status"] == "INACTIVE"
        await handler.delete(rc, made, changed)  # already gone

    run(tmp_path, scenario)


def test_a_cluster_name_in_use_is_not_adopted(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        await call("ecs", "CreateCluster", {"clusterName": "taken"})
        with pytest.raises(ResourceFailed) as failed:
            await HANDLERS["AWS::ECS::Cluster"].create(context(call, clock, "Cluster"), {"ClusterName": "taken"})
        assert failed.value.reason == "Resource of type 'AWS::ECS::Cluster' with identifier 'taken' already exists."

    run(tmp_path, scenario)


def test_capacity_provider_associations_are_put_changed_and_emptied(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        await call("ecs", "CreateCluster", {"clusterName": "shop"})
        handler = HANDLERS["AWS::ECS::ClusterCapacityProviderAssociations"]
        rc = context(call, clock, "Associations")
        props = {
            "Cluster": "arn:aws:ecs:us-east-1:000000000000:cluster/shop",
            "CapacityProviders": ["FARGATE", "FARGATE_SPOT"],
            "DefaultCapacityProviderStrategy": [{"CapacityProvider": "FARGATE", "Base": "1", "Weight": "1"}],
        }
        made = await handler.create(rc, props)
        assert made.physical_id == "shop"  # Ref is the cluster's name

        async def shown() -> dict[str, Any]:
            return dict((await call("ecs", "DescribeClusters", {"clusters": ["shop"]}))["clusters"][0])

        assert (await shown())["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
        assert (await shown())["defaultCapacityProviderStrategy"] == [
            {"capacityProvider": "FARGATE", "base": 1, "weight": 1}
        ]
        assert handler.needs_replacement(props, {**props, "Cluster": "other"})
        spot = {**props, "DefaultCapacityProviderStrategy": [{"CapacityProvider": "FARGATE_SPOT", "Weight": 2}]}
        assert not handler.needs_replacement(props, spot)
        await handler.update(rc, made, props, spot)
        assert (await shown())["defaultCapacityProviderStrategy"] == [
            {"capacityProvider": "FARGATE_SPOT", "base": 0, "weight": 2}
        ]
        await handler.delete(rc, made, spot)
        assert (await shown())["capacityProviders"] == []
        await call("ecs", "DeleteCluster", {"cluster": "shop"})
        await handler.delete(rc, made, spot)  # the cluster is gone: nothing left to take off

    run(tmp_path, scenario)


# -- TaskDefinition --------------------------------------------------------------------------------


def test_task_definition_takes_pascal_case_and_string_scalars_and_every_change_replaces(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        handler = HANDLERS["AWS::ECS::TaskDefinition"]
        rc = context(call, clock, "TaskDef")
        props = task_definition(**{"com.example.Team": "shop"})
        props["ContainerDefinitions"][0]["LogConfiguration"] = {
            "LogDriver": "awslogs",
            "Options": {"awslogs-group": "/shop", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web"},
        }
        props["ExecutionRoleArn"] = "arn:aws:iam::000000000000:role/exec"
        props["Tags"] = [{"Key": "env", "Value": "test"}]
        made = await handler.create(rc, props)
        arn = made.physical_id
        assert made.attributes == {"TaskDefinitionArn": arn}
        assert arn.startswith(f"arn:aws:ecs:us-east-1:000000000000:task-definition/{STACK}-TaskDef-")
        assert arn.endswith(":1")
        found = await call("ecs", "DescribeTaskDefinition", {"taskDefinition": arn, "include": ["TAGS"]})
        shown = found["taskDefinition"]
        assert shown["cpu"] == "256" and shown["memory"] == "512"
        container = shown["containerDefinitions"][0]
        assert container["essential"] is True
        assert container["portMappings"][0]["containerPort"] == 80
        assert container["dockerLabels"] == {"com.example.Team": "shop"}  # map keys kept as written
        assert container["logConfiguration"]["options"]["awslogs-stream-prefix"] == "web"
        assert {t["key"]: t["value"] for t in found["tags"]} == {"team": "shop", "env": "test"}

        assert handler.needs_replacement(props, {**props, "Memory": "1024"})
        assert handler.needs_replacement(props, {**props, "Tags": []})
        assert not handler.needs_replacement(props, dict(props))

        await handler.delete(rc, made, props)
        shown = (await call("ecs", "DescribeTaskDefinition", {"taskDefinition": arn}))["taskDefinition"]
        assert shown["status"] == "INACTIVE"  # CloudFormation keeps the revision, deregistered
        await handler.delete(rc, made, props)
        await handler.delete(rc, Physical(arn.replace(":1", ":9")), props)  # never registered

    run(tmp_path, scenario)


def test_task_definition_with_a_bad_scalar_fails_with_its_path(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        props = task_definition()
        props["ContainerDefinitions"][0]["Essential"] = "maybe"
        with pytest.raises(ResourceFailed) as failed:
            await HANDLERS["AWS::ECS::TaskDefinition"].create(context(call, clock, "TaskDef"), props)
        assert failed.value.reason == "Property ContainerDefinitions[0].Essential has an invalid value: 'maybe'"

    run(tmp_path, scenario)


# -- Service ---------------------------------------------------------------------------------------


def test_service_create_waits_until_stable_with_one_task_by_default(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        cluster, _definition, props = await cluster_with_definition(call, clock)
        props["Tags"] = [{"Key": "env", "Value": "test"}]
        handler = HANDLERS["AWS::ECS::Service"]
        task = asyncio.ensure_future(handler.create(context(call, clock, "Web"), props))
        await clock.run_for(5, 0.5)
        assert not task.done()  # the deployment is still in progress: CloudFormation keeps waiting
        [arn] = (await call("ecs", "ListServices", {"cluster": cluster}))["serviceArns"]
        assert (await describe_service(call, cluster, arn))["deployments"][0]["rolloutState"] == "IN_PROGRESS"
        made = await drive(clock, task)
        name = arn.rsplit("/", 1)[-1]
        assert made == Physical(arn, {"Name": name, "ServiceArn": arn})
        assert name.startswith(f"{STACK}-Web-")
        shown = await describe_service(call, cluster, arn)
        assert shown["desiredCount"] == 1 and shown["runningCount"] == 1  # DesiredCount absent: 1
        assert [d["rolloutState"] for d in shown["deployments"]] == ["COMPLETED"]
        assert await ecs_tags(call, arn) == {"team": "shop", "env": "test"}

    run(tmp_path, scenario)


def test_service_replacement_decisions_follow_update_requires(tmp_path: Path) -> None:
    handler = HANDLERS["AWS::ECS::Service"]
    props = {"ServiceName": "web", "Cluster": "shop", "TaskDefinition": "td:1", "DesiredCount": 1}
    for replaced in ("ServiceName", "Cluster", "LaunchType", "Role", "SchedulingStrategy", "DeploymentController"):
        assert handler.needs_replacement(props, {**props, replaced: "x"}), replaced
    for in_place in (
        "TaskDefinition",
        "DesiredCount",
        "DeploymentConfiguration",
        "NetworkConfiguration",
        "LoadBalancers",
        "ServiceRegistries",
        "PlacementStrategies",
        "HealthCheckGracePeriodSeconds",
        "EnableExecuteCommand",
        "Tags",
    ):
        assert not handler.needs_replacement(props, {**props, in_place: "x"}), in_place
    assert handler.name_property == "ServiceName" and handler.attributes == {"Name", "ServiceArn"}


def test_service_update_deploys_in_place_and_waits_for_the_new_deployment(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        cluster, handler, rc, props, made = await service_made(call, clock)
        first = (await describe_service(call, cluster, made.physical_id))["deployments"][0]["id"]
        second = await HANDLERS["AWS::ECS::TaskDefinition"].create(
            context(call, clock, "TaskDef"), task_definition("example/web:2")
        )
        new = {**props, "TaskDefinition": second.physical_id, "DesiredCount": "2", "EnableExecuteCommand": "true"}
        assert not handler.needs_replacement(props, new)
        task = asyncio.ensure_future(handler.update(rc, made, props, new))
        await clock.run_for(5, 0.5)
        assert not task.done()
        assert await drive(clock, task) == made  # same service, same Ref
        shown = await describe_service(call, cluster, made.physical_id)
        assert shown["taskDefinition"] == second.physical_id and shown["enableExecuteCommand"] is True
        assert shown["desiredCount"] == shown["runningCount"] == 2
        [deployment] = shown["deployments"]
        assert deployment["id"] != first and deployment["rolloutState"] == "COMPLETED"

    run(tmp_path, scenario)


def test_service_update_without_desired_count_keeps_the_scaled_count(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        cluster, handler, rc, props, made = await service_made(call, clock)
        # What Application Auto Scaling would do meanwhile.
        await call("ecs", "UpdateService", {"cluster": cluster, "service": made.physical_id, "desiredCount": 3})
        new = {**props, "HealthCheckGracePeriodSeconds": "30"}
        await drive(clock, handler.update(rc, made, props, new))
        shown = await describe_service(call, cluster, made.physical_id)
        assert shown["desiredCount"] == shown["runningCount"] == 3
        assert shown["healthCheckGracePeriodSeconds"] == 30

    run(tmp_path, scenario)


BREAKER = {"DeploymentCircuitBreaker": {"Enable": "true", "Rollback": "false"}}


def test_service_create_fails_on_the_circuit_breaker_and_takes_the_service_down(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        cluster, _definition, props = await cluster_with_definition(call, clock, **{"ecslite.fake.exit-code": "1"})
        props["ServiceName"] = "web"
        props["DeploymentConfiguration"] = BREAKER
        with pytest.raises(ResourceFailed) as failed:
            await drive(clock, HANDLERS["AWS::ECS::Service"].create(context(call, clock, "Web"), props))
        assert failed.value.reason == "Error occurred during operation 'ECS Deployment Circuit Breaker was triggered'."
        shown = await describe_service(call, cluster, "web")
        assert shown["status"] == "INACTIVE"  # as CloudFormation's rollback deletes it
        await call("ecs", "DeleteCluster", {"cluster": cluster})  # nothing of the service is left in it

    run(tmp_path, scenario)


def test_service_update_fails_when_the_breaker_rolls_the_deployment_back(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        cluster, good, props = await cluster_with_definition(call, clock)
        props["DeploymentConfiguration"] = {"DeploymentCircuitBreaker": {"Enable": True, "Rollback": True}}
        handler = HANDLERS["AWS::ECS::Service"]
        rc = context(call, clock, "Web")
        made = await drive(clock, handler.create(rc, props))
        broken = task_definition("example/web:broken", **{"ecslite.fake.exit-code": "1"})
        bad = await HANDLERS["AWS::ECS::TaskDefinition"].create(context(call, clock, "TaskDef"), broken)
        with pytest.raises(ResourceFailed) as failed:
            await drive(clock, handler.update(rc, made, props, {**props, "TaskDefinition": bad.physical_id}))
        assert failed.value.reason == ecs.BREAKER_FAILED
        shown = await describe_service(call, cluster, made.physical_id)
        assert shown["status"] == "ACTIVE" and shown["taskDefinition"] == good.physical_id  # rolled back

    run(tmp_path, scenario)


def test_service_delete_scales_in_deletes_and_waits_until_inactive(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        cluster, handler, rc, props, made = await service_made(call, clock, DesiredCount="2")
        task = asyncio.ensure_future(handler.delete(rc, made, props))
        await clock.run_for(0.5, 0.5)
        shown = await describe_service(call, cluster, made.physical_id)
        assert shown["desiredCount"] == 0 and shown["status"] in ("DRAINING", "INACTIVE")
        await drive(clock, task)
        assert (await describe_service(call, cluster, made.physical_id))["status"] == "INACTIVE"
        tasks = (await call("ecs", "ListTasks", {"cluster": cluster}))["taskArns"]
        assert tasks == []
        await handler.delete(rc, made, props)  # already INACTIVE
        await call("ecs", "DeleteCluster", {"cluster": cluster})
        await handler.delete(rc, made, props)  # and its cluster gone too

    run(tmp_path, scenario)


def test_a_service_update_that_names_a_missing_task_definition_fails_with_ecs_error(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        _cluster, handler, rc, props, made = await service_made(call, clock)
        with pytest.raises(AwsError) as failed:
            await handler.update(rc, made, props, {**props, "TaskDefinition": "missing:7"})
        assert failed.value.code == "ClientException"

    run(tmp_path, scenario)


def test_a_service_create_cancelled_while_waiting_takes_the_service_down(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        # Tasks that take an hour to start: the stack's timeout cancels the wait first.
        cluster, _definition, props = await cluster_with_definition(
            call, clock, **{"ecslite.fake.start-seconds": "3600"}
        )
        props["ServiceName"] = "web"
        task = asyncio.ensure_future(HANDLERS["AWS::ECS::Service"].create(context(call, clock, "Web"), props))
        await clock.run_for(10, 0.5)
        assert (await describe_service(call, cluster, "web"))["status"] == "ACTIVE"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        shown = await describe_service(call, cluster, "web")
        assert shown["status"] in ("DRAINING", "INACTIVE") and shown["desiredCount"] == 0

    run(tmp_path, scenario)
