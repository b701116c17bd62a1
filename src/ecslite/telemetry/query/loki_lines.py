"""LogQL log queries over the store: stored lines through the pipeline, and Loki's ``streams``
answer (spec/telemetry.md §7.2).

Lines of the matching streams in ``[start, end)`` are read page by page in ``direction`` order and
run through the pipeline (:mod:`.logql_pipeline`); ``|=`` filters before any line rewrite are
pushed down to the store's trigram index. Each distinct label set (stream labels, structured
metadata, extracted labels) is a stream; ``limit`` applies across streams.

Structured metadata (``trace_id``, ``span_id``) is merged into the labels, or, when the request
asks to ``categorize-labels``, returned as each value's third element next to the parsed labels
(Loki 3).

Invariants: a line at a page edge is read once, however many lines share its timestamp; one
query reads at most :data:`MAX_SCANNED` stored lines (beyond it the answer covers the newest, or
oldest, part of the range).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecslite.telemetry.model import Labels
from ecslite.telemetry.query.logql_ast import LogQuery
from ecslite.telemetry.query.logql_pipeline import Entry, Pipeline
from ecslite.telemetry.store import LogQuery as StoreLogQuery
from ecslite.telemetry.store import Matcher, StoredLog, TelemetryStore

PAGE = 5000
MAX_SCANNED = 200_000  # lines read for one query: beyond it the answer covers the newest (oldest) part
CATEGORIZE = "categorize-labels"


@dataclass(slots=True)
class Line:
    ts: int
    line: str
    labels: dict[str, str]  # stream + extracted (merged form)
    metadata: dict[str, str] = field(default_factory=dict)
    parsed: dict[str, str] = field(default_factory=dict)
    stream: Labels = ()
    value: float | None = None


def read_lines(store: TelemetryStore, query: LogQuery, start: int, end: int, direction: str, limit: int) -> list[Line]:
    """The first ``limit`` lines in ``direction`` order that the query's pipeline keeps."""
    pipeline = Pipeline(query)
    needles = query.pushdown()
    page = limit if not query.filters_beyond_pushdown else PAGE
    out: list[Line] = []
    for stored in scan(store, query.matchers, needles, start, end, direction, page):
        line = run_pipeline(pipeline, stored)
        if line is not None:
            out.append(line)
            if len(out) >= limit:
                break
    return out


def scan(
    store: TelemetryStore,
    matchers: Sequence[Matcher],
    needles: Sequence[str],
    start: int,
    end: int,
    direction: str,
    page: int,
) -> Iterator[StoredLog]:
    """Stored lines in ``direction`` order, read page by page (ties at a page edge read once)."""
    seen_at_edge: set[tuple[int, str, Labels]] = set()
    scanned = 0
    while start < end and scanned < MAX_SCANNED:
        batch = store.read_logs(StoreLogQuery(matchers, start, end, needles, page, direction))
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


def run_pipeline(pipeline: Pipeline, stored: StoredLog) -> Line | None:
    """``stored`` through ``pipeline``, with its labels sorted into stream, metadata and parsed;
    ``None`` when the pipeline drops the line."""
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


def streams_json(lines: list[Line], direction: str, categorize: bool) -> dict[str, Any]:
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
