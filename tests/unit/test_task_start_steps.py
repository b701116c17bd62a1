"""The task reconciler takes a task's start steps one after another in one call (§3.2), each its own
commit, so a start costs no work-queue round trips; a wait (dependsOn) or a stop ends the run."""

from __future__ import annotations

from ecslite.model.tasks import TIMESTAMP_ORDER
from ecslite.store import tasks as task_store
from ecslite.store.tasks import StopRequest, apply_stop
from tests.unit.test_task_harness import Harness, container, definition, run


def test_one_reconcile_takes_a_task_from_provisioning_to_running_step_by_step() -> None:
    async def scenario() -> None:
        h = Harness()  # no workers: only the call below moves the task
        arn = h.launch()
        await h.controller.reconciler.reconcile(arn)
        task = h.task(arn)
        assert task["lastStatus"] == "RUNNING"
        assert h.statuses(arn) == ["PROVISIONING", "PENDING", "RUNNING"]
        # Every step was a commit of its own, seen by subscribers in order.
        assert h.versions(arn) == list(range(h.versions(arn)[0], task["version"] + 1))
        assert len(h.versions(arn)) >= 5
        present = [float(task[f]) for f in TIMESTAMP_ORDER if task.get(f) is not None]
        assert present == sorted(present)

    run(scenario())


def test_a_dependency_wait_ends_the_run_with_a_recheck() -> None:
    async def scenario() -> None:
        h = Harness()
        check = {"command": ["CMD", "true"], "interval": 5, "startPeriod": 0}
        arn = h.launch(
            definition(
                container("db", healthCheck=check),
                container("app", dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]),
            )
        )
        await h.controller.reconciler.reconcile(arn)
        assert h.task(arn)["lastStatus"] == "PENDING"
        assert h.container(arn, "db")["lastStatus"] == "RUNNING"
        assert h.container(arn, "app")["lastStatus"] == "PENDING"
        await h.controller.probes.close()

    run(scenario())


def test_a_stop_requested_before_the_call_is_not_overtaken_by_start_steps() -> None:
    async def scenario() -> None:
        h = Harness()
        arn = h.launch()
        task_store.update(h.db, arn, lambda doc: apply_stop(doc, StopRequest("UserInitiated", "stop", 0.0)))
        await h.controller.reconciler.reconcile(arn)
        task = h.task(arn)
        assert "RUNNING" not in h.statuses(arn)
        assert task.get("startedAt") is None and task.get("pullStartedAt") is None

    run(scenario())
