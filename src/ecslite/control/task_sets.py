"""The scheduler of EXTERNAL services: each task set kept at its computed count (spec/ecs.md §4.11).

Per step, for every task set of the service (``providers.ecs.task_sets`` owns what the user asked
for): ``computedDesiredCount = ceil(desiredCount × scale %)`` (0 for a DRAINING set or a service
being deleted); missing tasks are launched through the service launcher with the set's own
configuration (``startedBy`` = the set's id), surplus ones stopped (not yet running first, newest
first); ``runningCount``/``pendingCount`` come from the task rows; ``stabilityStatus`` is
``STEADY_STATE`` when the set runs exactly its count and nothing of it is starting or stopping,
else ``STABILIZING`` (``stabilityStatusAt`` records the change, and ``TASKSET_STEADY_STATE`` is
announced). A DRAINING set whose last task has stopped is removed; a DRAINING service becomes
INACTIVE once no task is left. The service reaches a steady state when every set has.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ecslite.control import service_events as texts
from ecslite.control.service_events import AnnouncementKind
from ecslite.model.deployments import STEADY_REPEAT_SECONDS, ServiceTask, StopOrder, StopWhy, scale_in_victims
from ecslite.model.services import ServiceStatus
from ecslite.model.task_sets import computed_desired
from ecslite.store import services as svc_store
from ecslite.store import tasks as task_store
from ecslite.store.db import Database

if TYPE_CHECKING:
    from ecslite.control.service_outcomes import Step
    from ecslite.control.service_reconciler import ServiceReconciler

Doc = dict[str, Any]


class TaskSetScheduler:
    def __init__(self, db: Database) -> None:
        self.db = db

    def step(self, reconciler: ServiceReconciler, step: Step, tasks: Sequence[ServiceTask]) -> None:
        doc = step.doc
        deleting = doc["status"] == ServiceStatus.DRAINING
        kept: list[Doc] = []
        all_steady = True
        for task_set in doc.get("taskSets") or ():
            mine = [t for t in tasks if t.deployment_id == task_set["id"]]
            everything = [t for t in step.live if t.get("startedBy") == task_set["id"]]
            if deleting:
                task_set["status"] = "DRAINING"
            desired = computed_desired(int(doc["desiredCount"]), task_set["scale"], task_set["status"])
            task_set["computedDesiredCount"] = desired
            changed = self._converge(reconciler, step, task_set, mine, desired)
            running = sum(1 for t in everything if t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING")
            task_set["runningCount"] = running
            task_set["pendingCount"] = sum(
                1 for t in everything if t["lastStatus"] != "RUNNING" and t["desiredStatus"] == "RUNNING"
            )
            steady = not changed and running == desired and len(everything) == desired
            self._stability(reconciler, step, task_set, steady)
            all_steady = all_steady and steady
            if task_set["status"] == "DRAINING" and not everything:
                continue  # drained: the set is gone
            kept.append(task_set)
        doc["taskSets"] = kept
        if deleting and not step.live:
            doc["status"] = ServiceStatus.INACTIVE.value
            return
        if all_steady and not deleting:
            steady_at = doc.get("_steadyAt")
            if steady_at is None or step.now - float(steady_at) >= STEADY_REPEAT_SECONDS:
                doc["_steadyAt"] = steady_at = step.now
                reconciler._event(step, texts.STEADY)
                reconciler._announce(step, AnnouncementKind.SERVICE_ACTION, "INFO", "SERVICE_STEADY_STATE")
            step.recheck.append(float(steady_at) + STEADY_REPEAT_SECONDS)
        else:
            doc.pop("_steadyAt", None)

    def _converge(
        self, reconciler: ServiceReconciler, step: Step, task_set: Doc, tasks: list[ServiceTask], desired: int
    ) -> bool:
        """Launch or stop towards ``desired``; True when something was done."""
        if len(tasks) > desired:
            # Protected tasks are skipped (§4.11); with too many of them the set stays above its count.
            scalable = [t for t in tasks if not t.protected]
            victims = scale_in_victims(scalable, min(len(scalable), len(tasks) - desired))
            if len(victims) < len(tasks) - desired and not task_set.get("_protectedNoted"):
                task_set["_protectedNoted"] = True
                reconciler._event(step, texts.PROTECTED_BLOCK.format(id=task_set["id"]))
            if victims:
                reconciler._stop(step, [StopOrder(t.arn, StopWhy.ROLLOUT) for t in victims], {"id": task_set["id"]})
            return bool(victims)
        if len(tasks) < desired:
            deployment = {"id": task_set["id"], "_spec": task_set["_spec"]}
            outcome = reconciler.launcher.launch(
                step.ref, step.doc, deployment, desired - len(tasks), step.live, step.now
            )
            if outcome.docs:
                task_store.insert_launched(
                    self.db, step.ref.account, step.ref.region, step.ref.cluster, outcome.docs, outcome.tags
                )
                for doc in outcome.docs:
                    svc_store.record_launch(self.db, step.arn, doc["taskArn"], task_set["id"], step.now)
                for batch in texts.batches([doc["taskArn"] for doc in outcome.docs]):
                    reconciler._event(step, texts.STARTED.format(count=len(batch), tasks=texts.task_list(batch)))
            if outcome.problem is not None:
                reconciler._event(step, outcome.problem)
                step.recheck.append(step.now + 10.0)
            return True
        return False

    @staticmethod
    def _stability(reconciler: ServiceReconciler, step: Step, task_set: Doc, steady: bool) -> None:
        status = "STEADY_STATE" if steady else "STABILIZING"
        if task_set.get("stabilityStatus") != status:
            task_set["stabilityStatus"] = status
            task_set["stabilityStatusAt"] = step.now
            if steady:
                reconciler._announce(step, AnnouncementKind.SERVICE_ACTION, "INFO", "TASKSET_STEADY_STATE")
