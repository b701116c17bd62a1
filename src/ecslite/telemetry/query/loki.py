"""The Loki HTTP API under ``/loki/api/v1`` (and ``/ready`` at the root) (spec/telemetry.md §7.2):
``query``, ``query_range``, ``labels`` (alias ``label``), ``label/<name>/values``, ``series``,
``index/stats``, ``tail`` (websocket: new lines every second), and empty answers for the newer
endpoints Grafana probes (``index/volume*``, ``detected_labels``, ``detected_fields``, ``patterns``).

This module reads the requests and shapes the answers; log queries are evaluated by
:mod:`.loki_lines`, metric queries by :mod:`.loki_metrics`. Store reads and evaluations run off
the event loop.

Errors are plain-text bodies (400 for bad input, 504 for a query past its deadline, 500
otherwise), as Loki answers them.
"""

from __future__ import annotations

import asyncio
import math
import time
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
from ecslite.telemetry.query.logql_ast import LogQLError, LogQuery
from ecslite.telemetry.query.loki_lines import CATEGORIZE, read_lines, streams_json
from ecslite.telemetry.query.loki_metrics import evaluate_metric
from ecslite.telemetry.query.params import BadParameter, Params, parse_duration_ms, parse_int, parse_loki_time_ns
from ecslite.telemetry.query.promql_values import EvalError, QueryTimeout
from ecslite.telemetry.store import LogQuery as StoreLogQuery
from ecslite.telemetry.store import TelemetryStore

MAX_LIMIT = 5000
DEFAULT_LIMIT = 100
TAIL_INTERVAL = 1.0


def _bad(message: str) -> Response:
    return text_response(message, 400)


def _internal(message: str) -> Response:
    return text_response(message, 500)


def success(data: Any) -> Response:
    return json_response({"status": "success", "data": data})


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
                lines = await off_loop(read_lines, self.store, parsed, start, end, direction, limit)
                data = streams_json(lines, direction, categorize)
                count = sum(len(s["values"]) for s in data["result"])
            else:
                data = await off_loop(evaluate_metric, self.store, parsed, start, end, step_ms, instant)
                count = 0
        except QueryTimeout as problem:
            return text_response(str(problem), 504)
        except (EvalError, LogQLError) as problem:
            return _bad(str(problem))
        data["stats"] = _stats(count, time.monotonic() - began)
        return success(data)

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
                lines = await off_loop(read_lines, self.store, parsed, since, self._now_ns() + 1, "forward", limit)
                fresh = [line for line in lines if (line.ts, line.line, line.stream) not in seen]
                if fresh:
                    streams = streams_json(fresh, "forward", categorize=False)["result"]
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
