"""ECS enrichment (spec/telemetry.md §2.1) and OTel → Prometheus names (§2.4)."""

from __future__ import annotations

from ecslite.telemetry.enrich import ContainerOwner, TaskOwner, enrich
from ecslite.telemetry.model import Resource
from ecslite.telemetry.prometheus import metric_name

TASK = "arn:aws:ecs:us-east-1:123456789012:task/demo/5f0c2e8a9b7d4c1e8a6b3d2f1e0c9b8a"
OWNER = TaskOwner(
    task_arn=TASK,
    cluster_arn="arn:aws:ecs:us-east-1:123456789012:cluster/demo",
    family="otel-demo",
    revision=3,
    launch_type="FARGATE",
    region="us-east-1",
    account="123456789012",
    service_name="shop",
    host_name="ip-10-0-1-23.ec2.internal",
    containers=(
        ContainerOwner("python-service", "5f0c-1234567890", image="shop/python:1.2", otel_service_name="orders"),
        ContainerOwner("log-router", "5f0c-0987654321", image="amazon/aws-for-fluent-bit:3.0.0"),
    ),
)


def test_task_attributes_are_added_and_sdk_values_win() -> None:
    enriched = enrich(Resource({"service.name": "orders", "cloud.region": "sdk-says"}), OWNER)
    attrs = enriched.attributes
    assert attrs["aws.ecs.task.arn"] == TASK
    assert attrs["aws.ecs.task.id"] == "5f0c2e8a9b7d4c1e8a6b3d2f1e0c9b8a"
    assert attrs["aws.ecs.task.revision"] == "3"
    assert attrs["aws.ecs.launchtype"] == "fargate"
    assert attrs["cloud.platform"] == "aws_ecs"
    assert attrs["cloud.region"] == "sdk-says"
    assert attrs["container.name"] == "python-service"
    assert attrs["container.image.tags"] == ["1.2"]
    assert attrs["service.instance.id"] == "5f0c2e8a9b7d4c1e8a6b3d2f1e0c9b8a/python-service"
    assert enrich(Resource({"cloud.region": "sdk-says"}), OWNER, override=True).attributes["cloud.region"] == (
        "us-east-1"
    )


def test_unknown_sender_gets_task_attributes_but_no_container() -> None:
    attrs = enrich(Resource({"service.name": "unknown_service:python"}), OWNER).attributes
    assert attrs["aws.ecs.task.family"] == "otel-demo"
    assert "container.name" not in attrs
    assert attrs["service.name"] == "unknown_service:python"
    assert enrich(Resource(), None) == Resource()


def test_prometheus_names_get_units_and_total() -> None:
    assert metric_name("http.server.request.duration", "s", gauge=False, counter=False) == (
        "http_server_request_duration_seconds"
    )
    assert metric_name("orders.created", "{orders}", gauge=False, counter=True) == "orders_created_total"
    assert metric_name("net.io", "By/s", gauge=True, counter=False) == "net_io_bytes_per_second"
    assert metric_name("cpu.utilization", "1", gauge=True, counter=False) == "cpu_utilization_ratio"
    assert metric_name("2xx", "", gauge=True, counter=False) == "_2xx"
