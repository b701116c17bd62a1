"""Log records in a segment: schema, the batched write, and the reads the Loki API needs (§2.3, §8.3).

Tables: ``streams`` (one per distinct label set, canonical sorted JSON) with ``stream_labels`` for
selector matching and label listings; ``logs`` (one row per record; attributes and the original
body in ``detail``); ``logs_fts``, an FTS5 external-content table with the trigram tokenizer on
``body``, which serves ``|=`` filters of three characters or more. Shorter needles are checked
with ``instr``; the trigram index is case-insensitive, so every hit is also checked with ``instr``
(Loki's ``|=`` is case-sensitive).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson

from ecslite.telemetry.model import (
    Labels,
    LogBatch,
    LogDetail,
    LogRecord,
    Resource,
    decode_log_detail,
    log_stream_labels,
    severity_level,
)
from ecslite.telemetry.store.common import RESOURCES_DDL, load_resource, resource_id
from ecslite.telemetry.store.matchers import Matcher, best_equality, match_all
from ecslite.telemetry.store.segments import Segment

DDL = (
    *RESOURCES_DDL,
    "CREATE TABLE streams (id INTEGER PRIMARY KEY, hash BLOB UNIQUE NOT NULL, labels TEXT NOT NULL)",
    "CREATE TABLE stream_labels (name TEXT NOT NULL, value TEXT NOT NULL, stream_id INTEGER NOT NULL)",
    "CREATE INDEX stream_labels_by_value ON stream_labels (name, value)",
    """CREATE TABLE logs (id INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, observed_ns INTEGER NOT NULL,
       stream_id INTEGER NOT NULL, severity INTEGER NOT NULL, severity_text TEXT NOT NULL, body TEXT NOT NULL,
       trace_id BLOB, span_id BLOB, flags INTEGER NOT NULL, resource_id INTEGER NOT NULL, event_name TEXT,
       detail BLOB NOT NULL)""",
    "CREATE INDEX logs_by_stream ON logs (stream_id, ts_ns)",
    "CREATE INDEX logs_by_time ON logs (ts_ns)",
    "CREATE INDEX logs_by_trace ON logs (trace_id) WHERE trace_id IS NOT NULL",
    "CREATE VIRTUAL TABLE logs_fts USING fts5 (body, content='logs', content_rowid='id', tokenize='trigram')",
)
TIME_BOUNDS_SQL = "SELECT min(ts_ns), max(ts_ns) FROM logs"
TRIGRAM = 3


def record_time(record: LogRecord) -> int:
    """The time a record is indexed and returned by: its event time, else when it was observed."""
    return record.time_ns or record.observed_ns


def stream_of(resource: Resource, record: LogRecord) -> Labels:
    return log_stream_labels(resource, record.source, severity_level(record.severity_number, record.severity_text))


# -- writing -------------------------------------------------------------------------------------


def write(conn: sqlite3.Connection, segment: Segment, batches: Sequence[LogBatch]) -> tuple[int | None, int | None]:
    rows: list[tuple[object, ...]] = []
    low: int | None = None
    high: int | None = None
    streams: dict[Labels, int] = {}
    for batch in batches:
        rid = resource_id(conn, segment, batch.resource)
        for record in batch.records:
            labels = stream_of(batch.resource, record)
            stream = streams.get(labels)
            if stream is None:
                stream = streams[labels] = _stream_id(conn, segment, labels)
            ts = record_time(record)
            rows.append(
                (
                    ts,
                    record.observed_ns,
                    stream,
                    record.severity_number,
                    record.severity_text,
                    record.body,
                    record.trace_id or None,
                    record.span_id or None,
                    record.flags,
                    rid,
                    record.event_name or None,
                    record.detail,
                )
            )
            if low is None or ts < low:
                low = ts
            if high is None or ts > high:
                high = ts
    last = conn.execute("SELECT coalesce(max(id), 0) FROM logs").fetchone()[0]
    conn.executemany(
        "INSERT INTO logs (ts_ns, observed_ns, stream_id, severity, severity_text, body, trace_id, span_id, flags, "
        "resource_id, event_name, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("INSERT INTO logs_fts (rowid, body) SELECT id, body FROM logs WHERE id > ?", (last,))
    return low, high


def _stream_id(conn: sqlite3.Connection, segment: Segment, labels: Labels) -> int:
    cache = segment.cache.setdefault("streams", {})
    found = cache.get(labels)
    if found is not None:
        return int(found)
    text = orjson.dumps(dict(labels)).decode()
    digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
    row = conn.execute("SELECT id FROM streams WHERE hash=?", (digest,)).fetchone()
    if row is None:
        sid = int(conn.execute("INSERT INTO streams (hash, labels) VALUES (?, ?)", (digest, text)).lastrowid or 0)
        conn.executemany(
            "INSERT INTO stream_labels (name, value, stream_id) VALUES (?, ?, ?)", [(n, v, sid) for n, v in labels]
        )
    else:
        sid = int(row[0])
    cache[labels] = sid
    return sid


# -- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredLog:
    record: LogRecord
    labels: Labels
    resource: Resource

    @property
    def time_ns(self) -> int:
        return record_time(self.record)

    def detail(self) -> LogDetail:
        return decode_log_detail(self.record.detail)


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Records whose stream matches ``matchers``, in ``[start_ns, end_ns)``, whose body contains every
    string of ``contains`` (case-sensitive). ``direction`` is ``backward`` (newest first) or ``forward``."""

    matchers: Sequence[Matcher]
    start_ns: int
    end_ns: int
    contains: Sequence[str] = ()
    limit: int = 100
    direction: str = "backward"
    trace_id: bytes | None = None


def matching_streams(conn: sqlite3.Connection, matchers: Sequence[Matcher]) -> dict[int, Labels]:
    equality = best_equality(matchers)
    if equality is not None:
        rows = conn.execute(
            "SELECT s.id, s.labels FROM streams s JOIN stream_labels l ON l.stream_id = s.id "
            "WHERE l.name = ? AND l.value = ?",
            (equality.name, equality.value),
        )
    else:
        rows = conn.execute("SELECT id, labels FROM streams")
    out: dict[int, Labels] = {}
    for sid, text in rows:
        labels: dict[str, str] = orjson.loads(text)
        if match_all(matchers, labels):
            out[sid] = tuple(sorted(labels.items()))
    return out


def read(conn: sqlite3.Connection, segment: Segment, query: LogQuery) -> list[StoredLog]:
    streams = matching_streams(conn, query.matchers)
    if not streams:
        return []
    where = [f"l.stream_id IN ({','.join(str(s) for s in streams)})", "l.ts_ns >= ?", "l.ts_ns < ?"]
    params: list[object] = [query.start_ns, query.end_ns]
    fts = [needle for needle in query.contains if len(needle) >= TRIGRAM]
    if fts:
        where.append("l.id IN (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ?)")
        params.append(" AND ".join('"' + needle.replace('"', '""') + '"' for needle in fts))
    for needle in query.contains:
        where.append("instr(l.body, ?) > 0")
        params.append(needle)
    if query.trace_id is not None:
        where.append("l.trace_id = ?")
        params.append(query.trace_id)
    order = "DESC" if query.direction == "backward" else "ASC"
    sql = (
        "SELECT l.ts_ns, l.observed_ns, l.severity, l.severity_text, l.body, l.trace_id, l.span_id, l.flags, "
        f"l.stream_id, l.resource_id, l.event_name, l.detail FROM logs l WHERE {' AND '.join(where)} "
        f"ORDER BY l.ts_ns {order}, l.id {order} LIMIT ?"
    )
    params.append(query.limit)
    out: list[StoredLog] = []
    for row in conn.execute(sql, params):
        source = dict(streams[row[8]]).get("source", "otlp")
        record = LogRecord(
            row[0], row[1], row[2], row[3], row[4], row[5] or b"", row[6] or b"", row[7], source, row[11], row[10] or ""
        )
        out.append(StoredLog(record, streams[row[8]], load_resource(conn, segment, row[9])))
    return out


def label_names(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT DISTINCT name FROM stream_labels")}


def label_values(conn: sqlite3.Connection, name: str, matchers: Sequence[Matcher]) -> set[str]:
    if not matchers:
        return {row[0] for row in conn.execute("SELECT DISTINCT value FROM stream_labels WHERE name=?", (name,))}
    return {dict(labels).get(name, "") for labels in matching_streams(conn, matchers).values()} - {""}


def all_streams(conn: sqlite3.Connection, matchers: Sequence[Matcher]) -> Iterable[Labels]:
    return matching_streams(conn, matchers).values()
