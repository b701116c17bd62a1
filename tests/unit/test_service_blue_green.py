"""Native blue/green deployments (``strategy: BLUE_GREEN``) on the fake runtime and a fake clock, with the
real ELBv2 provider on the same store: the lifecycle stages in order, green tasks in the alternate
target group, the test then production listener rules switched to green, the bake time, blue
stopped, the groups' roles swapped; PAUSE hooks with ContinueServiceDeployment; rollbacks (a hook,
its timeout, StopServiceDeployment during the bake time, the circuit breaker) that put traffic back
on blue; and CreateService's checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ecslite.control.target_groups import ElbTargetGroups
from ecslite.protocol.errors import AwsError
from ecslite.providers.base import RequestContext
from ecslite.providers.elbv2.provider import Elbv2Provider
from ecslite.runtime.fake import FakeScript
from ecslite.store import elbv2 as elb_store
from ecslite.store import vpc as vpc_store
from tests.unit.test_service_harness import ACCOUNT, REGION, ServiceHarness, labels, run

PORT = 8080
BLUE = {"blue": 100, "green": 0}  # the first deployment's shifts point both rules at the primary group
HOOK_STAGES = [
    "PRE_SCALE_UP",
    "POST_SCALE_UP",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
]


class Alb:
    """Two target groups, a load balancer, a production rule (blue 100 / green 0) and a test rule."""

    def __init__(self, h: ServiceHarness) -> None:
        self.h = h
        self.ctx = RequestContext(ACCOUNT, REGION, "test", "elasticloadbalancing", "test")
        self.elb = Elbv2Provider(h.db, h.clock, h.settings)
        self.elb.prepare(self.ctx)
        vpc = vpc_store.default_vpc(h.db, ACCOUNT, REGION)
        assert vpc is not None
        self.blue, self.green = (self._group(name, vpc["VpcId"]) for name in ("blue", "green"))
        lb = self.elb.create_load_balancer(self.ctx, {"Name": "web", "Subnets": h.subnets[:2]})
        self.listener = self.elb.create_listener(
            self.ctx,
            {
                "LoadBalancerArn": lb["LoadBalancers"][0]["LoadBalancerArn"],
                "Protocol": "HTTP",
                "Port": 80,
                "DefaultActions": [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
            },
        )["Listeners"][0]["ListenerArn"]
        self.production = self._rule(1, [{"Field": "path-pattern", "Values": ["/*"]}], {self.blue: 100, self.green: 0})
        header = {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Test", "Values": ["1"]}}
        self.test = self._rule(2, [header], {self.blue: 100})
        h.tasks.reconciler.activation.target_groups = ElbTargetGroups(h.db)

    def _group(self, name: str, vpc: str) -> str:
        params = {"Name": name, "Protocol": "HTTP", "Port": PORT, "VpcId": vpc, "TargetType": "ip"}
        arn = str(self.elb.create_target_group(self.ctx, params)["TargetGroups"][0]["TargetGroupArn"])
        with self.h.db.transaction():  # stopped tasks drain for 5 s, not 300
            elb_store.put_target_group_attributes(self.h.db, arn, {"deregistration_delay.timeout_seconds": "5"})
        return arn

    def _rule(self, priority: int, conditions: list[dict[str, Any]], weights: dict[str, int]) -> str:
        groups = [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in weights.items()]
        actions = [{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}]
        params = {"ListenerArn": self.listener, "Priority": priority, "Conditions": conditions, "Actions": actions}
        return str(self.elb.create_rule(self.ctx, params)["Rules"][0]["RuleArn"])

    def weights(self, rule: str) -> dict[str, int]:
        """What DescribeRules shows the rule forwarding, by group name."""
        found = self.elb.describe_rules(self.ctx, {"RuleArns": [rule]})["Rules"][0]
        names = {self.blue: "blue", self.green: "green"}
        groups = found["Actions"][0]["ForwardConfig"]["TargetGroups"]
        return {names[g["TargetGroupArn"]]: int(g["Weight"]) for g in groups}

    def load_balancers(self, **advanced: Any) -> list[dict[str, Any]]:
        config = {"alternateTargetGroupArn": self.green, "productionListenerRule": self.production}
        config["testListenerRule"] = self.test
        config.update(advanced)
        return [
            {
                "targetGroupArn": self.blue,
                "containerName": "app",
                "containerPort": PORT,
                "advancedConfiguration": config,
            }
        ]

    def promote(self) -> None:
        """The health checker's part: every target past its registration is healthy."""
        with self.h.db.transaction():
            for group in (self.blue, self.green):
                for target in elb_store.targets_of(self.h.db, group):
                    if target.state == "initial":
                        elb_store.set_target_state(self.h.db, group, target.id, target.port, "healthy", None, None)

    def members(self, group: str) -> set[str]:
        return {t.id for t in elb_store.targets_of(self.h.db, group) if t.state != "draining"}


def config(bake: int = 1, *stages: str, **extra: Any) -> dict[str, Any]:
    hooks = [{"targetType": "PAUSE", "lifecycleStages": list(stages)}] if stages else []
    return {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": bake, "lifecycleHooks": hooks, **extra}


async def until(h: ServiceHarness, alb: Alb, done: Callable[[], bool], limit: float = 600.0) -> float:
    def check() -> bool:
        alb.promote()
        return done()

    return await h.until(check, limit)


def record(h: ServiceHarness, arn: str) -> dict[str, Any]:
    found: dict[str, Any] = h.ecs.describe_service_deployments(h.ctx, {"serviceDeploymentArns": [arn]})[
        "serviceDeployments"
    ][0]
    return found


def awaiting(h: ServiceHarness, arn: str) -> list[dict[str, Any]]:
    return [d for d in record(h, arn).get("lifecycleHookDetails") or () if d["status"] == "AWAITING_ACTION"]


def address(task: dict[str, Any]) -> str:
    details = task["attachments"][0]["details"]
    return str(next(d["value"] for d in details if d["name"] == "privateIPv4Address"))


def addresses(h: ServiceHarness, deployment_id: str) -> set[str]:
    return {address(t) for t in h.service_tasks() if t["startedBy"] == deployment_id and t["lastStatus"] == "RUNNING"}


async def blue_service(h: ServiceHarness, alb: Alb, deployment: dict[str, Any], desired: int = 2) -> str:
    """A completed first deployment (its tasks in the primary group); returns its deployment id."""
    h.register(health=False, portMappings=[{"containerPort": PORT}])
    h.create(desiredCount=desired, loadBalancers=alb.load_balancers(), deploymentConfiguration=deployment)
    await until(h, alb, lambda: h.completed() and len(alb.members(alb.blue)) == desired)
    first = h.describe()["deployments"][0]["id"]
    assert alb.members(alb.blue) == addresses(h, first) and not alb.members(alb.green)
    return str(first)


async def green_update(h: ServiceHarness, deployment: dict[str, Any] | None = None, **container: Any) -> str:
    h.register(health=False, portMappings=[{"containerPort": PORT}], image="example/web:2", **container)
    update: dict[str, Any] = {"taskDefinition": "web"}
    if deployment is not None:
        update["deploymentConfiguration"] = deployment
    return str(h.update(**update)["currentServiceDeployment"])


def cont(h: ServiceHarness, arn: str, action: str | None = None) -> None:
    (hook,) = awaiting(h, arn)
    params = {"serviceDeploymentArn": arn, "hookId": hook["hookId"]} | ({"action": action} if action else {})
    assert h.ecs.continue_service_deployment(h.ctx, params) == {"serviceDeploymentArn": arn}


def test_stages_in_order_green_group_rules_bake_time_clean_up_and_the_swap() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alb = Alb(h)
        first = await blue_service(h, alb, config(1))
        blue_ips = alb.members(alb.blue)
        arn = await green_update(h, config(1, *HOOK_STAGES))
        green_id = h.describe()["deployments"][0]["id"]
        shown = []
        for stage in HOOK_STAGES:
            await until(h, alb, lambda: bool(awaiting(h, arn)), limit=120)
            shown.append(record(h, arn)["lifecycleStage"])
            hook = awaiting(h, arn)[0]
            assert hook["hookId"].startswith("ecs-pause-") and hook["timeoutAction"] == "ROLLBACK"
            weights = (alb.weights(alb.test), alb.weights(alb.production))
            green_ips = alb.members(alb.green)
            if stage == "PRE_SCALE_UP":
                assert not addresses(h, green_id) and weights == (BLUE, BLUE)
            elif stage in ("POST_SCALE_UP", "POST_TEST_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT"):
                assert green_ips == addresses(h, green_id) and len(green_ips) == 2  # green in the alternate group
                assert alb.members(alb.blue) == blue_ips  # blue stay in theirs
                test_green = {"blue": 0, "green": 100}
                expected_test = BLUE if stage == "POST_SCALE_UP" else test_green
                assert weights == (expected_test, {"blue": 100, "green": 0})
            else:
                assert weights == ({"blue": 0, "green": 100}, {"blue": 0, "green": 100})
            assert record(h, arn)["status"] == "IN_PROGRESS"
            cont(h, arn)
        assert shown == [
            "PRE_SCALE_UP",
            "POST_SCALE_UP",
            "POST_TEST_TRAFFIC_SHIFT",
            "PRODUCTION_TRAFFIC_SHIFT",  # the PRE_PRODUCTION_TRAFFIC_SHIFT hook point
            "POST_PRODUCTION_TRAFFIC_SHIFT",
        ]
        await h.run(1.0)
        assert record(h, arn)["lifecycleStage"] == "BAKE_TIME"
        await h.run(50.0)  # both revisions run through the bake minute
        assert addresses(h, first) == blue_ips and len(addresses(h, green_id)) == 2
        await until(h, alb, lambda: record(h, arn)["status"] == "SUCCESSFUL", limit=120)
        done = record(h, arn)
        assert done["lifecycleStage"] == "CLEAN_UP" and done["finishedAt"] - done["startedAt"] >= 60
        assert [d["status"] for d in done["lifecycleHookDetails"]] == ["SUCCEEDED"] * 5
        service = h.describe()
        assert [d["id"] for d in service["deployments"]] == [green_id] and not addresses(h, first)
        assert f"(service web) (deployment {green_id}) deployment completed." in h.events()

        # The roles swap: the next green registers in the primary group, and traffic returns there.
        h.update(deploymentConfiguration={"lifecycleHooks": [], "bakeTimeInMinutes": 0})
        third = await green_update(h, environment=[{"name": "V", "value": "3"}])
        await until(h, alb, lambda: record(h, third)["status"] == "SUCCESSFUL")
        latest = h.describe()["deployments"][0]["id"]
        assert alb.members(alb.blue) == addresses(h, latest) and len(addresses(h, latest)) == 2
        assert alb.weights(alb.production) == {"blue": 100, "green": 0}

    run(scenario)


def test_back_to_rolling_after_a_swap_new_tasks_join_the_group_serving_production() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alb = Alb(h)
        await blue_service(h, alb, config(0))
        arn = await green_update(h)
        await until(h, alb, lambda: record(h, arn)["status"] == "SUCCESSFUL")
        assert alb.weights(alb.production) == {"blue": 0, "green": 100}
        h.update(deploymentConfiguration={"strategy": "ROLLING"})
        rolling = await green_update(h, environment=[{"name": "V", "value": "3"}])
        await until(h, alb, lambda: record(h, rolling)["status"] == "SUCCESSFUL")
        latest = h.describe()["deployments"][0]["id"]
        assert alb.members(alb.green) == addresses(h, latest) and len(addresses(h, latest)) == 2
        assert not alb.members(alb.blue)
        assert alb.weights(alb.production) == {"blue": 0, "green": 100}

    run(scenario)


def test_a_hook_rolled_back_puts_test_traffic_back_on_blue() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alb = Alb(h)
        first = await blue_service(h, alb, config(0))
        arn = await green_update(h, config(0, "POST_TEST_TRAFFIC_SHIFT"))
        green_id = h.describe()["deployments"][0]["id"]
        await until(h, alb, lambda: bool(awaiting(h, arn)), limit=120)
        assert alb.weights(alb.test) == {"blue": 0, "green": 100}
        cont(h, arn, "ROLLBACK")
        await h.settle()
        assert alb.weights(alb.test) == {"blue": 100, "green": 0}
        assert alb.weights(alb.production) == {"blue": 100, "green": 0}
        service = h.describe()
        assert service["deployments"][0]["id"] == first and service["deployments"][0]["status"] == "PRIMARY"
        assert service["taskDefinition"].endswith("web:1")
        # Green is drained at once (blue is healthy); a drained deployment leaves deployments[] (§4.3).
        assert all(t["desiredStatus"] == "STOPPED" for t in h.service_tasks(desired=None) if t["startedBy"] == green_id)
        assert record(h, arn)["status"] == "ROLLBACK_IN_PROGRESS"
        assert record(h, arn)["lifecycleHookDetails"][0]["status"] == "FAILED"
        await until(h, alb, lambda: record(h, arn)["status"] == "ROLLBACK_SUCCESSFUL", limit=60)
        assert not addresses(h, green_id) and len(addresses(h, first)) == 2  # blue never stopped
        assert {t["startedBy"] for t in h.service_tasks(desired=None)} == {first, green_id}  # no new tasks

    run(scenario)


def test_an_expired_pause_takes_its_timeout_action() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alb = Alb(h)
        hook = {
            "targetType": "PAUSE",
            "lifecycleStages": ["PRE_SCALE_UP"],
            "timeoutConfiguration": {"timeoutInMinutes": 2},
        }
        await blue_service(h, alb, config(0))
        arn = await green_update(h, {"lifecycleHooks": [hook]})
        await h.run(100.0)
        assert awaiting(h, arn) and record(h, arn)["status"] == "IN_PROGRESS"
        await until(h, alb, lambda: record(h, arn)["status"] == "ROLLBACK_SUCCESSFUL", limit=60)
        assert record(h, arn)["lifecycleHookDetails"][0]["status"] == "TIMED_OUT"

        continuing = {**hook, "timeoutConfiguration": {"timeoutInMinutes": 1, "action": "CONTINUE"}}
        second = await green_update(h, {"lifecycleHooks": [continuing]}, environment=[{"name": "V", "value": "2"}])
        await until(h, alb, lambda: record(h, second)["status"] == "SUCCESSFUL")
        assert record(h, second)["lifecycleHookDetails"][0]["status"] == "TIMED_OUT"

    run(scenario)


def test_an_update_before_the_production_shift_keeps_blue_serving_and_drains_the_interrupted_green() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alb = Alb(h)
        first = await blue_service(h, alb, config(0))
        second = await green_update(h, config(0, "POST_TEST_TRAFFIC_SHIFT"))
        second_id = h.describe()["deployments"][0]["id"]
        await until(h, alb, lambda: bool(awaiting(h, second)), limit=120)
        assert alb.members(alb.green) == addresses(h, second_id) and len(addresses(h, second_id)) == 2
        third = await green_update(
            h, config(0, "PRE_PRODUCTION_TRAFFIC_SHIFT"), environment=[{"name": "V", "value": "3"}]
        )
        third_id = h.describe()["deployments"][0]["id"]
        assert record(h, second)["status"] == "STOPPED"
        await until(h, alb, lambda: bool(awaiting(h, third)), limit=120)
        # Production never left blue, so green is the other group again; the interrupted green tasks
        # there are gone before production traffic could reach them.
        assert alb.weights(alb.production) == {"blue": 100, "green": 0}
        assert alb.members(alb.green) == addresses(h, third_id) and len(addresses(h, third_id)) == 2
        assert not addresses(h, second_id) and len(addresses(h, first)) == 2
        cont(h, third)
        await until(h, alb, lambda: record(h, third)["status"] == "SUCCESSFUL", limit=120)
        assert alb.weights(alb.production) == {"blue": 0, "green": 100}
        assert alb.members(alb.green) == addresses(h, third_id) and not alb.members(alb.blue)

    run(scenario)


def test_an_update_during_bake_time_takes_the_group_production_does_not_use() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alb = Alb(h)
        first = await blue_service(h, alb, config(10))
        second = await green_update(h)
        second_id = h.describe()["deployments"][0]["id"]
        await until(h, alb, lambda: record(h, second)["lifecycleStage"] == "BAKE_TIME", limit=120)
        assert alb.weights(alb.production) == {"blue": 0, "green": 100}
        third = await green_update(
            h, config(0, "PRE_PRODUCTION_TRAFFIC_SHIFT"), environment=[{"name": "V", "value": "3"}]
        )
        third_id = h.describe()["deployments"][0]["id"]
        assert record(h, second)["status"] == "STOPPED"
        await until(h, alb, lambda: bool(awaiting(h, third)), limit=120)
        # The interrupted deployment serves production from the alternate group: the new green tasks
        # go to the primary group (the first deployment's tasks there stopped), tested before the shift.
        assert alb.weights(alb.production) == {"blue": 0, "green": 100}
        assert alb.members(alb.green) == addresses(h, second_id) and len(addresses(h, second_id)) == 2
        assert alb.members(alb.blue) == addresses(h, third_id) and len(addresses(h, third_id)) == 2
        assert alb.weights(alb.test) == {"blue": 100, "green": 0} and not addresses(h, first)
        cont(h, third)
        await until(h, alb, lambda: record(h, third)["status"] == "SUCCESSFUL", limit=120)
        assert alb.weights(alb.production) == {"blue": 100, "green": 0}
        assert alb.members(alb.blue) == addresses(h, third_id) and not alb.members(alb.green)
        assert [d["id"] for d in h.describe()["deployments"]] == [third_id]

    run(scenario)


def test_blue_tasks_that_fail_before_the_production_shift_are_replaced_not_after() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alb = Alb(h)
        first = await blue_service(h, alb, config(0))
        arn = await green_update(h, config(0, "POST_SCALE_UP", "POST_PRODUCTION_TRAFFIC_SHIFT"))
        await until(h, alb, lambda: bool(awaiting(h, arn)), limit=120)
        blue_arns = {t["taskArn"] for t in h.service_tasks() if t["startedBy"] == first}
        crashed, sick = sorted(blue_arns)
        h.runtime.exit(crashed.rsplit("/", 1)[1], "app", 1)
        await until(h, alb, lambda: len(alb.members(alb.blue)) == 2 and crashed not in task_arns(h, first), limit=60)
        assert alb.members(alb.blue) == addresses(h, first) and len(addresses(h, first)) == 2
        # A task the production group's health check fails is stopped and replaced as well.
        with h.db.transaction():
            (target,) = (t for t in elb_store.targets_of(h.db, alb.blue) if t.id == address(task_doc(h, sick)))
            elb_store.set_target_state(
                h.db, alb.blue, target.id, target.port, "unhealthy", "Target.FailedHealthChecks", ""
            )
        await until(h, alb, lambda: len(alb.members(alb.blue)) == 2 and sick not in task_arns(h, first), limit=60)
        assert len(addresses(h, first)) == 2 and not blue_arns & task_arns(h, first)
        assert record(h, arn)["status"] == "IN_PROGRESS" and len(awaiting(h, arn)) == 1

        # After the production shift blue only waits for CLEAN_UP: a failed blue task stays gone.
        cont(h, arn)
        await until(h, alb, lambda: bool(awaiting(h, arn)), limit=120)
        assert alb.weights(alb.production) == {"blue": 0, "green": 100}
        h.runtime.exit(sorted(task_arns(h, first))[0].rsplit("/", 1)[1], "app", 1)
        await h.run(60.0)
        assert len(task_arns(h, first)) == 1
        cont(h, arn)
        await until(h, alb, lambda: record(h, arn)["status"] == "SUCCESSFUL", limit=120)

    run(scenario)


def test_blue_keeps_its_deployment_when_every_blue_task_fails_at_once() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alb = Alb(h)
        first = await blue_service(h, alb, config(0))
        arn = await green_update(h, config(0, "POST_SCALE_UP"))
        await until(h, alb, lambda: bool(awaiting(h, arn)), limit=120)
        blue_arns = task_arns(h, first)
        for task in sorted(blue_arns):  # every blue task exits in the same moment
            h.runtime.exit(task.rsplit("/", 1)[1], "app", 1)
        # The blue deployment stays listed while it has no task and gets its two tasks back.
        await until(h, alb, lambda: len(addresses(h, first)) == 2 and not blue_arns & task_arns(h, first), limit=60)
        assert first in [d["id"] for d in h.describe()["deployments"]]
        assert alb.members(alb.blue) == addresses(h, first)
        # So a rollback finds blue: PRIMARY again, with no new deployment made for it.
        h.ecs.stop_service_deployment(h.ctx, {"serviceDeploymentArn": arn, "stopType": "ROLLBACK"})
        await until(h, alb, lambda: record(h, arn)["status"] == "ROLLBACK_SUCCESSFUL", limit=60)
        assert [d["id"] for d in h.describe()["deployments"]] == [first] and len(addresses(h, first)) == 2
        assert alb.weights(alb.production) == {"blue": 100, "green": 0}

    run(scenario)


def task_arns(h: ServiceHarness, deployment_id: str) -> set[str]:
    return {t["taskArn"] for t in h.service_tasks() if t["startedBy"] == deployment_id}


def task_doc(h: ServiceHarness, arn: str) -> dict[str, Any]:
    return next(t for t in h.service_tasks(desired=None) if t["taskArn"] == arn)


def test_stop_during_bake_time_shifts_production_back_to_blue() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alb = Alb(h)
        first = await blue_service(h, alb, config(10))
        arn = await green_update(h)
        await until(h, alb, lambda: record(h, arn)["lifecycleStage"] == "BAKE_TIME", limit=120)
        assert alb.weights(alb.production) == {"blue": 0, "green": 100}
        h.ecs.stop_service_deployment(h.ctx, {"serviceDeploymentArn": arn, "stopType": "ROLLBACK"})
        await h.settle()
        assert alb.weights(alb.production) == {"blue": 100, "green": 0}
        assert h.describe()["deployments"][0]["id"] == first
        await until(h, alb, lambda: record(h, arn)["status"] == "ROLLBACK_SUCCESSFUL", limit=60)
        assert h.completed() and len(addresses(h, first)) == 2

    run(scenario)


def test_the_circuit_breaker_rolls_back_before_traffic_moves() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alb = Alb(h)
        breaker = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}
        first = await blue_service(h, alb, config(0, **breaker))
        h.runtime.script_image("example/web:2", FakeScript.from_labels(labels(exit_code=1)))
        arn = await green_update(h)
        await until(h, alb, lambda: record(h, arn)["status"] == "ROLLBACK_SUCCESSFUL", limit=600)
        done = record(h, arn)
        assert done["deploymentCircuitBreaker"]["status"] == "TRIGGERED" and done["lifecycleStage"] == "SCALE_UP"
        assert alb.weights(alb.test) == BLUE and alb.weights(alb.production) == {"blue": 100, "green": 0}
        assert h.describe()["deployments"][0]["id"] == first and len(addresses(h, first)) == 2

    run(scenario)


def refusal(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(AwsError) as caught:
        call()
    return caught.value.code, caught.value.message


def test_create_service_checks_the_blue_green_configuration() -> None:
    async def scenario(h: ServiceHarness) -> None:
        alb = Alb(h)
        h.register(health=False, portMappings=[{"containerPort": PORT}])

        def create(deployment: dict[str, Any], lbs: list[dict[str, Any]] | None = None) -> tuple[str, str]:
            lbs = alb.load_balancers() if lbs is None else lbs
            return refusal(lambda: h.create(loadBalancers=lbs, deploymentConfiguration=deployment))

        code, message = create(config(0), [{"targetGroupArn": alb.blue, "containerName": "app", "containerPort": PORT}])
        assert code == "InvalidParameterException" and "advancedConfiguration" in message
        assert create(config(0), alb.load_balancers(alternateTargetGroupArn=alb.blue)) == (
            "InvalidParameterException",
            f"The alternateTargetGroupArn {alb.blue} must be different from the targetGroupArn.",
        )
        unknown = alb.production.rsplit("/", 1)[0] + "/ffffffffffffffff"
        assert create(config(0), alb.load_balancers(productionListenerRule=unknown)) == (
            "InvalidParameterException",
            f"The listener rule {unknown} does not exist in this account and region.",
        )
        assert create(config(0), alb.load_balancers(productionListenerRule=alb.test, testListenerRule=None))[1] == (
            f"Neither the production nor the test listener rule forwards to the alternate target group {alb.green}."
        )
        lambda_hook = {"lifecycleStages": ["PRE_SCALE_UP"], "hookTargetArn": "arn:aws:lambda:us-east-1:0:function:f"}
        code, message = create({"strategy": "BLUE_GREEN", "lifecycleHooks": [lambda_hook]})
        assert code == "UnsupportedFeatureException" and "AWS_LAMBDA" in message and "Lambda" in message
        assert create(config(0, "TEST_TRAFFIC_SHIFT")) == (
            "InvalidParameterException",
            "A PAUSE lifecycle hook cannot be configured for the TEST_TRAFFIC_SHIFT lifecycle stage.",
        )
        assert create({"strategy": "ROLLOUT"})[0] == "UnsupportedFeatureException"  # not an ECS strategy
        assert create(config(2000))[0] == "InvalidParameterException"
        assert h.ecs.list_services(h.ctx, {})["serviceArns"] == []

        service = h.create(loadBalancers=alb.load_balancers(), deploymentConfiguration=config(0, "PRE_SCALE_UP"))
        assert service["deploymentConfiguration"]["strategy"] == "BLUE_GREEN"
        assert service["loadBalancers"][0]["advancedConfiguration"]["alternateTargetGroupArn"] == alb.green
        arn = service["currentServiceDeployment"]
        continue_ = h.ecs.continue_service_deployment
        code, message = refusal(lambda: continue_(h.ctx, {"serviceDeploymentArn": arn, "hookId": "ecs-pause-x"}))
        assert (code, message) == (
            "InvalidParameterException",
            f"The lifecycle hook ecs-pause-x was not found in the service deployment {arn}.",
        )
        gone = arn.rsplit("/", 1)[0] + "/aaaaaaaaaaaaaaaaaaaaa"
        assert refusal(lambda: continue_(h.ctx, {"serviceDeploymentArn": gone, "hookId": "x"}))[0] == (
            "ServiceDeploymentNotFoundException"
        )
        await h.settle()
        cont(h, arn)
        hook_id = record(h, arn)["lifecycleHookDetails"][0]["hookId"]
        code, message = refusal(lambda: continue_(h.ctx, {"serviceDeploymentArn": arn, "hookId": hook_id}))
        assert code == "ClientException" and message.endswith("its status is SUCCEEDED.")
        await until(h, alb, lambda: record(h, arn)["status"] == "SUCCESSFUL", limit=120)
        assert alb.members(alb.blue) and not alb.members(alb.green)  # a new service starts in the primary group

    run(scenario)
