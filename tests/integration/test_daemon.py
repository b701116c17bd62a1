"""DAEMON services across virtual container instances, and draining instances under a REPLICA
service (spec/ecs.md §4.11, §5.5)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.integration.test_placement import add_instances
from tests.integration.test_services import HEALTH, describe, wait_for

pytestmark = pytest.mark.integration


def ec2_service_definition(ecs: Any, family: str = "agent", **container: Any) -> str:
    definition = {"name": "app", "image": "example/agent:1", "memory": 128, "cpu": 64, "healthCheck": HEALTH}
    definition.update(container)
    answer = ecs.register_task_definition(family=family, networkMode="bridge", containerDefinitions=[definition])
    return str(answer["taskDefinition"]["taskDefinitionArn"])


def live_tasks(ecs: Any, service: str) -> list[dict[str, Any]]:
    arns = ecs.list_tasks(serviceName=service)["taskArns"]
    return ecs.describe_tasks(tasks=arns)["tasks"] if arns else []


def placed(ecs: Any, service: str) -> Counter[str]:
    return Counter(t["containerInstanceArn"] for t in live_tasks(ecs, service))


def steady(ecs: Any, service: str) -> bool:
    found = describe(ecs, service)
    return (
        len(found["deployments"]) == 1
        and found["deployments"][0]["rolloutState"] == "COMPLETED"
        and found["runningCount"] == found["desiredCount"]
    )


def test_daemon_service_runs_one_task_per_instance_and_follows_the_instances(endpoint: str, ecs: Any) -> None:
    first = [i["containerInstanceArn"] for i in add_instances(endpoint, instanceType="t3.medium", count=3)]
    ec2_service_definition(ecs)
    ecs.create_service(serviceName="agent", taskDefinition="agent", schedulingStrategy="DAEMON")
    wait_for(lambda: placed(ecs, "agent") == Counter(first))
    wait_for(lambda: steady(ecs, "agent"))
    service = describe(ecs, "agent")
    assert (service["desiredCount"], service["runningCount"]) == (3, 3)
    messages = [e["message"] for e in service["events"]]
    assert "(service agent) has reached a steady state." in messages

    # a new instance gets its task
    (fourth,) = [i["containerInstanceArn"] for i in add_instances(endpoint, instanceType="t3.medium")]
    wait_for(lambda: placed(ecs, "agent") == Counter([*first, fourth]))
    wait_for(lambda: describe(ecs, "agent")["desiredCount"] == 4)

    # a draining instance loses its task, and nothing replaces it elsewhere
    ecs.update_container_instances_state(containerInstances=[first[0]], status="DRAINING")
    wait_for(lambda: placed(ecs, "agent") == Counter([*first[1:], fourth]))
    wait_for(lambda: steady(ecs, "agent") and describe(ecs, "agent")["desiredCount"] == 3)
    stopped = ecs.list_tasks(serviceName="agent", desiredStatus="STOPPED")["taskArns"]
    (gone,) = ecs.describe_tasks(tasks=stopped)["tasks"]
    assert gone["containerInstanceArn"] == first[0]
    assert gone["stopCode"] == "ServiceSchedulerInitiated"

    # back to ACTIVE: placement is allowed again
    ecs.update_container_instances_state(containerInstances=[first[0]], status="ACTIVE")
    wait_for(lambda: placed(ecs, "agent") == Counter([*first, fourth]))


def test_daemon_service_only_uses_instances_meeting_its_constraints(endpoint: str, ecs: Any) -> None:
    add_instances(endpoint, instanceType="t3.medium", count=2)
    gpu = [i["containerInstanceArn"] for i in add_instances(endpoint, instanceType="c5.large", count=2)]
    ec2_service_definition(ecs)
    ecs.create_service(
        serviceName="agent",
        taskDefinition="agent",
        schedulingStrategy="DAEMON",
        placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ c5.*"}],
    )
    wait_for(lambda: placed(ecs, "agent") == Counter(gpu))
    wait_for(lambda: steady(ecs, "agent"))
    assert describe(ecs, "agent")["desiredCount"] == 2


def test_daemon_deployment_replaces_each_instance_task(endpoint: str, ecs: Any) -> None:
    instances = [i["containerInstanceArn"] for i in add_instances(endpoint, instanceType="t3.medium", count=2)]
    ec2_service_definition(ecs)
    ecs.create_service(serviceName="agent", taskDefinition="agent", schedulingStrategy="DAEMON")
    wait_for(lambda: steady(ecs, "agent"))
    new = ec2_service_definition(ecs, image="example/agent:2")
    ecs.update_service(service="agent", taskDefinition=new)
    wait_for(lambda: steady(ecs, "agent") and describe(ecs, "agent")["taskDefinition"] == new, timeout=90)
    tasks = live_tasks(ecs, "agent")
    assert Counter(t["containerInstanceArn"] for t in tasks) == Counter(instances)
    assert {t["taskDefinitionArn"] for t in tasks} == {new}


def test_draining_an_instance_moves_its_service_tasks(endpoint: str, ecs: Any) -> None:
    a = add_instances(endpoint, instanceType="t3.medium", availabilityZone="us-east-1a", count=1)[0]
    b = add_instances(endpoint, instanceType="t3.medium", availabilityZone="us-east-1b", count=1)[0]
    ec2_service_definition(ecs, family="web")
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=2, launchType="EC2")
    wait_for(lambda: steady(ecs, "web"))
    # the default strategy spreads over zones: one task on each instance
    assert placed(ecs, "web") == Counter([a["containerInstanceArn"], b["containerInstanceArn"]])
    c = add_instances(endpoint, instanceType="t3.medium", availabilityZone="us-east-1c", count=1)[0]
    ecs.update_container_instances_state(containerInstances=[a["containerInstanceArn"]], status="DRAINING")
    # maximumPercent 200: the replacement starts first, then the task on the draining instance stops
    wait_for(
        lambda: (
            placed(ecs, "web") == Counter([b["containerInstanceArn"], c["containerInstanceArn"]]) and steady(ecs, "web")
        ),
        timeout=90,
    )
    assert ecs.list_tasks(containerInstance=a["containerInstanceArn"])["taskArns"] == []
    assert (
        ecs.describe_container_instances(containerInstances=[a["containerInstanceArn"]])["containerInstances"][0][
            "runningTasksCount"
        ]
        == 0
    )


def test_draining_leaves_standalone_tasks_alone(endpoint: str, ecs: Any) -> None:
    (instance,) = add_instances(endpoint, instanceType="t3.medium")
    definition = ec2_service_definition(ecs, family="batch")
    task = ecs.run_task(taskDefinition=definition)["tasks"][0]
    ecs.update_container_instances_state(containerInstances=[instance["containerInstanceArn"]], status="DRAINING")
    wait_for(lambda: ecs.describe_tasks(tasks=[task["taskArn"]])["tasks"][0]["lastStatus"] == "RUNNING")
    assert ecs.describe_tasks(tasks=[task["taskArn"]])["tasks"][0]["desiredStatus"] == "RUNNING"
