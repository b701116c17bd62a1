"""Tasks are found by ARN through an index (schema v8): the store keeps STOPPED tasks for an hour
(spec/ecs.md §3.1), so a scan per lookup grows with the history and once held the event loop for
seconds (the service controller's pruning of its settled records)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ecslite.store.db import Database
from ecslite.store.migrations import MIGRATIONS


def _plan(db: Database, sql: str) -> str:
    return " | ".join(str(row["detail"]) for row in db.query(f"EXPLAIN QUERY PLAN {sql}", ("x",) * sql.count("?")))


def test_task_lookup_by_arn_uses_index_when_store_is_new() -> None:
    db = Database(None)
    plan = _plan(db, "SELECT doc FROM tasks WHERE arn=?")
    assert "USING INDEX tasks_by_arn" in plan


def test_settled_record_pruning_uses_index_when_store_is_new() -> None:
    db = Database(None)
    plan = _plan(
        db,
        """DELETE FROM service_tasks WHERE settled=1
           AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.arn = service_tasks.task_arn)""",
    )
    assert "USING COVERING INDEX tasks_by_arn" in plan or "USING INDEX tasks_by_arn" in plan


def test_index_is_added_when_store_is_from_schema_7(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    for statements in MIGRATIONS[:7]:
        for statement in statements:
            conn.execute(statement)
    conn.execute("PRAGMA user_version=7")
    conn.commit()
    conn.close()
    db = Database(path)
    assert db.schema_version == len(MIGRATIONS)
    assert "USING INDEX tasks_by_arn" in _plan(db, "SELECT doc FROM tasks WHERE arn=?")
