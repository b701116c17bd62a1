"""Deployment alarms (``deploymentConfiguration.alarms {alarmNames, enable, rollback}``, spec/ecs.md
§4.9): a mixin of the service reconciler that watches the named CloudWatch alarms of the PRIMARY
deployment while it is IN_PROGRESS, working on the reconciler's :class:`Step` inside its transaction.

- Monitoring starts with the deployment's first step: the alarms' states are read from ecslite's
  CloudWatch store (``store.cloudwatch``), which the alarm evaluator (``control.alarms``) moves from
  real metrics every CloudWatch minute and SetAlarmState moves at once. A change of an alarm wakes the
  services that name it (``control.services``), so a deployment reacts within one step.
- An alarm already in ``ALARM`` when the deployment starts turns monitoring off for that deployment
  (status ``DISABLED``): ECS does not watch a deployment whose alarms were in alarm at its start (as
  ECS's guide is quoted by AWS Copilot's documentation). That is also what keeps a rollback started
  by an alarm from being failed by the same alarm.
- Alarms that do not exist cannot be in ALARM and never fail the deployment; ECS polls them with
  DescribeAlarms, which answers unknown names with nothing (what ECS does beyond that is undocumented).
  **Beyond ECS:** one event per deployment names the missing ones.
- Any named alarm in ``ALARM`` while monitoring fails the deployment: ``rolloutState FAILED`` with
  :data:`ROLLOUT_ALARM_FAILED`, the event ``deployment failed: alarm detected.``,
  ``SERVICE_DEPLOYMENT_FAILED``, the service deployment's ``alarms`` ``TRIGGERED`` with
  ``triggeredAlarmNames``. With ``rollback`` it returns to the last COMPLETED deployment through the
  circuit breaker's rollback (``control.service_outcomes``), or for a blue/green deployment to its blue
  tasks; without, the service deployment is ``STOPPED`` (a failed rollback ``ROLLBACK_FAILED``).
- Bake time: a rolling deployment that reached steady state completes only after
  :meth:`DeploymentAlarms._baked` waited, with the alarms still watched. ECS computes it from the
  alarms and does not document the formula; AWS Copilot's maintainers describe it as the alarms'
  evaluation time, the longest one when they differ: here the longest ``EvaluationPeriods`` ×
  ``Period`` of the named alarms that exist, in CloudWatch minutes of ``--metrics-period``
  (``model.scaling.TimeScale``). A blue/green deployment's bake is its ``BAKE_TIME`` stage
  (``bakeTimeInMinutes``); its alarms are watched through every stage until CLEAN_UP ends.

The deployment keeps its watch in ``_alarmWatch``; the service deployment record shows it as
``_alarms`` (``providers.ecs.service_views``), ``MONITORING_COMPLETE`` once the deployment completed
(:meth:`DeploymentAlarms._alarms_completed`, which ``DeploymentOutcomes._complete`` calls).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ecslite.control import service_events as texts
from ecslite.control.alarms import evaluation_seconds
from ecslite.control.service_outcomes import DeploymentOutcomes, Step
from ecslite.model.scaling import TimeScale
from ecslite.model.services import (
    ROLLOUT_ALARM_FAILED,
    ROLLOUT_ALARM_ROLLING_BACK,
    MonitorStatus,
    RolloutState,
    ServiceDeploymentStatus,
)
from ecslite.store import cloudwatch as cw_store
from ecslite.store import services as svc_store

Doc = dict[str, Any]

IN_ALARM = "ALARM"


class DeploymentAlarms(DeploymentOutcomes):
    """Mixed into ServiceReconciler before DeploymentOutcomes, whose failure steps and rollback it
    uses (a blue/green one through BlueGreenSteps' :meth:`_return_to_blue`, next in the reconciler's
    order)."""

    scale: TimeScale

    def _watch_alarms(self, step: Step) -> None:
        """Start watching a new PRIMARY's alarms, or fail it when one of them is in ALARM."""
        primary = step.primary()
        config = step.doc["deploymentConfiguration"].get("alarms") or {}
        names = [str(n) for n in config.get("alarmNames") or ()]
        if primary["rolloutState"] != RolloutState.IN_PROGRESS or not config.get("enable") or not names:
            return
        alarms = self._alarm_docs(step, names)
        watch: Doc | None = primary.get("_alarmWatch")
        if watch is None:
            watch = primary["_alarmWatch"] = self._start_watch(step, primary, names, alarms)
        if watch["status"] != MonitorStatus.MONITORING:
            return
        triggered = [name for name in watch["alarmNames"] if (alarms.get(name) or {}).get("StateValue") == IN_ALARM]
        if triggered:
            self._alarm_failure(step, primary, watch, triggered, bool(config.get("rollback")))

    def _start_watch(self, step: Step, primary: Doc, names: Sequence[str], alarms: dict[str, Doc]) -> Doc:
        watch: Doc = {"status": MonitorStatus.MONITORING.value, "alarmNames": list(names)}
        already = [name for name in names if (alarms.get(name) or {}).get("StateValue") == IN_ALARM]
        if already:
            watch["status"] = MonitorStatus.DISABLED.value
            self._event(step, texts.ALARMS_IN_ALARM_AT_START.format(id=primary["id"], names=", ".join(already)))
        missing = [name for name in names if name not in alarms]
        if missing:
            self._event(step, texts.ALARMS_MISSING.format(id=primary["id"], names=", ".join(missing)))
        evaluations = [evaluation_seconds(doc) for doc in alarms.values()]
        watch["bakeSeconds"] = self.scale.seconds(max(evaluations)) if evaluations else 0.0
        self._record_watch(primary, watch)
        return watch

    def _alarm_docs(self, step: Step, names: Sequence[str]) -> dict[str, Doc]:
        found = {}
        for name in names:
            doc = cw_store.get_alarm(self.db, step.ref.account, step.ref.region, name)
            if doc is not None:
                found[name] = doc
        return found

    def _baked(self, step: Step, primary: Doc) -> bool:
        """Whether a steady PRIMARY may complete: at once without a watch, else once the bake time
        that began at the first steady step is over (a recheck is asked for its end)."""
        watch: Doc | None = primary.get("_alarmWatch")
        if watch is None or watch["status"] != MonitorStatus.MONITORING:
            return True
        until = float(watch.setdefault("bakeUntil", step.now + float(watch.get("bakeSeconds") or 0.0)))
        if step.now >= until:
            return True
        step.recheck.append(until)
        return False

    def _alarm_failure(self, step: Step, primary: Doc, watch: Doc, triggered: list[str], rollback: bool) -> None:
        watch.update(status=MonitorStatus.TRIGGERED.value, triggeredAlarmNames=triggered)
        event = texts.DEPLOYMENT_ALARM_FAILED.format(id=primary["id"])
        self._fail_primary(step, primary, ROLLOUT_ALARM_FAILED, event, ROLLOUT_ALARM_FAILED)
        record = self._service_deployment(primary)
        if record is None:
            return
        _show(record, watch)
        if rollback and record["status"] == ServiceDeploymentStatus.IN_PROGRESS:
            last = step.doc.get("_lastCompleted")
            if last:
                self._rollback(step, primary, record, last, None, ROLLOUT_ALARM_ROLLING_BACK)
                return
            if self._return_to_blue(step, primary, record, ROLLOUT_ALARM_ROLLING_BACK, None):
                return
        self._end_failed(step, record, ROLLOUT_ALARM_FAILED)

    def _alarms_completed(self, deployment: Doc, record: Doc) -> None:
        """The deployment completed: a watch still monitoring is MONITORING_COMPLETE on ``record``
        (which the caller writes)."""
        watch: Doc | None = deployment.get("_alarmWatch")
        if watch is not None and watch["status"] == MonitorStatus.MONITORING:
            watch["status"] = MonitorStatus.MONITORING_COMPLETE.value
            _show(record, watch)

    def _record_watch(self, deployment: Doc, watch: Doc) -> None:
        record = self._service_deployment(deployment)
        if record is not None and _show(record, watch):
            svc_store.put_service_deployment(self.db, record)


def _show(record: Doc, watch: Doc) -> bool:
    """Put the watch on the service deployment record as its ``alarms`` (ServiceDeploymentAlarms);
    False when the record keeps what it has: once TRIGGERED, the watch of the rollback deployment
    (which belongs to the same service deployment) does not replace it."""
    if (record.get("_alarms") or {}).get("status") == MonitorStatus.TRIGGERED:
        return False
    shown: Doc = {"status": watch["status"], "alarmNames": list(watch["alarmNames"])}
    if watch.get("triggeredAlarmNames"):
        shown["triggeredAlarmNames"] = list(watch["triggeredAlarmNames"])
    record["_alarms"] = shown
    return True
