"""What the Tempo and Jaeger APIs share: trace id parsing and stored spans turned back into OTLP
(spec/telemetry.md §7.3, §7.4).

- Trace ids: 32 hex digits (any case); shorter hex is left-padded with zeros (Tempo does); the
  X-Ray form ``1-5759e988-bd862e3fe1be46a994272793`` is accepted too (**Beyond**, §3.3).
- Spans received over OTLP keep their original protobuf bytes (§8.2), so they go back out
  byte-for-byte; spans built in Python are rebuilt from their columns and detail.
- Spans group into one ``ResourceSpans`` per resource and one ``ScopeSpans`` per scope, spans in
  start order, so ``TracesData`` bytes equal Tempo's ``tempopb.Trace`` (field 1 is the batches).
"""

from __future__ import annotations

import re

from opentelemetry.proto.trace.v1 import trace_pb2

from ecslite.telemetry.attributes import DETAIL_OTLP, attributes_to_pb, body_text
from ecslite.telemetry.model import AttrValue
from ecslite.telemetry.store import StoredSpan

_HEX = re.compile(r"[0-9a-fA-F]{1,32}")
_XRAY = re.compile(r"1-([0-9a-fA-F]{8})-([0-9a-fA-F]{24})")


def parse_trace_id(text: str) -> bytes | None:
    xray = _XRAY.fullmatch(text)
    if xray is not None:
        return bytes.fromhex(xray.group(1) + xray.group(2))
    if _HEX.fullmatch(text) is None:
        return None
    return bytes.fromhex(text.rjust(32, "0"))


def span_pb(stored: StoredSpan) -> trace_pb2.Span:
    span = stored.span
    if span.detail[:1] == bytes([DETAIL_OTLP]):
        return trace_pb2.Span.FromString(span.detail[1:])
    detail = stored.detail()
    out = trace_pb2.Span(
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent_span_id,
        trace_state=detail.trace_state,
        name=span.name,
        kind=span.kind,  # type: ignore[arg-type]
        start_time_unix_nano=span.start_ns,
        end_time_unix_nano=span.end_ns,
        flags=span.flags,
        dropped_attributes_count=detail.dropped_attributes_count,
        dropped_events_count=detail.dropped_events_count,
        dropped_links_count=detail.dropped_links_count,
    )
    out.attributes.extend(attributes_to_pb(detail.attributes))
    for event in detail.events:
        pb_event = out.events.add(
            time_unix_nano=event.time_ns, name=event.name, dropped_attributes_count=event.dropped_attributes_count
        )
        pb_event.attributes.extend(attributes_to_pb(event.attributes))
    for link in detail.links:
        pb_link = out.links.add(
            trace_id=link.trace_id,
            span_id=link.span_id,
            trace_state=link.trace_state,
            dropped_attributes_count=link.dropped_attributes_count,
            flags=link.flags,
        )
        pb_link.attributes.extend(attributes_to_pb(link.attributes))
    out.status.code = span.status_code  # type: ignore[assignment]
    out.status.message = span.status_message
    return out


def traces_data(spans: list[StoredSpan]) -> trace_pb2.TracesData:
    """The trace as OTLP ``TracesData`` (one ResourceSpans per resource, one ScopeSpans per scope)."""
    data = trace_pb2.TracesData()
    resources: dict[bytes, trace_pb2.ResourceSpans] = {}
    scopes: dict[tuple[bytes, bytes], trace_pb2.ScopeSpans] = {}
    for stored in sorted(spans, key=lambda s: (s.span.start_ns, s.span.span_id)):
        resource_key = stored.resource.key
        resource_spans = resources.get(resource_key)
        if resource_spans is None:
            resource_spans = resources[resource_key] = data.resource_spans.add()
            resource_spans.resource.attributes.extend(attributes_to_pb(stored.resource.attributes))
            resource_spans.resource.dropped_attributes_count = stored.resource.dropped_attributes_count
        scope_key = (resource_key, stored.scope.key)
        scope_spans = scopes.get(scope_key)
        if scope_spans is None:
            scope_spans = scopes[scope_key] = resource_spans.scope_spans.add()
            scope_spans.scope.name = stored.scope.name
            scope_spans.scope.version = stored.scope.version
            scope_spans.scope.attributes.extend(attributes_to_pb(stored.scope.attributes))
        scope_spans.spans.append(span_pb(stored))
    return data


def attribute_text(value: AttrValue) -> str:
    """An attribute's string form for matching (booleans lower case, as Tempo and Jaeger show them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | dict) or value is None:
        return body_text(value)  # JSON for arrays and maps
    return str(value)
