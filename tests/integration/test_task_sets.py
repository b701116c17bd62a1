"""Task sets of EXTERNAL services (spec/ecs.md §4.11): the lifecycle through the API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_services import describe, network, register, wait_for
from tests.integration.test_tasks_helpers import error_of

pytestmark = pytest.mark.integration


def external_service(ecs: Any, desired: int = 4) -> dict[str, Any]:
    service: dict[str, Any] = ecs.create_service(
        serviceName="web", desiredCount=desired, deploymentController={"type": "EXTERNAL"}
    )["service"]
    return service


def create_set(ecs: Any, endpoint: str, definition: str, value: float, **params: Any) -> dict[str, Any]:
    task_set: dict[str, Any] = ecs.create_task_set(
        cluster="default",
        service="web",
        taskDefinition=definition,
        launchType="FARGATE",
        networkConfiguration=network(endpoint),
        scale={"value": value, "unit": "PERCENT"},
        **params,
    )["taskSet"]
    return task_set


def task_set(ecs: Any, ref: str, **params: Any) -> dict[str, Any]:
    found: dict[str, Any] = ecs.describe_task_sets(cluster="default", service="web", taskSets=[ref], **params)[
        "taskSets"
    ][0]
    return found


def set_tasks(ecs: Any, task_set_id: str) -> list[str]:
    arns: list[str] = ecs.list_tasks(startedBy=task_set_id)["taskArns"]
    return arns


def test_external_service_has_no_deployments(ecs: Any) -> None:
    service = external_service(ecs)
    assert service["deploymentController"] == {"type": "EXTERNAL"}
    assert service["deployments"] == [] and service["taskSets"] == []
    assert service["desiredCount"] == 4 and service["status"] == "ACTIVE"


def test_task_set_lifecycle(ecs: Any, endpoint: str) -> None:
    external_service(ecs, desired=4)
    blue_definition = register(ecs, "web")
    blue = create_set(ecs, endpoint, blue_definition, 50, externalId="blue", tags=[{"key": "colour", "value": "blue"}])
    assert blue["id"].startswith("ecs-svc/") and len(blue["id"]) == len("ecs-svc/") + 19
    assert blue["taskSetArn"] == f"arn:aws:ecs:us-east-1:000000000000:task-set/default/web/{blue['id']}"
    assert (blue["status"], blue["computedDesiredCount"], blue["externalId"]) == ("ACTIVE", 2, "blue")
    assert blue["scale"] == {"value": 50.0, "unit": "PERCENT"} and blue["launchType"] == "FARGATE"
    assert blue["stabilityStatus"] == "STABILIZING"

    wait_for(lambda: task_set(ecs, blue["id"])["stabilityStatus"] == "STEADY_STATE")
    steady = task_set(ecs, blue["id"], include=["TAGS"])
    assert (steady["runningCount"], steady["pendingCount"]) == (2, 0)
    assert steady["tags"] == [{"key": "colour", "value": "blue"}]
    assert len(set_tasks(ecs, blue["id"])) == 2

    # rounding up: 4 × 30 % = 1.2 → 2; then 4 × 80 % = 3.2 → 4
    green = create_set(ecs, endpoint, register(ecs, "web", image="example/web:2"), 30)
    assert green["computedDesiredCount"] == 2
    updated = ecs.update_task_set(cluster="default", service="web", taskSet=green["id"], scale={"value": 80})
    assert updated["taskSet"]["computedDesiredCount"] == 4
    wait_for(lambda: len(set_tasks(ecs, green["id"])) == 4 and task_set(ecs, green["id"])["runningCount"] == 4)

    primary = ecs.update_service_primary_task_set(cluster="default", service="web", primaryTaskSet=green["taskSetArn"])
    assert primary["taskSet"]["status"] == "PRIMARY"
    service = describe(ecs, "web")
    assert service["taskDefinition"] == green["taskDefinition"]
    statuses = {ts["id"]: ts["status"] for ts in service["taskSets"]}
    assert statuses == {green["id"]: "PRIMARY", blue["id"]: "ACTIVE"}

    code, message = error_of(ecs.delete_task_set, cluster="default", service="web", taskSet=blue["id"])
    assert code == "InvalidParameterException" and "scaled above 0" in message
    deleted = ecs.delete_task_set(cluster="default", service="web", taskSet=blue["id"], force=True)["taskSet"]
    assert (deleted["status"], deleted["computedDesiredCount"]) == ("DRAINING", 0)
    wait_for(lambda: [ts["id"] for ts in describe(ecs, "web")["taskSets"]] == [green["id"]])
    assert set_tasks(ecs, blue["id"]) == []

    # desiredCount on the service moves every set
    ecs.update_service(service="web", desiredCount=2)
    wait_for(lambda: len(set_tasks(ecs, green["id"])) == 2)
    assert task_set(ecs, green["id"])["computedDesiredCount"] == 2


def test_task_set_errors(ecs: Any, endpoint: str) -> None:
    ecs.register_task_definition(family="rolling", containerDefinitions=[{"name": "a", "image": "x", "memory": 64}])
    ecs.create_service(serviceName="rolling", taskDefinition="rolling", desiredCount=0)
    definition = register(ecs, "web")
    code, message = error_of(ecs.create_task_set, cluster="default", service="rolling", taskDefinition=definition)
    assert (code, message) == (
        "InvalidParameterException",
        "The service must use the EXTERNAL deployment controller to use task sets.",
    )
    assert error_of(ecs.create_task_set, cluster="default", service="nope", taskDefinition=definition)[0] == (
        "ServiceNotFoundException"
    )
    external_service(ecs)
    code, _ = error_of(ecs.update_task_set, cluster="default", service="web", taskSet="ecs-svc/1", scale={"value": 5})
    assert code == "TaskSetNotFoundException"
    missing = ecs.describe_task_sets(cluster="default", service="web", taskSets=["ecs-svc/1"])
    assert missing["failures"] == [{"arn": "ecs-svc/1", "reason": "MISSING"}]
    code, message = error_of(ecs.update_service, service="web", taskDefinition=definition)
    assert code == "InvalidParameterException" and "EXTERNAL deployment controller" in message
    for _ in range(5):
        create_set(ecs, endpoint, definition, 0)
    code, message = error_of(create_set, ecs=ecs, endpoint=endpoint, definition=definition, value=0)
    assert message == (
        "5 deployments exist on the service. Unable to create new TaskSet since this exceeds the maximum limit."
    )


def test_deleting_an_external_service_drains_its_task_sets(ecs: Any, endpoint: str) -> None:
    external_service(ecs, desired=2)
    created = create_set(ecs, endpoint, register(ecs, "web"), 100)
    wait_for(lambda: len(set_tasks(ecs, created["id"])) == 2)
    ecs.delete_service(service="web", force=True)
    wait_for(lambda: describe(ecs, "web")["status"] == "INACTIVE")
    assert set_tasks(ecs, created["id"]) == []
