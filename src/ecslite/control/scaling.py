"""The scaling controller: runs scaling policies when their alarms invoke them, and scheduled actions
when they are due (spec/ecs.md §6).

- Target tracking (§6.2): the policy's high alarm asks for ``ceil(current × metric / target)``; its
  low alarm asks for the same formula, at most ``max(1, 10 %)`` less per activity, and only when
  every target tracking policy of the target that may scale in has its low alarm in ALARM.
  ``DisableScaleIn`` policies never scale in.
- Step scaling (§6.3): the alarm's breach (newest datapoint − threshold) picks the step.
- Every result is clamped to [MinCapacity, MaxCapacity]; cooldowns (times the time scale) and the
  target's ``SuspendedState`` are honoured; no scale-in while an ECS deployment is in progress
  (a service with more than one deployment, or one whose rollout is IN_PROGRESS); scale-out goes on.
- Scheduled actions set MinCapacity/MaxCapacity and move the desired count into the new range.
- A desired count changes only through ``set_desired`` (the ECS provider's UpdateService), in the
  same transaction as the scaling activity, the service event and the policy's cooldown record.

Targets whose ECS service is gone are deregistered with their policies, alarms and actions, as
Application Auto Scaling does when a service is deleted.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ecslite.clock import Clock
from ecslite.control.alarms import Invocation
from ecslite.control.service_events import message, record
from ecslite.model.arns import service_arn
from ecslite.model.scaling import (
    LastActivity,
    ScheduleError,
    StepAdjustment,
    TimeScale,
    clamp,
    next_run,
    parse_schedule,
    pick_step,
    scale_in_allowed,
    scale_out_allowed,
    step_capacity,
    tracking_capacity,
    tracking_scale_in,
)
from ecslite.periodic import Periodic
from ecslite.protocol.errors import AwsError
from ecslite.store import autoscaling as as_store
from ecslite.store import cloudwatch as cw_store
from ecslite.store import services as svc_store
from ecslite.store.db import Database

DEFAULT_COOLDOWN = 300.0  # §6.2: ECS's default cooldowns (unverified)
# Activity texts (spec/ecs.md §6.2; AWS's examples).
DESCRIPTION = "Setting desired count to {count}."
CAUSE_ALARM = "monitor alarm {alarm} in state {state} triggered policy {policy}"
CAUSE_MIN = "minimum capacity was set to {count}"
CAUSE_MAX = "maximum capacity was set to {count}"
CAUSE_SCHEDULED = "scheduled action name {name} was triggered"
SUCCEEDED = "Successfully set desired count to {count}. Change successfully fulfilled by ecs."
FAILED = "Failed to set desired count to {count}. Reason: {reason}"
RANGE_DESCRIPTION = "Setting min capacity to {low} and max capacity to {high}"
RANGE_SUCCEEDED = "Successfully set min capacity to {low} and max capacity to {high}"
# Beyond ECS: the scaling activity also shows among the service's events.
SERVICE_EVENT = "Message: {status} Cause: {cause}"

# (account, region, cluster, service, desired count) → the change made through UpdateService.
DesiredSetter = Callable[[str, str, str, str, int], None]


@dataclass(frozen=True, slots=True)
class Change:
    """One decision: the capacity to set and why."""

    count: int
    cause: str
    direction: str  # out | in


def deployment_in_progress(service: dict[str, Any]) -> bool:
    deployments = service.get("deployments") or []
    return len(deployments) > 1 or any(d.get("rolloutState") == "IN_PROGRESS" for d in deployments)


class ScalingController(Periodic):
    name = "scaling"
    failure = "scaling pass failed"

    def __init__(
        self, db: Database, clock: Clock, set_desired: DesiredSetter, scale: TimeScale | None = None, tick: float = 1.0
    ) -> None:
        super().__init__(clock, tick)
        self.db = db
        self.set_desired = set_desired
        self.scale = scale or TimeScale()
        self._lock = asyncio.Lock()

    async def reset(self) -> None:
        await self.restart()

    async def run_pass(self) -> None:
        self.prune_orphans()
        self.run_due()

    # -- policies ----------------------------------------------------------------------------------

    async def handle(self, invocation: Invocation) -> None:
        """An alarm invoked a policy (the alarm evaluator's action handler)."""
        async with self._lock:
            self.apply(invocation)

    def apply(self, invocation: Invocation) -> Change | None:
        found = as_store.policy_by_arn(self.db, invocation.policy_arn)
        if found is None:
            return None
        key, policy = found
        target = as_store.get_target(self.db, key)
        service = self._service(key)
        if target is None or service is None:
            return None
        current = int(service["desiredCount"])
        if policy["PolicyType"] == "TargetTrackingScaling":
            change = self._tracking(key, policy, invocation, current)
        else:
            change = self._step(policy, invocation, current)
        if change is None:
            return None
        count = clamp(change.count, int(target["MinCapacity"]), int(target["MaxCapacity"]))
        change = Change(count, change.cause, change.direction)
        if not self._allowed(policy, target, service, change, current):
            return None
        self._commit(key, service, change, policy)
        return change

    def _tracking(
        self, key: as_store.TargetKey, policy: dict[str, Any], inv: Invocation, current: int
    ) -> Change | None:
        config = policy["TargetTrackingScalingPolicyConfiguration"]
        target = float(config["TargetValue"])
        role = next((r for r, name in (policy.get("_alarms") or {}).items() if name == inv.alarm_name), None)
        if inv.state != "ALARM" or inv.value is None or role is None:
            return None
        cause = CAUSE_ALARM.format(alarm=inv.alarm_name, state=inv.state, policy=policy["PolicyName"])
        if role == "AlarmHigh":
            # During the scale-out cooldown the metric still reflects the capacity before that scale-out:
            # the formula starts from it, so the capacity the scale-out added counts (§6.2).
            last = policy.get("_last") or {}
            cooling = last.get("outAt") is not None and (
                self.clock.now() - float(last["outAt"]) < self.scale.seconds(self._cooldown(policy, "out"))
            )
            base = int(last.get("outFrom", current)) if cooling else current
            return Change(tracking_capacity(base, inv.value, target), cause, "out")
        if config.get("DisableScaleIn") or not self._all_want_in(key, policy):
            return None
        return Change(tracking_scale_in(current, inv.value, target), cause, "in")

    def _all_want_in(self, key: as_store.TargetKey, policy: dict[str, Any]) -> bool:
        """§6.2: several policies scale in only when every one that may scale in wants to."""
        for other in as_store.policies_of(self.db, key):
            if other["PolicyType"] != "TargetTrackingScaling" or other["PolicyName"] == policy["PolicyName"]:
                continue
            if other["TargetTrackingScalingPolicyConfiguration"].get("DisableScaleIn"):
                continue
            low = (other.get("_alarms") or {}).get("AlarmLow")
            alarm = cw_store.get_alarm(self.db, key.account, key.region, low) if low else None
            if alarm is None or alarm.get("StateValue") != "ALARM":
                return False
        return True

    @staticmethod
    def _step(policy: dict[str, Any], inv: Invocation, current: int) -> Change | None:
        if inv.state != "ALARM" or inv.value is None:
            return None
        config = policy["StepScalingPolicyConfiguration"]
        steps = [StepAdjustment.from_api(s) for s in config["StepAdjustments"]]
        step = pick_step(steps, inv.value - inv.threshold)
        if step is None:
            return None
        count = step_capacity(
            current, config["AdjustmentType"], step.scaling_adjustment, config.get("MinAdjustmentMagnitude")
        )
        cause = CAUSE_ALARM.format(alarm=inv.alarm_name, state=inv.state, policy=policy["PolicyName"])
        return Change(count, cause, "out" if count > current else "in")

    def _allowed(
        self, policy: dict[str, Any], target: dict[str, Any], service: dict[str, Any], change: Change, current: int
    ) -> bool:
        if change.count == current or (change.direction == "out") != (change.count > current):
            return False
        suspended = target.get("SuspendedState") or {}
        last_doc = policy.get("_last") or {}
        last = LastActivity(last_doc.get("outAt"), last_doc.get("outTo"), last_doc.get("inAt"))
        now = self.clock.now()
        if change.direction == "out":
            if suspended.get("DynamicScalingOutSuspended"):
                return False
            return scale_out_allowed(last, now, self.scale.seconds(self._cooldown(policy, "out")), change.count)
        if suspended.get("DynamicScalingInSuspended") or deployment_in_progress(service):
            return False
        return scale_in_allowed(last, now, self.scale.seconds(self._cooldown(policy, "in")))

    @staticmethod
    def _cooldown(policy: dict[str, Any], direction: str) -> float:
        if policy["PolicyType"] == "TargetTrackingScaling":
            config = policy["TargetTrackingScalingPolicyConfiguration"]
            value = config.get("ScaleOutCooldown" if direction == "out" else "ScaleInCooldown")
        else:
            value = policy["StepScalingPolicyConfiguration"].get("Cooldown")
        return DEFAULT_COOLDOWN if value is None else float(value)

    # -- changes -----------------------------------------------------------------------------------

    def _service(self, key: as_store.TargetKey) -> dict[str, Any] | None:
        parts = key.resource_id.split("/")
        if len(parts) != 3:
            return None
        doc = svc_store.get(self.db, service_arn(key.region, key.account, parts[1], parts[2]))
        return doc if doc is not None and doc.get("status") == "ACTIVE" else None

    def _commit(
        self, key: as_store.TargetKey, service: dict[str, Any], change: Change, policy: dict[str, Any] | None
    ) -> bool:
        """Set the desired count through UpdateService and record the activity; False if ECS refused."""
        now = round(self.clock.now(), 3)
        cluster, name = key.resource_id.split("/")[1:]
        activity = {
            "ActivityId": str(uuid.uuid4()),
            "ServiceNamespace": key.namespace,
            "ResourceId": key.resource_id,
            "ScalableDimension": key.dimension,
            "Description": DESCRIPTION.format(count=change.count),
            "Cause": change.cause,
            "StartTime": now,
        }
        try:
            with self.db.transaction():
                self.set_desired(key.account, key.region, cluster, name, change.count)
                status = SUCCEEDED.format(count=change.count)
                activity.update(EndTime=now, StatusCode="Successful", StatusMessage=status)
                as_store.add_activity(self.db, key, activity)
                text = message(name, SERVICE_EVENT.format(status=status, cause=change.cause))
                record(self.db, service["serviceArn"], text, now)
                if policy is not None:
                    last = dict(policy.get("_last") or {})
                    if change.direction == "out":
                        last.update(outAt=now, outTo=change.count, outFrom=int(service["desiredCount"]))
                    else:
                        last["inAt"] = now
                    policy["_last"] = last
                    as_store.put_policy(self.db, key, policy)
        except AwsError as error:
            activity.update(
                EndTime=now, StatusCode="Failed", StatusMessage=FAILED.format(count=change.count, reason=error.message)
            )
            with self.db.transaction():
                as_store.add_activity(self.db, key, activity)
            return False
        return True

    # -- scheduled actions -------------------------------------------------------------------------

    def run_due(self) -> int:
        """Run every scheduled action that is due; returns how many ran."""
        now = self.clock.now()
        ran = 0
        for key, action, due in as_store.due_actions(self.db, now):
            self._advance(key, action, due)
            target = as_store.get_target(self.db, key)
            if target is None or (target.get("SuspendedState") or {}).get("ScheduledScalingSuspended"):
                continue
            self._run_action(key, action, target)
            ran += 1
        return ran

    def _advance(self, key: as_store.TargetKey, action: dict[str, Any], due: float) -> None:
        try:
            schedule = parse_schedule(action["Schedule"])
            start, end = action.get("StartTime"), action.get("EndTime")
            following = next_run(
                schedule,
                max(due, self.clock.now()),
                action.get("Timezone"),
                start=None if start is None else float(start),
                end=None if end is None else float(end),
                origin=float(action.get("_updated") or action["CreationTime"]),
            )
        except ScheduleError:
            following = None
        action["_lastRun"] = round(self.clock.now(), 3)
        with self.db.transaction():
            as_store.put_action(self.db, key, action, following)

    def _run_action(self, key: as_store.TargetKey, action: dict[str, Any], target: dict[str, Any]) -> None:
        given = action.get("ScalableTargetAction") or {}
        low = int(given.get("MinCapacity", target["MinCapacity"]))
        high = int(given.get("MaxCapacity", target["MaxCapacity"]))
        if low > high:
            low, high = (low, low) if "MinCapacity" in given else (high, high)
        now = round(self.clock.now(), 3)
        target.update(MinCapacity=low, MaxCapacity=high)
        with self.db.transaction():
            as_store.put_target(self.db, key, target)
            as_store.add_activity(
                self.db,
                key,
                {
                    "ActivityId": str(uuid.uuid4()),
                    "ServiceNamespace": key.namespace,
                    "ResourceId": key.resource_id,
                    "ScalableDimension": key.dimension,
                    "Description": RANGE_DESCRIPTION.format(low=low, high=high),
                    "Cause": CAUSE_SCHEDULED.format(name=action["ScheduledActionName"]),
                    "StartTime": now,
                    "EndTime": now,
                    "StatusCode": "Successful",
                    "StatusMessage": RANGE_SUCCEEDED.format(low=low, high=high),
                },
            )
        service = self._service(key)
        if service is None:
            return
        current = int(service["desiredCount"])
        # §6.3: the desired count moves into the new range at once.
        if current < low:
            self._commit(key, service, Change(low, CAUSE_MIN.format(count=low), "out"), None)
        elif current > high:
            self._commit(key, service, Change(high, CAUSE_MAX.format(count=high), "in"), None)

    # -- housekeeping ------------------------------------------------------------------------------

    def prune_orphans(self) -> None:
        """Deregister targets whose ECS service is gone, with their policies, alarms and actions."""
        for key, _ in as_store.all_targets(self.db):
            if self._service(key) is not None:
                continue
            with self.db.transaction():
                for policy in as_store.policies_of(self.db, key):
                    for alarm in (policy.get("_alarms") or {}).values():
                        cw_store.delete_alarm(self.db, key.account, key.region, alarm)
                as_store.delete_target(self.db, key)
