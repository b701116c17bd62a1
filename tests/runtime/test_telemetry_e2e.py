"""OpenTelemetry from inside a task, with no collector container (issue 7; spec/telemetry.md §0, §1.2,
§2): the real OpenTelemetry Python SDK in a container sends a span over OTLP/gRPC to
``localhost:4317`` and a log record and a counter over OTLP/HTTP to ``localhost:4318`` — the task's
implicit listeners — and all three come back through ecslite's Tempo, Jaeger, Loki and Prometheus
APIs carrying the ECS resource attributes of the task that sent them.
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import make_client, stop_server
from tests.runtime.conftest import (
    PROGRAMS,
    ProcessServer,
    assert_no_leaks,
    map_images,
    start_process_server,
    wait_for,
    worker_vpc,
)

APP_IMAGE = "ecslite-test/otel-sdk-app"


@pytest.fixture(scope="module")
def sdk_server(
    tmp_path_factory: pytest.TempPathFactory, worker_tag: str, worker_number: int
) -> Iterator[ProcessServer]:
    """A process server with its own bridge and VPC (``ecsl-<worker>t``)."""
    server = start_process_server(
        tmp_path_factory.mktemp("sdk"), f"ecsl-{worker_tag}t", worker_vpc("telemetry", worker_number)
    )
    map_images(server, {APP_IMAGE: {"path": str(PROGRAMS), "entryPoint": [sys.executable, "otel_sdk_app.py"]}})
    yield server
    try:
        server.reset()
    finally:
        stop_server(server.server)
    assert_no_leaks(server.settings)


def eventually(probe: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} did not arrive within {timeout}s"
        time.sleep(0.3)


def get_json(url: str, **params: str) -> Any:
    response = httpx.get(url, params=params, timeout=10)
    return response.json() if response.status_code == 200 else None


def test_sdk_in_a_task_reaches_tempo_jaeger_loki_and_prometheus_with_ecs_attributes(sdk_server: ProcessServer) -> None:
    sdk_server.reset()
    ecs = make_client("ecs", sdk_server.endpoint)
    ec2 = make_client("ec2", sdk_server.endpoint)
    trace_hex = secrets.token_hex(16)
    ecs.create_cluster(clusterName="shop")
    definition = ecs.register_task_definition(
        family="sdk-app",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": "app",
                "image": APP_IMAGE,
                "command": [trace_hex],
                "environment": [{"name": "OTEL_SERVICE_NAME", "value": "sdk-app"}],
            }
        ],
    )["taskDefinition"]
    subnet = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]["SubnetId"]
    task_arn = ecs.run_task(
        cluster="shop",
        taskDefinition=definition["taskDefinitionArn"],
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet]}},
    )["tasks"][0]["taskArn"]
    endpoint = sdk_server.endpoint
    try:

        def running() -> bool:
            task = ecs.describe_tasks(cluster="shop", tasks=[task_arn])["tasks"][0]
            assert task["lastStatus"] != "STOPPED", (task.get("stoppedReason"), task["containers"])
            return bool(task["lastStatus"] == "RUNNING")

        wait_for(running, timeout=60, interval=0.3)

        # Tempo: the span, its resource enriched with the task's ECS attributes.
        tempo = eventually(lambda: get_json(f"{endpoint}/tempo/api/traces/{trace_hex}"), "the span (Tempo)")
        [batch] = tempo["batches"]
        resource = {a["key"]: next(iter(a["value"].values())) for a in batch["resource"]["attributes"]}
        assert resource["service.name"] == "sdk-app"
        assert resource["aws.ecs.task.arn"] == task_arn
        assert resource["aws.ecs.task.family"] == "sdk-app"
        assert resource["aws.ecs.cluster.arn"].endswith(":cluster/shop")
        assert resource["aws.ecs.launchtype"].lower() == "fargate"
        assert resource["container.name"] == "app"
        assert resource["cloud.provider"] == "aws" and resource["cloud.platform"] == "aws_ecs"
        [span] = [s for scope in batch["scopeSpans"] for s in scope["spans"]]
        assert span["name"] == "POST /orders"

        # Jaeger: the same trace, the process tagged with the task.
        jaeger = eventually(lambda: get_json(f"{endpoint}/jaeger/api/traces/{trace_hex}"), "the span (Jaeger)")
        [trace] = jaeger["data"]
        assert [s["operationName"] for s in trace["spans"]] == ["POST /orders"]
        [process] = trace["processes"].values()
        assert process["serviceName"] == "sdk-app"
        assert {"key": "aws.ecs.task.arn", "type": "string", "value": task_arn} in process["tags"]

        # Loki: the log record, labelled by service, cluster, family and container, with its trace id.
        now = time.time_ns()

        def log_streams() -> list[dict[str, Any]]:
            answer = get_json(
                f"{endpoint}/loki/api/v1/query_range",
                query='{service_name="sdk-app"} |= "order accepted"',
                start=str(now - 600 * 10**9),
                end=str(now + 60 * 10**9),
            )
            return list(answer["data"]["result"]) if answer else []

        [stream] = eventually(log_streams, "the log record (Loki)")
        labels = stream["stream"]
        assert (labels["cluster"], labels["task_family"], labels["container"]) == ("shop", "sdk-app", "app")
        [[_, line]] = stream["values"]
        assert line == "order accepted"
        # Without categorize-labels, Loki answers structured metadata among the labels.
        assert labels["trace_id"] == trace_hex

        # Prometheus: the counter, with the task's promoted labels and its target_info.
        def counter() -> list[dict[str, Any]]:
            answer = get_json(f"{endpoint}/prometheus/api/v1/query", query='sdk_app_orders_total{product="laptop"}')
            return list(answer["data"]["result"]) if answer else []

        [series] = eventually(counter, "the counter (Prometheus)")
        assert series["value"][1] == "3"
        assert series["metric"]["job"] == "sdk-app"
        assert (series["metric"]["cluster"], series["metric"]["task_family"], series["metric"]["container"]) == (
            "shop",
            "sdk-app",
            "app",
        )
        info = get_json(f"{endpoint}/prometheus/api/v1/query", query='target_info{job="sdk-app"}')
        assert [r["metric"]["aws_ecs_task_arn"] for r in info["data"]["result"]] == [task_arn]
    finally:
        ecs.stop_task(cluster="shop", task=task_arn)
