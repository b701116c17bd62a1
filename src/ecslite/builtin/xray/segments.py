"""X-Ray segment documents as OTLP spans (spec/telemetry.md §3.3, §3.5).

- A datagram is ``{"format": "json", "version": 1}`` + newline + one segment document.
- ``trace_id`` ``1-5759e988-bd862e3fe1be46a994272793`` → the 32-hex W3C id ``5759e988bd862e3fe1be46a994272793``;
  ``id`` and ``parent_id`` are 16-hex span ids.
- A segment is a SERVER span named after the segment (its ``name`` is also the resource's
  ``service.name``); a subsegment with a ``namespace`` (``remote``, ``aws``) is a CLIENT span, any
  other INTERNAL. Nested ``subsegments`` become children; a detached subsegment
  (``"type": "subsegment"``) keeps its own ``parent_id``.
- ``fault`` → status ERROR (with the cause's first message); ``error`` (4xx) and ``throttle`` (429)
  are only attributes (``aws.xray.error``, ``aws.xray.throttle``).
- ``http.request``/``http.response`` → the HTTP semantic-convention attributes; ``annotations`` →
  ``aws.xray.annotations.<key>``; ``aws`` fields → ``aws.<key>``; ``cause.exceptions`` →
  ``exception`` events; ``metadata`` → ``aws.xray.metadata`` (JSON).
- Segments still ``in_progress`` are skipped: the SDK sends the complete segment when it ends.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from ecslite.telemetry.attributes import set_any_value

HEADER = b'{"format": "json", "version": 1}'
_TRACE = re.compile(r"1-([0-9a-fA-F]{8})-([0-9a-fA-F]{24})")
_SPAN = re.compile(r"[0-9a-fA-F]{16}")
SCOPE = "ecslite.xray"


class BadSegment(ValueError):
    """The datagram holds no usable segment."""


def parse_datagram(data: bytes) -> dict[str, Any]:
    header, newline, body = data.partition(b"\n")
    if not newline:
        body = header  # some senders omit the header line
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadSegment(f"not a JSON segment document: {error}") from None
    if not isinstance(document, dict):
        raise BadSegment("a segment document is a JSON object")
    return document


def trace_id(value: Any) -> bytes:
    match = _TRACE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise BadSegment(f"trace_id {value!r} is not 1-<8 hex>-<24 hex>")
    return bytes.fromhex(match.group(1) + match.group(2))


def span_id(value: Any) -> bytes:
    if not isinstance(value, str) or not _SPAN.fullmatch(value):
        raise BadSegment(f"id {value!r} is not 16 hex digits")
    return bytes.fromhex(value)


def _set(span: trace_pb2.Span, key: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str | bool | int | float):
        value = orjson.dumps(value, default=str).decode()
    kv = span.attributes.add(key=key)
    set_any_value(kv.value, value)


def _attributes(span: trace_pb2.Span, doc: Mapping[str, Any]) -> None:
    http = doc.get("http") or {}
    request = http.get("request") or {}
    response = http.get("response") or {}
    _set(span, "http.request.method", request.get("method"))
    _set(span, "url.full", request.get("url"))
    _set(span, "user_agent.original", request.get("user_agent"))
    _set(span, "client.address", request.get("client_ip"))
    _set(span, "http.response.status_code", response.get("status"))
    _set(span, "http.response.body.size", response.get("content_length"))
    for flag in ("error", "throttle", "fault"):
        if doc.get(flag):
            _set(span, f"aws.xray.{flag}", True)
    for key, value in (doc.get("annotations") or {}).items():
        _set(span, f"aws.xray.annotations.{key}", value)
    for key, value in (doc.get("aws") or {}).items():
        _set(span, f"aws.{key}", value)
    if doc.get("metadata"):
        _set(span, "aws.xray.metadata", doc["metadata"])
    if doc.get("namespace"):
        _set(span, "aws.xray.namespace", doc["namespace"])
    if doc.get("origin"):
        _set(span, "aws.xray.origin", doc["origin"])


def _exceptions(span: trace_pb2.Span, doc: Mapping[str, Any], end_ns: int) -> str:
    cause = doc.get("cause")
    if not isinstance(cause, dict):
        return ""
    first = ""
    for item in cause.get("exceptions") or ():
        if not isinstance(item, dict):
            continue
        event = span.events.add(time_unix_nano=end_ns, name="exception")
        for key, value in (("exception.type", item.get("type")), ("exception.message", item.get("message"))):
            if value:
                kv = event.attributes.add(key=key)
                kv.value.string_value = str(value)
        first = first or str(item.get("message") or item.get("type") or "")
    return first


def _span(out: trace_pb2.ScopeSpans, doc: Mapping[str, Any], trace: bytes, parent: bytes, kind: int) -> bytes | None:
    if doc.get("in_progress") or "end_time" not in doc:
        return None
    start_ns = _ns(doc["start_time"])
    end_ns = _ns(doc["end_time"])
    span = out.spans.add(
        trace_id=trace,
        span_id=span_id(doc.get("id")),
        parent_span_id=parent,
        name=str(doc.get("name") or "segment"),
        kind=kind,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=max(end_ns, start_ns),
    )
    _attributes(span, doc)
    message = _exceptions(span, doc, end_ns)
    if doc.get("fault"):
        span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
        span.status.message = message
    return span.span_id


def _ns(value: Any) -> int:
    """Epoch seconds with a fraction as nanoseconds, the fraction on its own (a double has ~16 digits)."""
    seconds = float(value)
    whole = int(seconds)
    return whole * 1_000_000_000 + round((seconds - whole) * 1e9)


def _walk(out: trace_pb2.ScopeSpans, doc: Mapping[str, Any], trace: bytes, parent: bytes, root: bool) -> None:
    if root:
        kind = trace_pb2.Span.SPAN_KIND_SERVER
    elif doc.get("namespace") in ("remote", "aws"):
        kind = trace_pb2.Span.SPAN_KIND_CLIENT
    else:
        kind = trace_pb2.Span.SPAN_KIND_INTERNAL
    own = _span(out, doc, trace, parent, kind)
    for child in doc.get("subsegments") or ():
        if isinstance(child, dict):
            _walk(out, child, trace, own or parent, False)


def to_request(documents: Iterable[Mapping[str, Any]]) -> tuple[trace_service_pb2.ExportTraceServiceRequest, int]:
    """One export request (a resource per service name) and how many documents were unusable."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    scopes: dict[str, trace_pb2.ScopeSpans] = {}
    bad = 0
    for doc in documents:
        try:
            trace = trace_id(doc.get("trace_id"))
            parent = span_id(doc["parent_id"]) if doc.get("parent_id") else b""
            detached = doc.get("type") == "subsegment"
            service = str(doc.get("name") or "unknown_service") if not detached else str(doc.get("name") or "")
            scope = scopes.get(service)
            if scope is None:
                resource_spans = request.resource_spans.add()
                kv = resource_spans.resource.attributes.add(key="service.name")
                kv.value.string_value = service
                scope = resource_spans.scope_spans.add()
                scope.scope.name = SCOPE
                scopes[service] = scope
            _walk(scope, doc, trace, parent, root=not detached)
        except (BadSegment, KeyError, TypeError, ValueError):
            bad += 1
    return request, bad
