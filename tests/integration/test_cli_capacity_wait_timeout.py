"""``ecslite server --capacity-wait-timeout SECONDS`` (and ``ECSLITE_CAPACITY_WAIT_TIMEOUT``): how long a
task waits in PROVISIONING for managed-scaling capacity before it stops (control.capacity_wait),
seen through boto3 on a real server; a value that is not a positive number of seconds is refused
before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_client, start_server, stop_server

pytestmark = [pytest.mark.integration]

GROUP = "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:1:autoScalingGroupName/workers"
SCALING = {"status": "ENABLED", "targetCapacity": 100, "instanceWarmupPeriod": 0}
# Managed scaling adds m5.large instances, so a task that wants another type waits until it times out.
NEVER_PLACED = [{"type": "memberOf", "expression": "attribute:ecs.instance-type == p4d.24xlarge"}]
QUIET_PORTS = ("--otlp-grpc-port", "0", "--otlp-http-port", "0", "--forward-port", "0")


def run_waiting_task(endpoint: str) -> tuple[Any, str]:
    ecs = make_client("ecs", endpoint)
    ecs.create_cluster(clusterName="waits")
    ecs.create_capacity_provider(
        name="workers", autoScalingGroupProvider={"autoScalingGroupArn": GROUP, "managedScaling": SCALING}
    )
    ecs.put_cluster_capacity_providers(
        cluster="waits",
        capacityProviders=["workers"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "workers", "weight": 1}],
    )
    container = {"name": "app", "image": "example/app:1", "memory": 128, "cpu": 64}
    ecs.register_task_definition(family="waiting", networkMode="bridge", containerDefinitions=[container])
    answer = ecs.run_task(cluster="waits", taskDefinition="waiting", placementConstraints=NEVER_PLACED)
    assert answer["failures"] == []
    assert answer["tasks"][0]["lastStatus"] == "PROVISIONING"
    return ecs, answer["tasks"][0]["taskArn"]


def stopped_after(ecs: Any, arn: str, limit: float) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        task: dict[str, Any] = ecs.describe_tasks(cluster="waits", tasks=[arn])["tasks"][0]
        if task["lastStatus"] == "STOPPED":
            return time.monotonic() - started, task
        time.sleep(0.2)
    raise AssertionError(f"the task still waits after {limit} s: {task['lastStatus']}")


def test_the_flag_stops_a_task_waiting_for_capacity_after_that_many_seconds(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--capacity-wait-timeout", "2", *QUIET_PORTS)
    try:
        ecs, arn = run_waiting_task(server.endpoint)
        waited, task = stopped_after(ecs, arn, 20)
    finally:
        stop_server(server)
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"] == (
        "EMPTY CAPACITY PROVIDER No instance of capacity provider workers could take the task within 2 seconds "
        "in PROVISIONING."
    )
    assert 1.0 < waited < 15


def test_the_environment_variable_sets_the_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECSLITE_CAPACITY_WAIT_TIMEOUT", "3")
    server = start_server(tmp_path / "data", *QUIET_PORTS)
    try:
        ecs, arn = run_waiting_task(server.endpoint)
        _, task = stopped_after(ecs, arn, 20)
    finally:
        stop_server(server)
    assert "within 3 seconds" in task["stoppedReason"]


@pytest.mark.parametrize("value", ["0", "-5", "inf", "nan"])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_refused(tmp_path: Path, value: str) -> None:
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECSLITE_")}
    command = [sys.executable, "-m", "ecslite", "server", "--data-dir", str(data_dir), "--runtime", "fake"]
    result = subprocess.run(
        [*command, "--capacity-wait-timeout", value],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "COLUMNS": "200"},
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "--capacity-wait-timeout must be a positive number of seconds."
    assert not (data_dir / "server.json").exists()


def test_the_help_names_the_option_and_its_variable() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ecslite", "server", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "250"},
    )
    assert result.returncode == 0
    assert "--capacity-wait-timeout" in result.stdout and "ECSLITE_CAPACITY_WAIT_TIMEOUT" in result.stdout
    assert "PROVISIONING for managed-scaling capacity" in result.stdout
