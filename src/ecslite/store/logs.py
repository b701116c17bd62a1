"""The CloudWatch Logs store: its own SQLite file (``logs.db``), apart from the state store.

Log events are high-volume and disposable next to desired state, so they live in their own
database with their own schema versions (``LOG_MIGRATIONS``, append only) and never contend with
ECS writes. ``None`` as the path keeps everything in memory (``--ephemeral``).

Invariants:
- One connection, guarded by ``lock``: the provider's worker thread does every write and short
  read; long readers (Logs Insights queries) take the lock per chunk, so a big scan never holds
  ingestion up for more than one chunk.
- Groups and streams get ids (``gid``, ``sid``) that are never reused, so a token or event id that
  names a deleted stream can never name a new one.
- Within a stream, every event gets the next ``seq`` (per-stream ingestion sequence); reads order
  by ``(ts, seq)``, so events with equal timestamps keep the order they were put in.
- Events are stored a batch to a row (``log_chunks``, format and merge in
  :mod:`ecslite.store.log_chunks`), indexed by first and by last key per stream and per group.
  Schema 4 converted the one-row-per-event ``log_events`` of older files on open.
- Chunk rows carry no foreign key (checks would cost ingestion); deleting a group or stream
  deletes its chunks explicitly in the same transaction.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecslite.store import log_chunks

PAGE_SIZE = 16_384
CHECKPOINT_PAGES = 2_000

LOG_MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE log_groups (
            gid INTEGER PRIMARY KEY AUTOINCREMENT,
            account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
            created_ms INTEGER NOT NULL, retention_days INTEGER, kms_key_id TEXT,
            log_group_class TEXT NOT NULL, deletion_protection INTEGER NOT NULL DEFAULT 0,
            stored_bytes INTEGER NOT NULL DEFAULT 0,
            UNIQUE (account, region, name))""",
        """CREATE TABLE log_group_tags (
            gid INTEGER NOT NULL REFERENCES log_groups (gid) ON DELETE CASCADE,
            key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (gid, key))""",
        """CREATE TABLE log_streams (
            sid INTEGER PRIMARY KEY AUTOINCREMENT,
            gid INTEGER NOT NULL REFERENCES log_groups (gid) ON DELETE CASCADE,
            name TEXT NOT NULL, created_ms INTEGER NOT NULL,
            first_event_ms INTEGER, last_event_ms INTEGER, last_ingestion_ms INTEGER,
            last_seq INTEGER NOT NULL DEFAULT 0, uploads INTEGER NOT NULL DEFAULT 0,
            UNIQUE (gid, name))""",
        """CREATE TABLE log_events (
            eid INTEGER PRIMARY KEY AUTOINCREMENT,
            gid INTEGER NOT NULL, sid INTEGER NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL,
            ingested_ms INTEGER NOT NULL, message TEXT NOT NULL)""",
        "CREATE INDEX log_events_by_stream ON log_events (sid, ts, seq)",
        "CREATE INDEX log_events_by_group ON log_events (gid, ts, sid, seq)",
        """CREATE TABLE log_queries (
            query_id TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL,
            created_ms INTEGER NOT NULL, log_group_name TEXT, status TEXT NOT NULL, doc TEXT NOT NULL)""",
        "CREATE INDEX log_queries_by_partition ON log_queries (account, region, created_ms)",
        """CREATE TABLE log_settings (
            account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
            PRIMARY KEY (account, region, name))""",
    ],
    # Events clustered by stream: one B-tree keyed (sid, ts, seq) instead of a rowid table and
    # two indexes, a quarter less work per ingested event.
    [
        """CREATE TABLE log_events_by_key (
            sid INTEGER NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL, gid INTEGER NOT NULL,
            ingested_ms INTEGER NOT NULL, message TEXT NOT NULL,
            PRIMARY KEY (sid, ts, seq)) WITHOUT ROWID""",
        """INSERT INTO log_events_by_key (sid, ts, seq, gid, ingested_ms, message)
           SELECT sid, ts, seq, gid, ingested_ms, message FROM log_events""",
        "DROP TABLE log_events",
        "ALTER TABLE log_events_by_key RENAME TO log_events",
        "CREATE INDEX log_events_by_group ON log_events (gid, ts, sid, seq)",
    ],
    # Where ecslite's own producers (the awslogs driver) are in their sources, written in the same
    # transaction as the events they appended, so a restart neither loses nor repeats a line.
    [
        """CREATE TABLE log_producer_positions (
            producer TEXT PRIMARY KEY, position TEXT NOT NULL) WITHOUT ROWID""",
    ],
    # Events packed by batch (ecslite.store.log_chunks): one row per append instead of one per event.
    # The small columns come first, so index scans and key reads never touch a payload's overflow
    # pages. Each index covers its scan's filters. The events of log_events are converted by
    # _events_into_chunks (LOG_CONVERSIONS), which drops that table.
    [
        """CREATE TABLE log_chunks (
            cid INTEGER PRIMARY KEY,
            gid INTEGER NOT NULL, sid INTEGER NOT NULL,
            first_ts INTEGER NOT NULL, first_seq INTEGER NOT NULL,
            last_ts INTEGER NOT NULL, last_seq INTEGER NOT NULL,
            ingested_ms INTEGER NOT NULL, bytes INTEGER NOT NULL,
            stamps BLOB NOT NULL, ends BLOB NOT NULL, text TEXT NOT NULL)""",
        "CREATE INDEX log_chunks_by_stream_first ON log_chunks (sid, first_ts, first_seq, last_ts)",
        "CREATE INDEX log_chunks_by_stream_last ON log_chunks (sid, last_ts, last_seq, first_ts)",
        "CREATE INDEX log_chunks_by_group_first ON log_chunks (gid, first_ts, sid, first_seq, last_ts)",
        "CREATE INDEX log_chunks_by_group_last ON log_chunks (gid, last_ts, sid, last_seq, first_ts)",
    ],
]

INSERT_CHUNK = """INSERT INTO log_chunks (gid, sid, first_ts, first_seq, last_ts, last_seq, ingested_ms, bytes,
    stamps, ends, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


def _events_into_chunks(conn: sqlite3.Connection) -> None:
    """Schema 4: pack the rows of ``log_events`` into chunks, then drop the table.

    Read in ``(sid, ts, seq)`` order (the table's key, no sort); a chunk ends where the next event
    is of another stream, has another ingestion time or a sequence number that does not follow,
    or would break the chunk's bounds (events, span, about 1 MiB of text), so every chunk keeps
    the invariants of :mod:`ecslite.store.log_chunks` whatever order the events were put in.
    """
    rows = conn.execute("SELECT sid, ts, seq, gid, ingested_ms, message FROM log_events ORDER BY sid, ts, seq")
    run: list[tuple[int, str]] = []
    head: tuple[int, int, int, int] = (0, 0, 0, 0)  # sid, first seq, gid, ingested_ms of the run
    chars = 0

    def flush() -> None:
        if run:
            packed = log_chunks.pack(run)
            size = sum(len(message.encode("utf-8")) for _, message in run)
            sid, first_seq, gid, ingested = head
            conn.execute(
                INSERT_CHUNK,
                (
                    gid,
                    sid,
                    packed.first_ts,
                    first_seq,
                    packed.last_ts,
                    first_seq + len(run) - 1,
                    ingested,
                    size,
                    packed.stamps,
                    packed.ends,
                    packed.text,
                ),
            )
            run.clear()

    while batch := rows.fetchmany(4096):
        for sid, ts, seq, gid, ingested, message in batch:
            sid_, first_seq, _, ingested_ = head
            if not run or (
                sid != sid_
                or ingested != ingested_
                or seq != first_seq + len(run)
                or len(run) >= log_chunks.MAX_CHUNK_EVENTS
                or ts - run[0][0] > log_chunks.MAX_CHUNK_SPAN_MS
                or chars + len(message) > 1_048_576
            ):
                flush()
                head, chars = (sid, seq, gid, ingested), 0
            run.append((ts, message))
            chars += len(message)
    flush()
    conn.execute("DROP TABLE log_events")


# Python steps run after a version's statements, in the same transaction.
LOG_CONVERSIONS: dict[int, Callable[[sqlite3.Connection], None]] = {4: _events_into_chunks}


@dataclass(frozen=True, slots=True)
class LogGroupRow:
    gid: int
    account: str
    region: str
    name: str
    created_ms: int
    retention_days: int | None
    kms_key_id: str | None
    log_group_class: str
    deletion_protection: bool
    stored_bytes: int


@dataclass(frozen=True, slots=True)
class LogStreamRow:
    sid: int
    gid: int
    name: str
    created_ms: int
    first_event_ms: int | None
    last_event_ms: int | None
    last_ingestion_ms: int | None
    last_seq: int
    uploads: int


_GROUP_COLUMNS = (
    "gid, account, region, name, created_ms, retention_days, kms_key_id, log_group_class, "
    "deletion_protection, stored_bytes"
)
_STREAM_COLUMNS = "sid, gid, name, created_ms, first_event_ms, last_event_ms, last_ingestion_ms, last_seq, uploads"


def _group(row: sqlite3.Row) -> LogGroupRow:
    return LogGroupRow(
        row["gid"],
        row["account"],
        row["region"],
        row["name"],
        row["created_ms"],
        row["retention_days"],
        row["kms_key_id"],
        row["log_group_class"],
        bool(row["deletion_protection"]),
        row["stored_bytes"],
    )


def _stream(row: sqlite3.Row) -> LogStreamRow:
    return LogStreamRow(*(row[k] for k in _STREAM_COLUMNS.split(", ")))


class LogStore:
    """Groups, streams, tags and queries; events are in :mod:`ecslite.store.log_events`."""

    def __init__(self, path: str | Path | None = None, *, durability: str = "normal") -> None:
        target = ":memory:" if path in (None, ":memory:") else str(path)
        self.path = target
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        # Events are appended in long sequential runs: 16 KiB pages and checkpoints every 2,000 pages
        # (32 MiB of WAL) write them in half the time of SQLite's 4 KiB / 1,000. The page size only
        # takes on a new database (set before anything is written), so an older logs.db keeps its own.
        self.conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
        if target != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")
        self.conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA busy_timeout=5000")
        self._depth = 0
        self._migrate()

    def _migrate(self) -> None:
        current = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        for version, statements in enumerate(LOG_MIGRATIONS, start=1):
            if version <= current:
                continue
            with self.transaction():
                for sql in statements:
                    self.conn.execute(sql)
                if version in LOG_CONVERSIONS:
                    LOG_CONVERSIONS[version](self.conn)
                self.conn.execute(f"PRAGMA user_version={version}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction under the lock; nested uses join the outer one."""
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.conn
            except BaseException:
                self._depth = 0
                self.conn.execute("ROLLBACK")
                raise
            self._depth = 0
            self.conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self.lock:
            row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
            return row

    def reset(self) -> None:
        """Drop every group, stream, event and query of every partition (the schema stays)."""
        with self.transaction():
            for table in (
                "log_chunks",
                "log_streams",
                "log_group_tags",
                "log_groups",
                "log_queries",
                "log_settings",
                "log_producer_positions",
            ):
                self.conn.execute(f"DELETE FROM {table}")

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    # -- groups ------------------------------------------------------------------------------------

    def get_group(self, account: str, region: str, name: str) -> LogGroupRow | None:
        row = self.query_one(
            f"SELECT {_GROUP_COLUMNS} FROM log_groups WHERE account=? AND region=? AND name=?",
            (account, region, name),
        )
        return _group(row) if row else None

    def create_group(
        self,
        account: str,
        region: str,
        name: str,
        created_ms: int,
        *,
        kms_key_id: str | None = None,
        log_group_class: str = "STANDARD",
        deletion_protection: bool = False,
        tags: Sequence[tuple[str, str]] = (),
    ) -> LogGroupRow | None:
        """The new group, or None when the name is taken (the caller answers AWS's conflict)."""
        with self.transaction():
            cursor = self.conn.execute(
                """INSERT INTO log_groups (account, region, name, created_ms, kms_key_id, log_group_class,
                   deletion_protection) VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (account, region, name) DO NOTHING""",
                (account, region, name, created_ms, kms_key_id, log_group_class, int(deletion_protection)),
            )
            if cursor.rowcount == 0:
                return None
            gid = int(cursor.lastrowid or 0)
            self.conn.executemany(
                "INSERT INTO log_group_tags (gid, key, value) VALUES (?, ?, ?)",
                [(gid, key, value) for key, value in tags],
            )
        return self.get_group(account, region, name)

    def delete_group(self, gid: int) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM log_chunks WHERE gid=?", (gid,))
            self.conn.execute("DELETE FROM log_groups WHERE gid=?", (gid,))

    def list_groups(
        self,
        account: str,
        region: str,
        *,
        after: str | None,
        limit: int,
        prefix: str | None = None,
        contains: str | None = None,
        classes: Sequence[str] | None = None,
        names: Sequence[str] | None = None,
    ) -> list[LogGroupRow]:
        """Groups in name order (AWS lists them alphabetically), starting after the name ``after``.

        ``contains`` is a case-sensitive substring; ``classes`` and ``names`` restrict to those values.
        """
        sql = f"SELECT {_GROUP_COLUMNS} FROM log_groups WHERE account=? AND region=? AND name > ?"
        params: list[Any] = [account, region, after or ""]
        if prefix:
            sql += " AND substr(name, 1, ?) = ?"
            params += [len(prefix), prefix]
        if contains:
            sql += " AND instr(name, ?) > 0"
            params.append(contains)
        for column, values in (("log_group_class", classes), ("name", names)):
            if values is not None:
                sql += f" AND {column} IN ({','.join('?' * len(values))})"
                params += list(values)
        sql += " ORDER BY name LIMIT ?"
        return [_group(row) for row in self.query(sql, [*params, limit])]

    def update_group(self, gid: int, **changes: Any) -> None:
        allowed = {"retention_days", "kms_key_id", "deletion_protection"}
        if not changes or set(changes) - allowed:
            raise ValueError(f"cannot update {sorted(set(changes) - allowed)}")
        assignments = ", ".join(f"{column}=?" for column in changes)
        with self.transaction():
            self.conn.execute(f"UPDATE log_groups SET {assignments} WHERE gid=?", (*changes.values(), gid))

    # -- tags --------------------------------------------------------------------------------------

    def tags(self, gid: int) -> dict[str, str]:
        rows = self.query("SELECT key, value FROM log_group_tags WHERE gid=? ORDER BY key", (gid,))
        return {row["key"]: row["value"] for row in rows}

    def put_tags(self, gid: int, tags: dict[str, str]) -> None:
        with self.transaction():
            self.conn.executemany(
                """INSERT INTO log_group_tags (gid, key, value) VALUES (?, ?, ?)
                   ON CONFLICT (gid, key) DO UPDATE SET value=excluded.value""",
                [(gid, key, value) for key, value in tags.items()],
            )

    def remove_tags(self, gid: int, keys: Sequence[str]) -> None:
        with self.transaction():
            self.conn.executemany("DELETE FROM log_group_tags WHERE gid=? AND key=?", [(gid, k) for k in keys])

    # -- streams -----------------------------------------------------------------------------------

    def get_stream(self, gid: int, name: str) -> LogStreamRow | None:
        row = self.query_one(f"SELECT {_STREAM_COLUMNS} FROM log_streams WHERE gid=? AND name=?", (gid, name))
        return _stream(row) if row else None

    def streams_by_id(self, sids: Sequence[int]) -> dict[int, LogStreamRow]:
        found: dict[int, LogStreamRow] = {}
        for start in range(0, len(sids), 500):
            chunk = list(sids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for row in self.query(f"SELECT {_STREAM_COLUMNS} FROM log_streams WHERE sid IN ({marks})", chunk):
                found[row["sid"]] = _stream(row)
        return found

    def create_stream(self, gid: int, name: str, created_ms: int) -> LogStreamRow | None:
        """The new stream, or None when the name is taken in the group."""
        with self.transaction():
            cursor = self.conn.execute(
                "INSERT INTO log_streams (gid, name, created_ms) VALUES (?, ?, ?) ON CONFLICT (gid, name) DO NOTHING",
                (gid, name, created_ms),
            )
            if cursor.rowcount == 0:
                return None
        return self.get_stream(gid, name)

    def delete_stream(self, sid: int) -> None:
        with self.transaction():
            removed = self.conn.execute(
                "SELECT coalesce(sum(bytes), 0) FROM log_chunks WHERE sid=?", (sid,)
            ).fetchone()[0]
            self.conn.execute(
                "UPDATE log_groups SET stored_bytes = max(0, stored_bytes - ?) "
                "WHERE gid = (SELECT gid FROM log_streams WHERE sid=?)",
                (removed, sid),
            )
            self.conn.execute("DELETE FROM log_chunks WHERE sid=?", (sid,))
            self.conn.execute("DELETE FROM log_streams WHERE sid=?", (sid,))

    def list_streams(
        self,
        gid: int,
        *,
        prefix: str | None,
        by_last_event: bool,
        descending: bool,
        after: tuple[Any, ...] | None,
        limit: int,
    ) -> list[LogStreamRow]:
        """Streams by name, or by last event time (streams without events first, as nulls sort low).

        ``after`` is the sort key of the last stream served: ``(name,)`` or ``(last_event_ms, sid)``.
        """
        direction = "DESC" if descending else "ASC"
        compare = "<" if descending else ">"
        sql = f"SELECT {_STREAM_COLUMNS} FROM log_streams WHERE gid=?"
        params: list[Any] = [gid]
        if prefix:
            sql += " AND substr(name, 1, ?) = ?"
            params += [len(prefix), prefix]
        if by_last_event:
            if after is not None:
                sql += f" AND (coalesce(last_event_ms, -1), sid) {compare} (?, ?)"
                params += [after[0], after[1]]
            sql += f" ORDER BY coalesce(last_event_ms, -1) {direction}, sid {direction}"
        else:
            if after is not None:
                sql += f" AND name {compare} ?"
                params.append(after[0])
            sql += f" ORDER BY name {direction}"
        sql += " LIMIT ?"
        return [_stream(row) for row in self.query(sql, [*params, limit])]

    def stream_ids(self, gid: int, *, names: Sequence[str] | None = None, prefix: str | None = None) -> list[int]:
        sql = "SELECT sid FROM log_streams WHERE gid=?"
        params: list[Any] = [gid]
        if prefix:
            sql += " AND substr(name, 1, ?) = ?"
            params += [len(prefix), prefix]
        rows = self.query(sql + " ORDER BY sid", params)
        sids = [row["sid"] for row in rows]
        if names is not None:
            wanted = set(names)
            by_name = {row.name: row.sid for row in self.streams_by_id(sids).values()}
            sids = sorted(sid for name, sid in by_name.items() if name in wanted)
        return sids

    # -- Logs Insights queries -----------------------------------------------------------------------

    def put_query(
        self, query_id: str, account: str, region: str, created_ms: int, group: str | None, status: str, doc: str
    ) -> None:
        with self.transaction():
            self.conn.execute(
                """INSERT INTO log_queries (query_id, account, region, created_ms, log_group_name, status, doc)
                   VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (query_id) DO UPDATE SET status=excluded.status, doc=excluded.doc""",
                (query_id, account, region, created_ms, group, status, doc),
            )

    def get_query(self, account: str, region: str, query_id: str) -> str | None:
        row = self.query_one(
            "SELECT doc FROM log_queries WHERE account=? AND region=? AND query_id=?", (account, region, query_id)
        )
        return str(row["doc"]) if row else None

    def list_queries(
        self, account: str, region: str, *, group: str | None, status: str | None, after: str | None, limit: int
    ) -> list[str]:
        """Query documents, newest first; ``after`` is the id of the last one served."""
        sql = "SELECT query_id, doc FROM log_queries WHERE account=? AND region=?"
        params: list[Any] = [account, region]
        if group is not None:
            sql += " AND log_group_name=?"
            params.append(group)
        if status is not None:
            sql += " AND status=?"
            params.append(status)
        if after is not None:
            sql += """ AND (created_ms, query_id) < (SELECT created_ms, query_id FROM log_queries
                       WHERE query_id=?)"""
            params.append(after)
        sql += " ORDER BY created_ms DESC, query_id DESC LIMIT ?"
        return [str(row["doc"]) for row in self.query(sql, [*params, limit])]

    def delete_queries_before(self, created_ms: int) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM log_queries WHERE created_ms < ?", (created_ms,))

    # -- partition settings ---------------------------------------------------------------------------

    def get_setting(self, account: str, region: str, name: str) -> str | None:
        row = self.query_one(
            "SELECT value FROM log_settings WHERE account=? AND region=? AND name=?", (account, region, name)
        )
        return str(row["value"]) if row else None

    def put_setting(self, account: str, region: str, name: str, value: str | None) -> None:
        with self.transaction():
            if value is None:
                self.conn.execute(
                    "DELETE FROM log_settings WHERE account=? AND region=? AND name=?", (account, region, name)
                )
            else:
                self.conn.execute(
                    """INSERT INTO log_settings (account, region, name, value) VALUES (?, ?, ?, ?)
                       ON CONFLICT (account, region, name) DO UPDATE SET value=excluded.value""",
                    (account, region, name, value),
                )
