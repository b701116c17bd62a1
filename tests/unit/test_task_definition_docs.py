"""What ECS fills in and computes for a registered definition (spec/ecs.md §2.2, §2.4, §2.5)."""

from __future__ import annotations

from typing import Any

from ecslite.providers.ecs.task_definition_docs import build_document, compatibilities, in_model_order
from ecslite.providers.ecs.task_definition_rules import TaskSize


def td(**members: Any) -> dict[str, Any]:
    return {"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx", "memory": 128}], **members}


def test_compatibilities_of_a_bridge_definition_are_external_and_ec2() -> None:
    assert compatibilities(td(), TaskSize(None, None)) == ["EXTERNAL", "EC2"]


def test_compatibilities_of_a_sized_awsvpc_definition_add_fargate() -> None:
    assert compatibilities(td(networkMode="awsvpc"), TaskSize(256, 512)) == ["EC2", "FARGATE"]


def test_compatibilities_leave_out_fargate_when_the_size_is_not_a_fargate_size() -> None:
    assert compatibilities(td(networkMode="awsvpc"), TaskSize(256, 4096)) == ["EC2"]
    assert compatibilities(td(networkMode="awsvpc"), TaskSize(None, None)) == ["EC2"]


def test_compatibilities_leave_out_fargate_for_ec2_only_features() -> None:
    privileged = td(networkMode="awsvpc")
    privileged["containerDefinitions"][0]["privileged"] = True
    assert compatibilities(privileged, TaskSize(256, 512)) == ["EC2"]


def test_managed_instances_appear_only_when_required() -> None:
    assert compatibilities(td(requiresCompatibilities=["MANAGED_INSTANCES"]), TaskSize(None, None)) == [
        "EXTERNAL",
        "EC2",
        "MANAGED_INSTANCES",
    ]


def test_build_document_fills_container_defaults_and_normalizes_the_size() -> None:
    doc = build_document(td(cpu="1 vCPU", memory="2 GB"), TaskSize(1024, 2048))
    container = doc["containerDefinitions"][0]
    assert (doc["cpu"], doc["memory"]) == ("1024", "2048")
    assert container["cpu"] == 0 and container["essential"] is True
    for member in ("portMappings", "environment", "mountPoints", "volumesFrom", "systemControls"):
        assert container[member] == []
    assert doc["volumes"] == [] and doc["placementConstraints"] == []
    assert "networkMode" not in doc


def test_build_document_fills_host_ports_only_where_the_container_port_is_published() -> None:
    mappings = [{"containerPort": 80}, {"containerPort": 53, "protocol": "udp"}]
    for mode, host in (("awsvpc", 80), ("host", 80)):
        doc = td(networkMode=mode)
        doc["containerDefinitions"][0]["portMappings"] = mappings
        out = build_document(doc, TaskSize(None, None))["containerDefinitions"][0]["portMappings"]
        assert out == [
            {"containerPort": 80, "protocol": "tcp", "hostPort": host},
            {"containerPort": 53, "protocol": "udp", "hostPort": 53},
        ]
    bridge = td()
    bridge["containerDefinitions"][0]["portMappings"] = [{"containerPort": 80}]
    assert build_document(bridge, TaskSize(None, None))["containerDefinitions"][0]["portMappings"] == [
        {"containerPort": 80, "protocol": "tcp"}
    ]


def test_requires_attributes_follow_the_features_used() -> None:
    doc = td(networkMode="awsvpc", executionRoleArn="arn:aws:iam::1:role/x")
    doc["containerDefinitions"][0].update(
        image="123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1",
        healthCheck={"command": ["CMD", "true"]},
        logConfiguration={"logDriver": "awslogs", "options": {}},
        secrets=[{"name": "A", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/a"}],
    )
    names = [a["name"] for a in build_document(doc, TaskSize(None, None))["requiresAttributes"]]
    assert names == sorted(names)
    for expected in (
        "ecs.capability.task-eni",
        "com.amazonaws.ecs.capability.ecr-auth",
        "ecs.capability.execution-role-ecr-pull",
        "com.amazonaws.ecs.capability.logging-driver.awslogs",
        "ecs.capability.execution-role-awslogs",
        "ecs.capability.container-health-check",
        "ecs.capability.secrets.ssm.environment-variables",
    ):
        assert expected in names
    assert build_document(td(), TaskSize(None, None))["requiresAttributes"] == []


def test_in_model_order_orders_nested_members_as_the_model_declares_them() -> None:
    doc = {"status": "ACTIVE", "family": "web", "containerDefinitions": [{"image": "x", "cpu": 0, "name": "a"}]}
    ordered = in_model_order(doc)
    assert list(ordered) == ["containerDefinitions", "family", "status"]
    assert list(ordered["containerDefinitions"][0]) == ["name", "image", "cpu"]
