"""The alarm evaluator: moves every CloudWatch alarm's state from its metric and runs its actions.

Every CloudWatch minute (``--metrics-period`` seconds, 60 by default) each alarm is evaluated over
its last ``EvaluationPeriods`` complete periods (its ``Period`` times the time scale, aligned to
multiples of the period since the epoch):

- a period's value breaches when it compares to ``Threshold`` as ``ComparisonOperator`` says;
- a missing value counts per ``TreatMissingData``: ``breaching``, ``notBreaching``, or not at all
  (``missing``, ``ignore``);
- ``DatapointsToAlarm`` (default ``EvaluationPeriods``) breaching values → ``ALARM``; otherwise
  ``OK`` when any value was evaluated; with none, ``INSUFFICIENT_DATA`` (``ignore`` keeps the
  state).

A transition is written with its reason and a history item (store.cloudwatch.record_state).
Actions: an Application Auto Scaling policy ARN in the actions of the current state is invoked at
every evaluation while the state lasts (CloudWatch repeats Auto Scaling actions once per period);
other actions are recorded as failed on the transition, since ecslite delivers alarm actions to
scaling policies only. Actions run only while ``ActionsEnabled``. A state set through SetAlarmState
runs its actions at once (:meth:`AlarmEvaluator.state_set`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ecslite.clock import Clock
from ecslite.model.scaling import TimeScale
from ecslite.store import cloudwatch as cw_store
from ecslite.store.db import Database

log = logging.getLogger(__name__)

# Unverified wording of CloudWatch's state reasons.
REASON_THRESHOLD = (
    "Threshold Crossed: {count} out of the last {total} datapoints [{points}] {verb} the threshold ({threshold}) "
    "(minimum {needed} datapoint{plural} for {old} -> {new} transition)."
)
REASON_NO_DATA = "Insufficient Data: {total} datapoint{plural} were unknown."
# Beyond ECS: where an action goes nowhere, say why.
ACTION_NOT_DELIVERED = (
    "Failed to execute action {action}. ecslite delivers alarm actions to Application Auto Scaling policies only."
)
VERBS = {
    "GreaterThanThreshold": ("were greater than", "were not greater than"),
    "GreaterThanOrEqualToThreshold": ("were greater than or equal to", "were not greater than or equal to"),
    "LessThanThreshold": ("were less than", "were not less than"),
    "LessThanOrEqualToThreshold": ("were less than or equal to", "were not less than or equal to"),
}


def breaches(value: float, threshold: float, comparison: str) -> bool:
    if comparison == "GreaterThanThreshold":
        return value > threshold
    if comparison == "GreaterThanOrEqualToThreshold":
        return value >= threshold
    if comparison == "LessThanThreshold":
        return value < threshold
    if comparison == "LessThanOrEqualToThreshold":
        return value <= threshold
    return False  # anomaly-detection bands: ecslite has no models, nothing breaches


@dataclass(frozen=True, slots=True)
class Verdict:
    state: str
    breaching: int
    evaluated: int


def decide(
    values: Sequence[float | None], threshold: float, comparison: str, needed: int, treat_missing: str, current: str
) -> Verdict:
    """The state ``values`` (oldest first, ``None`` = no datapoint) put an alarm in."""
    verdicts: list[bool] = []
    for value in values:
        if value is None:
            if treat_missing == "breaching":
                verdicts.append(True)
            elif treat_missing == "notBreaching":
                verdicts.append(False)
            continue
        verdicts.append(breaches(value, threshold, comparison))
    count = sum(verdicts)
    if not verdicts:
        return Verdict(current if treat_missing == "ignore" else "INSUFFICIENT_DATA", 0, 0)
    return Verdict("ALARM" if count >= needed else "OK", count, len(verdicts))


def is_policy_action(action: str) -> bool:
    return action.startswith("arn:aws:autoscaling:") and ":scalingPolicy:" in action


@dataclass(frozen=True, slots=True)
class Invocation:
    """An alarm running a scaling policy: the state it is in and the metric behind it."""

    account: str
    region: str
    alarm_name: str
    state: str
    policy_arn: str
    threshold: float
    value: float | None  # the newest datapoint of the evaluation (None after SetAlarmState without data)


class MetricSource(Protocol):
    async def alarm_values(
        self, account: str, region: str, alarm: dict[str, Any], start: float, end: float
    ) -> dict[float, float]: ...


ActionHandler = Callable[[Invocation], Awaitable[None]]


def _stamp(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%d/%m/%y %H:%M:%S")


class AlarmEvaluator:
    """A server component: evaluates every alarm each CloudWatch minute and runs its actions."""

    name = "alarm-evaluator"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        source: MetricSource,
        scale: TimeScale | None = None,
        handlers: Sequence[ActionHandler] = (),
    ) -> None:
        self.db = db
        self.clock = clock
        self.source = source
        self.scale = scale or TimeScale()
        self.handlers: list[ActionHandler] = list(handlers)
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="alarm-evaluator")

    async def stop(self) -> None:
        task, self._task = self._task, None
        for pending in [*self._pending, *([task] if task else [])]:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
        self._pending.clear()

    async def reset(self) -> None:
        await self.stop()
        await self.start()

    async def _loop(self) -> None:
        interval = self.scale.seconds(60)
        due = self.clock.now()
        while True:
            try:
                await self.evaluate_all()
            except Exception:
                log.exception("alarm evaluation failed")
            with contextlib.suppress(Exception), self.db.transaction():
                cw_store.prune(self.db, self.clock.now())
            # Every minute on a fixed cadence, as CloudWatch evaluates: a pass that waited on reading
            # datapoints does not push the later ones back (missed minutes are skipped, not caught up).
            now = self.clock.now()
            due += interval
            while due <= now:
                due += interval
            await self.clock.sleep(due - now)

    async def evaluate_all(self) -> None:
        for account, region, doc in cw_store.all_alarms(self.db):
            try:
                await self.evaluate(account, region, doc)
            except Exception:
                log.exception("alarm evaluation failed", extra={"alarm": doc.get("AlarmName")})

    async def evaluate(self, account: str, region: str, doc: dict[str, Any]) -> str:
        """Evaluate one alarm now; returns its state afterwards."""
        now = self.clock.now()
        period = max(1.0, float(round(self.scale.seconds(float(_period(doc))))))
        periods = int(doc["EvaluationPeriods"])
        end = math.floor(now / period) * period
        start = end - periods * period
        found = await self.source.alarm_values(account, region, doc, start, end)
        slots = [start + i * period for i in range(periods)]
        values = [found.get(slot) for slot in slots]
        needed = int(doc.get("DatapointsToAlarm") or periods)
        threshold = float(doc.get("Threshold", 0.0))
        comparison = doc["ComparisonOperator"]
        current = doc.get("StateValue", "INSUFFICIENT_DATA")
        verdict = decide(values, threshold, comparison, needed, doc.get("TreatMissingData") or "missing", current)
        fresh = cw_store.get_alarm(self.db, account, region, doc["AlarmName"])
        if fresh is None:
            return verdict.state  # deleted while its metric was read
        reason, data = _reason(fresh, verdict, values, slots, threshold, needed, current, period, now)
        with self.db.transaction():
            changed = cw_store.record_state(self.db, account, region, fresh, verdict.state, reason, data, now)
            if changed:
                self._record_undelivered(account, region, fresh, now)
        newest = next((v for v in reversed(values) if v is not None), None)
        await self._run_actions(account, region, fresh, newest)
        return verdict.state

    def state_set(self, account: str, region: str, doc: dict[str, Any]) -> None:
        """SetAlarmState moved the alarm: run the new state's actions now (CloudWatch does)."""
        task = asyncio.create_task(self._after_set(account, region, doc), name="alarm-actions")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _after_set(self, account: str, region: str, doc: dict[str, Any]) -> None:
        try:
            with self.db.transaction():
                self._record_undelivered(account, region, doc, self.clock.now())
            await self._run_actions(account, region, doc, None)
        except Exception:
            log.exception("alarm actions failed", extra={"alarm": doc.get("AlarmName")})

    def _actions(self, doc: dict[str, Any]) -> list[str]:
        if not doc.get("ActionsEnabled", True):
            return []
        key = {"ALARM": "AlarmActions", "OK": "OKActions", "INSUFFICIENT_DATA": "InsufficientDataActions"}
        return list(doc.get(key[doc["StateValue"]]) or ())

    def _record_undelivered(self, account: str, region: str, doc: dict[str, Any], now: float) -> None:
        for action in self._actions(doc):
            if not is_policy_action(action):
                summary = ACTION_NOT_DELIVERED.format(action=action)
                data = {"actionState": "Failed", "stateUpdateTimestamp": now, "error": summary}
                cw_store.add_history(
                    self.db, account, region, cw_store.history_item(doc["AlarmName"], now, "Action", summary, data)
                )

    async def _run_actions(self, account: str, region: str, doc: dict[str, Any], value: float | None) -> None:
        for action in self._actions(doc):
            if not is_policy_action(action):
                continue
            invocation = Invocation(
                account, region, doc["AlarmName"], doc["StateValue"], action, float(doc.get("Threshold", 0.0)), value
            )
            for handler in self.handlers:
                try:
                    await handler(invocation)
                except Exception:
                    log.exception("alarm action failed", extra={"alarm": doc["AlarmName"], "action": action})


def evaluation_seconds(doc: dict[str, Any]) -> float:
    """How long one evaluation of the alarm looks back in AWS seconds: ``EvaluationPeriods`` × its period."""
    return int(doc.get("EvaluationPeriods") or 1) * _period(doc)


def _period(doc: dict[str, Any]) -> float:
    if doc.get("Period"):
        return float(doc["Period"])
    periods = [q["MetricStat"]["Period"] for q in doc.get("Metrics") or () if q.get("MetricStat")]
    return float(min(periods)) if periods else 60.0


def _reason(
    doc: dict[str, Any],
    verdict: Verdict,
    values: Sequence[float | None],
    slots: Sequence[float],
    threshold: float,
    needed: int,
    current: str,
    period: float,
    now: float,
) -> tuple[str, dict[str, Any]]:
    present = [(slot, v) for slot, v in zip(slots, values, strict=True) if v is not None]
    total = len(values)
    data: dict[str, Any] = {
        "version": "1.0",
        "queryDate": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="milliseconds"),
        "statistic": doc.get("Statistic") or doc.get("ExtendedStatistic") or "Expression",
        "period": int(_period(doc)),
        "recentDatapoints": [v for _, v in reversed(present)],
        "threshold": threshold,
        "evaluatedDatapoints": [
            {"timestamp": dt.datetime.fromtimestamp(slot, dt.UTC).isoformat(timespec="seconds"), "value": v}
            for slot, v in reversed(present)
        ],
    }
    if verdict.state == "INSUFFICIENT_DATA":
        return REASON_NO_DATA.format(total=total, plural="" if total == 1 else "s"), data
    verbs = VERBS.get(doc["ComparisonOperator"], ("breached", "did not breach"))
    points = ", ".join(f"{v} ({_stamp(slot)})" for slot, v in reversed(present))
    reason = REASON_THRESHOLD.format(
        count=verdict.breaching if verdict.state == "ALARM" else verdict.evaluated - verdict.breaching,
        total=total,
        points=points,
        verb=verbs[0] if verdict.state == "ALARM" else verbs[1],
        threshold=threshold,
        needed=needed,
        plural="" if needed == 1 else "s",
        old=current,
        new=verdict.state,
    )
    return reason, data
