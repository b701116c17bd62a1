"""Task definition rows: revision counter, listing order, and removal of unreferenced deletions."""

from __future__ import annotations

from typing import Any

import pytest

from ecslite.store import task_definitions as td_store
from ecslite.store.db import Database, dumps

ACCOUNT, REGION = "000000000000", "us-east-1"


@pytest.fixture
def db() -> Database:
    return Database()


def add(db: Database, family: str, status: str = "ACTIVE") -> dict[str, Any]:
    with db.transaction():
        revision = td_store.next_revision(db, ACCOUNT, REGION, family)
        doc = {
            "family": family,
            "revision": revision,
            "taskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:{revision}",
            "status": status,
        }
        td_store.insert(db, ACCOUNT, REGION, doc)
    return doc


def add_task(db: Database, td_arn: str, last_status: str) -> None:
    with db.transaction():
        db.execute(
            """INSERT INTO tasks (account, region, cluster, id, arn, desired_status, last_status, family, doc)
               VALUES (?, ?, 'default', ?, ?, 'RUNNING', ?, 'web', ?)""",
            (ACCOUNT, REGION, "t1", "arn:task/t1", last_status, dumps({"taskDefinitionArn": td_arn})),
        )


def test_revisions_continue_after_every_row_of_a_family_is_removed(db: Database) -> None:
    first = add(db, "web", status="DELETE_IN_PROGRESS")
    assert td_store.remove_unreferenced(db) == [first["taskDefinitionArn"]]
    assert add(db, "web")["revision"] == 2


def test_list_page_orders_by_family_then_revision_both_ways(db: Database) -> None:
    for family in ("b", "a", "a", "c"):
        add(db, family)
    rows = td_store.list_page(db, ACCOUNT, REGION, status="ACTIVE", family=None, descending=False, after=None, limit=10)
    assert [(f, r) for f, r, _ in rows] == [("a", 1), ("a", 2), ("b", 1), ("c", 1)]
    rows = td_store.list_page(
        db, ACCOUNT, REGION, status="ACTIVE", family=None, descending=True, after=("b", 1), limit=10
    )
    assert [(f, r) for f, r, _ in rows] == [("a", 2), ("a", 1)]


def test_family_page_prefix_treats_wildcards_literally(db: Database) -> None:
    for family in ("web_api", "webXapi", "web"):
        add(db, family)
    assert td_store.family_page(db, ACCOUNT, REGION, status="ALL", prefix="web_", after=None, limit=10) == ["web_api"]


def test_a_deleted_revision_stays_while_a_task_still_runs_it(db: Database) -> None:
    doc = add(db, "web", status="DELETE_IN_PROGRESS")
    add_task(db, doc["taskDefinitionArn"], "RUNNING")
    assert td_store.remove_unreferenced(db, ACCOUNT, REGION) == []
    assert td_store.get(db, ACCOUNT, REGION, "web", 1) is not None
    with db.transaction():
        db.execute("UPDATE tasks SET last_status='STOPPED'")
    assert td_store.remove_unreferenced(db, ACCOUNT, REGION) == [doc["taskDefinitionArn"]]
    assert td_store.get(db, ACCOUNT, REGION, "web", 1) is None


def test_a_deleted_revision_stays_while_a_service_deployment_uses_it(db: Database) -> None:
    doc = add(db, "web", status="DELETE_IN_PROGRESS")
    service = {"taskDefinition": "other", "deployments": [{"taskDefinition": doc["taskDefinitionArn"]}]}
    with db.transaction():
        db.execute(
            """INSERT INTO services (account, region, cluster, name, arn, status, doc)
               VALUES (?, ?, 'default', 'svc', 'arn:svc', 'ACTIVE', ?)""",
            (ACCOUNT, REGION, dumps(service)),
        )
    assert td_store.remove_unreferenced(db) == []
    with db.transaction():
        db.execute("UPDATE services SET status='INACTIVE'")
    assert td_store.remove_unreferenced(db) == [doc["taskDefinitionArn"]]


def test_remove_unreferenced_leaves_inactive_revisions_alone(db: Database) -> None:
    add(db, "web", status="INACTIVE")
    assert td_store.remove_unreferenced(db) == []
