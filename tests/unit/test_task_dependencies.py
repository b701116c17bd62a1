"""dependsOn at start (START, COMPLETE, SUCCESS, HEALTHY, startTimeout) through the controller (§2.6, §3.3)."""

from __future__ import annotations

from typing import Any

from tests.unit.test_task_harness import Harness, container, definition, labels, run, started


def depends(target: str, condition: str) -> dict[str, Any]:
    return {"dependsOn": [{"containerName": target, "condition": condition}]}


def started_at(h: Harness, arn: str, name: str) -> float | None:
    value = h.task(arn).get("_run", {}).get("containers", {}).get(name, {}).get("startedAt")
    return None if value is None else float(value)


def healthy_check(interval: int = 5) -> dict[str, Any]:
    return {"healthCheck": {"command": ["CMD-SHELL", "true"], "interval": interval, "retries": 1}}


def test_independent_containers_start_together() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(definition(container("a"), container("b"), container("c")))
        await h.until(arn, "RUNNING")
        starts = {started_at(h, arn, n) for n in ("a", "b", "c")}
        assert len(starts) == 1
        await h.controller.stop()

    run(scenario())


def test_healthy_dependency_starts_the_dependent_only_after_the_target_is_healthy() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(
            definition(
                container("db", **healthy_check(), **labels(healthy_after_seconds=12)),
                container("app", **depends("db", "HEALTHY")),
            )
        )
        await h.run(11)
        task = h.task(arn)
        assert task["lastStatus"] == "PENDING"
        assert h.container(arn, "db")["lastStatus"] == "RUNNING"
        assert h.container(arn, "app")["lastStatus"] == "PENDING"
        await h.until(arn, "RUNNING", limit=10)
        db_started, app_started = started_at(h, arn, "db"), started_at(h, arn, "app")
        assert db_started is not None and app_started is not None
        assert app_started - db_started >= 15  # first passing check at the third 5 s interval
        assert h.container(arn, "db")["healthStatus"] == "HEALTHY"
        await h.controller.stop()

    run(scenario())


def test_success_dependency_waits_for_exit_zero() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(
            definition(
                container("migrate", essential=False, **labels(run_seconds=4)),
                container("app", **depends("migrate", "SUCCESS")),
            )
        )
        task = await h.until(arn, "RUNNING")
        assert h.container(arn, "migrate")["exitCode"] == 0
        assert started_at(h, arn, "app") >= started_at(h, arn, "migrate") + 4  # type: ignore[operator]
        assert task["startedAt"] >= started_at(h, arn, "app")  # type: ignore[operator]
        await h.controller.stop()

    run(scenario())


def test_success_dependency_exiting_non_zero_fails_the_task_at_once() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(
            definition(
                container("migrate", essential=False, **labels(run_seconds=2, exit_code=1)),
                container("app", **depends("migrate", "SUCCESS")),
            )
        )
        task = await h.until(arn, "STOPPED", limit=10)
        reason = (
            "CannotStartContainerError: dependency graph: failed to resolve container ordering dependency "
            "[migrate] for target [app] as dependency did not exit successfully. 'app' waits for 'migrate' "
            "SUCCESS but 'migrate' exited 1."
        )
        assert task["stopCode"] == "TaskFailedToStart"
        assert task["stoppedReason"] == reason
        app = h.container(arn, "app")
        assert (app["lastStatus"], app["exitCode"], app["reason"]) == ("STOPPED", 143, reason)
        assert "startedAt" not in task
        await h.controller.stop()

    run(scenario())


def test_complete_dependency_accepts_any_exit_code() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(
            definition(
                container("setup", essential=False, **labels(run_seconds=1, exit_code=3)),
                container("app", **depends("setup", "COMPLETE")),
            )
        )
        await h.until(arn, "RUNNING")
        assert h.container(arn, "app")["lastStatus"] == "RUNNING"
        await h.controller.stop()

    run(scenario())


def test_start_dependency_on_a_container_that_failed_to_start_fails_the_dependent() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(
            definition(
                container("sidecar", essential=False, **labels(start_error="boom")),
                container("app", **depends("sidecar", "START")),
            )
        )
        task = await h.until(arn, "STOPPED")
        assert task["stoppedReason"].startswith(
            "CannotStartContainerError: dependency graph: failed to resolve container ordering dependency "
            "[sidecar] for target [app] because dependency will never start."
        )
        assert h.container(arn, "sidecar")["reason"] == "CannotStartContainerError: boom"
        await h.controller.stop()

    run(scenario())


def test_non_essential_dependent_failure_leaves_the_task_running() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(
            definition(
                container("app"),
                container("once", essential=False, **labels(run_seconds=1, exit_code=1)),
                container("after", essential=False, **depends("once", "SUCCESS")),
            )
        )
        await h.run(5)
        task = h.task(arn)
        assert task["lastStatus"] == "RUNNING"
        assert h.container(arn, "after")["lastStatus"] == "STOPPED"
        assert h.container(arn, "after")["reason"].startswith("CannotStartContainerError: dependency graph:")
        await h.controller.stop()

    run(scenario())


def test_healthy_dependency_that_exits_unhealthy_fails_the_dependent() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(
            definition(
                container("db", essential=False, **healthy_check(), **labels(health="UNHEALTHY", run_seconds=3)),
                container("app", **depends("db", "HEALTHY")),
            )
        )
        task = await h.until(arn, "STOPPED")
        assert "'app' waits for 'db' HEALTHY but 'db' exited 0 before it was healthy." in task["stoppedReason"]
        await h.controller.stop()

    run(scenario())


def test_start_timeout_of_the_target_gives_up_on_a_dependency() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(
            definition(
                container("db", startTimeout=20, **healthy_check(), **labels(health="UNHEALTHY")),
                container("app", **depends("db", "HEALTHY")),
            )
        )
        await h.run(15)
        assert h.task(arn)["lastStatus"] == "PENDING"
        task = await h.until(arn, "STOPPED", limit=40)
        assert task["stopCode"] == "TaskFailedToStart"
        assert task["stoppedReason"] == (
            "CannotStartContainerError: dependency graph: container ordering dependency [db] for target [app] has "
            "timed out. 'app' waits for 'db' HEALTHY but 'db' was not HEALTHY within its startTimeout of 20s."
        )
        await h.controller.stop()

    run(scenario())


def test_healthy_dependency_without_timeout_keeps_the_task_pending() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(
            definition(
                container("db", **healthy_check(), **labels(health="UNHEALTHY")),
                container("app", **depends("db", "HEALTHY")),
            )
        )
        await h.run(120)
        assert h.task(arn)["lastStatus"] == "PENDING"
        assert h.container(arn, "db")["healthStatus"] == "UNHEALTHY"
        assert h.container(arn, "app")["lastStatus"] == "PENDING"
        await h.controller.stop()

    run(scenario())
