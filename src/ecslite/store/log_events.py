"""Log events in ``logs.db``: appending batches and reading them back in order.

Keys: an event is identified within its stream by ``(ts, seq)`` and within its group by
``(ts, sid, seq)``. An append stores its batch as one chunk (:mod:`ecslite.store.log_chunks`);
readers page through chunk keys in index order (by first key ascending, by last key descending)
and merge the chunks' events, so reads never sort. Every function here is synchronous and meant
for the logs provider's worker thread (or a query thread); each takes the store's lock for as long
as one statement: a page of chunk keys, or one chunk's payload.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ecslite.store import log_chunks
from ecslite.store.log_chunks import MAX_CHUNK_SPAN_MS, Chunk, ChunkRef, Key, StoredEvent
from ecslite.store.logs import INSERT_CHUNK, LogStore

__all__ = [
    "Appended",
    "StoredEvent",
    "append",
    "forget_position",
    "positions",
    "purge_before",
    "read_stream",
    "save_position",
    "scan_group",
    "stream_positions",
]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
REF_PAGE = 256  # chunk keys fetched per statement
INLINE_EVENTS = 64  # chunks this small come with their page of keys (no statement of their own)
_REF = "cid, sid, first_ts, first_seq, last_ts, last_seq, ingested_ms"
_INLINE = ", ".join(
    f"CASE WHEN last_seq - first_seq < {INLINE_EVENTS} THEN {column} END" for column in ("stamps", "ends", "text")
)


@dataclass(frozen=True, slots=True)
class Appended:
    """What one append did to its stream: the sequence numbers it used and the upload count after it."""

    first_seq: int
    last_seq: int
    uploads: int


def append(
    store: LogStore, gid: int, sid: int, events: Sequence[tuple[int, str]], ingested_ms: int, size: int
) -> Appended:
    """Store ``events`` (validated, in chronological order) at the end of stream ``sid``.

    ``size`` is the batch's UTF-8 message bytes, added to the group's ``storedBytes``. One
    transaction: a batch is stored completely or not at all, as one chunk (more only for a batch
    beyond PutLogEvents' bounds, which the API never accepts).
    """
    with store.transaction() as conn:
        row = conn.execute("SELECT last_seq, uploads FROM log_streams WHERE sid=?", (sid,)).fetchone()
        first = int(row["last_seq"]) + 1
        uploads = int(row["uploads"]) + 1
        if events:
            runs = log_chunks.spans(events)
            seq = first
            for run in runs:
                packed = log_chunks.pack(run)
                run_size = size if len(runs) == 1 else sum(len(m.encode("utf-8")) for _, m in run)
                conn.execute(
                    INSERT_CHUNK,
                    (
                        gid,
                        sid,
                        packed.first_ts,
                        seq,
                        packed.last_ts,
                        seq + packed.count - 1,
                        ingested_ms,
                        run_size,
                        packed.stamps,
                        packed.ends,
                        packed.text,
                    ),
                )
                seq += packed.count
            low, high = events[0][0], events[-1][0]  # the batch is in chronological order
            conn.execute(
                """UPDATE log_streams SET last_seq=?, uploads=?, last_ingestion_ms=?,
                   first_event_ms=min(coalesce(first_event_ms, ?), ?),
                   last_event_ms=max(coalesce(last_event_ms, ?), ?) WHERE sid=?""",
                (first + len(events) - 1, uploads, ingested_ms, low, low, high, high, sid),
            )
            conn.execute("UPDATE log_groups SET stored_bytes = stored_bytes + ? WHERE gid=?", (size, gid))
        else:
            conn.execute("UPDATE log_streams SET uploads=? WHERE sid=?", (uploads, sid))
    return Appended(first, first + len(events) - 1, uploads)


# -- finding and loading chunks ------------------------------------------------------------------------


def _int64(value: int) -> int:
    return max(INT64_MIN, min(INT64_MAX, value))


@dataclass(frozen=True, slots=True)
class _Scope:
    """Which chunks a read looks at: one stream (``sid = ?``) or a group (``gid = ?``, maybe some streams)."""

    where: str
    params: tuple[int, ...]
    by_stream: bool

    def key_columns(self, which: str) -> str:
        # The index's own key order: with the stream fixed, the sid column is left out, so the row
        # value is a range on the index and each page starts where the last ended.
        return f"{which}_ts, {which}_seq" if self.by_stream else f"{which}_ts, sid, {which}_seq"

    def key_values(self, key: Key) -> list[int]:
        return [key[0], key[2]] if self.by_stream else [key[0], key[1], key[2]]


def _stream_scope(sid: int) -> _Scope:
    return _Scope("sid=?", (sid,), True)


def _group_scope(gid: int, sids: Sequence[int] | None) -> _Scope:
    if sids is None:
        return _Scope("gid=?", (gid,), False)
    return _Scope(f"gid=? AND sid IN ({','.join('?' * len(sids))})", (gid, *sids), False)


def _ref(row: Any) -> ChunkRef:
    payload = (row[7], row[8], row[9]) if row[7] is not None else None
    return ChunkRef(row[0], row[1], row[2], row[3], row[4], row[5], row[6], payload)


def _refs(store: LogStore, scope: _Scope, lower: Key, upper: Key, descending: bool) -> Iterator[ChunkRef]:
    """Every chunk that may hold an event in ``[lower, upper]``: by first key ascending, or by last
    key descending, a page per statement, each page resuming after the last key served."""
    if descending:
        which, compare, order = "last", "<", "DESC"
        # A chunk ending after ``upper`` holds events in range only if it starts at or before it.
        first_page, values = "last_ts <= ?", [_int64(upper[0] + MAX_CHUNK_SPAN_MS)]
        bounds, limits = "last_ts >= ? AND first_ts <= ?", [_int64(lower[0]), _int64(upper[0])]
    else:
        which, compare, order = "first", ">", "ASC"
        # A chunk that starts before ``lower`` reaches into the range only within its span.
        first_page, values = "first_ts >= ?", [_int64(lower[0] - MAX_CHUNK_SPAN_MS)]
        bounds, limits = "first_ts <= ? AND last_ts >= ?", [_int64(upper[0]), _int64(lower[0])]
    columns = scope.key_columns(which)
    sql = f"SELECT {_REF}, {_INLINE} FROM log_chunks WHERE {scope.where} AND {bounds} AND "
    ordering = " ORDER BY " + ", ".join(f"{column} {order}" for column in columns.split(", ")) + " LIMIT ?"
    # Later pages start at the last key served (a range on the index, not a filter), so paging
    # through a long stream never scans its start again.
    resume = f"({columns}) {compare} ({', '.join('?' * len(columns.split(', ')))})"
    rows = store.query(sql + first_page + ordering, [*scope.params, *limits, *values, REF_PAGE])
    while True:
        for row in rows:
            yield _ref(row)
        if len(rows) < REF_PAGE:
            return
        last = _ref(rows[-1])
        after = scope.key_values(last.last_key if descending else last.first_key)
        rows = store.query(sql + resume + ordering, [*scope.params, *limits, *after, REF_PAGE])


def _loader(store: LogStore) -> log_chunks.Loader:
    def load(ref: ChunkRef) -> Chunk | None:
        if ref.payload is not None:
            return Chunk(ref.sid, ref.first_ts, ref.first_seq, ref.ingested_ms, ref.payload)
        row = store.query_one(
            "SELECT sid, first_ts, first_seq, ingested_ms, stamps, ends, text FROM log_chunks WHERE cid=?", (ref.cid,)
        )
        if row is None:  # deleted (retention) since its key was read
            return None
        return Chunk(row[0], row[1], row[2], row[3], (row[4], row[5], row[6]))

    return load


def _runs(store: LogStore, scope: _Scope, lower: Key, upper: Key, descending: bool) -> Iterator[log_chunks.Run]:
    if lower > upper:
        return iter(())
    merge = log_chunks.descending if descending else log_chunks.ascending
    return merge(_refs(store, scope, lower, upper, descending), _loader(store), lower, upper)


# -- reading -------------------------------------------------------------------------------------------


def read_stream(
    store: LogStore,
    sid: int,
    *,
    start: int,
    end: int,
    after: tuple[int, int] | None = None,
    before: tuple[int, int] | None = None,
    newest: bool = False,
    limit: int,
) -> list[StoredEvent]:
    """Up to ``limit`` events of a stream with ``start <= ts < end``, in ascending order.

    ``after``/``before`` exclude keys at or before/after a position. With ``before`` or ``newest``
    the page is the ``limit`` events nearest the upper end (reading backwards), still returned
    oldest first, as GetLogEvents shows them.
    """
    lower: Key = (start, sid, INT64_MIN)
    upper: Key = (end - 1, sid, INT64_MAX)
    if after is not None:
        lower = max(lower, (after[0], sid, after[1] + 1))
    if before is not None:
        upper = min(upper, (before[0], sid, before[1] - 1))
    backwards = before is not None or (newest and after is None)
    events: list[StoredEvent] = []
    for chunk, lo, hi in _runs(store, _stream_scope(sid), lower, upper, backwards):
        take = min(hi - lo, limit - len(events))
        if backwards:
            page = chunk.events(hi - take, hi)
            page.reverse()
            events += page
        else:
            events += chunk.events(lo, lo + take)
        if len(events) >= limit:
            break
    if backwards:
        events.reverse()
    return events


def scan_group(
    store: LogStore,
    gid: int,
    *,
    start: int,
    end: int,
    sids: Sequence[int] | None = None,
    after: tuple[int, int, int] | None = None,
    descending: bool = False,
    snapshot: dict[int, int] | None = None,
    chunk: int = 2000,
) -> Iterator[list[StoredEvent]]:
    """The group's events with ``start <= ts <= end`` in ``(ts, sid, seq)`` order, chunk by chunk.

    The lock is held only while a page of chunk keys or one chunk is fetched, so writers get in
    between. ``snapshot`` (stream id → last sequence number, from :func:`stream_positions`) pins
    the scan to the events stored when it was taken.
    """
    if sids is not None and not sids:
        return
    lower: Key = (start, INT64_MIN, INT64_MIN)
    upper: Key = (end, INT64_MAX, INT64_MAX)
    if after is not None:
        if descending:
            upper = min(upper, (after[0], after[1], after[2] - 1))
        else:
            lower = max(lower, (after[0], after[1], after[2] + 1))
    batch: list[StoredEvent] = []
    for found, lo, hi in _runs(store, _group_scope(gid, sids), lower, upper, descending):
        if snapshot is not None:
            # A chunk's sequence numbers are consecutive: the ones in the snapshot are a prefix.
            hi = min(hi, max(lo, snapshot.get(found.sid, -1) - found.first_seq + 1))
        while lo < hi:
            take = min(hi - lo, chunk - len(batch))
            if descending:
                page = found.events(hi - take, hi)
                page.reverse()
                hi -= take
            else:
                page = found.events(lo, lo + take)
                lo += take
            batch += page
            if len(batch) >= chunk:
                yield batch
                batch = []
    if batch:
        yield batch


def stream_positions(store: LogStore, gids: Sequence[int]) -> dict[int, int]:
    """The last sequence number of every stream of the groups: a snapshot for :func:`scan_group`."""
    if not gids:
        return {}
    marks = ",".join("?" * len(gids))
    rows = store.query(f"SELECT sid, last_seq FROM log_streams WHERE gid IN ({marks})", list(gids))
    return {int(row[0]): int(row[1]) for row in rows}


def purge_before(store: LogStore, gid: int, cutoff_ms: int) -> int:
    """Delete the group's events older than ``cutoff_ms`` (retention); returns how many went.

    Chunks entirely older go; a chunk that straddles the cutoff keeps its newer events (its older
    ones are a prefix, since a chunk is in time order) and is rewritten without the rest.
    """
    with store.transaction() as conn:
        removed, size = conn.execute(
            "SELECT coalesce(sum(last_seq - first_seq + 1), 0), coalesce(sum(bytes), 0) FROM log_chunks "
            "WHERE gid=? AND last_ts<?",
            (gid, cutoff_ms),
        ).fetchone()
        conn.execute("DELETE FROM log_chunks WHERE gid=? AND last_ts<?", (gid, cutoff_ms))
        straddling = conn.execute(
            """SELECT cid, sid, first_ts, first_seq, ingested_ms, bytes, stamps, ends, text FROM log_chunks
               WHERE gid=? AND first_ts<? AND last_ts>=? AND first_ts>=?""",
            (gid, cutoff_ms, cutoff_ms, _int64(cutoff_ms - MAX_CHUNK_SPAN_MS)),
        ).fetchall()
        for cid, sid, first_ts, first_seq, ingested, stored, stamps, ends, text in straddling:
            chunk = Chunk(sid, first_ts, first_seq, ingested, (stamps, ends, text))
            gone = chunk.count_below((cutoff_ms, sid, INT64_MIN))
            kept = log_chunks.pack(list(zip(_stamps(chunk, gone), chunk.messages(gone, len(chunk)), strict=True)))
            gone_bytes = len(chunk.text[: chunk.offsets[gone]].encode("utf-8"))
            conn.execute(
                """UPDATE log_chunks SET first_ts=?, first_seq=?, bytes=?, stamps=?, ends=?, text=? WHERE cid=?""",
                (kept.first_ts, first_seq + gone, stored - gone_bytes, kept.stamps, kept.ends, kept.text, cid),
            )
            removed += gone
            size += gone_bytes
        if removed:
            conn.execute("UPDATE log_groups SET stored_bytes = max(0, stored_bytes - ?) WHERE gid=?", (size, gid))
    return int(removed)


def _stamps(chunk: Chunk, lo: int) -> list[int]:
    return [chunk.base + delta for delta in chunk.stamps[lo:]]


# -- producer positions ------------------------------------------------------------------------------


def save_position(store: LogStore, producer: str, position: str) -> None:
    """Record where a producer is in its source; inside :func:`append`'s transaction when it appends."""
    with store.transaction() as conn:
        conn.execute(
            """INSERT INTO log_producer_positions (producer, position) VALUES (?, ?)
               ON CONFLICT (producer) DO UPDATE SET position=excluded.position""",
            (producer, position),
        )


def positions(store: LogStore, prefix: str = "") -> dict[str, str]:
    """Every producer position whose key starts with ``prefix``."""
    rows = store.query(
        "SELECT producer, position FROM log_producer_positions WHERE substr(producer, 1, ?) = ? ORDER BY producer",
        (len(prefix), prefix),
    )
    return {str(row[0]): str(row[1]) for row in rows}


def forget_position(store: LogStore, producer: str) -> None:
    with store.transaction() as conn:
        conn.execute("DELETE FROM log_producer_positions WHERE producer=?", (producer,))
