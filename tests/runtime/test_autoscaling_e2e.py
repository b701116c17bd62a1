"""Service autoscaling from real usage (spec/ecs.md §6): a task that burns CPU while a file exists makes
its service scale out through a target tracking policy on ``AWS/ECS CPUUtilization``, and it scales
back in when the load stops; the server runs with ``--metrics-period 2`` (one CloudWatch minute = 2 s, so the
low alarm's 15 datapoints take 30 s)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_client, stop_server
from tests.runtime.conftest import PROGRAMS, ProcessServer, assert_no_leaks, start_process_server, wait_for, worker_vpc
from tests.runtime.test_tasks_e2e import PROGRAMS_IMAGE, default_subnet, register

RESOURCE = "service/default/burner"
POLICY = {
    "TargetValue": 50.0,
    "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
    "ScaleOutCooldown": 60,
    "ScaleInCooldown": 60,
}


@pytest.fixture(scope="module")
def scaling_server(
    tmp_path_factory: pytest.TempPathFactory, worker_tag: str, worker_number: int
) -> Iterator[ProcessServer]:
    server = start_process_server(
        tmp_path_factory.mktemp("scaling"),
        f"ecsl-{worker_tag}a",
        worker_vpc("autoscaling", worker_number),
        "--metrics-period",
        "2",
    )
    yield server
    try:
        server.reset()
        assert_no_leaks(server.settings)
    finally:
        stop_server(server.server)


def cli(endpoint: str, tmp: Path, *args: str) -> Any:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env["AWS_CONFIG_FILE"] = str(tmp / "config")
    result = subprocess.run(
        [str(Path(sys.executable).with_name("aws")), "--endpoint-url", endpoint, "--output", "json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def test_cpu_load_scales_the_service_out_and_back_in(scaling_server: ProcessServer, tmp_path: Path) -> None:
    endpoint = scaling_server.endpoint
    ecs, aas = make_client("ecs", endpoint), make_client("application-autoscaling", endpoint)
    control = tmp_path / "load"
    definition = register(
        ecs,
        "burner",
        {
            "name": "burner",
            "image": PROGRAMS_IMAGE,
            "command": [str(PROGRAMS / "burn_while.py"), str(control)],
            "essential": True,
            # A passing check makes the task healthy after one 5 s interval, so the first deployment
            # completes then instead of 40 s after RUNNING (the rule for tasks without a check).
            "healthCheck": {"command": ["CMD-SHELL", "exit 0"], "interval": 5, "timeout": 2},
        },
    )
    ecs.create_service(
        serviceName="burner",
        taskDefinition=definition,
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [default_subnet(endpoint)]}},
    )

    def service() -> dict[str, Any]:
        found: dict[str, Any] = ecs.describe_services(services=["burner"])["services"][0]
        return found

    try:
        # No scale-in while the first deployment is in progress: let it complete.
        wait_for(lambda: service()["deployments"][0]["rolloutState"] == "COMPLETED", timeout=120, interval=1)
        target = {"ServiceNamespace": "ecs", "ScalableDimension": "ecs:service:DesiredCount", "ResourceId": RESOURCE}
        aas.register_scalable_target(**target, MinCapacity=1, MaxCapacity=3)
        aas.put_scaling_policy(
            **target,
            PolicyName="cpu",
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration=POLICY,
        )

        control.write_text("burn")
        wait_for(lambda: service()["desiredCount"] >= 2, timeout=120, interval=1)
        wait_for(lambda: service()["runningCount"] >= 2, timeout=60, interval=1)
        stats = cli(
            endpoint,
            tmp_path,
            "cloudwatch",
            "get-metric-statistics",
            "--namespace",
            "AWS/ECS",
            "--metric-name",
            "CPUUtilization",
            "--dimensions",
            "Name=ServiceName,Value=burner",
            "Name=ClusterName,Value=default",
            "--start-time",
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 900)),
            "--end-time",
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 60)),
            "--period",
            "300",
            "--statistics",
            "Average",
            "Maximum",
        )
        assert stats["Label"] == "CPUUtilization" and max(p["Maximum"] for p in stats["Datapoints"]) > 50

        control.unlink()
        wait_for(lambda: service()["desiredCount"] == 1, timeout=240, interval=1)

        activities = aas.describe_scaling_activities(ServiceNamespace="ecs", ResourceId=RESOURCE)["ScalingActivities"]
        assert activities[0]["Description"] == "Setting desired count to 1."
        assert "-AlarmLow-" in activities[0]["Cause"]
        first = activities[-1]
        assert first["Description"] in ("Setting desired count to 2.", "Setting desired count to 3.")
        assert first["Cause"].startswith(f"monitor alarm TargetTracking-{RESOURCE}-AlarmHigh-")
        assert first["Cause"].endswith(" in state ALARM triggered policy cpu")
        assert all(a["StatusCode"] == "Successful" for a in activities)
        messages = [e["message"] for e in service()["events"]]
        assert any(m.startswith("(service burner) Message: Successfully set desired count to 1.") for m in messages)
    finally:
        control.unlink(missing_ok=True)
        ecs.delete_service(service="burner", force=True)
        wait_for(lambda: not ecs.list_tasks(desiredStatus="RUNNING")["taskArns"], timeout=60, interval=1)
