"""Deployment alarms (``deploymentConfiguration.alarms``) on the fake runtime and a fake clock: alarms
live in ecslite's CloudWatch store, where the evaluator and SetAlarmState move them; here the tests
move them. An alarm in ALARM while a deployment is in progress or baking fails it (and rolls it back
with ``rollback``); the bake time is the longest evaluation time of the alarms; alarms that do not
exist, or were in ALARM as the deployment started, do not fail it; blue/green goes back to blue."""

from __future__ import annotations

from typing import Any

from ecslite.store import cloudwatch as cw_store
from tests.unit.test_service_blue_green import Alb, blue_service, config, green_update, record, until
from tests.unit.test_service_harness import ACCOUNT, REGION, ServiceHarness, run

FAILED_REASON = "ECS deployment alarms: alarm detected."


def alarm(h: ServiceHarness, name: str, state: str = "OK", *, periods: int = 1, period: int = 60) -> None:
    doc = {
        "AlarmName": name,
        "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}",
        "Namespace": "App",
        "MetricName": "Errors",
        "Statistic": "Sum",
        "Period": period,
        "EvaluationPeriods": periods,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "StateValue": state,
    }
    with h.db.transaction():
        cw_store.put_alarm(h.db, ACCOUNT, REGION, doc)


def move(h: ServiceHarness, name: str, state: str) -> None:
    """What the evaluator (or SetAlarmState) does to an alarm."""
    with h.db.transaction():
        doc = cw_store.get_alarm(h.db, ACCOUNT, REGION, name)
        assert doc is not None
        cw_store.record_state(h.db, ACCOUNT, REGION, doc, state, "test", None, h.clock.now())


def watching(*names: str, rollback: bool = True) -> dict[str, Any]:
    return {"alarms": {"alarmNames": list(names), "enable": True, "rollback": rollback}}


def deployment_record(h: ServiceHarness, deployment_index: int = 0) -> dict[str, Any]:
    listed = h.ecs.list_service_deployments(h.ctx, {"service": "web"})["serviceDeployments"]
    arn = listed[deployment_index]["serviceDeploymentArn"]
    found: dict[str, Any] = h.ecs.describe_service_deployments(h.ctx, {"serviceDeploymentArns": [arn]})[
        "serviceDeployments"
    ][0]
    return found


def running_of(h: ServiceHarness, deployment_id: str) -> int:
    return sum(1 for t in h.service_tasks() if t["startedBy"] == deployment_id and t["lastStatus"] == "RUNNING")


async def completed_service(h: ServiceHarness, *names: str, rollback: bool = True) -> str:
    h.register()
    h.create(desiredCount=2, deploymentConfiguration=watching(*names, rollback=rollback))
    await h.until(lambda: h.completed(), step=5.0)
    return str(h.describe()["deployments"][0]["id"])


def update(h: ServiceHarness) -> str:
    """A new revision without a health check: its tasks count healthy 40 s after RUNNING (§4.5)."""
    h.register(health=False, image="example/web:2")
    return str(h.update(taskDefinition="web")["deployments"][0]["id"])


def test_an_alarm_mid_deployment_fails_it_and_rolls_back_to_the_last_completed() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alarm(h, "errors")
        good = await completed_service(h, "errors")
        first = deployment_record(h)["alarms"]
        assert first == {"status": "MONITORING_COMPLETE", "alarmNames": ["errors"]}
        failing = update(h)
        await h.until(lambda: running_of(h, failing) > 0)
        assert deployment_record(h)["alarms"] == {"status": "MONITORING", "alarmNames": ["errors"]}
        move(h, "errors", "ALARM")
        await h.settle()  # the alarm's change wakes the service: no time has to pass
        service = h.describe()
        rollback, failed = service["deployments"][0], service["deployments"][1]
        assert failed["id"] == failing and failed["status"] == "ACTIVE" and failed["rolloutState"] == "FAILED"
        assert failed["rolloutStateReason"] == FAILED_REASON
        assert rollback["rolloutStateReason"] == f"ECS deployment alarms: rolling back to deploymentId {good}."
        assert rollback["taskDefinition"].endswith("web:1")
        assert f"(service web) (deployment {failing}) deployment failed: alarm detected." in h.events()
        failures = [a for a in h.announcements if a.event_name == "SERVICE_DEPLOYMENT_FAILED"]
        assert [(a.deployment_id, a.reason) for a in failures] == [(failing, FAILED_REASON)]
        # The rollback starts with the alarm still in ALARM, so its own deployment is not watched.
        await h.until(lambda: h.completed(), step=5.0)
        assert h.describe()["deployments"][0]["id"] == rollback["id"]
        shown = deployment_record(h)
        assert shown["status"] == "ROLLBACK_SUCCESSFUL"
        assert shown["alarms"] == {"status": "TRIGGERED", "alarmNames": ["errors"], "triggeredAlarmNames": ["errors"]}
        assert any(e.endswith("errors already in ALARM when it started.") for e in h.events())

    run(scenario)


def test_an_alarm_during_the_bake_time_fails_the_deployment() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alarm(h, "latency", periods=5)  # a bake of five minutes
        good = await completed_service(h, "latency")
        failing = update(h)
        await h.until(lambda: h.events()[-1] == "(service web) has reached a steady state.", step=5.0)
        service = h.describe()
        assert [d["id"] for d in service["deployments"]] == [failing]  # the old tasks are gone
        assert service["deployments"][0]["rolloutState"] == "IN_PROGRESS"  # baking
        await h.run(200.0, step=10.0)
        assert h.describe()["deployments"][0]["rolloutState"] == "IN_PROGRESS"
        move(h, "latency", "ALARM")
        await h.settle()
        service = h.describe()
        assert service["deployments"][1]["id"] == failing
        assert service["deployments"][1]["rolloutState"] == "FAILED"
        assert service["deployments"][0]["rolloutStateReason"].endswith(f"rolling back to deploymentId {good}.")
        await h.until(lambda: h.completed(), step=5.0)
        assert h.describe()["taskDefinition"].endswith("web:1")

    run(scenario)


def test_alarms_ok_throughout_complete_after_the_longest_evaluation_time() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alarm(h, "errors")
        alarm(h, "latency", periods=3)  # 3 × 60 s: the longest, so the bake time
        await completed_service(h, "errors", "latency")
        update(h)
        await h.until(lambda: h.events()[-1] == "(service web) has reached a steady state.", step=1.0)
        steady_at = h.clock.now()
        baked = await h.until(lambda: h.describe()["deployments"][0]["rolloutState"] == "COMPLETED", step=1.0)
        assert 179.0 <= baked <= 181.0
        shown = deployment_record(h)
        assert shown["status"] == "SUCCESSFUL" and shown["finishedAt"] >= steady_at + 180.0
        assert shown["alarms"] == {"status": "MONITORING_COMPLETE", "alarmNames": ["errors", "latency"]}
        assert not any("deployment failed" in e for e in h.events())

    run(scenario)


def test_without_rollback_the_failed_deployment_stays_primary() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alarm(h, "errors")
        await completed_service(h, "errors", rollback=False)
        failing = update(h)
        await h.until(lambda: running_of(h, failing) > 0)
        move(h, "errors", "ALARM")
        await h.settle()
        service = h.describe()
        primary = service["deployments"][0]
        assert primary["id"] == failing and primary["status"] == "PRIMARY" and primary["rolloutState"] == "FAILED"
        shown = deployment_record(h)
        assert shown["status"] == "STOPPED" and shown["statusReason"] == FAILED_REASON
        assert shown["alarms"]["status"] == "TRIGGERED"
        launched = len([t for t in h.service_tasks(desired=None) if t["startedBy"] == failing])
        await h.run(300.0, step=10.0)
        assert len([t for t in h.service_tasks(desired=None) if t["startedBy"] == failing]) == launched
        assert h.describe()["deployments"][0]["rolloutState"] == "FAILED"

    run(scenario)


def test_alarms_that_do_not_exist_never_fail_a_deployment_and_are_named_once() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alarm(h, "errors", periods=2)
        await completed_service(h, "nowhere", "errors")
        notes = [e for e in h.events() if "do not exist" in e]
        assert len(notes) == 1 and notes[0].endswith(
            "deployment alarms nowhere do not exist: they cannot fail the deployment."
        )
        failing = update(h)
        await h.until(lambda: running_of(h, failing) > 0)
        with h.db.transaction():
            cw_store.delete_alarm(h.db, ACCOUNT, REGION, "errors")  # deleted mid-deployment: never in ALARM
        await h.until(lambda: h.completed(), step=5.0)
        assert h.describe()["deployments"][0]["id"] == failing
        assert deployment_record(h)["alarms"]["status"] == "MONITORING_COMPLETE"

    run(scenario)


def test_an_alarm_in_alarm_as_the_deployment_starts_leaves_it_unwatched() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alarm(h, "errors", "ALARM", periods=10)
        h.register()
        h.create(desiredCount=1, deploymentConfiguration=watching("errors"))
        waited = await h.until(lambda: h.completed(), step=1.0)
        assert waited < 60.0  # no bake time either
        assert deployment_record(h)["alarms"] == {"status": "DISABLED", "alarmNames": ["errors"]}

    run(scenario)


def test_blue_green_goes_back_to_blue_when_an_alarm_fires_in_the_bake_time() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alb = Alb(h)
        alarm(h, "errors")
        first = await blue_service(h, alb, config(10, **watching("errors")))
        arn = await green_update(h)
        await until(h, alb, lambda: record(h, arn)["lifecycleStage"] == "BAKE_TIME", limit=120)
        assert alb.weights(alb.production) == {"blue": 0, "green": 100}
        move(h, "errors", "ALARM")
        await h.settle()
        assert alb.weights(alb.production) == {"blue": 100, "green": 0}
        assert h.describe()["deployments"][0]["id"] == first
        await until(h, alb, lambda: record(h, arn)["status"] == "ROLLBACK_SUCCESSFUL", limit=60)
        assert record(h, arn)["alarms"]["triggeredAlarmNames"] == ["errors"]

    run(scenario)
