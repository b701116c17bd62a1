"""The CloudWatch provider: metrics, alarms and alarm tags, and what the alarm evaluator reads."""

from __future__ import annotations

from typing import Any

from ecslite.clock import Clock
from ecslite.model.scaling import TimeScale
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.cloudwatch import errors
from ecslite.providers.cloudwatch.alarms import AlarmOps, StateListener
from ecslite.providers.cloudwatch.datapoints import MetricId, MetricReader
from ecslite.providers.cloudwatch.metrics import MetricOps
from ecslite.store import cloudwatch as cw_store
from ecslite.store import tags as tag_store
from ecslite.store.db import Database
from ecslite.telemetry.store import TelemetryStore

MAX_TAGS = 50


class CloudWatchProvider(MetricOps, AlarmOps):
    """Amazon CloudWatch, API 2010-08-01: metrics, metric math, alarms and their history."""

    def __init__(
        self, db: Database, clock: Clock, telemetry: TelemetryStore | None, scale: TimeScale | None = None
    ) -> None:
        super().__init__(db, clock, MetricReader(db, telemetry), scale)
        self.state_listeners: list[StateListener] = []

    # -- tags (alarms) -----------------------------------------------------------------------------

    def _alarm_arn(self, ctx: RequestContext, arn: str) -> str:
        found = cw_store.alarm_by_arn(self.db, arn)
        if found is None or found[:2] != (ctx.account, ctx.region):
            raise errors.ResourceNotFoundException(errors.RESOURCE_NOT_FOUND.format(arn=arn))
        return arn

    def tag_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn = self._alarm_arn(ctx, params["ResourceARN"])
        pairs = [(t["Key"], t["Value"]) for t in params["Tags"]]
        if tag_store.count_after(self.db, arn, [k for k, _ in pairs]) > MAX_TAGS:
            raise errors.InvalidParameterValue(f"A resource can have at most {MAX_TAGS} tags.")
        with self.db.transaction():
            tag_store.put(self.db, arn, pairs)
        return {}

    def untag_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn = self._alarm_arn(ctx, params["ResourceARN"])
        with self.db.transaction():
            tag_store.remove(self.db, arn, list(params["TagKeys"]))
        return {}

    def list_tags_for_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn = self._alarm_arn(ctx, params["ResourceARN"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in tag_store.get(self.db, arn)]}

    # -- what the alarm evaluator reads -------------------------------------------------------------

    async def alarm_values(
        self, account: str, region: str, alarm: dict[str, Any], start: float, end: float
    ) -> dict[float, float]:
        """The alarm's metric (or ``ReturnData`` expression) per scaled period in ``[start, end)``.

        Periods are the alarm's ``Period`` times the time scale (``--metrics-period``), at least 1 s.
        """
        if alarm.get("MetricName"):
            period = max(1, round(self.scale.seconds(float(alarm["Period"]))))
            metric = MetricId.of(alarm["Namespace"], alarm["MetricName"], alarm.get("Dimensions"))
            statistic = alarm.get("Statistic") or alarm.get("ExtendedStatistic") or "Average"
            buckets = await self.reader.buckets(account, region, metric, start, end, period, alarm.get("Unit"))
            return {b.start: v for b in buckets if (v := b.statistic(statistic)) is not None}
        queries = []
        for query in alarm.get("Metrics") or ():
            scaled = dict(query)
            if query.get("MetricStat"):
                stat = dict(query["MetricStat"])
                stat["Period"] = max(1, round(self.scale.seconds(float(stat["Period"]))))
                scaled["MetricStat"] = stat
            queries.append(scaled)
        series = await self.query_series(account, region, queries, start, end)
        returned = next(q["Id"] for q in queries if q.get("ReturnData", True))
        return series[returned]

    def tags_of(self, arn: str) -> list[tuple[str, str]]:
        return tag_store.get(self.db, arn)
