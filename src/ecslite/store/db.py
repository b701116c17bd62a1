"""SQLite connection, transactions and the change feed.

Invariants:
- One connection, used from the event loop thread only; SQLite serialises writers anyway and
  every statement here is sub-millisecond.
- Every mutation runs inside :meth:`Database.transaction` (``BEGIN IMMEDIATE`` … ``COMMIT``), so a
  request either changes the store completely or not at all, and an acknowledged change is in the
  WAL before the response leaves. ``synchronous=NORMAL`` keeps committed transactions across a crash
  of the process (the WAL is written before COMMIT returns); ``durability="full"`` also syncs to
  disk for power loss.
- Changes are published to subscribers only after COMMIT, never for a rolled-back transaction.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ecslite.store.migrations import MIGRATIONS

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change: which kind of resource and its key (usually the ARN)."""

    kind: str
    key: str


Subscriber = Callable[[Sequence[Change]], None]


def dumps(doc: Any) -> str:
    return orjson.dumps(doc).decode("utf-8")


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


class Database:
    def __init__(self, path: str | Path | None = None, *, durability: str = "normal") -> None:
        """Open (and migrate) the store at ``path``; ``None`` or ``":memory:"`` keeps it in memory."""
        target = ":memory:" if path in (None, ":memory:") else str(path)
        self.path = target
        self.conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        if target != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA busy_timeout=5000")
        self._depth = 0
        self._pending: list[Change] = []
        self._subscribers: list[Subscriber] = []
        self.migrate()

    # -- schema ------------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Apply every migration newer than the file's ``user_version``, each in its own transaction."""
        current = self.schema_version
        for version, statements in enumerate(MIGRATIONS, start=1):
            if version <= current:
                continue
            log.info("store migration", extra={"version": version})
            with self.transaction():
                for sql in statements:
                    self.conn.execute(sql)
                self.conn.execute(f"PRAGMA user_version={version}")

    # -- transactions ------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; nested uses join the outer one."""
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
            self._pending.clear()
            self.conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self.conn.execute("COMMIT")
        changes, self._pending = self._pending, []
        if changes:
            self._publish(changes)

    def changed(self, kind: str, key: str) -> None:
        """Record a change made in the current transaction; published after COMMIT."""
        if not self._depth:
            raise RuntimeError("changes must be recorded inside a transaction")
        self._pending.append(Change(kind, key))

    def subscribe(self, callback: Subscriber) -> None:
        self._subscribers.append(callback)

    def _publish(self, changes: Sequence[Change]) -> None:
        for callback in self._subscribers:
            try:
                callback(changes)
            except Exception:
                # A subscriber's bug must not turn a committed request into an error.
                log.exception("change subscriber failed")

    # -- helpers -----------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
        return row

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        if not self._depth:
            raise RuntimeError("writes must run inside a transaction")
        return self.conn.execute(sql, params)

    def reset(self) -> None:
        """Delete every resource of every account and region (the schema stays)."""
        with self.transaction():
            for (table,) in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall():
                self.conn.execute(f'DELETE FROM "{table}"')
            self.changed("*", "*")

    def close(self) -> None:
        self.conn.close()
