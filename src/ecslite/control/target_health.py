"""Target health: one check loop per target group a load balancer uses (§7.2, §7.5).

Each loop sends ``GET <HealthCheckPath>`` with ``User-Agent: ELB-HealthChecker/2.0`` to every
registered, non-draining target (its ip, or 127.0.0.1 for instance targets, whose host ports are
published on this host: **local model**) on the traffic port or the configured one, one connection
per check, every ``HealthCheckIntervalSeconds``, each bounded by ``HealthCheckTimeoutSeconds``, at
most :data:`CONCURRENCY` checks at once across groups.

State machine per target (counters in memory, states in the store):
- ``initial``: one pass → ``healthy``; failures → ``initial``/``Elb.InitialHealthChecking`` until
  ``UnhealthyThresholdCount`` in a row → ``unhealthy``.
- ``healthy`` → ``unhealthy`` after ``UnhealthyThresholdCount`` consecutive failures, with the last
  failure's reason (``Target.ResponseCodeMismatch`` ``Health checks failed with these codes: [404]``,
  ``Target.Timeout`` ``Request timed out``, ``Target.FailedHealthChecks`` ``Health checks failed``).
- ``unhealthy`` → ``healthy`` after ``HealthyThresholdCount`` consecutive passes.
Groups without a load balancer are not checked (their targets are ``unused``); draining targets are
removed once their delay has passed. Everything waits on the server's Clock, so tests run on a fake
one; the checks' own timeouts are real time (they are network I/O).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ecslite.clock import Clock
from ecslite.control import target_groups as targets
from ecslite.providers.elbv2.matcher import parse_matcher
from ecslite.store import elbv2 as store
from ecslite.store.db import Change, Database

log = logging.getLogger(__name__)

USER_AGENT = "ELB-HealthChecker/2.0"
CONCURRENCY = 32
IDLE_WAKE_SECONDS = 60.0
TIMEOUT = ("Target.Timeout", "Request timed out")
FAILED = ("Target.FailedHealthChecks", "Health checks failed")
_WATCHED = {store.TARGET_KIND, store.TARGET_GROUP_KIND, "*"}


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's outcome: the HTTP status, or ``error`` (``timeout`` or what failed)."""

    status: int | None
    error: str | None
    latency: float


Prober = Callable[[str, int, str, float], Awaitable[CheckResult]]


async def http_probe(host: str, port: int, path: str, timeout: float) -> CheckResult:
    """``GET path`` on a new connection to ``host:port``; only the status line is read."""
    started = time.monotonic()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode()
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            await writer.drain()
            line = await reader.readline()
    except TimeoutError:
        return CheckResult(None, "timeout", time.monotonic() - started)
    except OSError as failure:
        return CheckResult(None, failure.strerror or type(failure).__name__, time.monotonic() - started)
    finally:
        if writer is not None:
            writer.close()
    parts = line.decode("latin-1").split()
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return CheckResult(None, "malformed response", time.monotonic() - started)
    return CheckResult(int(parts[1]), None, time.monotonic() - started)


@dataclass(slots=True)
class _Counts:
    passes: int = 0
    fails: int = 0


def judge(
    current: str, counts: _Counts, passed: bool, failure: tuple[str, str], healthy_after: int, unhealthy_after: int
) -> tuple[str, str | None, str | None] | None:
    """The target's new (state, reason, description) after one check, or None to keep it."""
    if passed:
        counts.fails = 0
        counts.passes += 1
        if current == "initial" or (current == "unhealthy" and counts.passes >= healthy_after):
            counts.passes = 0
            return ("healthy", None, None)
        return None
    counts.passes = 0
    counts.fails += 1
    if current in ("initial", "healthy", "unhealthy") and counts.fails >= unhealthy_after:
        return ("unhealthy", *failure)
    if current == "initial":
        return targets.INITIAL_CHECKING
    return None


def failure_of(result: CheckResult) -> tuple[str, str]:
    if result.status is not None:
        return ("Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{result.status}]")
    return TIMEOUT if result.error == "timeout" else FAILED


class TargetHealth:
    """The health checker: a server component (start/stop/reset) driven by store changes."""

    name = "target-health"

    def __init__(self, db: Database, clock: Clock, prober: Prober = http_probe, concurrency: int = CONCURRENCY) -> None:
        self.db = db
        self.clock = clock
        self.prober = prober
        self._limit = asyncio.Semaphore(concurrency)
        self._counts: dict[tuple[str, str, int], _Counts] = {}
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        db.subscribe(self._on_changes)

    async def start(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise(), name="target-health")

    async def stop(self) -> None:
        tasks = [*self._loops.values(), *([self._supervisor] if self._supervisor else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops.clear()
        self._supervisor = None

    async def reset(self) -> None:
        for task in self._loops.values():
            task.cancel()
        self._loops.clear()
        self._counts.clear()

    def _on_changes(self, changes: Sequence[Change]) -> None:
        if any(change.kind in _WATCHED for change in changes):
            self._wake.set()

    async def _supervise(self) -> None:
        while True:
            self._wake.clear()
            try:
                self.sync()
            except Exception:
                log.exception("target health sync failed")
            following = store.next_drain_end(self.db)
            delay = IDLE_WAKE_SECONDS if following is None else max(0.0, following - self.clock.now())
            waiter = asyncio.ensure_future(self._wake.wait())
            sleeper = asyncio.ensure_future(self.clock.sleep(min(delay, IDLE_WAKE_SECONDS)))
            try:
                await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                sleeper.cancel()

    def sync(self) -> None:
        """Remove drained targets, settle states to their groups, and run a loop per checked group."""
        targets.remove_drained(self.db, self.clock.now())
        present: set[tuple[str, str, int]] = set()
        for arn in store.groups_with_targets(self.db):
            targets.settle_states(self.db, arn)
            rows = store.targets_of(self.db, arn)
            present.update((arn, t.id, t.port) for t in rows)
            if not any(t.state in ("initial", "healthy", "unhealthy") for t in rows):
                continue
            loop = self._loops.get(arn)
            if loop is None or loop.done():
                self._loops[arn] = asyncio.create_task(self._check_group(arn), name=f"target-health {arn}")
        for key in set(self._counts) - present:
            del self._counts[key]

    async def _check_group(self, arn: str) -> None:
        due = self.clock.now()
        while True:
            group = store.get_target_group(self.db, arn)
            if group is None or not group.get("LoadBalancerArns") or not group.get("HealthCheckEnabled", True):
                return
            rows = [t for t in store.targets_of(self.db, arn) if t.state in ("initial", "healthy", "unhealthy")]
            if not rows:
                return
            results = await asyncio.gather(*(self._probe(group, row) for row in rows))
            self._apply(group, rows, results)
            # Rounds keep to a fixed schedule, so slow checks or late wake-ups do not stretch it.
            due = max(due + float(group["HealthCheckIntervalSeconds"]), self.clock.now())
            await self.clock.sleep(due - self.clock.now())

    async def _probe(self, group: store.Doc, row: store.TargetRow) -> CheckResult:
        host = row.id if group["TargetType"] == "ip" else "127.0.0.1"
        configured = str(group["HealthCheckPort"])
        port = row.port if configured == "traffic-port" else int(configured)
        async with self._limit:
            return await self.prober(host, port, group["HealthCheckPath"], float(group["HealthCheckTimeoutSeconds"]))

    def _apply(self, group: store.Doc, rows: Sequence[store.TargetRow], results: Sequence[CheckResult]) -> None:
        arn = group["TargetGroupArn"]
        codes = parse_matcher(group["Matcher"]["HttpCode"]) or frozenset({200})
        now = self.clock.now()
        with self.db.transaction():
            for row, result in zip(rows, results, strict=True):
                current = store.get_target(self.db, arn, row.id, row.port)
                if current is None or current.state != row.state:
                    continue  # deregistered or re-registered while the check ran
                counts = self._counts.setdefault((arn, row.id, row.port), _Counts())
                passed = result.status is not None and result.status in codes
                verdict = judge(
                    row.state,
                    counts,
                    passed,
                    failure_of(result),
                    int(group["HealthyThresholdCount"]),
                    int(group["UnhealthyThresholdCount"]),
                )
                if verdict is None and row.state == "unhealthy" and not passed:
                    verdict = ("unhealthy", *failure_of(result))  # the reason follows the latest failure
                if verdict is not None and (verdict[0], verdict[1], verdict[2]) != (
                    row.state,
                    row.reason,
                    row.description,
                ):
                    store.set_target_state(self.db, arn, row.id, row.port, *verdict)
                check = {"at": now, "status": result.status, "error": result.error, "latencyMs": result.latency * 1000}
                store.set_last_check(self.db, arn, row.id, row.port, check)
