"""IAM roles, their inline and attached policies, and the temporary credentials STS issues for them.

IAM is global: rows are partitioned by account only. Role names are unique per account without
regard to case (``name_key`` is the lower-cased name) and keep the case they were created with.
A role's policies and attachments reference its row and go with it. Issued credentials are keyed by
their access key id and kept until a day after they expire, so a caller with stale credentials is
told they expired rather than that they never existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecslite.store.db import Database, dumps, loads

KIND_ROLE = "iam-role"
KIND_CREDENTIALS = "sts-credentials"
EXPIRED_CREDENTIALS_KEPT_SECONDS = 86_400.0


def name_key(name: str) -> str:
    return name.lower()


# -- roles --------------------------------------------------------------------------------------------


def get_role(db: Database, account: str, name: str) -> dict[str, Any] | None:
    row = db.query_one("SELECT doc FROM iam_roles WHERE account=? AND name_key=?", (account, name_key(name)))
    return loads(row["doc"]) if row else None


def put_role(db: Database, account: str, doc: dict[str, Any]) -> None:
    """Insert or replace a role; a replaced role keeps its row, and with it its policies."""
    db.execute(
        """INSERT INTO iam_roles (account, name, name_key, path, arn, role_id, doc) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (account, name_key) DO UPDATE SET name=excluded.name, path=excluded.path,
           arn=excluded.arn, role_id=excluded.role_id, doc=excluded.doc""",
        (account, doc["RoleName"], name_key(doc["RoleName"]), doc["Path"], doc["Arn"], doc["RoleId"], dumps(doc)),
    )
    db.changed(KIND_ROLE, doc["Arn"])


def delete_role(db: Database, account: str, name: str) -> None:
    row = db.query_one("SELECT arn FROM iam_roles WHERE account=? AND name_key=?", (account, name_key(name)))
    if row is None:
        return
    db.execute("DELETE FROM iam_roles WHERE account=? AND name_key=?", (account, name_key(name)))
    db.changed(KIND_ROLE, str(row["arn"]))


def count_roles(db: Database, account: str) -> int:
    row = db.query_one("SELECT COUNT(*) AS n FROM iam_roles WHERE account=?", (account,))
    return int(row["n"]) if row else 0


def list_roles(db: Database, account: str, path_prefix: str, after: str | None, limit: int) -> list[dict[str, Any]]:
    """Roles whose path starts with ``path_prefix``, ordered by lower-cased name, after ``after``."""
    rows = db.query(
        """SELECT doc FROM iam_roles WHERE account=? AND substr(path, 1, ?) = ? AND name_key > ?
           ORDER BY name_key LIMIT ?""",
        (account, len(path_prefix), path_prefix, after or "", limit),
    )
    return [loads(r["doc"]) for r in rows]


def _role_rid(db: Database, account: str, name: str) -> int | None:
    row = db.query_one("SELECT rid FROM iam_roles WHERE account=? AND name_key=?", (account, name_key(name)))
    return int(row["rid"]) if row else None


# -- inline policies ----------------------------------------------------------------------------------


def role_policies(db: Database, account: str, role: str) -> dict[str, str]:
    """The role's inline policies, name → document as submitted, ordered by name."""
    rows = db.query(
        """SELECT p.name, p.document FROM iam_role_policies p JOIN iam_roles r ON p.role_rid = r.rid
           WHERE r.account=? AND r.name_key=? ORDER BY p.name""",
        (account, name_key(role)),
    )
    return {str(r["name"]): str(r["document"]) for r in rows}


def put_role_policy(db: Database, account: str, role: str, name: str, document: str) -> None:
    rid = _role_rid(db, account, role)
    if rid is None:
        raise LookupError(role)
    db.execute(
        """INSERT INTO iam_role_policies (role_rid, name, document) VALUES (?, ?, ?)
           ON CONFLICT (role_rid, name) DO UPDATE SET document=excluded.document""",
        (rid, name, document),
    )


def delete_role_policy(db: Database, account: str, role: str, name: str) -> None:
    rid = _role_rid(db, account, role)
    if rid is not None:
        db.execute("DELETE FROM iam_role_policies WHERE role_rid=? AND name=?", (rid, name))


# -- attached managed policies ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attachment:
    policy_arn: str
    policy_name: str
    policy_path: str


def attachments(db: Database, account: str, role: str) -> list[Attachment]:
    """The managed policies attached to the role, in the order they were attached."""
    rows = db.query(
        """SELECT a.policy_arn, a.policy_name, a.policy_path FROM iam_role_attachments a
           JOIN iam_roles r ON a.role_rid = r.rid WHERE r.account=? AND r.name_key=? ORDER BY a.rid""",
        (account, name_key(role)),
    )
    return [Attachment(str(r["policy_arn"]), str(r["policy_name"]), str(r["policy_path"])) for r in rows]


def attach(db: Database, account: str, role: str, attachment: Attachment) -> None:
    rid = _role_rid(db, account, role)
    if rid is None:
        raise LookupError(role)
    db.execute(
        """INSERT OR IGNORE INTO iam_role_attachments (role_rid, policy_arn, policy_name, policy_path)
           VALUES (?, ?, ?, ?)""",
        (rid, attachment.policy_arn, attachment.policy_name, attachment.policy_path),
    )


def detach(db: Database, account: str, role: str, policy_arn: str) -> None:
    rid = _role_rid(db, account, role)
    if rid is not None:
        db.execute("DELETE FROM iam_role_attachments WHERE role_rid=? AND policy_arn=?", (rid, policy_arn))


# -- customer managed policies ------------------------------------------------------------------------

KIND_POLICY = "iam-policy"


def get_policy(db: Database, arn: str) -> dict[str, Any] | None:
    """A customer managed policy by ARN: its view fields and ``Versions`` (id, document, date)."""
    row = db.query_one("SELECT doc FROM iam_policies WHERE arn=?", (arn,))
    return loads(row["doc"]) if row else None


def policy_by_name(db: Database, account: str, name: str) -> dict[str, Any] | None:
    row = db.query_one("SELECT doc FROM iam_policies WHERE account=? AND name_key=?", (account, name_key(name)))
    return loads(row["doc"]) if row else None


def put_policy(db: Database, account: str, doc: dict[str, Any]) -> None:
    db.execute(
        """INSERT INTO iam_policies (account, name_key, path, arn, doc) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (arn) DO UPDATE SET doc=excluded.doc""",
        (account, name_key(doc["PolicyName"]), doc["Path"], doc["Arn"], dumps(doc)),
    )
    db.changed(KIND_POLICY, doc["Arn"])


def delete_policy(db: Database, arn: str) -> None:
    db.execute("DELETE FROM iam_policies WHERE arn=?", (arn,))
    db.changed(KIND_POLICY, arn)


def list_policies(db: Database, account: str) -> list[dict[str, Any]]:
    """The account's customer managed policies, ordered by lower-cased name."""
    rows = db.query("SELECT doc FROM iam_policies WHERE account=? ORDER BY name_key", (account,))
    return [loads(r["doc"]) for r in rows]


def attachment_count(db: Database, account: str, policy_arn: str) -> int:
    """How many of the account's roles have ``policy_arn`` attached (IAM's ``AttachmentCount``)."""
    row = db.query_one(
        """SELECT COUNT(*) AS n FROM iam_role_attachments a JOIN iam_roles r ON a.role_rid = r.rid
           WHERE r.account=? AND a.policy_arn=?""",
        (account, policy_arn),
    )
    return int(row["n"]) if row else 0


# -- issued credentials -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CredentialsRow:
    access_key_id: str
    secret_access_key: str
    session_token: str
    account: str
    role_arn: str
    role_id: str
    session_name: str
    issued_at: float
    expires_at: float


def put_credentials(db: Database, row: CredentialsRow) -> None:
    db.execute(
        """INSERT INTO sts_credentials (access_key_id, account, role_arn, role_id, session_name,
           secret_access_key, session_token, issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            row.access_key_id,
            row.account,
            row.role_arn,
            row.role_id,
            row.session_name,
            row.secret_access_key,
            row.session_token,
            row.issued_at,
            row.expires_at,
        ),
    )
    db.changed(KIND_CREDENTIALS, row.access_key_id)


def get_credentials(db: Database, access_key_id: str) -> CredentialsRow | None:
    row = db.query_one(
        """SELECT access_key_id, secret_access_key, session_token, account, role_arn, role_id, session_name,
           issued_at, expires_at FROM sts_credentials WHERE access_key_id=?""",
        (access_key_id,),
    )
    if row is None:
        return None
    return CredentialsRow(
        str(row["access_key_id"]),
        str(row["secret_access_key"]),
        str(row["session_token"]),
        str(row["account"]),
        str(row["role_arn"]),
        str(row["role_id"]),
        str(row["session_name"]),
        float(row["issued_at"]),
        float(row["expires_at"]),
    )


def purge_credentials(db: Database, now: float) -> None:
    """Forget credentials that expired more than a day ago."""
    db.execute("DELETE FROM sts_credentials WHERE expires_at < ?", (now - EXPIRED_CREDENTIALS_KEPT_SECONDS,))
