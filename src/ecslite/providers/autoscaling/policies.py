"""Scaling policies (spec/ecs.md §6.2, §6.3): PutScalingPolicy, DescribeScalingPolicies,
DeleteScalingPolicy, GetPredictiveScalingForecast.

- Target tracking: the policy owns two CloudWatch alarms on its metric, ``TargetTracking-<resource
  id>-AlarmHigh-<uuid>`` (above the target for 3 datapoints of 60 s) and ``…-AlarmLow-<uuid>`` (below
  90 % of it for 15), whose action is the policy ARN; ``DisableScaleIn`` leaves out the low alarm.
  Predefined ECS metrics read ``AWS/ECS`` per ClusterName and ServiceName; ``ALBRequestCountPerTarget``
  reads ``AWS/ApplicationELB RequestCountPerTarget`` of the target group its ResourceLabel names.
- Step scaling: the user's alarms name the policy ARN in their actions; DescribeScalingPolicies lists
  those alarms.
- The same name updates the policy in place (same ARN; the alarms keep their names and state).
"""

from __future__ import annotations

import itertools
import re
import uuid
from typing import Any

from ecslite.providers.autoscaling import errors
from ecslite.providers.autoscaling.common import AutoscalingBase, policy_arn, public, service_of
from ecslite.providers.base import Params, RequestContext
from ecslite.store import autoscaling as as_store
from ecslite.store import cloudwatch as cw_store

HIGH_DATAPOINTS = 3
LOW_DATAPOINTS = 15
LOW_FRACTION = 0.9  # §6.2: the low alarm fires below 90 % of the target
MAX_POLICIES = 50
PREDEFINED = {
    "ECSServiceAverageCPUUtilization": ("CPUUtilization", 60),
    "ECSServiceAverageMemoryUtilization": ("MemoryUtilization", 60),
    "ECSServiceAverageCPUUtilizationHighResolution": ("CPUUtilization", 20),
    "ECSServiceAverageMemoryUtilizationHighResolution": ("MemoryUtilization", 20),
}
ALB = "ALBRequestCountPerTarget"
RESOURCE_LABEL = re.compile(r"app/[^/]+/[^/]+/targetgroup/([^/]+)/([^/]+)")
DESCRIPTION = "DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {arn}."


class PolicyOps(AutoscalingBase):
    def put_scaling_policy(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        key = self.target_key(ctx, params)
        self.require_target(key)
        name = params["PolicyName"]
        existing = as_store.get_policy(self.db, key, name)
        kind = params.get("PolicyType") or (existing or {}).get("PolicyType") or "StepScaling"
        if kind == "PredictiveScaling":
            raise errors.ValidationException(errors.PREDICTIVE_UNSUPPORTED)
        if existing is not None and existing["PolicyType"] != kind:
            raise errors.ValidationException(
                errors.POLICY_TYPE_MISMATCH.format(given=existing["PolicyType"], existing=kind)
            )
        if existing is None and len(as_store.policies_of(self.db, key)) >= MAX_POLICIES:
            raise errors.LimitExceededException(f"A scalable target can have at most {MAX_POLICIES} scaling policies.")
        doc: dict[str, Any] = (
            dict(existing)
            if existing
            else {
                "PolicyARN": policy_arn(ctx, key, name),
                "PolicyName": name,
                "ServiceNamespace": key.namespace,
                "ResourceId": key.resource_id,
                "ScalableDimension": key.dimension,
                "PolicyType": kind,
                "CreationTime": self.now(),
            }
        )
        with self.db.transaction():
            if kind == "TargetTrackingScaling":
                config = params.get("TargetTrackingScalingPolicyConfiguration")
                if config is None:
                    raise errors.ValidationException(errors.TRACKING_CONFIGURATION)
                _check_tracking(config)
                doc["TargetTrackingScalingPolicyConfiguration"] = config
                doc["Alarms"] = self._tracking_alarms(ctx, key, doc, config)
            else:
                doc["StepScalingPolicyConfiguration"] = _checked_step(
                    params.get("StepScalingPolicyConfiguration"), (existing or {}).get("StepScalingPolicyConfiguration")
                )
            as_store.put_policy(self.db, key, doc)
        result: dict[str, Any] = {"PolicyARN": doc["PolicyARN"]}
        if kind == "TargetTrackingScaling":
            result["Alarms"] = doc["Alarms"]
        return result

    def _tracking_alarms(
        self, ctx: RequestContext, key: as_store.TargetKey, doc: dict[str, Any], config: dict[str, Any]
    ) -> list[dict[str, str]]:
        owned = dict(doc.get("_alarms") or {})
        metric = _alarm_metric(key, config)
        target = float(config["TargetValue"])
        cw_ctx = RequestContext(ctx.account, ctx.region, ctx.request_id, "cloudwatch", "PutMetricAlarm")
        wanted = {"AlarmHigh": (target, "GreaterThanThreshold", HIGH_DATAPOINTS)}
        if not config.get("DisableScaleIn"):
            wanted["AlarmLow"] = (target * LOW_FRACTION, "LessThanThreshold", LOW_DATAPOINTS)
        for role in [r for r in owned if r not in wanted]:
            self.cloudwatch.delete_alarms(cw_ctx, {"AlarmNames": [owned.pop(role)]})
        alarms = []
        for role, (threshold, comparison, datapoints) in wanted.items():
            name = owned.get(role) or f"TargetTracking-{key.resource_id}-{role}-{uuid.uuid4()}"
            owned[role] = name
            request = {
                "AlarmName": name,
                "AlarmDescription": DESCRIPTION.format(arn=doc["PolicyARN"]),
                "ActionsEnabled": True,
                "AlarmActions": [doc["PolicyARN"]],
                "EvaluationPeriods": datapoints,
                "DatapointsToAlarm": datapoints,
                "Threshold": threshold,
                "ComparisonOperator": comparison,
                **metric,
            }
            self.cloudwatch.put_metric_alarm(cw_ctx, request)
            alarms.append(
                {"AlarmName": name, "AlarmARN": f"arn:aws:cloudwatch:{ctx.region}:{ctx.account}:alarm:{name}"}
            )
        doc["_alarms"] = owned
        return alarms

    def delete_policy_alarms(self, ctx: RequestContext, policy: dict[str, Any]) -> None:
        names = [
            n for n in (policy.get("_alarms") or {}).values() if cw_store.get_alarm(self.db, ctx.account, ctx.region, n)
        ]
        if names:
            cw_ctx = RequestContext(ctx.account, ctx.region, ctx.request_id, "cloudwatch", "DeleteAlarms")
            self.cloudwatch.delete_alarms(cw_ctx, {"AlarmNames": names})

    def describe_scaling_policies(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        after, limit = self.page_args(params)
        where = as_store.TargetFilter(
            ctx.account,
            ctx.region,
            params["ServiceNamespace"],
            dimension=params.get("ScalableDimension"),
            resource_id=params.get("ResourceId"),
            names=tuple(params.get("PolicyNames") or ()),
        )
        rows = as_store.list_policies(self.db, where, after, limit + 1)
        alarms = cw_store.list_alarms(self.db, cw_store.AlarmFilter(ctx.account, ctx.region), None, 1_000_000)
        policies = []
        for _, doc in rows[:limit]:
            view = public(doc)
            if doc["PolicyType"] == "StepScaling":
                view["Alarms"] = [
                    {"AlarmName": a["AlarmName"], "AlarmARN": a["AlarmArn"]}
                    for a in alarms
                    if doc["PolicyARN"] in [*a.get("AlarmActions", ()), *a.get("OKActions", ())]
                ]
            policies.append(view)
        result: dict[str, Any] = {"ScalingPolicies": policies}
        if len(rows) > limit:
            result["NextToken"] = self.token(rows[limit - 1][0])
        return result

    def delete_scaling_policy(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        key = self.target_key(ctx, params)
        name = params["PolicyName"]
        doc = as_store.get_policy(self.db, key, name)
        if doc is None:
            raise errors.ObjectNotFoundException(
                errors.POLICY_NOT_FOUND.format(
                    namespace=key.namespace, resource_id=key.resource_id, dimension=key.dimension, name=name
                )
            )
        with self.db.transaction():
            self.delete_policy_alarms(ctx, doc)
            as_store.delete_policy(self.db, key, name)
        return {}

    def get_predictive_scaling_forecast(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        key = self.target_key(ctx, params)
        self.require_target(key)
        name = params["PolicyName"]
        if float(params["EndTime"]) <= float(params["StartTime"]):
            raise errors.ValidationException(errors.FORECAST_RANGE)
        if as_store.get_policy(self.db, key, name) is None:
            raise errors.ValidationException(
                errors.POLICY_NOT_FOUND.format(
                    namespace=key.namespace, resource_id=key.resource_id, dimension=key.dimension, name=name
                )
            )
        # Every policy ecslite holds is target tracking or step scaling: none has a forecast.
        raise errors.ValidationException(errors.NOT_PREDICTIVE.format(name=name))


def _check_tracking(config: dict[str, Any]) -> None:
    predefined, custom = config.get("PredefinedMetricSpecification"), config.get("CustomizedMetricSpecification")
    if (predefined is None) == (custom is None):
        raise errors.ValidationException(errors.METRIC_ONE_OF)
    if predefined is not None:
        metric = predefined["PredefinedMetricType"]
        label = predefined.get("ResourceLabel")
        if metric == ALB:
            if not label:
                raise errors.ValidationException(errors.RESOURCE_LABEL_REQUIRED)
            if not RESOURCE_LABEL.fullmatch(label):
                raise errors.ValidationException(errors.RESOURCE_LABEL_FORMAT.format(label=label))
        elif metric not in PREDEFINED:
            raise errors.ValidationException(errors.PREDEFINED_FOR_NAMESPACE.format(metric=metric))
        elif label:
            raise errors.ValidationException(errors.RESOURCE_LABEL_NOT_ALLOWED)
    elif (
        custom is not None
        and not custom.get("Metrics")
        and not all(custom.get(k) for k in ("MetricName", "Namespace", "Statistic"))
    ):
        raise errors.ValidationException(errors.CUSTOM_METRIC_FIELDS)


def _alarm_metric(key: as_store.TargetKey, config: dict[str, Any]) -> dict[str, Any]:
    """The metric part of PutMetricAlarm for a tracking policy's alarms."""
    predefined = config.get("PredefinedMetricSpecification")
    if predefined is not None:
        metric = predefined["PredefinedMetricType"]
        if metric == ALB:
            match = RESOURCE_LABEL.fullmatch(predefined["ResourceLabel"])
            assert match is not None
            return {
                "Namespace": "AWS/ApplicationELB",
                "MetricName": "RequestCountPerTarget",
                "Dimensions": [{"Name": "TargetGroup", "Value": f"targetgroup/{match.group(1)}/{match.group(2)}"}],
                "Statistic": "Sum",
                "Period": 60,
            }
        found = service_of(key.resource_id)
        assert found is not None
        name, period = PREDEFINED[metric]
        return {
            "Namespace": "AWS/ECS",
            "MetricName": name,
            "Dimensions": [{"Name": "ClusterName", "Value": found[0]}, {"Name": "ServiceName", "Value": found[1]}],
            "Statistic": "Average",
            "Period": period,
            "Unit": "Percent",
        }
    custom = config["CustomizedMetricSpecification"]
    if custom.get("Metrics"):
        queries = []
        for query in custom["Metrics"]:
            item = {k: v for k, v in query.items() if k in ("Id", "Expression", "Label", "ReturnData")}
            if query.get("MetricStat"):
                stat = query["MetricStat"]
                item["MetricStat"] = {"Metric": stat["Metric"], "Stat": stat["Stat"], "Period": 60}
                if stat.get("Unit"):
                    item["MetricStat"]["Unit"] = stat["Unit"]
            queries.append(item)
        return {"Metrics": queries}
    alarm: dict[str, Any] = {
        "Namespace": custom["Namespace"],
        "MetricName": custom["MetricName"],
        "Dimensions": custom.get("Dimensions") or [],
        "Statistic": custom["Statistic"],
        "Period": 60,
    }
    if custom.get("Unit"):
        alarm["Unit"] = custom["Unit"]
    return alarm


def _checked_step(config: dict[str, Any] | None, existing: dict[str, Any] | None) -> dict[str, Any]:
    merged = {**(existing or {}), **(config or {})}
    if not merged.get("AdjustmentType") or not merged.get("StepAdjustments"):
        raise errors.ValidationException(errors.STEP_ADJUSTMENTS_REQUIRED)
    if merged.get("MinAdjustmentMagnitude") is not None and merged["AdjustmentType"] != "PercentChangeInCapacity":
        raise errors.ValidationException(errors.MIN_MAGNITUDE_TYPE)
    steps = merged["StepAdjustments"]
    intervals = []
    for step in steps:
        low, high = step.get("MetricIntervalLowerBound"), step.get("MetricIntervalUpperBound")
        if (low is None and high is None and len(steps) > 1) or (low is not None and high is not None and high <= low):
            raise errors.ValidationException(errors.STEP_BOUNDS)
        intervals.append((float("-inf") if low is None else low, float("inf") if high is None else high))
    intervals.sort()
    for (_, high), (low, _) in itertools.pairwise(intervals):
        if high != low:
            raise errors.ValidationException(errors.STEP_OVERLAP)
    return merged
