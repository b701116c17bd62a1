"""SSM Parameter Store parameters: one row per (account, region, name) and one per version.

Invariants:
- ``ssm_parameters.version`` is the parameter's latest version; versions are numbered from 1 and
  never reused, even after older ones are dropped (Parameter Store keeps the last 100).
- Each version keeps its metadata (type, description, tier, …) beside its value, as
  GetParameterHistory shows it, and its labels (a label is on at most one version; callers move
  labels, this module only stores them).
- Values are sealed with the store's cipher (``store/secrets.py``) whatever their type, bound to
  their parameter and version; they are opened only when a caller asks for the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecslite.store import tags as tag_store
from ecslite.store.db import Database, dumps, loads
from ecslite.store.secrets import cipher_for

KIND = "ssm-parameter"


@dataclass(frozen=True, slots=True)
class Parameter:
    rid: int
    account: str
    region: str
    name: str
    version: int  # the latest


@dataclass(frozen=True, slots=True)
class ParameterVersion:
    version: int
    labels: list[str]
    doc: dict[str, Any]  # Name, Type, KeyId, LastModifiedDate, LastModifiedUser, Description, Tier, …


def _parameter(row: Any, account: str, region: str) -> Parameter:
    return Parameter(int(row["rid"]), account, region, str(row["name"]), int(row["version"]))


def get(db: Database, account: str, region: str, name: str) -> Parameter | None:
    row = db.query_one(
        "SELECT rid, name, version FROM ssm_parameters WHERE account=? AND region=? AND name=?",
        (account, region, name),
    )
    return _parameter(row, account, region) if row else None


def all_parameters(db: Database, account: str, region: str, prefix: str = "") -> list[Parameter]:
    """Parameters whose name starts with ``prefix``, ordered by name."""
    rows = db.query(
        """SELECT rid, name, version FROM ssm_parameters WHERE account=? AND region=? AND substr(name, 1, ?) = ?
           ORDER BY name""",
        (account, region, len(prefix), prefix),
    )
    return [_parameter(r, account, region) for r in rows]


def versions(db: Database, parameter: Parameter) -> list[ParameterVersion]:
    """Every kept version, oldest first."""
    rows = db.query(
        "SELECT version, labels, doc FROM ssm_parameter_versions WHERE parameter_rid=? ORDER BY version",
        (parameter.rid,),
    )
    return [ParameterVersion(int(r["version"]), loads(r["labels"]), loads(r["doc"])) for r in rows]


def version(db: Database, parameter: Parameter, number: int) -> ParameterVersion | None:
    row = db.query_one(
        "SELECT version, labels, doc FROM ssm_parameter_versions WHERE parameter_rid=? AND version=?",
        (parameter.rid, number),
    )
    return ParameterVersion(int(row["version"]), loads(row["labels"]), loads(row["doc"])) if row else None


def sealed_value(db: Database, parameter: Parameter, number: int) -> bytes:
    """The value as stored: nonce and ciphertext (what a SecureString shows without decryption)."""
    row = db.query_one(
        "SELECT value FROM ssm_parameter_versions WHERE parameter_rid=? AND version=?", (parameter.rid, number)
    )
    if row is None:
        raise LookupError(f"{parameter.name}:{number}")
    return bytes(row["value"])


def value_of(db: Database, parameter: Parameter, number: int) -> str:
    context = _context(parameter.account, parameter.region, parameter.name, number)
    return cipher_for(db).open(sealed_value(db, parameter, number), context).decode("utf-8")


def put_version(
    db: Database, account: str, region: str, name: str, number: int, doc: dict[str, Any], value: str, arn: str
) -> Parameter:
    """Record version ``number`` of ``name`` (creating the parameter for version 1) and make it the latest."""
    db.execute(
        """INSERT INTO ssm_parameters (account, region, name, version) VALUES (?, ?, ?, ?)
           ON CONFLICT (account, region, name) DO UPDATE SET version=excluded.version""",
        (account, region, name, number),
    )
    parameter = get(db, account, region, name)
    assert parameter is not None
    sealed = cipher_for(db).seal(value.encode("utf-8"), _context(account, region, name, number))
    db.execute(
        "INSERT INTO ssm_parameter_versions (parameter_rid, version, labels, value, doc) VALUES (?, ?, '[]', ?, ?)",
        (parameter.rid, number, sealed, dumps(doc)),
    )
    db.changed(KIND, arn)
    return parameter


def drop_version(db: Database, parameter: Parameter, number: int) -> None:
    db.execute("DELETE FROM ssm_parameter_versions WHERE parameter_rid=? AND version=?", (parameter.rid, number))


def set_labels(db: Database, parameter: Parameter, number: int, labels: list[str]) -> None:
    db.execute(
        "UPDATE ssm_parameter_versions SET labels=? WHERE parameter_rid=? AND version=?",
        (dumps(labels), parameter.rid, number),
    )


def delete(db: Database, parameter: Parameter, arn: str) -> None:
    """Delete a parameter with all its versions and its tags."""
    db.execute("DELETE FROM ssm_parameters WHERE rid=?", (parameter.rid,))
    tag_store.remove(db, arn, [k for k, _ in tag_store.get(db, arn)])
    db.changed(KIND, arn)


def _context(account: str, region: str, name: str, number: int) -> str:
    return f"ssm:{account}:{region}:{name}:{number}"
