"""The Tempo HTTP API under ``/tempo`` (spec/telemetry.md §7.3): trace by id (OTLP JSON, or
``tempopb.Trace`` protobuf on ``Accept: application/protobuf``), v2 trace by id, search by TraceQL
(:mod:`.traceql`) or logfmt ``tags``, tag names and values (v1 and v2), echo, ready and
buildinfo. TraceQL metrics answer 400 "not supported".

Search: spans of the time range are scanned newest first (at most :data:`SPAN_SCAN_LIMIT`, which
covers demo scale; the limit is documented rather than hidden), grouped by trace, and a trace is
returned when its matched spansets satisfy the query; ``minDuration``/``maxDuration`` bound the
trace's duration. Up to ``spss`` matched spans are listed per trace with ``matched`` the count.
"""

from __future__ import annotations

import dataclasses
import functools
import shlex
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ecslite.clock import Clock
from ecslite.telemetry.model import AttrValue
from ecslite.telemetry.query.http import guarded, json_response, off_loop, text_response
from ecslite.telemetry.query.params import BadParameter, Params, go_duration_ns, parse_int
from ecslite.telemetry.query.traceql import (
    INTRINSIC_TAGS,
    KIND,
    STATUS,
    Context,
    Query,
    Spanset,
    TraceQLError,
    matched_spansets,
)
from ecslite.telemetry.query.traceql import parse as parse_traceql
from ecslite.telemetry.query.traces import attribute_text, parse_trace_id, traces_data
from ecslite.telemetry.store import SpanQuery, StoredSpan, TelemetryStore, TraceSummary

TEMPO_VERSION = "2.6.0"  # reported by buildinfo: Grafana gates features on it (§7.3)
SPAN_SCAN_LIMIT = 20_000
PROTOBUF = "application/protobuf"


def _bad_request(message: str) -> Response:
    return text_response(message, 400)


def _internal(message: str) -> Response:
    return text_response(message, 500)


class TempoApi:
    def __init__(self, store: TelemetryStore, clock: Clock, version: str = TEMPO_VERSION) -> None:
        self.store = store
        self.clock = clock
        self.version = version

    def routes(self) -> list[BaseRoute]:
        guard = guarded(_internal)
        return [
            Route("/api/echo", self.echo, methods=["GET"]),
            Route("/ready", self.ready, methods=["GET"]),
            Route("/api/status/buildinfo", self.buildinfo, methods=["GET"]),
            Route("/api/traces/{trace_id}", guard(self.trace), methods=["GET"]),
            Route("/api/v2/traces/{trace_id}", guard(self.trace_v2), methods=["GET"]),
            Route("/api/search", guard(self.search), methods=["GET"]),
            Route("/api/search/tags", guard(self.tags), methods=["GET"]),
            Route("/api/v2/search/tags", guard(self.tags_v2), methods=["GET"]),
            Route("/api/search/tag/{tag}/values", guard(self.tag_values), methods=["GET"]),
            Route("/api/v2/search/tag/{tag}/values", guard(self.tag_values_v2), methods=["GET"]),
            Route("/api/metrics/query_range", self.metrics_unsupported, methods=["GET"]),
            Route("/api/metrics/query", self.metrics_unsupported, methods=["GET"]),
        ]

    async def echo(self, request: Request) -> Response:
        return text_response("echo")

    async def ready(self, request: Request) -> Response:
        return text_response("ready")

    async def buildinfo(self, request: Request) -> Response:
        from ecslite import __version__

        return json_response(
            {
                "version": self.version,
                "revision": f"ecslite-{__version__}",
                "branch": "",
                "buildDate": "",
                "buildUser": "",
                "goVersion": "",
            }
        )

    async def metrics_unsupported(self, request: Request) -> Response:
        return _bad_request("TraceQL metrics queries are not supported by ecslite")

    # -- traces by id --------------------------------------------------------------------------

    async def _load(self, request: Request) -> tuple[list[StoredSpan] | None, Response | None]:
        trace_id = parse_trace_id(request.path_params["trace_id"])
        if trace_id is None:
            return None, _bad_request(f"invalid trace id: {request.path_params['trace_id']}")
        spans = await off_loop(self.store.trace, trace_id)
        if not spans:
            return None, text_response("trace not found", 404)
        return spans, None

    async def trace(self, request: Request) -> Response:
        spans, problem = await self._load(request)
        if problem is not None or spans is None:
            assert problem is not None
            return problem
        data = traces_data(spans)
        if PROTOBUF in request.headers.get("accept", ""):
            return Response(data.SerializeToString(), media_type=PROTOBUF)
        body = json_format.MessageToDict(data)
        return json_response({"batches": body.get("resourceSpans", [])})

    async def trace_v2(self, request: Request) -> Response:
        spans, problem = await self._load(request)
        if problem is not None or spans is None:
            assert problem is not None
            return problem
        data = traces_data(spans)
        if PROTOBUF in request.headers.get("accept", ""):
            payload = data.SerializeToString()
            # TraceByIDResponse { Trace trace = 1; ... }: the trace as a length-delimited field 1.
            return Response(b"\x0a" + _varint(len(payload)) + payload, media_type=PROTOBUF)
        body = json_format.MessageToDict(data)
        return json_response({"trace": {"resourceSpans": body.get("resourceSpans", [])}, "status": "COMPLETE"})

    # -- search --------------------------------------------------------------------------------

    async def search(self, request: Request) -> Response:
        params = await Params.read(request)
        try:
            query = _search_query(params)
            limit = parse_int(params.get("limit"), "limit", 20)
            spss = parse_int(params.get("spss"), "spss", 3)
            start_ns, end_ns = _seconds_range(params)
            low = _duration(params.get("minDuration"), "minDuration")
            high = _duration(params.get("maxDuration"), "maxDuration")
        except (BadParameter, TraceQLError) as problem:
            return _bad_request(str(problem))
        traces = await off_loop(self._search, query, start_ns, end_ns, max(limit, 1), max(spss, 1), low, high)
        return json_response({"traces": traces, "metrics": {"inspectedTraces": len(traces), "inspectedBytes": "0"}})

    def _search(
        self,
        query: Query,
        start_ns: int | None,
        end_ns: int | None,
        limit: int,
        spss: int,
        low: int | None,
        high: int | None,
    ) -> list[dict[str, Any]]:
        matched: dict[bytes, dict[int, list[StoredSpan]]] = {}
        order: list[bytes] = []

        def record(span: StoredSpan, attrs: dict[str, object], ctx: Context) -> bool:
            hits = matched_spansets(query, span, attrs, ctx)
            if not hits:
                return False
            per_trace = matched.get(span.span.trace_id)
            if per_trace is None:
                per_trace = matched[span.span.trace_id] = {}
                order.append(span.span.trace_id)
            for index in hits:
                per_trace.setdefault(index, []).append(span)
            return True

        scan = SpanQuery(start_ns=start_ns, end_ns=end_ns)
        if query.needs_trace:
            # Trace-level intrinsics need the trace summaries, which cannot be read while the scan
            # holds the segment: scan first, then read the summaries of every candidate at once.
            candidates = self.store.find_spans(scan, SPAN_SCAN_LIMIT)
            summaries = self.store.trace_summaries(list({s.span.trace_id: None for s in candidates}))
            ctx = Context(summaries.get)
            for span in candidates:
                record(span, dict(span.detail().attributes), ctx)
        else:
            ctx = Context(lambda trace_id: None)
            predicate = functools.partial(_record_span, record, ctx)
            self.store.find_spans(dataclasses.replace(scan, predicate=predicate), SPAN_SCAN_LIMIT)
            summaries = self.store.trace_summaries(order)
        out: list[dict[str, Any]] = []
        for trace_id in order:
            per_trace = matched[trace_id]
            if not query.trace_matches({index: bool(spans) for index, spans in per_trace.items()}):
                continue
            found = summaries.get(trace_id)
            if found is None:
                continue
            if (low is not None and found.duration_ns < low) or (high is not None and found.duration_ns > high):
                continue
            out.append(_trace_json(found, per_trace, spss))
            if len(out) >= limit:
                break
        return out

    # -- tags ----------------------------------------------------------------------------------

    async def tags(self, request: Request) -> Response:
        params = await Params.read(request)
        scope = params.get("scope") or None
        if scope == "intrinsic":
            return json_response({"tagNames": INTRINSIC_TAGS})
        found = await off_loop(self.store.span_tag_names, scope if scope in ("span", "resource") else None)
        names = sorted({key for _scope, key, _type in found})
        return json_response({"tagNames": names})

    async def tags_v2(self, request: Request) -> Response:
        params = await Params.read(request)
        wanted = params.get("scope") or "all"
        found = await off_loop(self.store.span_tag_names, None)
        scopes = []
        for scope in ("resource", "span"):
            if wanted in ("all", "", scope):
                scopes.append({"name": scope, "tags": sorted({key for s, key, _t in found if s == scope})})
        if wanted in ("all", "", "intrinsic"):
            scopes.append({"name": "intrinsic", "tags": INTRINSIC_TAGS})
        return json_response({"scopes": scopes})

    async def tag_values(self, request: Request) -> Response:
        tag = request.path_params["tag"]
        values = await off_loop(self._tag_values, tag)
        return json_response({"tagValues": sorted({value for value, _type in values})})

    async def tag_values_v2(self, request: Request) -> Response:
        values = await off_loop(self._tag_values, request.path_params["tag"])
        unique = sorted(set(values))
        return json_response({"tagValues": [{"type": kind, "value": value} for value, kind in unique]})

    def _tag_values(self, tag: str) -> list[tuple[str, str]]:
        """(value, Tempo type) of a tag: scoped (``resource.k``, ``span.k``, ``.k``) or intrinsic."""
        intrinsic = tag.removeprefix("span:").removeprefix("trace:")
        if intrinsic == "status":
            return [(name, "keyword") for name in STATUS]
        if intrinsic == "kind":
            return [(name, "keyword") for name in KIND]
        if intrinsic in ("name", "rootName"):
            return [(name, "string") for _service, name, _kind in self.store.operations()]
        if intrinsic in ("rootServiceName", "rootService"):
            return [(service, "string") for service in self.store.services()]
        scope: str | None = None
        key = tag
        if tag.startswith("resource."):
            scope, key = "resource", tag[len("resource.") :]
        elif tag.startswith("span."):
            scope, key = "span", tag[len("span.") :]
        elif tag.startswith("."):
            key = tag[1:]
        return self.store.span_tag_values(key, scope)


def _record_span(
    record: Callable[[StoredSpan, dict[str, object], Context], bool], ctx: Context, span: StoredSpan
) -> bool:
    return record(span, dict(span.detail().attributes), ctx)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _seconds_range(params: Params) -> tuple[int | None, int | None]:
    def read(name: str) -> int | None:
        text = params.get(name)
        if not text:
            return None
        try:
            return int(float(text) * 1_000_000_000)
        except ValueError:
            raise BadParameter(name, f'cannot parse "{text}" to a valid timestamp') from None

    start, end = read("start"), read("end")
    if end is not None:
        end += 999_999_999  # Tempo's end is a whole second, inclusive
    return start, end


def _duration(text: str | None, name: str) -> int | None:
    if not text:
        return None
    nanos = go_duration_ns(text)
    if nanos is None:
        raise BadParameter(name, f'cannot parse "{text}" to a valid duration')
    return nanos


def _search_query(params: Params) -> Query:
    q = (params.get("q") or "").strip()
    if q:
        return parse_traceql(q)
    tags = params.get("tags") or ""
    return _tags_query(tags)


def _tags_query(text: str) -> Query:
    """Tempo's legacy ``tags`` search (logfmt ``k=v``): every pair must match one span, by a
    case-insensitive substring of the span's or resource's attribute (``name`` is the span name)."""
    try:
        parts = shlex.split(text)
    except ValueError as problem:
        raise BadParameter("tags", f"invalid logfmt: {problem}") from None
    pairs: list[tuple[str, str]] = []
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise BadParameter("tags", f'invalid logfmt pair "{part}"')
        pairs.append((key, value.lower()))

    def predicate(span: StoredSpan, attrs: dict[str, object], ctx: Context) -> bool:
        for key, wanted in pairs:
            if key == "name":
                value: object = span.span.name
            elif key in ("status.code", "status"):
                value = {0: "unset", 1: "ok", 2: "error"}.get(span.span.status_code, "")
            else:
                value = attrs.get(key, span.resource.attributes.get(key))
            if value is None or wanted not in attribute_text(value).lower():  # type: ignore[arg-type]
                return False
        return True

    spanset = Spanset(predicate if pairs else None, 0)
    return Query(spanset, (spanset,))


def _trace_json(summary: TraceSummary, matched: dict[int, list[StoredSpan]], spss: int) -> dict[str, Any]:
    spans: dict[bytes, StoredSpan] = {}
    for group in matched.values():
        for span in group:
            spans.setdefault(span.span.span_id, span)
    ordered = sorted(spans.values(), key=lambda s: s.span.start_ns)
    span_set = {"spans": [_span_json(s) for s in ordered[:spss]], "matched": len(ordered)}
    return {
        "traceID": summary.trace_id.hex(),
        "rootServiceName": summary.root_service_name,
        "rootTraceName": summary.root_trace_name,
        "startTimeUnixNano": str(summary.start_ns),
        "durationMs": round(summary.duration_ns / 1_000_000),
        "spanSets": [span_set],
        "spanSet": span_set,
    }


def _span_json(stored: StoredSpan) -> dict[str, Any]:
    span = stored.span
    return {
        "spanID": span.span_id.hex(),
        "name": span.name,
        "startTimeUnixNano": str(span.start_ns),
        "durationNanos": str(span.duration_ns),
        "attributes": [{"key": "service.name", "value": _any_value(stored.service)}],
    }


def _any_value(value: AttrValue) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": attribute_text(value)}
