"""EventBridge rules without a server: target inputs (Input, InputPath, InputTransformer), the Logs
record, and the router matching events, firing schedules from the fake clock and delivering to
Logs, ECS and undeliverable targets."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ecslite.clock import FakeClock
from ecslite.control.event_rules import EventRouter
from ecslite.model.event_inputs import InputError, RuleRef, check_target_input, log_record, target_input
from ecslite.protocol.errors import AwsError
from ecslite.providers.base import RequestContext
from ecslite.providers.events.provider import EventsProvider
from ecslite.store.db import Database

ACCOUNT, REGION = "000000000000", "us-east-1"
CTX = RequestContext(ACCOUNT, REGION, "r", "events", "Op")
RULE = RuleRef("stopped", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/stopped")
GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/events/ecs"
CLUSTER_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/default"
SEED_PATTERN = {
    "source": ["aws.ecs"],
    "detail-type": ["ECS Task State Change"],
    "detail": {"lastStatus": ["STOPPED"], "stoppedReason": ["Essential container in task exited"]},
}


def task_event(last_status: str = "STOPPED", reason: str = "Essential container in task exited") -> dict[str, Any]:
    return {
        "version": "0",
        "id": "0c1d2e3f-0000-4000-8000-000000000001",
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": ACCOUNT,
        "time": "2026-01-02T03:04:05Z",
        "region": REGION,
        "resources": [f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/default/abc"],
        "detail": {
            "lastStatus": last_status,
            "stoppedReason": reason,
            "group": "family:web",
            "containers": [{"name": "app", "exitCode": 1}],
        },
    }


# -- inputs ----------------------------------------------------------------------------------------


def test_no_input_setting_delivers_the_event() -> None:
    event = task_event()
    assert json.loads(target_input({"Id": "t"}, event, RULE, 0)) == event


def test_input_is_delivered_unchanged_and_input_path_selects_a_part() -> None:
    event = task_event()
    assert target_input({"Input": '{"fixed": 1}'}, event, RULE, 0) == '{"fixed": 1}'
    assert json.loads(target_input({"InputPath": "$.detail.containers[0]"}, event, RULE, 0)) == {
        "name": "app",
        "exitCode": 1,
    }
    assert target_input({"InputPath": "$.detail-type"}, event, RULE, 0) == '"ECS Task State Change"'


def test_transformer_puts_values_as_json_outside_strings_and_as_text_inside() -> None:
    transformer = {
        "InputPathsMap": {"status": "$.detail.lastStatus", "code": "$.detail.containers[0].exitCode"},
        "InputTemplate": (
            '{"s": <status>, "c": <code>, "line": "task is <status> (exit <code>) by <aws.events.rule-name>"}'
        ),
    }
    delivered = target_input({"InputTransformer": transformer}, task_event(), RULE, 0)
    assert json.loads(delivered) == {"s": "STOPPED", "c": 1, "line": "task is STOPPED (exit 1) by stopped"}


def test_transformer_string_template_whole_event_and_unknown_names() -> None:
    transformer = {"InputPathsMap": {"group": "$.detail.group"}, "InputTemplate": '"<group> stopped <other>"'}
    assert target_input({"InputTransformer": transformer}, task_event(), RULE, 0) == '"family:web stopped <other>"'
    whole = {"InputTemplate": '{"event": <aws.events.event.json>, "rule": "<aws.events.rule-arn>"}'}
    delivered = json.loads(target_input({"InputTransformer": whole}, task_event(), RULE, 0))
    assert delivered == {"event": task_event(), "rule": RULE.arn}


def test_transformer_path_that_selects_nothing_is_null_or_empty() -> None:
    transformer = {"InputPathsMap": {"x": "$.detail.nothing"}, "InputTemplate": '{"a": <x>, "b": "[<x>]"}'}
    assert json.loads(target_input({"InputTransformer": transformer}, task_event(), RULE, 0)) == {"a": None, "b": "[]"}


@pytest.mark.parametrize(
    "target",
    [
        {"Input": "{}", "InputPath": "$.detail"},
        {"Input": "not json"},
        {"InputPath": "detail"},
        {"InputTransformer": {"InputPathsMap": {"aws.x": "$.detail"}, "InputTemplate": "<aws.x>"}},
        {"InputTransformer": {"InputPathsMap": {"a": "$..detail"}, "InputTemplate": "<a>"}},
    ],
)
def test_input_settings_that_cannot_be_applied_are_refused(target: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        check_target_input(target)


def test_log_record_takes_timestamp_and_message_from_that_form() -> None:
    event = task_event()
    event_ms = int(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC).timestamp() * 1000)
    assert log_record('{"a": 1}', event, 7) == (event_ms, '{"a": 1}')
    assert log_record('{"timestamp": 1234, "message": "hello"}', event, 7) == (1234, "hello")
    assert log_record('{"timestamp": "2026-01-02T03:04:05Z", "message": {"x": 1}}', event, 7) == (
        event_ms,
        '{"x":1}',
    )
    assert log_record("plain text", {"id": "x"}, 7) == (7, "plain text")


# -- the router ------------------------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.records: list[tuple[str, str, str, str, list[tuple[int, str]]]] = []
        self.groups = {"/aws/events/ecs"}

    async def append(self, account: str, region: str, group: str, stream: str, events: list[tuple[int, str]]) -> object:
        if group not in self.groups:
            raise AwsError("ResourceNotFoundException", "The specified log group does not exist.")
        self.records.append((account, region, group, stream, events))
        return None


class Runner:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def __call__(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(params)
        return {"tasks": [{"taskArn": f"arn:aws:ecs:{region}:{account}:task/default/t{len(self.requests)}"}]}


Script = Callable[[FakeClock, EventRouter, EventsProvider, Sink, Runner], Awaitable[None]]


def run(script: Script) -> None:
    async def main() -> None:
        clock, sink, runner = FakeClock(), Sink(), Runner()
        router = EventRouter(Database(), clock, None, logs=sink, run_task=runner)
        provider = EventsProvider(router.db, clock, router)
        await router.start()
        try:
            await script(clock, router, provider, sink, runner)
        finally:
            await router.stop()

    asyncio.run(main())


def test_seed_rule_sends_only_matching_task_events_to_its_log_group() -> None:
    async def script(clock: FakeClock, router: EventRouter, events: EventsProvider, sink: Sink, _: Runner) -> None:
        events.put_rule(CTX, {"Name": "stopped", "EventPattern": json.dumps(SEED_PATTERN)})
        events.put_targets(CTX, {"Rule": "stopped", "Targets": [{"Id": "logs", "Arn": GROUP_ARN}]})
        router.route(task_event(last_status="RUNNING"))
        router.route(task_event(reason="Task stopped by user"))
        router.route(task_event())
        await router.idle()
        assert len(sink.records) == 1
        account, region, group, stream, [(stamp, message)] = sink.records[0]
        assert (account, region, group, stream) == (ACCOUNT, REGION, "/aws/events/ecs", task_event()["id"])
        assert stamp == int(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC).timestamp() * 1000)
        assert json.loads(message) == task_event()
        assert router.counts[RULE.arn] == {"MatchedEvents": 1, "Invocations": 1}

    run(script)


def test_disabled_rule_and_missing_group_deliver_nothing(caplog: pytest.LogCaptureFixture) -> None:
    async def script(clock: FakeClock, router: EventRouter, events: EventsProvider, sink: Sink, _: Runner) -> None:
        events.put_rule(CTX, {"Name": "stopped", "EventPattern": json.dumps(SEED_PATTERN), "State": "DISABLED"})
        events.put_targets(CTX, {"Rule": "stopped", "Targets": [{"Id": "logs", "Arn": GROUP_ARN + "x"}]})
        router.route(task_event())
        await router.idle()
        assert router.counts == {}
        events.enable_rule(CTX, {"Name": "stopped"})
        router.route(task_event())
        router.route(task_event())
        await router.idle()
        assert sink.records == []
        assert router.counts[RULE.arn]["FailedInvocations"] == 2

    with caplog.at_level(logging.WARNING, logger="ecslite.control.event_rules"):
        run(script)
    said = [r for r in caplog.records if "not invoked" in r.getMessage()]
    assert len(said) == 1 and "ResourceNotFoundException" in said[0].getMessage()


def test_targets_ecslite_cannot_reach_count_as_failures_said_once(caplog: pytest.LogCaptureFixture) -> None:
    async def script(clock: FakeClock, router: EventRouter, events: EventsProvider, sink: Sink, _: Runner) -> None:
        events.put_rule(CTX, {"Name": "stopped", "EventPattern": json.dumps(SEED_PATTERN)})
        lambda_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:notify"
        events.put_targets(CTX, {"Rule": "stopped", "Targets": [{"Id": "fn", "Arn": lambda_arn}]})
        for _ in range(3):
            router.route(task_event())
        await router.idle()
        assert router.counts[RULE.arn] == {"MatchedEvents": 3, "Invocations": 3, "FailedInvocations": 3}

    with caplog.at_level(logging.WARNING, logger="ecslite.control.event_rules"):
        run(script)
    said = [r.getMessage() for r in caplog.records if "not invoked" in r.getMessage()]
    assert len(said) == 1 and "lambda" in said[0]


def test_rate_rule_fires_from_the_clock_with_a_scheduled_event() -> None:
    async def script(clock: FakeClock, router: EventRouter, events: EventsProvider, sink: Sink, _: Runner) -> None:
        start = clock.now()
        events.put_rule(CTX, {"Name": "tick", "ScheduleExpression": "rate(5 minutes)"})
        events.put_targets(CTX, {"Rule": "tick", "Targets": [{"Id": "logs", "Arn": GROUP_ARN}]})
        await clock.run_for(299, step=1)
        await router.idle()
        assert sink.records == []
        await clock.run_for(302, step=1)  # to start + 601 s: two firings, at +300 and +600
        await router.idle()
        events_seen = [json.loads(r[4][0][1]) for r in sink.records]
        assert [e["detail-type"] for e in events_seen] == ["Scheduled Event", "Scheduled Event"]
        first = events_seen[0]
        assert (first["source"], first["detail"], first["resources"]) == (
            "aws.events",
            {},
            [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/tick"],
        )
        expected = dt.datetime.fromtimestamp(start + 300, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert first["time"] == expected
        events.disable_rule(CTX, {"Name": "tick"})
        await clock.run_for(900, step=5)
        await router.idle()
        assert len(sink.records) == 2

    run(script)


def test_cron_rule_fires_at_its_utc_minute() -> None:
    async def script(clock: FakeClock, router: EventRouter, events: EventsProvider, sink: Sink, _: Runner) -> None:
        now = dt.datetime.fromtimestamp(clock.now(), dt.UTC)
        minute = (now + dt.timedelta(minutes=2)).replace(second=0, microsecond=0)
        cron = f"cron({minute.minute} {minute.hour} * * ? *)"
        events.put_rule(CTX, {"Name": "daily", "ScheduleExpression": cron})
        events.put_targets(CTX, {"Rule": "daily", "Targets": [{"Id": "logs", "Arn": GROUP_ARN}]})
        await clock.run_for(180, step=1)
        await router.idle()
        assert [json.loads(r[4][0][1])["time"] for r in sink.records] == [minute.strftime("%Y-%m-%dT%H:%M:%SZ")]

    run(script)


def test_ecs_target_runs_the_task_with_the_rules_started_by_and_overrides() -> None:
    async def script(clock: FakeClock, router: EventRouter, events: EventsProvider, sink: Sink, run: Runner) -> None:
        events.put_rule(CTX, {"Name": "stopped", "EventPattern": json.dumps(SEED_PATTERN)})
        target = {
            "Id": "ecs",
            "Arn": CLUSTER_ARN,
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/events",
            "EcsParameters": {"TaskDefinitionArn": "cleanup:1", "TaskCount": 2, "LaunchType": "FARGATE"},
            "InputTransformer": {
                "InputPathsMap": {"group": "$.detail.group"},
                "InputTemplate": (
                    '{"containerOverrides": [{"name": "app", "environment": [{"name": "G", "value": <group>}]}]}'
                ),
            },
        }
        events.put_targets(CTX, {"Rule": "stopped", "Targets": [target]})
        router.route(task_event())
        await router.idle()
        [request] = run.requests
        assert request["cluster"] == CLUSTER_ARN
        assert (request["taskDefinition"], request["count"], request["launchType"]) == ("cleanup:1", 2, "FARGATE")
        assert request["startedBy"] == "events-rule/stopped"
        assert request["overrides"]["containerOverrides"][0]["environment"] == [{"name": "G", "value": "family:web"}]
        assert router.counts[RULE.arn] == {"MatchedEvents": 1, "Invocations": 1}

    run(script)


def test_put_events_routes_custom_events_and_refuses_bad_entries() -> None:
    async def script(clock: FakeClock, router: EventRouter, events: EventsProvider, sink: Sink, _: Runner) -> None:
        pattern = {"source": ["my.app"], "detail": {"kind": [{"prefix": "order-"}]}}
        events.put_rule(CTX, {"Name": "orders", "EventPattern": json.dumps(pattern)})
        events.put_targets(CTX, {"Rule": "orders", "Targets": [{"Id": "logs", "Arn": GROUP_ARN}]})
        entries = [
            {"Source": "my.app", "DetailType": "x", "Detail": '{"kind": "order-created"}'},
            {"Source": "my.app", "DetailType": "x", "Detail": '{"kind": "refund"}'},
            {"Source": "my.app", "DetailType": "x", "Detail": "[1]"},
            {"Source": "aws.ecs", "DetailType": "x", "Detail": "{}"},
            {"DetailType": "x", "Detail": "{}"},
        ]
        result = events.put_events(CTX, {"Entries": entries})
        await router.idle()
        assert result["FailedEntryCount"] == 3
        assert [sorted(e) for e in result["Entries"][:2]] == [["EventId"], ["EventId"]]
        assert [e.get("ErrorCode") for e in result["Entries"][2:]] == [
            "MalformedDetail",
            "NotAuthorizedForSourceException",
            "InvalidArgument",
        ]
        [(_, _, _, stream, [(_, message)])] = sink.records
        assert stream == result["Entries"][0]["EventId"]
        assert json.loads(message)["detail"] == {"kind": "order-created"}

    run(script)


class Feed:
    """A stand-in for the events feed: events appended by the test, read after a cursor."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.reads = 0
        self.arrived = asyncio.Event()

    def last_seq(self) -> int:
        return len(self.events)

    async def wait(self, after: int, timeout: float) -> None:
        if len(self.events) <= after:
            self.arrived.clear()
            await self.arrived.wait()

    def read(self, after: int, pattern: Any, limit: int = 1000) -> tuple[list[dict[str, Any]], int]:
        self.reads += 1
        return self.events[after:], len(self.events)

    def append(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.arrived.set()


def test_feed_events_are_read_only_while_a_pattern_rule_is_enabled() -> None:
    async def main() -> None:
        clock, sink, feed = FakeClock(), Sink(), Feed()
        router = EventRouter(Database(), clock, feed, logs=sink, run_task=Runner())
        events = EventsProvider(router.db, clock, router)
        await router.start()
        try:
            feed.append(task_event())
            await asyncio.sleep(0.01)
            assert feed.reads == 0  # no rule: the events' documents are never built
            events.put_rule(CTX, {"Name": "stopped", "EventPattern": json.dumps(SEED_PATTERN)})
            events.put_targets(CTX, {"Rule": "stopped", "Targets": [{"Id": "logs", "Arn": GROUP_ARN}]})
            feed.append({**task_event(), "id": "second"})
            await asyncio.sleep(0.01)
            await router.idle()
            assert feed.reads == 1
            assert [record[3] for record in sink.records] == ["second"]
        finally:
            await router.stop()

    asyncio.run(main())


# -- retries of ECS targets ------------------------------------------------------------------------


class FlakyRunner(Runner):
    """RunTask that refuses the first ``refusals`` calls, then starts ``started`` tasks per call."""

    def __init__(self, refusals: int, started: int | None = None) -> None:
        super().__init__()
        self.refusals = refusals
        self.started = started
        self.times: list[float] = []
        self.clock: FakeClock | None = None

    def __call__(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self.clock is not None
        self.times.append(self.clock.now())
        self.requests.append(params)
        if len(self.requests) <= self.refusals:
            raise AwsError("InvalidParameterException", "No Container Instances were found.")
        n = params["count"] if self.started is None else min(self.started, params["count"])
        tasks = [
            {"taskArn": f"arn:aws:ecs:{region}:{account}:task/default/t{len(self.requests)}-{i}"} for i in range(n)
        ]
        # As RunTask does: the tasks it could not start are listed as failures.
        failures = [{"arn": params["cluster"], "reason": "RESOURCE:MEMORY"}] * (params["count"] - n)
        return {"tasks": tasks, "failures": failures}


def run_retries(
    runner: FlakyRunner, policy: dict[str, Any] | None, task_count: int, seconds: float
) -> tuple[EventRouter, Any]:
    from ecslite.control.target_invocations import InvocationRecorder
    from ecslite.store import invocations as history

    async def main() -> EventRouter:
        clock = FakeClock()
        runner.clock = clock
        router = EventRouter(Database(), clock, None, logs=Sink(), run_task=runner)
        router.recorder = InvocationRecorder(router.db, clock)
        events = EventsProvider(router.db, clock, router)
        await router.start()
        try:
            events.put_rule(CTX, {"Name": "stopped", "EventPattern": json.dumps(SEED_PATTERN)})
            target: dict[str, Any] = {
                "Id": "ecs",
                "Arn": CLUSTER_ARN,
                "EcsParameters": {"TaskDefinitionArn": "job:1", "TaskCount": task_count},
            }
            if policy is not None:
                target["RetryPolicy"] = policy
            events.put_targets(CTX, {"Rule": "stopped", "Targets": [target]})
            listed = events.list_targets_by_rule(CTX, {"Rule": "stopped"})["Targets"]
            assert listed[0].get("RetryPolicy") == policy
            router.route(task_event())
            await router.idle()
            await clock.run_for(seconds, step=0.25)
            await router.idle()
        finally:
            await router.stop()
        return router

    router = asyncio.run(main())
    return router, history.recent(router.db, RULE.arn, 100)


def test_failing_ecs_target_is_retried_with_growing_intervals_until_it_starts() -> None:
    runner = FlakyRunner(refusals=4)
    router, entries = run_retries(runner, None, 1, 1000)
    gaps = [round(b - a) for a, b in zip(runner.times, runner.times[1:], strict=False)]
    assert gaps == [30, 60, 120, 240]  # the Scheduler's back-off: 30 s doubling (capped at 300)
    newest = entries[0]
    assert (newest["outcome"], newest["attempt"], len(newest["taskArns"])) == ("STARTED", 5, 1)
    assert [e["outcome"] for e in entries[1:]] == ["RETRYING"] * 4
    assert router.counts[RULE.arn] == {"MatchedEvents": 1, "Invocations": 5}
    assert not router.retries


def test_partial_start_retries_only_the_missing_tasks() -> None:
    runner = FlakyRunner(refusals=0, started=1)
    router, entries = run_retries(runner, None, 3, 100)
    assert [r["count"] for r in runner.requests] == [3, 2, 1]
    assert entries[0]["outcome"] == "STARTED" and entries[0]["attempt"] == 3
    assert "FailedInvocations" not in router.counts[RULE.arn]


def test_retry_attempt_limit_ends_as_failed() -> None:
    runner = FlakyRunner(refusals=100)
    router, entries = run_retries(runner, {"MaximumRetryAttempts": 2}, 1, 2000)
    assert len(runner.requests) == 3
    assert (entries[0]["outcome"], entries[0]["attempt"]) == ("FAILED", 3)
    assert router.counts[RULE.arn]["FailedInvocations"] == 1
    assert router.counts[RULE.arn]["Invocations"] == 3


def test_retry_event_age_limit_ends_as_failed() -> None:
    runner = FlakyRunner(refusals=100)
    # 30 + 60 + 120 = 210 s after the first try is within 300 s; the next (+240) is not.
    router, entries = run_retries(runner, {"MaximumEventAgeInSeconds": 300}, 1, 3000)
    assert len(runner.requests) == 4
    assert (entries[0]["outcome"], entries[0]["attempt"]) == ("FAILED", 4)
    assert router.counts[RULE.arn]["FailedInvocations"] == 1


def test_pending_retries_past_the_cap_drop_the_oldest(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from ecslite.control import event_rules

    monkeypatch.setattr(event_rules, "RETRY_LIMIT", 2)

    async def script(clock: FakeClock, router: EventRouter, events: EventsProvider, sink: Sink, _: Runner) -> None:
        def refuse(account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
            raise AwsError("InvalidParameterException", "No Container Instances were found.")

        router.run_task = refuse
        events.put_rule(CTX, {"Name": "stopped", "EventPattern": json.dumps(SEED_PATTERN)})
        target = {"Id": "ecs", "Arn": CLUSTER_ARN, "EcsParameters": {"TaskDefinitionArn": "job:1"}}
        events.put_targets(CTX, {"Rule": "stopped", "Targets": [target]})
        for n in range(3):
            router.route({**task_event(), "id": f"e{n}"})
            await router.idle()
        assert [d.event["id"] for _, d in router.retries] == ["e1", "e2"]
        assert router.retries_dropped == 1
        assert router.counts[RULE.arn]["FailedInvocations"] == 1

    with caplog.at_level(logging.WARNING):
        run(script)
    assert "too many retries pending" in caplog.text
