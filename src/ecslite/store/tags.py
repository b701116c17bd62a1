"""Tags of any resource, keyed by its ARN (which already carries account and region)."""

from __future__ import annotations

from collections.abc import Iterable

from ecslite.store.db import Database


def get(db: Database, arn: str) -> list[tuple[str, str]]:
    rows = db.query("SELECT key, value FROM tags WHERE resource_arn=? ORDER BY rid", (arn,))
    return [(r["key"], r["value"]) for r in rows]


def put(db: Database, arn: str, tags: Iterable[tuple[str, str]]) -> None:
    for key, value in tags:
        db.execute(
            """INSERT INTO tags (resource_arn, key, value) VALUES (?, ?, ?)
               ON CONFLICT (resource_arn, key) DO UPDATE SET value=excluded.value""",
            (arn, key, value),
        )


def remove(db: Database, arn: str, keys: Iterable[str]) -> None:
    for key in keys:
        db.execute("DELETE FROM tags WHERE resource_arn=? AND key=?", (arn, key))


def count_after(db: Database, arn: str, adding: Iterable[str]) -> int:
    """How many tags ``arn`` would have after adding the keys in ``adding``.

    Tags whose key starts with ``aws:`` (ECS managed tags) do not count towards the limit.
    """
    existing = {key for key, _ in get(db, arn) if not key.lower().startswith("aws:")}
    return len(existing | set(adding))
