"""Alarm operations: PutMetricAlarm, DescribeAlarms, DescribeAlarmsForMetric, DeleteAlarms,
SetAlarmState, DescribeAlarmHistory, EnableAlarmActions, DisableAlarmActions.

The provider keeps the configuration; the alarm evaluator (control.alarms) moves the state from the
metric every period. A new alarm starts in ``INSUFFICIENT_DATA``; an update keeps the state.
SetAlarmState changes the state at once and tells the state listeners (the evaluator runs the
alarm's actions for the new state, as CloudWatch does); the next evaluation puts the state back
where the metric says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.cloudwatch import errors
from ecslite.providers.cloudwatch.common import CloudWatchBase, alarm_arn, next_token, token_key
from ecslite.providers.cloudwatch.datapoints import MetricId
from ecslite.providers.cloudwatch.metrics import valid_period
from ecslite.store import cloudwatch as cw_store
from ecslite.store import tags as tag_store

MAX_ALARM_WINDOW = 86400
DEFAULT_PAGE = 50
INITIAL_REASON = "Unchecked: Initial alarm creation"
CONFIGURATION = (
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "ThresholdMetricId",
)

# (account, region, alarm document) after a state change made through the API.
StateListener = Callable[[str, str, dict[str, Any]], None]


class AlarmOps(CloudWatchBase):
    state_listeners: list[StateListener]

    def put_metric_alarm(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        self.check_alarm(params)
        name = params["AlarmName"]
        now = self.now()
        existing = cw_store.get_alarm(self.db, ctx.account, ctx.region, name)
        doc: dict[str, Any] = {k: params[k] for k in CONFIGURATION if params.get(k) is not None}
        doc.setdefault("ActionsEnabled", True)
        for key in ("OKActions", "AlarmActions", "InsufficientDataActions", "Dimensions"):
            doc.setdefault(key, [])
        doc.setdefault("TreatMissingData", "missing")
        doc["AlarmName"] = name
        doc["AlarmArn"] = alarm_arn(ctx.region, ctx.account, name)
        doc["AlarmConfigurationUpdatedTimestamp"] = now
        if existing is None:
            doc.update(StateValue="INSUFFICIENT_DATA", StateReason=INITIAL_REASON, StateUpdatedTimestamp=now)
            doc["StateTransitionedTimestamp"] = now
        else:
            for key in ("StateValue", "StateReason", "StateReasonData", "StateUpdatedTimestamp"):
                if key in existing:
                    doc[key] = existing[key]
            doc["StateTransitionedTimestamp"] = existing.get("StateTransitionedTimestamp", now)
            doc["_lastActionAt"] = existing.get("_lastActionAt")
        verb = "created" if existing is None else "updated"
        data = {"version": "1.0", "type": "Create" if existing is None else "Update", "createdAlarm": _public(doc)}
        with self.db.transaction():
            cw_store.put_alarm(self.db, ctx.account, ctx.region, doc)
            item = cw_store.history_item(name, now, "ConfigurationUpdate", f'Alarm "{name}" {verb}', data)
            cw_store.add_history(self.db, ctx.account, ctx.region, item)
            tag_store.put(self.db, doc["AlarmArn"], [(t["Key"], t["Value"]) for t in params.get("Tags") or ()])
        return {}

    def check_alarm(self, params: Params) -> None:
        metrics = params.get("Metrics")
        if bool(params.get("MetricName")) == bool(metrics):
            raise errors.ValidationError(errors.ALARM_METRIC_OR_METRICS)
        period = params.get("Period")
        if metrics:
            if sum(1 for m in metrics if m.get("ReturnData", True)) != 1:
                raise errors.ValidationError(errors.ALARM_EXPRESSION_RETURN)
            periods = [m["MetricStat"]["Period"] for m in metrics if m.get("MetricStat")]
            period = period or (min(periods) if periods else None)
        else:
            if bool(params.get("Statistic")) == bool(params.get("ExtendedStatistic")):
                raise errors.ValidationError(errors.ALARM_STATISTIC_XOR)
            if period is None:
                raise errors.ValidationError(errors.PERIOD_REQUIRED)
        if period is not None and not valid_period(int(period)):
            raise errors.ValidationError(errors.PERIOD_INVALID)
        evaluations = int(params["EvaluationPeriods"])
        if int(params.get("DatapointsToAlarm") or evaluations) > evaluations:
            raise errors.ValidationError(errors.ALARM_DATAPOINTS)
        if period is not None and evaluations * int(period) > MAX_ALARM_WINDOW:
            raise errors.ValidationError(errors.ALARM_WINDOW)

    def describe_alarms(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        types = params.get("AlarmTypes") or ["MetricAlarm"]
        if "MetricAlarm" not in types or params.get("ChildrenOfAlarmName") or params.get("ParentsOfAlarmName"):
            return {"MetricAlarms": [], "CompositeAlarms": []}  # ecslite has no composite alarms
        where = cw_store.AlarmFilter(
            ctx.account,
            ctx.region,
            tuple(params.get("AlarmNames") or ()),
            params.get("AlarmNamePrefix"),
            params.get("StateValue"),
        )
        limit = int(params.get("MaxRecords") or DEFAULT_PAGE)
        prefix = params.get("ActionPrefix")
        after = token_key(params.get("NextToken"))
        found: list[dict[str, Any]] = []
        while len(found) <= limit:
            batch = cw_store.list_alarms(self.db, where, after, limit + 1)
            if not batch:
                break
            after = batch[-1]["AlarmName"]
            found.extend(a for a in batch if prefix is None or any(x.startswith(prefix) for x in _actions(a)))
        result: dict[str, Any] = {"MetricAlarms": [_public(a) for a in found[:limit]], "CompositeAlarms": []}
        if len(found) > limit:
            result["NextToken"] = next_token(found[limit - 1]["AlarmName"])
        return result

    def describe_alarms_for_metric(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        wanted = MetricId.of(params["Namespace"], params["MetricName"], params.get("Dimensions"))
        out = []
        for alarm in cw_store.list_alarms(self.db, cw_store.AlarmFilter(ctx.account, ctx.region), None, 1_000_000):
            if not alarm.get("MetricName"):
                continue
            if MetricId.of(alarm["Namespace"], alarm["MetricName"], alarm.get("Dimensions")) != wanted:
                continue
            if any(
                params.get(k) is not None and alarm.get(k) != params[k]
                for k in ("Statistic", "ExtendedStatistic", "Period", "Unit")
            ):
                continue
            out.append(_public(alarm))
        return {"MetricAlarms": out}

    def delete_alarms(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        names = list(params["AlarmNames"])
        for name in names:
            if cw_store.get_alarm(self.db, ctx.account, ctx.region, name) is None:
                raise errors.ResourceNotFound(errors.ALARM_NOT_FOUND.format(name=name))
        with self.db.transaction():
            for name in names:
                arn = alarm_arn(ctx.region, ctx.account, name)
                cw_store.delete_alarm(self.db, ctx.account, ctx.region, name)
                cw_store.delete_history(self.db, ctx.account, ctx.region, name)
                tag_store.remove(self.db, arn, [k for k, _ in tag_store.get(self.db, arn)])
        return {}

    def set_alarm_state(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        name = params["AlarmName"]
        doc = cw_store.get_alarm(self.db, ctx.account, ctx.region, name)
        if doc is None:
            raise errors.ResourceNotFound(errors.ALARM_NOT_FOUND.format(name=name))
        data = params.get("StateReasonData")
        if data is not None:
            try:
                orjson.loads(data)
            except orjson.JSONDecodeError:
                raise errors.InvalidFormat(errors.STATE_REASON_DATA) from None
        with self.db.transaction():
            changed = cw_store.record_state(
                self.db, ctx.account, ctx.region, doc, params["StateValue"], params["StateReason"], data, self.now()
            )
        if changed:
            for listener in self.state_listeners:
                listener(ctx.account, ctx.region, doc)
        return {}

    def describe_alarm_history(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        types = params.get("AlarmTypes") or ["MetricAlarm"]
        if "MetricAlarm" not in types:
            return {"AlarmHistoryItems": []}
        oldest_first = params.get("ScanBy") == "TimestampAscending"
        where = cw_store.HistoryFilter(
            ctx.account,
            ctx.region,
            params.get("AlarmName"),
            params.get("HistoryItemType"),
            params.get("StartDate"),
            params.get("EndDate"),
            oldest_first,
        )
        limit = int(params.get("MaxRecords") or 100)
        rows = cw_store.list_history(self.db, where, token_key(params.get("NextToken")), limit + 1)
        result: dict[str, Any] = {"AlarmHistoryItems": [doc for _, doc in rows[:limit]]}
        if len(rows) > limit:
            result["NextToken"] = next_token(rows[limit - 1][0])
        return result

    def enable_alarm_actions(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        return self._set_actions(ctx, params["AlarmNames"], True)

    def disable_alarm_actions(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        return self._set_actions(ctx, params["AlarmNames"], False)

    def _set_actions(self, ctx: RequestContext, names: list[str], enabled: bool) -> dict[str, Any]:
        with self.db.transaction():
            for name in names:
                doc = cw_store.get_alarm(self.db, ctx.account, ctx.region, name)
                if doc is not None and doc.get("ActionsEnabled") != enabled:
                    doc["ActionsEnabled"] = enabled
                    cw_store.put_alarm(self.db, ctx.account, ctx.region, doc)
        return {}


def _actions(alarm: dict[str, Any]) -> list[str]:
    return [*alarm.get("AlarmActions", ()), *alarm.get("OKActions", ()), *alarm.get("InsufficientDataActions", ())]


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}
