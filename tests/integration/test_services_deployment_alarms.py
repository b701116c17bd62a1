"""Deployment alarms through boto3 (spec/ecs.md §4.9): a CloudWatch alarm on an application metric,
pushed into ALARM by PutMetricData while a rolling update is in progress, fails the deployment and
rolls the service back. The server runs with ``--metrics-period 1`` (one CloudWatch minute = 1 s), so
the alarm evaluator looks every second and the bake time of a 5 × 60 s alarm is 5 s."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import RunningServer, make_client, start_server, stop_server
from tests.integration.test_services import create, describe, register, stable, wait_for

ALARM = "web-errors"


@pytest.fixture(scope="module")
def fast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("alarms"), "--metrics-period", "1")
    yield running
    stop_server(running)


def test_an_alarm_fired_by_metric_data_mid_rollout_fails_and_rolls_back(fast_server: RunningServer) -> None:
    fast_server.reset()
    endpoint = fast_server.endpoint
    ecs, cw = make_client("ecs", endpoint), make_client("cloudwatch", endpoint)
    cw.put_metric_alarm(
        AlarmName=ALARM,
        Namespace="App",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=5,
        DatapointsToAlarm=1,
        Threshold=0.0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    register(ecs)
    alarms = {"alarmNames": [ALARM], "enable": True, "rollback": True}
    create(ecs, endpoint, desiredCount=2, deploymentConfiguration={"alarms": alarms})
    wait_for(lambda: stable(ecs))
    good = describe(ecs)["deployments"][0]["id"]

    register(ecs, image="example/web:2")
    failing = ecs.update_service(service="web", taskDefinition="web")["service"]["deployments"][0]["id"]
    wait_for(lambda: describe(ecs)["deployments"][0]["runningCount"] > 0, timeout=30)
    assert describe(ecs)["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    cw.put_metric_data(Namespace="App", MetricData=[{"MetricName": "Errors", "Value": 3.0, "Unit": "Count"}])

    wait_for(lambda: describe(ecs)["deployments"][0]["id"] != failing, timeout=30)
    service = describe(ecs)
    rollback, failed = service["deployments"][0], service["deployments"][1]
    assert failed["id"] == failing and failed["rolloutState"] == "FAILED"
    assert failed["rolloutStateReason"] == "ECS deployment alarms: alarm detected."
    assert rollback["rolloutStateReason"] == f"ECS deployment alarms: rolling back to deploymentId {good}."
    messages = [e["message"] for e in service["events"]]
    assert f"(service web) (deployment {failing}) deployment failed: alarm detected." in messages
    assert cw.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]["StateValue"] == "ALARM"

    wait_for(lambda: stable(ecs), timeout=60)
    assert describe(ecs)["taskDefinition"].endswith("task-definition/web:1")
    listed = ecs.list_service_deployments(service="web")["serviceDeployments"]
    assert [d["status"] for d in listed] == ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL"]
    described: list[dict[str, Any]] = ecs.describe_service_deployments(
        serviceDeploymentArns=[d["serviceDeploymentArn"] for d in listed]
    )["serviceDeployments"]
    assert described[0]["alarms"] == {"status": "TRIGGERED", "alarmNames": [ALARM], "triggeredAlarmNames": [ALARM]}
    assert described[0]["rollback"]["reason"] == rollback["rolloutStateReason"]
    assert described[1]["alarms"] == {"status": "MONITORING_COMPLETE", "alarmNames": [ALARM]}
