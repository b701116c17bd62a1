"""Log events in ``logs.db``: appending batches and reading them back in order.

Keys: an event is identified within its stream by ``(ts, seq)`` and within its group by
``(ts, sid, seq)``; both orders are index scans (``log_events_by_stream``, ``log_events_by_group``),
so reads never sort. Every function here is synchronous and meant for the logs provider's worker
thread (or a query thread); each takes the store's lock for as long as one statement or one chunk.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ecslite.store.logs import LogStore


@dataclass(frozen=True, slots=True)
class StoredEvent:
    ts: int
    sid: int
    seq: int
    ingested_ms: int
    message: str

    @property
    def stream_key(self) -> tuple[int, int]:
        return (self.ts, self.seq)

    @property
    def group_key(self) -> tuple[int, int, int]:
        return (self.ts, self.sid, self.seq)


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
    transaction: a batch is stored completely or not at all.
    """
    with store.transaction() as conn:
        row = conn.execute("SELECT last_seq, uploads FROM log_streams WHERE sid=?", (sid,)).fetchone()
        first = int(row["last_seq"]) + 1
        uploads = int(row["uploads"]) + 1
        if events:
            conn.executemany(
                "INSERT INTO log_events (gid, sid, ts, seq, ingested_ms, message) VALUES (?, ?, ?, ?, ?, ?)",
                [(gid, sid, ts, first + i, ingested_ms, message) for i, (ts, message) in enumerate(events)],
            )
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
    sql = "SELECT ts, sid, seq, ingested_ms, message FROM log_events WHERE sid=? AND ts>=? AND ts<?"
    params: list[int] = [sid, start, end]
    if after is not None:
        sql += " AND (ts, seq) > (?, ?)"
        params += list(after)
    if before is not None:
        sql += " AND (ts, seq) < (?, ?)"
        params += list(before)
    backwards = before is not None or (newest and after is None)
    sql += " ORDER BY ts DESC, seq DESC LIMIT ?" if backwards else " ORDER BY ts, seq LIMIT ?"
    rows = store.query(sql, [*params, limit])
    events = [StoredEvent(r[0], r[1], r[2], r[3], r[4]) for r in rows]
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

    The lock is held only while a chunk is fetched; each chunk resumes after the last key served,
    so writers get in between chunks. ``snapshot`` (stream id → last sequence number, from
    :func:`stream_positions`) pins the scan to the events stored when it was taken.
    """
    compare, direction = ("<", "DESC") if descending else (">", "ASC")
    base = "SELECT ts, sid, seq, ingested_ms, message FROM log_events WHERE gid=? AND ts>=? AND ts<=?"
    params: list[int] = [gid, start, end]
    if sids is not None:
        if not sids:
            return
        base += f" AND sid IN ({','.join('?' * len(sids))})"
        params += list(sids)
    order = f" ORDER BY ts {direction}, sid {direction}, seq {direction} LIMIT ?"
    position = after
    while True:
        sql, args = base, list(params)
        if position is not None:
            sql += f" AND (ts, sid, seq) {compare} (?, ?, ?)"
            args += list(position)
        rows = store.query(sql + order, [*args, chunk])
        if not rows:
            return
        events = [StoredEvent(r[0], r[1], r[2], r[3], r[4]) for r in rows]
        position = events[-1].group_key
        if snapshot is not None:
            events = [e for e in events if e.seq <= snapshot.get(e.sid, -1)]
        if events:
            yield events
        if len(rows) < chunk:
            return


def stream_positions(store: LogStore, gids: Sequence[int]) -> dict[int, int]:
    """The last sequence number of every stream of the groups: a snapshot for :func:`scan_group`."""
    if not gids:
        return {}
    marks = ",".join("?" * len(gids))
    rows = store.query(f"SELECT sid, last_seq FROM log_streams WHERE gid IN ({marks})", list(gids))
    return {int(row[0]): int(row[1]) for row in rows}


def purge_before(store: LogStore, gid: int, cutoff_ms: int) -> int:
    """Delete the group's events older than ``cutoff_ms`` (retention); returns how many went."""
    with store.transaction() as conn:
        removed, size = conn.execute(
            "SELECT count(*), coalesce(sum(length(CAST(message AS BLOB))), 0) FROM log_events WHERE gid=? AND ts<?",
            (gid, cutoff_ms),
        ).fetchone()
        if removed:
            conn.execute("DELETE FROM log_events WHERE gid=? AND ts<?", (gid, cutoff_ms))
            conn.execute("UPDATE log_groups SET stored_bytes = max(0, stored_bytes - ?) WHERE gid=?", (size, gid))
    return int(removed)


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
