"""What ECS registers in Cloud Map for a service task (spec/ecs.md §8.2): the attributes and the
deployment whose registries apply."""

from __future__ import annotations

from typing import Any

from ecslite.control.service_registry import registries_of, task_attributes


def task(mode: str = "awsvpc", address: str | None = "10.0.1.5", **doc: Any) -> dict[str, Any]:
    spec = {
        "networkMode": mode,
        "region": "eu-west-1",
        "clusterArn": "arn:aws:ecs:eu-west-1:000000000000:cluster/shop",
        "serviceName": "orders",
        "family": "orders-td",
        "containers": [],
    }
    run = {"sandbox": {"privateIpv4": address}} if address else {}
    return {"_spec": spec, "_run": run, "availabilityZone": "eu-west-1b", **doc}


def test_attributes_carry_the_address_port_and_ecs_names() -> None:
    registry = {"registryArn": "arn", "containerName": "app", "containerPort": 8000}
    assert task_attributes(task(), registry, custom_health=False) == {
        "AWS_INSTANCE_IPV4": "10.0.1.5",
        "AWS_INSTANCE_PORT": "8000",
        "AVAILABILITY_ZONE": "eu-west-1b",
        "REGION": "eu-west-1",
        "ECS_CLUSTER_NAME": "shop",
        "ECS_SERVICE_NAME": "orders",
        "ECS_TASK_DEFINITION_FAMILY": "orders-td",
    }


def test_registry_port_wins_and_custom_health_starts_healthy() -> None:
    attributes = task_attributes(task(), {"registryArn": "arn", "port": 9000}, custom_health=True)
    assert attributes is not None
    assert attributes["AWS_INSTANCE_PORT"] == "9000"
    assert attributes["AWS_INIT_HEALTH_STATUS"] == "HEALTHY"


def test_a_records_only_registry_has_no_port() -> None:
    attributes = task_attributes(task(), {"registryArn": "arn"}, custom_health=False)
    assert attributes is not None and "AWS_INSTANCE_PORT" not in attributes


def test_tasks_without_their_own_address_are_not_registered() -> None:
    assert task_attributes(task(address=None), {"registryArn": "arn"}, custom_health=False) is None
    assert task_attributes(task(mode="host"), {"registryArn": "arn"}, custom_health=False) is None


def test_registries_come_from_the_deployment_that_started_the_task() -> None:
    service = {
        "serviceRegistries": [{"registryArn": "new"}],
        "deployments": [
            {"id": "ecs-svc/1", "_spec": {"serviceRegistries": [{"registryArn": "old"}]}},
            {"id": "ecs-svc/2", "_spec": {"serviceRegistries": [{"registryArn": "new"}]}},
        ],
    }
    assert registries_of({"startedBy": "ecs-svc/1"}, service) == [{"registryArn": "old"}]
    assert registries_of({"startedBy": "ecs-svc/9"}, service) == [{"registryArn": "new"}]
