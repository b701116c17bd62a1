"""EC2 tasks: first-fit placement on container instances, placement failures, StartTask (§5.1, §5.2)."""

from __future__ import annotations

from typing import Any

from tests.integration.test_tasks_helpers import (
    INSTANCE_ARN,
    app,
    describe,
    ec2_definition,
    register_instance,
    wait_status,
)


def resources(ecs: Any, arn: str) -> dict[str, Any]:
    instance = ecs.describe_container_instances(containerInstances=[arn])["containerInstances"][0]
    return {
        r["name"]: r["stringSetValue"] if r["type"] == "STRINGSET" else r["integerValue"]
        for r in instance["remainingResources"]
    }


def test_ec2_task_is_placed_on_an_instance_and_holds_its_resources(ecs: Any) -> None:
    instance = register_instance(ecs, cpu=1024, memory=2048)
    definition = ec2_definition(ecs, app(cpu=256, memory=512))
    task = ecs.run_task(taskDefinition=definition, launchType="EC2")["tasks"][0]
    assert task["containerInstanceArn"] == instance
    assert (task["lastStatus"], task["launchType"]) == ("PENDING", "EC2")
    assert "attachments" not in task or task["attachments"] == []
    assert "platformVersion" not in task
    assert (task["cpu"], task["memory"]) == ("256", "512")
    left = resources(ecs, instance)
    assert (left["CPU"], left["MEMORY"]) == (768, 1536)
    running = wait_status(ecs, task["taskArn"], "RUNNING")
    assert len(running["containers"][0]["runtimeId"]) == 64
    assert running["availabilityZone"].startswith("us-east-1")
    counts = ecs.describe_container_instances(containerInstances=[instance])["containerInstances"][0]
    assert (counts["runningTasksCount"], counts["pendingTasksCount"]) == (1, 0)
    ecs.stop_task(task=task["taskArn"])
    wait_status(ecs, task["taskArn"], "STOPPED")
    left = resources(ecs, instance)
    assert (left["CPU"], left["MEMORY"]) == (1024, 2048)


def test_tasks_fill_instances_first_fit_and_report_what_did_not_fit(ecs: Any) -> None:
    first = register_instance(ecs, cpu=1024, memory=1024)
    second = register_instance(ecs, cpu=1024, memory=1024)
    definition = ec2_definition(ecs, app(cpu=128, memory=512))
    result = ecs.run_task(taskDefinition=definition, launchType="EC2", count=5)
    placed = [t["containerInstanceArn"] for t in result["tasks"]]
    assert placed == [first, first, second, second]
    assert len(result["failures"]) == 1
    failure = result["failures"][0]
    assert failure["reason"] == "RESOURCE:MEMORY"
    assert failure["arn"] in (first, second)
    assert (
        failure["detail"] == "No container instance met all of the task's requirements. 2 instances: 2 lacked memory."
    )


def test_cpu_shortage_is_reported_as_resource_cpu(ecs: Any) -> None:
    instance = register_instance(ecs, cpu=256, memory=4096)
    definition = ec2_definition(ecs, app(cpu=512, memory=128))
    result = ecs.run_task(taskDefinition=definition, launchType="EC2")
    assert result["tasks"] == []
    assert [(f["arn"], f["reason"]) for f in result["failures"]] == [(instance, "RESOURCE:CPU")]


def test_static_host_ports_conflict_on_one_instance(ecs: Any) -> None:
    instance = register_instance(ecs)
    definition = ec2_definition(ecs, app(memory=64, portMappings=[{"containerPort": 80, "hostPort": 8080}]))
    first = ecs.run_task(taskDefinition=definition, launchType="EC2")
    assert first["tasks"][0]["containerInstanceArn"] == instance
    second = ecs.run_task(taskDefinition=definition, launchType="EC2")
    assert [f["reason"] for f in second["failures"]] == ["RESOURCE:PORTS"]
    assert "8080" in resources(ecs, instance)["PORTS"]


def test_reserved_agent_ports_are_taken(ecs: Any) -> None:
    register_instance(ecs)
    definition = ec2_definition(ecs, app(memory=64, portMappings=[{"containerPort": 22, "hostPort": 22}]))
    result = ecs.run_task(taskDefinition=definition, launchType="EC2")
    assert [f["reason"] for f in result["failures"]] == ["RESOURCE:PORTS"]


def test_bridge_dynamic_host_ports_are_bound_from_the_ephemeral_range(ecs: Any) -> None:
    register_instance(ecs)
    definition = ec2_definition(ecs, app(memory=64, portMappings=[{"containerPort": 80}]))
    arns = [t["taskArn"] for t in ecs.run_task(taskDefinition=definition, launchType="EC2", count=2)["tasks"]]
    ports = []
    for arn in arns:
        bindings = wait_status(ecs, arn, "RUNNING")["containers"][0]["networkBindings"]
        assert [(b["containerPort"], b["protocol"], b["bindIP"]) for b in bindings] == [(80, "tcp", "0.0.0.0")]
        ports.append(bindings[0]["hostPort"])
    assert ports == [49153, 49154]


def test_draining_instances_take_no_new_tasks(ecs: Any) -> None:
    draining = register_instance(ecs)
    active = register_instance(ecs)
    ecs.update_container_instances_state(containerInstances=[draining], status="DRAINING")
    definition = ec2_definition(ecs)
    task = ecs.run_task(taskDefinition=definition, launchType="EC2")["tasks"][0]
    assert task["containerInstanceArn"] == active
    ecs.update_container_instances_state(containerInstances=[active], status="DRAINING")
    code = None
    try:
        ecs.run_task(taskDefinition=definition, launchType="EC2")
    except ecs.exceptions.InvalidParameterException as error:
        code = error.response["Error"]["Message"]
    assert code is not None and code.startswith("No Container Instances were found in your cluster.")


def test_start_task_places_on_the_named_instances_without_checks(ecs: Any) -> None:
    small = register_instance(ecs, cpu=128, memory=128)
    definition = ec2_definition(ecs, app(cpu=512, memory=1024))
    unknown = "f" * 32
    result = ecs.start_task(
        taskDefinition=definition, containerInstances=[small, unknown], startedBy="operator", group="manual"
    )
    assert [t["containerInstanceArn"] for t in result["tasks"]] == [small]
    assert result["failures"] == [{"arn": INSTANCE_ARN + "default/" + unknown, "reason": "MISSING"}]
    task = wait_status(ecs, result["tasks"][0]["taskArn"], "RUNNING")
    assert (task["startedBy"], task["group"], task["launchType"]) == ("operator", "manual", "EC2")
    assert resources(ecs, small)["MEMORY"] == 128 - 1024


def test_list_tasks_by_container_instance(ecs: Any) -> None:
    first = register_instance(ecs, memory=512)
    second = register_instance(ecs, memory=512)
    definition = ec2_definition(ecs, app(memory=512))
    tasks = ecs.run_task(taskDefinition=definition, launchType="EC2", count=2)["tasks"]
    assert ecs.list_tasks(containerInstance=first)["taskArns"] == [tasks[0]["taskArn"]]
    assert ecs.list_tasks(containerInstance=second.rsplit("/", 1)[1])["taskArns"] == [tasks[1]["taskArn"]]
    assert describe(ecs, tasks[1]["taskArn"])["containerInstanceArn"] == second
