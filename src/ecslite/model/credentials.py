"""Temporary credentials for IAM roles: issued by STS AssumeRole and by the task credentials endpoint.

An issued access key id (``ASIA`` + 16 characters, as STS's) maps, through the store, to the account,
the role and the session it was issued for and to its expiry. ecslite accepts requests signed with
it as coming from that account, and STS GetCallerIdentity answers the assumed role (spec/ecs.md
§9.3, Local model). Signatures are not checked, so the secret key and session token are returned to
the caller but never compared.

This module sits between providers and the store: the STS provider and the credentials endpoint both
issue and look up credentials through it.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import string
from dataclasses import dataclass
from typing import Any

from ecslite.clock import Clock, SystemClock
from ecslite.store import iam as iam_store
from ecslite.store.db import Database

ACCESS_KEY_PREFIX = "ASIA"
MIN_DURATION_SECONDS = 900
MAX_DURATION_SECONDS = 43_200
_KEY_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"
_SYSTEM_CLOCK = SystemClock()


class RoleNotFound(Exception):
    """The role credentials were asked for does not exist in the account."""

    def __init__(self, role_arn: str) -> None:
        super().__init__(role_arn)
        self.role_arn = role_arn


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: float  # epoch seconds
    account: str
    role_arn: str
    role_id: str
    session_name: str

    @property
    def role_name(self) -> str:
        return self.role_arn.rsplit("/", 1)[-1]

    @property
    def assumed_role_id(self) -> str:
        """``<RoleId>:<session>``, the ``UserId`` STS reports for an assumed-role session."""
        return f"{self.role_id}:{self.session_name}"

    @property
    def assumed_role_arn(self) -> str:
        return f"arn:aws:sts::{self.account}:assumed-role/{self.role_name}/{self.session_name}"

    def expired(self, now: float) -> bool:
        return now >= self.expiration

    def endpoint_document(self) -> dict[str, str]:
        """The body the task credentials endpoint serves (spec/ecs.md §9.3), as SDKs read it."""
        expiration = dt.datetime.fromtimestamp(self.expiration, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "RoleArn": self.role_arn,
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "Token": self.session_token,
            "Expiration": expiration,
        }


def new_access_key_id() -> str:
    return ACCESS_KEY_PREFIX + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))


def new_secret_access_key() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def new_session_token() -> str:
    return base64.b64encode(secrets.token_bytes(264)).decode("ascii")


def issue_role_credentials(
    db: Database,
    account: str,
    role_arn: str,
    session_name: str,
    duration: int,
    *,
    region: str | None = None,
    clock: Clock = _SYSTEM_CLOCK,
) -> Credentials:
    """Issue credentials for ``role_arn`` (a role of ``account``) valid for ``duration`` seconds.

    Records the role's last use (``RoleLastUsed``, with ``region`` when given) and forgets credentials
    that expired more than a day ago, in one transaction. Raises :class:`RoleNotFound` when the ARN
    names no role of ``account`` (also when its path differs from the role's), and ``ValueError`` for
    a duration outside 900–43200 seconds.
    Checking the duration against the role's ``MaxSessionDuration`` is the caller's business: STS
    refuses longer sessions, the credentials endpoint chooses its own.
    """
    if not MIN_DURATION_SECONDS <= duration <= MAX_DURATION_SECONDS:
        raise ValueError(f"duration {duration} is outside {MIN_DURATION_SECONDS}-{MAX_DURATION_SECONDS} seconds")
    role = role_for_arn(db, account, role_arn)
    if role is None:
        raise RoleNotFound(role_arn)
    now = clock.now()
    row = iam_store.CredentialsRow(
        access_key_id=new_access_key_id(),
        secret_access_key=new_secret_access_key(),
        session_token=new_session_token(),
        account=account,
        role_arn=str(role["Arn"]),
        role_id=str(role["RoleId"]),
        session_name=session_name,
        issued_at=now,
        expires_at=float(int(now) + duration),
    )
    role["RoleLastUsed"] = {"LastUsedDate": now, **({"Region": region} if region else {})}
    with db.transaction():
        iam_store.purge_credentials(db, now)
        iam_store.put_credentials(db, row)
        iam_store.put_role(db, account, role)
    return _credentials(row)


def role_for_arn(db: Database, account: str, role_arn: str) -> dict[str, Any] | None:
    """The role ``role_arn`` names in ``account``: the ARN must be exactly the role's (path included)."""
    prefix = f"arn:aws:iam::{account}:role/"
    if not role_arn.startswith(prefix):
        return None
    name = role_arn.rsplit("/", 1)[-1]
    role = iam_store.get_role(db, account, name)
    if role is None or str(role["Arn"]).lower() != role_arn.lower():
        return None
    return role


def lookup_credentials(db: Database, access_key_id: str) -> Credentials | None:
    """The credentials issued under ``access_key_id``, expired or not; ``None`` if ecslite never issued it."""
    if not access_key_id.startswith(ACCESS_KEY_PREFIX):
        return None
    row = iam_store.get_credentials(db, access_key_id)
    return _credentials(row) if row else None


def account_for_access_key(db: Database, access_key_id: str) -> str | None:
    """The account of an access key id ecslite issued (the edge's resolver); ``None`` for any other key."""
    found = lookup_credentials(db, access_key_id)
    return found.account if found else None


def _credentials(row: iam_store.CredentialsRow) -> Credentials:
    return Credentials(
        access_key_id=row.access_key_id,
        secret_access_key=row.secret_access_key,
        session_token=row.session_token,
        expiration=row.expires_at,
        account=row.account,
        role_arn=row.role_arn,
        role_id=row.role_id,
        session_name=row.session_name,
    )
