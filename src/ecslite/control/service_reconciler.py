"""The service reconciler: one idempotent step of a service's scheduler per call (spec/ecs.md §4).

``reconcile(service_arn)`` reads the service and its tasks from the store (a task document is
parsed again only when its stored text changed, ``control.service_live``) and takes one step, all
inside one transaction: the scheduler never waits on the runtime (the task controller runs what
it writes), so a step either happens completely or not at all. That is what makes it safe to
repeat after a crash: the task rows a step launches and the scheduler's record of them
(``store.services.record_launch``, the intent) are one commit, and every decision is recomputed
from the rows on the next step, so a restart neither duplicates nor orphans a task.

The step, in order:

1. Account for the tasks it launched (``service_tasks`` records not yet settled): the first time
   a task counts healthy (§4.5) resets the deployment's failure count (``resetOnHealthyTask``,
   default true) and ends a throttling episode; a task whose stop was requested is classified once
   (§4.9 failures, §4.10 failed starts) and settled.
2. Drop ACTIVE deployments with no live task left (§4.3: drained deployments are removed); a
   FAILED one stays listed until the deployment that replaced it settles, so it can be seen.
3. DRAINING: stop every task; INACTIVE once none is left (§4.2). DAEMON: one task per eligible
   container instance (``control.service_placement.DaemonScheduler``, §4.11).
4. A rollback StopServiceDeployment asked for starts (§4.11); then the circuit breaker (§4.9,
   ``control.service_outcomes``): the PRIMARY fails at the threshold; with ``rollback`` a new
   PRIMARY returns to the last COMPLETED deployment. Then the deployment alarms
   (``control.service_alarms``): one in ALARM fails the PRIMARY the same way.
5. One rolling step (``model.deployments.rollout_step``, §4.4/§4.7), or for a blue/green deployment
   its lifecycle stages (``control.service_blue_green``): stops, then launches (unless
   throttled, §4.10), the stuck-configuration event once per deployment. Tasks on DRAINING
   instances are moved under the same bounds, and scale-in follows the placement strategies
   (``control.service_placement``, §5.3, §5.5).
6. Steady state (§4.6): the PRIMARY completes (rollout state, service deployment, events, in
   ``control.service_outcomes``) once its alarms' bake time is over, and
   ``has reached a steady state.`` is written when the service becomes steady and every six hours.

Ownership: this module writes the deployments' rollout fields, the service's status from DRAINING
on, events, the scheduler records and service deployments after they started; the provider writes
what the user asked for. The task rows it launches are written once; their stop goes through
``store.tasks.request_stop`` (the first stop request wins). Announcements (§12.1) go to the hooks
after the transaction committed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ecslite.clock import Clock
from ecslite.config import Settings
from ecslite.control import service_events as texts
from ecslite.control.service_alarms import DeploymentAlarms
from ecslite.control.service_blue_green import BlueGreenSteps
from ecslite.control.service_events import Announcement, AnnouncementHook, AnnouncementKind
from ecslite.control.service_launch import ServiceLauncher, ServiceRef
from ecslite.control.service_live import LiveTaskDocs
from ecslite.control.service_outcomes import DeploymentOutcomes, Step
from ecslite.control.service_placement import (
    DRAINING_PREFIX,
    DaemonScheduler,
    draining_instances,
    spread_attributes,
    victim_chooser,
)
from ecslite.control.service_target_health import targets_health, unhealthy_stop, with_targets
from ecslite.control.task_sets import TaskSetScheduler
from ecslite.control.workqueue import Outcome
from ecslite.model.deployments import (
    STEADY_REPEAT_SECONDS,
    THROTTLE_MAX_SECONDS,
    PhaseAt,
    RolloutInput,
    ServiceTask,
    StopOrder,
    StopWhy,
    TaskPhase,
    classify_stop,
    counts_for_breaker,
    counts_for_throttle,
    has_essential_health_check,
    is_steady,
    rollout_step,
    task_phase,
    throttle_delay,
)
from ecslite.model.scaling import TimeScale
from ecslite.model.services import (
    UNFINISHED_SERVICE_DEPLOYMENT,
    ControllerType,
    DeploymentStatus,
    RolloutState,
    SchedulingStrategy,
    ServiceDeploymentStatus,
    ServiceStatus,
)
from ecslite.model.tasks import StopCode, protection_of
from ecslite.store import placement as placement_store
from ecslite.store import services as svc_store
from ecslite.store import task_definitions as td_store
from ecslite.store import tasks as task_store
from ecslite.store.db import Database, dumps
from ecslite.store.tasks import StopRequest

log = logging.getLogger(__name__)

Doc = dict[str, Any]

SCALING_REASON = "Scaling activity initiated by (deployment {id})"  # §3.6
UNHEALTHY_REASON = "Task failed container health checks"  # §3.6 (unverified)
DELETED_REASON = "Stopped because the service was deleted."  # service deployment statusReason (unverified)
# How soon a launch that could not be placed is tried again (container instances may join).
PLACEMENT_RETRY_SECONDS = 10.0


class ServiceReconciler(DeploymentAlarms, BlueGreenSteps, DeploymentOutcomes):
    def __init__(self, db: Database, clock: Clock, settings: Settings, hooks: Sequence[AnnouncementHook] = ()) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.hooks = list(hooks)
        self.launcher = ServiceLauncher(db, settings)
        self.daemon = DaemonScheduler(db)
        self.task_sets = TaskSetScheduler(db)
        self.live = LiveTaskDocs(db)
        self.throttle_max = float(getattr(settings, "service_throttle_max_seconds", THROTTLE_MAX_SECONDS))
        self.scale = TimeScale(float(getattr(settings, "metrics_period", 60.0)))  # alarm bake times

    def now(self) -> float:
        return round(self.clock.now(), 3)

    async def reconcile(self, key: str) -> Outcome:
        announcements: list[Announcement] = []
        with self.db.transaction():
            outcome = self._reconcile(key, announcements)
        for announcement in announcements:
            for hook in self.hooks:
                try:
                    hook(announcement)
                except Exception:
                    # A listener's bug must not undo or repeat a committed step.
                    log.exception("announcement hook failed", extra={"service": key})
        return outcome

    def _reconcile(self, key: str, announcements: list[Announcement]) -> Outcome:
        doc = svc_store.get(self.db, key)
        if doc is None or doc["status"] == ServiceStatus.INACTIVE:
            return Outcome()
        before = dumps(doc)
        step = Step(doc, _ref(doc), self.now(), [], announcements)
        step.live = self.live.read(step.ref)
        self._account(step)
        if doc["deploymentController"]["type"] == ControllerType.EXTERNAL:
            # §4.11: task sets, not deployments, say what runs.
            self.task_sets.step(self, step, self._service_tasks(step, set()))
        else:
            self._schedule(step)
        if dumps(doc) != before:
            svc_store.put(self.db, doc)
        future = [at - step.now for at in step.recheck if at > step.now]
        return Outcome(requeue_after=min(future) if future else None)

    def _schedule(self, step: Step) -> None:
        doc = step.doc
        self._prune(step)
        if doc["status"] == ServiceStatus.DRAINING:
            self._drain(step)
        elif doc["schedulingStrategy"] == SchedulingStrategy.DAEMON:
            self._notes(step)
            self._requested_rollback(step)
            self._breaker(step)
            self._watch_alarms(step)
            self.daemon.step(self, step, self._service_tasks(step, set()))
            self._prune(step)
        else:
            self._notes(step)
            self._requested_rollback(step)
            self._breaker(step)
            self._watch_alarms(step)
            if self._blue_green_active(step):
                self._blue_green(step)  # §4.11: native blue/green stages instead of the rolling step
            else:
                self._roll(step)
            self._blue_green_rolled_back(step)
            self._prune(step)

    # -- 1. accounting ---------------------------------------------------------------------------

    def _account(self, step: Step) -> None:
        live = {t["taskArn"]: t for t in step.live}
        grace = float(step.doc.get("healthCheckGracePeriodSeconds") or 0)
        failed_starts = 0
        for record in svc_store.open_records(self.db, step.arn):
            task = live.get(record.task_arn) or task_store.get(self.db, record.task_arn)
            if task is None:  # purged, or the store was reset under it
                svc_store.settle(self.db, record.task_arn)
                continue
            stopping = task["desiredStatus"] == "STOPPED"
            at = float(task.get("stoppingAt") or step.now) if stopping else step.now
            healthy = self._phase(step, task, grace, at).phase is TaskPhase.HEALTHY
            if healthy and record.healthy_at is None:
                svc_store.mark_healthy(self.db, record.task_arn, step.now)
                self._first_healthy(step, record.deployment_id)
            if not stopping:
                continue
            outcome = classify_stop(
                task.get("stopCode"),
                reached_running=task.get("startedAt") is not None,
                ever_healthy=healthy or record.healthy_at is not None,
                for_health=record.for_health,
            )
            deployment = step.deployment(record.deployment_id)
            if counts_for_breaker(outcome) and deployment is not None:
                deployment["failedTasks"] = int(deployment.get("failedTasks", 0)) + 1
                deployment["updatedAt"] = step.now
            if counts_for_throttle(outcome):
                failed_starts += 1
            svc_store.settle(self.db, record.task_arn)
        if failed_starts:
            self._failed_start(step)

    def _first_healthy(self, step: Step, deployment_id: str) -> None:
        deployment = step.deployment(deployment_id)
        breaker = step.doc["deploymentConfiguration"].get("deploymentCircuitBreaker") or {}
        reset = breaker.get("resetOnHealthyTask")
        if deployment is not None and deployment["rolloutState"] == RolloutState.IN_PROGRESS and reset is not False:
            deployment["failedTasks"] = 0
        step.doc.pop("_throttle", None)  # §4.10: the episode is over once tasks start successfully

    def _failed_start(self, step: Step) -> None:
        """§4.10: space launches out, doubling with each step that saw launches fail (a batch that
        fails together counts once); one event (and announcement) per episode."""
        throttle = step.doc.setdefault("_throttle", {"failures": 0, "until": None, "notified": False})
        throttle["failures"] += 1
        throttle["until"] = step.now + throttle_delay(throttle["failures"], self.throttle_max)
        if not throttle["notified"]:
            throttle["notified"] = True
            self._event(step, texts.THROTTLED)
            self._announce(step, AnnouncementKind.SERVICE_ACTION, "WARN", "SERVICE_TASK_START_IMPAIRED")

    # -- 2. drained deployments ----------------------------------------------------------------------

    @staticmethod
    def _prune(step: Step) -> None:
        """ACTIVE deployments without live tasks go; a FAILED one stays visible while the PRIMARY that
        replaced it (a rollback, or the next update) is still in progress. The blue deployments of a
        blue/green PRIMARY in progress stay too, even with every task gone: the blue/green steps
        replace their failed tasks and a rollback returns to them (``control.service_blue_green``)."""
        owners = {t.get("startedBy") for t in step.live if t["desiredStatus"] == "RUNNING"}
        primary = step.primary()
        settled = primary["rolloutState"] != RolloutState.IN_PROGRESS
        blue_green = primary.get("_blueGreen") or {}
        blue = set() if settled or blue_green.get("done") else set(blue_green.get("blue") or ())
        step.doc["deployments"] = [
            d
            for d in step.doc["deployments"]
            if d["status"] == DeploymentStatus.PRIMARY
            or d["id"] in owners
            or d["id"] in blue
            or (d["rolloutState"] == RolloutState.FAILED and not settled)
        ]

    # -- 3. DRAINING and DAEMON ------------------------------------------------------------------------

    def _drain(self, step: Step) -> None:
        primary = step.primary()
        running = [t["taskArn"] for t in step.live if t["desiredStatus"] == "RUNNING"]
        if running:
            self._stop(step, [StopOrder(arn, StopWhy.ROLLOUT) for arn in running], primary)
            return
        if step.live:
            return  # tasks still stopping; their changes wake the service again
        step.doc["status"] = ServiceStatus.INACTIVE.value
        for deployment in step.doc["deployments"]:
            record = self._service_deployment(deployment)
            if record is not None and record["status"] in UNFINISHED_SERVICE_DEPLOYMENT:
                record.update(
                    status=ServiceDeploymentStatus.STOPPED.value,
                    statusReason=DELETED_REASON,
                    stoppedAt=step.now,
                    updatedAt=step.now,
                )
                svc_store.freeze_counts(self.db, step.doc, record, None)
                svc_store.put_service_deployment(self.db, record)
        # Definitions waiting for deletion may have been held by this service alone (§2.2).
        td_store.remove_unreferenced(self.db, step.ref.account, step.ref.region)

    def _notes(self, step: Step) -> None:
        spec = step.primary()["_spec"]
        if (spec.get("serviceConnectConfiguration") or {}).get("enabled"):
            self._note_once(step, "serviceConnect", texts.SERVICE_CONNECT_NOT_SERVED)

    def _note_once(self, step: Step, kind: str, text: str) -> None:
        notes = step.doc.setdefault("_notes", [])
        if kind not in notes:
            notes.append(kind)
            self._event(step, text)

    # -- 5. rolling step -------------------------------------------------------------------------------

    def _service_tasks(self, step: Step, draining: set[str]) -> list[ServiceTask]:
        """The live tasks as the rolling step sees them; those on ``draining`` instances belong to a
        pseudo-deployment that the rollout replaces (§5.5)."""
        grace = float(step.doc.get("healthCheckGracePeriodSeconds") or 0)
        tasks = []
        for task in step.live:
            if task["desiredStatus"] != "RUNNING":
                continue
            phase = self._phase(step, task, grace, step.now)
            if phase.recheck_at is not None:
                step.recheck.append(phase.recheck_at)
            owner = str(task.get("startedBy"))
            if task.get("containerInstanceArn") in draining:
                owner = DRAINING_PREFIX + owner
            protected, until = protection_of(task, step.now)
            if until is not None:
                step.recheck.append(until)
            tasks.append(
                ServiceTask(
                    arn=task["taskArn"],
                    deployment_id=owner,
                    phase=phase.phase,
                    created_at=float(task.get("createdAt") or 0),
                    zone=task.get("availabilityZone"),
                    protected=protected,
                )
            )
        return tasks

    def _phase(self, step: Step, task: Doc, grace: float, at: float) -> PhaseAt:
        key = (str(task["taskArn"]), at)
        found = step.phases.get(key)
        if found is None:
            found = step.phases[key] = _phase(self.db, task, grace, at)
        return found

    def _roll(self, step: Step) -> None:
        primary = step.primary()
        self._announce_start(step, primary)
        config = step.doc["deploymentConfiguration"]
        on_instances = any(t.get("containerInstanceArn") for t in step.live)
        ref = step.ref
        draining = draining_instances(self.db, ref.account, ref.region, ref.cluster) if on_instances else set()
        tasks = self._service_tasks(step, draining)
        view = (
            placement_store.cluster_view(self.db, ref.account, ref.region, ref.cluster, spread_attributes(step.doc))
            if on_instances
            else None
        )
        stamp = (step.doc.get("_throttle") or {}).get("until")
        until = float(stamp) if stamp is not None else step.now
        throttled = step.now < until
        failed = primary["rolloutState"] == RolloutState.FAILED
        plan = rollout_step(
            RolloutInput(
                desired=int(step.doc["desiredCount"]),
                minimum_percent=int(config["minimumHealthyPercent"]),
                maximum_percent=int(config["maximumPercent"]),
                primary_id=primary["id"],
                tasks=tasks,
                can_launch=not failed and not throttled,
                victims=victim_chooser(step.doc, step.live, view),
            )
        )
        if throttled and not failed:
            step.recheck.append(until)
        replaced = sum(1 for order in plan.stops if order.why is StopWhy.UNHEALTHY)
        if plan.stops:
            self._stop(step, list(plan.stops), primary)
        if plan.launch:
            self._launch(step, primary, plan.launch, replaced)
        if plan.stuck and not primary.get("_stuckNoted"):
            primary["_stuckNoted"] = True
            self._event(step, texts.STUCK)
        if plan.protected_block and not primary.get("_protectedNoted"):
            primary["_protectedNoted"] = True
            self._event(step, texts.PROTECTED_BLOCK.format(id=primary["id"]))
        elif not plan.protected_block:
            primary.pop("_protectedNoted", None)
        if plan.stops or plan.launch:
            step.doc.pop("_steadyAt", None)
        else:
            self._steady(step, primary, tasks)
        self._resolve_digests(step, primary)

    def _stop(self, step: Step, orders: list[StopOrder], primary: Doc) -> None:
        scaling = SCALING_REASON.format(id=primary["id"])
        live = {t["taskArn"]: t for t in step.live}
        for order in orders:
            reason = scaling
            if order.why is StopWhy.UNHEALTHY:
                svc_store.mark_for_health(self.db, order.arn)
                elb = unhealthy_stop(self.db, live[order.arn]) if order.arn in live else None
                if elb is not None:
                    reason, text = elb
                    self._event(step, text)
                else:
                    reason = UNHEALTHY_REASON
                    self._event(step, texts.CONTAINER_UNHEALTHY.format(task=order.arn.rsplit("/", 1)[-1]))
            task_store.request_stop(
                self.db, order.arn, StopRequest(StopCode.SERVICE_SCHEDULER_INITIATED, reason, step.now)
            )
        for batch in texts.batches([order.arn for order in orders]):
            self._event(step, texts.STOPPED.format(count=len(batch), tasks=texts.task_list(batch)))

    def _launch(self, step: Step, primary: Doc, count: int, replaced: int) -> None:
        outcome = self.launcher.launch(step.ref, step.doc, primary, count, step.live, step.now)
        if outcome.docs:
            task_store.insert_launched(
                self.db, step.ref.account, step.ref.region, step.ref.cluster, outcome.docs, outcome.tags
            )
            for doc in outcome.docs:
                svc_store.record_launch(self.db, step.arn, doc["taskArn"], primary["id"], step.now)
            for batch in texts.batches([doc["taskArn"] for doc in outcome.docs]):
                text = texts.STARTED.format(count=len(batch), tasks=texts.task_list(batch))
                if replaced:
                    text += texts.REPLACED_UNHEALTHY.format(count=replaced)
                    replaced = 0
                self._event(step, text)
        if outcome.problem is not None:
            self._event(step, outcome.problem)
            self._announce(step, AnnouncementKind.SERVICE_ACTION, "ERROR", "SERVICE_TASK_PLACEMENT_FAILURE")
            step.recheck.append(step.now + PLACEMENT_RETRY_SECONDS)

    # -- 6. steady state ----------------------------------------------------------------------------------

    def _steady(self, step: Step, primary: Doc, tasks: list[ServiceTask]) -> None:
        if not is_steady(int(step.doc["desiredCount"]), primary["id"], tasks):
            step.doc.pop("_steadyAt", None)
            return
        if primary["rolloutState"] == RolloutState.IN_PROGRESS and self._baked(step, primary):
            self._complete(step, primary)
        steady_at = step.doc.get("_steadyAt")
        if steady_at is None or step.now - float(steady_at) >= STEADY_REPEAT_SECONDS:
            step.doc["_steadyAt"] = steady_at = step.now
            self._event(step, texts.STEADY)
            self._announce(step, AnnouncementKind.SERVICE_ACTION, "INFO", "SERVICE_STEADY_STATE")
        step.recheck.append(float(steady_at) + STEADY_REPEAT_SECONDS)

    def _resolve_digests(self, step: Step, primary: Doc) -> None:
        """The revision's ``containerImages`` get the digests the deployment's first task resolved."""
        if primary.get("_digests"):
            return
        for task in step.live:
            if task.get("startedBy") != primary["id"]:
                continue
            digests = {c["name"]: c["imageDigest"] for c in task["containers"] if c.get("imageDigest")}
            if len(digests) < len(task["containers"]):
                continue
            revision = svc_store.get_revision(self.db, primary["_revisionArn"])
            if revision is not None:
                for image in revision.get("containerImages") or ():
                    if image["containerName"] in digests and not image.get("imageDigest"):
                        image["imageDigest"] = digests[image["containerName"]]
                svc_store.put_revision(self.db, revision)
            primary["_digests"] = True
            return


def _phase(db: Database, task: Doc, grace: float, now: float) -> PhaseAt:
    has_health_check = has_essential_health_check(task["_spec"]["containers"])
    base = task_phase(
        last_status=task["lastStatus"],
        started_at=task.get("startedAt"),
        health_status=task.get("healthStatus"),
        has_health_check=has_health_check,
        grace_seconds=grace,
        now=now,
    )
    # Behind target groups, their health checks judge the task too (§4.5).
    return with_targets(
        base,
        targets_health(db, task),
        started_at=task.get("startedAt"),
        has_health_check=has_health_check,
        grace_seconds=grace,
        now=now,
    )


def _ref(doc: Doc) -> ServiceRef:
    """``arn:aws:ecs:<region>:<account>:service/<cluster>/<name>``."""
    parts = doc["serviceArn"].split(":", 5)
    return ServiceRef(account=parts[4], region=parts[3], cluster=parts[5].split("/")[1], name=doc["serviceName"])
