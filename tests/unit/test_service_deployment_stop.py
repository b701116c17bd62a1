"""StopServiceDeployment on the fake runtime and a fake clock (spec/ecs.md §4.9, §4.11): the requested
rollback through the service controller, the states a stop carries on in, and every refusal."""

from __future__ import annotations

from typing import Any

import pytest

from ecslite.protocol.errors import AwsError
from ecslite.runtime.fake import FakeScript
from tests.unit.test_service_harness import ServiceHarness, labels, run

SLOW = labels(start_seconds=3600)  # tasks of this revision stay PENDING: the deployment never ends
STEADY = "has reached a steady state."


def prefix(text: str) -> str:
    return f"(service web) {text}"


def record(h: ServiceHarness, arn: str) -> dict[str, Any]:
    found: dict[str, Any] = h.ecs.describe_service_deployments(h.ctx, {"serviceDeploymentArns": [arn]})[
        "serviceDeployments"
    ][0]
    return found


def stop(h: ServiceHarness, arn: str, **params: Any) -> dict[str, Any]:
    answer: dict[str, Any] = h.ecs.stop_service_deployment(h.ctx, {"serviceDeploymentArn": arn, **params})
    return answer


def refusal(h: ServiceHarness, arn: str, **params: Any) -> tuple[str, str]:
    with pytest.raises(AwsError) as caught:
        stop(h, arn, **params)
    return caught.value.code, caught.value.message


async def stuck_update(h: ServiceHarness, **create: Any) -> tuple[dict[str, Any], str]:
    """A completed first deployment, then an update whose tasks never start; returns the first
    deployment and the ARN of the update's service deployment."""
    h.register()
    h.create(**create)
    await h.until(lambda: h.completed())
    good = h.describe()["deployments"][0]
    h.register(image="example/web:2", dockerLabels=SLOW)
    updated = h.update(taskDefinition="web")
    await h.run(30)
    assert h.describe()["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    return good, str(updated["currentServiceDeployment"])


def test_stop_rolls_an_in_progress_deployment_back_to_the_previous_revision() -> None:
    async def scenario(h: ServiceHarness) -> None:
        good, arn = await stuck_update(h, desiredCount=2)
        stuck = h.describe()["deployments"][0]["id"]
        assert record(h, arn)["status"] == "IN_PROGRESS"
        assert stop(h, arn, stopType="ROLLBACK") == {"serviceDeploymentArn": arn}
        requested = record(h, arn)
        assert requested["status"] == "ROLLBACK_REQUESTED"  # before the controller's next step
        assert requested["statusReason"] == "Service deployment stop requested with stopType ROLLBACK."
        await h.settle()
        service = h.describe()
        rollback, stopped = service["deployments"][0], service["deployments"][1]
        reason = f"ECS deployment stop requested: rolling back to deploymentId {good['id']}."
        assert record(h, arn)["status"] == "ROLLBACK_IN_PROGRESS"
        assert rollback["status"] == "PRIMARY" and rollback["rolloutStateReason"] == reason
        assert rollback["taskDefinition"] == good["taskDefinition"] == service["taskDefinition"]
        assert stopped["id"] == stuck and stopped["status"] == "ACTIVE" and stopped["rolloutState"] == "FAILED"
        assert stopped["rolloutStateReason"] == f"ECS deployment {stuck} stopped: rollback requested."
        assert service["currentServiceDeployment"] == arn  # the rollback belongs to the stopped one
        await h.until(lambda: h.completed())
        final = h.describe()
        assert final["deployments"][0]["id"] == rollback["id"] and final["runningCount"] == 2
        assert all(t["startedBy"] == rollback["id"] for t in h.service_tasks())
        slow = [t for t in h.service_tasks(desired=None) if t["startedBy"] == stuck]
        assert len(slow) == 2 and all(t["desiredStatus"] == "STOPPED" for t in slow)
        done = record(h, arn)
        assert done["status"] == "ROLLBACK_SUCCESSFUL" and done["finishedAt"] >= done["rollback"]["startedAt"]
        assert done["rollback"]["reason"] == reason
        assert done["rollback"]["serviceRevisionArn"] == done["sourceServiceRevisions"][0]["arn"]
        assert done["deploymentCircuitBreaker"]["status"] == "DISABLED"
        history = h.ecs.list_service_deployments(h.ctx, {"service": "web"})["serviceDeployments"]
        assert [d["status"] for d in history] == ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL"]
        events = h.events()
        assert prefix(f"(deployment {stuck}) deployment stopped: rollback requested.") in events
        assert events[-2:] == [prefix(f"(deployment {rollback['id']}) deployment completed."), prefix(STEADY)]
        names = [(a.event_name, a.deployment_id, a.reason) for a in h.announcements]
        assert ("SERVICE_DEPLOYMENT_IN_PROGRESS", rollback["id"], reason) in names
        assert ("SERVICE_DEPLOYMENT_COMPLETED", rollback["id"], f"ECS deployment {rollback['id']} completed.") in names
        assert not [n for n in names if n[0] == "SERVICE_DEPLOYMENT_FAILED"]  # that one is the breaker's

    run(scenario)


def test_a_second_stop_lets_the_rollback_carry_on() -> None:
    async def scenario(h: ServiceHarness) -> None:
        _, arn = await stuck_update(h)
        stop(h, arn)  # stopType defaults to ROLLBACK
        assert stop(h, arn) == {"serviceDeploymentArn": arn}  # still ROLLBACK_REQUESTED
        await h.settle()
        assert record(h, arn)["status"] == "ROLLBACK_IN_PROGRESS"
        rollback = h.describe()["deployments"][0]["id"]
        assert stop(h, arn, stopType="ROLLBACK") == {"serviceDeploymentArn": arn}
        await h.settle()
        assert h.describe()["deployments"][0]["id"] == rollback
        await h.until(lambda: h.completed())
        starts = [a for a in h.announcements if a.event_name == "SERVICE_DEPLOYMENT_IN_PROGRESS"]
        assert len(starts) == 3  # the first deployment, the update, one rollback

    run(scenario)


def test_a_rollback_the_breaker_then_fails_ends_rollback_failed() -> None:
    async def scenario(h: ServiceHarness) -> None:
        breaker = {"deploymentCircuitBreaker": {"enable": True, "rollback": False}}
        _, arn = await stuck_update(h, deploymentConfiguration=breaker)
        # The revision rolled back to no longer starts: its tasks exit at once.
        h.runtime.script_image("example/web:1", FakeScript.from_labels(labels(exit_code=1)))
        stop(h, arn)
        await h.until(lambda: record(h, arn)["status"] == "ROLLBACK_FAILED")
        done = record(h, arn)
        assert done["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
        assert done["statusReason"] == "ECS deployment circuit breaker: tasks failed to start."
        assert h.describe()["deployments"][0]["rolloutState"] == "FAILED"

    run(scenario)


def test_an_update_before_the_rollback_starts_stops_the_requested_one() -> None:
    async def scenario(h: ServiceHarness) -> None:
        _, arn = await stuck_update(h)
        stop(h, arn)
        h.register(image="example/web:3")
        h.update(taskDefinition="web")  # before the controller took its step
        stopped = record(h, arn)
        assert stopped["status"] == "STOPPED"
        assert stopped["statusReason"] == "Stopped because a newer service deployment started."
        await h.until(lambda: h.completed())
        assert h.describe()["taskDefinition"].endswith("web:3")
        assert record(h, arn)["status"] == "STOPPED"

    run(scenario)


def test_a_finished_service_deployment_cannot_be_stopped() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        arn = h.create()["currentServiceDeployment"]
        await h.until(lambda: h.completed())
        assert refusal(h, arn) == (
            "ConflictException",
            f"The service deployment {arn} cannot be stopped because it is SUCCESSFUL.",
        )

    run(scenario)


def test_the_first_deployment_has_no_revision_to_roll_back_to() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register(dockerLabels=SLOW)
        arn = h.create()["currentServiceDeployment"]
        await h.run(10)
        assert refusal(h, arn) == (
            "ConflictException",
            f"The service deployment {arn} cannot be rolled back because its service has no earlier completed "
            "service revision to roll back to.",
        )
        await h.settle()
        assert record(h, arn)["status"] == "IN_PROGRESS"
        assert h.describe()["deployments"][0]["rolloutState"] == "IN_PROGRESS"

    run(scenario)


def test_a_draining_service_deployment_cannot_be_stopped() -> None:
    async def scenario(h: ServiceHarness) -> None:
        _, arn = await stuck_update(h)
        h.ecs.delete_service(h.ctx, {"service": "web", "force": True})
        assert refusal(h, arn) == (
            "ConflictException",
            f"The service deployment {arn} cannot be stopped because its service is DRAINING.",
        )
        assert record(h, arn)["status"] == "IN_PROGRESS"

    run(scenario)


def test_unknown_service_deployments_and_stop_types_are_refused() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        arn = h.create()["currentServiceDeployment"]
        not_found = ("ServiceDeploymentNotFoundException", "The service deployment does not exist.")
        assert refusal(h, arn[:-1] + ("x" if arn[-1] != "x" else "y")) == not_found
        assert refusal(h, arn.replace(":us-east-1:", ":eu-west-1:")) == not_found
        assert refusal(h, "not-an-arn") == not_found
        assert refusal(h, arn, stopType="ABORT") == (
            "InvalidParameterException",
            "The stopType ABORT is not supported. The valid value is ROLLBACK.",
        )
        assert record(h, arn)["status"] == "IN_PROGRESS"

    run(scenario)
