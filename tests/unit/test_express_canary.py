"""An ECS Express Mode service's update deployed as ECS deploys it, a canary, on an in-process server
(fake runtime, fake clock) through its own operations: the host-header rule's weights go 95/5 to the
second target group, stay so for the 3-minute canary bake while Describe shows both configurations,
then all of it moves to the new tasks; the old ones stop after the deployment's 3-minute bake; Delete
takes both target groups down. Errors of the canary's tasks, counted by the local ALB and published
as its metrics, set off the rollback alarm and put all traffic back on the old group."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from ecslite.clock import FakeClock
from ecslite.config import Settings
from ecslite.providers.base import RequestContext
from ecslite.providers.calls import Calls
from ecslite.runtime.fake import FakeRuntime
from ecslite.server import Server
from ecslite.store import express_services as store
from tests.fixtures.thread_work import count_thread_work, settle

ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/"
SHOP = {
    "serviceName": "shop",
    "executionRoleArn": ROLE + "exec",
    "infrastructureRoleArn": ROLE + "infra",
    "primaryContainer": {"image": "example/shop:1"},
}


@contextlib.asynccontextmanager
async def running(tmp_path: Path) -> AsyncIterator[tuple[Server, FakeClock, Calls]]:
    """An in-process server on the fake runtime and a fake clock, and its operations' caller."""
    clock = FakeClock()
    count_thread_work()
    server = Server(
        Settings(data_dir=tmp_path, ephemeral=True, runtime="fake"), clock=clock, runtime=FakeRuntime(clock)
    )
    await server.start()
    try:
        yield server, clock, Calls(server.providers, RequestContext(ACCOUNT, "us-east-1", "test", "ecs", "test"))
    finally:
        await server.stop()


async def weights(call: Calls, rule: str) -> dict[str, int]:
    found = (await call("elbv2", "DescribeRules", {"RuleArns": [rule]}))["Rules"][0]
    return {g["TargetGroupArn"]: g["Weight"] for g in found["Actions"][0]["ForwardConfig"]["TargetGroups"]}


async def images(call: Calls, arn: str) -> list[str]:
    shown = (await call("ecs", "DescribeExpressGatewayService", {"serviceArn": arn}))["service"]
    return sorted(c["primaryContainer"]["image"] for c in shown["activeConfigurations"])


async def service(call: Calls) -> dict[str, Any]:
    found: dict[str, Any] = (await call("ecs", "DescribeServices", {"cluster": "default", "services": ["shop"]}))[
        "services"
    ][0]
    return found


async def deployment(call: Calls, arn: str) -> dict[str, Any]:
    found = await call("ecs", "DescribeServiceDeployments", {"serviceDeploymentArns": [arn]})
    return dict(found["serviceDeployments"][0])


async def until(clock: FakeClock, check: Callable[[], Any], limit: float) -> float:
    """Let the clock run in half seconds until ``check`` (awaited) holds; the time it first held."""
    deadline = clock.now() + limit
    while not await check():
        assert clock.now() < deadline, "condition not reached in time"
        await settle()
        await clock.run_for(0.5, 0.5)
    return clock.now()


async def create_shop(call: Calls) -> tuple[str, dict[str, Any], str, str, str]:
    """Creates the SHOP Express service: its ARN, its load balancer entry, its primary and alternate
    target groups and its production listener rule."""
    arn = (await call("ecs", "CreateExpressGatewayService", dict(SHOP)))["service"]["serviceArn"]
    [balancer] = (await service(call))["loadBalancers"]
    advanced = balancer["advancedConfiguration"]
    return (
        arn,
        balancer,
        balancer["targetGroupArn"],
        advanced["alternateTargetGroupArn"],
        advanced["productionListenerRule"],
    )


def test_update_is_a_canary_with_ecs_express_percent_and_bakes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (_server, clock, call):
            arn, _, primary, alternate, rule = await create_shop(call)
            first = (await service(call))["currentServiceDeployment"]
            # A new service has no old tasks to share with: all its traffic stays on the first group.
            await until(clock, lambda: _status(call, first, "SUCCESSFUL"), 600)
            assert await weights(call, rule) == {primary: 100, alternate: 0}

            update = {"serviceArn": arn, "primaryContainer": {"image": "example/shop:2"}}
            await call("ecs", "UpdateExpressGatewayService", update)
            current = (await service(call))["currentServiceDeployment"]
            canary = await until(clock, lambda: _weighted(call, rule, {primary: 95, alternate: 5}), 300)
            assert (await deployment(call, current))["lifecycleStage"] == "PRODUCTION_TRAFFIC_SHIFT"
            assert await images(call, arn) == ["example/shop:1", "example/shop:2"]
            shifted = await until(clock, lambda: _weighted(call, rule, {primary: 0, alternate: 100}), 600)
            assert 179.0 <= shifted - canary <= 185.0  # the 3-minute canary bake, by the clock
            # Both configurations serve until the deployment's own 3-minute bake is over.
            assert await images(call, arn) == ["example/shop:1", "example/shop:2"]
            done = await until(clock, lambda: _status(call, current, "SUCCESSFUL"), 600)
            assert done - shifted >= 180.0
            assert await images(call, arn) == ["example/shop:2"]

            await call("ecs", "DeleteExpressGatewayService", {"serviceArn": arn})
            await until(clock, lambda: _no_groups(call), 900)

    asyncio.run(scenario())


async def _status(call: Calls, arn: str, status: str) -> bool:
    return bool((await deployment(call, arn))["status"] == status)


async def _weighted(call: Calls, rule: str, expected: dict[str, int]) -> bool:
    return await weights(call, rule) == expected


async def _alarm_state(call: Calls, name: str) -> str:
    return str((await call("cloudwatch", "DescribeAlarms", {"AlarmNames": [name]}))["MetricAlarms"][0]["StateValue"])


async def _no_groups(call: Calls) -> bool:
    return not (await call("elbv2", "DescribeTargetGroups", {}))["TargetGroups"]


def test_a_service_stored_before_canaries_gets_its_second_group_at_its_next_update(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (server, clock, call):
            arn, balancer, primary, _, rule = await create_shop(call)
            # What such a service looked like: rolling, one group, a rule forwarding to it alone.
            plain = {k: balancer[k] for k in ("targetGroupArn", "containerName", "containerPort")}
            rolling = {"strategy": "ROLLING", "maximumPercent": 200, "minimumHealthyPercent": 100}
            await call(
                "ecs",
                "UpdateService",
                {"service": "shop", "loadBalancers": [plain], "deploymentConfiguration": rolling},
            )
            forward = [{"Type": "forward", "TargetGroupArn": primary}]
            await call("elbv2", "ModifyRule", {"RuleArn": rule, "Actions": forward})
            stored = store.get(server.db, ACCOUNT, "us-east-1", arn)
            assert stored is not None
            old = stored["resources"].pop("alternateTargetGroupArn")
            with server.db.transaction():
                store.put(server.db, ACCOUNT, "us-east-1", stored)
            await call("elbv2", "DeleteTargetGroup", {"TargetGroupArn": old})
            await clock.run_for(60, 0.5)

            update = {"serviceArn": arn, "primaryContainer": {"image": "example/shop:2"}}
            await call("ecs", "UpdateExpressGatewayService", update)
            [balancer] = (await service(call))["loadBalancers"]
            alternate = balancer["advancedConfiguration"]["alternateTargetGroupArn"]
            assert (await service(call))["deploymentConfiguration"]["strategy"] == "CANARY"
            # The rollback alarm is put again over both groups, the new one included.
            [alarm] = (await service(call))["deploymentConfiguration"]["alarms"]["alarmNames"]
            [shown] = (await call("cloudwatch", "DescribeAlarms", {"AlarmNames": [alarm]}))["MetricAlarms"]
            watched = {
                d["Value"]
                for q in shown["Metrics"]
                if "MetricStat" in q
                for d in q["MetricStat"]["Metric"]["Dimensions"]
                if d["Name"] == "TargetGroup"
            }
            assert watched == {arn.split(":", 5)[5] for arn in (primary, alternate)}
            await until(clock, lambda: _weighted(call, rule, {primary: 95, alternate: 5}), 300)
            await until(clock, lambda: _weighted(call, rule, {primary: 0, alternate: 100}), 600)

    asyncio.run(scenario())


def test_errors_during_the_canary_set_off_the_rollback_alarm_and_traffic_returns_to_the_old_group(
    tmp_path: Path,
) -> None:
    """The canary's group answers 500 to its 5 % (5 % of all responses, over the alarm's 1 %): the
    local ALB's counts, published as ``AWS/ApplicationELB`` metrics, put the rollback alarm in ALARM
    and the deployment rolls back with all traffic on the old group."""

    async def scenario() -> None:
        async with running(tmp_path) as (server, clock, call):
            arn, _, primary, alternate, rule = await create_shop(call)
            [alarm] = (await service(call))["deploymentConfiguration"]["alarms"]["alarmNames"]
            lb = (await call("elbv2", "DescribeTargetGroups", {"TargetGroupArns": [primary]}))["TargetGroups"][0][
                "LoadBalancerArns"
            ][0]
            first = (await service(call))["currentServiceDeployment"]
            await until(clock, lambda: _status(call, first, "SUCCESSFUL"), 600)

            await call("ecs", "UpdateExpressGatewayService", {"serviceArn": arn, "primaryContainer": {"image": "b:2"}})
            current = (await service(call))["currentServiceDeployment"]
            canary = await until(clock, lambda: _weighted(call, rule, {primary: 95, alternate: 5}), 300)
            counts = server.local_alb.meter
            assert counts is not None

            async def serve_until_alarm() -> bool:
                # Half a second of traffic as the rule splits it: 19 answered by the old tasks, 1 by
                # the canary's, with 500.
                balancer = counts.balancer(lb)
                for _ in range(19):
                    balancer.target_response(primary, 200, 0.01)
                balancer.target_response(alternate, 500, 0.01)
                return await _alarm_state(call, alarm) == "ALARM"

            alarmed = await until(clock, serve_until_alarm, 300)
            assert alarmed - canary < 180.0  # within the canary bake: the canary never got all traffic
            await until(clock, lambda: _status(call, current, "ROLLBACK_SUCCESSFUL"), 600)
            assert await weights(call, rule) == {primary: 100, alternate: 0}
            assert (await deployment(call, current))["alarms"]["triggeredAlarmNames"] == [alarm]
            assert await images(call, arn) == ["example/shop:1"]

    asyncio.run(scenario())
