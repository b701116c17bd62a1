"""Log records in a segment: schema, the batched write, and the reads the Loki API needs (§2.3, §8.3).

Tables: ``streams`` (one per distinct label set, canonical sorted JSON) with ``stream_labels`` for
selector matching and label listings; ``logs`` (one row per record; attributes and the original
body in ``detail``: the blob, or for a detail many records share, such as the attributes of one
FireLens container, the integer id of its ``log_details`` row, stored once); the full-text index
of bodies that serves ``|=`` filters, filled lazily by the writer (:mod:`.log_index`: its tables,
fill and filter, and how segments of older schemas are read).

Shared details came with schema 3 (:data:`~.segments.SCHEMA_VERSION`), so that an ecslite that
knows only blobs does not open a segment holding ids. A segment of schema 2 gets the table when a
writer upgrades it (:data:`UPGRADE`), and its older rows keep their blobs; segments of schema 2
written while the table was new may hold ids already, and are read alike (the reader tells an id
from a blob by its type).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ecslite.telemetry.log_records import (
    LogBatch,
    LogDetail,
    LogRecord,
    decode_log_detail,
    log_stream_labels,
    severity_level,
)
from ecslite.telemetry.model import Labels, Resource
from ecslite.telemetry.store import log_index
from ecslite.telemetry.store.common import RESOURCES_DDL, WRITER_STATE_DDL, load_resource, resource_id
from ecslite.telemetry.store.log_index import index_pending as index_pending
from ecslite.telemetry.store.log_index import unindexed as unindexed
from ecslite.telemetry.store.matchers import Matcher, best_equality, match_all
from ecslite.telemetry.store.segments import Segment

# Details shared by many records (FireLens records of one container carry the same attributes)
# are stored once; such a record's ``logs.detail`` is the integer id of its row here, else the blob.
DETAILS_DDL = (
    "CREATE TABLE IF NOT EXISTS log_details (id INTEGER PRIMARY KEY, hash BLOB UNIQUE NOT NULL, detail BLOB NOT NULL)"
)
MAX_CACHED_DETAILS = 4096
DDL = (
    *RESOURCES_DDL,
    DETAILS_DDL,
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
    *log_index.DDL,
    *WRITER_STATE_DDL,
)
# Statements that bring a segment of schema N to N + 1. 2 → 3: the table of shared details (only new
# segments index words per block, log_index).
UPGRADE = {1: (*log_index.UPGRADE_1, *WRITER_STATE_DDL), 2: (DETAILS_DDL,)}
TIME_BOUNDS_SQL = "SELECT min(ts_ns), max(ts_ns) FROM logs"


def record_time(record: LogRecord) -> int:
    """The time a record is indexed and returned by: its event time, else when it was observed."""
    return record.time_ns or record.observed_ns


def stream_of(resource: Resource, record: LogRecord) -> Labels:
    return log_stream_labels(resource, record.source, severity_level(record.severity_number, record.severity_text))


# -- writing -------------------------------------------------------------------------------------

# Record fields by position (:class:`LogRecord` or a plain tuple in its order); ``source`` (8) only
# picks the stream, ``detail`` (9) is a blob or, for a shared one, its ``log_details`` id.
SOURCE, SEVERITY, SEVERITY_TEXT, DETAIL = 8, 2, 3, 9
TRACE_ID, SPAN_ID = 5, 6
# Ids travel to SQLite as 0 when absent and as bytearrays when present: the sqlite3 module binds
# ints, strs and bytearrays directly but looks ``bytes`` and None up in its adapter registry first,
# which cost ~0.4 µs a parameter, more than the rest of a row's binding (docs/benchmarks.md).
_INSERT = (
    "INSERT INTO logs (ts_ns, observed_ns, severity, severity_text, body, trace_id, span_id, flags, detail, "
    "event_name, stream_id, resource_id) "
    "VALUES (coalesce(nullif(?1, 0), ?2), ?2, ?3, ?4, ?5, nullif(?6, 0), nullif(?7, 0), ?8, ?9, "
    "nullif(?10, ''), ?11, {rid})"
)


class LogRows:
    """A batch's records as columns (the writer process's wire form, :mod:`.process`): one sequence
    per :class:`LogRecord` field; with ``shared``, the detail column holds indexes into it."""

    __slots__ = ("columns", "resource", "shared")

    def __init__(self, resource: Resource, columns: list[Sequence[Any]], shared: list[bytes] | None) -> None:
        self.resource, self.columns, self.shared = resource, columns, shared

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def records(self) -> list[tuple[Any, ...]]:
        """The records as tuples, shared details in place (tests, tools)."""
        columns = list(self.columns)
        if self.shared is not None:
            columns[DETAIL] = [self.shared[i] for i in columns[DETAIL]]
        return list(zip(*columns, strict=True))


def log_columns(
    records: Sequence[LogRecord] | Sequence[tuple[Any, ...]],
) -> tuple[list[Sequence[Any]], list[bytes] | None]:
    """``records`` as columns and shared details (:class:`LogRows`); details shared by four records
    or more on average are listed once (FireLens records of one container carry the same attributes)."""
    columns: list[Sequence[Any]] = list(zip(*records, strict=True))
    if not columns:
        return [], None
    # A shared detail is one object (the Forward converter builds it once): told apart by identity,
    # so records with details of their own (OTLP's) cost no hashing of their blobs.
    identities = list(map(id, columns[DETAIL]))
    distinct = dict(zip(identities, columns[DETAIL], strict=True))
    if len(distinct) * 4 > len(records):
        return columns, None
    index = {identity: i for i, identity in enumerate(distinct)}
    columns[DETAIL] = list(map(index.__getitem__, identities))
    return columns, list(distinct.values())


class _Streams(dict[tuple[str, int, str], int]):
    """(source, severity number, severity text) → stream id for one resource; filled on a miss, so a
    batch's records find their stream at C speed."""

    def __init__(self, conn: sqlite3.Connection, segment: Segment, resource: Resource) -> None:
        super().__init__()
        self.conn, self.segment, self.resource = conn, segment, resource

    def __missing__(self, key: tuple[str, int, str]) -> int:
        source, number, text = key
        labels = log_stream_labels(self.resource, source, severity_level(number, text))
        found = self[key] = _stream_id(self.conn, self.segment, labels)
        return found


def write(
    conn: sqlite3.Connection, segment: Segment, batches: Sequence[LogBatch | LogRows]
) -> tuple[int | None, int | None]:
    first = conn.execute("SELECT coalesce(max(id), 0) FROM logs").fetchone()[0]
    streams: dict[bytes, _Streams] = {}
    for batch in batches:
        rows = batch if isinstance(batch, LogRows) else LogRows(batch.resource, *log_columns(batch.records))
        if not len(rows):
            continue
        resource = rows.resource
        rid = resource_id(conn, segment, resource)
        known = streams.get(resource.key)
        if known is None:
            known = streams[resource.key] = _Streams(conn, segment, resource)
        columns = list(rows.columns)
        if rows.shared is not None:
            ids = [_detail_id(conn, segment, blob) for blob in rows.shared]
            columns[DETAIL] = list(map(ids.__getitem__, columns[DETAIL]))
        else:
            columns[DETAIL] = [bytearray(d) if type(d) is bytes else d for d in columns[DETAIL]]
        columns[TRACE_ID] = [bytearray(v) if v else 0 for v in columns[TRACE_ID]]
        columns[SPAN_ID] = [bytearray(v) if v else 0 for v in columns[SPAN_ID]]
        stream_keys = zip(columns[SOURCE], columns[SEVERITY], columns[SEVERITY_TEXT], strict=True)
        stream_ids = map(known.__getitem__, stream_keys)
        del columns[SOURCE]
        # rid is an integer from this segment: safe as a literal, and the statement stays cached.
        conn.executemany(_INSERT.format(rid=rid), zip(*columns, stream_ids, strict=True))
    low, high = conn.execute("SELECT min(ts_ns), max(ts_ns) FROM logs WHERE id > ?", (first,)).fetchone()
    return low, high


def _detail_id(conn: sqlite3.Connection, segment: Segment, blob: bytes) -> int:
    """The ``log_details`` id of a shared detail, stored once per segment (the table is made here too
    for a segment that reached schema 3 before the upgrade to it created the table)."""
    cache: dict[bytes, int] = segment.cache.setdefault("details", {})
    found = cache.get(blob)
    if found is not None:
        return found
    if not cache:  # first use in this segment since its cache started
        conn.execute(DETAILS_DDL)
    digest = hashlib.blake2b(blob, digest_size=16).digest()
    row = conn.execute("SELECT id FROM log_details WHERE hash=?", (digest,)).fetchone()
    if row is None:
        did = int(conn.execute("INSERT INTO log_details (hash, detail) VALUES (?, ?)", (digest, blob)).lastrowid or 0)
    else:
        did = int(row[0])
    if len(cache) >= MAX_CACHED_DETAILS:
        cache.clear()
    cache[blob] = did
    return did


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
    candidates = log_index.line_filter(conn, query.contains) if query.contains else None
    if candidates is not None:
        where.append(candidates[0])
        params.extend(candidates[1])
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
    rows = conn.execute(sql, params).fetchall()
    shared = _shared_details(conn, {row[11] for row in rows if type(row[11]) is int})
    out: list[StoredLog] = []
    for row in rows:
        source = dict(streams[row[8]]).get("source", "otlp")
        detail = shared[row[11]] if type(row[11]) is int else row[11]
        record = LogRecord(
            row[0], row[1], row[2], row[3], row[4], row[5] or b"", row[6] or b"", row[7], source, detail, row[10] or ""
        )
        out.append(StoredLog(record, streams[row[8]], load_resource(conn, segment, row[9])))
    return out


def _shared_details(conn: sqlite3.Connection, ids: set[int]) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    wanted = sorted(ids)
    for start in range(0, len(wanted), 500):  # well under SQLite's limit of bound parameters
        part = wanted[start : start + 500]
        marks = ",".join("?" * len(part))
        found.update(conn.execute(f"SELECT id, detail FROM log_details WHERE id IN ({marks})", part).fetchall())
    return found


def label_names(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT DISTINCT name FROM stream_labels")}


def label_values(conn: sqlite3.Connection, name: str, matchers: Sequence[Matcher]) -> set[str]:
    if not matchers:
        return {row[0] for row in conn.execute("SELECT DISTINCT value FROM stream_labels WHERE name=?", (name,))}
    return {dict(labels).get(name, "") for labels in matching_streams(conn, matchers).values()} - {""}


def all_streams(conn: sqlite3.Connection, matchers: Sequence[Matcher]) -> Iterable[Labels]:
    return matching_streams(conn, matchers).values()
