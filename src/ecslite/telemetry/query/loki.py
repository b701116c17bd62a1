"""The Loki HTTP API under ``/loki/api/v1`` (and ``/ready`` at the root) (spec/telemetry.md §7.2):
``query``, ``query_range``, ``labels`` (alias ``label``), ``label/<name>/values``, ``series``,
``index/stats``, ``tail`` (websocket: new lines every second), and empty answers for the newer
endpoints Grafana probes (``index/volume*``, ``detected_labels``, ``detected_fields``, ``patterns``).

Log queries: lines of the matching streams in ``[start, end)`` run through the pipeline
(:mod:`.logql_pipeline`); each distinct label set (stream labels, structured metadata, extracted
labels) is a stream; lines are ordered by ``direction`` and ``limit`` applies across streams.
``|=`` filters before any line rewrite are pushed down to the store's trigram index. Structured
metadata (``trace_id``, ``span_id``) is merged into the labels, or, when the request sends
``X-Loki-Response-Encoding-Flags: categorize-labels``, returned as each value's third element
next to the parsed labels (Loki 3).

Metric queries evaluate their log range aggregations per step over lines read once for the whole
range; the vector operations around them are PromQL's (:mod:`.promql_eval`). A line still
carrying ``__error__`` fails a metric query with Loki's "pipeline error" message.

Errors are plain-text bodies (400 for bad input, 500 otherwise), as Loki answers them.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ecslite.clock import Clock
from ecslite.telemetry.model import Labels
from ecslite.telemetry.query import logql
from ecslite.telemetry.query.http import guarded, json_response, off_loop, text_response
from ecslite.telemetry.query.logql_ast import LogQLError, LogQuery, LogRange, MetricQuery
from ecslite.telemetry.query.logql_pipeline import ERROR, ERROR_DETAILS, Entry, Pipeline
from ecslite.telemetry.query.params import BadParameter, Params, parse_duration_ms, parse_int, parse_loki_time_ns
from ecslite.telemetry.query.promql_eval import Evaluator
from ecslite.telemetry.query.promql_functions import absent_labels
from ecslite.telemetry.query.promql_range import quantile
from ecslite.telemetry.query.promql_values import (
    EvalError,
    QueryTimeout,
    Sample,
    Scalar,
    Series,
    Value,
    Vector,
    format_timestamp,
    format_value,
)
from ecslite.telemetry.store import LogQuery as StoreLogQuery
from ecslite.telemetry.store import Matcher, StoredLog, TelemetryStore

MAX_LIMIT = 5000
DEFAULT_LIMIT = 100
PAGE = 5000
MAX_SCANNED = 200_000  # lines read for one query: beyond it the answer covers the newest (oldest) part
TIMEOUT = 120.0
CATEGORIZE = "categorize-labels"
TAIL_INTERVAL = 1.0


def _bad(message: str) -> Response:
    return text_response(message, 400)


def _internal(message: str) -> Response:
    return text_response(message, 500)


def success(data: Any) -> Response:
    return json_response({"status": "success", "data": data})


@dataclass(slots=True)
class Line:
    ts: int
    line: str
    labels: dict[str, str]  # stream + extracted (merged form)
    metadata: dict[str, str] = field(default_factory=dict)
    parsed: dict[str, str] = field(default_factory=dict)
    stream: Labels = ()
    value: float | None = None


class LokiApi:
    def __init__(self, store: TelemetryStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def routes(self) -> list[BaseRoute]:
        guard = guarded(_internal)
        both = ["GET", "POST"]
        return [
            Route("/query", guard(self.query), methods=both),
            Route("/query_range", guard(self.query_range), methods=both),
            Route("/labels", guard(self.labels), methods=both),
            Route("/label", guard(self.labels), methods=both),
            Route("/label/{name}/values", guard(self.label_values), methods=both),
            Route("/series", guard(self.series), methods=both),
            Route("/index/stats", guard(self.index_stats), methods=both),
            Route("/index/volume", self.volume, methods=both),
            Route("/index/volume_range", self.volume_range, methods=both),
            Route("/detected_labels", self.detected_labels, methods=both),
            Route("/detected_fields", self.detected_fields, methods=both),
            Route("/patterns", self.patterns, methods=both),
            WebSocketRoute("/tail", self.tail),
        ]

    def root_routes(self) -> list[BaseRoute]:
        return [Route("/ready", self.ready, methods=["GET"])]

    async def ready(self, request: Request) -> Response:
        return text_response("ready\n")

    def _now_ns(self) -> int:
        return int(self.clock.now() * 1e9)

    def _range(self, params: Params) -> tuple[int, int]:
        now = self._now_ns()
        end_text = params.get("end")
        end = parse_loki_time_ns(end_text, "end") if end_text else now
        since = params.get("since")
        default_start = end - (parse_duration_ms(since, "since") * 1_000_000 if since else 3_600_000_000_000)
        start_text = params.get("start")
        start = parse_loki_time_ns(start_text, "start") if start_text else default_start
        return start, end

    # -- queries ---------------------------------------------------------------------------------

    async def query_range(self, request: Request) -> Response:
        params = await Params.read(request)
        try:
            parsed = logql.parse(params.get("query") or "")
            start, end = self._range(params)
            if end < start:
                return _bad("the end time must be after the start time")
            limit = _limit(params)
            direction = _direction(params)
            step_ms = self._step(params, start, end)
        except (LogQLError, BadParameter) as problem:
            return _bad(str(problem))
        categorize = CATEGORIZE in request.headers.get("x-loki-response-encoding-flags", "")
        return await self._answer(parsed, start, end, step_ms, limit, direction, categorize, instant=False)

    async def query(self, request: Request) -> Response:
        params = await Params.read(request)
        try:
            parsed = logql.parse(params.get("query") or "")
            at_text = params.get("time")
            at = parse_loki_time_ns(at_text, "time") if at_text else self._now_ns()
            limit = _limit(params)
            direction = _direction(params)
        except (LogQLError, BadParameter) as problem:
            return _bad(str(problem))
        categorize = CATEGORIZE in request.headers.get("x-loki-response-encoding-flags", "")
        if isinstance(parsed, LogQuery):
            return await self._answer(parsed, at - 3_600_000_000_000, at, 0, limit, direction, categorize, False)
        return await self._answer(parsed, at, at, 0, limit, direction, categorize, instant=True)

    def _step(self, params: Params, start: int, end: int) -> int:
        text = params.get("step")
        if text:
            step = parse_duration_ms(text, "step")
            if step <= 0:
                raise BadParameter(
                    "step", "zero or negative query resolution step widths are not accepted. Try a positive integer"
                )
            return step
        return max(math.floor((end - start) / 1e9 / 250), 1) * 1000

    async def _answer(
        self,
        parsed: logql.Parsed,
        start: int,
        end: int,
        step_ms: int,
        limit: int,
        direction: str,
        categorize: bool,
        instant: bool,
    ) -> Response:
        began = time.monotonic()
        try:
            if isinstance(parsed, LogQuery):
                lines = await off_loop(self._lines, parsed, start, end, direction, limit)
                data = _streams_json(lines, direction, categorize)
                count = sum(len(s["values"]) for s in data["result"])
            else:
                data = await off_loop(self._metric, parsed, start, end, step_ms, instant)
                count = 0
        except QueryTimeout as problem:
            return text_response(str(problem), 504)
        except (EvalError, LogQLError) as problem:
            return _bad(str(problem))
        data["stats"] = _stats(count, time.monotonic() - began)
        return success(data)

    # -- reading lines ---------------------------------------------------------------------------

    def _lines(self, query: LogQuery, start: int, end: int, direction: str, limit: int) -> list[Line]:
        pipeline = Pipeline(query)
        needles = query.pushdown()
        page = limit if not query.filters_beyond_pushdown else PAGE
        out: list[Line] = []
        for stored in self._scan(query.matchers, needles, start, end, direction, page):
            line = _run(pipeline, stored)
            if line is not None:
                out.append(line)
                if len(out) >= limit:
                    break
        return out

    def _scan(
        self, matchers: Sequence[Matcher], needles: Sequence[str], start: int, end: int, direction: str, page: int
    ) -> Any:
        """Stored lines in ``direction`` order, read page by page (ties at a page edge read once)."""
        seen_at_edge: set[tuple[int, str, Labels]] = set()
        scanned = 0
        while start < end and scanned < MAX_SCANNED:
            batch = self.store.read_logs(StoreLogQuery(matchers, start, end, needles, page, direction))
            fresh = [r for r in batch if (r.time_ns, r.record.body, r.labels) not in seen_at_edge]
            yield from fresh
            scanned += len(batch)
            if len(batch) < page or not fresh:
                return
            edge = batch[-1].time_ns
            seen_at_edge = {(r.time_ns, r.record.body, r.labels) for r in batch if r.time_ns == edge}
            if direction == "backward":
                end = edge + 1
            else:
                start = edge

    # -- metric queries --------------------------------------------------------------------------

    def _metric(self, query: MetricQuery, start: int, end: int, step_ms: int, instant: bool) -> dict[str, Any]:
        start_ms, end_ms = start // 1_000_000, end // 1_000_000
        deadline = time.monotonic() + TIMEOUT
        data = {node: self._range_data(node, start_ms, end_ms) for node in query.ranges}
        evaluator = LogEvaluator(data, start_ms=start_ms, end_ms=end_ms, deadline=deadline)
        if instant:
            value = evaluator.eval(query.root, end_ms)
            return _instant_json(value, end_ms)
        collected: dict[Labels, Series] = {}
        for ts in range(start_ms, end_ms + 1, step_ms):
            value = evaluator.eval(query.root, ts)
            pairs = [((), value.value)] if isinstance(value, Scalar) else [(s.labels, s.value) for s in _vector(value)]
            for labels, v in pairs:
                series = collected.get(labels)
                if series is None:
                    series = collected[labels] = Series(labels, [], [])
                series.timestamps.append(ts)
                series.values.append(v)
        result = [
            {
                "metric": dict(labels),
                "values": [[format_timestamp(t), format_value(v)] for t, v in zip(s.timestamps, s.values, strict=True)],
            }
            for labels, s in sorted(collected.items())
        ]
        return {"resultType": "matrix", "result": result}

    def _range_data(self, node: LogRange, start_ms: int, end_ms: int) -> RangeData:
        low = (start_ms - node.range_ms - node.offset_ms) * 1_000_000
        high = (end_ms - node.offset_ms) * 1_000_000 + 1
        pipeline = Pipeline(node.query)
        series: dict[Labels, tuple[list[int], list[float]]] = {}
        for stored in self._scan(node.query.matchers, node.query.pushdown(), low, high, "forward", PAGE):
            line = _run(pipeline, stored)
            if line is None:
                continue
            labels = dict(line.labels)
            for name, text in line.metadata.items():
                if labels.get(name) == text and name not in line.parsed:
                    labels.pop(name)
            if ERROR in labels:
                labels.pop(ERROR_DETAILS, None)
                raise EvalError(_pipeline_error(labels))
            if node.unwrap is not None:
                labels.pop(node.unwrap.label, None)
                if line.value is None:
                    continue
                value = line.value
            elif node.function in ("bytes_over_time", "bytes_rate"):
                value = float(len(line.line.encode()))
            else:
                value = 1.0
            key = _grouped(labels, node)
            times, values = series.setdefault(key, ([], []))
            times.append(line.ts)
            values.append(value)
        return RangeData(series)

    # -- live tail -------------------------------------------------------------------------------

    async def tail(self, websocket: WebSocket) -> None:
        """``/tail``: every second, the lines that arrived since the last message (Grafana's Live mode)."""
        params = Params(parse_qsl(websocket.url.query, keep_blank_values=True))
        try:
            parsed = logql.parse(params.get("query") or "")
            if not isinstance(parsed, LogQuery):
                raise LogQLError("tail requires a log query, not a metric query")
            limit = _limit(params)
            start_text = params.get("start")
            since = parse_loki_time_ns(start_text, "start") if start_text else self._now_ns() - 3_600_000_000_000
        except (LogQLError, BadParameter) as problem:
            await websocket.close(code=1008, reason=str(problem)[:120])
            return
        await websocket.accept()
        closed = asyncio.Event()
        watcher = asyncio.create_task(_watch_disconnect(websocket, closed))
        seen: set[tuple[int, str, Labels]] = set()
        try:
            while not closed.is_set():
                lines = await off_loop(self._lines, parsed, since, self._now_ns() + 1, "forward", limit)
                fresh = [line for line in lines if (line.ts, line.line, line.stream) not in seen]
                if fresh:
                    streams = _streams_json(fresh, "forward", categorize=False)["result"]
                    await websocket.send_text(orjson.dumps({"streams": streams, "dropped_entries": None}).decode())
                    since = fresh[-1].ts
                    seen = {(line.ts, line.line, line.stream) for line in lines if line.ts == since}
                await _sleep_unless(self.clock, closed, TAIL_INTERVAL)
        except (WebSocketDisconnect, RuntimeError):
            pass  # the client went away between two sends
        finally:
            watcher.cancel()

    # -- labels and series -----------------------------------------------------------------------

    async def labels(self, request: Request) -> Response:
        params = await Params.read(request)
        try:
            start, end = self._range(params)
        except BadParameter as problem:
            return _bad(str(problem))
        return success(await off_loop(self.store.log_label_names, start, end))

    async def label_values(self, request: Request) -> Response:
        params = await Params.read(request)
        try:
            start, end = self._range(params)
            text = params.get("query")
            matchers = logql.parse_selector(text) if text else ()
        except (BadParameter, LogQLError) as problem:
            return _bad(str(problem))
        name = request.path_params["name"]
        return success(await off_loop(self.store.log_label_values, name, matchers, start, end))

    async def series(self, request: Request) -> Response:
        params = await Params.read(request)
        try:
            start, end = self._range(params)
            selectors = [logql.parse_selector(m) for m in params.all("match[]") + params.all("match")]
        except (BadParameter, LogQLError) as problem:
            return _bad(str(problem))
        if not selectors:
            return _bad("at least one match[] argument is required")

        def find() -> list[dict[str, str]]:
            found: set[Labels] = set()
            for matchers in selectors:
                found.update(self.store.log_streams(matchers, start, end))
            return [dict(labels) for labels in sorted(found)]

        return success(await off_loop(find))

    async def index_stats(self, request: Request) -> Response:
        params = await Params.read(request)
        try:
            start, end = self._range(params)
            matchers = logql.parse_selector(params.get("query") or "")
        except (BadParameter, LogQLError) as problem:
            return _bad(str(problem))

        def count() -> dict[str, int]:
            streams = self.store.log_streams(matchers, start, end)
            lines = self.store.read_logs(StoreLogQuery(matchers, start, end, (), 10_000, "backward"))
            size = sum(len(r.record.body.encode()) for r in lines)
            return {"streams": len(streams), "chunks": len(streams), "bytes": size, "entries": len(lines)}

        return json_response(await off_loop(count))

    async def volume(self, request: Request) -> Response:
        return success({"resultType": "vector", "result": []})

    async def volume_range(self, request: Request) -> Response:
        return success({"resultType": "matrix", "result": []})

    async def detected_labels(self, request: Request) -> Response:
        return json_response({"detectedLabels": []})

    async def detected_fields(self, request: Request) -> Response:
        return json_response({"fields": [], "limit": 1000})

    async def patterns(self, request: Request) -> Response:
        return success([])


async def _watch_disconnect(websocket: WebSocket, closed: asyncio.Event) -> None:
    try:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    finally:
        closed.set()


async def _sleep_unless(clock: Clock, closed: asyncio.Event, seconds: float) -> None:
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    waiter = asyncio.ensure_future(closed.wait())
    await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
    sleeper.cancel()
    waiter.cancel()


# -- evaluation of log range aggregations ----------------------------------------------------------


@dataclass(slots=True)
class RangeData:
    series: dict[Labels, tuple[list[int], list[float]]]  # times in ns, each series in time order


class LogEvaluator(Evaluator):
    """The PromQL evaluator with log range aggregations as its leaves."""

    def __init__(self, ranges: dict[LogRange, RangeData], *, start_ms: int, end_ms: int, deadline: float) -> None:
        super().__init__({}, start_ms=start_ms, end_ms=end_ms, deadline=deadline)
        self.ranges = ranges

    def eval(self, node: Any, ts: int) -> Value:
        if isinstance(node, LogRange):
            return Vector(self._aggregate(node, ts))
        return super().eval(node, ts)

    def _aggregate(self, node: LogRange, ts: int) -> list[Sample]:
        self.check_deadline()
        hi = (ts - node.offset_ms) * 1_000_000
        lo = hi - node.range_ms * 1_000_000
        seconds = node.range_ms / 1000
        out: list[Sample] = []
        for labels, (times, values) in self.ranges[node].series.items():
            # Loki's windows are left-open: (t - range, t].
            a = bisect.bisect_right(times, lo)
            b = bisect.bisect_right(times, hi)
            if a >= b:
                continue
            window = values[a:b]
            value = _range_value(node, window, seconds)
            if value is not None:
                out.append(Sample(labels, value))
        if node.function == "absent_over_time":
            return [] if out else [Sample(absent_labels_of(node), 1.0)]
        return out


def absent_labels_of(node: LogRange) -> Labels:
    from ecslite.telemetry.query.promql_ast import VectorSel

    return absent_labels(VectorSel(node.query.matchers))


def _range_value(node: LogRange, window: list[float], seconds: float) -> float | None:
    name = node.function
    if name == "count_over_time":
        return float(len(window))
    if name in ("rate", "bytes_rate"):
        return sum(window) / seconds
    if name in ("bytes_over_time", "sum_over_time"):
        return sum(window)
    if name == "absent_over_time":
        return 1.0
    if name == "avg_over_time":
        return sum(window) / len(window)
    if name == "min_over_time":
        return min(window)
    if name == "max_over_time":
        return max(window)
    if name == "first_over_time":
        return window[0]
    if name == "last_over_time":
        return window[-1]
    if name in ("stddev_over_time", "stdvar_over_time"):
        mean = sum(window) / len(window)
        variance = sum((v - mean) ** 2 for v in window) / len(window)
        return math.sqrt(variance) if name == "stddev_over_time" else variance
    if name == "quantile_over_time":
        return quantile(node.param if node.param is not None else math.nan, window)
    raise EvalError(f"unsupported range aggregation {name}")


def _grouped(labels: dict[str, str], node: LogRange) -> Labels:
    if node.grouping is None:
        return tuple(sorted(labels.items()))
    if node.without:
        return tuple(sorted((k, v) for k, v in labels.items() if k not in node.grouping))
    return tuple(sorted((k, v) for k, v in labels.items() if k in node.grouping))


def _pipeline_error(labels: dict[str, str]) -> str:
    kind = labels.get(ERROR, "")
    shown = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return (
        f"pipeline error: '{kind}' for series: '{{{shown}}}'.\n"
        f'Use a label filter to intentionally skip this error. (e.g | __error__!="{kind}").\n'
        'To skip all potential errors you can match empty errors.(e.g __error__="")\n'
        'The label filter can also be specified after unwrap. (e.g | unwrap latency | __error__="" )\n'
    )


# -- helpers ---------------------------------------------------------------------------------------


def _run(pipeline: Pipeline, stored: StoredLog) -> Line | None:
    stream = stored.labels
    labels = dict(stream)
    metadata: dict[str, str] = {}
    record = stored.record
    if record.trace_id:
        metadata["trace_id"] = record.trace_id.hex()
    if record.span_id:
        metadata["span_id"] = record.span_id.hex()
    for key, value in metadata.items():
        labels.setdefault(key, value)
    entry = Entry(stored.time_ns, record.body, labels, frozenset(name for name, _ in stream))
    if pipeline.run(entry) is None:
        return None
    stream_dict = dict(stream)
    parsed = {k: v for k, v in entry.labels.items() if stream_dict.get(k) != v and metadata.get(k) != v}
    kept_stream = tuple((k, v) for k, v in stream if entry.labels.get(k) == v)
    return Line(entry.ts, entry.line, entry.labels, metadata, parsed, kept_stream, entry.value)


def _streams_json(lines: list[Line], direction: str, categorize: bool) -> dict[str, Any]:
    streams: dict[Labels, list[list[Any]]] = {}
    for line in lines:
        if categorize:
            key = line.stream
            extra: dict[str, dict[str, str]] = {}
            if line.metadata:
                extra["structuredMetadata"] = line.metadata
            if line.parsed:
                extra["parsed"] = line.parsed
            value: list[Any] = [str(line.ts), line.line, extra] if extra else [str(line.ts), line.line]
        else:
            key = tuple(sorted(line.labels.items()))
            value = [str(line.ts), line.line]
        streams.setdefault(key, []).append(value)
    result = [{"stream": dict(labels), "values": values} for labels, values in streams.items()]
    data: dict[str, Any] = {"resultType": "streams", "result": result}
    if categorize:
        data["encodingFlags"] = [CATEGORIZE]
    return data


def _vector(value: Value) -> list[Sample]:
    if isinstance(value, Vector):
        return value.samples
    raise EvalError("a metric query must produce a vector or a scalar")


def _instant_json(value: Value, ts_ms: int) -> dict[str, Any]:
    if isinstance(value, Scalar):
        return {"resultType": "scalar", "result": [format_timestamp(ts_ms), format_value(value.value)]}
    samples = _vector(value)
    return {
        "resultType": "vector",
        "result": [
            {"metric": dict(s.labels), "value": [format_timestamp(ts_ms), format_value(s.value)]} for s in samples
        ],
    }


def _limit(params: Params) -> int:
    limit = parse_int(params.get("limit"), "limit", DEFAULT_LIMIT)
    if limit > MAX_LIMIT:
        raise LogQLError(f"max entries limit per query exceeded, limit > max_entries_limit ({limit} > {MAX_LIMIT})")
    if limit <= 0:
        raise LogQLError("limit must be a positive value")
    return limit


def _direction(params: Params) -> str:
    direction = (params.get("direction") or "backward").lower()
    if direction not in ("backward", "forward"):
        raise LogQLError(f'invalid direction "{direction}"')
    return direction


def _stats(lines: int, seconds: float) -> dict[str, Any]:
    return {
        "summary": {
            "bytesProcessedPerSecond": 0,
            "linesProcessedPerSecond": int(lines / seconds) if seconds > 0 else 0,
            "totalBytesProcessed": 0,
            "totalLinesProcessed": lines,
            "execTime": seconds,
            "queueTime": 0,
            "subqueries": 0,
            "totalEntriesReturned": lines,
        }
    }
