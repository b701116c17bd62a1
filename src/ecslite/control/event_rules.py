"""EventBridge rules at work on ecslite's event bus (spec/ecs.md §12.1): events in, targets invoked.

Events come from two places: ECS's own events, read from the events feed after they were
committed (``providers.events_feed``), and the custom events PutEvents accepted (``publish``).
Each is matched against the ENABLED rules with a pattern of its account and region; every target
of a matching rule gets one delivery. Scheduled rules fire from the injected clock: at each
``next_run`` the rule's targets get a ``Scheduled Event``, and the next time is written back.

Delivery is asynchronous: matching only queues, one worker task delivers, so neither the ECS
reconcilers (whose commits feed the events) nor an API call ever waits for a target. What a
target receives is the event, or what its Input, InputPath or InputTransformer make of it
(``model.event_inputs``). Targets that do something here:

- a CloudWatch Logs log group ARN: the input is written to ecslite's log store, in the stream
  named after the event's id (unverified: the stream naming EventBridge uses), stamped with the
  event's time. The group is not created: EventBridge's API does not create it (the console does),
  so a missing group is a failed invocation.
- an ECS cluster ARN with EcsParameters: RunTask through ECS's own path
  (``control.ecs_run_target``), ``startedBy`` ``events-rule/<rule>``. When RunTask fails or starts
  fewer tasks than asked, the missing ones are retried per the target's RetryPolicy (defaults 185
  attempts, 86400 s of event age) with the Scheduler's back-off (``model.schedule_timing``: 30 s
  doubling to 5 min, without AWS's jitter so the injected clock decides). Pending retries wait in
  memory, at most :data:`RETRY_LIMIT`; past it the oldest is given up (counted, logged). Only a
  final failure counts as ``FailedInvocations``; every attempt counts as ``Invocations``.

Any other target (Lambda, SQS, SNS, ...) is accepted by PutTargets but cannot be delivered: each
invocation counts as failed and ecslite's log says why, once per rule and target.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ecslite.clock import Clock
from ecslite.control.ecs_run_target import RunOutcome, rule_started_by, run_task_request
from ecslite.model.event_inputs import RuleRef, log_record, target_input
from ecslite.model.event_patterns import PatternError, matches, parse_pattern
from ecslite.model.scaling import ScheduleError, next_run, parse_schedule
from ecslite.model.schedule_timing import may_retry, retry_delay
from ecslite.protocol.errors import AwsError
from ecslite.store import event_rules as rule_store
from ecslite.store.db import Database

if TYPE_CHECKING:
    from ecslite.control.target_invocations import InvocationRecorder

log = logging.getLogger(__name__)

BUS = "default"
QUEUE_LIMIT = 10_000  # deliveries waiting; beyond it new ones are dropped and counted
FEED_WAIT = 30.0
MAX_PAUSE = 60.0  # the scheduler looks at the store at least this often
RETRY_LIMIT = 1000  # ECS retries waiting; beyond it the oldest is given up


class EventSource(Protocol):
    """The committed ECS events (``providers.events_feed.EventsFeed``)."""

    def last_seq(self) -> int: ...

    async def wait(self, after: int, timeout: float) -> None: ...

    def read(
        self, after: int, pattern: Mapping[str, Any] | None, limit: int = ...
    ) -> tuple[list[dict[str, Any]], int]: ...


class LogSink(Protocol):
    """ecslite's CloudWatch Logs store (``LogsProvider.append``)."""

    async def append(
        self, account: str, region: str, group: str, stream: str, events: list[tuple[int, str]]
    ) -> object: ...


# (account, region, RunTask parameters) -> RunTask's response; raises AwsError when RunTask refuses.
TaskRunner = Callable[[str, str, dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Delivery:
    rule: RuleRef
    target: dict[str, Any]
    event: dict[str, Any]
    attempt: int = 1
    first: float | None = None  # when the first attempt was made (a retry's event age counts from it)
    count: int | None = None  # tasks still to start (a retry asks only for the missing ones)


@functools.lru_cache(maxsize=1024)
def _pattern(text: str) -> dict[str, Any] | None:
    try:
        return parse_pattern(text)
    except PatternError:
        return None  # PutRule refused it; a stored one that no longer parses matches nothing


class EventRouter:
    """Matches events against rules, fires scheduled rules and delivers to targets."""

    name = "event-rules"

    def __init__(
        self, db: Database, clock: Clock, feed: EventSource | None, *, logs: LogSink, run_task: TaskRunner
    ) -> None:
        self.db = db
        self.clock = clock
        self.feed = feed
        self.logs = logs
        self.run_task = run_task
        self.queue: deque[Delivery] = deque()
        self.counts: dict[str, dict[str, int]] = {}  # rule ARN -> Invocations, FailedInvocations, ...
        self.dropped = 0
        self.retries: deque[tuple[float, Delivery]] = deque()  # (due, delivery), oldest first
        self.retries_dropped = 0
        # Publishes the counts as AWS/Events metrics and keeps ECS deliveries' history (set by wiring).
        self.recorder: InvocationRecorder | None = None
        self._in_flight: Delivery | None = None
        self._any_pattern: bool | None = None  # cached: an ENABLED rule with a pattern exists
        self._rules: dict[tuple[str, str], list[tuple[rule_store.Rule, dict[str, Any]]]] = {}
        self._warned: set[tuple[str, str, str]] = set()
        self._queued = asyncio.Event()
        self._rules_moved = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._retry_added = asyncio.Event()

    async def start(self) -> None:
        self._queued = asyncio.Event()
        self._rules_moved = asyncio.Event()
        self._retry_added = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._retry_forever(), name="event-rules-retry"),
            asyncio.create_task(self._deliver_forever(), name="event-rules-deliver"),
            asyncio.create_task(self._schedule_forever(), name="event-rules-schedule"),
        ]
        if self.feed is not None:
            self._tasks.append(asyncio.create_task(self._follow_feed(self.feed), name="event-rules-feed"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def reset(self) -> None:
        self.queue.clear()
        self.retries.clear()
        self.retries_dropped = 0
        self.counts.clear()
        self._rules.clear()
        self._any_pattern = None
        self._warned.clear()
        self.dropped = 0

    # -- events in -----------------------------------------------------------------------------

    def publish(self, events: Sequence[dict[str, Any]]) -> None:
        """Events PutEvents accepted (called on the loop)."""
        for event in events:
            self.route(event)

    def rules_changed(self) -> None:
        self._rules.clear()
        self._any_pattern = None
        self._rules_moved.set()

    def route(self, event: dict[str, Any]) -> None:
        """Queue a delivery to each target of each enabled rule whose pattern ``event`` matches."""
        for rule, pattern in self._rules_of(str(event.get("account", "")), str(event.get("region", ""))):
            if matches(pattern, event):
                self._count(rule.arn, "MatchedEvents")
                self._queue_targets(rule, event)

    def _listening(self) -> bool:
        if self._any_pattern is None:
            self._any_pattern = rule_store.any_enabled_pattern(self.db)
        return self._any_pattern

    def _rules_of(self, account: str, region: str) -> list[tuple[rule_store.Rule, dict[str, Any]]]:
        key = (account, region)
        found = self._rules.get(key)
        if found is None:
            found = []
            for rule in rule_store.enabled(self.db, account, region, BUS):
                text = rule.doc.get("EventPattern")
                pattern = _pattern(text) if text else None
                if pattern is not None:
                    found.append((rule, pattern))
            self._rules[key] = found
        return found

    def _queue_targets(self, rule: rule_store.Rule, event: dict[str, Any]) -> None:
        ref = RuleRef(rule.name, rule.arn)
        for target in rule.targets:
            if len(self.queue) >= QUEUE_LIMIT:
                self.dropped += 1
                self._warn_once(rule.arn, target["Id"], "queue", "event delivery queue full: invocation dropped")
                continue
            self.queue.append(Delivery(ref, target, event))
        self._queued.set()

    async def _follow_feed(self, feed: EventSource) -> None:
        cursor = feed.last_seq()  # rules see events from now on, as on AWS
        while True:
            await feed.wait(cursor, FEED_WAIT)
            if not self._listening():
                # No rule could match: skip the events without building their documents, which the
                # feed otherwise does only for readers (every task change would pay for it here).
                cursor = feed.last_seq()
                continue
            events, cursor = feed.read(cursor, None, 1000)
            for event in events:
                try:
                    self.route(event)
                except Exception:
                    log.exception("routing an ECS event to rules failed", extra={"event": event.get("id")})

    # -- schedules -----------------------------------------------------------------------------

    async def _schedule_forever(self) -> None:
        while True:
            try:
                self.fire_due()
            except Exception:
                log.exception("firing scheduled rules failed")
            upcoming = rule_store.next_due(self.db)
            pause = MAX_PAUSE if upcoming is None else min(MAX_PAUSE, max(0.0, upcoming - self.clock.now()))
            await self._pause(pause)

    def fire_due(self) -> int:
        """Fire every scheduled rule that is due; returns how many fired."""
        now = self.clock.now()
        fired = 0
        for rule in rule_store.due(self.db, now):
            try:
                schedule = parse_schedule(rule.doc["ScheduleExpression"])
            except (ScheduleError, KeyError):
                rule_store.set_next_run(self.db, rule, None)
                continue
            following = next_run(schedule, now, origin=rule.doc.get("_origin", now))
            rule_store.set_next_run(self.db, rule, following)
            if rule.state != "DISABLED":
                self._count(rule.arn, "TriggeredRules")
                self._queue_targets(rule, _scheduled_event(rule, rule.next_run or now))
                fired += 1
        return fired

    async def _pause(self, seconds: float) -> None:
        """Sleep on the clock until ``seconds`` pass or a rule changes."""
        self._rules_moved.clear()
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waker = asyncio.ensure_future(self._rules_moved.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()

    # -- delivery ------------------------------------------------------------------------------

    async def _deliver_forever(self) -> None:
        while True:
            if not self.queue:
                self._queued.clear()
                await self._queued.wait()
                continue
            delivery = self._in_flight = self.queue.popleft()
            try:
                ok = await self.deliver(delivery)
            except Exception:
                log.exception("event delivery failed", extra={"rule": delivery.rule.arn})
                ok = False
            finally:
                self._in_flight = None
            self._count(delivery.rule.arn, "Invocations")
            if ok is False:
                self._count(delivery.rule.arn, "FailedInvocations")

    async def deliver(self, delivery: Delivery) -> bool | None:
        """Invoke one target; True when it took the event, None when it failed and a retry is planned."""
        arn = str(delivery.target["Arn"])
        parts = arn.split(":", 5)
        service = parts[2] if len(parts) == 6 else ""
        if service == "logs" and parts[5].startswith("log-group:"):
            return await self._to_logs(delivery, parts[4], parts[3], parts[5].removeprefix("log-group:"))
        if service == "ecs" and parts[5].startswith("cluster/") and delivery.target.get("EcsParameters"):
            return await self._to_ecs(delivery, parts[4], parts[3])
        reason = f"ecslite cannot deliver to {service or 'this kind of'} targets ({arn}); invocations count as failed"
        self._warn_once(delivery.rule.arn, delivery.target["Id"], "kind", reason)
        return False

    async def _to_logs(self, delivery: Delivery, account: str, region: str, group: str) -> bool:
        group = group.removesuffix(":*")
        delivered = target_input(delivery.target, delivery.event, delivery.rule, self.clock.now())
        record = log_record(delivered, delivery.event, int(self.clock.now() * 1000))
        try:
            result = await self.logs.append(account, region, group, str(delivery.event["id"]), [record])
        except AwsError as error:
            self._warn_once(delivery.rule.arn, delivery.target["Id"], error.code, f"{error.code}: {error.message}")
            return False
        # PutLogEvents' rules apply: a record too old for the group or too far ahead is rejected.
        rejected = getattr(result, "rejected", None)
        if rejected:
            self._warn_once(
                delivery.rule.arn, delivery.target["Id"], "rejected", f"CloudWatch Logs rejected it: {rejected}"
            )
            return False
        return True

    async def _to_ecs(self, delivery: Delivery, account: str, region: str) -> bool | None:
        now = self.clock.now()
        params = delivery.target["EcsParameters"]
        count = delivery.count if delivery.count is not None else int(params.get("TaskCount") or 1)
        delivered = target_input(delivery.target, delivery.event, delivery.rule, now)
        request = run_task_request(
            str(delivery.target["Arn"]),
            {**params, "TaskCount": count},
            started_by=rule_started_by(delivery.rule.name),
            input_text=delivered,
        )
        try:
            response = self.run_task(account, region, request)
            if isinstance(response, Awaitable):
                response = await response
            outcome = RunOutcome.of(response)
        except AwsError as error:
            outcome = RunOutcome.refused(error.code, error.message)
        retry_at: float | None = None
        if not outcome.ok:
            self._warn_once(delivery.rule.arn, delivery.target["Id"], "runtask", f"RunTask: {outcome.reason}")
            first = now if delivery.first is None else delivery.first
            at = now + retry_delay(delivery.attempt)
            if may_retry(delivery.target.get("RetryPolicy"), delivery.attempt - 1, first, at):
                missing = max(1, count - len(outcome.task_arns))
                retry = Delivery(delivery.rule, delivery.target, delivery.event, delivery.attempt + 1, first, missing)
                self._plan_retry(at, retry)
                retry_at = at
        if self.recorder is not None:
            self.recorder.rule_target(
                delivery.rule.arn,
                delivery.rule.name,
                delivery.target,
                outcome,
                attempt=delivery.attempt,
                retry_at=retry_at,
            )
        if outcome.ok:
            return True
        return None if retry_at is not None else False

    # -- retries -------------------------------------------------------------------------------

    def _plan_retry(self, at: float, delivery: Delivery) -> None:
        if len(self.retries) >= RETRY_LIMIT:
            _, oldest = self.retries.popleft()
            self.retries_dropped += 1
            self._count(oldest.rule.arn, "FailedInvocations")
            log.warning(
                "event target retry given up: too many retries pending",
                extra={"rule": oldest.rule.arn, "target": oldest.target["Id"], "limit": RETRY_LIMIT},
            )
        self.retries.append((at, delivery))
        self._retry_added.set()

    def queue_due_retries(self) -> int:
        """Move the retries that are due to the delivery queue; returns how many."""
        now = self.clock.now()
        due = [item for item in self.retries if item[0] <= now]
        if due:
            self.retries = deque(item for item in self.retries if item[0] > now)
            self.queue.extend(delivery for _, delivery in due)
            self._queued.set()
        return len(due)

    async def _retry_forever(self) -> None:
        # Its own task: waiting for a retry never holds up matching or first deliveries.
        while True:
            self.queue_due_retries()
            self._retry_added.clear()
            if not self.retries:
                await self._retry_added.wait()
                continue
            pause = max(0.0, min(at for at, _ in self.retries) - self.clock.now())
            sleeper = asyncio.ensure_future(self.clock.sleep(pause))
            waker = asyncio.ensure_future(self._retry_added.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (sleeper, waker):
                    task.cancel()

    # -- bookkeeping ---------------------------------------------------------------------------

    def _count(self, rule_arn: str, metric: str) -> None:
        counts = self.counts.setdefault(rule_arn, {})
        counts[metric] = counts.get(metric, 0) + 1
        if self.recorder is not None:
            self.recorder.rule_count(rule_arn, metric)

    def _warn_once(self, rule_arn: str, target_id: str, kind: str, reason: str) -> None:
        key = (rule_arn, target_id, kind)
        if key in self._warned:
            return
        self._warned.add(key)
        log.warning(
            "EventBridge target not invoked: %s (said once per rule and target)",
            reason,
            extra={"rule": rule_arn, "target": target_id},
        )

    async def idle(self) -> None:
        """Return once nothing waits for delivery (tests)."""
        while self.queue or self._in_flight is not None:
            await asyncio.sleep(0)


def _scheduled_event(rule: rule_store.Rule, at: float) -> dict[str, Any]:
    """The event a scheduled rule sends: ``Scheduled Event`` from ``aws.events`` naming the rule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": rule.account,
        "time": dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": rule.region,
        "resources": [rule.arn],
        "detail": {},
    }
