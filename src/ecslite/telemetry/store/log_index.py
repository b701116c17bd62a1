"""The full-text index of log bodies in a logs segment: its tables, its lazy fill, and the filter a
line query gets from it (spec/telemetry.md §8.3, Loki's ``|=``).

The index only narrows the rows a line filter checks: ``instr`` decides every match (exact and
case-sensitive, as Loki's ``|=`` is), so any superset of the matching rows is a correct answer.
It is filled lazily (:func:`index_pending`), by the writer when it has nothing else to do, so
writing a record never waits for it; ``fts_state.indexed`` is the highest ``logs.id`` indexed, and
rows above it (the unindexed tail) are matched by scanning them. The mark only grows, so a reader
that read it before a query can only scan more than it needs, never miss a line.

Segments of schema 3 and later index **words per block** (``logs_words``): a contentless FTS5
table with the trigram tokenizer (``case_sensitive 1``, ``detail=none``, ``columnsize=0``) holding
one document per block of :data:`BLOCK_ROWS` consecutive rows (rowid ``logs.id >> BLOCK_BITS``):
the distinct whitespace-separated words of its bodies. Log lines of one container repeat their
words (a format, levels, names), so a block has a fraction of its bodies' characters to tokenize,
and the index a fraction of the postings to merge: a FireLens body costs 2.8 µs to index instead
of 6.5 µs (docs/benchmarks.md). A needle's words hold every trigram a query asks for (a word of a
needle lies within a word of any body holding the needle, since both split at the same
whitespace), so the blocks holding all of them are a superset, and their rows are checked by
``instr``. A block the mark ends in is indexed as far as the mark, its document kept in
``fts_state.tail``, and replaced (FTS5's ``delete`` with that text) when the block is indexed on.

Older segments keep what they were written with and are read with their own query: schema 2's
``logs_fts`` (an external-content table on ``body``, one document per row, the same fill below the
mark; some fold case, a superset too), schema 1's full index of every row (no ``fts_state``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

TRIGRAM = 3
MAX_TRIGRAMS = 32
BLOCK_BITS = 6
BLOCK_ROWS = 1 << BLOCK_BITS

# FTS5 fill settings (stored in the table's config): the term table flushed every 16 MiB instead
# of every 1 MiB, and 32 segments of a level merged at once instead of 4; measured on FireLens lines
# (docs/benchmarks.md) with schema 2's per-row index, 1.7 times cheaper than FTS5's defaults.
_CONFIG = (
    "INSERT INTO {table} ({table}, rank) VALUES ('hashsize', 16777216)",
    "INSERT INTO {table} ({table}, rank) VALUES ('automerge', 32)",
    "INSERT INTO {table} ({table}, rank) VALUES ('crisismerge', 32)",
)
DDL = (
    "CREATE VIRTUAL TABLE logs_words USING fts5 (words, content='', tokenize='trigram case_sensitive 1', "
    "detail=none, columnsize=0)",
    *(statement.format(table="logs_words") for statement in _CONFIG),
    "CREATE TABLE fts_state (id INTEGER PRIMARY KEY CHECK (id = 1), indexed INTEGER NOT NULL, tail TEXT NOT NULL)",
    "INSERT INTO fts_state (id, indexed, tail) VALUES (1, 0, '')",
)
# What schema 2 created (read and filled as before; tests build such segments from it).
SCHEMA_2_DDL = (
    "CREATE VIRTUAL TABLE logs_fts USING fts5 (body, content='logs', content_rowid='id', "
    "tokenize='trigram case_sensitive 1', detail=none, columnsize=0)",
    *(statement.format(table="logs_fts") for statement in _CONFIG),
    "CREATE TABLE fts_state (id INTEGER PRIMARY KEY CHECK (id = 1), indexed INTEGER NOT NULL)",
    "INSERT INTO fts_state (id, indexed) VALUES (1, 0)",
)
# Schema 1 → 2: the full index of a schema-1 segment covers every row; writes continue lazily.
UPGRADE_1 = (
    SCHEMA_2_DDL[-2],
    "INSERT INTO fts_state (id, indexed) SELECT 1, coalesce(max(id), 0) FROM logs",
)


def _state(conn: sqlite3.Connection) -> tuple[int, bool] | None:
    """The mark and whether the segment indexes words per block; None for schema 1 (all indexed)."""
    try:
        row = conn.execute("SELECT indexed FROM fts_state").fetchone()
    except sqlite3.OperationalError:
        return None
    words = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'logs_words'").fetchone() is not None
    return int(row[0]), words


def index_pending(conn: sqlite3.Connection, limit: int) -> int:
    """Index up to ``limit`` more rows, inside the caller's transaction; the rows still waiting."""
    state = _state(conn)
    if state is None:
        return 0
    indexed, words = state
    top = int(conn.execute("SELECT coalesce(max(id), 0) FROM logs").fetchone()[0])
    if top <= indexed:
        return 0
    upto = min(top, indexed + limit)
    if words:
        # While more rows wait, a slice ends at the end of a block, so no block is indexed twice.
        upto = min(top, upto | (BLOCK_ROWS - 1))
        _index_words(conn, indexed, upto)
    else:
        conn.execute(
            "INSERT INTO logs_fts (rowid, body) SELECT id, body FROM logs WHERE id > ? AND id <= ?", (indexed, upto)
        )
        conn.execute("UPDATE fts_state SET indexed = ?", (upto,))
    return top - upto  # ids are dense: rows are never deleted from a segment


def _index_words(conn: sqlite3.Connection, indexed: int, upto: int) -> None:
    """Index the rows in ``(indexed, upto]`` as the words of their blocks."""
    tail = str(conn.execute("SELECT tail FROM fts_state").fetchone()[0])
    first = (indexed + 1) >> BLOCK_BITS
    if tail:
        # The block the mark ended in has a document up to the mark: replaced by the whole one.
        conn.execute("INSERT INTO logs_words (logs_words, rowid, words) VALUES ('delete', ?, ?)", (first, tail))
    documents: list[tuple[int, str]] = []
    for block in range(first, (upto >> BLOCK_BITS) + 1):
        low = max(block << BLOCK_BITS, indexed + 1)
        high = min(((block + 1) << BLOCK_BITS) - 1, upto)
        text = conn.execute(
            "SELECT group_concat(body, ' ') FROM logs WHERE id >= ? AND id <= ?", (low, high)
        ).fetchone()[0]
        if block == first and tail:
            text = f"{tail} {text or ''}"
        if text:
            documents.append((block, "\n".join(set(text.split()))))
    conn.executemany("INSERT INTO logs_words (rowid, words) VALUES (?, ?)", documents)
    partial = (upto + 1) & (BLOCK_ROWS - 1)
    last = documents[-1][1] if partial and documents and documents[-1][0] == upto >> BLOCK_BITS else ""
    conn.execute("UPDATE fts_state SET indexed = ?, tail = ?", (upto, last))


def unindexed(conn: sqlite3.Connection) -> int:
    """How many rows wait for the full-text index."""
    try:
        indexed = conn.execute("SELECT indexed FROM fts_state").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    return int(conn.execute("SELECT count(*) FROM logs WHERE id > ?", (indexed,)).fetchone()[0])


def line_filter(conn: sqlite3.Connection, needles: Sequence[str]) -> tuple[str, list[object]] | None:
    """A condition on ``logs l`` for the rows that may hold every needle (each then checked by
    ``instr``); None when the index cannot narrow them (needles too short)."""
    state = _state(conn)
    words = state is not None and state[1]
    expression = _expression(needles, by_words=words)
    if expression is None:
        return None
    if state is None:
        return "l.id IN (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ?)", [expression]
    # Rows above the mark are not in the index yet: they are scanned (instr) instead.
    if words:
        subquery = f"(l.id >> {BLOCK_BITS}) IN (SELECT rowid FROM logs_words WHERE logs_words MATCH ?)"
    else:
        subquery = "l.id IN (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ?)"
    return f"(l.id > ? OR {subquery})", [state[0], expression]


def _expression(needles: Sequence[str], *, by_words: bool) -> str | None:
    """An FTS5 query for documents holding every trigram of every needle (of each of its words, for
    an index of words), or None if no needle has one.

    Each trigram is its own quoted term (a ``detail=none`` index has no positions for phrases); a
    needle uses at most :data:`MAX_TRIGRAMS` of its trigrams, spread over it.
    """
    terms: dict[str, None] = {}
    for needle in needles:
        parts = needle.split() if by_words else [needle]
        grams = list(dict.fromkeys(part[i : i + TRIGRAM] for part in parts for i in range(len(part) - TRIGRAM + 1)))
        if len(grams) > MAX_TRIGRAMS:
            step = len(grams) / MAX_TRIGRAMS
            grams = [grams[int(i * step)] for i in range(MAX_TRIGRAMS)]
        terms.update(dict.fromkeys(grams))
    if not terms:
        return None
    return " AND ".join('"' + gram.replace('"', '""') + '"' for gram in terms)
