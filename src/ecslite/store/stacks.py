"""CloudFormation's stacks, their resources and events, and change sets.

- A stack row is keyed by its stack id (the ARN); ``name`` finds the live stack of a partition, the
  one whose status is not ``DELETE_COMPLETE`` (deleted stacks stay, found by id and by ListStacks).
- The stack's ``doc`` is what DescribeStacks shows plus ecslite's own members (``_``-prefixed): the
  template body, the resolved parameter values, the given parameters, the previous template and values
  during an update (``_previous``), and the exports the stack imports (``_imports``).
- A resource's ``doc`` is DescribeStackResource's fields plus ``_props`` (the resolved properties it
  was last made or changed with), ``_attributes`` (what ``Fn::GetAtt`` reads), ``_deps`` (the logical
  ids it needs, so a later delete or cleanup takes things down in reverse order), ``_old`` (the
  physical resource a replacement left for the cleanup phase) and ``_undo`` (what an update changed,
  so its rollback can put it back, also after a restart).
- Events are appended in order; DescribeStackEvents shows them newest first.
- Every write records a ``stack`` change keyed by the stack id.
"""

from __future__ import annotations

from typing import Any

from ecslite.store.db import Database, dumps, loads

KIND = "stack"
Doc = dict[str, Any]
DELETED = "DELETE_COMPLETE"


# -- stacks ------------------------------------------------------------------------------------------


def put_stack(db: Database, account: str, region: str, doc: Doc) -> None:
    db.execute(
        """INSERT INTO cfn_stacks (account, region, stack_id, name, status, doc) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (stack_id) DO UPDATE SET status=excluded.status, doc=excluded.doc""",
        (account, region, doc["StackId"], doc["StackName"], doc["StackStatus"], dumps(doc)),
    )
    db.changed(KIND, doc["StackId"])


def get_stack(db: Database, stack_id: str) -> Doc | None:
    row = db.query_one("SELECT doc FROM cfn_stacks WHERE stack_id=?", (stack_id,))
    return loads(row["doc"]) if row else None


def live_by_name(db: Database, account: str, region: str, name: str) -> Doc | None:
    row = db.query_one(
        "SELECT doc FROM cfn_stacks WHERE account=? AND region=? AND name=? AND status!=? ORDER BY rid DESC",
        (account, region, name, DELETED),
    )
    return loads(row["doc"]) if row else None


def find(db: Database, account: str, region: str, name_or_id: str) -> Doc | None:
    """A stack by name (the live one) or by id (also a deleted one), within the partition."""
    if name_or_id.startswith("arn:"):
        row = db.query_one(
            "SELECT doc FROM cfn_stacks WHERE account=? AND region=? AND stack_id=?", (account, region, name_or_id)
        )
        return loads(row["doc"]) if row else None
    return live_by_name(db, account, region, name_or_id)


def list_stacks(db: Database, account: str, region: str, *, live_only: bool) -> list[Doc]:
    """Stacks newest first (as CloudFormation lists them)."""
    sql = "SELECT doc FROM cfn_stacks WHERE account=? AND region=?"
    args: list[Any] = [account, region]
    if live_only:
        sql += " AND status!=?"
        args.append(DELETED)
    return [loads(r["doc"]) for r in db.query(sql + " ORDER BY rid DESC", args)]


def in_progress(db: Database) -> list[tuple[str, str, Doc]]:
    """Every stack of every partition whose status ends in ``_IN_PROGRESS`` (REVIEW_IN_PROGRESS aside)."""
    rows = db.query(
        "SELECT account, region, doc FROM cfn_stacks WHERE status LIKE '%_IN_PROGRESS' AND status!=? ORDER BY rid",
        ("REVIEW_IN_PROGRESS",),
    )
    return [(r["account"], r["region"], loads(r["doc"])) for r in rows]


# -- resources ---------------------------------------------------------------------------------------


def put_resource(db: Database, stack_id: str, doc: Doc) -> None:
    db.execute(
        """INSERT INTO cfn_resources (stack_id, logical_id, doc) VALUES (?, ?, ?)
            ON CONFLICT (stack_id, logical_id) DO UPDATE SET doc=excluded.doc""",
        (stack_id, doc["LogicalResourceId"], dumps(doc)),
    )
    db.changed(KIND, stack_id)


def get_resource(db: Database, stack_id: str, logical_id: str) -> Doc | None:
    row = db.query_one("SELECT doc FROM cfn_resources WHERE stack_id=? AND logical_id=?", (stack_id, logical_id))
    return loads(row["doc"]) if row else None


def resources(db: Database, stack_id: str) -> list[Doc]:
    """The stack's resources in the order they were first recorded."""
    return [
        loads(r["doc"]) for r in db.query("SELECT doc FROM cfn_resources WHERE stack_id=? ORDER BY rid", (stack_id,))
    ]


def delete_resource(db: Database, stack_id: str, logical_id: str) -> None:
    db.execute("DELETE FROM cfn_resources WHERE stack_id=? AND logical_id=?", (stack_id, logical_id))
    db.changed(KIND, stack_id)


def by_physical_id(db: Database, account: str, region: str, physical_id: str) -> tuple[Doc, Doc] | None:
    """The live stack and resource a physical id belongs to (DescribeStackResources' PhysicalResourceId)."""
    rows = db.query(
        """SELECT s.doc AS stack, r.doc AS resource FROM cfn_resources r JOIN cfn_stacks s ON s.stack_id=r.stack_id
            WHERE s.account=? AND s.region=? AND s.status!=? ORDER BY r.rid""",
        (account, region, DELETED),
    )
    for row in rows:
        resource = loads(row["resource"])
        if resource.get("PhysicalResourceId") == physical_id:
            return loads(row["stack"]), resource
    return None


# -- events ------------------------------------------------------------------------------------------


def add_event(db: Database, stack_id: str, doc: Doc) -> None:
    db.execute("INSERT INTO cfn_events (stack_id, doc) VALUES (?, ?)", (stack_id, dumps(doc)))
    db.changed(KIND, stack_id)


def events(db: Database, stack_id: str) -> list[Doc]:
    """The stack's events, newest first."""
    rows = db.query("SELECT doc FROM cfn_events WHERE stack_id=? ORDER BY rid DESC", (stack_id,))
    return [loads(r["doc"]) for r in rows]


# -- change sets -------------------------------------------------------------------------------------


def put_change_set(db: Database, account: str, region: str, doc: Doc) -> None:
    db.execute(
        """INSERT INTO cfn_change_sets (account, region, arn, stack_id, name, doc) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (arn) DO UPDATE SET doc=excluded.doc""",
        (account, region, doc["ChangeSetId"], doc["StackId"], doc["ChangeSetName"], dumps(doc)),
    )
    db.changed(KIND, doc["StackId"])


def get_change_set(db: Database, arn: str) -> Doc | None:
    row = db.query_one("SELECT doc FROM cfn_change_sets WHERE arn=?", (arn,))
    return loads(row["doc"]) if row else None


def change_set_by_name(db: Database, stack_id: str, name: str) -> Doc | None:
    row = db.query_one("SELECT doc FROM cfn_change_sets WHERE stack_id=? AND name=?", (stack_id, name))
    return loads(row["doc"]) if row else None


def change_sets(db: Database, stack_id: str) -> list[Doc]:
    return [
        loads(r["doc"]) for r in db.query("SELECT doc FROM cfn_change_sets WHERE stack_id=? ORDER BY rid", (stack_id,))
    ]


def delete_change_set(db: Database, arn: str) -> None:
    row = db.query_one("SELECT stack_id FROM cfn_change_sets WHERE arn=?", (arn,))
    if row is not None:
        db.execute("DELETE FROM cfn_change_sets WHERE arn=?", (arn,))
        db.changed(KIND, row["stack_id"])


def delete_change_sets(db: Database, stack_id: str) -> None:
    db.execute("DELETE FROM cfn_change_sets WHERE stack_id=?", (stack_id,))
    db.changed(KIND, stack_id)
