"""A schedule whose ECS target fails, seen the ways a user looks (fake runtime): AWS/Scheduler's
TargetErrorCount and InvocationDroppedCount through boto3's GetMetricData and the Prometheus API,
the failure with RunTask's error text in ``/_ecslite/schedules``, and in ``ecslite schedules``
(table, ``--json`` and ``--history``)."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import make_client
from tests.integration.test_cli_operator_helpers import cli_env, run_cli, run_json
from tests.integration.test_scheduler import cluster_arn, ecs_target, soon
from tests.integration.test_tasks_helpers import fargate_definition

SCHEDULE_ARN = "arn:aws:scheduler:us-east-1:000000000000:schedule/default/broken"


def metric_sum(cloudwatch: Any, name: str) -> float:
    now = dt.datetime.now(dt.UTC)
    query = {
        "Id": "m",
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/Scheduler",
                "MetricName": name,
                "Dimensions": [{"Name": "ScheduleGroup", "Value": "default"}],
            },
            "Period": 60,
            "Stat": "Sum",
        },
    }
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[query], StartTime=now - dt.timedelta(minutes=10), EndTime=now + dt.timedelta(minutes=1)
    )
    return float(sum(answer["MetricDataResults"][0]["Values"]))


def test_failing_target_shows_in_metrics_api_and_cli(endpoint: str, ecs: Any, tmp_path: Path) -> None:
    scheduler, cloudwatch = make_client("scheduler", endpoint), make_client("cloudwatch", endpoint)
    cluster = cluster_arn(ecs, "nightly")
    definition = fargate_definition(ecs, family="needs-network")
    # awsvpc without a network configuration: RunTask refuses it, and no retry is allowed.
    target = {**ecs_target(cluster, definition, LaunchType="FARGATE"), "RetryPolicy": {"MaximumRetryAttempts": 0}}
    scheduler.create_schedule(
        Name="broken", ScheduleExpression=soon(), FlexibleTimeWindow={"Mode": "OFF"}, Target=target
    )

    deadline = time.monotonic() + 20
    while metric_sum(cloudwatch, "TargetErrorCount") < 1 and time.monotonic() < deadline:
        time.sleep(0.25)
    assert metric_sum(cloudwatch, "TargetErrorCount") == 1
    assert metric_sum(cloudwatch, "InvocationAttemptCount") == 1
    assert metric_sum(cloudwatch, "InvocationDroppedCount") == 1

    # The same counts reach the Prometheus API, as AWS/ECS's do.
    errors = (
        'ecslite_cloudwatch_sample{namespace="AWS/Scheduler", metric_name="TargetErrorCount", ScheduleGroup="default"}'
    )
    promql = f"sum(sum_over_time({errors}[10m]))"

    def prometheus_sum() -> float:
        found = httpx.get(f"{endpoint}/prometheus/api/v1/query", params={"query": promql}, timeout=10).json()
        results = found["data"]["result"]
        return float(results[0]["value"][1]) if results else 0.0

    deadline = time.monotonic() + 10
    while prometheus_sum() < 1 and time.monotonic() < deadline:
        time.sleep(0.25)
    assert prometheus_sum() == 1

    answer = httpx.get(f"{endpoint}/_ecslite/schedules", params={"cluster": "nightly"}, timeout=10).json()
    (entry,) = answer["scheduledTasks"]
    assert (entry["kind"], entry["name"], entry["arn"]) == ("schedule", "broken", SCHEDULE_ARN)
    assert entry["taskDefinition"] == definition and entry["startedBy"] == "chronos-schedule/broken"
    last = entry["last"]
    assert (last["outcome"], last["attempt"], last["taskArns"]) == ("FAILED", 1, [])
    assert last["error"].startswith("InvalidParameterException: ")
    history = httpx.get(f"{endpoint}/_ecslite/schedules/history", params={"arn": SCHEDULE_ARN}, timeout=10).json()
    assert history["invocations"] == [last]

    env = cli_env(tmp_path)
    (row,) = run_json(endpoint, env, "schedules", "--cluster", "nightly")
    assert row["last"] == last
    table = run_cli(endpoint, env, "schedules")
    assert table.returncode == 0, table.stderr
    header, line = table.stdout.splitlines()
    assert header.split()[:2] == ["NAME", "KIND"]
    assert line.startswith("broken") and "FAILED" in line and last["error"] in line
    shown = run_cli(endpoint, env, "schedules", "--history", "broken")
    assert shown.returncode == 0, shown.stderr
    assert "chronos-schedule/broken" in shown.stdout and last["error"] in shown.stdout
    missing = run_cli(endpoint, env, "schedules", "--history", "nope")
    assert (missing.returncode, missing.stderr.strip()) == (1, "No schedule or rule with an ECS target is named nope.")
    assert json.loads(run_cli(endpoint, env, "schedules", "--cluster", "other", "--json").stdout) == []
