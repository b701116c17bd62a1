"""The Jaeger query API under ``/jaeger`` (spec/telemetry.md §7.4): services, operations, trace
search, trace by id and dependencies, in Jaeger's envelope ``{"data", "total", "limit", "offset",
"errors"}``.

Conversion from OTLP (as Jaeger's own OTLP translator does): times in microseconds; the parent
becomes a ``CHILD_OF`` reference and links ``FOLLOWS_FROM``; attributes become typed tags
(``string``, ``bool``, ``int64``, ``float64``, ``binary``; arrays and maps as JSON strings); the
kind becomes ``span.kind``, the status ``otel.status_code``/``otel.status_description`` plus
``error=true``; events become logs with an ``event`` field; one process per resource, its tags
the resource attributes other than ``service.name``.

Search: spans of ``service`` (and ``operation``, ``tags``, span duration bounds) in the window
``[start, end]`` (µs, or ``end − lookback``) are found newest first; their traces, up to
``limit``, are returned whole. Dependencies pair the window's spans by the §9.3 rules
(:func:`ecslite.telemetry.red.pair_spans`), the same edges the service graph metrics count.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ecslite.clock import Clock
from ecslite.telemetry.attributes import value_type
from ecslite.telemetry.model import AttrValue
from ecslite.telemetry.query.http import guarded, json_response, off_loop
from ecslite.telemetry.query.params import Params, go_duration_ns
from ecslite.telemetry.query.traces import attribute_text, parse_trace_id
from ecslite.telemetry.red import pair_spans, span_view, virtual_node
from ecslite.telemetry.span_records import SpanKind, StatusCode
from ecslite.telemetry.store import SpanQuery, StoredSpan, TelemetryStore

KINDS: dict[int, str] = {
    SpanKind.INTERNAL: "internal",
    SpanKind.SERVER: "server",
    SpanKind.CLIENT: "client",
    SpanKind.PRODUCER: "producer",
    SpanKind.CONSUMER: "consumer",
}
DEFAULT_LIMIT = 20
DEFAULT_LOOKBACK_US = 3_600_000_000  # Jaeger UI's default: the last hour
DEPENDENCY_SPAN_LIMIT = 50_000


def envelope(data: Any, status: int = 200, errors: list[dict[str, Any]] | None = None) -> Response:
    total = len(data) if isinstance(data, list) else 0
    return json_response({"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors}, status)


def error(code: int, message: str) -> Response:
    return envelope(None, code, [{"code": code, "msg": message}])


def _internal(message: str) -> Response:
    return error(500, message)


class JaegerApi:
    def __init__(self, store: TelemetryStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def routes(self) -> list[BaseRoute]:
        guard = guarded(_internal)
        return [
            Route("/api/services", guard(self.services), methods=["GET"]),
            Route("/api/services/{service}/operations", guard(self.service_operations), methods=["GET"]),
            Route("/api/operations", guard(self.operations), methods=["GET"]),
            Route("/api/traces", guard(self.find_traces), methods=["GET"]),
            Route("/api/traces/{trace_id}", guard(self.trace), methods=["GET"]),
            Route("/api/dependencies", guard(self.dependencies), methods=["GET"]),
        ]

    async def services(self, request: Request) -> Response:
        return envelope(await off_loop(self.store.services))

    async def service_operations(self, request: Request) -> Response:
        found = await off_loop(self.store.operations, request.path_params["service"])
        return envelope(sorted({name for _service, name, _kind in found}))

    async def operations(self, request: Request) -> Response:
        params = await Params.read(request)
        service = params.get("service") or None
        kind_name = (params.get("spanKind") or "").lower()
        found = await off_loop(self.store.operations, service)
        out = sorted(
            {
                (name, KINDS.get(kind, ""))
                for _service, name, kind in found
                if not kind_name or KINDS.get(kind) == kind_name
            }
        )
        return envelope([{"name": name, "spanKind": kind} for name, kind in out])

    async def trace(self, request: Request) -> Response:
        trace_id = parse_trace_id(request.path_params["trace_id"])
        if trace_id is None:
            return error(400, f"cannot parse traceID param: {request.path_params['trace_id']}")
        spans = await off_loop(self.store.trace, trace_id)
        if not spans:
            return error(404, "trace not found")
        return envelope([jaeger_trace(spans)])

    async def find_traces(self, request: Request) -> Response:
        params = await Params.read(request)
        service = params.get("service") or ""
        if not service:
            return error(400, "parameter 'service' is required")
        try:
            query, limit = self._search_query(params, service)
        except ValueError as problem:
            return error(400, str(problem))
        traces = await off_loop(self._find, query, limit)
        return envelope(traces)

    def _search_query(self, params: Params, service: str) -> tuple[SpanQuery, int]:
        end_us = _int(params.get("end"), "end", int(self.clock.now() * 1_000_000))
        lookback = params.get("lookback") or ""
        lookback_ns = go_duration_ns(lookback) if lookback and lookback != "custom" else None
        default_start = end_us - (lookback_ns // 1000 if lookback_ns else DEFAULT_LOOKBACK_US)
        start_us = _int(params.get("start"), "start", default_start)
        limit = _int(params.get("limit"), "limit", DEFAULT_LIMIT) or DEFAULT_LIMIT
        tags = _tags(params.get("tags"))
        low = _duration(params.get("minDuration"), "minDuration")
        high = _duration(params.get("maxDuration"), "maxDuration")
        operation = params.get("operation") or None
        query = SpanQuery(
            start_ns=start_us * 1000,
            end_ns=end_us * 1000,
            service=service,
            name=operation,
            min_duration_ns=low,
            max_duration_ns=high,
            predicate=_tag_predicate(tags) if tags else None,
        )
        return query, limit

    def _find(self, query: SpanQuery, limit: int) -> list[dict[str, Any]]:
        trace_ids: list[bytes] = []
        for stored in self.store.find_spans(query, 10_000):
            if stored.span.trace_id not in trace_ids:
                trace_ids.append(stored.span.trace_id)
                if len(trace_ids) >= limit:
                    break
        return [jaeger_trace(spans) for trace_id in trace_ids if (spans := self.store.trace(trace_id))]

    async def dependencies(self, request: Request) -> Response:
        params = await Params.read(request)
        try:
            end_ms = _int(params.get("endTs"), "endTs", int(self.clock.now() * 1000))
            lookback_ms = _int(params.get("lookback"), "lookback", 86_400_000)
        except ValueError as problem:
            return error(400, str(problem))
        links = await off_loop(self._dependencies, (end_ms - lookback_ms) * 1_000_000, end_ms * 1_000_000)
        return envelope(links)

    def _dependencies(self, start_ns: int, end_ns: int) -> list[dict[str, Any]]:
        spans = self.store.find_spans(SpanQuery(start_ns=start_ns, end_ns=end_ns), DEPENDENCY_SPAN_LIMIT)
        views = []
        for stored in spans:
            view = span_view(stored.span, stored.service)
            if stored.span.kind in (SpanKind.CLIENT, SpanKind.PRODUCER):
                # Read back spans carry no tag tuple: take the virtual node from the attributes.
                view = view._replace(peer=virtual_node(stored.detail().attributes.items()))
            views.append(view)
        edges, _unpaired = pair_spans(views)
        counts = Counter((edge.client, edge.server) for edge in edges)
        return [{"parent": a, "child": b, "callCount": n} for (a, b), n in sorted(counts.items())]


def _int(text: str | None, name: str, default: int) -> int:
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(
            f"unable to parse param '{name}': strconv.ParseInt: parsing \"{text}\": invalid syntax"
        ) from None


def _duration(text: str | None, name: str) -> int | None:
    if not text:
        return None
    nanos = go_duration_ns(text)
    if nanos is None:
        raise ValueError(f"unable to parse param '{name}': time: invalid duration \"{text}\"")
    return nanos


def _tags(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ValueError(f"malformed 'tags' parameter, cannot unmarshal JSON: {text}") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"malformed 'tags' parameter, cannot unmarshal JSON: {text}")
    return {str(k): attribute_text(v) for k, v in parsed.items()}


def _tag_predicate(tags: dict[str, str]) -> Callable[[StoredSpan], bool]:
    def predicate(stored: StoredSpan) -> bool:
        shown = {tag["key"]: tag["value"] for tag in _span_tags(stored)}
        for key, wanted in tags.items():
            if key not in shown:
                shown_value = stored.resource.attributes.get(key)
                if shown_value is None or attribute_text(shown_value) != wanted:
                    return False
                continue
            if attribute_text(shown[key]) != wanted:
                return False
        return True

    return predicate


# -- conversion ----------------------------------------------------------------------------------


def tag(key: str, value: AttrValue) -> dict[str, Any]:
    kind = value_type(value)
    if kind == "bool":
        return {"key": key, "type": "bool", "value": value}
    if kind == "int":
        return {"key": key, "type": "int64", "value": value}
    if kind == "float":
        return {"key": key, "type": "float64", "value": value}
    if kind == "bytes":
        assert isinstance(value, bytes)
        return {"key": key, "type": "binary", "value": base64.b64encode(value).decode()}
    return {"key": key, "type": "string", "value": attribute_text(value)}


def _span_tags(stored: StoredSpan) -> list[dict[str, Any]]:
    span = stored.span
    detail = stored.detail()
    tags = [tag(key, value) for key, value in detail.attributes.items()]
    if stored.scope.name:
        tags.append(tag("otel.scope.name", stored.scope.name))
    if stored.scope.version:
        tags.append(tag("otel.scope.version", stored.scope.version))
    kind = KINDS.get(span.kind)
    if kind is not None:
        tags.append(tag("span.kind", kind))
    if span.status_code == StatusCode.ERROR:
        tags.append(tag("otel.status_code", "ERROR"))
        tags.append(tag("error", True))
    elif span.status_code == StatusCode.OK:
        tags.append(tag("otel.status_code", "OK"))
    if span.status_message:
        tags.append(tag("otel.status_description", span.status_message))
    if detail.trace_state:
        tags.append(tag("w3c.tracestate", detail.trace_state))
    return tags


def jaeger_trace(spans: list[StoredSpan]) -> dict[str, Any]:
    processes: dict[bytes, str] = {}
    process_json: dict[str, Any] = {}
    out_spans = []
    for stored in sorted(spans, key=lambda s: (s.span.start_ns, s.span.span_id)):
        key = stored.resource.key
        pid = processes.get(key)
        if pid is None:
            pid = processes[key] = f"p{len(processes) + 1}"
            process_json[pid] = {
                "serviceName": stored.service,
                "tags": [tag(k, v) for k, v in stored.resource.attributes.items() if k != "service.name"],
            }
        out_spans.append(_span_json(stored, pid))
    trace_id = spans[0].span.trace_id.hex()
    return {"traceID": trace_id, "spans": out_spans, "processes": process_json, "warnings": None}


def _span_json(stored: StoredSpan, pid: str) -> dict[str, Any]:
    span = stored.span
    detail = stored.detail()
    references = []
    if span.parent_span_id:
        references.append({"refType": "CHILD_OF", "traceID": span.trace_id.hex(), "spanID": span.parent_span_id.hex()})
    for link in detail.links:
        references.append({"refType": "FOLLOWS_FROM", "traceID": link.trace_id.hex(), "spanID": link.span_id.hex()})
    logs = [
        {
            "timestamp": event.time_ns // 1000,
            "fields": [tag("event", event.name), *(tag(k, v) for k, v in event.attributes.items())],
        }
        for event in detail.events
    ]
    return {
        "traceID": span.trace_id.hex(),
        "spanID": span.span_id.hex(),
        "flags": span.flags & 0xFF,
        "operationName": span.name,
        "references": references,
        "startTime": span.start_ns // 1000,
        "duration": span.duration_ns // 1000,
        "tags": _span_tags(stored),
        "logs": logs,
        "processID": pid,
        "warnings": None,
    }
