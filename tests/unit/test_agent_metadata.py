"""Task metadata documents (agent/metadata.py, agent/stats.py): shapes and values by launch type and
network mode, timestamps, and Docker-format stats (spec/ecs.md §9.2)."""

from __future__ import annotations

from typing import Any

import pytest

from ecslite.agent import metadata, stats
from ecslite.model.task_launch import LaunchRequest, build_task
from ecslite.runtime.base import ContainerStats

DEFINITION: dict[str, Any] = {
    "family": "web",
    "revision": 3,
    "taskDefinitionArn": "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3",
    "containerDefinitions": [
        {
            "name": "app",
            "image": "nginx:1",
            "cpu": 128,
            "memory": 256,
            "portMappings": [{"containerPort": 80, "hostPort": 0}],
            "healthCheck": {"command": ["CMD", "true"]},
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web"}},
        }
    ],
}


def ec2_bridge_task() -> dict[str, Any]:
    doc = build_task(
        LaunchRequest(
            account="000000000000",
            region="us-east-1",
            cluster_name="prod",
            cluster_arn="arn:aws:ecs:us-east-1:000000000000:cluster/prod",
            definition={**DEFINITION, "networkMode": "bridge"},
            launch_type="EC2",
            now=1_700_000_000.0,
            dynamic_ports={"app:80/tcp": 49153},
            container_instance_arn="arn:aws:ecs:us-east-1:000000000000:container-instance/prod/" + "c" * 32,
            vpc_id="vpc-1",
            availability_zone="us-east-1a",
        )
    )
    doc["lastStatus"] = "RUNNING"
    doc["pullStartedAt"], doc["pullStoppedAt"] = 1_700_000_001.25, 1_700_000_002.5
    container = doc["containers"][0]
    container.update(lastStatus="RUNNING", runtimeId=doc["_spec"]["containers"][0]["runtimeId"], healthStatus="HEALTHY")
    container["networkBindings"] = doc["_spec"]["containers"][0]["networkBindings"]
    doc["_run"] = {
        "sandbox": {"privateIpv4": "172.17.0.5"},
        "containers": {"app": {"startedAt": 1_700_000_003.123456789}},
    }
    return doc


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (1_700_000_000.0, "2023-11-14T22:13:20Z"),
        (1_700_000_000.5, "2023-11-14T22:13:20.500000000Z"),
        (1_732_429_802.410218817, "2024-11-24T06:30:02.410218"),
    ],
)
def test_timestamps_are_rfc3339_with_nanoseconds(epoch: float, text: str) -> None:
    assert (metadata.rfc3339(epoch) or "").startswith(text)
    assert metadata.rfc3339(None) is None


def test_an_ec2_bridge_task_shows_the_cluster_name_docker_names_and_host_ports() -> None:
    doc = ec2_bridge_task()
    task = metadata.task_document(doc, extras=metadata.TaskExtras(task_tags={"team": "a"}), with_tags=True)
    assert (task["Cluster"], task["Family"], task["Revision"], task["LaunchType"]) == ("prod", "web", "3", "EC2")
    assert task["VPCID"] == "vpc-1" and task["AvailabilityZone"] == "us-east-1a"
    assert "Limits" not in task and "EphemeralStorageMetrics" not in task
    assert task["TaskTags"] == {"team": "a"} and task["FaultInjectionEnabled"] is False
    assert task["PullStartedAt"] == "2023-11-14T22:13:21.250000000Z"
    [app] = task["Containers"]
    runtime_id = doc["containers"][0]["runtimeId"]
    assert app["DockerId"] == runtime_id and len(runtime_id) == 64
    assert app["DockerName"] == f"ecs-web-3-app-{runtime_id[:20]}"
    assert app["Ports"] == [{"ContainerPort": 80, "Protocol": "tcp", "HostPort": 49153, "HostIp": "0.0.0.0"}]
    assert app["Networks"] == [{"NetworkMode": "bridge", "IPv4Addresses": ["172.17.0.5"]}]
    assert app["Limits"] == {"CPU": 128.0, "Memory": 256}
    assert app["Health"] == {"status": "HEALTHY"}
    assert app["LogDriver"] == "awslogs" and app["LogOptions"] == {"awslogs-group": "/ecs/web"}
    assert app["Labels"]["com.amazonaws.ecs.cluster"] == "prod"
    assert app["StartedAt"].startswith("2023-11-14T22:13:23.123456")
    assert "Snapshotter" not in app and "ExitCode" not in app and "FinishedAt" not in app


def test_v3_leaves_out_what_v4_added() -> None:
    doc = ec2_bridge_task()
    task = metadata.task_document(doc, version=3)
    for key in ("LaunchType", "VPCID", "ClockDrift", "FaultInjectionEnabled", "ServiceName"):
        assert key not in task
    [app] = task["Containers"]
    assert "ContainerARN" not in app and "LogDriver" not in app


def test_a_pending_task_is_known_as_none_until_its_images_are_pulled() -> None:
    doc = ec2_bridge_task()
    doc["lastStatus"] = "PENDING"
    doc["containers"][0]["lastStatus"] = "PENDING"
    doc["pullStoppedAt"] = None
    assert metadata.task_document(doc)["KnownStatus"] == "NONE"
    assert metadata.container_document(doc, "app")["KnownStatus"] == "NONE"
    doc["pullStoppedAt"] = 1_700_000_002.5
    assert metadata.container_document(doc, "app")["KnownStatus"] == "PULLED"


def test_stats_follow_dockers_shape_with_the_previous_sample() -> None:
    first = stats.Sample(ContainerStats(100.0, 5_000_000, 1024, 4096, rx_bytes=1000, tx_bytes=10), 10**12)
    second = stats.Sample(ContainerStats(102.0, 9_000_000, 2048, 4096, rx_bytes=3000, tx_bytes=410, pids=3), 2 * 10**12)
    empty = stats.docker_stats(first, None, name="app", container_id="abc")
    assert empty["preread"] == "0001-01-01T00:00:00Z" and empty["precpu_stats"] == {"cpu_usage": {"total_usage": 0}}
    assert empty["network_rate_stats"] == {"rx_bytes_per_sec": 0.0, "tx_bytes_per_sec": 0.0}
    document = stats.docker_stats(second, first, name="app", container_id="abc")
    assert document["read"] == metadata.rfc3339(102.0) and document["preread"] == metadata.rfc3339(100.0)
    assert document["cpu_stats"]["cpu_usage"]["total_usage"] == 9_000_000
    assert document["precpu_stats"]["cpu_usage"]["total_usage"] == 5_000_000
    assert document["cpu_stats"]["system_cpu_usage"] == 2 * 10**12
    assert document["memory_stats"] == {"usage": 2048, "limit": 4096, "stats": {}}
    assert document["pids_stats"] == {"current": 3}
    assert document["networks"] == {"eth1": {"rx_bytes": 3000, "tx_bytes": 410}}
    assert document["network_rate_stats"] == {"rx_bytes_per_sec": 1000.0, "tx_bytes_per_sec": 200.0}
    assert (document["name"], document["id"]) == ("app", "abc")
    v3 = stats.docker_stats(second, first, name="app", container_id="abc", with_rates=False)
    assert "network_rate_stats" not in v3
