"""The lazy full-text index of log bodies (store.log_index): every line is found whether or not the
writer has indexed it yet, exactly as ``|=`` would find it, with the index of words per block of new
segments and the per-row index of schema-2 segments, and segments written before the index was lazy
keep working."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecslite.telemetry.log_records import LogBatch, log_from_python
from ecslite.telemetry.model import Resource, Scope
from ecslite.telemetry.store import LogQuery, Matcher, StoreSettings, TelemetryStore, log_index
from ecslite.telemetry.store import logs as log_tables
from ecslite.telemetry.store import writer as writer_module
from ecslite.telemetry.store.segments import SCHEMA_VERSION, Segment, SegmentSet

RESOURCE = Resource({"service.name": "orders"})
EVERYTHING = [Matcher("service_name", "=", "orders")]
# What a segment of schema 2 was created with: one index document per row (logs_fts).
SCHEMA_2_DDL = (*(s for s in log_tables.DDL if s not in log_index.DDL), *log_index.SCHEMA_2_DDL)
KINDS = {"words": log_tables.DDL, "rows": SCHEMA_2_DDL}


def memory_segments(ddl: tuple[str, ...] = log_tables.DDL) -> SegmentSet:
    return SegmentSet("logs", None, ddl, log_tables.TIME_BOUNDS_SQL, now=time.time, segment_bytes=1 << 30)


@pytest.fixture(params=list(KINDS))
def segment(request: pytest.FixtureRequest) -> Iterator[Segment]:
    """A segment as created now (words per block) and one as schema 2 created it (rows)."""
    segments = memory_segments(KINDS[request.param])
    yield segments.active()
    segments.close()


def write(segment: Segment, bodies: list[str], start: int = 0) -> None:
    records = [log_from_python(time_ns=1_000 + start + i, body=body) for i, body in enumerate(bodies)]
    conn = segment.conn
    conn.execute("BEGIN")
    log_tables.write(conn, segment, [LogBatch(RESOURCE, Scope(), records)])
    conn.execute("COMMIT")


def index(segment: Segment, limit: int) -> int:
    conn = segment.conn
    conn.execute("BEGIN")
    waiting = log_tables.index_pending(conn, limit)
    conn.execute("COMMIT")
    return waiting


def found(segment: Segment, *needles: str) -> list[str]:
    query = LogQuery(EVERYTHING, 0, 10**12, contains=needles, limit=10_000, direction="forward")
    return [stored.record.body for stored in log_tables.read(segment.conn, segment, query)]


BODIES = ["order 7 created", "ORDER 8 CREATED", "payment failed: card declined", "ordered twice", "x"]


def test_unindexed_lines_are_found_by_scanning_the_tail(segment: Segment) -> None:
    write(segment, BODIES)
    assert log_tables.unindexed(segment.conn) == len(BODIES)
    assert found(segment, "order") == ["order 7 created", "ordered twice"]
    assert found(segment, "der 7 cr") == ["order 7 created"]


def test_lines_are_found_the_same_while_the_index_catches_up(segment: Segment) -> None:
    write(segment, BODIES)
    expected = {needle: found(segment, needle) for needle in ("order", "CREATED", "card decl", "x", "twice")}
    while True:
        waiting = index(segment, 2)
        for needle, bodies in expected.items():
            assert found(segment, needle) == bodies, (needle, waiting)
        if not waiting:
            break
    assert log_tables.unindexed(segment.conn) == 0
    write(segment, ["a new order"], start=100)
    assert found(segment, "order") == ["order 7 created", "ordered twice", "a new order"]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("tokenizer", ["trigram case_sensitive 1", "trigram"], ids=["new", "case-folding"])
def test_the_filter_is_case_sensitive_whatever_the_index_folds(tokenizer: str, kind: str) -> None:
    """Segments created before the index stopped folding case are read with the same query."""
    ddl = tuple(statement.replace("trigram case_sensitive 1", tokenizer) for statement in KINDS[kind])
    segments = memory_segments(ddl)
    segment = segments.active()
    try:
        write(segment, BODIES)
        index(segment, 100)
        assert found(segment, "ORDER") == ["ORDER 8 CREATED"]
        assert found(segment, "order", "created") == ["order 7 created"]
        assert found(segment, "declined", "payment") == ["payment failed: card declined"]
        assert found(segment, "rder") == ["order 7 created", "ordered twice"]
    finally:
        segments.close()


def test_needles_with_quotes_and_long_needles(segment: Segment) -> None:
    long_line = "GET /api/v1/orders/7?expand=items&currency=EUR HTTP/1.1 200 " + "z" * 300
    write(segment, ['say "hi" to ñandú', long_line, "say hi"])
    for waiting_allowed in (True, False):
        if not waiting_allowed:
            index(segment, 100)
        assert found(segment, 'y "h') == ['say "hi" to ñandú']
        assert found(segment, "ñandú") == ['say "hi" to ñandú']
        assert found(segment, long_line[5:200]) == [long_line]


ALPHABET = "abcAB \"'*:-\t\n\u00a0\u2003é"


@settings(max_examples=60, deadline=None)
@given(
    bodies=st.lists(st.text(alphabet=ALPHABET, min_size=0, max_size=12), min_size=1, max_size=12),
    needle=st.text(alphabet=ALPHABET, min_size=1, max_size=5),
    indexed=st.integers(min_value=0, max_value=12),
    kind=st.sampled_from(list(KINDS)),
)
def test_line_filter_matches_a_plain_substring_test(bodies: list[str], needle: str, indexed: int, kind: str) -> None:
    segments = memory_segments(KINDS[kind])
    try:
        segment = segments.active()
        write(segment, bodies)
        index(segment, indexed)
        assert found(segment, needle) == [body for body in bodies if needle in body]
    finally:
        segments.close()


@settings(max_examples=25, deadline=None)
@given(
    writes=st.lists(
        st.lists(st.text(alphabet=ALPHABET, min_size=0, max_size=16), min_size=1, max_size=90), min_size=1, max_size=4
    ),
    slices=st.lists(st.integers(min_value=1, max_value=150), min_size=1, max_size=6),
    needles=st.lists(st.text(alphabet=ALPHABET, min_size=1, max_size=6), min_size=1, max_size=4),
)
def test_blocks_indexed_in_slices_find_what_a_substring_test_finds(
    writes: list[list[str]], slices: list[int], needles: list[str]
) -> None:
    """Slices and writes that end inside a block: its document is replaced as it grows, never lost."""
    segments = memory_segments()
    try:
        segment = segments.active()
        bodies: list[str] = []
        for number, batch in enumerate(writes):
            write(segment, batch, start=len(bodies))
            bodies.extend(batch)
            index(segment, slices[number % len(slices)])
            for needle in needles:
                assert found(segment, needle) == [body for body in bodies if needle in body], needle
        while index(segment, slices[0]):
            pass
        for needle in needles:
            assert found(segment, needle) == [body for body in bodies if needle in body], needle
        segment.conn.execute("INSERT INTO logs_words (logs_words) VALUES ('integrity-check')")
    finally:
        segments.close()


def test_a_block_is_one_document_replaced_as_its_block_fills() -> None:
    segments = memory_segments()
    segment = segments.active()
    conn = segment.conn
    rows = log_index.BLOCK_ROWS  # block 0 holds ids 1 to rows - 1 (there is no id 0), block 1 the next rows
    try:
        bodies = [f"GET /orders/{i % 3} 200" for i in range(2 * rows + 10)]
        write(segment, bodies)
        assert index(segment, rows + 5) == 11  # the slice went on to the end of the block it reached
        assert conn.execute("SELECT indexed, tail FROM fts_state").fetchone() == (2 * rows - 1, "")
        assert index(segment, 1000) == 0  # the last block is indexed as far as its rows go
        indexed, tail = conn.execute("SELECT indexed, tail FROM fts_state").fetchone()
        assert indexed == 2 * rows + 10
        assert sorted(tail.split("\n")) == ["/orders/0", "/orders/1", "/orders/2", "200", "GET"]
        write(segment, ["POST /payments 201"], start=10_000)
        assert index(segment, 1000) == 0

        def blocks(term: str) -> list[int]:
            return [row[0] for row in conn.execute("SELECT rowid FROM logs_words WHERE logs_words MATCH ?", (term,))]

        assert blocks('"GET"') == [0, 1, 2]
        assert blocks('"POS" AND "201"') == [2]  # the last block's document holds its old and new words
        assert found(segment, "/orders/2 2") == [body for body in bodies if "/orders/2" in body]
        assert found(segment, "payments 2") == ["POST /payments 201"]
        assert found(segment, "200 GET") == []  # both words in every block, never in this order
        conn.execute("INSERT INTO logs_words (logs_words) VALUES ('integrity-check')")
    finally:
        segments.close()


# -- segments of schema 1 -------------------------------------------------------------------------

SCHEMA_1_FTS = "CREATE VIRTUAL TABLE logs_fts USING fts5 (body, content='logs', content_rowid='id', tokenize='trigram')"


def schema_1_segment(path: Path, bodies: list[str]) -> None:
    """A logs segment as ecslite wrote it before the index was lazy: full index, filled on write."""
    ddl = [
        statement for statement in log_tables.DDL if statement not in log_index.DDL and "writer_state" not in statement
    ]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for statement in [*ddl, SCHEMA_1_FTS]:
        conn.execute(statement)
    conn.execute("INSERT INTO streams (id, hash, labels) VALUES (1, x'00', '{\"service_name\":\"orders\"}')")
    conn.execute("INSERT INTO stream_labels (name, value, stream_id) VALUES ('service_name', 'orders', 1)")
    conn.execute(
        "INSERT INTO resources (id, hash, service, attrs) VALUES (1, x'00', 'orders', ?)",
        (b"\x91\x92\xacservice.name\xa6orders",),
    )
    for i, body in enumerate(bodies):
        conn.execute(
            "INSERT INTO logs (ts_ns, observed_ns, stream_id, severity, severity_text, body, flags, resource_id, "
            "detail) VALUES (?, ?, 1, 0, '', ?, 0, 1, x'')",
            (1_000 + i, 1_000 + i, body),
        )
    conn.execute("INSERT INTO logs_fts (rowid, body) SELECT id, body FROM logs")
    conn.execute("PRAGMA user_version=1")
    conn.close()


def test_schema_1_segment_is_read_as_is_and_upgraded_by_the_writer(tmp_path: Path) -> None:
    directory = tmp_path / "telemetry"
    directory.mkdir()
    day = time.strftime("%Y-%m-%d", time.gmtime())
    schema_1_segment(directory / f"logs-{day}.db", BODIES)

    reader = TelemetryStore(StoreSettings(directory=directory, read_only=True))
    try:
        query = LogQuery(EVERYTHING, 0, 10**12, contains=["order"], direction="forward")
        assert [r.record.body for r in reader.read_logs(query)] == ["order 7 created", "ordered twice"]
    finally:
        reader.close()

    store = TelemetryStore(StoreSettings(directory=directory, commit_interval=0.01, writer_process=False))
    try:
        conn = sqlite3.connect(directory / f"logs-{day}.db")
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT indexed FROM fts_state").fetchone()[0] == len(BODIES)
        conn.close()
        record = log_from_python(time_ns=time.time_ns(), body="another order")
        store.write_logs(LogBatch(RESOURCE, Scope(), [record]))
        assert store.flush()
        query = LogQuery(EVERYTHING, 0, 2 * 10**18, contains=["order"], direction="forward")
        assert [r.record.body for r in store.read_logs(query)] == ["order 7 created", "ordered twice", "another order"]
    finally:
        store.close()


@pytest.mark.parametrize("writer_process", [False, True], ids=["thread", "process"])
def test_schema_2_segment_keeps_its_index_of_rows(tmp_path: Path, writer_process: bool) -> None:
    """A segment of schema 2, partly indexed, is upgraded without a new index: its rows are found,
    and the writer fills the per-row index it has."""
    directory = tmp_path / "telemetry"
    day = time.strftime("%Y-%m-%d", time.gmtime())
    segments = SegmentSet(
        "logs", directory, SCHEMA_2_DDL, log_tables.TIME_BOUNDS_SQL, now=time.time, segment_bytes=1 << 30
    )
    segment = segments.active()
    write(segment, BODIES)
    index(segment, 3)
    segment.conn.execute("PRAGMA user_version=2")
    segments.close()

    reader = TelemetryStore(StoreSettings(directory=directory, read_only=True))
    try:
        query = LogQuery(EVERYTHING, 0, 10**12, contains=["order"], direction="forward")
        assert [r.record.body for r in reader.read_logs(query)] == ["order 7 created", "ordered twice"]
    finally:
        reader.close()

    settings = StoreSettings(directory=directory, commit_interval=0.01, writer_process=writer_process)
    store = TelemetryStore(settings)
    try:
        record = log_from_python(time_ns=time.time_ns(), body="another order")
        store.write_logs(LogBatch(RESOURCE, Scope(), [record]))
        assert store.flush()
        deadline = time.monotonic() + 20
        while store.log_index_backlog():
            assert time.monotonic() < deadline, "the idle writer indexes the rest"
            time.sleep(0.05)
        query = LogQuery(EVERYTHING, 0, 2 * 10**18, contains=["order"], direction="forward")
        assert [r.record.body for r in store.read_logs(query)] == ["order 7 created", "ordered twice", "another order"]
        conn = sqlite3.connect(directory / f"logs-{day}.db")
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert "logs_words" not in tables
        assert conn.execute("SELECT rowid FROM logs_fts WHERE logs_fts MATCH '\"ano\"'").fetchall() == [(6,)]
        conn.close()
    finally:
        store.close()


@pytest.mark.parametrize("writer_process", [False, True], ids=["thread", "process"])
def test_store_indexes_lazily_and_finds_every_line_meanwhile(tmp_path: Path, writer_process: bool) -> None:
    store = TelemetryStore(
        StoreSettings(directory=tmp_path / "telemetry", commit_interval=0.01, writer_process=writer_process)
    )
    try:
        now = time.time_ns()
        records = [log_from_python(time_ns=now + i, body=f"request {i} served") for i in range(12_000)]
        store.write_logs(LogBatch(RESOURCE, Scope(), records))
        assert store.flush()
        query = LogQuery(EVERYTHING, now, now + 20_000, contains=["st 11999 se"])
        assert [r.record.body for r in store.read_logs(query)] == ["request 11999 served"]
        deadline = time.monotonic() + 20
        while store.log_index_backlog():
            assert time.monotonic() < deadline, "the idle writer indexes everything"
            time.sleep(0.05)
        assert [r.record.body for r in store.read_logs(query)] == ["request 11999 served"]
        every = LogQuery(EVERYTHING, now, now + 20_000, contains=["served"], limit=20_000)
        assert len(store.read_logs(every)) == 12_000
    finally:
        store.close()


def test_new_segments_index_words_with_the_cheaper_fill_settings() -> None:
    segments = memory_segments()
    conn = segments.active().conn
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "logs_fts" not in tables
        assert "logs_words_docsize" not in tables  # columnsize=0
        assert "logs_words_content" not in tables  # contentless: the bodies are in logs
        config = dict(conn.execute("SELECT k, v FROM logs_words_config WHERE k != 'version'").fetchall())
        assert config == {"hashsize": 16 * 1024 * 1024, "automerge": 32, "crisismerge": 32}
        definition = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'logs_words'").fetchone()[0]
        assert "tokenize='trigram case_sensitive 1'" in definition
    finally:
        segments.close()


def test_a_sustained_load_keeps_the_index_backlog_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "MAX_UNINDEXED", 1000)
    monkeypatch.setattr(writer_module, "INDEX_CHUNK", 100)
    monkeypatch.setattr(writer_module, "IDLE_MAX_BUSY", -1.0)  # never idle: only commits index
    store = TelemetryStore(StoreSettings(directory=tmp_path / "telemetry", commit_interval=0.01, writer_process=False))
    try:
        now = time.time_ns()
        for commit in range(10):
            records = [log_from_python(time_ns=now + commit * 500 + i, body=f"line {commit} {i}") for i in range(500)]
            store.write_logs(LogBatch(RESOURCE, Scope(), records))
            assert store.flush()
            # Each commit past the limit is followed by a slice as large as itself (not INDEX_CHUNK).
            assert store.log_index_backlog() <= 1000
        query = LogQuery(EVERYTHING, now, now + 10_000, contains=["line 9 499"])
        assert [r.record.body for r in store.read_logs(query)] == ["line 9 499"]
    finally:
        store.close()
