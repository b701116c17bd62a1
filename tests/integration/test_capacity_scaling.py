"""Managed scaling of an Auto Scaling group capacity provider from zero instances (spec/ecs.md §5.6)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.integration.test_daemon import ec2_service_definition, placed, steady
from tests.integration.test_placement import add_instances
from tests.integration.test_services import wait_for

pytestmark = pytest.mark.integration

GROUP = "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:1:autoScalingGroupName/workers"


def group_provider(ecs: Any, status: str = "ENABLED", **scaling: Any) -> None:
    ecs.create_capacity_provider(
        name="workers",
        autoScalingGroupProvider={
            "autoScalingGroupArn": GROUP,
            "managedScaling": {"status": status, "targetCapacity": 100, "instanceWarmupPeriod": 0, **scaling},
        },
    )
    ecs.put_cluster_capacity_providers(
        cluster="default",
        capacityProviders=["workers"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "workers", "weight": 1}],
    )


def group_instances(ecs: Any) -> list[dict[str, Any]]:
    arns = ecs.list_container_instances()["containerInstanceArns"]
    found = ecs.describe_container_instances(containerInstances=arns)["containerInstances"] if arns else []
    return [i for i in found if i.get("capacityProviderName") == "workers"]


def test_managed_scaling_grows_an_empty_group_to_two_and_places_the_waiting_tasks(ecs: Any) -> None:
    group_provider(ecs)
    ec2_service_definition(ecs, family="web")
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=3)
    wait_for(lambda: len(group_instances(ecs)) == 2, timeout=30)
    instances = group_instances(ecs)
    assert {i["status"] for i in instances} == {"ACTIVE"}
    types = {next(a["value"] for a in i["attributes"] if a["name"] == "ecs.instance-type") for i in instances}
    assert types == {"m5.large"}
    wait_for(lambda: steady(ecs, "web"), timeout=60)
    tasks = ecs.describe_tasks(tasks=ecs.list_tasks(serviceName="web")["taskArns"])["tasks"]
    assert {t["capacityProviderName"] for t in tasks} == {"workers"}
    assert set(placed(ecs, "web")) <= {i["containerInstanceArn"] for i in instances}
    assert len(group_instances(ecs)) == 2  # three small tasks fit the two instances: no further growth


def test_managed_scaling_adds_instances_when_tasks_do_not_fit(ecs: Any, endpoint: str) -> None:
    group_provider(ecs, maximumScalingStepSize=1)
    add_instances(endpoint, instanceType="t3.small", count=1, capacityProvider="workers")
    ec2_service_definition(ecs, family="big", memory=1500)  # a t3.small offers 1856 MiB: one task each
    ecs.create_service(serviceName="big", taskDefinition="big", desiredCount=3)
    wait_for(lambda: steady(ecs, "big"), timeout=90)
    instances = group_instances(ecs)
    assert len(instances) == 3
    assert Counter(placed(ecs, "big").values()) == {1: 3}


def test_disabled_managed_scaling_adds_nothing(ecs: Any) -> None:
    group_provider(ecs, status="DISABLED")
    ec2_service_definition(ecs, family="web")
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=1)
    wait_for(
        lambda: any(
            "No Container Instances" in e["message"]
            for e in ecs.describe_services(services=["web"])["services"][0]["events"]
        )
    )
    assert group_instances(ecs) == []
