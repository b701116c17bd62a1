"""What schedules and rules record about their invocations, with the fake clock: AWS/Scheduler and
AWS/Events metrics read back through CloudWatch's own GetMetricData and ListMetrics, their
Prometheus samples, and the bounded history per schedule and rule target."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from ecslite.clock import FakeClock
from ecslite.control.alarms import AlarmEvaluator
from ecslite.control.event_rules import EventRouter
from ecslite.control.scheduler import SchedulerController
from ecslite.control.target_invocations import InvocationRecorder
from ecslite.protocol.errors import AwsError
from ecslite.providers.base import RequestContext
from ecslite.providers.cloudwatch.provider import CloudWatchProvider
from ecslite.providers.events.provider import EventsProvider
from ecslite.providers.scheduler.provider import SchedulerProvider
from ecslite.store import cloudwatch as cw_store
from ecslite.store import invocations as history
from ecslite.store import schedules as schedule_store
from ecslite.store.db import Database
from ecslite.telemetry.model import MetricBatch
from ecslite.ui.schedule_views import scheduled_tasks

ACCOUNT, REGION = "000000000000", "us-east-1"
CLUSTER = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/jobs"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/scheduler"
START = 1_750_000_000.0
SCHED_CTX = RequestContext(ACCOUNT, REGION, "t", "scheduler", "CreateSchedule")
EVENTS_CTX = RequestContext(ACCOUNT, REGION, "t", "events", "Op")
CW_CTX = RequestContext(ACCOUNT, REGION, "t", "monitoring", "GetMetricData")


class FakeTelemetry:
    def __init__(self) -> None:
        self.batches: list[MetricBatch] = []

    def write_metrics(self, batch: MetricBatch) -> None:
        self.batches.append(batch)


class RunTask:
    """Refuses while ``refusing``, else starts the tasks asked for."""

    def __init__(self) -> None:
        self.refusing: AwsError | None = None
        self.calls = 0

    def __call__(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.refusing is not None:
            raise self.refusing
        return {
            "tasks": [
                {"taskArn": f"{CLUSTER.replace('cluster', 'task')}/t{self.calls}-{i}"} for i in range(params["count"])
            ]
        }


class Harness:
    def __init__(self) -> None:
        self.db = Database(None)
        self.clock = FakeClock(START)
        self.telemetry = FakeTelemetry()
        self.recorder = InvocationRecorder(self.db, self.clock, self.telemetry)  # type: ignore[arg-type]
        self.run_task = RunTask()
        self.scheduler = SchedulerController(self.db, self.clock, self.run_task, rng=random.Random(1))
        self.scheduler.recorder = self.recorder
        self.cloudwatch = CloudWatchProvider(self.db, self.clock, None)

    def create(self, name: str, **target: Any) -> None:
        params = {
            "Name": name,
            "ScheduleExpression": "rate(5 minutes)",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {"Arn": CLUSTER, "RoleArn": ROLE, "EcsParameters": {"TaskDefinitionArn": "job:1"}, **target},
        }
        SchedulerProvider(self.db, self.clock, random.Random(1)).create_schedule(SCHED_CTX, params)

    def run_until(self, seconds: float) -> None:
        end = START + seconds
        while (due := schedule_store.earliest(self.db)) is not None and due <= end:
            self.clock.advance(max(0.0, due - self.clock.now()))
            asyncio.run(self.scheduler.run_due())
        self.clock.advance(max(0.0, end - self.clock.now()))

    def sums(self, namespace: str, name: str, dimensions: list[dict[str, str]]) -> float:
        query = {
            "Id": "m",
            "MetricStat": {
                "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": dimensions},
                "Period": 60,
                "Stat": "Sum",
            },
        }
        params = {"MetricDataQueries": [query], "StartTime": START - 3600, "EndTime": self.clock.now() + 60}
        answer = asyncio.run(self.cloudwatch.get_metric_data(CW_CTX, params))
        return float(sum(answer["MetricDataResults"][0]["Values"]))


def test_failing_schedule_counts_attempts_errors_and_the_drop_and_keeps_each_attempt() -> None:
    h = Harness()
    h.create("nightly", RetryPolicy={"MaximumRetryAttempts": 2})
    h.run_task.refusing = AwsError("ClusterNotFoundException", "Cluster not found.")
    h.run_until(300 + 200)  # the first invocation and its two retries (60 s, then 120 s later)
    group = [{"Name": "ScheduleGroup", "Value": "default"}]
    assert h.run_task.calls == 3
    assert h.sums("AWS/Scheduler", "InvocationAttemptCount", group) == 3
    assert h.sums("AWS/Scheduler", "InvocationAttemptCount", []) == 3
    assert h.sums("AWS/Scheduler", "TargetErrorCount", group) == 3
    assert h.sums("AWS/Scheduler", "InvocationDroppedCount", group) == 1
    assert h.sums("AWS/Scheduler", "TargetErrorThrottledCount", group) == 0

    arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/nightly"
    entries = history.recent(h.db, arn)
    assert [(e["attempt"], e["outcome"]) for e in entries] == [(3, "FAILED"), (2, "RETRYING"), (1, "RETRYING")]
    assert entries[0]["error"] == "ClusterNotFoundException: Cluster not found."
    assert entries[1]["retryAt"] == entries[0]["time"]

    # The next invocation succeeds: one more attempt, no new error, and the tasks it started.
    h.run_task.refusing = None
    h.run_until(600)
    assert h.sums("AWS/Scheduler", "InvocationAttemptCount", group) == 4
    assert h.sums("AWS/Scheduler", "TargetErrorCount", group) == 3
    newest = history.recent(h.db, arn)[0]
    assert newest["outcome"] == "STARTED" and newest["attempt"] == 1 and newest["error"] is None
    assert newest["taskArns"] == [f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/jobs/t4-0"]

    (row,) = scheduled_tasks(h.db, "jobs")
    assert row["last"] == newest and row["startedBy"] == "chronos-schedule/nightly" and row["nextRun"] == START + 900
    assert scheduled_tasks(h.db, "other") == []


def test_throttled_target_errors_are_counted_apart() -> None:
    h = Harness()
    h.create("busy", RetryPolicy={"MaximumRetryAttempts": 0})
    h.run_task.refusing = AwsError("ThrottlingException", "Rate exceeded.")
    h.run_until(300)
    group = [{"Name": "ScheduleGroup", "Value": "default"}]
    assert h.sums("AWS/Scheduler", "TargetErrorThrottledCount", group) == 1
    assert h.sums("AWS/Scheduler", "InvocationDroppedCount", group) == 1


def test_metrics_are_listed_and_mirrored_as_prometheus_samples() -> None:
    h = Harness()
    h.create("ok")
    h.run_until(300)
    listed = asyncio.run(h.cloudwatch.list_metrics(CW_CTX, {"Namespace": "AWS/Scheduler"}))["Metrics"]
    assert {(m["MetricName"], tuple(d["Value"] for d in m["Dimensions"])) for m in listed} == {
        ("InvocationAttemptCount", ()),
        ("InvocationAttemptCount", ("default",)),
    }
    samples = [dict(s.labels) for batch in h.telemetry.batches for s in batch.samples]
    assert {"__name__": "ecslite_cloudwatch_sample", "job": "ecslite", "namespace": "AWS/Scheduler"}.items() <= (
        samples[0].items()
    )
    assert {s["metric_name"] for s in samples} == {"InvocationAttemptCount"}
    assert {s.get("ScheduleGroup") for s in samples} == {None, "default"}


def test_history_keeps_the_newest_twenty_per_target() -> None:
    h = Harness()
    h.create("often")
    h.run_until(300 * 25)
    arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/often"
    entries = history.recent(h.db, arn, 100)
    assert len(entries) == history.PER_TARGET
    assert entries[0]["time"] == START + 300 * 25 and entries[-1]["time"] == START + 300 * 6
    assert h.db.query_one("SELECT count(*) AS n FROM target_invocations")["n"] == history.PER_TARGET


class Sink:
    async def append(self, account: str, region: str, group: str, stream: str, events: list[tuple[int, str]]) -> object:
        return None


def test_rule_counts_become_aws_events_metrics_and_ecs_deliveries_history() -> None:
    h = Harness()

    async def main() -> None:
        router = EventRouter(h.db, h.clock, None, logs=Sink(), run_task=h.run_task)
        router.recorder = h.recorder
        events = EventsProvider(h.db, h.clock, router)
        await router.start()
        try:
            pattern = {"source": ["my.app"]}
            events.put_rule(EVENTS_CTX, {"Name": "on-app", "EventPattern": json.dumps(pattern)})
            ecs = {"TaskDefinitionArn": "job:1", "TaskCount": 2}
            # No retries: the refused delivery is final at once (retries: test_event_rules).
            target = {"Id": "run", "Arn": CLUSTER, "EcsParameters": ecs, "RetryPolicy": {"MaximumRetryAttempts": 0}}
            events.put_targets(EVENTS_CTX, {"Rule": "on-app", "Targets": [target]})
            event = {"id": "e1", "source": "my.app", "account": ACCOUNT, "region": REGION, "detail": {}}
            router.route(event)
            await router.idle()
            h.run_task.refusing = AwsError("InvalidParameterException", "No Container Instances were found.")
            router.route({**event, "id": "e2"})
            router.route({**event, "source": "other"})
            await router.idle()
        finally:
            await router.stop()

    asyncio.run(main())
    rule = [{"Name": "RuleName", "Value": "on-app"}]
    assert h.sums("AWS/Events", "MatchedEvents", rule) == 2
    assert h.sums("AWS/Events", "TriggeredRules", rule) == 2
    assert h.sums("AWS/Events", "Invocations", rule) == 2
    assert h.sums("AWS/Events", "Invocations", []) == 2
    assert h.sums("AWS/Events", "FailedInvocations", rule) == 1
    arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/on-app"
    failed, started = history.recent(h.db, arn)
    assert (started["outcome"], len(started["taskArns"]), started["target"]) == ("STARTED", 2, "run")
    assert failed["outcome"] == "FAILED"
    assert failed["error"] == "InvalidParameterException: No Container Instances were found."
    (row,) = scheduled_tasks(h.db, CLUSTER)
    assert (row["kind"], row["targetId"], row["startedBy"], row["last"]) == (
        "rule",
        "run",
        "events-rule/on-app",
        failed,
    )


def test_a_recorder_failure_never_stops_the_schedule() -> None:
    h = Harness()
    h.create("sturdy")
    h.db.conn.execute("DROP TABLE target_invocations")
    h.run_until(600)
    assert h.run_task.calls == 2 and h.recorder.failures == 2
    row = h.db.query_one("SELECT next_run FROM sch_schedules")
    assert row is not None and row["next_run"] == START + 900


def alarm_states(evaluator: AlarmEvaluator) -> dict[str, str]:
    async def evaluate() -> dict[str, str]:
        alarms = cw_store.all_alarms(evaluator.db)
        return {doc["AlarmName"]: await evaluator.evaluate(account, region, doc) for account, region, doc in alarms}

    return asyncio.run(evaluate())


def test_an_alarm_on_target_errors_goes_to_alarm() -> None:
    h = Harness()
    h.create("watched", RetryPolicy={"MaximumRetryAttempts": 0})
    alarm = {
        "AlarmName": "schedule-errors",
        "Namespace": "AWS/Scheduler",
        "MetricName": "TargetErrorCount",
        "Dimensions": [{"Name": "ScheduleGroup", "Value": "default"}],
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    }
    h.cloudwatch.put_metric_alarm(RequestContext(ACCOUNT, REGION, "t", "monitoring", "PutMetricAlarm"), alarm)
    evaluator = AlarmEvaluator(h.db, h.clock, h.cloudwatch)
    h.run_until(299)
    assert alarm_states(evaluator) == {"schedule-errors": "OK"}
    h.run_task.refusing = AwsError("ClusterNotFoundException", "Cluster not found.")
    h.run_until(360)  # the failure at 300 s, evaluated once its minute has ended
    assert alarm_states(evaluator) == {"schedule-errors": "ALARM"}
