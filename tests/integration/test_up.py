"""``ecslite up`` / ``ecslite down`` end to end on the fake runtime: the commands run as subprocesses,
``up`` starts its own server (fresh data directory, a free port) for a small project the test writes,
and the results are read back through boto3.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_client
from tests.fixtures.ports import free_port

REGION = "eu-west-1"
CLUSTER = "shop-cluster"

PROJECT = """
[project]
name = "shop"
region = "eu-west-1"
try = ["curl http://{address:api}:8080/items"]

[cluster]
name = "shop-cluster"
settings = { containerInsights = "enabled" }

[[log_groups]]
name = "/ecs/shop"
retention_days = 7

[cloud_map]
namespace = "shop.local"

[services.api]
task_definition = "api.json"
desired_count = 2
assign_public_ip = "ENABLED"
registries = [{ name = "api", container_name = "web", container_port = 8080 }]

[services.api.deployment]
minimum_healthy_percent = 50
maximum_percent = 200
circuit_breaker = { enable = true, rollback = false }

[services.api.autoscaling]
min_capacity = 1
max_capacity = 4

[[services.api.autoscaling.policies]]
policy_name = "cpu"
policy_type = "TargetTrackingScaling"
target_tracking.TargetValue = 70.0
target_tracking.PredefinedMetricSpecification.PredefinedMetricType = "ECSServiceAverageCPUUtilization"

[services.api.environment.web]
GREETING = "hello"

[services.worker]
task_definition = "worker.json"
after = ["api"]

# The worker has no health check: a rollout that keeps its old task until the new one counts as
# healthy waits 40 s after RUNNING (spec/ecs.md §4.5). A floor of 0 and a ceiling of 100 % replace it
# at once.
[services.worker.deployment]
minimum_healthy_percent = 0
maximum_percent = 100

[services.worker.environment.worker]
API_URL = "http://{address:api}:8080"
"""


def task_definition(family: str, container: str, port: int, **extra: Any) -> dict[str, Any]:
    return {
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [
            {
                "name": container,
                "image": f"shop/{container}:1",
                "essential": True,
                "portMappings": [{"containerPort": port, "name": f"{container}-http"}],
                "environment": [{"name": "GREETING", "value": "hi"}, {"name": "MODE", "value": "prod"}],
                **extra,
            }
        ],
    }


@dataclass
class Shop:
    directory: Path
    endpoint: str
    data_dir: Path

    def run(self, command: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ecslite", command, str(self.directory), "--endpoint", self.endpoint, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "COLUMNS": "200"},
        )

    def up(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("up", "--runtime", "fake", "--data-dir", str(self.data_dir), "--timeout", "60", *args)

    def client(self, service: str) -> Any:
        return make_client(service, self.endpoint, region=REGION)


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    directory = tmp_path / "shop"
    directory.mkdir()
    (directory / "ecslite.toml").write_text(PROJECT)
    health = {"command": ["CMD-SHELL", "true"], "interval": 5, "timeout": 2, "retries": 3, "startPeriod": 0}
    (directory / "api.json").write_text(json.dumps(task_definition("shop-api", "web", 8080, healthCheck=health)))
    (directory / "worker.json").write_text(json.dumps(task_definition("shop-worker", "worker", 9000)))
    shop = Shop(directory, f"http://127.0.0.1:{free_port()}", tmp_path / "data")
    yield shop
    state = directory / ".ecslite" / "server.json"
    if state.exists():  # a test that failed before down: stop the server up started, by its pid
        pid = json.loads(state.read_text())["pid"]
        with _suppress_lookup():
            os.kill(pid, 15)


class _suppress_lookup:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, value: object, tb: object) -> bool:
        return isinstance(value, ProcessLookupError)


def assert_ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def running_tasks(ecs: Any, service: str) -> list[dict[str, Any]]:
    arns = ecs.list_tasks(cluster=CLUSTER, serviceName=service)["taskArns"]
    return ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"] if arns else []


def address_of(task: dict[str, Any]) -> str:
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    return str(details["privateIPv4Address"])


def test_up_deploys_the_project_then_reruns_roll_only_changes_and_down_removes_everything(shop: Shop) -> None:
    out = assert_ok(shop.up())
    ecs, logs, scaling = shop.client("ecs"), shop.client("logs"), shop.client("application-autoscaling")

    cluster = ecs.describe_clusters(clusters=[CLUSTER], include=["SETTINGS"])["clusters"][0]
    assert cluster["status"] == "ACTIVE"
    assert cluster["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    group = logs.describe_log_groups(logGroupNamePrefix="/ecs/shop")["logGroups"][0]
    assert group["retentionInDays"] == 7

    api, worker = ecs.describe_services(cluster=CLUSTER, services=["api", "worker"])["services"]
    assert (api["desiredCount"], api["runningCount"]) == (2, 2)
    assert api["deploymentConfiguration"]["minimumHealthyPercent"] == 50
    assert api["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": False}
    assert api["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "ENABLED"
    assert worker["runningCount"] == 1

    # The project's environment is merged into the registered revision, in place and appended.
    api_td = ecs.describe_task_definition(taskDefinition=api["taskDefinition"])["taskDefinition"]
    assert api_td["containerDefinitions"][0]["environment"] == [
        {"name": "GREETING", "value": "hello"},
        {"name": "MODE", "value": "prod"},
    ]
    worker_td = ecs.describe_task_definition(taskDefinition=worker["taskDefinition"])["taskDefinition"]
    api_addresses = {address_of(t) for t in running_tasks(ecs, "api")}
    worker_env = {e["name"]: e["value"] for e in worker_td["containerDefinitions"][0]["environment"]}
    assert worker_env["API_URL"].removeprefix("http://").removesuffix(":8080") in api_addresses

    # Cloud Map: the private namespace, its service, and the ECS service registered in it.
    discovery = shop.client("servicediscovery")
    namespace = discovery.list_namespaces()["Namespaces"][0]
    assert (namespace["Name"], namespace["Type"]) == ("shop.local", "DNS_PRIVATE")
    registry = discovery.list_services()["Services"][0]
    assert registry["Name"] == "api"
    # awsvpc tasks register A records: ECS takes no container name or port for them.
    assert api["serviceRegistries"] == [{"registryArn": registry["Arn"]}]

    target = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"][0]
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == (f"service/{CLUSTER}/api", 1, 4)
    policy = scaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"][0]
    assert policy["PolicyName"] == "cpu"

    # What up prints: the UI, each task's URLs, the data sources, the project's try commands, next steps.
    assert f"{shop.endpoint}/ui" in out
    for address in api_addresses:
        assert f"http://{address}:8080" in out
    assert f"{shop.endpoint}/prometheus" in out and f"{shop.endpoint}/tempo" in out
    assert any(f"curl http://{address}:8080/items" in out for address in api_addresses)
    assert f"ecslite down {shop.directory} --endpoint {shop.endpoint}" in out

    # Unchanged: nothing registered, no new deployment.
    again = assert_ok(shop.up())
    assert "registered" not in again and "updated" not in again
    assert ecs.list_task_definitions(familyPrefix="shop-api")["taskDefinitionArns"] == [api["taskDefinition"]]

    # A changed variable: a new revision, rolled out.
    (shop.directory / "ecslite.toml").write_text(PROJECT.replace('GREETING = "hello"', 'GREETING = "bonjour"'))
    changed = assert_ok(shop.up())
    assert "shop-api:2 registered" in changed
    api = ecs.describe_services(cluster=CLUSTER, services=["api"])["services"][0]
    assert api["taskDefinition"].endswith("shop-api:2")
    assert [d["status"] for d in api["deployments"]] == ["PRIMARY"]

    server_pid = json.loads((shop.directory / ".ecslite" / "server.json").read_text())["pid"]
    gone = assert_ok(shop.run("down", "--stop-server"))
    assert "every task stopped" in gone
    assert not _alive(server_pid)
    assert not (shop.directory / ".ecslite" / "server.json").exists()


def _alive(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.1)
    return True


def test_down_leaves_no_task_service_revision_or_cluster(shop: Shop) -> None:
    assert_ok(shop.up())
    ecs, scaling = shop.client("ecs"), shop.client("application-autoscaling")
    assert_ok(shop.run("down"))

    # DeleteCluster refuses a cluster with tasks or services (ClusterContainsTasksException), so an
    # INACTIVE cluster means every task had stopped.
    assert not _cluster_active(ecs)
    for family in ("shop-api", "shop-worker"):
        assert ecs.list_task_definitions(familyPrefix=family, status="ACTIVE")["taskDefinitionArns"] == []
    assert scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"] == []
    assert shop.client("servicediscovery").list_namespaces()["Namespaces"] == []
    assert shop.client("logs").describe_log_groups(logGroupNamePrefix="/ecs/shop")["logGroups"]  # kept
    assert httpx.get(f"{shop.endpoint}/_ecslite/health", timeout=5).status_code == 200  # --keep-server

    # The same project comes up again on the same server (its Cloud Map namespace is created anew).
    assert_ok(shop.up())
    namespaces = shop.client("servicediscovery").list_namespaces()["Namespaces"]
    assert [n["Name"] for n in namespaces] == ["shop.local"]
    assert _cluster_active(ecs)

    again = assert_ok(shop.run("down", "--delete-logs", "--stop-server"))
    assert "log group /ecs/shop deleted" in again
    assert not (shop.directory / ".ecslite" / "server.json").exists()


def _cluster_active(ecs: Any) -> bool:
    return any(c["status"] == "ACTIVE" for c in ecs.describe_clusters(clusters=[CLUSTER])["clusters"])


def _stop(shop: Shop) -> None:
    pid = json.loads((shop.directory / ".ecslite" / "server.json").read_text())["pid"]
    os.kill(pid, 15)
    assert not _alive(pid)


def test_up_exits_non_zero_with_the_stopped_reason_and_output_when_tasks_keep_stopping(shop: Shop) -> None:
    labels = {"ecslite.fake.run-seconds": "0.2", "ecslite.fake.exit-code": "3", "ecslite.fake.output": "boom: no db"}
    failing = task_definition("shop-api", "web", 8080, dockerLabels=labels)
    (shop.directory / "api.json").write_text(json.dumps(failing))
    project = PROJECT.replace("circuit_breaker = { enable = true, rollback = false }", "")
    (shop.directory / "ecslite.toml").write_text(project)

    result = shop.up()
    assert result.returncode == 1, result.stdout + result.stderr
    stopped = re.search(r"Deployment of api failed: (\d+) tasks of the deployment stopped", result.stderr)
    assert stopped is not None and int(stopped.group(1)) >= 3, result.stderr
    assert "Essential container in task exited" in result.stderr
    assert "web: exit code 3" in result.stderr
    assert "| boom: no db" in result.stderr
    _stop(shop)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("desired_count = 2", "desird_count = 2"), "services.api.desird_count: unknown key"),
        (("[services.api.environment.web]", "[services.api.environment.webb]"), "has no container 'webb'"),
        (('after = ["api"]', "after = []"), "{address:api} needs 'api' deployed first"),
    ],
)
def test_up_rejects_a_bad_project_naming_the_key(shop: Shop, edit: tuple[str, str], message: str) -> None:
    (shop.directory / "ecslite.toml").write_text(PROJECT.replace(*edit))
    result = shop.up()
    assert result.returncode == 2
    assert message in result.stderr.replace("\n", " ")
    assert not (shop.directory / ".ecslite" / "server.json").exists()  # nothing started
