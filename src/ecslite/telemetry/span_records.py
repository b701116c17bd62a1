"""Spans as the receivers produce them and the store keeps them (spec/telemetry.md §2.2, §8.3).

Invariants:

- Ids are raw bytes (trace 16, span 8); an absent id is ``b""``. Times are Unix nanoseconds.
- Searchable fields are columns of :class:`Span`; the rest (attributes, events, links) is its
  ``detail`` blob (:mod:`ecslite.telemetry.attributes`): :func:`encode_span_detail` writes the
  msgpack form for spans built in Python, the OTLP decoder keeps the span's protobuf bytes, and
  :func:`decode_span_detail` reads both.
- ``tags`` hold only the :data:`SEARCHABLE_SPAN_KEYS` attributes with scalar values, and
  ``http_status`` the first integer among :data:`HTTP_STATUS_KEYS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

from opentelemetry.proto.trace.v1 import trace_pb2

from ecslite.telemetry.attributes import (
    DETAIL_OTLP,
    attributes_from_msgpack,
    attributes_from_pb,
    attributes_to_msgpack,
    msgpack_detail,
    msgpack_payload,
    value_type,
)
from ecslite.telemetry.model import Attributes, AttrValue, Resource, Scope

ROOT_NOT_YET_RECEIVED = "<root span not yet received>"


class SpanKind(IntEnum):
    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class StatusCode(IntEnum):
    UNSET = 0
    OK = 1
    ERROR = 2


class Span(NamedTuple):
    """One span as stored; searchable fields are columns, the rest is in ``detail`` (§2.2, §8.3).

    ``tags`` are the values of the searchable attributes (the §8.3 allowlist) and ``attr_types``
    the ``(key, type)`` of every attribute seen on the span, for the tag catalog; both are filled
    by whoever builds the record (:func:`span_from_python` or the OTLP decoder).
    """

    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    name: str
    kind: int
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    flags: int
    http_status: int | None
    detail: bytes
    tags: tuple[tuple[str, str | int | float | bool], ...] = ()
    attr_types: tuple[tuple[str, str], ...] = ()

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def is_root(self) -> bool:
        return not self.parent_span_id


class SpanEvent(NamedTuple):
    time_ns: int
    name: str
    attributes: dict[str, AttrValue]
    dropped_attributes_count: int = 0


class SpanLink(NamedTuple):
    trace_id: bytes
    span_id: bytes
    trace_state: str
    attributes: dict[str, AttrValue]
    dropped_attributes_count: int = 0
    flags: int = 0


@dataclass(frozen=True, slots=True)
class SpanDetail:
    """What a span's ``detail`` blob holds, decoded for display."""

    attributes: dict[str, AttrValue]
    events: tuple[SpanEvent, ...] = ()
    links: tuple[SpanLink, ...] = ()
    trace_state: str = ""
    dropped_attributes_count: int = 0
    dropped_events_count: int = 0
    dropped_links_count: int = 0


@dataclass(frozen=True, slots=True)
class SpanBatch:
    """Spans of one resource and scope: the unit the pipeline hands to the store."""

    resource: Resource
    scope: Scope
    spans: Sequence[Span]


# Searchable span attributes (§8.3); values land in span_tags with an index.
SEARCHABLE_SPAN_KEYS = frozenset(
    {
        "http.request.method",
        "http.method",
        "http.response.status_code",
        "http.status_code",
        "http.route",
        "url.path",
        "rpc.method",
        "rpc.service",
        "db.system",
        "peer.service",
        "error.type",
        "server.address",
        "messaging.system",
    }
)

HTTP_STATUS_KEYS = ("http.response.status_code", "http.status_code")


def encode_span_detail(detail: SpanDetail) -> bytes:
    payload = [
        attributes_to_msgpack(detail.attributes),
        [[e.time_ns, e.name, attributes_to_msgpack(e.attributes), e.dropped_attributes_count] for e in detail.events],
        [
            [
                lk.trace_id,
                lk.span_id,
                lk.trace_state,
                attributes_to_msgpack(lk.attributes),
                lk.dropped_attributes_count,
                lk.flags,
            ]
            for lk in detail.links
        ],
        detail.trace_state,
        detail.dropped_attributes_count,
        detail.dropped_events_count,
        detail.dropped_links_count,
    ]
    return msgpack_detail(payload)


def decode_span_detail(blob: bytes) -> SpanDetail:
    if not blob:
        return SpanDetail({})
    if blob[0] == DETAIL_OTLP:
        span = trace_pb2.Span.FromString(blob[1:])
        return SpanDetail(
            attributes=attributes_from_pb(span.attributes),
            events=tuple(
                SpanEvent(e.time_unix_nano, e.name, attributes_from_pb(e.attributes), e.dropped_attributes_count)
                for e in span.events
            ),
            links=tuple(
                SpanLink(
                    lk.trace_id,
                    lk.span_id,
                    lk.trace_state,
                    attributes_from_pb(lk.attributes),
                    lk.dropped_attributes_count,
                    lk.flags,
                )
                for lk in span.links
            ),
            trace_state=span.trace_state,
            dropped_attributes_count=span.dropped_attributes_count,
            dropped_events_count=span.dropped_events_count,
            dropped_links_count=span.dropped_links_count,
        )
    attrs, events, links, trace_state, dropped_attrs, dropped_events, dropped_links = msgpack_payload(blob)
    return SpanDetail(
        attributes=attributes_from_msgpack(attrs),
        events=tuple(SpanEvent(t, n, attributes_from_msgpack(a), d) for t, n, a, d in events),
        links=tuple(SpanLink(tid, sid, ts, attributes_from_msgpack(a), d, f) for tid, sid, ts, a, d, f in links),
        trace_state=trace_state,
        dropped_attributes_count=dropped_attrs,
        dropped_events_count=dropped_events,
        dropped_links_count=dropped_links,
    )


def span_from_python(
    *,
    trace_id: bytes,
    span_id: bytes,
    name: str,
    start_ns: int,
    end_ns: int,
    parent_span_id: bytes = b"",
    kind: int = SpanKind.INTERNAL,
    status_code: int = StatusCode.UNSET,
    status_message: str = "",
    flags: int = 0,
    attributes: Attributes | None = None,
    events: Sequence[SpanEvent] = (),
    links: Sequence[SpanLink] = (),
    trace_state: str = "",
) -> Span:
    """A span built in Python (X-Ray segments, ecslite's own hops, tests)."""
    attrs = dict(attributes or {})
    detail = SpanDetail(attrs, tuple(events), tuple(links), trace_state)
    return Span(
        trace_id,
        span_id,
        parent_span_id,
        name,
        int(kind),
        start_ns,
        end_ns,
        int(status_code),
        status_message,
        flags,
        http_status_of(attrs),
        encode_span_detail(detail),
        searchable_tags(attrs),
        tuple((k, value_type(v)) for k, v in attrs.items()),
    )


def http_status_of(attributes: Attributes) -> int | None:
    for key in HTTP_STATUS_KEYS:
        value = attributes.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return None


def searchable_tags(attributes: Attributes) -> tuple[tuple[str, str | int | float | bool], ...]:
    return tuple(
        (k, v) for k, v in attributes.items() if k in SEARCHABLE_SPAN_KEYS and isinstance(v, str | int | float | bool)
    )
