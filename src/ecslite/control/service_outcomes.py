"""What deployments come to (spec/ecs.md §4.6, §4.9, §4.11): the circuit breaker and its rollback,
completion, and the service deployment records both update. A mixin of the service reconciler,
working on the :class:`Step` the reconciler is taking, inside its transaction.

- Breaker: the PRIMARY fails once its failures reach the threshold (``model.deployments``); with
  ``rollback`` a new PRIMARY returns to the last COMPLETED deployment's revision and the failed
  service deployment goes ``ROLLBACK_IN_PROGRESS``; without, it is ``STOPPED`` (a failed rollback
  is ``ROLLBACK_FAILED``). The breaker never rolls a rollback back.
- Requested rollback (StopServiceDeployment, §4.11): the provider moves the PRIMARY's service
  deployment to ``ROLLBACK_REQUESTED``; the next step stops the PRIMARY (``FAILED``, so it stays
  listed while it drains) and starts the same rollback as the breaker's, whatever the service's
  breaker says. From there the rollback ends like the breaker's: ``ROLLBACK_SUCCESSFUL`` at steady
  state, ``ROLLBACK_FAILED`` if an enabled breaker trips on it.
- Completion: once per deployment, ``COMPLETED`` with ECS's reason, the service deployment
  ``SUCCESSFUL`` (or ``ROLLBACK_SUCCESSFUL``) with the counts it ended with, the events and the
  announcement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ecslite.control import service_events as texts
from ecslite.control.service_events import Announcement, AnnouncementKind
from ecslite.control.service_launch import ServiceRef
from ecslite.model.deployments import PhaseAt, breaker_threshold
from ecslite.model.services import (
    ROLLOUT_BREAKER_FAILED,
    ROLLOUT_COMPLETED,
    ROLLOUT_IN_PROGRESS,
    ROLLOUT_ROLLING_BACK,
    ROLLOUT_STOP_ROLLING_BACK,
    ROLLOUT_STOPPED,
    DeploymentSpec,
    DeploymentStart,
    DeploymentStatus,
    MonitorStatus,
    Rollback,
    RolloutState,
    ServiceDeploymentStatus,
    apply_spec,
    start_deployment,
)
from ecslite.store import services as svc_store
from ecslite.store.db import Database

Doc = dict[str, Any]

# §4.9: the events spell the breaker's reason in the singular.
BREAKER_EVENT_REASON = "ECS deployment circuit breaker: task failed to start."


@dataclass(slots=True)
class Step:
    """What one reconcile step works on."""

    doc: Doc
    ref: ServiceRef
    now: float
    live: list[Doc]  # the service's tasks not yet STOPPED
    announcements: list[Announcement]
    recheck: list[float] = field(default_factory=list)  # times to look again without a store change
    # (task ARN, time) → its phase, worked out once per step (accounting and the rollout both ask).
    phases: dict[tuple[str, float], PhaseAt] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return str(self.doc["serviceArn"])

    def primary(self) -> Doc:
        for deployment in self.doc["deployments"]:
            if deployment["status"] == DeploymentStatus.PRIMARY:
                found: Doc = deployment
                return found
        raise ValueError(f"service {self.arn} has no PRIMARY deployment")

    def deployment(self, deployment_id: str) -> Doc | None:
        return next((d for d in self.doc["deployments"] if d["id"] == deployment_id), None)


class DeploymentOutcomes:
    """The reconciler's steps that end or restart a deployment (mixed into ServiceReconciler)."""

    db: Database

    def _breaker(self, step: Step) -> None:
        primary = step.primary()
        breaker = step.doc["deploymentConfiguration"].get("deploymentCircuitBreaker") or {}
        if not breaker.get("enable") or primary["rolloutState"] != RolloutState.IN_PROGRESS:
            return
        threshold = breaker_threshold(int(step.doc["desiredCount"]), breaker.get("thresholdConfiguration"))
        failures = int(primary.get("failedTasks", 0))
        if failures < threshold:
            return
        event = texts.DEPLOYMENT_FAILED.format(id=primary["id"])
        self._fail_primary(step, primary, ROLLOUT_BREAKER_FAILED, event, BREAKER_EVENT_REASON)
        record = self._service_deployment(primary)
        tripped = {"status": MonitorStatus.TRIGGERED.value, "failureCount": failures, "threshold": threshold}
        last = step.doc.get("_lastCompleted")
        if breaker.get("rollback") and last and record and record["status"] == ServiceDeploymentStatus.IN_PROGRESS:
            self._rollback(step, primary, record, last, tripped)
            return
        if record is not None:
            self._end_failed(step, record, ROLLOUT_BREAKER_FAILED, _breaker=tripped)

    def _fail_primary(self, step: Step, primary: Doc, reason: str, event: str, announced: str) -> None:
        """A check failed the PRIMARY (the breaker, deployment alarms): its rollout FAILED with
        ``reason``, the service event ``event``, SERVICE_DEPLOYMENT_FAILED with ``announced``."""
        primary.update(rolloutState=RolloutState.FAILED.value, rolloutStateReason=reason)
        primary["updatedAt"] = step.now
        self._event(step, event)
        self._announce(
            step,
            AnnouncementKind.DEPLOYMENT_STATE_CHANGE,
            "ERROR",
            "SERVICE_DEPLOYMENT_FAILED",
            primary["id"],
            announced,
        )

    def _end_failed(self, step: Step, record: Doc, reason: str, **shown: Any) -> None:
        """A failed deployment that does not roll back ends its service deployment ``record``:
        ``STOPPED``, or ``ROLLBACK_FAILED`` when it was a rollback, with the counts it ended with.
        ``shown`` are further members to record (the breaker's state)."""
        rolled_back = record["status"] == ServiceDeploymentStatus.ROLLBACK_IN_PROGRESS
        record.update(statusReason=reason, updatedAt=step.now, **shown)
        if rolled_back:
            record.update(status=ServiceDeploymentStatus.ROLLBACK_FAILED.value, finishedAt=step.now)
        else:
            record.update(status=ServiceDeploymentStatus.STOPPED.value, stoppedAt=step.now)
        svc_store.freeze_counts(self.db, step.doc, record, None)
        svc_store.put_service_deployment(self.db, record)

    def _requested_rollback(self, step: Step) -> None:
        """§4.11: a rollback StopServiceDeployment asked for (the service deployment is
        ``ROLLBACK_REQUESTED``) starts now. Only an IN_PROGRESS PRIMARY that is no rollback itself
        can be asked, so steady services never look the record up."""
        primary = step.primary()
        if primary["rolloutState"] != RolloutState.IN_PROGRESS or primary.get("_rollbackTo"):
            return
        record = self._service_deployment(primary)
        if record is None or record["status"] != ServiceDeploymentStatus.ROLLBACK_REQUESTED:
            return
        last = step.doc.get("_lastCompleted")
        if not last:
            # The provider refuses a stop with nothing to return to; a store written otherwise ends here.
            record.update(status=ServiceDeploymentStatus.ROLLBACK_FAILED.value, finishedAt=step.now, updatedAt=step.now)
            svc_store.freeze_counts(self.db, step.doc, record, None)
            svc_store.put_service_deployment(self.db, record)
            return
        primary.update(
            rolloutState=RolloutState.FAILED.value, rolloutStateReason=ROLLOUT_STOPPED.format(id=primary["id"])
        )
        primary["updatedAt"] = step.now
        self._event(step, texts.DEPLOYMENT_STOPPED.format(id=primary["id"]))
        self._rollback(step, primary, record, last, None, ROLLOUT_STOP_ROLLING_BACK)

    def _rollback(
        self,
        step: Step,
        failed: Doc,
        record: Doc,
        last: Doc,
        tripped: Doc | None,
        reason_text: str = ROLLOUT_ROLLING_BACK,
    ) -> None:
        """§4.9: a new PRIMARY from the last COMPLETED deployment; the failed one turns ACTIVE and drains.
        ``tripped`` is the breaker's state when the breaker asked for it (None when a user did). A
        blue/green deployment goes back to its blue tasks instead, while they run."""
        if self._return_to_blue(step, failed, record, reason_text, tripped):
            return
        spec = DeploymentSpec.from_doc(last["spec"])
        new = start_deployment(
            DeploymentStart(
                region=step.ref.region,
                account=step.ref.account,
                cluster=step.ref.cluster,
                service=step.ref.name,
                service_arn=step.arn,
                cluster_arn=step.doc["clusterArn"],
                spec=spec,
                desired=int(step.doc["desiredCount"]),
                now=step.now,
                deployment_configuration=step.doc["deploymentConfiguration"],
                rollback=Rollback(
                    last["deploymentId"], last["revisionArn"], record["serviceDeploymentArn"], reason_text
                ),
            )
        )
        step.doc["deployments"] = [new.deployment, *step.doc["deployments"]]
        new.deployment["_startAnnounced"] = True
        reason = reason_text.format(id=last["deploymentId"])
        self._roll_back_to(step, new.deployment, spec, failed, record, reason, str(last["revisionArn"]), tripped)

    def _roll_back_to(
        self,
        step: Step,
        target: Doc,
        spec: DeploymentSpec,
        failed: Doc,
        record: Doc,
        reason: str,
        revision_arn: str,
        tripped: Doc | None,
    ) -> None:
        """What every rollback does once it knows where it goes: ``target`` (one of the service's
        deployments) becomes PRIMARY with ``spec``, the others ACTIVE (they drain); ``failed``'s service
        deployment record turns ROLLBACK_IN_PROGRESS and the rollback is announced (§12.1)."""
        for deployment in step.doc["deployments"]:
            deployment["status"] = DeploymentStatus.ACTIVE.value
        target["status"] = DeploymentStatus.PRIMARY.value
        target["updatedAt"] = failed["updatedAt"] = step.now
        step.doc["deployments"] = [target, *(d for d in step.doc["deployments"] if d is not target)]
        apply_spec(step.doc, spec)
        step.doc.pop("_throttle", None)
        step.doc.pop("_steadyAt", None)
        record.update(
            status=ServiceDeploymentStatus.ROLLBACK_IN_PROGRESS.value,
            rollback={"reason": reason, "startedAt": step.now, "serviceRevisionArn": revision_arn},
            updatedAt=step.now,
        )
        if tripped is not None:
            record["_breaker"] = tripped
        svc_store.put_service_deployment(self.db, record)
        self._announce(
            step,
            AnnouncementKind.DEPLOYMENT_STATE_CHANGE,
            "INFO",
            "SERVICE_DEPLOYMENT_IN_PROGRESS",
            target["id"],
            reason,
        )

    def _return_to_blue(self, step: Step, failed: Doc, record: Doc, reason_text: str, tripped: Doc | None) -> bool:
        """A blue/green rollback (``control.service_blue_green`` overrides this); False: none here."""
        return False

    def _alarms_completed(self, deployment: Doc, record: Doc) -> None:
        """Deployment alarms end their watch (``control.service_alarms`` overrides this)."""

    def _announce_start(self, step: Step, primary: Doc) -> None:
        """§12.1: once per deployment, SERVICE_DEPLOYMENT_IN_PROGRESS as it starts rolling (a
        rollback announces itself with its own reason when it is made)."""
        if primary.get("_startAnnounced") or primary.get("rolloutState") != RolloutState.IN_PROGRESS:
            return
        primary["_startAnnounced"] = True
        self._announce(
            step,
            AnnouncementKind.DEPLOYMENT_STATE_CHANGE,
            "INFO",
            "SERVICE_DEPLOYMENT_IN_PROGRESS",
            primary["id"],
            ROLLOUT_IN_PROGRESS.format(id=primary["id"]),
        )

    def _complete(self, step: Step, primary: Doc) -> None:
        """§4.6: once per deployment, the rollout, its service deployment and the events."""
        primary["rolloutState"] = RolloutState.COMPLETED.value
        primary["rolloutStateReason"] = ROLLOUT_COMPLETED.format(id=primary["id"])
        primary["updatedAt"] = step.now
        step.doc["_lastCompleted"] = {
            "deploymentId": primary["id"],
            "revisionArn": primary["_revisionArn"],
            "spec": primary["_spec"],
        }
        record = self._service_deployment(primary)
        if record is not None and record["status"] in (
            ServiceDeploymentStatus.IN_PROGRESS,
            ServiceDeploymentStatus.ROLLBACK_IN_PROGRESS,
        ):
            rollback = record["status"] == ServiceDeploymentStatus.ROLLBACK_IN_PROGRESS
            status = ServiceDeploymentStatus.ROLLBACK_SUCCESSFUL if rollback else ServiceDeploymentStatus.SUCCESSFUL
            record.update(status=status.value, finishedAt=step.now, updatedAt=step.now)
            requested = None if rollback else int(step.doc["desiredCount"])
            svc_store.freeze_counts(self.db, step.doc, record, requested)
            breaker = record["deploymentConfiguration"].get("deploymentCircuitBreaker") or {}
            if breaker.get("enable") and not record.get("_breaker"):
                threshold = breaker_threshold(int(step.doc["desiredCount"]), breaker.get("thresholdConfiguration"))
                record["_breaker"] = {
                    "status": MonitorStatus.MONITORING_COMPLETE.value,
                    "failureCount": int(primary.get("failedTasks", 0)),
                    "threshold": threshold,
                }
            self._alarms_completed(primary, record)
            svc_store.put_service_deployment(self.db, record)
        self._event(step, texts.DEPLOYMENT_COMPLETED.format(id=primary["id"]))
        self._announce(
            step,
            AnnouncementKind.DEPLOYMENT_STATE_CHANGE,
            "INFO",
            "SERVICE_DEPLOYMENT_COMPLETED",
            primary["id"],
            ROLLOUT_COMPLETED.format(id=primary["id"]),
        )

    def _service_deployment(self, deployment: Doc) -> Doc | None:
        arn = deployment.get("_serviceDeploymentArn")
        return svc_store.get_service_deployment(self.db, arn) if arn else None

    def _event(self, step: Step, text: str) -> None:
        texts.record(self.db, step.arn, texts.message(step.ref.name, text), step.now)

    @staticmethod
    def _announce(
        step: Step,
        kind: AnnouncementKind,
        event_type: str,
        name: str,
        deployment_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        step.announcements.append(
            Announcement(kind, event_type, name, step.arn, step.doc["clusterArn"], step.now, deployment_id, reason)
        )
