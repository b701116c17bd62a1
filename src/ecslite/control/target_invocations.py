"""What schedules and rules did when they invoked their targets: CloudWatch metrics as AWS publishes
them, and a short history per target (store.invocations).

:class:`InvocationRecorder` is told by the scheduler controller (``control.scheduler``) after each
attempt and by the EventBridge router (``control.event_rules``) at each count and each attempt to an ECS target.

Metrics go into CloudWatch's store (``store.cloudwatch``, the account and region of the schedule or
rule), one datum of value 1 (unit ``Count``) per occurrence, so GetMetricData, GetMetricStatistics,
ListMetrics and alarms read them like any other metric; ``Sum`` over a period is the count. Each
datum is also a sample of the ``ecslite_cloudwatch_sample`` series in the telemetry store (labels
``namespace``, ``metric_name`` and the dimensions), where ``AWS/ECS`` is, for the Prometheus API.

``AWS/Scheduler`` (each metric without dimensions, for the account, and per ``ScheduleGroup``):

- ``InvocationAttemptCount``: every attempt, first ones and retries;
- ``TargetErrorCount``: attempts the target refused (RunTask raised, or started fewer tasks than
  asked, or the target is of a kind ecslite cannot invoke);
- ``TargetErrorThrottledCount``: those of them refused with a throttling error;
- ``InvocationDroppedCount``: invocations given up once retries ran out (or could not apply). With a
  DeadLetterConfig AWS would send the event to the queue instead (``InvocationsSentToDeadLetterCount``);
  ecslite has no SQS, so the invocation is dropped either way, and the history says so.
- ``InvocationThrottleCount`` is not published: ecslite does not throttle invocations.

``AWS/Events`` (per ``RuleName``; rules are on the default bus, which AWS names by RuleName alone):
``MatchedEvents``, ``TriggeredRules`` (a rule whose pattern matched, or whose schedule fired),
``Invocations`` and ``FailedInvocations``; all but ``FailedInvocations`` also without dimensions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ecslite.clock import Clock
from ecslite.control.ecs_run_target import RunOutcome
from ecslite.store import cloudwatch as cw_store
from ecslite.store import invocations as history
from ecslite.store.db import Database
from ecslite.telemetry.model import MetricBatch, MetricMetadata, Resource, Sample
from ecslite.telemetry.runtime_metrics import CLOUDWATCH_SERIES
from ecslite.telemetry.store import TelemetryStore

log = logging.getLogger(__name__)

SCHEDULER = "AWS/Scheduler"
EVENTS = "AWS/Events"
THROTTLING = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"})
EVENT_METRICS = frozenset({"MatchedEvents", "TriggeredRules", "Invocations", "FailedInvocations"})
_RULE_ONLY = frozenset({"FailedInvocations"})
_RESOURCE = Resource({"service.name": "ecslite", "service.instance.id": "target-invocations"})
_METADATA = (MetricMetadata(CLOUDWATCH_SERIES, "gauge", "CloudWatch metric samples"),)

Metric = tuple[str, cw_store.Dimensions]


class InvocationRecorder:
    def __init__(self, db: Database, clock: Clock, telemetry: TelemetryStore | None = None) -> None:
        self.db = db
        self.clock = clock
        self.telemetry = telemetry
        self.failures = 0

    # -- EventBridge Scheduler -------------------------------------------------------------------

    def schedule_attempt(
        self,
        account: str,
        region: str,
        doc: Mapping[str, Any],
        *,
        attempt: int,
        outcome: RunOutcome,
        retry_at: float | None,
    ) -> None:
        """One attempt of a schedule's target: its metrics and its history entry."""
        now = self.clock.now()
        group = str(doc.get("GroupName") or "default")
        names = ["InvocationAttemptCount"]
        if not outcome.ok:
            names.append("TargetErrorCount")
            if outcome.error_code in THROTTLING:
                names.append("TargetErrorThrottledCount")
            if retry_at is None:
                names.append("InvocationDroppedCount")
        metrics: list[Metric] = []
        for name in names:
            metrics += [(name, ()), (name, (("ScheduleGroup", group),))]
        status = history.STARTED if outcome.ok else (history.RETRYING if retry_at is not None else history.FAILED)
        entry = history.Invocation(
            account,
            region,
            history.SCHEDULE,
            str(doc["Arn"]),
            str(doc["Name"]),
            "",
            str(doc["Target"].get("Arn", "")),
            now,
            attempt,
            status,
            tuple(outcome.task_arns),
            outcome.reason or None,
            retry_at,
        )
        self._record(account, region, SCHEDULER, metrics, now, entry)

    # -- EventBridge rules -----------------------------------------------------------------------

    def rule_count(self, rule_arn: str, metric: str) -> None:
        """One of the router's counts (its names are AWS's); a pattern match also triggers the rule."""
        if metric not in EVENT_METRICS:
            return
        parsed = _rule_of(rule_arn)
        if parsed is None:
            return
        account, region, name = parsed
        names = [metric, "TriggeredRules"] if metric == "MatchedEvents" else [metric]
        metrics: list[Metric] = []
        for each in names:
            metrics.append((each, (("RuleName", name),)))
            if each not in _RULE_ONLY:
                metrics.append((each, ()))
        self._record(account, region, EVENTS, metrics, self.clock.now(), None)

    def rule_target(
        self,
        rule_arn: str,
        rule_name: str,
        target: Mapping[str, Any],
        outcome: RunOutcome,
        *,
        attempt: int = 1,
        retry_at: float | None = None,
    ) -> None:
        """One attempt to a rule's ECS target; a failure with ``retry_at`` is RETRYING, else final."""
        parsed = _rule_of(rule_arn)
        if parsed is None:
            return
        account, region, _ = parsed
        now = self.clock.now()
        entry = history.Invocation(
            account,
            region,
            history.RULE,
            rule_arn,
            rule_name,
            str(target.get("Id", "")),
            str(target.get("Arn", "")),
            now,
            attempt,
            history.STARTED if outcome.ok else (history.RETRYING if retry_at is not None else history.FAILED),
            tuple(outcome.task_arns),
            outcome.reason or None,
            retry_at,
        )
        self._record(account, region, EVENTS, [], now, entry)

    # -- writing ---------------------------------------------------------------------------------

    def _record(
        self,
        account: str,
        region: str,
        namespace: str,
        metrics: Sequence[Metric],
        now: float,
        entry: history.Invocation | None,
    ) -> None:
        data = [cw_store.Datum(name, tuple(sorted(dims)), now, "Count", 1.0, 1.0, 1.0, 1.0) for name, dims in metrics]
        try:
            with self.db.transaction():
                if data:
                    cw_store.put_data(self.db, account, region, namespace, data, now)
                if entry is not None:
                    history.add(self.db, entry)
            if self.telemetry is not None and data:
                ts_ms = int(now * 1000)
                samples = [_sample(namespace, d.name, d.dimensions, ts_ms) for d in data]
                self.telemetry.write_metrics(MetricBatch(_RESOURCE, samples, _METADATA))
        except Exception:
            # Recording what happened must never stop the invocations themselves.
            self.failures += 1
            log.exception("recording a target invocation failed", extra={"namespace": namespace})


def _sample(namespace: str, name: str, dims: cw_store.Dimensions, ts_ms: int) -> Sample:
    labels = {"job": "ecslite", "namespace": namespace, "metric_name": name, **dict(dims)}
    return Sample(tuple(sorted({"__name__": CLOUDWATCH_SERIES, **labels}.items())), ts_ms, 1.0)


def _rule_of(arn: str) -> tuple[str, str, str] | None:
    """(account, region, rule name) of ``arn:aws:events:<region>:<account>:rule/[<bus>/]<name>``."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "events" or not parts[5].startswith("rule/"):
        return None
    return parts[4], parts[3], parts[5].rsplit("/", 1)[-1]
