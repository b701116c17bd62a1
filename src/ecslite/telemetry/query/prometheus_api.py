"""The Prometheus HTTP API under ``/prometheus`` (spec/telemetry.md §7.1): ``query``,
``query_range``, ``series``, ``labels``, ``label/<name>/values``, ``metadata``,
``query_exemplars``, ``format_query``, ``status/buildinfo``, the empty ``rules``/``alerts`` Grafana probes, and
``/-/ready``/``/-/healthy``.

Every endpoint takes GET parameters or a POST form (Grafana posts). Answers use Prometheus'
envelope: ``{"status": "success", "data": …}`` or ``{"status": "error", "errorType", "error"}``
with 400 (bad_data), 422 (execution), 503 (timeout) or 500 (internal). Sample values are strings
as Go formats them, times Unix seconds. Parameter errors carry Prometheus' messages
(``invalid parameter "start": cannot parse "x" to a valid timestamp``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ecslite.clock import Clock
from ecslite.telemetry.model import Labels
from ecslite.telemetry.prometheus import unit_suffix
from ecslite.telemetry.query.http import guarded, json_response, off_loop, text_response
from ecslite.telemetry.query.params import (
    MAX_TIME_MS,
    MIN_TIME_MS,
    BadParameter,
    Params,
    parse_duration_ms,
    parse_int,
    parse_prometheus_time,
)
from ecslite.telemetry.query.promql import MAX_POINTS, EvalError, ParseError, PromQL, QueryTimeout
from ecslite.telemetry.query.promql_ast import VectorSel, format_query, walk
from ecslite.telemetry.query.promql_functions import LABEL_NAME
from ecslite.telemetry.query.promql_values import (
    Matrix,
    Scalar,
    String,
    Value,
    Vector,
    format_timestamp,
    format_value,
)
from ecslite.telemetry.store import Matcher, TelemetryStore

# Reported by status/buildinfo: Grafana enables features by the Prometheus version (§7.1).
PROMETHEUS_VERSION = "2.53.0"
DEFAULT_TIMEOUT_MS = 120_000
_STATUS = {"bad_data": 400, "execution": 422, "timeout": 503, "canceled": 503, "internal": 500, "not_found": 404}


def error(kind: str, message: str) -> Response:
    return json_response({"status": "error", "errorType": kind, "error": message}, _STATUS[kind])


def success(data: Any) -> Response:
    return json_response({"status": "success", "data": data})


def _internal(message: str) -> Response:
    return error("internal", message)


class PrometheusApi:
    def __init__(self, store: TelemetryStore, clock: Clock, version: str = PROMETHEUS_VERSION) -> None:
        self.store = store
        self.clock = clock
        self.version = version

    def routes(self) -> list[BaseRoute]:
        both = ["GET", "POST"]
        guard = guarded(_internal)
        return [
            Route("/api/v1/query", guard(self.query), methods=both),
            Route("/api/v1/query_range", guard(self.query_range), methods=both),
            Route("/api/v1/series", guard(self.series), methods=both),
            Route("/api/v1/labels", guard(self.labels), methods=both),
            Route("/api/v1/label/{name}/values", guard(self.label_values), methods=["GET"]),
            Route("/api/v1/metadata", guard(self.metadata), methods=["GET"]),
            Route("/api/v1/query_exemplars", guard(self.query_exemplars), methods=both),
            Route("/api/v1/format_query", guard(self.format_query), methods=both),
            Route("/api/v1/status/buildinfo", guard(self.buildinfo), methods=["GET"]),
            Route("/api/v1/rules", guard(self.rules), methods=["GET"]),
            Route("/api/v1/alerts", guard(self.alerts), methods=["GET"]),
            Route("/-/ready", self.ready, methods=["GET", "HEAD"]),
            Route("/-/healthy", self.healthy, methods=["GET", "HEAD"]),
        ]

    def _now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    def _read(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[Any]:
        return self.store.read_series(matchers, start_ms, end_ms)

    # -- queries -------------------------------------------------------------------------------

    async def query(self, request: Request) -> Response:
        params = await Params.read(request)
        try:
            time_ms = _time_param(params, "time", self._now_ms())
            timeout = _timeout(params)
            expr = _parse(params.get("query") or "")
        except BadParameter as problem:
            return error("bad_data", str(problem))
        return await self._run(lambda: _value_json(expr.instant(self._read, time_ms, timeout), time_ms))

    async def query_range(self, request: Request) -> Response:
        params = await Params.read(request)
        try:
            start = parse_prometheus_time(params.get("start") or "", "start")
            end = parse_prometheus_time(params.get("end") or "", "end")
            if end < start:
                return error("bad_data", 'invalid parameter "end": end timestamp must not be before start time')
            step = parse_duration_ms(params.get("step") or "", "step")
            if step <= 0:
                return error(
                    "bad_data",
                    'invalid parameter "step": zero or negative query resolution step widths are not accepted. '
                    "Try a positive integer",
                )
            if (end - start) // step > MAX_POINTS:
                return error(
                    "bad_data",
                    "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query "
                    "resolution (?step=XX)",
                )
            timeout = _timeout(params)
            expr = _parse(params.get("query") or "")
        except BadParameter as problem:
            return error("bad_data", str(problem))
        return await self._run(lambda: _matrix_json(expr.range(self._read, start, end, step, timeout)))

    async def _run(self, evaluate: Any) -> Response:
        try:
            data = await off_loop(evaluate)
        except QueryTimeout as problem:
            return error("timeout", str(problem))
        except EvalError as problem:
            return error("execution", str(problem))
        return success(data)

    # -- metadata ------------------------------------------------------------------------------

    async def series(self, request: Request) -> Response:
        params = await Params.read(request)
        matches = params.all("match[]")
        if not matches:
            return error("bad_data", "no match[] parameter provided")
        try:
            selectors = [_selector(m) for m in matches]
            start, end = _range(params)
            limit = parse_int(params.get("limit"), "limit", 0)
        except BadParameter as problem:
            return error("bad_data", str(problem))

        def find() -> list[dict[str, str]]:
            found: set[Labels] = set()
            for selector in selectors:
                for matchers in selector.groups():
                    found.update(self.store.select_series(matchers, start, end))
            ordered = [dict(labels) for labels in sorted(found)]
            return ordered[:limit] if limit > 0 else ordered

        return success(await off_loop(find))

    async def labels(self, request: Request) -> Response:
        params = await Params.read(request)
        try:
            selectors = [_selector(m) for m in params.all("match[]")]
            start, end = _range(params)
            limit = parse_int(params.get("limit"), "limit", 0)
        except BadParameter as problem:
            return error("bad_data", str(problem))

        def find() -> list[str]:
            names: set[str] = set()
            if not selectors:
                names.update(self.store.metric_label_names((), start, end))
            for selector in selectors:
                for matchers in selector.groups():
                    for labels in self.store.select_series(matchers, start, end):
                        names.update(name for name, _ in labels)
            ordered = sorted(names)
            return ordered[:limit] if limit > 0 else ordered

        return success(await off_loop(find))

    async def label_values(self, request: Request) -> Response:
        name = request.path_params["name"]
        if not LABEL_NAME.fullmatch(name):
            return error("bad_data", f'invalid label name: "{name}"')
        params = await Params.read(request)
        try:
            selectors = [_selector(m) for m in params.all("match[]")]
            start, end = _range(params)
            limit = parse_int(params.get("limit"), "limit", 0)
        except BadParameter as problem:
            return error("bad_data", str(problem))

        def find() -> list[str]:
            values: set[str] = set()
            if not selectors:
                values.update(self.store.metric_label_values(name, (), start, end))
            for selector in selectors:
                for matchers in selector.groups():
                    for labels in self.store.select_series(matchers, start, end):
                        value = dict(labels).get(name)
                        if value:
                            values.add(value)
            ordered = sorted(values)
            return ordered[:limit] if limit > 0 else ordered

        return success(await off_loop(find))

    async def metadata(self, request: Request) -> Response:
        params = await Params.read(request)
        try:
            limit = parse_int(params.get("limit"), "limit", -1)
            per_metric = parse_int(params.get("limit_per_metric"), "limit_per_metric", -1)
        except BadParameter as problem:
            return error("bad_data", str(problem))
        metric = params.get("metric") or None
        found = await off_loop(self.store.metric_metadata, metric)
        data: dict[str, list[dict[str, str]]] = {}
        for meta in found:
            if limit >= 0 and len(data) >= limit:
                break
            # The store keeps the OTel unit ("s"); Prometheus shows the unit its name carries ("seconds").
            unit = unit_suffix(meta.unit, gauge=meta.type == "gauge") if meta.unit else ""
            entries = [{"type": meta.type, "help": meta.help, "unit": unit}]
            data[meta.name] = entries[:per_metric] if per_metric >= 0 else entries
        return success(data)

    async def query_exemplars(self, request: Request) -> Response:
        params = await Params.read(request)
        try:
            expr = _parse(params.get("query") or "")
            start, end = _range(params)
        except BadParameter as problem:
            return error("bad_data", str(problem))
        selectors = [node for node in walk(expr.root) if isinstance(node, VectorSel)]

        def find() -> list[dict[str, Any]]:
            grouped: dict[Labels, list[dict[str, Any]]] = {}
            for selector in selectors:
                for matchers in selector.groups():
                    for ex in self.store.exemplars(matchers, start, end):
                        labels = dict(ex.labels)
                        if ex.trace_id:
                            labels["trace_id"] = ex.trace_id.hex()
                        if ex.span_id:
                            labels["span_id"] = ex.span_id.hex()
                        entry = {"labels": labels, "value": format_value(ex.value), "timestamp": ex.ts_ms / 1000}
                        bucket = grouped.setdefault(ex.series, [])
                        if entry not in bucket:
                            bucket.append(entry)
            return [{"seriesLabels": dict(series), "exemplars": grouped[series]} for series in sorted(grouped)]

        return success(await off_loop(find))

    async def format_query(self, request: Request) -> Response:
        params = await Params.read(request)
        try:
            return success(format_query(params.get("query") or ""))
        except ParseError as problem:
            return error("bad_data", f'invalid parameter "query": parse error: {problem}')

    # -- status --------------------------------------------------------------------------------

    async def buildinfo(self, request: Request) -> Response:
        from ecslite import __version__

        return success(
            {
                "version": self.version,
                "revision": f"ecslite-{__version__}",
                "branch": "",
                "buildUser": "",
                "buildDate": "",
                "goVersion": "",
            }
        )

    async def rules(self, request: Request) -> Response:
        return success({"groups": []})

    async def alerts(self, request: Request) -> Response:
        return success({"alerts": []})

    async def ready(self, request: Request) -> Response:
        return text_response("Prometheus Server is Ready.\n")

    async def healthy(self, request: Request) -> Response:
        return text_response("Prometheus Server is Healthy.\n")


def _parse(text: str) -> PromQL:
    try:
        return PromQL.parse(text)
    except ParseError as problem:
        raise BadParameter("query", f"parse error: {problem}") from None


def _selector(text: str) -> VectorSel:
    try:
        expr = PromQL.parse(text)
    except ParseError as problem:
        raise BadParameter("match[]", f"parse error: {problem}") from None
    if not isinstance(expr.root, VectorSel):
        raise BadParameter("match[]", "parse error: expected a vector selector")
    return expr.root


def _range(params: Params) -> tuple[int, int]:
    return _time_param(params, "start", MIN_TIME_MS), _time_param(params, "end", MAX_TIME_MS)


def _time_param(params: Params, name: str, default: int) -> int:
    """Prometheus' ``parseTimeParam``: absent means ``default``; its errors name the parameter twice."""
    text = params.get(name)
    if not text:
        return default
    try:
        return parse_prometheus_time(text, name)
    except BadParameter as problem:
        raise BadParameter(name, f"Invalid time value for '{name}': {problem.detail}") from None


def _timeout(params: Params) -> float:
    text = params.get("timeout")
    if not text:
        return DEFAULT_TIMEOUT_MS / 1000
    return min(parse_duration_ms(text, "timeout"), DEFAULT_TIMEOUT_MS) / 1000


def _point(ms: int, value: float) -> list[Any]:
    return [format_timestamp(ms), format_value(value)]


def _value_json(value: Value, time_ms: int) -> dict[str, Any]:
    if isinstance(value, Scalar):
        return {"resultType": "scalar", "result": _point(time_ms, value.value)}
    if isinstance(value, String):
        return {"resultType": "string", "result": [format_timestamp(time_ms), value.value]}
    if isinstance(value, Vector):
        return {
            "resultType": "vector",
            "result": [{"metric": dict(s.labels), "value": _point(time_ms, s.value)} for s in value.samples],
        }
    return _matrix_json(value)


def _matrix_json(value: Matrix) -> dict[str, Any]:
    return {
        "resultType": "matrix",
        "result": [
            {"metric": dict(s.labels), "values": [_point(t, v) for t, v in zip(s.timestamps, s.values, strict=True)]}
            for s in value.series
        ],
    }
