"""Target health on the fake clock: thresholds, reasons, matcher ranges, draining (§7.2)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from ecslite.clock import FakeClock
from ecslite.control import target_groups as targets
from ecslite.control.target_health import CheckResult, TargetHealth, _Counts, judge
from ecslite.control.task_activation import Target
from ecslite.providers.elbv2.matcher import parse_matcher
from ecslite.store import elbv2 as store
from ecslite.store.db import Database

ACCOUNT, REGION = "000000000000", "us-east-1"
LB = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/web/0123456789abcdef"
TG = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/api/0123456789abcdef"
LISTENER = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/web/0123456789abcdef/aaaaaaaaaaaaaaaa"
IP = "172.31.0.10"


class Backend:
    """What the fake targets answer: a status per (ip, port), or an error."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, int], CheckResult] = {}
        self.calls: list[tuple[str, int, str, float]] = []

    async def __call__(self, host: str, port: int, path: str, timeout: float) -> CheckResult:
        self.calls.append((host, port, path, timeout))
        return self.answers.get((host, port), CheckResult(200, None, 0.001))

    def answer(self, status: int | None, error: str | None = None, port: int = 8080) -> None:
        self.answers[(IP, port)] = CheckResult(status, error, 0.001)


def make_db(in_use: bool = True, **health: object) -> Database:
    db = Database()
    group = {
        "TargetGroupArn": TG,
        "TargetGroupName": "api",
        "Protocol": "HTTP",
        "Port": 8080,
        "VpcId": "vpc-1",
        "TargetType": "ip",
        "HealthCheckPort": "traffic-port",
        "HealthCheckEnabled": True,
        "HealthCheckIntervalSeconds": 10,
        "HealthCheckTimeoutSeconds": 5,
        "HealthyThresholdCount": 3,
        "UnhealthyThresholdCount": 2,
        "HealthCheckPath": "/health",
        "Matcher": {"HttpCode": "200-299"},
        **health,
    }
    with db.transaction():
        store.insert_target_group(db, ACCOUNT, REGION, group, {"deregistration_delay.timeout_seconds": "30"})
        store.put_target(
            db,
            ACCOUNT,
            REGION,
            store.TargetRow(TG, IP, 8080, f"{REGION}a", *targets.REGISTRATION_IN_PROGRESS, 0.0, None, None),
        )
        if in_use:
            store.set_links(db, LISTENER, LB, [TG])
    return db


def state(db: Database) -> tuple[str, str | None, str | None] | None:
    row = store.get_target(db, TG, IP, 8080)
    return (row.state, row.reason, row.description) if row else None


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def run(loop: asyncio.AbstractEventLoop, db: Database, backend: Backend, script: object) -> None:
    async def main() -> None:
        clock = FakeClock()
        checker = TargetHealth(db, clock, backend)
        await checker.start()
        try:
            await script(clock)  # type: ignore[operator]
        finally:
            await checker.stop()

    loop.run_until_complete(main())


def test_initial_target_is_healthy_after_one_passing_check(loop: asyncio.AbstractEventLoop) -> None:
    db, backend = make_db(), Backend()

    async def script(clock: FakeClock) -> None:
        await clock.run_for(0.5)
        assert state(db) == ("healthy", None, None)
        assert backend.calls[0] == (IP, 8080, "/health", 5.0)

    run(loop, db, backend, script)


def test_failures_keep_initial_then_make_it_unhealthy_at_the_threshold(loop: asyncio.AbstractEventLoop) -> None:
    db, backend = make_db(), Backend()
    backend.answer(404)

    async def script(clock: FakeClock) -> None:
        await clock.run_for(0.5)
        assert state(db) == targets.INITIAL_CHECKING
        await clock.run_for(10)
        assert state(db) == ("unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [404]")

    run(loop, db, backend, script)


def test_healthy_goes_unhealthy_after_the_threshold_and_back_after_healthy_count(
    loop: asyncio.AbstractEventLoop,
) -> None:
    db, backend = make_db(), Backend()

    async def script(clock: FakeClock) -> None:
        await clock.run_for(0.5)
        assert state(db) == ("healthy", None, None)
        backend.answer(None, "timeout")
        await clock.run_for(10)
        assert state(db) == ("healthy", None, None)  # one failure of two
        await clock.run_for(10)
        assert state(db) == ("unhealthy", "Target.Timeout", "Request timed out")
        backend.answer(None, "Connection refused")
        await clock.run_for(10)
        assert state(db) == ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")
        backend.answer(204)
        await clock.run_for(20)
        assert state(db)[0] == "unhealthy"  # two passes of three
        await clock.run_for(10)
        assert state(db) == ("healthy", None, None)

    run(loop, db, backend, script)


def test_group_without_load_balancer_is_not_checked(loop: asyncio.AbstractEventLoop) -> None:
    db, backend = make_db(in_use=False), Backend()

    async def script(clock: FakeClock) -> None:
        await clock.run_for(30)
        assert state(db) == targets.NOT_IN_USE
        assert backend.calls == []
        with db.transaction():
            store.set_links(db, LISTENER, LB, [TG])
        await clock.run_for(0.5)
        assert state(db) == ("healthy", None, None)

    run(loop, db, backend, script)


def test_deregistered_target_drains_for_the_delay_then_is_gone(loop: asyncio.AbstractEventLoop) -> None:
    db, backend = make_db(), Backend()
    groups = targets.ElbTargetGroups(db)

    async def script(clock: FakeClock) -> None:
        await clock.run_for(0.5)
        assert groups.healthy_targets(TG) == [(IP, 8080)]
        assert groups.deregister([Target(TG, IP, 8080)], clock.now()) == 30.0
        assert state(db) == targets.DRAINING
        assert groups.healthy_targets(TG) == []
        await clock.run_for(29)
        assert state(db) == targets.DRAINING
        await clock.run_for(1.5)
        assert state(db) is None
        assert groups.target_state(TG, IP, 8080) is None

    run(loop, db, backend, script)


def test_routing_fails_open_when_no_target_is_healthy() -> None:
    db = make_db()
    groups = targets.ElbTargetGroups(db)
    with db.transaction():
        store.put_target(
            db, ACCOUNT, REGION, store.TargetRow(TG, "172.31.0.11", 8080, None, "initial", None, None, 0.0, None, None)
        )
        store.set_target_state(db, TG, IP, 8080, "unhealthy", "Target.Timeout", "Request timed out")
    assert sorted(groups.healthy_targets(TG)) == [(IP, 8080), ("172.31.0.11", 8080)]
    with db.transaction():
        store.set_target_state(db, TG, "172.31.0.11", 8080, "healthy", None, None)
    assert groups.healthy_targets(TG) == [("172.31.0.11", 8080)]


def test_matcher_parsing() -> None:
    assert parse_matcher("200") == frozenset({200})
    assert parse_matcher("200,204") == frozenset({200, 204})
    assert parse_matcher("200-299") == frozenset(range(200, 300))
    assert parse_matcher("200,300-302") == frozenset({200, 300, 301, 302})
    for bad in ("199", "500", "299-200", "abc", "200,", "2000"):
        assert parse_matcher(bad) is None


def test_judge_counts_consecutive_results_only() -> None:
    counts = _Counts()
    assert judge("healthy", counts, False, ("R", "D"), 3, 3) is None
    assert judge("healthy", counts, True, ("R", "D"), 3, 3) is None
    assert judge("healthy", counts, False, ("R", "D"), 3, 3) is None
    assert judge("healthy", counts, False, ("R", "D"), 3, 3) is None
    assert judge("healthy", counts, False, ("R", "D"), 3, 3) == ("unhealthy", "R", "D")
