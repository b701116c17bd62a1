"""Container and task health (§2.7): the pure tracker and the controller's probes on a fake clock."""

from __future__ import annotations

from typing import Any

from ecslite.model.health import HealthCheckSpec, HealthTracker, task_health
from tests.unit.test_task_harness import Harness, container, definition, labels, run, started


def check(**extra: Any) -> dict[str, Any]:
    return {"healthCheck": {"command": ["CMD", "/bin/check"], **extra}}


def test_health_check_defaults_are_ecs_defaults() -> None:
    spec = HealthCheckSpec.from_definition({"command": ["CMD-SHELL", "curl -f localhost"]})
    assert spec == HealthCheckSpec(("CMD-SHELL", "curl -f localhost"), 30.0, 5.0, 3, 0.0)
    assert HealthCheckSpec.from_definition(None) is None


def test_tracker_turns_unhealthy_after_retries_consecutive_failures() -> None:
    tracker = HealthTracker(HealthCheckSpec(("CMD", "x"), retries=3), started_at=0)
    assert [tracker.record(False, t) for t in (30, 60)] == ["UNKNOWN", "UNKNOWN"]
    assert tracker.record(False, 90) == "UNHEALTHY"
    assert tracker.record(True, 120) == "HEALTHY"
    assert tracker.consecutive_failures == 0


def test_tracker_ignores_failures_inside_the_start_period() -> None:
    tracker = HealthTracker(HealthCheckSpec(("CMD", "x"), retries=1, start_period=60), started_at=0)
    assert tracker.record(False, 30) == "UNKNOWN"
    assert tracker.record(False, 59) == "UNKNOWN"
    assert tracker.record(False, 61) == "UNHEALTHY"


def test_tracker_pass_inside_the_start_period_ends_it() -> None:
    tracker = HealthTracker(HealthCheckSpec(("CMD", "x"), retries=1, start_period=300), started_at=0)
    assert tracker.record(True, 10) == "HEALTHY"
    assert tracker.record(False, 20) == "UNHEALTHY"


def test_checks_run_every_5_s_while_starting_inside_the_start_period() -> None:
    """Docker 25: the 5 s start interval while starting inside the start period, then interval."""
    tracker = HealthTracker(HealthCheckSpec(("CMD", "x"), interval=30, start_period=60), started_at=100)
    assert tracker.next_delay(100) == 5.0
    assert tracker.next_delay(159) == 5.0
    assert tracker.next_delay(160) == 30.0
    tracker.record(True, 110)
    assert tracker.next_delay(110) == 30.0  # a pass ends the start period


def test_without_a_start_period_the_first_check_waits_one_interval() -> None:
    tracker = HealthTracker(HealthCheckSpec(("CMD", "x"), interval=30), started_at=0)
    assert tracker.next_delay(0) == 30.0
    short = HealthTracker(HealthCheckSpec(("CMD", "x"), interval=30, start_period=30), started_at=0)
    assert short.next_delay(0.01) == 5.0


def test_task_health_looks_at_essential_containers_only() -> None:
    assert task_health(["HEALTHY", "HEALTHY"]) == "HEALTHY"
    assert task_health(["HEALTHY", "UNKNOWN"]) == "UNKNOWN"
    assert task_health(["UNKNOWN", "UNHEALTHY"]) == "UNHEALTHY"
    assert task_health([]) == "UNKNOWN"


def test_failing_check_makes_the_task_unhealthy_and_it_keeps_running() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(definition(container("app", **check(interval=5, retries=2), **labels(health="UNHEALTHY"))))
        await h.until(arn, "RUNNING")
        await h.run(9)
        assert h.container(arn, "app")["healthStatus"] == "UNKNOWN"
        await h.run(2)
        task = h.task(arn)
        assert h.container(arn, "app")["healthStatus"] == "UNHEALTHY"
        assert task["healthStatus"] == "UNHEALTHY"
        await h.run(60)
        assert h.task(arn)["lastStatus"] == "RUNNING"  # §2.7: standalone tasks keep running
        await h.controller.stop()

    run(scenario())


def test_task_is_healthy_when_every_essential_container_is() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(
            definition(
                container("app", **check(interval=5)),
                container("proxy", **check(interval=10)),
                container("helper", essential=False),
            )
        )
        await h.until(arn, "RUNNING")
        await h.run(6)
        assert h.task(arn)["healthStatus"] == "UNKNOWN"
        await h.run(5)
        assert h.task(arn)["healthStatus"] == "HEALTHY"
        assert h.container(arn, "helper")["healthStatus"] == "UNKNOWN"
        await h.controller.stop()

    run(scenario())


def test_essential_container_without_a_check_keeps_the_task_unknown() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(definition(container("app", **check(interval=5)), container("plain")))
        await h.until(arn, "RUNNING")
        await h.run(20)
        assert h.container(arn, "app")["healthStatus"] == "HEALTHY"
        assert h.task(arn)["healthStatus"] == "UNKNOWN"
        await h.controller.stop()

    run(scenario())


def test_health_recovers_when_checks_pass_again() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(definition(container("app", **check(interval=5, retries=1))))
        await h.until(arn, "RUNNING")
        task_id = h.task_id(arn)
        await h.run(6)
        assert h.task(arn)["healthStatus"] == "HEALTHY"
        h.runtime.set_health(task_id, "app", False)
        await h.run(5)
        assert h.task(arn)["healthStatus"] == "UNHEALTHY"
        h.runtime.set_health(task_id, "app", None)
        await h.run(5)
        assert h.task(arn)["healthStatus"] == "HEALTHY"
        await h.controller.stop()

    run(scenario())


def test_probes_stop_when_the_container_exits() -> None:
    async def scenario() -> None:
        h = await started(Harness())
        arn = h.launch(definition(container("app", **check(interval=5), **labels(run_seconds=12))))
        await h.until(arn, "STOPPED", limit=30)
        execs = len([c for c in h.runtime.calls if c[0] == "exec"])
        await h.run(30)
        assert len([c for c in h.runtime.calls if c[0] == "exec"]) == execs == 2
        await h.controller.stop()

    run(scenario())


def test_checks_run_every_interval_with_the_timeout_and_a_timeout_counts_as_a_failure() -> None:
    from collections.abc import Sequence

    from ecslite.runtime.base import ExecResult

    async def scenario() -> None:
        h = await started(Harness())
        calls: list[tuple[float, Sequence[str], float]] = []

        async def slow_exec(task_id: str, name: str, command: Sequence[str], timeout: float) -> ExecResult:
            calls.append((h.clock.now(), command, timeout))
            return ExecResult(exit_code=None, output="", timed_out=True)

        h.runtime.exec = slow_exec  # type: ignore[method-assign]
        check = {"command": ["CMD-SHELL", "curl -f localhost"], "interval": 10, "timeout": 3, "retries": 2}
        arn = h.launch(definition(container("app", healthCheck=check)))
        await h.until(arn, "RUNNING")
        started_at = h.clock.now()
        await h.run(15)
        assert h.container(arn, "app")["healthStatus"] == "UNKNOWN"
        await h.run(6)
        assert h.container(arn, "app")["healthStatus"] == "UNHEALTHY"
        assert [round(t - started_at) for t, _, _ in calls] == [10, 20]
        assert {(tuple(c), timeout) for _, c, timeout in calls} == {(("/bin/sh", "-c", "curl -f localhost"), 3.0)}
        await h.controller.stop()

    run(scenario())


def test_start_period_checks_every_5_s_until_the_first_pass_then_every_interval() -> None:
    from collections.abc import Sequence

    from ecslite.runtime.base import ExecResult

    async def scenario() -> None:
        h = await started(Harness())
        calls: list[float] = []

        async def exec_(task_id: str, name: str, command: Sequence[str], timeout: float) -> ExecResult:
            calls.append(h.clock.now())
            passed = len(calls) >= 3  # the service answers from its third check on
            return ExecResult(exit_code=0 if passed else 1, output="")

        h.runtime.exec = exec_  # type: ignore[method-assign]
        check = {"command": ["CMD", "/bin/check"], "interval": 30, "retries": 3, "startPeriod": 60}
        arn = h.launch(definition(container("app", healthCheck=check)))
        await h.until(arn, "RUNNING")
        started_at = h.clock.now()
        await h.run(16)
        assert h.container(arn, "app")["healthStatus"] == "HEALTHY"
        await h.run(60)
        # 5 s apart while starting; from the first pass on, one interval apart
        assert [round(t - started_at) for t in calls] == [5, 10, 15, 45, 75]
        await h.controller.stop()

    run(scenario())
