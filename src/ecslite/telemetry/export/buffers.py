"""Where an export queue keeps its items until they are delivered or dropped (spec/telemetry.md §6.1).

A :class:`Buffer` holds opaque items in the order they were queued, each under an id that only
grows. :class:`MemoryBuffer` lives as long as the process; :class:`SqliteBuffer` keeps them in a
SQLite file (WAL), so what a server did not deliver is there, in order, after a restart.

Invariants: :meth:`Buffer.peek` always returns at least one item when any is queued, even one
larger than the batch size; :meth:`Buffer.drop_oldest` never drops an id in ``keep`` (the batch
in flight); ``items`` and ``bytes`` always match what is stored. A buffer is used by its queue's
worker thread (and by producers under the queue's lock), never by two threads at once.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol


class Buffer(Protocol):
    """Queued items in order; used by the worker thread only."""

    def append(self, items: Sequence[bytes]) -> None: ...

    def peek(self, max_bytes: int) -> list[tuple[int, bytes]]: ...

    def remove(self, ids: Sequence[int]) -> None: ...

    def drop_oldest(self, max_bytes: int, keep: Sequence[int]) -> tuple[int, int]: ...

    @property
    def items(self) -> int: ...

    @property
    def bytes(self) -> int: ...

    def close(self) -> None: ...


class MemoryBuffer:
    def __init__(self) -> None:
        self._items: deque[tuple[int, bytes]] = deque()
        self._next = 0
        self._bytes = 0

    def append(self, items: Sequence[bytes]) -> None:
        for item in items:
            self._items.append((self._next, item))
            self._next += 1
            self._bytes += len(item)

    def peek(self, max_bytes: int) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        size = 0
        for item_id, item in self._items:
            if out and size + len(item) > max_bytes:
                break
            out.append((item_id, item))
            size += len(item)
        return out

    def remove(self, ids: Sequence[int]) -> None:
        doomed = set(ids)
        kept = deque(entry for entry in self._items if entry[0] not in doomed)
        self._bytes = sum(len(item) for _, item in kept)
        self._items = kept

    def drop_oldest(self, max_bytes: int, keep: Sequence[int]) -> tuple[int, int]:
        """Drop the oldest items (never those in ``keep``, the batch in flight) until at most ``max_bytes``."""
        dropped = dropped_bytes = 0
        protected = set(keep)
        survivors: deque[tuple[int, bytes]] = deque()
        while self._items:
            item_id, item = self._items.popleft()
            if self._bytes > max_bytes and item_id not in protected:
                self._bytes -= len(item)
                dropped += 1
                dropped_bytes += len(item)
            else:
                survivors.append((item_id, item))
        self._items = survivors
        return dropped, dropped_bytes

    @property
    def items(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes

    def close(self) -> None:
        self._items.clear()
        self._bytes = 0


class SqliteBuffer:
    """Items in a SQLite file, oldest first; what is not delivered is there after a restart."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL)"
        )
        count, size = self._conn.execute("SELECT count(*), coalesce(sum(length(body)), 0) FROM items").fetchone()
        self._items, self._bytes = int(count), int(size)

    def append(self, items: Sequence[bytes]) -> None:
        if not items:
            return
        with self._transaction():
            self._conn.executemany("INSERT INTO items (body) VALUES (?)", [(item,) for item in items])
        self._items += len(items)
        self._bytes += sum(len(item) for item in items)

    def peek(self, max_bytes: int) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        size = 0
        for item_id, body in self._conn.execute("SELECT id, body FROM items ORDER BY id"):
            if out and size + len(body) > max_bytes:
                break
            out.append((int(item_id), bytes(body)))
            size += len(body)
        return out

    def remove(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self._transaction():
            self._conn.executemany("DELETE FROM items WHERE id=?", [(i,) for i in ids])
        self._recount()

    def drop_oldest(self, max_bytes: int, keep: Sequence[int]) -> tuple[int, int]:
        if self._bytes <= max_bytes:
            return 0, 0
        protected = set(keep)
        doomed: list[int] = []
        excess = self._bytes - max_bytes
        freed = 0
        for item_id, size in self._conn.execute("SELECT id, length(body) FROM items ORDER BY id"):
            if freed >= excess:
                break
            if item_id in protected:
                continue
            doomed.append(int(item_id))
            freed += int(size)
        self.remove(doomed)
        return len(doomed), freed

    def _recount(self) -> None:
        count, size = self._conn.execute("SELECT count(*), coalesce(sum(length(body)), 0) FROM items").fetchone()
        self._items, self._bytes = int(count), int(size)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @property
    def items(self) -> int:
        return self._items

    @property
    def bytes(self) -> int:
        return self._bytes

    def close(self) -> None:
        self._conn.close()
