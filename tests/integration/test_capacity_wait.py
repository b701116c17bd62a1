"""Tasks wait in PROVISIONING while managed scaling adds capacity (spec/ecs.md §5.6, §3.1)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_capacity_scaling import group_instances, group_provider
from tests.integration.test_daemon import ec2_service_definition, live_tasks, steady
from tests.integration.test_placement import add_instances
from tests.integration.test_services import wait_for

pytestmark = pytest.mark.integration


def task(ecs: Any, arn: str) -> dict[str, Any]:
    return dict(ecs.describe_tasks(tasks=[arn])["tasks"][0])


def assert_waiting(found: dict[str, Any]) -> None:
    assert found["lastStatus"] == "PROVISIONING"
    assert found["desiredStatus"] == "RUNNING"
    assert found["capacityProviderName"] == "workers"
    assert "containerInstanceArn" not in found
    assert {c["lastStatus"] for c in found["containers"]} == {"PENDING"}


def test_run_task_waits_in_provisioning_then_runs_on_the_instances_managed_scaling_adds(ecs: Any) -> None:
    group_provider(ecs)
    ec2_service_definition(ecs, family="job")
    answer = ecs.run_task(taskDefinition="job")
    assert answer["failures"] == []
    assert_waiting(answer["tasks"][0])
    arn = answer["tasks"][0]["taskArn"]
    wait_for(lambda: task(ecs, arn)["lastStatus"] == "RUNNING", timeout=30)
    found = task(ecs, arn)
    instances = group_instances(ecs)
    assert len(instances) == 2  # §5.6: from zero instances the group goes to two
    assert found["containerInstanceArn"] in {i["containerInstanceArn"] for i in instances}
    assert found["availabilityZone"].startswith("us-east-1")
    assert found["capacityProviderName"] == "workers"


def test_service_beyond_capacity_keeps_tasks_pending_until_the_group_grows(ecs: Any, endpoint: str) -> None:
    group_provider(ecs, instanceWarmupPeriod=3600)  # the new instance's warm-up holds scaling back
    add_instances(endpoint, instanceType="t3.small", count=1, capacityProvider="workers")
    ec2_service_definition(ecs, family="big", memory=1500)  # a t3.small offers 1856 MiB: one task each
    ecs.create_service(serviceName="big", taskDefinition="big", desiredCount=3)
    wait_for(
        lambda: sorted(t["lastStatus"] for t in live_tasks(ecs, "big")) == ["PROVISIONING", "PROVISIONING", "RUNNING"]
    )
    service = ecs.describe_services(services=["big"])["services"][0]
    assert (service["runningCount"], service["pendingCount"]) == (1, 2)
    assert service["deployments"][0]["failedTasks"] == 0
    for waiting in (t for t in live_tasks(ecs, "big") if t["lastStatus"] == "PROVISIONING"):
        assert_waiting(waiting)
    assert not any("unable to place" in e["message"] for e in service["events"])
    ecs.update_capacity_provider(
        name="workers",
        autoScalingGroupProvider={
            "managedScaling": {"status": "ENABLED", "targetCapacity": 100, "instanceWarmupPeriod": 0}
        },
    )
    wait_for(lambda: steady(ecs, "big"), timeout=90)
    assert len(group_instances(ecs)) == 3
    assert len({t["containerInstanceArn"] for t in live_tasks(ecs, "big")}) == 3


def test_stop_task_of_a_waiting_task_stops_it_at_once(ecs: Any, endpoint: str) -> None:
    group_provider(ecs)
    add_instances(endpoint, instanceType="t3.small", count=1, capacityProvider="workers")
    # More memory than any instance of the group's type offers: growing the group would not help.
    ec2_service_definition(ecs, family="huge", memory=4000)
    arn = ecs.run_task(taskDefinition="huge")["tasks"][0]["taskArn"]
    assert_waiting(task(ecs, arn))
    stopped = ecs.stop_task(task=arn, reason="no longer needed")["task"]
    assert stopped["desiredStatus"] == "STOPPED"
    wait_for(lambda: task(ecs, arn)["lastStatus"] == "STOPPED", timeout=10)
    found = task(ecs, arn)
    assert (found["stopCode"], found["stoppedReason"]) == ("UserInitiated", "no longer needed")
    assert "startedAt" not in found and "containerInstanceArn" not in found
    assert {c["lastStatus"] for c in found["containers"]} == {"STOPPED"}
    assert len(group_instances(ecs)) == 1


def test_run_task_without_managed_scaling_fails_to_place_as_before(ecs: Any, endpoint: str) -> None:
    group_provider(ecs, status="DISABLED")
    instance = add_instances(endpoint, instanceType="t3.small", count=1, capacityProvider="workers")[0]
    ec2_service_definition(ecs, family="huge", memory=4000)
    answer = ecs.run_task(taskDefinition="huge")
    assert answer["tasks"] == []
    assert [(f["arn"], f["reason"]) for f in answer["failures"]] == [
        (instance["containerInstanceArn"], "RESOURCE:MEMORY")
    ]


def test_run_task_with_a_launch_type_ignores_the_managed_scaling_default(ecs: Any) -> None:
    group_provider(ecs)
    ec2_service_definition(ecs, family="job")
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="No Container Instances were found"):
        ecs.run_task(taskDefinition="job", launchType="EC2")


def test_scale_in_stops_waiting_service_tasks_before_running_ones(ecs: Any, endpoint: str) -> None:
    group_provider(ecs, instanceWarmupPeriod=3600)
    add_instances(endpoint, instanceType="t3.small", count=1, capacityProvider="workers")
    ec2_service_definition(ecs, family="big", memory=1500)
    ecs.create_service(serviceName="big", taskDefinition="big", desiredCount=3)
    expected = ["PROVISIONING", "PROVISIONING", "RUNNING"]
    wait_for(lambda: sorted(t["lastStatus"] for t in live_tasks(ecs, "big")) == expected)
    running = next(t["taskArn"] for t in live_tasks(ecs, "big") if t["lastStatus"] == "RUNNING")
    waiting = [t["taskArn"] for t in live_tasks(ecs, "big") if t["lastStatus"] == "PROVISIONING"]
    ecs.update_service(service="big", desiredCount=1)
    wait_for(lambda: steady(ecs, "big"))
    assert [t["taskArn"] for t in live_tasks(ecs, "big")] == [running]
    wait_for(lambda: {task(ecs, arn)["lastStatus"] for arn in waiting} == {"STOPPED"}, timeout=10)
    assert {task(ecs, arn)["stopCode"] for arn in waiting} == {"ServiceSchedulerInitiated"}
    assert len(group_instances(ecs)) == 1
