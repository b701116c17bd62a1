"""The seed's task definition, unchanged, on the process runtime with the example's image map
(spec/otel-demo.md §1.5, §1.6 steps 5–12, §4.3): the router is the built-in aws-for-fluent-bit with the
seed's ``/custom-fluent-bit.conf``, the four services run from ``examples/otel-demo`` with their cached
virtualenvs; the task's own ``curl``/``wget`` health checks make them HEALTHY, the guide's checks pass
against the task's address, and a SIGTERM stop ends every service with exit code 0.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ecslite.runtime.process.images import load_image_map
from tests.conftest import make_client, stop_server
from tests.examples.otel_demo import EXAMPLE, PROJECT_FILE, SERVICES, ensure_venv, eventually, spans_of
from tests.runtime.conftest import (
    ProcessServer,
    assert_no_leaks,
    map_images,
    start_process_server,
    wait_for,
    worker_vpc,
)

REGION = "ap-northeast-1"
CLUSTER = "otel-demo-cluster"
SERVICE_PORTS = {"python-service": 8000, "nodejs-service": 3000, "go-service": 8080, "java-service": 8081}


@dataclass
class DemoTask:
    server: ProcessServer
    arn: str
    address: str
    task: dict[str, Any]

    def client(self, service: str) -> Any:
        return make_client(service, self.server.endpoint, region=REGION)


def image_map_entries() -> dict[str, dict[str, Any]]:
    """The project file's [images] as a JSON image map with absolute paths (the test server's map is JSON)."""
    out: dict[str, dict[str, Any]] = {}
    for entry in load_image_map(PROJECT_FILE):
        item: dict[str, Any] = {"path": str(entry.path)}
        if entry.builtin:
            item["builtin"] = entry.builtin
        if entry.entry_point:
            item["entryPoint"] = list(entry.entry_point)
        if entry.environment:
            item["environment"] = dict(entry.environment)
        out[entry.image] = item
    return out


@pytest.fixture
def demo_task(tmp_path_factory: pytest.TempPathFactory, worker_tag: str, worker_number: int) -> Iterator[DemoTask]:
    for tool in ("curl", "wget"):
        assert shutil.which(tool), f"the task definition's health checks need {tool} on this host (./dev installs it)"
    for service in SERVICES:
        ensure_venv(service)
    server = start_process_server(
        tmp_path_factory.mktemp("otel-demo"), f"ecsl-{worker_tag}o", worker_vpc("otel-demo", worker_number)
    )
    arn = ""
    try:
        map_images(server, image_map_entries())
        ecs, ec2 = (
            make_client("ecs", server.endpoint, region=REGION),
            make_client("ec2", server.endpoint, region=REGION),
        )
        make_client("logs", server.endpoint, region=REGION).create_log_group(logGroupName="/ecs/otel-demo-app")
        definition = json.loads((EXAMPLE / "task-definition.json").read_text())
        registered = ecs.register_task_definition(**definition)["taskDefinition"]
        ecs.create_cluster(clusterName=CLUSTER)
        subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        started = ecs.run_task(
            cluster=CLUSTER,
            taskDefinition=registered["taskDefinitionArn"],
            launchType="FARGATE",
            networkConfiguration={
                "awsvpcConfiguration": {"subnets": [subnets[0]["SubnetId"]], "assignPublicIp": "ENABLED"}
            },
        )
        arn = started["tasks"][0]["taskArn"]

        last: dict[str, Any] = {}

        def healthy() -> dict[str, Any] | None:
            task: dict[str, Any] = ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]
            last.update(task)
            return task if services_healthy(task) or task["lastStatus"] == "STOPPED" else None

        # Docker runs the first check one interval (30 s) after the start.
        task = eventually(healthy, timeout=120, interval=1.0) or last
        if not services_healthy(task):
            pytest.fail(f"the services did not become HEALTHY: {describe(server, task)}", pytrace=False)
        details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
        yield DemoTask(server, arn, details["privateIPv4Address"], task)
    finally:
        try:
            server.reset()
        finally:
            stop_server(server.server)
        assert_no_leaks(server.settings)


def services_healthy(task: dict[str, Any]) -> bool:
    health = {c["name"]: c.get("healthStatus") for c in task.get("containers", [])}
    return all(health.get(name) == "HEALTHY" for name in SERVICE_PORTS)


def describe(server: ProcessServer, task: dict[str, Any]) -> str:
    """The task's state and each container's status, health and last output, for a failure message."""
    task_id = task["taskArn"].rsplit("/", 1)[-1]
    parts = [f"{task['lastStatus']} {task.get('stoppedReason', '')}"]
    for container in task["containers"]:
        output = httpx.get(
            f"{server.endpoint}/_ecslite/tasks/{task_id}/containers/{container['name']}/output", timeout=10
        ).text[-1500:]
        parts.append(
            f"{container['name']}: {container['lastStatus']} {container.get('healthStatus')} "
            f"exit={container.get('exitCode')} {container.get('reason', '')}\n{output}"
        )
    return "\n".join(parts)


def test_seed_task_runs_healthy_answers_the_guide_and_stops_cleanly(demo_task: DemoTask) -> None:
    # One test: under xdist a module's tests may land on different workers, each starting the task.
    check_health(demo_task)
    check_guide_steps(demo_task)
    check_stop(demo_task)


def check_health(demo_task: DemoTask) -> None:
    task = demo_task.task
    assert task["lastStatus"] == "RUNNING"
    assert task["attachments"][0]["type"] == "ElasticNetworkInterface"
    containers = {c["name"]: c for c in task["containers"]}
    assert set(containers) == {"fluent-bit", *SERVICE_PORTS}
    assert all(c["lastStatus"] == "RUNNING" for c in containers.values())
    assert {name: containers[name]["healthStatus"] for name in SERVICE_PORTS} == dict.fromkeys(SERVICE_PORTS, "HEALTHY")
    # The essential router has no health check, so the task stays UNKNOWN (ecs.md §2.7), as on ECS.
    assert containers["fluent-bit"]["healthStatus"] == "UNKNOWN"
    assert task["healthStatus"] == "UNKNOWN"
    for port in SERVICE_PORTS.values():
        response = httpx.get(f"http://{demo_task.address}:{port}/health", timeout=10)
        assert (response.status_code, response.json()) == (200, {"status": "healthy"})


def check_guide_steps(demo_task: DemoTask) -> None:
    address = demo_task.address
    trace_id = secrets.token_hex(16)
    order = httpx.post(
        f"http://{address}:8000/orders",
        json={"user_id": 1, "product_name": "Laptop", "quantity": 1},
        headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
        timeout=30,
    ).json()
    assert isinstance(order["order_id"], int)
    assert order["inventory_check"]["available"] is True
    assert order["pricing"]["pricing"]["total_price"] == 999.99
    assert order["notification"]["status"] == "sent"
    assert httpx.get(f"http://{address}:3000/inventory/1", timeout=10).json()["product_name"] == "Laptop"
    price = httpx.post(f"http://{address}:8080/calculate-price", json={"product_name": "Mouse", "quantity": 2})
    assert price.json()["total_price"] == 59.98
    sent = httpx.post(
        f"http://{address}:8081/notifications", json={"recipient": "a@example.com", "message": "hi", "type": "email"}
    )
    assert sent.json() == {"status": "sent", "recipient": "a@example.com", "type": "email"}
    metrics = httpx.get(f"http://{address}:9464/metrics", timeout=10).text
    assert "http_server_request_duration_seconds_bucket{" in metrics
    router = httpx.get(f"http://{address}:2020/api/v1/health", timeout=10)
    assert router.status_code == 200 and "fluent-bit" in router.json()

    # The services' OTLP goes to localhost:4317, the router's opentelemetry input, and on to the store.
    endpoint = demo_task.server.endpoint

    def trace_services() -> set[str]:
        response = httpx.get(f"{endpoint}/tempo/api/traces/{trace_id}", timeout=10)
        return {s["service"] for s in spans_of(response.json())} if response.status_code == 200 else set()

    services = eventually(
        lambda: (
            (found := trace_services())
            >= {
                "python-fastapi-service",
                "nodejs-express-service",
                "go-gin-service",
                "java-spring-boot-service",
            }
            and found
        ),
        timeout=30,
    )
    assert services, f"trace {trace_id} did not span the four services: {trace_services()}"

    # stdout JSON lines travel through FireLens with their trace id.
    def log_lines() -> list[Any]:
        query = '{service_name="python-fastapi-service"} |= "Creating order for user 1"'
        response = httpx.get(f"{endpoint}/loki/api/v1/query_range", params={"query": query, "limit": 50}, timeout=10)
        return [
            value
            for stream in response.json()["data"]["result"]
            for value in stream["values"]
            if trace_id in value[1] or stream["stream"].get("trace_id") == trace_id
        ]

    assert eventually(log_lines, timeout=30), "no log line of the order carried its trace id"


def check_stop(demo_task: DemoTask) -> None:
    ecs = demo_task.client("ecs")
    ecs.stop_task(cluster=CLUSTER, task=demo_task.arn)

    def stopped() -> dict[str, Any] | None:
        task: dict[str, Any] = ecs.describe_tasks(cluster=CLUSTER, tasks=[demo_task.arn])["tasks"][0]
        return task if task["lastStatus"] == "STOPPED" else None

    task = wait_for(stopped, timeout=60, interval=0.5)
    assert task["stopCode"] == "UserInitiated"
    exits = {c["name"]: c.get("exitCode") for c in task["containers"]}
    assert {name: exits[name] for name in SERVICE_PORTS} == dict.fromkeys(SERVICE_PORTS, 0)
