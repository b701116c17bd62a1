"""The scaling controller and the alarm evaluator with the fake clock (spec/ecs.md §6): the ECS, CloudWatch
and Application Auto Scaling providers on one in-memory store, the service scheduler on the fake
runtime, and a metric source the test feeds one CloudWatch minute at a time."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from ecslite.control.alarms import AlarmEvaluator
from ecslite.control.scaling import ScalingController
from ecslite.providers.autoscaling.provider import AutoscalingProvider
from ecslite.providers.base import RequestContext
from ecslite.providers.cloudwatch.provider import CloudWatchProvider
from ecslite.store import cloudwatch as cw_store
from tests.unit.test_service_harness import ACCOUNT, REGION, ServiceHarness, labels, run

TARGET = {
    "ServiceNamespace": "ecs",
    "ScalableDimension": "ecs:service:DesiredCount",
    "ResourceId": "service/default/web",
}


class FeedSource:
    """Per-minute values of the service's CPU, as the runtime's measurements would give them."""

    def __init__(self) -> None:
        self.points: dict[float, float] = {}

    async def alarm_values(
        self, account: str, region: str, alarm: dict[str, Any], start: float, end: float
    ) -> dict[float, float]:
        return {ts: v for ts, v in self.points.items() if start <= ts < end}


class Scaling:
    def __init__(self, h: ServiceHarness) -> None:
        self.h = h
        self.source = FeedSource()
        self.cloudwatch = CloudWatchProvider(h.db, h.clock, None)
        self.aas = AutoscalingProvider(h.db, h.clock, self.cloudwatch)
        self.controller = ScalingController(h.db, h.clock, self.set_desired)
        self.evaluator = AlarmEvaluator(h.db, h.clock, self.source, handlers=[self.controller.handle])
        self.ctx = RequestContext(ACCOUNT, REGION, "test", "application-autoscaling", "test")

    def set_desired(self, account: str, region: str, cluster: str, service: str, count: int) -> None:
        self.h.ecs.update_service(self.h.ctx, {"cluster": cluster, "service": service, "desiredCount": count})

    def register(self, low: int = 1, high: int = 10) -> None:
        self.aas.register_scalable_target(self.ctx, {**TARGET, "MinCapacity": low, "MaxCapacity": high})

    def track(self, target: float = 50.0, out: int = 60, cooldown_in: int = 300, **extra: Any) -> dict[str, Any]:
        config = {
            "TargetValue": target,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
            "ScaleOutCooldown": out,
            "ScaleInCooldown": cooldown_in,
            **extra,
        }
        return self.aas.put_scaling_policy(
            self.ctx,
            {
                **TARGET,
                "PolicyName": "cpu",
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": config,
            },
        )

    async def minute(self, cpu: float | None) -> None:
        """One CloudWatch minute passes with ``cpu`` as its average; the alarms are evaluated after it."""
        await self.h.run(60, step=5)
        slot = math.floor(self.h.clock.now() / 60) * 60 - 60
        if cpu is not None:
            self.source.points[slot] = cpu
        await self.evaluator.evaluate_all()
        await self.h.settle()

    def desired(self) -> int:
        return int(self.h.describe()["desiredCount"])

    def activities(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.aas.describe_scaling_activities(self.ctx, {"ServiceNamespace": "ecs"})[
            "ScalingActivities"
        ]
        return found


async def started(h: ServiceHarness, desired: int = 2) -> Scaling:
    h.register()
    h.create(desiredCount=desired)
    await h.until(h.completed)
    scaling = Scaling(h)
    scaling.register()
    return scaling


def test_cpu_above_target_for_three_minutes_scales_out_by_the_tracking_formula() -> None:
    async def scenario(h: ServiceHarness) -> None:
        s = await started(h)
        s.track(target=50.0)
        for _ in range(2):
            await s.minute(90.0)
        assert s.desired() == 2  # two datapoints of three
        await s.minute(90.0)
        assert s.desired() == math.ceil(2 * 90 / 50)
        (activity,) = s.activities()
        high = next(a for a in s.cloudwatch.describe_alarms(s.ctx, {})["MetricAlarms"] if "AlarmHigh" in a["AlarmName"])
        assert activity["Description"] == "Setting desired count to 4."
        assert activity["Cause"] == f"monitor alarm {high['AlarmName']} in state ALARM triggered policy cpu"
        assert activity["StatusCode"] == "Successful"
        assert activity["StatusMessage"] == "Successfully set desired count to 4. Change successfully fulfilled by ecs."
        assert any("Successfully set desired count to 4." in e for e in h.events())
        await h.until(lambda: h.describe()["runningCount"] == 4)

    run(scenario)


def test_cpu_below_ninety_percent_of_target_for_fifteen_minutes_scales_in_gradually_with_cooldown() -> None:
    async def scenario(h: ServiceHarness) -> None:
        s = await started(h, desired=4)
        s.track(target=50.0, cooldown_in=300)
        for _ in range(14):
            await s.minute(10.0)
        assert s.desired() == 4
        await s.minute(10.0)
        assert s.desired() == 3  # at most max(1, 10 %) per activity
        for _ in range(4):
            await s.minute(10.0)
        assert s.desired() == 3  # the scale-in cooldown (300 s) holds
        await s.minute(10.0)
        assert s.desired() == 2
        assert [a["Description"] for a in s.activities()] == [
            "Setting desired count to 2.",
            "Setting desired count to 3.",
        ]

    run(scenario)


def test_scale_out_cooldown_counts_the_capacity_added_and_max_bounds_a_bigger_scale_out() -> None:
    async def scenario(h: ServiceHarness) -> None:
        s = await started(h)
        s.aas.register_scalable_target(s.ctx, {**TARGET, "MaxCapacity": 5})
        s.track(target=50.0, out=300)
        for _ in range(3):
            await s.minute(60.0)
        assert s.desired() == 3  # ceil(2 × 60 / 50)
        await s.minute(60.0)
        assert s.desired() == 3  # in the cooldown the same load still asks for ceil(2 × 60 / 50) = 3
        await s.minute(200.0)
        assert s.desired() == 5  # a bigger scale-out goes through: ceil(2 × 200 / 50) = 8, clamped to MaxCapacity

    run(scenario)


def test_missing_data_leaves_the_alarm_without_data_and_the_service_alone() -> None:
    async def scenario(h: ServiceHarness) -> None:
        s = await started(h)
        s.track()
        for _ in range(4):
            await s.minute(None)
        states = {a["StateValue"] for a in s.cloudwatch.describe_alarms(s.ctx, {})["MetricAlarms"]}
        assert states == {"INSUFFICIENT_DATA"}
        assert s.desired() == 2 and s.activities() == []

    run(scenario)


def test_no_scale_in_during_a_deployment_but_scale_out_goes_on() -> None:
    async def scenario(h: ServiceHarness) -> None:
        s = await started(h, desired=3)
        s.track(target=50.0, cooldown_in=0)
        h.register(dockerLabels=labels(healthy_after_seconds=100_000))  # the new revision never gets healthy
        h.update(taskDefinition="web")
        for _ in range(15):
            await s.minute(5.0)
        service = h.describe()
        assert len(service["deployments"]) > 1 or service["deployments"][0]["rolloutState"] == "IN_PROGRESS"
        assert s.desired() == 3
        for _ in range(3):
            await s.minute(100.0)
        assert s.desired() == 6

    run(scenario)


def test_minimum_capacity_holds_against_scale_in_and_disable_scale_in_keeps_only_the_high_alarm() -> None:
    async def scenario(h: ServiceHarness) -> None:
        s = await started(h, desired=2)
        s.aas.register_scalable_target(s.ctx, {**TARGET, "MinCapacity": 2})
        s.track(target=50.0, cooldown_in=0)
        for _ in range(16):
            await s.minute(1.0)
        assert s.desired() == 2 and s.activities() == []
        result = s.track(target=50.0, DisableScaleIn=True)
        assert [a["AlarmName"].split("-")[-6] for a in result["Alarms"]] == ["AlarmHigh"]
        names = [a["AlarmName"] for a in s.cloudwatch.describe_alarms(s.ctx, {})["MetricAlarms"]]
        assert len(names) == 1 and "AlarmHigh" in names[0]

    run(scenario)


def test_scheduled_action_at_a_given_time_changes_capacity() -> None:
    async def scenario(h: ServiceHarness) -> None:
        s = await started(h, desired=1)
        when = dt.datetime.fromtimestamp(h.clock.now() + 120, dt.UTC).replace(microsecond=0)
        s.aas.put_scheduled_action(
            s.ctx,
            {
                **TARGET,
                "ScheduledActionName": "morning",
                "Schedule": f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})",
                "ScalableTargetAction": {"MinCapacity": 3, "MaxCapacity": 8},
            },
        )
        await h.run(60, step=5)
        assert s.controller.run_due() == 0
        await h.run(61, step=5)
        assert s.controller.run_due() == 1
        target = s.aas.describe_scalable_targets(s.ctx, {"ServiceNamespace": "ecs"})["ScalableTargets"][0]
        assert (target["MinCapacity"], target["MaxCapacity"]) == (3, 8)
        assert s.desired() == 3
        causes = [a["Cause"] for a in s.activities()]
        assert causes == ["minimum capacity was set to 3", "scheduled action name morning was triggered"]
        assert s.activities()[1]["Description"] == "Setting min capacity to 3 and max capacity to 8"
        await h.run(3600, step=60)
        assert s.controller.run_due() == 0  # an at() action runs once

    run(scenario)


def test_step_scaling_picks_the_step_by_breach_and_respects_suspension() -> None:
    async def scenario(h: ServiceHarness) -> None:
        s = await started(h, desired=2)
        policy = s.aas.put_scaling_policy(
            s.ctx,
            {
                **TARGET,
                "PolicyName": "steps",
                "PolicyType": "StepScaling",
                "StepScalingPolicyConfiguration": {
                    "AdjustmentType": "ChangeInCapacity",
                    "Cooldown": 0,
                    "StepAdjustments": [
                        {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 20, "ScalingAdjustment": 1},
                        {"MetricIntervalLowerBound": 20, "ScalingAdjustment": 3},
                    ],
                },
            },
        )
        alarm = {
            "AlarmName": "cpu-high",
            "Namespace": "AWS/ECS",
            "MetricName": "CPUUtilization",
            "Dimensions": [{"Name": "ClusterName", "Value": "default"}, {"Name": "ServiceName", "Value": "web"}],
            "Statistic": "Average",
            "Period": 60,
            "EvaluationPeriods": 1,
            "Threshold": 60.0,
            "ComparisonOperator": "GreaterThanThreshold",
            "AlarmActions": [policy["PolicyARN"]],
        }
        s.cloudwatch.put_metric_alarm(s.ctx, alarm)
        await s.minute(70.0)  # breach 10 → +1
        assert s.desired() == 3
        await s.minute(95.0)  # breach 35 → +3
        assert s.desired() == 6
        s.aas.register_scalable_target(s.ctx, {**TARGET, "SuspendedState": {"DynamicScalingOutSuspended": True}})
        await s.minute(95.0)
        assert s.desired() == 6
        described = s.aas.describe_scaling_policies(s.ctx, {"ServiceNamespace": "ecs"})["ScalingPolicies"][0]
        assert [a["AlarmName"] for a in described["Alarms"]] == ["cpu-high"]
        history = cw_store.list_history(
            h.db, cw_store.HistoryFilter(ACCOUNT, REGION, "cpu-high", "StateUpdate"), None, 10
        )
        assert history[-1][1]["HistorySummary"] == "Alarm updated from INSUFFICIENT_DATA to ALARM"

    run(scenario)
