"""How task writes wake the service scheduler: progress is coalesced (one reconcile per burst, within
``COALESCE_SECONDS``), a stop or a task turning UNHEALTHY is answered at once."""

from __future__ import annotations

from ecslite.control.services import COALESCE_SECONDS
from ecslite.store import tasks as task_store
from tests.unit.test_service_harness import ServiceHarness, run


def touch(h: ServiceHarness, arn: str) -> None:
    """A committed write of a task that changes nothing the scheduler looks at (progress, say)."""
    with h.db.transaction():
        h.db.changed(task_store.KIND, arn)


def test_a_burst_of_task_progress_is_one_reconcile_within_the_bound() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        h.create(desiredCount=5)
        await h.until(lambda: h.completed())
        await h.run(2)
        before = h.services.runner.runs
        for task in h.service_tasks():
            touch(h, task["taskArn"])
            await h.settle()
        assert h.services.runner.runs == before  # not yet: more writes may follow
        h.clock.advance(COALESCE_SECONDS / 2)
        await h.settle()
        assert h.services.runner.runs == before
        h.clock.advance(COALESCE_SECONDS / 2)
        await h.settle()
        assert h.services.runner.runs == before + 1
        await h.run(5)
        assert h.services.runner.runs == before + 1

    run(scenario)


def test_a_stopped_task_is_replaced_without_waiting() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        h.create(desiredCount=2)
        await h.until(lambda: h.completed())
        victim = h.service_tasks()[0]["taskArn"]
        h.stop_task(victim)
        await h.settle()  # no simulated time passes
        running = {t["taskArn"] for t in h.service_tasks()}
        assert victim not in running and len(running) == 2

    run(scenario)


def test_a_task_turning_unhealthy_is_stopped_at_the_same_instant() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        h.create(desiredCount=1)
        await h.until(lambda: h.completed())
        (task,) = h.service_tasks()
        arn = task["taskArn"]
        seen: dict[str, float] = {}

        def watch() -> None:
            doc = task_store.get(h.db, arn)
            assert doc is not None
            if doc.get("healthStatus") == "UNHEALTHY":
                seen.setdefault("unhealthy", h.clock.now())
            if doc["desiredStatus"] == "STOPPED":
                seen.setdefault("stop", h.clock.now())

        h.changes.append(watch)
        h.runtime.set_health(arn.rsplit("/", 1)[1], "app", False)
        await h.until(lambda: "stop" in seen, limit=60)
        assert seen["stop"] == seen["unhealthy"]
        stopped = task_store.get(h.db, arn)
        assert stopped is not None and stopped["stoppedReason"] == "Task failed container health checks"

    run(scenario)


def test_a_restarted_scheduler_reconciles_from_the_store() -> None:
    async def scenario(h: ServiceHarness) -> None:
        h.register()
        h.create(desiredCount=3)
        await h.until(lambda: h.describe()["runningCount"] >= 1)
        await h.restart_services()
        await h.until(lambda: h.completed())
        assert len(h.service_tasks()) == 3
        assert len(h.service_tasks(desired=None)) == 3  # nothing launched twice

    run(scenario)
