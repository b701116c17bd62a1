"""How a task is shaped at launch (model.task_launch) and placed (model.task_placement)."""

from __future__ import annotations

from ecslite.model.task_launch import (
    LaunchRequest,
    build_task,
    container_snapshot,
    host_ports,
    injected_environment,
    private_dns_name,
    runtime_id,
    task_size,
)
from ecslite.model.task_placement import Candidate, Demand, Placement, Unplaced, place
from tests.unit.test_task_harness import CLUSTER_ARN, container, definition


def test_override_replaces_command_and_merges_environment() -> None:
    snapshot = container_snapshot(
        {
            "name": "app",
            "image": "x",
            "command": ["serve"],
            "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        },
        {"name": "app", "command": ["migrate"], "environment": [{"name": "B", "value": "override"}], "memory": 256},
    )
    assert snapshot["command"] == ["migrate"]
    assert snapshot["environment"] == {"A": "1", "B": "override"}
    assert (snapshot["memory"], snapshot["essential"], snapshot["cpu"]) == (256, True, 0)


def test_runtime_ids_look_like_fargate_or_docker_ids_and_are_stable() -> None:
    fargate = runtime_id("a" * 32, "app", fargate=True)
    assert fargate.startswith("a" * 32 + "-") and len(fargate.split("-")[1]) == 10
    assert fargate == runtime_id("a" * 32, "app", fargate=True)
    assert len(runtime_id("a" * 32, "app", fargate=False)) == 64


def test_private_dns_names_follow_ec2() -> None:
    assert private_dns_name("us-east-1", "10.0.1.23") == "ip-10-0-1-23.ec2.internal"
    assert private_dns_name("ap-northeast-1", "10.0.1.23") == "ip-10-0-1-23.ap-northeast-1.compute.internal"


def test_task_size_uses_task_values_else_container_sums() -> None:
    containers = [{"cpu": 128, "memory": 256}, {"cpu": 64, "memoryReservation": 128, "memory": 512}]
    assert task_size("1024", "2048", containers) == (1024, 2048)
    assert task_size(None, None, containers) == (192, 384)


def test_host_ports_by_network_mode() -> None:
    containers = [{"name": "web", "portMappings": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81}]}]
    assert host_ports("bridge", containers) == ([8080], [], [("web:81/tcp", "tcp")])
    assert host_ports("host", containers) == ([80, 81], [], [])
    assert host_ports("awsvpc", containers) == ([], [], [])


def test_injected_environment_for_fargate_with_a_task_role() -> None:
    env = injected_environment(
        {"fargate": True, "region": "ap-northeast-1", "credentialsId": "c-1"}, {"metadataToken": "tok"}
    )
    assert env == {
        "ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/tok",
        "ECS_CONTAINER_METADATA_URI": "http://169.254.170.2/v3/tok",
        "ECS_AGENT_URI": "http://169.254.170.2/api/tok",
        "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE",
        "AWS_REGION": "ap-northeast-1",
        "AWS_DEFAULT_REGION": "ap-northeast-1",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/c-1",
    }


def test_built_task_has_the_describe_tasks_shape() -> None:
    doc = build_task(
        LaunchRequest(
            account="000000000000",
            region="us-east-1",
            cluster_name="default",
            cluster_arn=CLUSTER_ARN,
            definition=definition(container("app", memory=256), container("side", essential=False)),
            launch_type="FARGATE",
            now=100.0,
            subnet="subnet-9",
            started_by="me",
            enable_execute_command=True,
        )
    )
    assert (doc["lastStatus"], doc["desiredStatus"], doc["version"], doc["createdAt"]) == (
        "PROVISIONING",
        "RUNNING",
        1,
        100.0,
    )
    assert doc["overrides"]["containerOverrides"] == [{"name": "app"}, {"name": "side"}]
    assert [c["lastStatus"] for c in doc["containers"]] == ["PENDING", "PENDING"]
    assert doc["containers"][0]["memory"] == "256"
    assert doc["containers"][0]["managedAgents"] == [{"name": "ExecuteCommandAgent", "lastStatus": "PENDING"}]
    assert doc["attachments"][0]["id"] == doc["_spec"]["attachmentId"]
    assert doc["_spec"]["containers"][1]["essential"] is False
    assert doc["startedBy"] == "me"


def test_first_fit_takes_the_first_instance_with_room() -> None:
    small = Candidate("i-small", cpu_left=256, memory_left=256)
    big = Candidate("i-big", cpu_left=2048, memory_left=4096)
    outcome = place(Demand(cpu=512, memory=512), [small, big])
    assert isinstance(outcome, Placement) and outcome.arn == "i-big"
    assert (big.cpu_left, big.memory_left) == (1536, 3584)


def test_unplaced_task_names_the_closest_instance_and_why() -> None:
    candidates = [
        Candidate("i-1", cpu_left=100, memory_left=100),
        Candidate("i-2", cpu_left=4096, memory_left=100, tcp_used={80}),
    ]
    outcome = place(Demand(cpu=512, memory=512, tcp_ports=(80,)), candidates)
    assert isinstance(outcome, Unplaced)
    assert (outcome.arn, outcome.reason) == ("i-2", "RESOURCE:MEMORY")
    assert outcome.detail == (
        "No container instance met all of the task's requirements. 2 instances: 2 lacked memory, "
        "1 lacked CPU units, 1 had a required TCP port in use."
    )


def test_dynamic_ports_come_from_the_ephemeral_range_and_are_reserved() -> None:
    candidate = Candidate("i-1", cpu_left=1024, memory_left=1024, tcp_used={49153})
    first = place(Demand(0, 0, dynamic=(("web:80/tcp", "tcp"),)), [candidate])
    second = place(Demand(0, 0, dynamic=(("web:80/tcp", "tcp"),)), [candidate])
    assert isinstance(first, Placement) and isinstance(second, Placement)
    assert (first.dynamic_ports, second.dynamic_ports) == ({"web:80/tcp": 49154}, {"web:80/tcp": 49155})
