"""EventBridge Scheduler's timing and retries with the fake clock: the scheduler provider and its
controller on one in-memory store, with a RunTask stand-in that records each request and answers
as told (the real RunTask path is exercised by tests/integration/test_scheduler.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from typing import Any

import pytest

from ecslite.clock import FakeClock
from ecslite.control.scheduler import SchedulerController
from ecslite.protocol.errors import AwsError
from ecslite.providers.base import RequestContext
from ecslite.providers.scheduler.provider import SchedulerProvider
from ecslite.store import schedules as store
from ecslite.store.db import Database

CLUSTER = "arn:aws:ecs:us-east-1:000000000000:cluster/jobs"
ROLE = "arn:aws:iam::000000000000:role/scheduler"
START = 1_750_000_000.0  # 2025-06-15T15:06:40Z
CTX = RequestContext("000000000000", "us-east-1", "t", "scheduler", "CreateSchedule")


class FakeRunTask:
    """RunTask's stand-in: records requests; answers with ``count`` tasks unless told to fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, dict[str, Any]]] = []
        self.fail_next = 0
        self.started_per_call: int | None = None
        self.clock: FakeClock | None = None

    def __call__(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self.clock is not None
        self.calls.append((self.clock.now(), params))
        if self.fail_next:
            self.fail_next -= 1
            raise AwsError("ClusterNotFoundException", "Cluster not found.")
        started = params["count"] if self.started_per_call is None else self.started_per_call
        tasks = [{"taskArn": f"task-{len(self.calls)}-{i}"} for i in range(started)]
        failures = [{"arn": CLUSTER, "reason": "RESOURCE:MEMORY"}] * (params["count"] - started)
        return {"tasks": tasks, "failures": failures}

    @property
    def times(self) -> list[float]:
        return [t - START for t, _ in self.calls]


class Harness:
    def __init__(self, seed: int = 7) -> None:
        self.db = Database(None)
        self.clock = FakeClock(START)
        self.provider = SchedulerProvider(self.db, self.clock, random.Random(seed))
        self.runner = FakeRunTask()
        self.runner.clock = self.clock
        self.controller = SchedulerController(self.db, self.clock, self.runner, rng=random.Random(seed))

    def create(self, name: str = "job", expression: str = "rate(5 minutes)", **extra: Any) -> None:
        target = {"Arn": CLUSTER, "RoleArn": ROLE, "EcsParameters": {"TaskDefinitionArn": "job:1"}}
        target.update(extra.pop("Target", {}))
        params = {
            "Name": name,
            "ScheduleExpression": expression,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": target,
            **extra,
        }
        self.provider.create_schedule(CTX, params)

    def run_until(self, seconds: float) -> None:
        """Move the clock to each due time up to START + ``seconds``, running what is due there."""
        end = START + seconds
        while True:
            due = store.earliest(self.db)
            if due is None or due > end:
                break
            self.clock.advance(max(0.0, due - self.clock.now()))
            assert asyncio.run(self.controller.run_due()) > 0
        self.clock.advance(max(0.0, end - self.clock.now()))
        asyncio.run(self.controller.run_due())


def test_rate_schedule_fires_every_period_from_creation() -> None:
    h = Harness()
    h.create()
    h.run_until(299)
    assert h.runner.calls == []
    h.run_until(901)
    assert h.runner.times == [300, 600, 900]
    request = h.runner.calls[0][1]
    assert request["cluster"] == CLUSTER and request["startedBy"] == "chronos-schedule/job" and request["count"] == 1


def test_cron_is_evaluated_in_the_schedule_time_zone() -> None:
    h = Harness()
    # 09:00 in Tokyo is 00:00 UTC; the fake clock starts at 15:06:40 UTC.
    h.create(expression="cron(0 9 * * ? *)", ScheduleExpressionTimezone="Asia/Tokyo")
    midnight = dt.datetime(2025, 6, 16, 0, 0, tzinfo=dt.UTC).timestamp()
    row = h.db.query_one("SELECT next_run FROM sch_schedules")
    assert row is not None and row["next_run"] == midnight
    h.run_until(12 * 3600)
    ((at, _),) = h.runner.calls
    assert at == midnight
    row = h.db.query_one("SELECT next_run FROM sch_schedules")
    assert row is not None and row["next_run"] == midnight + 86400


def test_flexible_window_puts_each_run_inside_the_window() -> None:
    h = Harness(seed=3)
    h.create(expression="rate(1 hour)", FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15})
    h.run_until(5 * 3600 + 16 * 60)
    offsets = [t % 3600 for t in h.runner.times]
    assert len(offsets) == 5
    # Each run falls within [nominal, nominal + 15 min), not all at the start.
    assert all(0 <= o < 15 * 60 for o in offsets)
    assert len({round(o) for o in offsets}) > 1 and max(offsets) > 60


def test_flexible_window_requires_its_maximum() -> None:
    h = Harness()
    with pytest.raises(AwsError) as caught:
        h.create(FlexibleTimeWindow={"Mode": "FLEXIBLE"})
    assert caught.value.code == "ValidationException"
    with pytest.raises(AwsError):
        h.create(FlexibleTimeWindow={"Mode": "OFF", "MaximumWindowInMinutes": 5})


def test_start_and_end_dates_bound_a_recurring_schedule() -> None:
    h = Harness()
    h.create(expression="rate(1 hour)", StartDate=START + 7200, EndDate=START + 7200 + 3 * 3600)
    h.run_until(12 * 3600)
    assert h.runner.times == [7200, 7200 + 3600, 7200 + 7200, 7200 + 3 * 3600]
    row = h.db.query_one("SELECT next_run FROM sch_schedules")
    assert row is not None and row["next_run"] is None


def test_one_time_schedule_ignores_start_date_and_deletes_itself_when_asked() -> None:
    h = Harness()
    at = dt.datetime.fromtimestamp(START + 600, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    h.create("once", f"at({at})", StartDate=START + 86400, ActionAfterCompletion="DELETE")
    h.create("kept", f"at({at})")
    h.run_until(601)
    assert h.runner.times == [600, 600]
    assert store.get_schedule(h.db, CTX.account, CTX.region, "default", "once") is None
    kept = store.get_schedule(h.db, CTX.account, CTX.region, "default", "kept")
    assert kept is not None and kept["_last"]["tasks"] == ["task-2-0"]
    h.run_until(3600)
    assert len(h.runner.calls) == 2


def test_one_time_schedule_in_another_time_zone() -> None:
    h = Harness()
    local = dt.datetime.fromtimestamp(START + 120, dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=-7)))
    # America/Los_Angeles is UTC-7 in June.
    h.create("la", f"at({local.strftime('%Y-%m-%dT%H:%M:%S')})", ScheduleExpressionTimezone="America/Los_Angeles")
    h.run_until(121)
    assert h.runner.times == [120]


def test_failed_invocation_retries_with_backoff_until_attempts_run_out() -> None:
    h = Harness()
    h.runner.fail_next = 10
    h.create(expression="rate(1 day)", Target={"RetryPolicy": {"MaximumRetryAttempts": 2}})
    h.run_until(86400 + 200)
    # The invocation, then retries 30 s and 60 s after each failure; then no more until tomorrow.
    assert h.runner.times == [86400, 86430, 86490]
    doc = store.get_schedule(h.db, CTX.account, CTX.region, "default", "job")
    assert doc is not None and "_pending" not in doc and "ClusterNotFoundException" in doc["_last"]["error"]


def test_retries_stop_at_the_maximum_event_age_and_a_success_ends_them() -> None:
    h = Harness()
    h.runner.fail_next = 10
    h.create(expression="rate(1 day)", Target={"RetryPolicy": {"MaximumEventAgeInSeconds": 100}})
    h.run_until(86400 + 600)
    assert h.runner.times == [86400, 86430, 86490]  # a third retry (at +210 s) would be past 100 s
    h2 = Harness()
    h2.runner.fail_next = 1
    h2.create(expression="rate(1 day)")
    h2.run_until(86400 + 600)
    assert h2.runner.times == [86400, 86430]


def test_a_retry_asks_only_for_the_tasks_that_did_not_start() -> None:
    h = Harness()
    h.runner.started_per_call = 1
    h.create(expression="rate(1 day)", Target={"EcsParameters": {"TaskDefinitionArn": "job:1", "TaskCount": 3}})
    h.run_until(86400 + 100)
    assert [p["count"] for _, p in h.runner.calls] == [3, 2, 1]


def test_disabled_schedule_never_fires_until_enabled() -> None:
    h = Harness()
    h.create(State="DISABLED")
    h.run_until(1200)
    assert h.runner.calls == []
    target = {"Arn": CLUSTER, "RoleArn": ROLE, "EcsParameters": {"TaskDefinitionArn": "job:1"}}
    h.provider.update_schedule(
        CTX,
        {
            "Name": "job",
            "ScheduleExpression": "rate(5 minutes)",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": target,
        },
    )
    h.run_until(1200 + 300)
    assert h.runner.times == [1500]


def test_input_overrides_reach_run_task() -> None:
    h = Harness()
    h.create(Target={"Input": '{"containerOverrides": [{"name": "app", "command": ["report"]}]}'})
    h.run_until(300)
    assert h.runner.calls[0][1]["overrides"] == {"containerOverrides": [{"name": "app", "command": ["report"]}]}


def test_target_without_ecs_parameters_fails_once_without_retry() -> None:
    h = Harness()
    queue = "arn:aws:sqs:us-east-1:000000000000:jobs"
    h.create(Target={"Arn": queue, "EcsParameters": None, "SqsParameters": {}})
    h.run_until(400)
    assert h.runner.calls == []
    doc = store.get_schedule(h.db, CTX.account, CTX.region, "default", "job")
    assert doc is not None and "UnsupportedTarget" in doc["_last"]["error"] and "_pending" not in doc
    assert h.controller.invocations == 1 and h.controller.failures == 1
