"""The scheduler controller: invokes EventBridge Scheduler schedules' targets when they are due.

Each pass (every :attr:`tick` seconds of the injected clock) reads the schedules whose invocation
or retry is due (``store.schedules.due``) and, for each:

- a due invocation moves the schedule on first (the next nominal time, its flexible-window due
  time; a one-time schedule has none), then runs the target once;
- an ECS target (``EcsParameters``) runs through ECS's own RunTask (``run_task``, the ECS
  provider's operation: validation, placement, events and the runtime all apply) with the request
  ``control.ecs_run_target`` builds and ``startedBy`` ``chronos-schedule/<name>``; other target
  types have no service here and fail without retry;
- a failed invocation (RunTask raised, or reported failures) is tried again per the target's
  RetryPolicy (``model.schedule_timing``); when tasks of a ``TaskCount`` started only in part,
  a retry asks for the ones missing. When retries run out the failure is logged (a DeadLetterConfig
  would receive it on AWS; no SQS exists here);
- a schedule with no invocation left and no retry pending is deleted when its
  ``ActionAfterCompletion`` is ``DELETE``.

A newer invocation replaces a retry still pending from an older one (logged). Missed invocations
(the server was down) are not caught up: the schedule runs once and continues from the present.
The last invocation's outcome is kept in the document (``_last``), which the API never shows.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ecslite.clock import Clock
from ecslite.control.ecs_run_target import RunOutcome, run_task_request, scheduler_started_by
from ecslite.model.schedule_timing import due_time, may_retry, nominal_after, retry_delay
from ecslite.periodic import Periodic
from ecslite.protocol.errors import AwsError
from ecslite.store import schedules as store
from ecslite.store.db import Database

if TYPE_CHECKING:
    from ecslite.control.target_invocations import InvocationRecorder

log = logging.getLogger(__name__)

# (account, region, RunTask parameters) -> RunTask's response; raises AwsError when RunTask does.
TaskRunner = Callable[[str, str, dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]
UNSUPPORTED = "UnsupportedTarget"
UNSUPPORTED_TEXT = "ecslite invokes only ECS targets (EcsParameters); {arn} is not one."


class SchedulerController(Periodic):
    name = "scheduler"
    failure = "scheduler pass failed"

    def __init__(
        self, db: Database, clock: Clock, run_task: TaskRunner, *, tick: float = 1.0, rng: random.Random | None = None
    ) -> None:
        super().__init__(clock, tick)
        self.db = db
        self.run_task = run_task
        self.rng = rng or random.Random()
        self.invocations = 0
        self.failures = 0
        # Publishes AWS/Scheduler metrics and keeps each schedule's recent invocations (set by wiring).
        self.recorder: InvocationRecorder | None = None

    async def reset(self) -> None:
        await self.restart()

    async def run_pass(self) -> None:
        await self.run_due()

    async def run_due(self) -> int:
        """Run every invocation and retry that is due; returns how many target calls were made."""
        now = self.clock.now()
        calls = 0
        for account, region, doc, next_run, attempt in store.due(self.db, now):
            if next_run is not None and next_run <= now:
                await self._invoke_due(account, region, doc, now)
                calls += 1
            elif attempt is not None and attempt <= now and doc.get("_pending"):
                await self._retry(account, region, doc, now, next_run)
                calls += 1
        return calls

    # -- steps -----------------------------------------------------------------------------------

    async def _invoke_due(self, account: str, region: str, doc: dict[str, Any], now: float) -> None:
        nominal = float(doc.get("_nominal") or now)
        if doc.get("_pending"):
            log.warning("schedule retry dropped for a newer invocation", extra={"schedule": doc["Arn"]})
        window = doc.get("FlexibleTimeWindow") or {}
        # Not before the window of the invocation that just ran, so a window longer than the
        # period does not skip the next one; not long before now, so a stopped server does not
        # catch up every missed invocation.
        span = float(window.get("MaximumWindowInMinutes") or 0) * 60
        following = nominal_after(doc, max(nominal, now - span - 1), float(doc.get("_origin") or now))
        doc["_nominal"] = following
        count = int((doc["Target"].get("EcsParameters") or {}).get("TaskCount") or 1)
        pending = {"nominal": nominal, "first": now, "retries": 0, "count": count}
        outcome = await self._call(account, region, doc, count)
        due = None if following is None else due_time(following, window, self.rng)
        self._settle(account, region, doc, pending, outcome, now, due)

    async def _retry(self, account: str, region: str, doc: dict[str, Any], now: float, next_run: float | None) -> None:
        pending = dict(doc["_pending"])
        pending["retries"] = int(pending["retries"]) + 1
        outcome = await self._call(account, region, doc, int(pending["count"]))
        self._settle(account, region, doc, pending, outcome, now, next_run)

    async def _call(self, account: str, region: str, doc: dict[str, Any], count: int) -> RunOutcome:
        target = doc["Target"]
        params = target.get("EcsParameters")
        self.invocations += 1
        if not params:
            return RunOutcome.refused(UNSUPPORTED, UNSUPPORTED_TEXT.format(arn=target["Arn"]))
        request = run_task_request(
            str(target["Arn"]),
            {**params, "TaskCount": count},
            started_by=scheduler_started_by(doc["Name"]),
            input_text=target.get("Input"),
        )
        try:
            response = self.run_task(account, region, request)
            if isinstance(response, Awaitable):
                response = await response
        except AwsError as error:
            return RunOutcome.refused(error.code, error.message)
        return RunOutcome.of(response)

    def _settle(
        self,
        account: str,
        region: str,
        doc: dict[str, Any],
        pending: dict[str, Any],
        outcome: RunOutcome,
        now: float,
        due: float | None,
    ) -> None:
        """Record the outcome, plan the retry or the next invocation, or delete a finished schedule."""
        doc["_last"] = {"at": round(now, 3), "tasks": outcome.task_arns, "error": outcome.reason or None}
        attempt: float | None = None
        doc.pop("_pending", None)
        if outcome.ok:
            log.info("schedule invoked its target", extra={"schedule": doc["Arn"], "tasks": len(outcome.task_arns)})
        else:
            self.failures += 1
            pending["count"] = max(1, int(pending["count"]) - len(outcome.task_arns))
            at = now + retry_delay(int(pending["retries"]) + 1)
            policy = doc["Target"].get("RetryPolicy")
            if outcome.error_code != UNSUPPORTED and may_retry(policy, int(pending["retries"]), pending["first"], at):
                doc["_pending"], attempt = pending, at
                log.warning(
                    "schedule invocation failed; will retry",
                    extra={"schedule": doc["Arn"], "reason": outcome.reason, "retry_at": round(at, 3)},
                )
            else:
                dlq = (doc["Target"].get("DeadLetterConfig") or {}).get("Arn")
                log.warning(
                    "schedule invocation failed for good",
                    extra={
                        "schedule": doc["Arn"],
                        "reason": outcome.reason,
                        "retries": pending["retries"],
                        # No SQS here: a dead-letter queue is named, never written to.
                        "dead_letter_queue": dlq or "none",
                    },
                )
        if self.recorder is not None:
            retries = int(pending["retries"])
            self.recorder.schedule_attempt(account, region, doc, attempt=retries + 1, outcome=outcome, retry_at=attempt)
        self._store(account, region, doc, due, attempt)

    def _store(self, account: str, region: str, doc: dict[str, Any], due: float | None, attempt: float | None) -> None:
        with self.db.transaction():
            current = store.get_by_arn(self.db, doc["Arn"])
            if current is None or current.get("LastModificationDate") != doc.get("LastModificationDate"):
                # Deleted or updated while the target ran: the new definition has its own timing.
                return
            if due is None and attempt is None and doc.get("ActionAfterCompletion") == "DELETE":
                store.delete_schedule(self.db, account, region, doc["GroupName"], doc["Name"])
                log.info("completed schedule deleted (ActionAfterCompletion DELETE)", extra={"schedule": doc["Arn"]})
                return
            store.put_schedule(self.db, account, region, doc, due, attempt)
