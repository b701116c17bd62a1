"""Tables and helpers every signal's segment shares: resources and scopes stored once (§2.1, §8.3).

Resources are keyed by :attr:`Resource.key` (a hash of the sorted attributes); the writer caches
hash → id per segment, readers cache id → :class:`Resource` per segment. Both caches are safe
because a stored resource never changes.

``writer_state.token`` is written by every commit of a writer process in the same transaction as
its rows, so after the process dies mid-commit the store can tell whether that commit happened
(:mod:`ecslite.telemetry.store.writer`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import msgpack

from ecslite.telemetry.attributes import attributes_from_msgpack, attributes_to_msgpack
from ecslite.telemetry.model import AttrValue, Resource, Scope
from ecslite.telemetry.store.segments import Segment

RESOURCES_DDL = (
    """CREATE TABLE resources (id INTEGER PRIMARY KEY, hash BLOB UNIQUE NOT NULL, service TEXT NOT NULL,
       task_arn TEXT, container TEXT, attrs BLOB NOT NULL, dropped INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX resources_by_service ON resources (service)",
    """CREATE TABLE scopes (id INTEGER PRIMARY KEY, hash BLOB UNIQUE NOT NULL, name TEXT NOT NULL,
       version TEXT NOT NULL, attrs BLOB NOT NULL)""",
)


WRITER_STATE_DDL = (
    "CREATE TABLE writer_state (id INTEGER PRIMARY KEY CHECK (id = 1), token INTEGER NOT NULL)",
    "INSERT INTO writer_state (id, token) VALUES (1, 0)",
)


def pack_attributes(attributes: dict[str, AttrValue] | Any) -> bytes:
    packed: bytes = msgpack.packb(attributes_to_msgpack(attributes), use_bin_type=True)
    return packed


def unpack_attributes(blob: bytes) -> dict[str, AttrValue]:
    return attributes_from_msgpack(msgpack.unpackb(blob, raw=False))


def resource_id(conn: sqlite3.Connection, segment: Segment, resource: Resource) -> int:
    cache = segment.cache.setdefault("resources", {})
    key = resource.key
    found = cache.get(key)
    if found is not None:
        return int(found)
    row = conn.execute("SELECT id FROM resources WHERE hash=?", (key,)).fetchone()
    if row is None:
        cursor = conn.execute(
            "INSERT INTO resources (hash, service, task_arn, container, attrs, dropped) VALUES (?, ?, ?, ?, ?, ?)",
            (
                key,
                resource.service_name,
                resource.get_str("aws.ecs.task.arn"),
                resource.get_str("container.name"),
                pack_attributes(resource.attributes),
                resource.dropped_attributes_count,
            ),
        )
        rid = int(cursor.lastrowid or 0)
    else:
        rid = int(row[0])
    cache[key] = rid
    return rid


def scope_id(conn: sqlite3.Connection, segment: Segment, scope: Scope) -> int:
    cache = segment.cache.setdefault("scopes", {})
    key = scope.key
    found = cache.get(key)
    if found is not None:
        return int(found)
    row = conn.execute("SELECT id FROM scopes WHERE hash=?", (key,)).fetchone()
    if row is None:
        cursor = conn.execute(
            "INSERT INTO scopes (hash, name, version, attrs) VALUES (?, ?, ?, ?)",
            (key, scope.name, scope.version, pack_attributes(scope.attributes)),
        )
        sid = int(cursor.lastrowid or 0)
    else:
        sid = int(row[0])
    cache[key] = sid
    return sid


def load_resource(conn: sqlite3.Connection, segment: Segment, rid: int) -> Resource:
    cache: dict[int, Resource] = segment.cache.setdefault("reader_resources", {})
    found = cache.get(rid)
    if found is None:
        row = conn.execute("SELECT attrs, dropped FROM resources WHERE id=?", (rid,)).fetchone()
        found = Resource(unpack_attributes(row[0]), row[1]) if row else Resource()
        cache[rid] = found
    return found


def load_scope(conn: sqlite3.Connection, segment: Segment, sid: int) -> Scope:
    cache: dict[int, Scope] = segment.cache.setdefault("reader_scopes", {})
    found = cache.get(sid)
    if found is None:
        row = conn.execute("SELECT name, version, attrs FROM scopes WHERE id=?", (sid,)).fetchone()
        found = Scope(row[0], row[1], unpack_attributes(row[2])) if row else Scope()
        cache[sid] = found
    return found
