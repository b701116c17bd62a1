"""Canary and linear deployments (``strategy: CANARY`` / ``LINEAR``) on the fake runtime and a fake
clock, with the real ELBv2 provider on the same store: the production rule's weights at each step
and the bake times between (DescribeRules), the stage DescribeServiceDeployments shows meanwhile,
rollbacks in the middle of the shift (a deployment alarm, StopServiceDeployment) that put all
traffic back on blue, an update that interrupts a shift, the plan itself, and CreateService's checks."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from ecslite.model.traffic_shift import shift_plan, split_weights
from tests.unit.test_service_blue_green import Alb, addresses, blue_service, green_update, record, refusal, until
from tests.unit.test_service_deployment_alarms import alarm, move, watching
from tests.unit.test_service_harness import ServiceHarness, run

ALL_BLUE = {"blue": 100, "green": 0}
ALL_GREEN = {"blue": 0, "green": 100}


def canary(percent: float, bake: int, **extra: Any) -> dict[str, Any]:
    shift = {"canaryPercent": percent, "canaryBakeTimeInMinutes": bake}
    return {"strategy": "CANARY", "bakeTimeInMinutes": 0, "canaryConfiguration": shift, **extra}


def linear(percent: float, bake: int, **extra: Any) -> dict[str, Any]:
    shift = {"stepPercent": percent, "stepBakeTimeInMinutes": bake}
    return {"strategy": "LINEAR", "bakeTimeInMinutes": 0, "linearConfiguration": shift, **extra}


async def shifts(h: ServiceHarness, alb: Alb, arn: str) -> list[tuple[dict[str, int], float]]:
    """Each production weighting the deployment goes through until it ends, with the clock's time
    it was first seen (polled every half second of the fake clock)."""
    seen: list[tuple[dict[str, int], float]] = []

    def watch() -> bool:
        weights = alb.weights(alb.production)
        if not seen or seen[-1][0] != weights:
            seen.append((weights, h.clock.now()))
        return bool(record(h, arn)["status"] != "IN_PROGRESS")

    await until(h, alb, watch, limit=1200)
    return seen


def test_the_plans_and_their_weights() -> None:
    plan = shift_plan(canary(5.5, 3))
    assert plan is not None and plan.shares == (55, 1000) and plan.bake_seconds == 180.0
    assert [split_weights(s) for s in plan.shares] == [(55, 945), (100, 0)]
    plan = shift_plan({"strategy": "CANARY"})  # the documented defaults: 5 % for 10 minutes
    assert plan is not None and plan.shares == (50, 1000) and plan.bake_seconds == 600.0
    assert [split_weights(s) for s in plan.shares] == [(5, 95), (100, 0)]
    full = shift_plan(canary(100, 5))
    assert full is not None and full.shares == (1000,)
    plan = shift_plan(linear(33, 1))
    assert plan is not None and plan.shares == (330, 660, 990, 1000) and plan.bake_seconds == 60.0
    plan = shift_plan({"strategy": "LINEAR"})  # 10 % every 6 minutes
    assert plan is not None and len(plan.shares) == 10 and plan.bake_seconds == 360.0
    assert shift_plan({"strategy": "BLUE_GREEN"}) is None


def test_canary_sends_its_share_to_green_for_the_canary_bake_then_the_rest() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alb = Alb(h)
        first = await blue_service(h, alb, canary(10, 2))
        # A new service has no blue to share with: its first deployment took production at once.
        assert alb.weights(alb.production) == ALL_BLUE
        arn = await green_update(h)
        green_id = h.describe()["deployments"][0]["id"]
        at_canary: list[str] = []

        def canary_seen() -> bool:
            if alb.weights(alb.production) == {"blue": 90, "green": 10}:
                at_canary.append(record(h, arn)["lifecycleStage"])
                return True
            return False

        await until(h, alb, canary_seen, limit=300)
        assert at_canary == ["PRODUCTION_TRAFFIC_SHIFT"] and alb.weights(alb.test) == ALL_GREEN
        assert len(addresses(h, first)) == 2 and len(addresses(h, green_id)) == 2  # both serve
        assert alb.members(alb.green) == addresses(h, green_id)
        seen = [(w, t) for w, t in await shifts(h, alb, arn)]
        assert [w for w, _ in seen] == [{"blue": 90, "green": 10}, ALL_GREEN]
        assert 119.0 <= seen[1][1] - seen[0][1] <= 125.0  # the canary bake, by the clock
        assert record(h, arn)["status"] == "SUCCESSFUL" and not addresses(h, first)
        events = h.events()
        assert (
            f"(service web) (deployment {green_id}) shifted 10% of production traffic to the new service revision."
            in (events)
        )
        assert h.describe()["deploymentConfiguration"]["canaryConfiguration"] == {
            "canaryPercent": 10,
            "canaryBakeTimeInMinutes": 2,
        }

    run(scenario)


def test_linear_steps_with_a_step_bake_between_and_none_after_the_last() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alb = Alb(h)
        first = await blue_service(h, alb, linear(33, 1, bakeTimeInMinutes=1))
        arn = await green_update(h)
        seen = await shifts(h, alb, arn)
        assert [w for w, _ in seen] == [
            ALL_BLUE,
            {"blue": 67, "green": 33},
            {"blue": 34, "green": 66},
            {"blue": 1, "green": 99},
            ALL_GREEN,
        ]
        times = [t for _, t in seen[1:]]
        assert all(59.0 <= b - a <= 65.0 for a, b in pairwise(times))
        done = record(h, arn)
        assert done["status"] == "SUCCESSFUL" and not addresses(h, first)
        # The deployment's bake time follows the last step (no step bake after 100 %).
        assert done["finishedAt"] - times[-1] >= 60.0

    run(scenario)


def test_an_alarm_in_a_step_bake_puts_all_production_traffic_back_on_blue() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alb = Alb(h)
        alarm(h, "errors")
        first = await blue_service(h, alb, linear(20, 5, **watching("errors")))
        arn = await green_update(h)
        green_id = h.describe()["deployments"][0]["id"]
        await until(h, alb, lambda: alb.weights(alb.production) == {"blue": 80, "green": 20}, limit=300)
        await h.run(5 * 60.0 + 5.0)  # one step bake later
        assert alb.weights(alb.production) == {"blue": 60, "green": 40}
        move(h, "errors", "ALARM")
        await h.settle()
        assert alb.weights(alb.production) == ALL_BLUE and alb.weights(alb.test) == ALL_BLUE
        assert h.describe()["deployments"][0]["id"] == first
        await until(h, alb, lambda: record(h, arn)["status"] == "ROLLBACK_SUCCESSFUL", limit=120)
        assert not addresses(h, green_id) and len(addresses(h, first)) == 2
        await h.run(10 * 60.0, step=10.0)  # no later step moves traffic again
        assert alb.weights(alb.production) == ALL_BLUE

    run(scenario)


def test_stop_during_the_canary_bake_rolls_back_to_blue() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alb = Alb(h)
        first = await blue_service(h, alb, canary(5.5, 10))
        arn = await green_update(h)
        await until(h, alb, lambda: alb.weights(alb.production) == {"blue": 945, "green": 55}, limit=300)
        h.ecs.stop_service_deployment(h.ctx, {"serviceDeploymentArn": arn, "stopType": "ROLLBACK"})
        await h.settle()
        assert alb.weights(alb.production) == ALL_BLUE
        await until(h, alb, lambda: record(h, arn)["status"] == "ROLLBACK_SUCCESSFUL", limit=120)
        assert h.describe()["deployments"][0]["id"] == first and len(addresses(h, first)) == 2

    run(scenario)


def test_an_update_mid_shift_gives_production_back_to_the_heavier_group_first() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alb = Alb(h)
        first = await blue_service(h, alb, canary(10, 30))
        second = await green_update(h)
        second_id = h.describe()["deployments"][0]["id"]
        await until(h, alb, lambda: alb.weights(alb.production) == {"blue": 90, "green": 10}, limit=300)
        third = await green_update(h, canary(50, 1), environment=[{"name": "V", "value": "3"}])
        third_id = h.describe()["deployments"][0]["id"]
        assert record(h, second)["status"] == "STOPPED"
        await h.settle()
        # Blue served 90 %: it takes it all back before the interrupted green tasks stop.
        assert alb.weights(alb.production) == ALL_BLUE and not addresses(h, second_id)
        seen = await shifts(h, alb, third)
        assert [w for w, _ in seen] == [ALL_BLUE, {"blue": 50, "green": 50}, ALL_GREEN]
        assert record(h, third)["status"] == "SUCCESSFUL"
        assert alb.members(alb.green) == addresses(h, third_id) and not addresses(h, first)

    run(scenario)


@pytest.mark.parametrize(
    ("deployment", "member"),
    [
        (canary(0, 1), "canaryPercent"),
        (canary(0.05, 1), "canaryPercent"),
        (canary(5.55, 1), "canaryPercent"),
        (canary(100.1, 1), "canaryPercent"),
        (canary(5, 1441), "canaryBakeTimeInMinutes"),
        (canary(5, -1), "canaryBakeTimeInMinutes"),
        (linear(2.9, 1), "stepPercent"),
        (linear(101, 1), "stepPercent"),
        (linear(10, 1441), "stepBakeTimeInMinutes"),
        ({**linear(10, 1), "bakeTimeInMinutes": 1441}, "bakeTimeInMinutes"),
    ],
)
def test_create_service_checks_the_canary_and_linear_configuration(deployment: dict[str, Any], member: str) -> None:
    async def scenario(h: ServiceHarness) -> None:
        alb = Alb(h)
        h.register(health=False, portMappings=[{"containerPort": 8080}])
        code, message = refusal(
            lambda: h.create(loadBalancers=alb.load_balancers(), deploymentConfiguration=deployment)
        )
        assert code == "InvalidParameterException" and message.startswith(member)
        assert h.ecs.list_services(h.ctx, {})["serviceArns"] == []

    run(scenario)


def test_the_strategies_need_what_blue_green_needs_and_echo_their_defaults() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alb = Alb(h)
        h.register(health=False, portMappings=[{"containerPort": 8080}])
        plain = [{"targetGroupArn": alb.blue, "containerName": "app", "containerPort": 8080}]
        for strategy in ("CANARY", "LINEAR"):
            given = {"strategy": strategy}
            code, message = refusal(lambda: h.create(loadBalancers=plain, deploymentConfiguration=given))  # noqa: B023
            assert code == "InvalidParameterException" and "advancedConfiguration" in message
        hook = {"targetType": "PAUSE", "lifecycleStages": ["PRODUCTION_TRAFFIC_SHIFT"]}
        code, message = refusal(
            lambda: h.create(
                loadBalancers=alb.load_balancers(),
                deploymentConfiguration={"strategy": "LINEAR", "lifecycleHooks": [hook]},
            )
        )
        assert (code, message) == (
            "InvalidParameterException",
            "A PAUSE lifecycle hook cannot be configured for the PRODUCTION_TRAFFIC_SHIFT lifecycle stage.",
        )
        service = h.create(loadBalancers=alb.load_balancers(), deploymentConfiguration={"strategy": "LINEAR"})
        shown = service["deploymentConfiguration"]
        assert shown["strategy"] == "LINEAR" and "canaryConfiguration" not in shown
        assert shown["linearConfiguration"] == {"stepPercent": 10.0, "stepBakeTimeInMinutes": 6}
        updated = h.update(deploymentConfiguration={"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 20}})
        assert updated["deploymentConfiguration"]["canaryConfiguration"] == {
            "canaryPercent": 20,
            "canaryBakeTimeInMinutes": 10,
        }

    run(scenario)


def test_the_circuit_breaker_during_the_canary_bake_puts_all_traffic_back_on_blue() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alb = Alb(h)
        breaker = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}
        first = await blue_service(h, alb, canary(10, 30, **breaker))
        arn = await green_update(h)
        green_id = h.describe()["deployments"][0]["id"]
        await until(h, alb, lambda: alb.weights(alb.production) == {"blue": 90, "green": 10}, limit=300)
        for _ in range(10):  # green tasks crash one after another while the canary bakes
            if record(h, arn)["status"] != "IN_PROGRESS":
                break
            running = sorted(t["taskArn"] for t in h.service_tasks() if t["startedBy"] == green_id)
            if running:
                h.runtime.exit(running[0].rsplit("/", 1)[1], "app", 1)
            await h.run(20.0)
        await until(h, alb, lambda: record(h, arn)["status"] == "ROLLBACK_SUCCESSFUL", limit=120)
        done = record(h, arn)
        assert done["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
        assert done["lifecycleStage"] == "PRODUCTION_TRAFFIC_SHIFT"  # tripped in the canary's bake
        assert alb.weights(alb.production) == ALL_BLUE
        assert h.describe()["deployments"][0]["id"] == first and len(addresses(h, first)) == 2

    run(scenario)
