"""Spans in a segment: schema, the batched write, and the reads the trace APIs need (§2.2, §8.3).

Writing is two steps: :func:`summarise` turns a batch into its rows and what the summaries and
catalogs need (C iteration over the spans, no per-span Python code), :func:`write_rows` stores
that; :func:`write` does both. The writer process receives summarised batches.

Tables: ``spans`` (one row per span; attributes, events and links in one ``detail`` blob),
``traces`` (one summary row per trace per segment, upserted as spans arrive), ``span_tags``
(values of the searchable attributes only), ``tag_catalog``/``tag_values`` (capped at
:data:`MAX_TAG_VALUES` per key) and ``operations`` (service, span name, kind).

Invariants: a trace's summary in one segment covers exactly the spans of that trace in that
segment; readers merge summaries of several segments (:func:`merge_summaries`). A trace whose
root span has not arrived has ``root_name`` NULL (shown as ``<root span not yet received>``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import chain, groupby
from operator import itemgetter
from typing import Any, NamedTuple

from ecslite.telemetry.attributes import value_type
from ecslite.telemetry.model import Resource, Scope
from ecslite.telemetry.span_records import (
    ROOT_NOT_YET_RECEIVED,
    Span,
    SpanBatch,
    SpanDetail,
    StatusCode,
    decode_span_detail,
)
from ecslite.telemetry.store.common import (
    RESOURCES_DDL,
    WRITER_STATE_DDL,
    load_resource,
    load_scope,
    resource_id,
    scope_id,
)
from ecslite.telemetry.store.segments import Segment

MAX_TAG_VALUES = 1000
DDL = (
    *RESOURCES_DDL,
    """CREATE TABLE spans (trace_id BLOB NOT NULL, span_id BLOB NOT NULL, parent_id BLOB, name TEXT NOT NULL,
       kind INTEGER NOT NULL, start_ns INTEGER NOT NULL, duration_ns INTEGER NOT NULL, status INTEGER NOT NULL,
       status_msg TEXT, resource_id INTEGER NOT NULL, scope_id INTEGER NOT NULL, http_status INTEGER,
       flags INTEGER NOT NULL, detail BLOB NOT NULL)""",
    "CREATE INDEX spans_by_trace ON spans (trace_id)",
    "CREATE INDEX spans_by_start ON spans (start_ns)",
    "CREATE INDEX spans_by_resource_name ON spans (resource_id, name, start_ns)",
    """CREATE TABLE traces (trace_id BLOB PRIMARY KEY, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,
       root_service TEXT, root_name TEXT, spans INTEGER NOT NULL, errors INTEGER NOT NULL,
       services TEXT NOT NULL) WITHOUT ROWID""",
    "CREATE INDEX traces_by_start ON traces (start_ns)",
    "CREATE INDEX traces_by_root_service ON traces (root_service, start_ns)",
    "CREATE TABLE span_tags (key TEXT NOT NULL, value TEXT NOT NULL, num REAL, trace_id BLOB NOT NULL, "
    "start_ns INTEGER NOT NULL)",
    "CREATE INDEX span_tags_by_value ON span_tags (key, value, start_ns)",
    """CREATE TABLE tag_catalog (scope TEXT NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL,
       last_seen INTEGER NOT NULL, PRIMARY KEY (scope, key)) WITHOUT ROWID""",
    """CREATE TABLE tag_values (scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, type TEXT NOT NULL,
       last_seen INTEGER NOT NULL, PRIMARY KEY (scope, key, value)) WITHOUT ROWID""",
    """CREATE TABLE operations (service TEXT NOT NULL, name TEXT NOT NULL, kind INTEGER NOT NULL,
       last_seen INTEGER NOT NULL, PRIMARY KEY (service, name, kind)) WITHOUT ROWID""",
    *WRITER_STATE_DDL,
)
UPGRADE = {1: WRITER_STATE_DDL}  # schema N → N + 1 (2 → 3: nothing)
TIME_BOUNDS_SQL = "SELECT min(start_ns), max(start_ns + duration_ns) FROM spans"


# -- writing -------------------------------------------------------------------------------------

# Span fields by position: the writer takes :class:`Span` records or plain tuples in the same order,
# and the per-span work is done by C iteration over them.
_ROW = itemgetter(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_TRACE_ID = itemgetter(0)
_PARENT = itemgetter(2)
_START = itemgetter(5)
_END = itemgetter(6)
_STATUS = itemgetter(7)
_TAGS = itemgetter(12)
_TYPES = itemgetter(13)
_OPERATION = itemgetter(3, 4)  # name, kind
# Columns the row computes itself: an empty parent or status message is NULL, duration = end - start.
_INSERT = (
    "INSERT INTO spans (trace_id, span_id, parent_id, name, kind, start_ns, duration_ns, status, status_msg, "
    "flags, http_status, detail, resource_id, scope_id) "
    "VALUES (?1, ?2, nullif(?3, x''), ?4, ?5, ?6, ?7 - ?6, ?8, nullif(?9, ''), ?10, ?11, ?12, {rid}, {sid})"
)
MAX_TAG_TEXTS = 100_000


class TraceRun(NamedTuple):
    """What a run of one trace's spans in a batch adds to the trace's summary and searchable tags."""

    trace_id: bytes
    start: int
    end: int
    root_name: str | None  # the run's last root span, as if the spans were folded one by one
    spans: int
    errors: int
    tags: frozenset[tuple[str, Any]]


@dataclass(frozen=True, slots=True)
class SpanRows:
    """One batch of spans as the table writer needs it: the rows, and per trace, per attribute key
    and per operation what the summaries and catalogs need. Built by :func:`summarise` next to the
    decoder (for the writer process, instead of each span's tags and types: a fraction of the bytes
    to send and of the objects to rebuild)."""

    resource: Resource
    scope: Scope
    rows: list[tuple[Any, ...]]
    low: int
    high: int
    traces: list[TraceRun]
    types: frozenset[tuple[str, str]]
    operations: frozenset[tuple[str, int]]


def summarise(batch: SpanBatch) -> SpanRows:
    spans = batch.spans
    runs: list[TraceRun] = []
    for trace_id, run in groupby(spans, _TRACE_ID):
        group = list(run)
        parents = list(map(_PARENT, group))
        root_name = group[len(parents) - 1 - parents[::-1].index(b"")][3] if b"" in parents else None
        runs.append(
            TraceRun(
                trace_id,
                min(map(_START, group)),
                max(map(_END, group)),
                root_name,
                len(group),
                list(map(_STATUS, group)).count(StatusCode.ERROR),
                frozenset(chain.from_iterable(map(_TAGS, group))),
            )
        )
    return SpanRows(
        batch.resource,
        batch.scope,
        list(map(_ROW, spans)),
        min(map(_START, spans), default=0),
        max(map(_END, spans), default=0),
        runs,
        frozenset(chain.from_iterable(map(_TYPES, spans))),
        frozenset(map(_OPERATION, spans)),
    )


def write(conn: sqlite3.Connection, segment: Segment, batches: Sequence[SpanBatch]) -> tuple[int | None, int | None]:
    return write_rows(conn, segment, [summarise(batch) for batch in batches])


def write_rows(
    conn: sqlite3.Connection, segment: Segment, batches: Sequence[SpanRows]
) -> tuple[int | None, int | None]:
    traces: dict[bytes, _Summary] = {}
    tag_starts: dict[tuple[bytes, tuple[str, Any]], int] = {}
    types: set[tuple[str, str]] = set()
    catalog: dict[tuple[str, str], str] = {}
    values: dict[tuple[str, str, str], str] = {}
    operations: set[tuple[str, str, int]] = set()
    low: int | None = None
    high: int | None = None
    for batch in batches:
        if not batch.rows:
            continue
        rid = resource_id(conn, segment, batch.resource)
        sid = scope_id(conn, segment, batch.scope)
        service = batch.resource.service_name
        _resource_tags(batch.resource, catalog, values)
        # rid and sid are integers from this segment: safe as literals, and the statement stays cached.
        conn.executemany(_INSERT.format(rid=rid, sid=sid), batch.rows)
        low = batch.low if low is None else min(low, batch.low)
        high = batch.high if high is None else max(high, batch.high)
        operations.update((service, name, kind) for name, kind in batch.operations)
        types.update(batch.types)
        for run in batch.traces:
            _fold(traces, tag_starts, run, service)
    texts: dict[tuple[str, Any], tuple[str, str, float | None]] = segment.cache.setdefault("tag_texts", {})
    if len(texts) > MAX_TAG_TEXTS:
        texts.clear()
    tag_rows: list[tuple[object, ...]] = []
    for (trace_id, tag), start in tag_starts.items():
        text = texts.get(tag)
        if text is None:
            text = texts[tag] = _tag_text(tag)
            values[("span", text[0], text[1])] = value_type(tag[1])
        tag_rows.append((*text, trace_id, start))
    if tag_rows:
        # One row per (key, value, trace) and commit: searches find traces, not spans (§8.3).
        conn.executemany("INSERT INTO span_tags (key, value, num, trace_id, start_ns) VALUES (?, ?, ?, ?, ?)", tag_rows)
    for key, kind in types:
        catalog[("span", key)] = kind
    _upsert_traces(conn, traces)
    seen = high or 0
    _upsert_catalog(conn, segment, catalog, values, seen)
    conn.executemany(
        "INSERT INTO operations (service, name, kind, last_seen) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (service, name, kind) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)",
        [(service, name, kind, seen) for service, name, kind in operations],
    )
    return low, high


@dataclass(slots=True)
class _Summary:
    start: int
    end: int
    root_service: str | None
    root_name: str | None
    spans: int
    errors: int
    services: set[str]


def _fold(
    traces: dict[bytes, _Summary], tag_starts: dict[tuple[bytes, tuple[str, Any]], int], run: TraceRun, service: str
) -> None:
    """Fold a run of one trace's spans (of one resource) into its summary and its searchable tags."""
    trace_id, start = run.trace_id, run.start
    for tag in run.tags:
        key = (trace_id, tag)
        known = tag_starts.get(key)
        if known is None or start < known:
            tag_starts[key] = start
    summary = traces.get(trace_id)
    if summary is None:
        root_service = service if run.root_name is not None else None
        traces[trace_id] = _Summary(start, run.end, root_service, run.root_name, run.spans, run.errors, {service})
        return
    summary.start = min(summary.start, start)
    summary.end = max(summary.end, run.end)
    if run.root_name is not None:
        summary.root_service, summary.root_name = service, run.root_name
    summary.spans += run.spans
    summary.errors += run.errors
    summary.services.add(service)


def _upsert_traces(conn: sqlite3.Connection, traces: dict[bytes, _Summary]) -> None:
    ids = list(traces)
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            f"SELECT trace_id, start_ns, end_ns, root_service, root_name, spans, errors, services "
            f"FROM traces WHERE trace_id IN ({marks})",
            chunk,
        ):
            summary = traces[row[0]]
            summary.start = min(summary.start, row[1])
            summary.end = max(summary.end, row[2])
            if summary.root_name is None:
                summary.root_service, summary.root_name = row[3], row[4]
            summary.spans += row[5]
            summary.errors += row[6]
            summary.services.update(row[7].split("\n"))
    conn.executemany(
        "INSERT OR REPLACE INTO traces (trace_id, start_ns, end_ns, root_service, root_name, spans, errors, services) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (tid, s.start, s.end, s.root_service, s.root_name, s.spans, s.errors, "\n".join(sorted(s.services)))
            for tid, s in traces.items()
        ],
    )


def _tag_text(tag: tuple[str, Any]) -> tuple[str, str, float | None]:
    """(key, text, number) of a searchable tag: booleans as ``true``/``false``, numbers also as REAL."""
    key, value = tag
    text = str(value).lower() if isinstance(value, bool) else str(value)
    num = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    return key, text, num


def _resource_tags(
    resource: Resource, catalog: dict[tuple[str, str], str], values: dict[tuple[str, str, str], str]
) -> None:
    for key, value in resource.attributes.items():
        kind = value_type(value) if isinstance(value, str | int | float | bool) else "string"
        catalog[("resource", key)] = kind
        if isinstance(value, str | int | float | bool):
            values[("resource", key, str(value).lower() if isinstance(value, bool) else str(value))] = kind


def _upsert_catalog(
    conn: sqlite3.Connection,
    segment: Segment,
    catalog: Mapping[tuple[str, str], str],
    values: Mapping[tuple[str, str, str], str],
    seen: int,
) -> None:
    conn.executemany(
        "INSERT INTO tag_catalog (scope, key, type, last_seen) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (scope, key) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen), type = excluded.type",
        [(scope, key, kind, seen) for (scope, key), kind in catalog.items()],
    )
    counts: dict[tuple[str, str], int] = segment.cache.setdefault("tag_value_counts", {})
    known: dict[tuple[str, str, str], None] = segment.cache.setdefault("tag_values", {})
    fresh: list[tuple[object, ...]] = []
    for (scope, key, value), kind in values.items():
        if (scope, key, value) in known:
            continue
        count = counts.get((scope, key))
        if count is None:
            count = conn.execute("SELECT count(*) FROM tag_values WHERE scope=? AND key=?", (scope, key)).fetchone()[0]
        if count >= MAX_TAG_VALUES:
            counts[(scope, key)] = count
            continue
        counts[(scope, key)] = count + 1
        known[(scope, key, value)] = None
        fresh.append((scope, key, value, kind, seen))
    conn.executemany(
        "INSERT OR IGNORE INTO tag_values (scope, key, value, type, last_seen) VALUES (?, ?, ?, ?, ?)", fresh
    )


# -- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredSpan:
    """A span read back with its resource and scope; :meth:`detail` decodes the blob on demand."""

    span: Span
    resource: Resource
    scope: Scope

    def detail(self) -> SpanDetail:
        return decode_span_detail(self.span.detail)

    @property
    def service(self) -> str:
        return self.resource.service_name


@dataclass(frozen=True, slots=True)
class TraceSummary:
    trace_id: bytes
    start_ns: int
    end_ns: int
    root_service: str | None
    root_name: str | None
    span_count: int
    error_count: int
    services: tuple[str, ...]

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def root_service_name(self) -> str:
        return self.root_service or ROOT_NOT_YET_RECEIVED

    @property
    def root_trace_name(self) -> str:
        return self.root_name or ROOT_NOT_YET_RECEIVED


SPAN_COLUMNS = (
    "s.trace_id, s.span_id, s.parent_id, s.name, s.kind, s.start_ns, s.duration_ns, s.status, s.status_msg, "
    "s.flags, s.detail, s.http_status, s.resource_id, s.scope_id"
)


def stored_span(conn: sqlite3.Connection, segment: Segment, row: Any) -> StoredSpan:
    start = int(row[5])
    span = Span(
        row[0],
        row[1],
        row[2] or b"",
        row[3],
        row[4],
        start,
        start + int(row[6]),
        row[7],
        row[8] or "",
        row[9],
        row[11],
        row[10],
    )
    return StoredSpan(span, load_resource(conn, segment, int(row[12])), load_scope(conn, segment, int(row[13])))


def trace_spans(conn: sqlite3.Connection, segment: Segment, trace_id: bytes) -> list[StoredSpan]:
    rows = conn.execute(f"SELECT {SPAN_COLUMNS} FROM spans s WHERE s.trace_id=? ORDER BY s.start_ns", (trace_id,))
    return [stored_span(conn, segment, row) for row in rows.fetchall()]


def summaries(conn: sqlite3.Connection, trace_ids: Sequence[bytes]) -> list[TraceSummary]:
    out: list[TraceSummary] = []
    for chunk_start in range(0, len(trace_ids), 500):
        chunk = list(trace_ids[chunk_start : chunk_start + 500])
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            "SELECT trace_id, start_ns, end_ns, root_service, root_name, spans, errors, services FROM traces "
            f"WHERE trace_id IN ({marks})",
            chunk,
        ):
            out.append(TraceSummary(row[0], row[1], row[2], row[3], row[4], row[5], row[6], tuple(row[7].split("\n"))))
    return out


def merge_summaries(parts: Iterable[TraceSummary]) -> dict[bytes, TraceSummary]:
    merged: dict[bytes, TraceSummary] = {}
    for part in parts:
        have = merged.get(part.trace_id)
        if have is None:
            merged[part.trace_id] = part
            continue
        merged[part.trace_id] = replace(
            have,
            start_ns=min(have.start_ns, part.start_ns),
            end_ns=max(have.end_ns, part.end_ns),
            root_service=have.root_service if have.root_name is not None else part.root_service,
            root_name=have.root_name if have.root_name is not None else part.root_name,
            span_count=have.span_count + part.span_count,
            error_count=have.error_count + part.error_count,
            services=tuple(sorted(set(have.services) | set(part.services))),
        )
    return merged


@dataclass(frozen=True, slots=True)
class SpanQuery:
    """Which spans to find; every given condition must hold for one span.

    ``tags`` compare an attribute's string form exactly (resource or span attributes; searchable
    keys use the index, others are checked on the candidates). ``predicate`` is any further
    Python test on a candidate (TraceQL, Tempo's substring tags).
    """

    start_ns: int | None = None
    end_ns: int | None = None
    service: str | None = None
    name: str | None = None
    kind: int | None = None
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    error: bool | None = None
    tags: Mapping[str, str] | None = None
    predicate: Callable[[StoredSpan], bool] | None = None


def find_spans(
    conn: sqlite3.Connection, segment: Segment, query: SpanQuery, limit: int, searchable: frozenset[str]
) -> Iterable[StoredSpan]:
    """Spans matching ``query`` in this segment, newest first (at most ``limit`` yielded)."""
    where: list[str] = []
    params: list[object] = []
    if query.start_ns is not None:
        where.append("s.start_ns >= ?")
        params.append(query.start_ns)
    if query.end_ns is not None:
        where.append("s.start_ns <= ?")
        params.append(query.end_ns)
    if query.service is not None:
        where.append("s.resource_id IN (SELECT id FROM resources WHERE service = ?)")
        params.append(query.service)
    if query.name is not None:
        where.append("s.name = ?")
        params.append(query.name)
    if query.kind is not None:
        where.append("s.kind = ?")
        params.append(query.kind)
    if query.min_duration_ns is not None:
        where.append("s.duration_ns >= ?")
        params.append(query.min_duration_ns)
    if query.max_duration_ns is not None:
        where.append("s.duration_ns <= ?")
        params.append(query.max_duration_ns)
    if query.error is not None:
        where.append("s.status = 2" if query.error else "s.status != 2")
    python_tags: dict[str, str] = {}
    for key, value in (query.tags or {}).items():
        if key in searchable:
            where.append("s.trace_id IN (SELECT trace_id FROM span_tags WHERE key = ? AND value = ?)")
            params.extend((key, value))
        python_tags[key] = value
    sql = f"SELECT {SPAN_COLUMNS} FROM spans s"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY s.start_ns DESC"
    found = 0
    cursor = conn.execute(sql, params)
    while found < limit:
        rows = cursor.fetchmany(256)
        if not rows:
            return
        for row in rows:
            candidate = stored_span(conn, segment, row)
            if python_tags and not _tags_match(candidate, python_tags):
                continue
            if query.predicate is not None and not query.predicate(candidate):
                continue
            found += 1
            yield candidate
            if found >= limit:
                return


def _tags_match(candidate: StoredSpan, tags: Mapping[str, str]) -> bool:
    attributes = candidate.detail().attributes
    for key, wanted in tags.items():
        value = attributes.get(key, candidate.resource.attributes.get(key))
        if value is None:
            return False
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if text != wanted:
            return False
    return True


def services(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT DISTINCT service FROM operations")]


def operations(conn: sqlite3.Connection, service: str | None) -> list[tuple[str, str, int]]:
    if service is None:
        return [tuple(r) for r in conn.execute("SELECT service, name, kind FROM operations")]
    rows = conn.execute("SELECT service, name, kind FROM operations WHERE service=?", (service,))
    return [tuple(r) for r in rows]


def tag_names(conn: sqlite3.Connection, scope: str | None) -> list[tuple[str, str, str]]:
    if scope is None:
        return [tuple(r) for r in conn.execute("SELECT scope, key, type FROM tag_catalog")]
    return [tuple(r) for r in conn.execute("SELECT scope, key, type FROM tag_catalog WHERE scope=?", (scope,))]


def tag_values(conn: sqlite3.Connection, scope: str | None, key: str) -> list[tuple[str, str]]:
    if scope is None:
        rows = conn.execute("SELECT value, type FROM tag_values WHERE key=?", (key,))
    else:
        rows = conn.execute("SELECT value, type FROM tag_values WHERE scope=? AND key=?", (scope, key))
    return [(r[0], r[1]) for r in rows]
