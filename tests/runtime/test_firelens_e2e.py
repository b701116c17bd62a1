"""FireLens end to end on the process runtime (issue 7 items 1 and 2; spec/telemetry.md §4.7, §5, §6.5;
ecs.md §10.3): the seed's task definition shape — a router built FROM aws-for-fluent-bit with the
seed's ``/custom-fluent-bit.conf``, an application logging through ``awsfirelens`` and sending OTLP
to ``localhost:4317`` — runs for real; the application's stdout/stderr and its span reach the
telemetry store with the ECS attributes, and the router's 2020 API answers as spec §5 says.

The server keeps its telemetry store on disk so the test reads it back (read only).
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from ecslite.telemetry.log_records import decode_log_detail
from ecslite.telemetry.store import LogQuery, Matcher, StoreSettings, TelemetryStore
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

T = TypeVar("T")
SEED_CONFIG = Path(__file__).resolve().parents[1] / "data" / "custom-fluent-bit.conf"
ROUTER_IMAGE = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/otel-demo:fluent-bit"
APP_IMAGE = "ecslite-test/firelens-app"


@pytest.fixture(scope="module")
def firelens_server(
    tmp_path_factory: pytest.TempPathFactory, worker_tag: str, worker_number: int
) -> Iterator[ProcessServer]:
    """A process server with its telemetry on disk; its own bridge and VPC (``ecsl-<worker>f``)."""
    data = tmp_path_factory.mktemp("firelens")
    server = start_process_server(data, f"ecsl-{worker_tag}f", worker_vpc("firelens", worker_number), ephemeral=False)
    image_root = data / "router-image"
    image_root.mkdir()
    shutil.copy(SEED_CONFIG, image_root / "custom-fluent-bit.conf")
    map_images(
        server,
        {
            # The seed's custom image FROM aws-for-fluent-bit, with its config file at the image's root.
            ROUTER_IMAGE: {"path": str(image_root), "builtin": "aws-for-fluent-bit"},
            APP_IMAGE: {"path": str(PROGRAMS), "entryPoint": [__import__("sys").executable, "firelens_app.py"]},
        },
    )
    yield server
    try:
        server.reset()
    finally:
        stop_server(server.server)
    assert_no_leaks(server.settings)


def reader(server: ProcessServer) -> Callable[[Callable[[TelemetryStore], T]], T | None]:
    directory = server.settings.data_dir / "telemetry"

    def wait(probe: Callable[[TelemetryStore], T], timeout: float = 30.0) -> T | None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                store = TelemetryStore(StoreSettings(directory=directory, read_only=True))
            except sqlite3.OperationalError:
                found = None
            else:
                try:
                    found = probe(store)
                finally:
                    store.close()
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    return wait


def register(ecs: Any, trace_hex: str) -> str:
    definition = ecs.register_task_definition(
        family="firelens-e2e",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="512",
        memory="1024",
        containerDefinitions=[
            {
                "name": "fluent-bit",
                "image": ROUTER_IMAGE,
                "essential": True,
                "firelensConfiguration": {
                    "type": "fluentbit",
                    "options": {"config-file-type": "file", "config-file-value": "/custom-fluent-bit.conf"},
                },
                "environment": [
                    {"name": "LOKI_ENDPOINT", "value": "127.0.0.1"},
                    {"name": "TEMPO_ENDPOINT", "value": "127.0.0.1"},
                    {"name": "THANOS_ENDPOINT", "value": "127.0.0.1"},
                    {"name": "AWS_REGION", "value": "us-east-1"},
                ],
            },
            {
                "name": "app",
                "image": APP_IMAGE,
                "essential": True,
                "command": [trace_hex],
                "environment": [{"name": "OTEL_SERVICE_NAME", "value": "firelens-app"}],
                "logConfiguration": {
                    "logDriver": "awsfirelens",
                    "options": {"Name": "forward", "Host": "localhost", "Port": "24224"},
                },
                "dependsOn": [{"containerName": "fluent-bit", "condition": "START"}],
            },
        ],
    )
    return str(definition["taskDefinition"]["taskDefinitionArn"])


def test_seed_shaped_firelens_task_feeds_the_store_and_serves_2020(firelens_server: ProcessServer) -> None:
    firelens_server.reset()
    ecs = make_client("ecs", firelens_server.endpoint)
    ec2 = make_client("ec2", firelens_server.endpoint)
    trace_hex = secrets.token_hex(16)
    arn_of_definition = register(ecs, trace_hex)
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    subnet = sorted(subnets, key=lambda s: s["AvailabilityZone"])[0]["SubnetId"]
    started = ecs.run_task(
        taskDefinition=arn_of_definition,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet]}},
    )
    task_arn = started["tasks"][0]["taskArn"]

    def running() -> dict[str, Any] | None:
        task: dict[str, Any] = ecs.describe_tasks(tasks=[task_arn])["tasks"][0]
        assert task["lastStatus"] != "STOPPED", (task.get("stoppedReason"), task["containers"])
        return task if task["lastStatus"] == "RUNNING" else None

    task = wait_for(running, timeout=60, interval=0.5)
    address = next(d["value"] for d in task["attachments"][0]["details"] if d["name"] == "privateIPv4Address")
    read = reader(firelens_server)
    try:
        # stdout/stderr through FireLens: the ECS keys on every record, the task's resource attributes.
        def app_lines(store: TelemetryStore) -> list[Any]:
            now = time.time_ns()
            query = LogQuery((Matcher("service_name", "=", "firelens-app"),), now - 600 * 10**9, now + 60 * 10**9)
            found = store.read_logs(query)
            sources = {log.record.source for log in found}
            return found if {"stdout", "stderr"} <= sources else []

        lines = read(app_lines)
        assert lines, "the app's stdout/stderr did not reach the store"
        by_body = {log.record.body: log for log in lines}
        started_line = by_body[f"INFO app started trace_id={trace_hex}"]
        assert started_line.record.trace_id.hex() == trace_hex
        assert started_line.record.severity_number == 9
        attributes = decode_log_detail(started_line.record.detail).attributes
        assert attributes["ecs_task_arn"] == task_arn
        assert attributes["ecs_cluster"] == "default"
        assert attributes["ecs_task_definition"] == "firelens-e2e:1"
        assert attributes["container_name"] == "app"
        assert attributes["source"] == "stdout"
        assert attributes["fluent.tag"] == f"app-firelens-{task_arn.rsplit('/', 1)[-1]}"
        resource = started_line.resource.attributes
        assert resource["aws.ecs.task.arn"] == task_arn
        assert resource["container.name"] == "app"
        assert resource["cloud.platform"] == "aws_ecs"
        assert by_body["ERROR something went wrong"].record.source == "stderr"

        # OTLP from the app to localhost:4317: the router's opentelemetry input, tapped into the store.
        spans = read(lambda store: store.trace(bytes.fromhex(trace_hex)))
        assert spans, "the app's span did not reach the store"
        [span] = spans
        assert span.span.name == "GET /work"
        assert span.resource.attributes["service.name"] == "firelens-app"
        assert span.resource.attributes["aws.ecs.task.arn"] == task_arn
        assert span.resource.attributes["aws.ecs.task.family"] == "firelens-e2e"

        # 2020: the seed has HTTP_Server On and no Health_Check, so /api/v1/health is the root JSON (§5).
        health = httpx.get(f"http://{address}:2020/api/v1/health", timeout=5)
        assert health.status_code == 200
        assert health.json()["fluent-bit"]["version"] == "4.1.0"
        metrics = wait_for(
            lambda: (m := httpx.get(f"http://{address}:2020/api/v1/metrics", timeout=5)).status_code == 200 and m.json()
        )
        assert metrics["input"]["forward.0"]["records"] >= 2  # the FireLens unix socket input
        assert set(metrics) == {"input", "filter", "output"}
        stats = httpx.get(f"{firelens_server.endpoint}/_ecslite/telemetry/stats", timeout=5).json()["gateway"]
        diagnostics = "\n".join(stats["diagnostics"][task_arn])
        assert "invalid label key, the name must start with '$'" in diagnostics
        assert "two forward inputs listen on TCP 24224" in diagnostics
    finally:
        ecs.stop_task(task=task_arn)

    def stopped() -> dict[str, Any] | None:
        found: dict[str, Any] = ecs.describe_tasks(tasks=[task_arn])["tasks"][0]
        return found if found["lastStatus"] == "STOPPED" else None

    assert wait_for(stopped, timeout=60, interval=0.5)["stopCode"] == "UserInitiated"
