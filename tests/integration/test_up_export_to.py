"""``ecslite up --export-to sink|real`` on the fake runtime (spec/otel-demo.md §4.1 step 2): with
``sink`` (the default) a container's ``LOKI_ENDPOINT``/``TEMPO_ENDPOINT``/``THANOS_ENDPOINT`` hold the
gateway of the services' subnet in the registered revision, and ``up`` prints the sink's URLs (and
that this server, without the process runtime, runs no sink); ``real`` registers the task
definition's own hosts again."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_client
from tests.fixtures.ports import free_port

pytestmark = [pytest.mark.integration]

REGION = "eu-west-1"
PROJECT = """
[project]
name = "routed"
region = "eu-west-1"

[cluster]
name = "routed-cluster"

[services.router]
task_definition = "router.json"

# No health checks: a rollout that keeps the old task until the new one counts as healthy waits 40 s
# after RUNNING (spec/ecs.md §4.5). A floor of 0 and a ceiling of 100 % replace it at once.
[services.router.deployment]
minimum_healthy_percent = 0
maximum_percent = 100

# A value the project file sets is kept, whatever --export-to says.
[services.router.environment.log_router]
THANOS_ENDPOINT = "thanos.internal"
"""
DEFINITION = {
    "family": "routed-router",
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "256",
    "memory": "512",
    "containerDefinitions": [
        {
            "name": "log_router",
            "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:3.0.0",
            "essential": True,
            "environment": [
                {"name": "LOKI_ENDPOINT", "value": "nlb.example.com"},
                {"name": "TEMPO_ENDPOINT", "value": "nlb.example.com"},
                {"name": "THANOS_ENDPOINT", "value": "nlb.example.com"},
                {"name": "AWS_REGION", "value": "eu-west-1"},
            ],
        },
        {"name": "app", "image": "shop/app:1", "essential": True, "environment": [{"name": "MODE", "value": "prod"}]},
    ],
}


def run_up(directory: Path, endpoint: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ecslite", "up", str(directory), "--endpoint", endpoint]
    command += ["--runtime", "fake", "--data-dir", str(data_dir), "--timeout", "60", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})


def environments(ecs: Any) -> dict[str, dict[str, str]]:
    service = ecs.describe_services(cluster="routed-cluster", services=["router"])["services"][0]
    definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    return {c["name"]: {e["name"]: e["value"] for e in c["environment"]} for c in definition["containerDefinitions"]}


def test_up_points_export_variables_at_the_sink_and_real_restores_them(tmp_path: Path) -> None:
    directory = tmp_path / "routed"
    directory.mkdir()
    (directory / "ecslite.toml").write_text(PROJECT)
    (directory / "router.json").write_text(json.dumps(DEFINITION))
    endpoint = f"http://127.0.0.1:{free_port()}"
    try:
        first = run_up(directory, endpoint, tmp_path / "data")
        assert first.returncode == 0, first.stdout + first.stderr
        ec2 = make_client("ec2", endpoint, region=REGION)
        subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        gateway = str(ipaddress.IPv4Network(subnets[0]["CidrBlock"]).network_address + 1)
        ecs = make_client("ecs", endpoint, region=REGION)
        env = environments(ecs)
        assert env["log_router"] == {
            "LOKI_ENDPOINT": gateway,
            "TEMPO_ENDPOINT": gateway,
            "THANOS_ENDPOINT": "thanos.internal",
            "AWS_REGION": "eu-west-1",
        }
        assert env["app"] == {"MODE": "prod"}
        assert f"Loki         http://{gateway}:3100/loki/api/v1/push" in first.stdout
        assert f"Tempo        http://{gateway}:4318/v1/traces" in first.stdout
        assert f"Thanos       http://{gateway}:19291/api/v1/receive" in first.stdout
        assert "this server runs no export sink (process runtime only)" in first.stdout

        real = run_up(directory, endpoint, tmp_path / "data", "--export-to", "real")
        assert real.returncode == 0, real.stdout + real.stderr
        assert "routed-router:2 registered" in real.stdout
        assert environments(ecs)["log_router"]["LOKI_ENDPOINT"] == "nlb.example.com"
        assert environments(ecs)["log_router"]["THANOS_ENDPOINT"] == "thanos.internal"
        assert "Export sink" not in real.stdout
    finally:
        state = directory / ".ecslite" / "server.json"
        if state.exists():
            os.kill(json.loads(state.read_text())["pid"], signal.SIGTERM)


def test_up_refuses_an_unknown_export_target(tmp_path: Path) -> None:
    (tmp_path / "ecslite.toml").write_text(PROJECT)
    result = run_up(tmp_path, f"http://127.0.0.1:{free_port()}", tmp_path / "data", "--export-to", "loki")
    assert result.returncode == 2
    assert "--export-to must be one of sink, real." in result.stderr
    assert not (tmp_path / ".ecslite" / "server.json").exists()
