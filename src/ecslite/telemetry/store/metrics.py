"""Metric samples in a segment: schema, the batched write, series selection and range reads (§2.4, §8.3).

Series are Prometheus-model label sets (``__name__`` included), stored once per segment with
``series_labels`` rows for index-assisted selection; samples are ``(series_id, ts_ms) → value``
in a WITHOUT ROWID table, so one series' samples are stored together in time order. A sample
written twice for the same series and millisecond keeps the last value.

Selection: the first non-empty equality matcher narrows candidates through the index; every
matcher (regexes included) is then checked on the candidates' labels in Python.
"""

from __future__ import annotations

import hashlib
import sqlite3
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from ecslite.telemetry.model import STALE_NAN_BITS, Labels, MetricBatch, MetricMetadata, is_stale
from ecslite.telemetry.store.common import RESOURCES_DDL, WRITER_STATE_DDL, resource_id
from ecslite.telemetry.store.matchers import Matcher, best_equality, match_all
from ecslite.telemetry.store.segments import Segment

MAX_EXEMPLARS_PER_SERIES = 100
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]
DDL = (
    *RESOURCES_DDL,
    """CREATE TABLE series (id INTEGER PRIMARY KEY, hash BLOB UNIQUE NOT NULL, name TEXT NOT NULL,
       labels TEXT NOT NULL, type TEXT NOT NULL, unit TEXT NOT NULL, resource_id INTEGER NOT NULL)""",
    "CREATE INDEX series_by_name ON series (name)",
    "CREATE TABLE series_labels (name TEXT NOT NULL, value TEXT NOT NULL, series_id INTEGER NOT NULL)",
    "CREATE INDEX series_labels_by_value ON series_labels (name, value)",
    "CREATE TABLE metadata (name TEXT PRIMARY KEY, type TEXT NOT NULL, help TEXT NOT NULL, unit TEXT NOT NULL)",
    """CREATE TABLE samples (series_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL, value REAL,
       PRIMARY KEY (series_id, ts_ms)) WITHOUT ROWID""",
    """CREATE TABLE exemplars (series_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL, value REAL NOT NULL,
       trace_id BLOB, span_id BLOB, labels TEXT NOT NULL)""",
    "CREATE INDEX exemplars_by_series ON exemplars (series_id, ts_ms)",
    *WRITER_STATE_DDL,
)
UPGRADE = {1: WRITER_STATE_DDL}  # schema N → N + 1 (2 → 3: nothing)
TIME_BOUNDS_SQL = "SELECT min(ts_ms), max(ts_ms) FROM samples"


def stored_value(value: float) -> float | str | None:
    """SQLite keeps no NaN payloads (it stores NULL), so the staleness marker is stored as NULL and
    any other NaN as the text ``NaN``; :func:`loaded_value` reverses it (§2.4)."""
    if value != value:
        return None if is_stale(value) else "NaN"
    return value


def loaded_value(value: float | str | None) -> float:
    if value is None:
        return STALE_NAN
    return float(value) if isinstance(value, str) else value


def labels_hash(labels: Labels) -> bytes:
    return hashlib.blake2b(orjson.dumps(labels), digest_size=16).digest()


# -- writing -------------------------------------------------------------------------------------


def write(conn: sqlite3.Connection, segment: Segment, batches: Sequence[MetricBatch]) -> tuple[int | None, int | None]:
    rows: list[tuple[int, int, float | str | None]] = []
    low: int | None = None
    high: int | None = None
    types: dict[str, MetricMetadata] = {}
    for batch in batches:
        for meta in batch.metadata:
            types[meta.name] = meta
    for batch in batches:
        rid = resource_id(conn, segment, batch.resource)
        for labels, ts, value in batch.samples:
            sid = _series_id(conn, segment, labels, rid, types)
            rows.append((sid, ts, stored_value(value)))
            if low is None or ts < low:
                low = ts
            if high is None or ts > high:
                high = ts
        exemplar_rows = []
        for ex in batch.exemplars:
            sid = _series_id(conn, segment, ex.labels, rid, types)
            exemplar_rows.append(
                (sid, ex.ts_ms, ex.value, ex.trace_id or None, ex.span_id or None, _json(ex.attributes))
            )
        if exemplar_rows:
            conn.executemany(
                "INSERT INTO exemplars (series_id, ts_ms, value, trace_id, span_id, labels) VALUES (?, ?, ?, ?, ?, ?)",
                exemplar_rows,
            )
            for sid in {r[0] for r in exemplar_rows}:
                conn.execute(
                    "DELETE FROM exemplars WHERE series_id=? AND rowid NOT IN "
                    "(SELECT rowid FROM exemplars WHERE series_id=? ORDER BY ts_ms DESC LIMIT ?)",
                    (sid, sid, MAX_EXEMPLARS_PER_SERIES),
                )
    conn.executemany("INSERT OR REPLACE INTO samples (series_id, ts_ms, value) VALUES (?, ?, ?)", rows)
    if types:
        conn.executemany(
            "INSERT OR REPLACE INTO metadata (name, type, help, unit) VALUES (?, ?, ?, ?)",
            [(m.name, m.type, m.help, m.unit) for m in types.values()],
        )
    return low, high


def _json(labels: Labels) -> str:
    return orjson.dumps(dict(labels)).decode()


def _family_type(name: str, types: dict[str, MetricMetadata]) -> tuple[str, str]:
    meta = types.get(name)
    if meta is None:
        for suffix in ("_bucket", "_sum", "_count", "_total", "_created"):
            if name.endswith(suffix):
                meta = types.get(name[: -len(suffix)])
                if meta is not None:
                    break
    return (meta.type, meta.unit) if meta is not None else ("unknown", "")


def _series_id(
    conn: sqlite3.Connection, segment: Segment, labels: Labels, rid: int, types: dict[str, MetricMetadata]
) -> int:
    cache = segment.cache.setdefault("series", {})
    found = cache.get(labels)
    if found is not None:
        return int(found)
    digest = labels_hash(labels)
    row = conn.execute("SELECT id FROM series WHERE hash=?", (digest,)).fetchone()
    if row is None:
        name = dict(labels).get("__name__", "")
        kind, unit = _family_type(name, types)
        sid = int(
            conn.execute(
                "INSERT INTO series (hash, name, labels, type, unit, resource_id) VALUES (?, ?, ?, ?, ?, ?)",
                (digest, name, _json(labels), kind, unit, rid),
            ).lastrowid
            or 0
        )
        conn.executemany(
            "INSERT INTO series_labels (name, value, series_id) VALUES (?, ?, ?)", [(n, v, sid) for n, v in labels]
        )
    else:
        sid = int(row[0])
    cache[labels] = sid
    return sid


# -- reading -------------------------------------------------------------------------------------


@dataclass(slots=True)
class SeriesData:
    """One series' samples in a time range, in time order (timestamps in ms)."""

    labels: Labels
    timestamps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StoredExemplar:
    series: Labels
    ts_ms: int
    value: float
    trace_id: bytes
    span_id: bytes
    labels: Labels


def select(conn: sqlite3.Connection, matchers: Sequence[Matcher]) -> dict[int, Labels]:
    equality = best_equality(matchers)
    if equality is not None:
        rows = conn.execute(
            "SELECT s.id, s.labels FROM series s WHERE s.id IN "
            "(SELECT series_id FROM series_labels WHERE name = ? AND value = ?)",
            (equality.name, equality.value),
        )
    else:
        rows = conn.execute("SELECT id, labels FROM series")
    out: dict[int, Labels] = {}
    for sid, text in rows:
        labels: dict[str, str] = orjson.loads(text)
        if match_all(matchers, labels):
            out[sid] = tuple(sorted(labels.items()))
    return out


def read_samples(
    conn: sqlite3.Connection, series: dict[int, Labels], start_ms: int, end_ms: int
) -> dict[Labels, SeriesData]:
    out: dict[Labels, SeriesData] = {}
    for sid, labels in series.items():
        data = SeriesData(labels)
        for ts, value in conn.execute(
            "SELECT ts_ms, value FROM samples WHERE series_id=? AND ts_ms >= ? AND ts_ms <= ? ORDER BY ts_ms",
            (sid, start_ms, end_ms),
        ):
            data.timestamps.append(ts)
            data.values.append(loaded_value(value))
        if data.timestamps:
            out[labels] = data
    return out


def has_samples(conn: sqlite3.Connection, sid: int, start_ms: int, end_ms: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM samples WHERE series_id=? AND ts_ms >= ? AND ts_ms <= ? LIMIT 1", (sid, start_ms, end_ms)
    ).fetchone()
    return row is not None


def metadata(conn: sqlite3.Connection, name: str | None) -> list[MetricMetadata]:
    if name is None:
        rows = conn.execute("SELECT name, type, help, unit FROM metadata")
    else:
        rows = conn.execute("SELECT name, type, help, unit FROM metadata WHERE name=?", (name,))
    return [MetricMetadata(*row) for row in rows]


def exemplars(conn: sqlite3.Connection, series: dict[int, Labels], start_ms: int, end_ms: int) -> list[StoredExemplar]:
    out: list[StoredExemplar] = []
    for sid, labels in series.items():
        for ts, value, trace_id, span_id, text in conn.execute(
            "SELECT ts_ms, value, trace_id, span_id, labels FROM exemplars WHERE series_id=? AND ts_ms >= ? "
            "AND ts_ms <= ? ORDER BY ts_ms",
            (sid, start_ms, end_ms),
        ):
            out.append(
                StoredExemplar(
                    labels, ts, value, trace_id or b"", span_id or b"", tuple(sorted(orjson.loads(text).items()))
                )
            )
    return out
