"""What the UI shows of telemetry: trace search and waterfalls, log search and tail, PromQL charts,
and the charts and RED tables of a service or a task (spec/telemetry.md §2, §7, §9).

Every function is synchronous and reads the telemetry store through its query primitives
(``search_traces``, ``trace``, ``read_logs``, ``read_series``) and the PromQL engine, so callers
run them on a worker thread. Times sent to the browser: spans as microseconds from the trace's
start (floats stay exact there), log records as nanosecond strings (a cursor) plus milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ecslite.telemetry.log_records import severity_level
from ecslite.telemetry.model import AttrValue
from ecslite.telemetry.query.promql import EvalError, ParseError, PromQL, QueryTimeout
from ecslite.telemetry.query.promql_values import Matrix
from ecslite.telemetry.query.traces import parse_trace_id
from ecslite.telemetry.red import CALLEE_KINDS, CALLER_KINDS, USER_NODE, pair_spans, span_view
from ecslite.telemetry.span_records import SpanKind, StatusCode
from ecslite.telemetry.store import LogQuery, Matcher, SpanQuery, StoredLog, StoredSpan, TelemetryStore

KINDS = {int(k): k.name.lower() for k in SpanKind}
STATUSES = {int(s): s.name.lower() for s in StatusCode}
MAX_POINTS = 600  # per series in a chart: more is invisible on a laptop screen
QUERY_TIMEOUT = 20.0
TRACE_LOG_MARGIN_NS = 60 * 10**9  # logs of a trace written this long before or after its spans still show
EDGE_CANDIDATES = 200  # traces looked at when searching the traces of one service-map edge


class BadQuery(ValueError):
    """A query the user typed that cannot run; the message says why."""


# -- values -----------------------------------------------------------------------------------------


def jsonable(value: AttrValue) -> Any:
    """An attribute value as JSON: bytes as hex, maps and arrays recursively."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _attributes(attributes: Mapping[str, AttrValue]) -> dict[str, Any]:
    return {key: jsonable(value) for key, value in attributes.items()}


# -- traces -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TraceSearch:
    service: str | None = None
    operation: str | None = None
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    status: str | None = None  # error | ok | unset
    attributes: Mapping[str, str] | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    edge: tuple[str, str] | None = None  # (client, server) of a service-map edge
    limit: int = 50


def parse_attributes(text: str) -> dict[str, str]:
    """``key=value`` pairs separated by spaces or new lines (a value may be quoted to hold spaces)."""
    import shlex

    try:
        words = shlex.split(text)
    except ValueError as problem:
        raise BadQuery(f"Attributes: {problem}.") from None
    pairs: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise BadQuery(f"Attributes are key=value pairs; '{word}' has no '='.")
        pairs[key] = value
    return pairs


def _status_test(status: str | None) -> tuple[bool | None, int | None]:
    if status in (None, "", "any"):
        return None, None
    if status == "error":
        return True, None
    if status == "ok":
        return False, StatusCode.OK
    if status == "unset":
        return False, StatusCode.UNSET
    raise BadQuery(f"Status must be any, error, ok or unset; got '{status}'.")


def search_traces(store: TelemetryStore, search: TraceSearch) -> list[dict[str, Any]]:
    """Trace summaries, newest first: root service and name, duration, span and error counts."""
    error, code = _status_test(search.status)
    if search.edge is not None:
        return _edge_traces(store, search)

    def status_is(stored: StoredSpan) -> bool:
        return code is None or stored.span.status_code == code

    query = SpanQuery(
        start_ns=search.start_ms * 1_000_000 if search.start_ms is not None else None,
        end_ns=search.end_ms * 1_000_000 if search.end_ms is not None else None,
        service=search.service or None,
        name=search.operation or None,
        min_duration_ns=int(search.min_duration_ms * 1e6) if search.min_duration_ms is not None else None,
        max_duration_ns=int(search.max_duration_ms * 1e6) if search.max_duration_ms is not None else None,
        error=error,
        tags=dict(search.attributes) if search.attributes else None,
        predicate=status_is if code is not None else None,
    )
    return [_summary_json(t) for t in store.search_traces(query, limit=search.limit)]


def _summary_json(summary: Any) -> dict[str, Any]:
    return {
        "traceId": summary.trace_id.hex(),
        "rootService": summary.root_service_name,
        "rootName": summary.root_trace_name,
        "startMs": summary.start_ns / 1e6,
        "durationMs": summary.duration_ns / 1e6,
        "spans": summary.span_count,
        "errors": summary.error_count,
        "services": [s for s in summary.services if s],
    }


def _edge_traces(store: TelemetryStore, search: TraceSearch) -> list[dict[str, Any]]:
    """Traces holding a call from ``client`` to ``server`` by the service graph's pairing rules (§9.3)."""
    assert search.edge is not None
    client, server = search.edge
    start_ns = search.start_ms * 1_000_000 if search.start_ms is not None else None
    end_ns = search.end_ms * 1_000_000 if search.end_ms is not None else None
    if client == USER_NODE:
        query = SpanQuery(start_ns=start_ns, end_ns=end_ns, service=server, predicate=lambda s: s.span.is_root)
    else:
        query = SpanQuery(
            start_ns=start_ns, end_ns=end_ns, service=client, predicate=lambda s: s.span.kind in CALLER_KINDS
        )
    found = []
    for summary in store.search_traces(query, limit=EDGE_CANDIDATES):
        spans = store.trace(summary.trace_id)
        views = [span_view(s.span, s.service) for s in spans if s.span.kind in CALLER_KINDS | CALLEE_KINDS]
        # A client span no server answered is an edge to its virtual node (db.system, peer.service, ...).
        answered = {v.parent_id for v in views if v.kind in CALLEE_KINDS}
        edges, _unpaired = pair_spans(views)
        virtual = [
            (v.service, v.peer[0]) for v in views if v.kind in CALLER_KINDS and v.peer and v.span_id not in answered
        ]
        if (client, server) in {(e.client, e.server) for e in edges} or (client, server) in virtual:
            found.append(_summary_json(summary))
            if len(found) >= search.limit:
                break
    return found


def _span_json(stored: StoredSpan, origin_ns: int, resources: dict[bytes, int]) -> dict[str, Any]:
    span = stored.span
    detail = stored.detail()
    key = stored.resource.key
    if key not in resources:
        resources[key] = len(resources)
    return {
        "spanId": span.span_id.hex(),
        "parentId": span.parent_span_id.hex(),
        "name": span.name,
        "kind": KINDS.get(span.kind, "unspecified"),
        "service": stored.service,
        "start": (span.start_ns - origin_ns) / 1000.0,
        "duration": span.duration_ns / 1000.0,
        "status": STATUSES.get(span.status_code, "unset"),
        "statusMessage": span.status_message,
        "attributes": _attributes(detail.attributes),
        "events": [
            {"time": (e.time_ns - origin_ns) / 1000.0, "name": e.name, "attributes": _attributes(e.attributes)}
            for e in detail.events
        ],
        "links": [
            {"traceId": link.trace_id.hex(), "spanId": link.span_id.hex(), "attributes": _attributes(link.attributes)}
            for link in detail.links
        ],
        "resource": resources[key],
        "scope": {"name": stored.scope.name, "version": stored.scope.version},
    }


def trace_detail(store: TelemetryStore, text: str) -> dict[str, Any] | None:
    """Every span of a trace (W3C or X-Ray id), its resources and its logs; ``None`` when unknown."""
    trace_id = parse_trace_id(text.strip())
    if trace_id is None:
        raise BadQuery(
            f"'{text}' is not a trace id: give 32 hex digits (W3C) or an X-Ray id such as "
            "1-5759e988-bd862e3fe1be46a994272793."
        )
    spans = store.trace(trace_id)
    if not spans:
        return None
    origin = min(s.span.start_ns for s in spans)
    end = max(s.span.end_ns for s in spans)
    resources: dict[bytes, int] = {}
    attrs: dict[int, dict[str, Any]] = {}
    rows = []
    for stored in spans:
        rows.append(_span_json(stored, origin, resources))
        attrs.setdefault(resources[stored.resource.key], _attributes(stored.resource.attributes))
    records = store.read_logs(
        LogQuery(
            (),
            origin - TRACE_LOG_MARGIN_NS,
            end + TRACE_LOG_MARGIN_NS,
            limit=2000,
            direction="forward",
            trace_id=trace_id,
        )
    )
    return {
        "traceId": trace_id.hex(),
        "startMs": origin / 1e6,
        "durationUs": (end - origin) / 1000.0,
        "spans": rows,
        "resources": [attrs[i] for i in range(len(attrs))],
        "logs": [dict(_log_json(r), offset=(r.time_ns - origin) / 1000.0) for r in records],
    }


# -- logs -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogSearch:
    start_ns: int
    end_ns: int
    service: str | None = None
    family: str | None = None
    container: str | None = None
    level: str | None = None
    task: str | None = None
    text: str | None = None
    trace_id: str | None = None
    limit: int = 200
    direction: str = "backward"


def _log_json(stored: StoredLog) -> dict[str, Any]:
    record = stored.record
    labels = dict(stored.labels)
    task_arn = stored.resource.get_str("aws.ecs.task.arn") or ""
    return {
        "time": str(stored.time_ns),
        "ms": stored.time_ns / 1e6,
        "level": labels.get("level") or severity_level(record.severity_number, record.severity_text) or "",
        "body": record.body,
        "traceId": record.trace_id.hex(),
        "spanId": record.span_id.hex(),
        "service": labels.get("service_name", ""),
        "container": labels.get("container", ""),
        "family": labels.get("task_family", ""),
        "taskId": stored.resource.get_str("aws.ecs.task.id") or task_arn.rsplit("/", 1)[-1],
        "source": record.source,
    }


def search_logs(store: TelemetryStore, search: LogSearch) -> list[dict[str, Any]]:
    """Records matching every filter; the task filter (not a stream label, §2.3) is applied to the
    records read, so it looks through at most ten times ``limit`` of the newest candidates."""
    matchers = [
        Matcher(label, "=", value)
        for label, value in (
            ("service_name", search.service),
            ("task_family", search.family),
            ("container", search.container),
            ("level", search.level),
        )
        if value
    ]
    trace_id = parse_trace_id(search.trace_id) if search.trace_id else None
    if search.trace_id and trace_id is None:
        raise BadQuery(f"'{search.trace_id}' is not a trace id.")
    wanted = search.limit * 10 if search.task else search.limit
    records = store.read_logs(
        LogQuery(
            matchers,
            search.start_ns,
            search.end_ns,
            contains=[search.text] if search.text else (),
            limit=wanted,
            direction=search.direction,
            trace_id=trace_id,
        )
    )
    rows = [_log_json(r) for r in records]
    if search.task:
        rows = [r for r in rows if search.task in (r["taskId"], r["taskId"][-len(search.task) :])][: search.limit]
    return rows


# -- metrics ----------------------------------------------------------------------------------------


def step_for(start_ms: int, end_ms: int) -> int:
    """A step giving at most :data:`MAX_POINTS` points, rounded to whole seconds (at least 1 s)."""
    return max(1000, math.ceil((end_ms - start_ms) / MAX_POINTS / 1000) * 1000)


def range_query(store: TelemetryStore, text: str, start_ms: int, end_ms: int, step_ms: int) -> dict[str, Any]:
    """A PromQL range query as chart series: ``{series: [{labels, points: [[ms, value]]}]}``."""
    try:
        expr = PromQL.parse(text)
    except ParseError as problem:
        raise BadQuery(str(problem)) from None
    if expr.type not in ("vector", "scalar"):
        raise BadQuery(f"The chart needs an instant vector or a scalar; '{text}' is a {expr.type}.")
    try:
        matrix: Matrix = expr.range(store.read_series, start_ms, end_ms, step_ms, QUERY_TIMEOUT)
    except (EvalError, QueryTimeout) as problem:
        raise BadQuery(str(problem)) from None
    return {
        "series": [
            {
                "labels": dict(series.labels),
                "points": [
                    [t, v if math.isfinite(v) else None] for t, v in zip(series.timestamps, series.values, strict=True)
                ],
            }
            for series in matrix.series
        ],
        "step": step_ms,
    }


def charts(store: TelemetryStore, queries: Mapping[str, str], start_ms: int, end_ms: int) -> dict[str, Any]:
    """Several built-in charts over one range (the service and task pages)."""
    step = step_for(start_ms, end_ms)
    return {name: range_query(store, text, start_ms, end_ms, step) for name, text in queries.items()}


def quote(value: str) -> str:
    """A PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def selector(**labels: str) -> str:
    return "{" + ", ".join(f"{k}={quote(v)}" for k, v in labels.items()) + "}"


def services_of(store: TelemetryStore, family: str, ecs_name: str, start_ms: int, end_ms: int) -> list[str]:
    """Span services belonging to an ECS service: those whose spans carry its task family, and one
    named like it (SDKs often use the ECS service name as ``service.name``)."""
    found = store.select_series(
        [Matcher("__name__", "=", "traces_spanmetrics_calls_total")], start_ms - 3_600_000, end_ms
    )
    names = set()
    for labels in found:
        values = dict(labels)
        if values.get("aws_ecs_task_family") == family or values.get("service") == ecs_name:
            names.add(values.get("service", ""))
    return sorted(n for n in names if n)


def matching_services(names: Sequence[str]) -> str:
    import re

    return "|".join(re.escape(n) for n in names)
