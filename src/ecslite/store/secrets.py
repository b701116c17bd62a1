"""Secrets Manager secrets and their versions, and the cipher that keeps secret values encrypted at rest.

Invariants:
- Every stored secret value (and every SSM parameter value, see ``store/parameters.py``) is sealed
  with AES-256-GCM under one key per data directory (``secrets.key`` beside ``state.db``, mode
  0600), bound to the row it belongs to, so a copied database file without its key reveals nothing
  and a value moved to another row fails to open. An in-memory store uses a key that lives as long
  as the process, as its data does.
- A secret is one row per (account, region, name) with a unique ARN. A secret scheduled for
  deletion keeps its row (``deleted_at``) until ``purge_at``; from then on every lookup treats it as
  gone, and creating a secret of the same name replaces it.
- A version is one row per (secret, version id) with its staging labels; a label is on at most
  one version of a secret (callers move labels, this module only stores them).
"""

from __future__ import annotations

import os
import secrets as random_source
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ecslite.store import tags as tag_store
from ecslite.store.db import Database, dumps, loads

KIND = "secret"
KEY_FILE = "secrets.key"
_NONCE = 12


class CorruptValue(Exception):
    """A sealed value could not be opened: wrong key, or the row was tampered with."""


class ValueCipher:
    """Seals and opens values with AES-256-GCM; ``context`` names the row a value belongs to."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, context: str) -> bytes:
        nonce = random_source.token_bytes(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, context.encode("utf-8"))

    def open(self, sealed: bytes, context: str) -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], context.encode("utf-8"))
        except (InvalidTag, ValueError) as error:
            raise CorruptValue(context) from error


_CIPHERS: weakref.WeakKeyDictionary[Database, ValueCipher] = weakref.WeakKeyDictionary()


def cipher_for(db: Database) -> ValueCipher:
    """The cipher of ``db``'s data directory, creating its key the first time it is needed."""
    found = _CIPHERS.get(db)
    if found is None:
        key = AESGCM.generate_key(bit_length=256) if db.path == ":memory:" else _load_key(Path(db.path).parent)
        found = _CIPHERS[db] = ValueCipher(key)
    return found


def _load_key(directory: Path) -> bytes:
    path = directory / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) != 32:
            raise CorruptValue(f"{path} does not hold a 256-bit key") from None
        return key
    key = AESGCM.generate_key(bit_length=256)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
        out.flush()
        os.fsync(out.fileno())
    return key


# -- secrets ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Secret:
    rid: int
    doc: dict[str, Any]  # ARN, Name, Description, KmsKeyId, CreatedDate, LastChangedDate, DeletedDate, …

    @property
    def arn(self) -> str:
        return str(self.doc["ARN"])

    @property
    def deleted(self) -> bool:
        return self.doc.get("DeletedDate") is not None


def _live(row: Any, now: float) -> Secret | None:
    if row is None or (row["purge_at"] is not None and row["purge_at"] <= now):
        return None
    return Secret(int(row["rid"]), loads(row["doc"]))


def by_name(db: Database, account: str, region: str, name: str, now: float) -> Secret | None:
    row = db.query_one(
        "SELECT rid, purge_at, doc FROM secrets WHERE account=? AND region=? AND name=?", (account, region, name)
    )
    return _live(row, now)


def by_arn(db: Database, account: str, region: str, arn: str, now: float) -> Secret | None:
    row = db.query_one(
        "SELECT rid, purge_at, doc FROM secrets WHERE account=? AND region=? AND arn=?", (account, region, arn)
    )
    return _live(row, now)


def find(db: Database, account: str, region: str, secret_id: str, now: float) -> Secret | None:
    """The secret ``secret_id`` names in the partition: a name, a full ARN, or a partial ARN (the ARN
    without the six random characters Secrets Manager appends). An ARN of another partition names
    nothing here."""
    if not secret_id.startswith("arn:"):
        return by_name(db, account, region, secret_id, now)
    parts = secret_id.split(":", 6)
    if len(parts) != 7 or parts[2] != "secretsmanager" or parts[5] != "secret":
        return None
    if (parts[3], parts[4]) != (region, account):
        return None
    return by_arn(db, account, region, secret_id, now) or by_name(db, account, region, parts[6], now)


def all_secrets(db: Database, account: str, region: str, now: float) -> list[Secret]:
    """Every secret of the partition not yet purged, in creation order."""
    rows = db.query(
        "SELECT rid, purge_at, doc FROM secrets WHERE account=? AND region=? ORDER BY rid", (account, region)
    )
    return [s for s in (_live(r, now) for r in rows) if s is not None]


def create(db: Database, account: str, region: str, doc: dict[str, Any]) -> Secret:
    """Insert a secret, replacing a purged one of the same name."""
    stale = db.query_one(
        "SELECT rid, arn FROM secrets WHERE account=? AND region=? AND name=?", (account, region, doc["Name"])
    )
    if stale is not None:
        remove(db, int(stale["rid"]), str(stale["arn"]))
    cursor = db.execute(
        """INSERT INTO secrets (account, region, name, arn, created_at, deleted_at, purge_at, doc)
           VALUES (?, ?, ?, ?, ?, NULL, NULL, ?)""",
        (account, region, doc["Name"], doc["ARN"], doc["CreatedDate"], dumps(doc)),
    )
    db.changed(KIND, doc["ARN"])
    return Secret(int(cursor.lastrowid or 0), doc)


def update(db: Database, secret: Secret, purge_at: float | None = None) -> None:
    """Write the secret's document back; ``purge_at`` is set while it is scheduled for deletion."""
    db.execute(
        "UPDATE secrets SET doc=?, deleted_at=?, purge_at=? WHERE rid=?",
        (dumps(secret.doc), secret.doc.get("DeletedDate"), purge_at, secret.rid),
    )
    db.changed(KIND, secret.arn)


def remove(db: Database, rid: int, arn: str) -> None:
    """Delete a secret, its versions and its tags for good."""
    db.execute("DELETE FROM secrets WHERE rid=?", (rid,))
    tag_store.remove(db, arn, [k for k, _ in tag_store.get(db, arn)])
    db.changed(KIND, arn)


# -- versions -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Version:
    version_id: str
    stages: list[str]
    created_at: float
    kind: str  # "string" | "binary"


class VersionNotFound(LookupError):
    """No version has the id (``kind`` "VersionId") or carries the staging label ("staging label")."""

    def __init__(self, kind: str, value: str) -> None:
        super().__init__(f"{kind}: {value}")
        self.kind = kind
        self.value = value


class StageNotOnVersion(LookupError):
    """A version id and a staging label were both given, and that version does not carry the label."""


def pick_version(found: list[Version], version_id: str | None, stage: str | None) -> Version:
    """The version GetSecretValue reads: by id (checked against ``stage`` when both are given), else
    the one carrying ``stage`` (``AWSCURRENT`` when neither is given)."""
    if version_id:
        match = next((v for v in found if v.version_id == version_id), None)
        if match is None:
            raise VersionNotFound("VersionId", version_id)
        if stage and stage not in match.stages:
            raise StageNotOnVersion(version_id)
        return match
    label = stage or "AWSCURRENT"
    match = next((v for v in found if label in v.stages), None)
    if match is None:
        raise VersionNotFound("staging label", label)
    return match


def versions(db: Database, secret: Secret) -> list[Version]:
    """The secret's versions, oldest first."""
    rows = db.query(
        "SELECT version_id, stages, created_at, kind FROM secret_versions WHERE secret_rid=? ORDER BY rid",
        (secret.rid,),
    )
    return [Version(str(r["version_id"]), loads(r["stages"]), float(r["created_at"]), str(r["kind"])) for r in rows]


def value_of(db: Database, secret: Secret, version_id: str) -> str | bytes:
    """The decrypted value of one version: ``str`` for SecretString, ``bytes`` for SecretBinary."""
    row = db.query_one(
        "SELECT kind, value FROM secret_versions WHERE secret_rid=? AND version_id=?", (secret.rid, version_id)
    )
    if row is None:
        raise LookupError(version_id)
    plain = cipher_for(db).open(bytes(row["value"]), _context(secret, version_id))
    return plain.decode("utf-8") if row["kind"] == "string" else plain


def add_version(
    db: Database, secret: Secret, version_id: str, stages: list[str], created_at: float, value: str | bytes
) -> None:
    kind = "string" if isinstance(value, str) else "binary"
    plain = value.encode("utf-8") if isinstance(value, str) else value
    db.execute(
        """INSERT INTO secret_versions (secret_rid, version_id, stages, created_at, kind, value)
           VALUES (?, ?, ?, ?, ?, ?)""",
        (
            secret.rid,
            version_id,
            dumps(stages),
            created_at,
            kind,
            cipher_for(db).seal(plain, _context(secret, version_id)),
        ),
    )


def set_stages(db: Database, secret: Secret, version_id: str, stages: list[str]) -> None:
    db.execute(
        "UPDATE secret_versions SET stages=? WHERE secret_rid=? AND version_id=?",
        (dumps(stages), secret.rid, version_id),
    )


def remove_version(db: Database, secret: Secret, version_id: str) -> None:
    db.execute("DELETE FROM secret_versions WHERE secret_rid=? AND version_id=?", (secret.rid, version_id))


def _context(secret: Secret, version_id: str) -> str:
    return f"secretsmanager:{secret.arn}:{version_id}"
