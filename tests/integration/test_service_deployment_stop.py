"""StopServiceDeployment through boto3 and the AWS CLI against a server on the fake runtime
(spec/ecs.md §4.11): an update whose tasks never start is stopped, and the service rolls back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import AwsCliError
from tests.integration.test_services import FAST_WAITER, create, describe, error_of, register, stable, wait_for

# The new revision's containers take an hour to start: its tasks stay PENDING, the deployment never ends.
NEVER_STARTS = {"ecslite.fake.start-seconds": "3600"}


def stuck_update(ecs: Any, endpoint: str) -> tuple[dict[str, Any], str, str]:
    """A completed two-task service, then an update that cannot finish; returns the completed
    deployment, the stuck deployment's id and its service deployment's ARN."""
    register(ecs)
    create(ecs, endpoint, desiredCount=2)
    wait_for(lambda: stable(ecs))
    good = describe(ecs)["deployments"][0]
    register(ecs, image="example/web:2", dockerLabels=NEVER_STARTS)
    updated = ecs.update_service(service="web", taskDefinition="web")["service"]
    wait_for(lambda: describe(ecs)["pendingCount"] == 2)
    return good, updated["deployments"][0]["id"], updated["currentServiceDeployment"]


def record(ecs: Any, arn: str) -> dict[str, Any]:
    (found,) = ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"]
    return dict(found)


def test_stopping_an_in_progress_deployment_rolls_the_service_back(ecs: Any, endpoint: str) -> None:
    good, stuck, arn = stuck_update(ecs, endpoint)
    listed = ecs.list_service_deployments(service="web")["serviceDeployments"]
    assert (listed[0]["serviceDeploymentArn"], listed[0]["status"]) == (arn, "IN_PROGRESS")
    answer = ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    assert answer["serviceDeploymentArn"] == arn
    # The controller may already have taken its step when we look.
    assert record(ecs, arn)["status"] in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
    reason = f"ECS deployment stop requested: rolling back to deploymentId {good['id']}."
    wait_for(lambda: describe(ecs)["deployments"][0]["rolloutStateReason"] == reason, timeout=10)
    service = describe(ecs)
    rollback, stopped = service["deployments"][0], service["deployments"][1]
    assert rollback["status"] == "PRIMARY" and rollback["taskDefinition"] == good["taskDefinition"]
    assert service["taskDefinition"] == good["taskDefinition"]
    assert (stopped["id"], stopped["status"], stopped["rolloutState"]) == (stuck, "ACTIVE", "FAILED")
    ecs.get_waiter("services_stable").wait(services=["web"], WaiterConfig=FAST_WAITER)
    final = describe(ecs)
    assert [d["id"] for d in final["deployments"]] == [rollback["id"]]
    assert final["deployments"][0]["rolloutState"] == "COMPLETED" and final["runningCount"] == 2
    running = ecs.describe_tasks(tasks=ecs.list_tasks(serviceName="web")["taskArns"])["tasks"]
    assert {t["startedBy"] for t in running} == {rollback["id"]}
    assert {t["taskDefinitionArn"] for t in running} == {good["taskDefinition"]}
    done = record(ecs, arn)
    assert done["status"] == "ROLLBACK_SUCCESSFUL"
    assert done["rollback"]["reason"] == reason
    assert done["rollback"]["serviceRevisionArn"] == listed[1]["targetServiceRevisionArn"]
    messages = [e["message"] for e in final["events"]]
    assert f"(service web) (deployment {stuck}) deployment stopped: rollback requested." in messages
    assert messages[:2] == [
        "(service web) has reached a steady state.",
        f"(service web) (deployment {rollback['id']}) deployment completed.",
    ]
    history = ecs.list_service_deployments(service="web")["serviceDeployments"]
    assert [d["status"] for d in history] == ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL"]
    assert error_of(ecs.stop_service_deployment, serviceDeploymentArn=arn) == (
        "ConflictException",
        f"The service deployment {arn} cannot be stopped because it is ROLLBACK_SUCCESSFUL.",
    )


def test_stop_service_deployment_errors(ecs: Any, endpoint: str) -> None:
    register(ecs, dockerLabels=NEVER_STARTS)
    arn = create(ecs, endpoint)["currentServiceDeployment"]
    assert error_of(ecs.stop_service_deployment, serviceDeploymentArn=arn + "x") == (
        "ServiceDeploymentNotFoundException",
        "The service deployment does not exist.",
    )
    assert error_of(ecs.stop_service_deployment, serviceDeploymentArn=arn, stopType="ABORT") == (
        "InvalidParameterException",
        "The stopType ABORT is not supported. The valid value is ROLLBACK.",
    )
    code, message = error_of(ecs.stop_service_deployment, serviceDeploymentArn=arn)
    assert code == "ConflictException" and "no earlier completed service revision" in message
    assert record(ecs, arn)["status"] == "IN_PROGRESS"


def test_stop_service_deployment_through_the_aws_cli(aws: Callable[..., Any], ecs: Any, endpoint: str) -> None:
    _, _, arn = stuck_update(ecs, endpoint)
    answer = aws("ecs", "stop-service-deployment", "--service-deployment-arn", arn, "--stop-type", "ROLLBACK")
    assert answer == {"serviceDeploymentArn": arn}

    def status() -> str:
        shown = aws("ecs", "describe-service-deployments", "--service-deployment-arns", arn)
        return str(shown["serviceDeployments"][0]["status"])

    wait_for(lambda: status() == "ROLLBACK_SUCCESSFUL", interval=1)
    with pytest.raises(AwsCliError) as caught:
        aws("ecs", "stop-service-deployment", "--service-deployment-arn", arn)
    assert "ConflictException" in caught.value.stderr and "ROLLBACK_SUCCESSFUL" in caught.value.stderr
