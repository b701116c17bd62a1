"""The web UI under ``/ui`` (design.md "UI"): one HTML shell for every page, static assets, and a
small JSON API under ``/ui/api`` with a server-sent-event stream of store changes.

The UI reads only: ECS state from the state store on the event loop (:mod:`ecslite.ui.ecs_views`),
telemetry from the telemetry store on worker threads (:mod:`ecslite.ui.telemetry_views`,
:mod:`ecslite.ui.red_views`), container logs through the logs provider's own operation
(GetLogEvents). It never writes either store. Every page needs the shell (cached) and one or two
API requests; the live stream only says *what* changed, and the page refetches.

Errors are JSON ``{"message": ...}`` with 400 (a query that cannot run, with the reason) or 404.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ecslite import __version__
from ecslite.clock import Clock
from ecslite.protocol.errors import AwsError
from ecslite.providers.base import RequestContext, call_handler, find_handler
from ecslite.providers.logs.errors import GROUP_NOT_FOUND
from ecslite.store import services as svc_store
from ecslite.store.db import Change, Database
from ecslite.telemetry.query.params import BadParameter, parse_duration_ms
from ecslite.telemetry.store import TelemetryStore
from ecslite.ui import ecs_views, elb_views, red_views, telemetry_views
from ecslite.ui.live import ChangeHub

log = logging.getLogger(__name__)
T = TypeVar("T")

STATIC = Path(__file__).parent / "static"
DEFAULT_RANGE_MS = 30 * 60 * 1000
MAX_RANGE_MS = 15 * 86_400_000
TASK_LOG_PAGE = 500
CALLS = "traces_spanmetrics_calls_total"
CALLEE_KINDS = ("SPAN_KIND_SERVER", "SPAN_KIND_CONSUMER")


@dataclass(frozen=True, slots=True)
class UiSources:
    """What the UI reads: the state store, the telemetry store, and the logs provider (awslogs)."""

    db: Database
    telemetry: TelemetryStore
    logs: object
    clock: Clock
    output_kept: bool  # the runtime keeps container output (the container output endpoint answers)


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _problem(message: str, status: int = 400) -> Response:
    return _json({"message": message}, status)


Handler = Callable[[Request], Awaitable[Response]]


def _guard(handler: Handler) -> Handler:
    """Bad parameters become 400 with the reason; anything else is logged and answered with 500."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except (telemetry_views.BadQuery, BadParameter, ValueError) as problem:
            return _problem(str(problem))
        except Exception as error:
            log.exception("UI request failed", extra={"path": request.url.path})
            return _problem(f"internal error: {type(error).__name__}", 500)

    return run


def _int(request: Request, name: str) -> int | None:
    text = request.query_params.get(name)
    if text in (None, ""):
        return None
    try:
        return int(float(text))
    except ValueError:
        raise ValueError(f"{name} must be a number; got '{text}'.") from None


def _float(request: Request, name: str) -> float | None:
    text = request.query_params.get(name)
    if text in (None, ""):
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number; got '{text}'.") from None


class UiApp:
    def __init__(self, sources: UiSources) -> None:
        self.sources = sources
        self.hub = ChangeHub()
        sources.db.subscribe(self._on_changes)
        self._shell = (STATIC / "index.html").read_text().replace("{{version}}", __version__)
        # The export sink's counters of one task by output (ecslite.telemetry.sink), where it runs.
        self.sink_counters: Callable[[str], Mapping[str, Any]] | None = None

    name = "ui"

    # -- component life (the hub must bind to the serving loop, and end its streams at stop) --------

    async def start(self) -> None:
        self.hub.bind(asyncio.get_running_loop())

    async def stop(self) -> None:
        self.hub.close()

    def _on_changes(self, changes: Sequence[Change]) -> None:
        self.hub.publish(changes)

    # -- routes --------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        api: list[tuple[str, Handler]] = [
            ("/overview", self.overview),
            ("/service", self.service),
            ("/service/telemetry", self.service_telemetry),
            ("/task", self.task),
            ("/load-balancers", self.load_balancers),
            ("/target-group", self.target_group),
            ("/task/telemetry", self.task_telemetry),
            ("/task/logs", self.task_logs),
            ("/map", self.service_map),
            ("/traces", self.traces),
            ("/traces/{trace_id}", self.trace),
            ("/logs", self.logs),
            ("/metrics", self.metrics),
            ("/catalog", self.catalog),
        ]
        return [
            Route("/ui/api/live", self.live, methods=["GET"]),
            *(Route(f"/ui/api{path}", _guard(handler), methods=["GET"]) for path, handler in api),
            Route("/ui/api/{rest:path}", self.unknown_api, methods=["GET", "POST"]),
            Mount("/ui/static", app=StaticFiles(directory=STATIC), name="ui-static"),
            Route("/ui", self.shell, methods=["GET"]),
            Route("/ui/{page:path}", self.shell, methods=["GET"]),
            Route("/favicon.ico", self.favicon, methods=["GET"]),
        ]

    async def shell(self, request: Request) -> Response:
        return HTMLResponse(self._shell, headers={"Cache-Control": "no-cache"})

    async def favicon(self, request: Request) -> Response:
        return Response((STATIC / "favicon.svg").read_bytes(), media_type="image/svg+xml")

    async def unknown_api(self, request: Request) -> Response:
        return _problem(f"No UI API at {request.url.path}.", 404)

    async def live(self, request: Request) -> Response:
        return StreamingResponse(
            self.hub.stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    # -- ECS -----------------------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        return _json({"now": self.sources.clock.now(), **ecs_views.overview(self.sources.db)})

    async def service(self, request: Request) -> Response:
        arn = request.query_params.get("arn", "")
        found = ecs_views.service_detail(self.sources.db, arn) if arn else None
        if found is None:
            return _problem(f"Service {arn or '(none given)'} was not found.", 404)
        found["targetGroups"] = elb_views.service_target_groups(self.sources.db, found["service"])
        return _json({"now": self.sources.clock.now(), **found})

    async def load_balancers(self, request: Request) -> Response:
        now = self.sources.clock.now()
        return _json({"now": now, **elb_views.load_balancers(self.sources.db, now)})

    async def target_group(self, request: Request) -> Response:
        arn = request.query_params.get("arn", "")
        found = elb_views.target_group_detail(self.sources.db, arn) if arn else None
        if found is None:
            return _problem(f"Target group {arn or '(none given)'} was not found.", 404)
        return _json({"now": self.sources.clock.now(), **found})

    async def task(self, request: Request) -> Response:
        task_id = request.query_params.get("id", "").rsplit("/", 1)[-1]
        found = ecs_views.task_detail(self.sources.db, task_id) if task_id else None
        if found is None:
            return _problem(f"Task {task_id or '(none given)'} was not found.", 404)
        found["outputKept"] = self.sources.output_kept
        if self.sink_counters is not None:
            found["sink"] = self.sink_counters(found["task"]["taskArn"])
        found["endpoint"] = str(request.base_url).rstrip("/")
        return _json({"now": self.sources.clock.now(), **found})

    async def task_logs(self, request: Request) -> Response:
        """An awslogs container's events through GetLogEvents: the newest page, then onwards from
        ``token`` (the previous answer's ``next``)."""
        task_id = request.query_params.get("id", "")
        name = request.query_params.get("container", "")
        found = ecs_views.task_detail(self.sources.db, task_id) if task_id else None
        container = next((c for c in found["containers"] if c["name"] == name), None) if found else None
        if found is None or container is None:
            return _problem(f"Task {task_id} has no container named {name}.", 404)
        source = container["logs"]
        if source["kind"] != "awslogs":
            return _problem(f"Container {name} does not log through awslogs; read its output instead.", 400)
        params: dict[str, Any] = {
            "logGroupName": source["group"],
            "logStreamName": source["stream"],
            "limit": TASK_LOG_PAGE,
        }
        token = request.query_params.get("token")
        if token:
            params["nextToken"] = token
            params["startFromHead"] = True
        ctx = RequestContext(
            found["account"], source.get("region") or found["region"], str(uuid.uuid4()), "logs", "GetLogEvents"
        )
        handler = find_handler(self.sources.logs, "GetLogEvents")
        if handler is None:
            return _problem("The logs provider is not available.", 404)
        try:
            answer = await call_handler(handler, ctx, params)
        except AwsError as error:
            if error.message == GROUP_NOT_FOUND and container.get("startedAt") and self.sources.output_kept:
                # The container started, so its group existed then (a task's start checks it): deleted
                # since, by hand or by a rollback. The page shows the runtime's copy of the output instead.
                return _json({"events": [], "next": None, "group": source["group"], "gone": True})
            return _problem(f"{error.code}: {error.message}", 404 if "NotFound" in error.code else 400)
        assert answer is not None
        return _json({"events": answer["events"], "next": answer["nextForwardToken"], "group": source["group"]})

    # -- telemetry -----------------------------------------------------------------------------

    def _range(self, request: Request) -> tuple[int, int]:
        now = int(self.sources.clock.now() * 1000)
        end = _int(request, "end") or now
        start = _int(request, "start")
        if start is None:
            text = request.query_params.get("range")
            span = parse_duration_ms(text, "range") if text else DEFAULT_RANGE_MS
            start = end - span
        if start >= end:
            raise ValueError("The time range is empty: start must be before end.")
        return max(start, end - MAX_RANGE_MS), end

    async def _off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    async def service_telemetry(self, request: Request) -> Response:
        """CPU and memory charts from the runtime metrics (§9.1), the request rate chart and the RED
        table per operation from the span metrics (§9.2) of the service's span services."""
        arn = request.query_params.get("arn", "")
        doc = svc_store.get(self.sources.db, arn) if arn else None
        if doc is None:
            return _problem(f"Service {arn or '(none given)'} was not found.", 404)
        _account, _region, cluster = ecs_views.partition_of(arn)
        family = ecs_views.family_of(doc.get("taskDefinition"))
        start, end = self._range(request)
        store, name = self.sources.telemetry, doc["serviceName"]

        def read() -> dict[str, Any]:
            spans = telemetry_views.services_of(store, family, name, start, end)
            ecs = telemetry_views.selector(cluster=cluster, service=name)
            queries = {
                "cpu": f"ecs_task_cpu_utilization_percent{ecs}",
                "memory": f"ecs_task_memory_utilization_percent{ecs}",
            }
            charts = telemetry_views.charts(store, queries, start, end)
            wanted = set(spans)
            step = max(red_views.CHART_STEP_MS, telemetry_views.step_for(start, end))

            def served(labels: Mapping[str, str], errors: bool) -> str | None:
                # Calls the service answered: its SERVER and CONSUMER spans (§9.2), as the RED table counts.
                if labels.get("service") not in wanted or labels.get("span_kind") not in CALLEE_KINDS:
                    return None
                if errors and labels.get("status_code") != "STATUS_CODE_ERROR":
                    return None
                return labels["service"]

            for chart, errors in (("rate", False), ("errors", True)):
                pick = partial(served, errors=errors)
                found = red_views.rate_series(store.read_series, CALLS, start, end, step, pick)
                charts[chart] = {
                    "series": [{"labels": {"service": key}, "points": points} for key, points in found.items()],
                    "step": step,
                }
            rows = red_views.operations(store.read_series, start, end, lambda labels: labels.get("service") in wanted)
            return {"charts": charts, "operations": rows, "spanServices": spans, "family": family}

        return _json({"start": start, "end": end, **(await self._off_loop(read))})

    async def task_telemetry(self, request: Request) -> Response:
        task_id = request.query_params.get("id", "").rsplit("/", 1)[-1]
        if not task_id or ecs_views.task_detail(self.sources.db, task_id) is None:
            return _problem(f"Task {task_id or '(none given)'} was not found.", 404)
        start, end = self._range(request)
        labels = telemetry_views.selector(task_id=task_id)
        queries = {
            "cpu": f"ecs_container_cpu_utilized{labels}",
            "memory": f"ecs_container_memory_utilized_mebibytes{labels}",
            "network": f"ecs_task_network_rx_bytes_per_second{labels}",
        }
        store = self.sources.telemetry
        charts = await self._off_loop(telemetry_views.charts, store, queries, start, end)
        return _json({"start": start, "end": end, "charts": charts})

    async def service_map(self, request: Request) -> Response:
        start, end = self._range(request)
        ecs = [
            red_views.EcsNode(s["serviceArn"], s["serviceName"], s["cluster"], s["family"])
            for s in ecs_views.live_services(self.sources.db)
        ]
        found = await self._off_loop(red_views.service_map, self.sources.telemetry.read_series, start, end, ecs)
        return _json({"start": start, "end": end, **found})

    async def traces(self, request: Request) -> Response:
        params = request.query_params
        edge = params.get("edge")
        client, arrow, server = (edge or "").partition(">")
        if edge and not arrow:
            raise ValueError("edge must be CLIENT>SERVER.")
        start, end = self._range(request)
        search = telemetry_views.TraceSearch(
            service=params.get("service") or None,
            operation=params.get("operation") or None,
            min_duration_ms=_float(request, "minDuration"),
            max_duration_ms=_float(request, "maxDuration"),
            status=params.get("status") or None,
            attributes=telemetry_views.parse_attributes(params.get("attributes") or ""),
            start_ms=start,
            end_ms=end,
            edge=(client, server) if edge else None,
            limit=min(_int(request, "limit") or 50, 500),
        )
        found = await self._off_loop(telemetry_views.search_traces, self.sources.telemetry, search)
        return _json({"start": start, "end": end, "traces": found})

    async def trace(self, request: Request) -> Response:
        text = request.path_params["trace_id"]
        found = await self._off_loop(telemetry_views.trace_detail, self.sources.telemetry, text)
        if found is None:
            return _problem(f"Trace {text} was not found (yet): spans become searchable within a second.", 404)
        return _json(found)

    async def logs(self, request: Request) -> Response:
        params = request.query_params
        after = params.get("after")  # live tail: records newer than this nanosecond cursor
        if after:
            try:
                start_ns = int(after) + 1
            except ValueError:
                raise ValueError(f"after must be a time in nanoseconds; got '{after}'.") from None
            end_ns = int(self.sources.clock.now() * 1e9) + 60 * 10**9
        else:
            start, end = self._range(request)
            start_ns, end_ns = start * 1_000_000, end * 1_000_000 + 1
        search = telemetry_views.LogSearch(
            start_ns=start_ns,
            end_ns=end_ns,
            service=params.get("service") or None,
            family=params.get("family") or None,
            container=params.get("container") or None,
            level=params.get("level") or None,
            task=params.get("task") or None,
            text=params.get("text") or None,
            trace_id=params.get("traceId") or None,
            limit=min(_int(request, "limit") or 200, 2000),
            # The tail reads newest first too: a busy window must show its newest lines, and the page
            # drops the ones it already has (it asks again from a little before its newest line,
            # as records arrive up to seconds after the time they carry).
            direction="backward",
        )
        found = await self._off_loop(telemetry_views.search_logs, self.sources.telemetry, search)
        return _json({"logs": found, "now": time.time()})

    async def metrics(self, request: Request) -> Response:
        query = request.query_params.get("query", "").strip()
        if not query:
            raise ValueError(
                "Type a PromQL query, for example: sum by (service) (rate(traces_spanmetrics_calls_total[1m]))"
            )
        start, end = self._range(request)
        step_text = request.query_params.get("step")
        step = parse_duration_ms(step_text, "step") if step_text else telemetry_views.step_for(start, end)
        if step <= 0 or (end - start) // step > 11_000:
            raise ValueError("The step gives more than 11,000 points; choose a larger step.")
        found = await self._off_loop(telemetry_views.range_query, self.sources.telemetry, query, start, end, step)
        return _json({"start": start, "end": end, **found})

    async def catalog(self, request: Request) -> Response:
        """Values for the filter pickers: span services and operations, log label values, metric names."""
        store = self.sources.telemetry

        def read() -> dict[str, Any]:
            return {
                "spanServices": store.services(),
                "operations": sorted({name for _service, name, _kind in store.operations()}),
                "logServices": store.log_label_values("service_name"),
                "logContainers": store.log_label_values("container"),
                "logFamilies": store.log_label_values("task_family"),
                "levels": store.log_label_values("level"),
                "metricNames": store.metric_label_values("__name__"),
            }

        return _json(await self._off_loop(read))
