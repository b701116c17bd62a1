"""Service tasks behind target groups (spec/ecs.md §4.5, §4.7, §4.8, §7.4) on the fake runtime and
clock: healthy only when the target is healthy, stopped and replaced when it is unhealthy past the
grace period, with ECS's reason and event; the circuit breaker counts it."""

from __future__ import annotations

from typing import Any

from ecslite.control.service_target_health import TargetsHealth, with_targets
from ecslite.control.target_groups import ElbTargetGroups
from ecslite.control.task_activation import Target
from ecslite.model.deployments import PhaseAt, TaskPhase
from ecslite.store import elbv2 as elb_store
from ecslite.store import tasks as task_store
from tests.unit.test_service_harness import ServiceHarness, run
from tests.unit.test_task_activation import PORT, TARGET_GROUP, TargetGroupsLog, target_of

UNHEALTHY = Target(TARGET_GROUP, "10.0.0.5", PORT)


def phase(health: TargetsHealth | None, base: TaskPhase, *, check: bool = False, now: float = 100.0) -> PhaseAt:
    return with_targets(PhaseAt(base), health, started_at=50.0, has_health_check=check, grace_seconds=30.0, now=now)


def test_without_target_groups_the_containers_decide() -> None:
    assert phase(None, TaskPhase.STARTING) == PhaseAt(TaskPhase.STARTING)
    assert phase(None, TaskPhase.HEALTHY) == PhaseAt(TaskPhase.HEALTHY)


def test_the_target_not_the_forty_second_rule_says_healthy() -> None:
    assert phase(TargetsHealth(True), TaskPhase.STARTING) == PhaseAt(TaskPhase.HEALTHY)
    assert phase(TargetsHealth(False), TaskPhase.HEALTHY) == PhaseAt(TaskPhase.STARTING)


def test_with_a_container_health_check_both_must_be_healthy() -> None:
    assert phase(TargetsHealth(True), TaskPhase.STARTING, check=True) == PhaseAt(TaskPhase.STARTING)
    assert phase(TargetsHealth(True), TaskPhase.HEALTHY, check=True) == PhaseAt(TaskPhase.HEALTHY)
    assert phase(TargetsHealth(True), TaskPhase.UNHEALTHY, check=True) == PhaseAt(TaskPhase.UNHEALTHY)


def test_an_unhealthy_target_waits_for_the_grace_period() -> None:
    health = TargetsHealth(False, UNHEALTHY, "Health checks failed with these codes: [502]")
    assert phase(health, TaskPhase.HEALTHY, now=70.0) == PhaseAt(TaskPhase.STARTING, 80.0)
    assert phase(health, TaskPhase.HEALTHY, now=80.0) == PhaseAt(TaskPhase.UNHEALTHY)
    assert phase(health, TaskPhase.PENDING, now=200.0) == PhaseAt(TaskPhase.PENDING)


async def behind_target_group(h: ServiceHarness, **create: Any) -> dict[str, Any]:
    """A service of one task behind TARGET_GROUP (its load balancer in the store), once it runs."""
    TargetGroupsLog(h, delay=0.0)  # the group and its load balancer in the store
    h.tasks.reconciler.activation.target_groups = ElbTargetGroups(h.db)
    h.register(health=False, portMappings=[{"containerPort": PORT}])
    h.create(loadBalancers=[{"targetGroupArn": TARGET_GROUP, "containerName": "app", "containerPort": PORT}], **create)
    await h.until(lambda: h.describe()["runningCount"] == 1)
    task: dict[str, Any] = h.service_tasks()[0]
    return task


def test_a_task_unhealthy_in_its_target_group_is_stopped_and_replaced() -> None:
    async def scenario(h: ServiceHarness) -> None:
        task = await behind_target_group(h, healthCheckGracePeriodSeconds=60)
        target = target_of(task)
        assert elb_store.get_target(h.db, TARGET_GROUP, target.id, target.port) is not None
        await h.run(45.0)  # past the 40-second rule: the target, still initial, keeps it from counting
        assert h.describe()["deployments"][0]["rolloutState"] == "IN_PROGRESS"

        with h.db.transaction():
            elb_store.set_target_state(
                h.db,
                TARGET_GROUP,
                target.id,
                target.port,
                "unhealthy",
                "Target.ResponseCodeMismatch",
                "Health checks failed with these codes: [502]",
            )
        await h.run(5.0)
        assert task_store.get(h.db, task["taskArn"])["desiredStatus"] == "RUNNING"  # inside the grace period
        await h.until(lambda: task_store.get(h.db, task["taskArn"])["desiredStatus"] == "STOPPED", limit=30)
        stopped = task_store.get(h.db, task["taskArn"])
        assert stopped["stoppedReason"] == f"Task failed ELB health checks in (target-group {TARGET_GROUP})"
        assert stopped["stopCode"] == "ServiceSchedulerInitiated"
        task_id = task["taskArn"].rsplit("/", 1)[-1]
        assert (
            f"(service web) (task {task_id}) (port {PORT}) is unhealthy in (target-group {TARGET_GROUP}) due to "
            "(reason Health checks failed with these codes: [502])."
        ) in h.events()
        await h.until(lambda: any(t["taskArn"] != task["taskArn"] for t in h.service_tasks()), limit=60)
        assert any("Amazon ECS replaced 1 tasks due to an unhealthy status." in e for e in h.events())

    run(scenario)


def test_a_task_healthy_in_its_target_group_completes_the_deployment() -> None:
    async def scenario(h: ServiceHarness) -> None:
        target = target_of(await behind_target_group(h))
        with h.db.transaction():
            elb_store.set_target_state(h.db, TARGET_GROUP, target.id, target.port, "healthy", None, None)
        waited = await h.until(lambda: h.completed(), limit=10)
        assert waited < 5  # the healthy target, not the 40-second rule, completed it
        assert f"(service web) registered 1 targets in (target-group {TARGET_GROUP})" in h.events()

    run(scenario)
