"""The service controller on the fake runtime and a fake clock (spec/ecs.md §4.3–§4.10)."""

from __future__ import annotations

import itertools
from typing import Any

from ecslite.model.deployments import HEALTHY_AFTER_RUNNING_SECONDS
from tests.unit.test_service_harness import ServiceHarness, labels, run


def prefix(text: str, name: str = "web") -> str:
    return f"(service {name}) {text}"


def test_tasks_without_health_checks_count_healthy_40_seconds_after_running() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register(health=False)
        h.create(desiredCount=2)
        await h.until(lambda: h.describe()["runningCount"] == 2)
        started = min(float(t["startedAt"]) for t in h.service_tasks())
        await h.run(started + HEALTHY_AFTER_RUNNING_SECONDS - h.clock.now() - 1)
        assert h.describe()["deployments"][0]["rolloutState"] == "IN_PROGRESS"
        await h.run(2)
        deployment = h.describe()["deployments"][0]
        assert deployment["rolloutState"] == "COMPLETED"
        assert deployment["rolloutStateReason"] == f"ECS deployment {deployment['id']} completed."
        assert h.events()[-2:] == [
            prefix(f"(deployment {deployment['id']}) deployment completed."),
            prefix("has reached a steady state."),
        ]

    run(scenario)


def test_service_tasks_carry_the_deployment_group_and_managed_tags() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        service = h.create(enableECSManagedTags=True, propagateTags="SERVICE", tags=[{"key": "team", "value": "a"}])
        await h.until(lambda: h.completed())
        (task,) = h.service_tasks()
        assert task["startedBy"] == service["deployments"][0]["id"]
        assert task["group"] == "service:web"
        assert task["launchType"] == "FARGATE" and task["platformVersion"] == "1.4.0"
        tags = dict(h.db.query("SELECT key, value FROM tags WHERE resource_arn=?", (task["taskArn"],)))
        assert tags == {"team": "a", "aws:ecs:clusterName": "default", "aws:ecs:serviceName": "web"}
        listed = h.ecs.list_tasks(h.ctx, {"serviceName": "web"})["taskArns"]
        assert listed == [task["taskArn"]]

    run(scenario)


def test_rolling_update_keeps_the_bounds_at_every_store_change() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        h.create(desiredCount=4, deploymentConfiguration={"minimumHealthyPercent": 50, "maximumPercent": 200})
        await h.until(lambda: h.completed())
        first = h.describe()["deployments"][0]["id"]
        seen: list[tuple[int, int]] = []

        def watch() -> None:
            live = h.service_tasks()
            healthy = [t for t in live if t["lastStatus"] == "RUNNING" and t.get("healthStatus") == "HEALTHY"]
            seen.append((len(live), len(healthy)))

        h.changes.append(watch)
        h.register(image="example/web:2")
        h.update(taskDefinition="web")
        await h.until(lambda: h.completed())
        assert seen and max(total for total, _ in seen) == 8
        assert min(healthy for _, healthy in seen) >= 4  # with room to surge, old tasks wait for new healthy ones
        old = [t for t in h.service_tasks(desired=None) if t["startedBy"] == first]
        assert all(t["stopCode"] == "ServiceSchedulerInitiated" for t in old)
        assert {t["stoppedReason"] for t in old} == {
            f"Scaling activity initiated by (deployment {h.describe()['deployments'][0]['id']})"
        }

    run(scenario)


def test_breaker_trips_at_the_threshold_and_rolls_back_to_the_last_completed_deployment() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        h.create(
            desiredCount=4,
            deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
        )
        await h.until(lambda: h.completed())
        good = h.describe()["deployments"][0]["id"]
        h.register(dockerLabels=labels(exit_code=1))
        failing = h.update(taskDefinition="web")["deployments"][0]["id"]
        await h.until(lambda: len(h.describe()["deployments"]) > 1 and h.describe()["deployments"][0]["id"] != failing)
        service = h.describe()
        rollback, failed = service["deployments"][0], service["deployments"][1]
        assert failed["id"] == failing and failed["status"] == "ACTIVE"
        assert failed["rolloutState"] == "FAILED"
        assert failed["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
        assert failed["failedTasks"] >= 3  # the four tasks fail together; three trip the breaker
        assert rollback["rolloutStateReason"] == f"ECS deployment circuit breaker: rolling back to deploymentId {good}."
        assert rollback["taskDefinition"].endswith(":1") and service["taskDefinition"].endswith(":1")
        assert prefix(f"(deployment {failing}) deployment failed: tasks failed to start.") in h.events()
        await h.until(lambda: h.completed())
        assert h.describe()["deployments"][0]["id"] == rollback["id"]
        names = [a.event_name for a in h.announcements]
        assert "SERVICE_DEPLOYMENT_FAILED" in names and names.count("SERVICE_DEPLOYMENT_COMPLETED") == 2
        starts = [a.reason for a in h.announcements if a.event_name == "SERVICE_DEPLOYMENT_IN_PROGRESS"]
        assert starts == [
            f"ECS deployment {good} in progress.",
            f"ECS deployment {failing} in progress.",
            f"ECS deployment circuit breaker: rolling back to deploymentId {good}.",
        ]

    run(scenario)


def test_breaker_without_rollback_leaves_the_failed_deployment_primary() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register(dockerLabels=labels(exit_code=1))
        h.create(
            desiredCount=1, deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}}
        )
        await h.until(lambda: h.describe()["deployments"][0]["rolloutState"] == "FAILED")
        deployment = h.describe()["deployments"][0]
        assert deployment["status"] == "PRIMARY" and deployment["failedTasks"] == 3
        launched = len(h.service_tasks(desired=None))
        await h.run(1800, step=30)  # within the hour stopped tasks stay visible
        assert len(h.service_tasks(desired=None)) == launched  # no further launches for it

    run(scenario)


def test_launch_throttle_doubles_and_reports_once_per_episode() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register(dockerLabels=labels(start_error="exec: boom"))
        h.create(desiredCount=1)
        created: list[float] = []

        def watch() -> None:
            for task in h.service_tasks(desired=None):
                if float(task["createdAt"]) not in created:
                    created.append(float(task["createdAt"]))

        h.changes.append(watch)
        await h.run(400, step=1)
        gaps = [round(b - a) for a, b in itertools.pairwise(created)]
        assert gaps[:4] == [10, 20, 40, 80]
        throttled = prefix(
            "is unable to consistently start tasks successfully. For more information, see the Troubleshooting "
            "section of the Amazon ECS Developer Guide."
        )
        assert h.events().count(throttled) == 1
        failed = h.service_tasks(desired="STOPPED")[0]
        assert failed["stopCode"] == "TaskFailedToStart"

    run(scenario)


def test_a_new_deployment_clears_the_throttle() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register(dockerLabels=labels(start_error="exec: boom"))
        h.create(desiredCount=1)
        await h.run(40, step=1)
        assert h.describe()["deployments"][0]["failedTasks"] >= 2
        h.register()
        h.update(taskDefinition="web")
        waited = await h.until(lambda: h.completed(), limit=60)
        assert waited < 20  # launched at once, not after the growing delay

    run(scenario)


def test_unhealthy_task_is_replaced_after_the_grace_period() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        h.create(desiredCount=1, healthCheckGracePeriodSeconds=60)
        await h.until(lambda: h.completed())
        (task,) = h.service_tasks()
        h.runtime.set_health(task["taskArn"].rsplit("/", 1)[1], "app", False)
        await h.until(lambda: h.service_tasks()[0].get("healthStatus") == "UNHEALTHY" if h.service_tasks() else False)
        started = float(task["startedAt"])
        assert h.clock.now() < started + 60
        await h.run(started + 59 - h.clock.now())
        assert h.service_tasks()[0]["taskArn"] == task["taskArn"]  # still inside the grace period
        await h.until(lambda: h.service_tasks()[0]["taskArn"] != task["taskArn"], limit=5)
        stopped = next(t for t in h.service_tasks(desired=None) if t["taskArn"] == task["taskArn"])
        assert stopped["stopCode"] == "ServiceSchedulerInitiated"
        assert stopped["stoppedReason"] == "Task failed container health checks"
        task_id = task["taskArn"].rsplit("/", 1)[1]
        replacement = h.service_tasks()[0]["taskArn"].rsplit("/", 1)[1]
        assert prefix(f"(task {task_id}) failed container health checks.") in h.events()
        assert (
            prefix(
                f"has started 1 tasks: (task {replacement}). Amazon ECS replaced 1 tasks due to an unhealthy status."
            )
            in h.events()
        )

    run(scenario)


def test_a_crashed_task_is_replaced() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        h.create(desiredCount=2)
        await h.until(lambda: h.completed())
        victim = h.service_tasks()[0]
        h.runtime.exit(victim["taskArn"].rsplit("/", 1)[1], "app", 2)
        await h.until(lambda: victim["taskArn"] not in {t["taskArn"] for t in h.service_tasks()})
        await h.until(lambda: h.describe()["runningCount"] == 2)
        assert len(h.service_tasks()) == 2
        assert h.describe()["deployments"][0]["failedTasks"] == 0

    run(scenario)


def test_scale_in_stops_the_extra_tasks_with_the_scaling_reason() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        deployment = h.create(desiredCount=3)["deployments"][0]["id"]
        await h.until(lambda: h.completed())
        h.update(desiredCount=1)
        service = h.describe()
        assert len(service["deployments"]) == 1  # desiredCount alone starts no deployment (§4.2)
        await h.until(lambda: len(h.service_tasks()) == 1)
        stopped = h.service_tasks(desired="STOPPED")
        assert {t["stoppedReason"] for t in stopped} == {f"Scaling activity initiated by (deployment {deployment})"}
        event = next(e for e in h.events() if "has stopped" in e)
        assert event.startswith(prefix("has stopped 2 running tasks: (task "))
        assert all(f"(task {t['taskArn'].rsplit('/', 1)[1]})" in event for t in stopped)

    run(scenario)


def test_stuck_configuration_is_reported_once() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        h.create(desiredCount=2, deploymentConfiguration={"minimumHealthyPercent": 75, "maximumPercent": 100})
        await h.until(lambda: h.completed())
        h.register(image="example/web:2")
        h.update(taskDefinition="web")
        await h.run(120, step=2)
        stuck = prefix(
            "was unable to stop or start tasks during a deployment because of the service deployment configuration. "
            "Update the minimumHealthyPercent or maximumPercent value and try again."
        )
        assert h.events().count(stuck) == 1
        assert len(h.describe()["deployments"]) == 2

    run(scenario)


def test_delete_drains_the_tasks_and_makes_the_service_inactive() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        h.create(desiredCount=2)
        await h.until(lambda: h.completed())
        deleted = h.ecs.delete_service(h.ctx, {"service": "web", "force": True})["service"]
        assert deleted["status"] == "DRAINING" and deleted["desiredCount"] == 0
        assert h.ecs.list_services(h.ctx, {})["serviceArns"] == []
        await h.until(lambda: h.describe()["status"] == "INACTIVE")
        assert all(t["lastStatus"] == "STOPPED" for t in h.service_tasks(desired=None))
        recreated = h.create()
        assert recreated["status"] == "ACTIVE" and recreated["events"] == []

    run(scenario)


def test_restart_of_the_scheduler_mid_rollout_neither_duplicates_nor_orphans() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        h.create(desiredCount=4, deploymentConfiguration={"minimumHealthyPercent": 50, "maximumPercent": 200})
        await h.until(lambda: h.completed())
        h.register(image="example/web:2")
        h.update(taskDefinition="web")
        await h.run(1)
        before = {t["taskArn"] for t in h.service_tasks(desired=None)}
        await h.restart_services()
        await h.restart_services()
        await h.until(lambda: h.completed())
        every = h.service_tasks(desired=None)
        assert before <= {t["taskArn"] for t in every}
        assert len(every) == 8  # four old, four new: nothing launched twice
        primary = h.describe()["deployments"][0]["id"]
        assert {t["startedBy"] for t in h.service_tasks()} == {primary}
        records = h.db.query("SELECT COUNT(*) AS n FROM service_tasks")[0]["n"]
        assert records == 8

    run(scenario)


def test_daemon_services_without_container_instances_are_steady_with_no_tasks() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        h.ecs.register_task_definition(
            h.ctx, {"family": "agent", "containerDefinitions": [{"name": "a", "image": "busybox", "memory": 64}]}
        )
        service = h.create(
            "agent",
            taskDefinition="agent",
            schedulingStrategy="DAEMON",
            desiredCount=None,
            launchType="EC2",
            networkConfiguration=None,
        )
        assert service["deploymentConfiguration"]["maximumPercent"] == 100
        assert service["deploymentConfiguration"]["minimumHealthyPercent"] == 0
        await h.run(5)
        events = h.events("agent")
        assert prefix("has reached a steady state.", "agent") in events
        assert h.service_tasks("agent") == []

    run(scenario)


def test_steady_state_message_repeats_every_six_hours() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        h.create(desiredCount=1)
        await h.until(lambda: h.completed())
        steady = prefix("has reached a steady state.")
        assert h.events().count(steady) == 1
        await h.run(6 * 3600 + 60, step=600)
        assert h.events().count(steady) == 2

    run(scenario)


def test_service_deployments_record_the_history() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        h.create(
            desiredCount=1, deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}}
        )
        await h.until(lambda: h.completed())
        h.register(image="example/web:2")
        h.update(taskDefinition="web")
        await h.until(lambda: h.completed())
        listed: list[dict[str, Any]] = h.ecs.list_service_deployments(h.ctx, {"service": "web"})["serviceDeployments"]
        assert [d["status"] for d in listed] == ["SUCCESSFUL", "SUCCESSFUL"]
        described = h.ecs.describe_service_deployments(
            h.ctx, {"serviceDeploymentArns": [d["serviceDeploymentArn"] for d in listed]}
        )["serviceDeployments"]
        newest = described[0]
        assert newest["deploymentCircuitBreaker"] == {
            "status": "MONITORING_COMPLETE",
            "failureCount": 0,
            "threshold": 3,
        }
        assert newest["targetServiceRevision"]["runningTaskCount"] == 1
        assert newest["sourceServiceRevisions"][0]["arn"] == listed[1]["targetServiceRevisionArn"]
        revisions = h.ecs.describe_service_revisions(
            h.ctx, {"serviceRevisionArns": [newest["targetServiceRevision"]["arn"]]}
        )["serviceRevisions"]
        assert revisions[0]["taskDefinition"].endswith("web:2")
        assert revisions[0]["containerImages"][0]["image"] == "example/web:2"
        assert revisions[0]["containerImages"][0]["imageDigest"].startswith("sha256:")

    run(scenario)


def test_a_crash_loop_after_running_trips_the_breaker_without_throttling() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register(health=False, dockerLabels=labels(run_seconds=2, exit_code=3))
        h.create(
            desiredCount=1, deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}}
        )
        waited = await h.until(lambda: h.describe()["deployments"][0]["rolloutState"] == "FAILED", limit=120)
        assert waited < 30  # crashes after RUNNING are replaced at once, not spaced out (§4.10)
        stopped = h.service_tasks(desired="STOPPED")
        assert len(stopped) == 3 and all(t.get("startedAt") for t in stopped)
        assert {t["stopCode"] for t in stopped} == {"EssentialContainerExited"}
        assert not any("unable to consistently start tasks" in e for e in h.events())

    run(scenario)


def test_announcements_reach_the_hooks_after_each_step() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        service = h.create(desiredCount=1)
        await h.until(lambda: h.completed())
        names = [(a.kind.value, a.event_type, a.event_name) for a in h.announcements]
        assert names == [
            ("ECS Deployment State Change", "INFO", "SERVICE_DEPLOYMENT_IN_PROGRESS"),
            ("ECS Deployment State Change", "INFO", "SERVICE_DEPLOYMENT_COMPLETED"),
            ("ECS Service Action", "INFO", "SERVICE_STEADY_STATE"),
        ]
        started, completed = h.announcements[0], h.announcements[1]
        assert started.deployment_id == completed.deployment_id
        assert started.reason == f"ECS deployment {started.deployment_id} in progress."
        assert completed.deployment_id == service["deployments"][0]["id"]
        assert completed.reason == f"ECS deployment {completed.deployment_id} completed."
        assert completed.service_arn == service["serviceArn"]

    run(scenario)


def test_only_the_newest_hundred_events_are_kept() -> None:
    from ecslite.store import services as svc_store

    h = ServiceHarness()
    h.register()
    arn = h.create(desiredCount=0)["serviceArn"]
    with h.db.transaction():
        for i in range(130):
            svc_store.add_event(h.db, arn, f"(service web) event {i}", 1000.0 + i)
    events = h.describe()["events"]
    assert len(events) == 100
    assert events[0]["message"] == "(service web) event 129" and events[-1]["message"] == "(service web) event 30"
    assert len({e["id"] for e in events}) == 100


def test_the_throttle_maximum_is_a_setting() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register(dockerLabels=labels(start_error="exec: boom"))
        h.create(desiredCount=1)
        created: list[float] = []

        def watch() -> None:
            created.extend(
                float(t["createdAt"]) for t in h.service_tasks(desired=None) if float(t["createdAt"]) not in created
            )

        h.changes.append(watch)
        await h.run(200, step=1)
        gaps = [round(b - a) for a, b in itertools.pairwise(created)]
        assert gaps[:5] == [10, 20, 30, 30, 30]

    run(scenario, throttle_max=30.0)


def test_large_launches_are_reported_ten_tasks_per_event() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        h.create(desiredCount=25)
        await h.until(lambda: h.describe()["runningCount"] == 25)
        started = [e for e in h.events() if "has started" in e]
        assert [e.split(" tasks: ")[0] for e in started] == [
            prefix("has started 10"),
            prefix("has started 10"),
            prefix("has started 5"),
        ]
        assert sum(e.count("(task ") for e in started) == 25

    run(scenario)
