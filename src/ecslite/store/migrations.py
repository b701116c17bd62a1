"""Versioned schema migrations. Append only: a released migration is never edited.

Migration N brings the file to ``PRAGMA user_version = N``. Each resource table has an
autoincrement ``rid`` (creation order, the sort key behind list pagination, never reused), the
partition columns ``account`` and ``region``, a few indexed lookup columns, and ``doc``: the
resource as the API shows it, in JSON.
"""

from __future__ import annotations

_V1 = [
    """CREATE TABLE clusters (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
        arn TEXT NOT NULL, status TEXT NOT NULL, doc TEXT NOT NULL,
        UNIQUE (account, region, name))""",
    """CREATE TABLE task_definition_families (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, family TEXT NOT NULL,
        last_revision INTEGER NOT NULL,
        UNIQUE (account, region, family))""",
    """CREATE TABLE task_definitions (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, family TEXT NOT NULL, revision INTEGER NOT NULL,
        arn TEXT NOT NULL, status TEXT NOT NULL, doc TEXT NOT NULL,
        UNIQUE (account, region, family, revision))""",
    "CREATE INDEX task_definitions_status ON task_definitions (account, region, status, family, revision)",
    """CREATE TABLE tasks (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, cluster TEXT NOT NULL, id TEXT NOT NULL,
        arn TEXT NOT NULL, desired_status TEXT NOT NULL, last_status TEXT NOT NULL,
        family TEXT NOT NULL, started_by TEXT, service_name TEXT, launch_type TEXT,
        container_instance TEXT, stopped_at REAL, doc TEXT NOT NULL,
        UNIQUE (account, region, cluster, id))""",
    "CREATE INDEX tasks_by_desired ON tasks (account, region, cluster, desired_status)",
    "CREATE INDEX tasks_by_id ON tasks (id)",
    "CREATE INDEX tasks_live ON tasks (last_status) WHERE last_status != 'STOPPED'",
    """CREATE TABLE container_instances (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, cluster TEXT NOT NULL, id TEXT NOT NULL,
        arn TEXT NOT NULL, status TEXT NOT NULL, ec2_instance_id TEXT, doc TEXT NOT NULL,
        UNIQUE (account, region, cluster, id))""",
    "CREATE INDEX container_instances_by_id ON container_instances (id)",
    """CREATE TABLE capacity_providers (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
        arn TEXT NOT NULL, status TEXT NOT NULL, doc TEXT NOT NULL,
        UNIQUE (account, region, name))""",
    """CREATE TABLE account_settings (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, principal TEXT NOT NULL,
        name TEXT NOT NULL, value TEXT NOT NULL,
        UNIQUE (account, region, principal, name))""",
    """CREATE TABLE tags (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        resource_arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        UNIQUE (resource_arn, key))""",
    """CREATE TABLE attributes (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, cluster TEXT NOT NULL,
        target_type TEXT NOT NULL, target_id TEXT NOT NULL, name TEXT NOT NULL, value TEXT,
        UNIQUE (account, region, cluster, target_type, target_id, name))""",
    """CREATE TABLE partitions (
        account TEXT NOT NULL, region TEXT NOT NULL, initialized_at REAL NOT NULL,
        PRIMARY KEY (account, region))""",
    """CREATE TABLE services (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, cluster TEXT NOT NULL, name TEXT NOT NULL,
        arn TEXT NOT NULL, status TEXT NOT NULL, doc TEXT NOT NULL)""",
    "CREATE INDEX services_by_name ON services (account, region, cluster, name, status)",
    """CREATE TABLE idempotency_tokens (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL, region TEXT NOT NULL, operation TEXT NOT NULL, token TEXT NOT NULL,
        request_hash TEXT NOT NULL, response TEXT NOT NULL, created_at REAL NOT NULL,
        UNIQUE (account, region, operation, token))""",
]

MIGRATIONS: list[list[str]] = [_V1]
