"""Metric operations: PutMetricData, GetMetricStatistics, GetMetricData, ListMetrics.

``AWS/``-prefixed namespaces belong to AWS: PutMetricData refuses them, and ``AWS/ECS`` (with
``ECS/ContainerInsights``) is served from the runtime's measurements (datapoints.py). Everything
else is what users put. GetMetricData evaluates MetricStat queries and simple metric math
(expressions.py); its pages are cut at ``MaxDatapoints`` datapoints.
"""

from __future__ import annotations

import math
from typing import Any

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.cloudwatch import errors
from ecslite.providers.cloudwatch.common import CloudWatchBase, next_token, token_key
from ecslite.providers.cloudwatch.datapoints import BASIC_STATISTICS, MetricId, expected_periods, valid_statistic
from ecslite.providers.cloudwatch.expressions import ExpressionError, Named, evaluate, references
from ecslite.store import cloudwatch as cw_store

MAX_DATAPOINTS = 1440  # GetMetricStatistics' limit per request
PAST_LIMIT = 14 * 86400.0  # PutMetricData takes timestamps up to two weeks old ...
FUTURE_LIMIT = 2 * 3600.0  # ... and two hours ahead
LIST_PAGE = 500
RECENT_SECONDS = 3 * 3600.0  # ListMetrics RecentlyActive=PT3H
LIST_LOOKBACK = 14 * 86400.0
DEFAULT_MAX_DATAPOINTS = 100_800


def valid_period(period: int) -> bool:
    return period in (1, 5, 10, 20, 30) or (period >= 60 and period % 60 == 0)


class MetricOps(CloudWatchBase):
    # -- PutMetricData -----------------------------------------------------------------------------

    def put_metric_data(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        namespace = params["Namespace"]
        if namespace.startswith("AWS/"):
            raise errors.InvalidParameterValue(errors.NAMESPACE_RESERVED.format(namespace=namespace))
        now = self.now()
        data = [self._datum(index, item, now) for index, item in enumerate(params.get("MetricData") or (), 1)]
        with self.db.transaction():
            cw_store.put_data(self.db, ctx.account, ctx.region, namespace, data, now)
        return {}

    @staticmethod
    def _datum(index: int, item: dict[str, Any], now: float) -> cw_store.Datum:
        has_value, has_stats, has_values = "Value" in item, "StatisticValues" in item, bool(item.get("Values"))
        if has_value and has_stats:
            raise errors.InvalidParameterCombination(errors.VALUE_AND_STATISTICS.format(index=index))
        if has_value and has_values:
            raise errors.InvalidParameterCombination(errors.VALUE_AND_VALUES.format(index=index))
        ts = float(item.get("Timestamp", now))
        if not now - PAST_LIMIT <= ts <= now + FUTURE_LIMIT:
            raise errors.InvalidParameterValue(errors.TIMESTAMP_RANGE.format(index=index))
        resolution = int(item.get("StorageResolution", 60))
        if resolution not in (1, 60):
            raise errors.InvalidParameterValue(f"The value {resolution} for parameter StorageResolution is invalid.")
        dims = tuple(sorted((d["Name"], d["Value"]) for d in item.get("Dimensions") or ()))
        unit = item.get("Unit") or "None"
        if has_stats:
            s = item["StatisticValues"]
            count, total, low, high = s["SampleCount"], s["Sum"], s["Minimum"], s["Maximum"]
        elif has_values:
            values = [float(v) for v in item["Values"]]
            counts = [float(c) for c in item.get("Counts") or [1.0] * len(values)]
            if len(counts) != len(values):
                raise errors.InvalidParameterValue(errors.VALUES_AND_COUNTS.format(index=index))
            count = sum(counts)
            total = sum(v * c for v, c in zip(values, counts, strict=True))
            low, high = min(values), max(values)
        elif has_value:
            value = float(item["Value"])
            count, total, low, high = 1.0, value, value, value
        else:
            raise errors.MissingParameter(errors.NO_VALUE.format(index=index))
        for number in (count, total, low, high):
            if not math.isfinite(number):
                raise errors.InvalidParameterValue(
                    f"The value {number} for parameter MetricData.member.{index}.Value is invalid."
                )
        return cw_store.Datum(item["MetricName"], dims, ts, unit, count, total, low, high, resolution)

    # -- GetMetricStatistics -----------------------------------------------------------------------

    async def get_metric_statistics(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        start, end, period = float(params["StartTime"]), float(params["EndTime"]), int(params["Period"])
        statistics = list(params.get("Statistics") or ())
        extended = list(params.get("ExtendedStatistics") or ())
        if not statistics and not extended:
            raise errors.InvalidParameterCombination(errors.NO_STATISTICS)
        for name in extended:
            if not valid_statistic(name) or name in BASIC_STATISTICS:
                raise errors.InvalidParameterValue(f"The value {name} for parameter ExtendedStatistics is invalid.")
        if start >= end:
            raise errors.InvalidParameterValue(errors.START_AFTER_END)
        if not valid_period(period):
            raise errors.InvalidParameterValue(errors.PERIOD_INVALID)
        count = expected_periods(start, end, period)
        if count > MAX_DATAPOINTS:
            raise errors.InvalidParameterCombination(errors.TOO_MANY_DATAPOINTS.format(count=count))
        metric = MetricId.of(params["Namespace"], params["MetricName"], params.get("Dimensions"))
        buckets = await self.reader.buckets(ctx.account, ctx.region, metric, start, end, period, params.get("Unit"))
        points = []
        for bucket in buckets:
            point: dict[str, Any] = {"Timestamp": bucket.start, "Unit": bucket.unit}
            for name in statistics:
                point[name] = bucket.statistic(name)
            values = {name: bucket.statistic(name) for name in extended}
            if any(v is not None for v in values.values()):
                point["ExtendedStatistics"] = {k: v for k, v in values.items() if v is not None}
            points.append(point)
        return {"Label": params["MetricName"], "Datapoints": points}

    # -- GetMetricData -----------------------------------------------------------------------------

    async def get_metric_data(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        queries = params["MetricDataQueries"]
        start, end = float(params["StartTime"]), float(params["EndTime"])
        if start >= end:
            raise errors.ValidationError(errors.START_AFTER_END)
        series = await self.query_series(ctx.account, ctx.region, queries, start, end)
        descending = (params.get("ScanBy") or "TimestampDescending") == "TimestampDescending"
        results = []
        for query in queries:
            if query.get("ReturnData") is False:
                continue
            values = series[query["Id"]]
            stamps = sorted(values, reverse=descending)
            label = query.get("Label") or (
                query["MetricStat"]["Metric"]["MetricName"] if query.get("MetricStat") else query["Id"]
            )
            results.append(
                {"Id": query["Id"], "Label": label, "Timestamps": stamps, "Values": [values[t] for t in stamps]}
            )
        return self._page(results, params)

    @staticmethod
    def _page(results: list[dict[str, Any]], params: Params) -> dict[str, Any]:
        offset = int(token_key(params.get("NextToken")) or 0)
        limit = int(params.get("MaxDatapoints") or DEFAULT_MAX_DATAPOINTS)
        out, position, more = [], 0, False
        for result in results:
            size = len(result["Timestamps"])
            lo, hi = max(0, offset - position), max(0, min(size, offset + limit - position))
            position += size
            page = dict(result)
            page["Timestamps"], page["Values"] = result["Timestamps"][lo:hi], result["Values"][lo:hi]
            truncated = hi < size
            more = more or truncated
            page["StatusCode"] = "PartialData" if truncated else "Complete"
            out.append(page)
        response: dict[str, Any] = {"MetricDataResults": out, "Messages": []}
        if more:
            response["NextToken"] = next_token(offset + limit)
        return response

    async def query_series(
        self, account: str, region: str, queries: list[dict[str, Any]], start: float, end: float
    ) -> dict[str, dict[float, float]]:
        """Each query's time series by id: MetricStat queries read, expressions evaluated after what they name."""
        seen: set[str] = set()
        for index, query in enumerate(queries, 1):
            if query["Id"] in seen:
                raise errors.ValidationError(errors.QUERY_IDS_UNIQUE.format(id=query["Id"]))
            seen.add(query["Id"])
            if bool(query.get("MetricStat")) == bool(query.get("Expression")):
                raise errors.ValidationError(errors.QUERY_ONE_OF.format(index=index))
        series: dict[str, dict[float, float]] = {}
        named: list[Named] = []
        for query in queries:
            stat = query.get("MetricStat")
            if not stat:
                continue
            if not valid_statistic(stat["Stat"]):
                raise errors.ValidationError(f"The value {stat['Stat']} for parameter MetricStat.Stat is invalid.")
            metric = stat["Metric"]
            metric_id = MetricId.of(metric.get("Namespace", ""), metric.get("MetricName", ""), metric.get("Dimensions"))
            buckets = await self.reader.buckets(
                account, region, metric_id, start, end, stat["Period"], stat.get("Unit")
            )
            values = {b.start: v for b in buckets if (v := b.statistic(stat["Stat"])) is not None}
            series[query["Id"]] = values
            named.append(Named(query["Id"], query.get("Label") or metric_id.name, values))
        pending = [q for q in queries if q.get("Expression")]
        while pending:
            ready = [q for q in pending if references(q["Expression"]) <= set(series) | {"METRICS"}]
            if not ready:
                raise errors.ValidationError(f"The expression {pending[0]['Expression']} refers to an unknown id.")
            for query in ready:
                try:
                    series[query["Id"]] = evaluate(query["Expression"], series, named)
                except ExpressionError as error:
                    raise errors.ValidationError(f"Error in expression {query['Id']}: {error}") from None
                pending.remove(query)
        return series

    # -- ListMetrics -------------------------------------------------------------------------------

    async def list_metrics(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        now = self.now()
        recent = params.get("RecentlyActive") == "PT3H"
        since = now - (RECENT_SECONDS if recent else LIST_LOOKBACK)
        namespace, name = params.get("Namespace"), params.get("MetricName")
        wanted = tuple((d["Name"], d.get("Value")) for d in params.get("Dimensions") or ())
        where = cw_store.MetricFilter(ctx.account, ctx.region, namespace, name, wanted, since if recent else None)
        found = [
            MetricId(ns, metric, dims) for _, ns, metric, dims in cw_store.list_metrics(self.db, where, None, 1_000_000)
        ]
        for metric in await self.reader.runtime_metrics(since, now + 1):
            present = dict(metric.dimensions)
            if (
                (namespace is None or metric.namespace == namespace)
                and (name is None or metric.name == name)
                and all(n in present and (v is None or present[n] == v) for n, v in wanted)
            ):
                found.append(metric)
        found.sort(key=lambda m: (m.namespace, m.name, m.dimensions))
        offset = int(token_key(params.get("NextToken")) or 0)
        page = found[offset : offset + LIST_PAGE]
        result: dict[str, Any] = {"Metrics": [m.to_api() for m in page]}
        if offset + LIST_PAGE < len(found):
            result["NextToken"] = next_token(offset + LIST_PAGE)
        return result
