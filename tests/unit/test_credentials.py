"""Issuing, looking up and expiring temporary role credentials (model/credentials.py)."""

from __future__ import annotations

from typing import Any

import pytest

from ecslite.clock import FakeClock
from ecslite.model import credentials as creds
from ecslite.providers.base import RequestContext
from ecslite.providers.sts.errors import ExpiredToken
from ecslite.providers.sts.provider import StsProvider
from ecslite.store import iam as iam_store
from ecslite.store.db import Database

ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/app/taskRole"


@pytest.fixture
def db() -> Database:
    database = Database(None)
    with database.transaction():
        iam_store.put_role(
            database,
            ACCOUNT,
            {
                "Path": "/app/",
                "RoleName": "taskRole",
                "RoleId": "AROAEXAMPLEEXAMPLE123",
                "Arn": ROLE_ARN,
                "CreateDate": 1_700_000_000.0,
                "AssumeRolePolicyDocument": "{}",
                "MaxSessionDuration": 3600,
            },
        )
    return database


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_750_000_000.0)


def issue(db: Database, clock: FakeClock, duration: int = 3600, **kwargs: Any) -> creds.Credentials:
    return creds.issue_role_credentials(db, ACCOUNT, ROLE_ARN, "session-1", duration, clock=clock, **kwargs)


def test_issued_credentials_name_the_role_session_and_expiry(db: Database, clock: FakeClock) -> None:
    issued = issue(db, clock, 900)
    assert issued.access_key_id.startswith("ASIA") and len(issued.access_key_id) == 20
    assert set(issued.access_key_id[4:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert len(issued.secret_access_key) == 40
    assert issued.expiration == 1_750_000_900.0
    assert issued.role_arn == ROLE_ARN and issued.account == ACCOUNT
    assert issued.assumed_role_id == "AROAEXAMPLEEXAMPLE123:session-1"
    assert issued.assumed_role_arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/taskRole/session-1"


def test_lookup_returns_what_was_issued(db: Database, clock: FakeClock) -> None:
    issued = issue(db, clock)
    assert creds.lookup_credentials(db, issued.access_key_id) == issued
    assert creds.account_for_access_key(db, issued.access_key_id) == ACCOUNT


def test_keys_ecslite_never_issued_are_unknown(db: Database) -> None:
    assert creds.lookup_credentials(db, "ASIAAAAAAAAAAAAAAAAA") is None
    assert creds.account_for_access_key(db, "AKIAIOSFODNN7EXAMPLE") is None
    assert creds.account_for_access_key(db, "test") is None


def test_every_issue_makes_new_keys(db: Database, clock: FakeClock) -> None:
    issued = [issue(db, clock) for _ in range(40)]
    assert len({c.access_key_id for c in issued}) == 40
    assert len({c.secret_access_key for c in issued}) == 40
    assert len({c.session_token for c in issued}) == 40


def test_credentials_expire_at_their_expiration(db: Database, clock: FakeClock) -> None:
    issued = issue(db, clock, 1800)
    assert not issued.expired(clock.now() + 1799.9)
    assert issued.expired(clock.now() + 1800)


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws:iam::{ACCOUNT}:role/nope",
        f"arn:aws:iam::{ACCOUNT}:role/taskRole",  # the role's path is /app/
        f"arn:aws:iam::{ACCOUNT}:role/other/taskRole",
        "arn:aws:iam::999999999999:role/app/taskRole",
        f"arn:aws:iam::{ACCOUNT}:user/app/taskRole",
    ],
)
def test_credentials_for_a_role_that_does_not_exist_are_refused(db: Database, clock: FakeClock, arn: str) -> None:
    with pytest.raises(creds.RoleNotFound) as caught:
        creds.issue_role_credentials(db, ACCOUNT, arn, "s1", 3600, clock=clock)
    assert caught.value.role_arn == arn
    assert db.query_one("SELECT COUNT(*) AS n FROM sts_credentials")["n"] == 0  # type: ignore[index]


@pytest.mark.parametrize("duration", [899, 43201, 0, -5])
def test_duration_outside_sts_bounds_is_refused(db: Database, clock: FakeClock, duration: int) -> None:
    with pytest.raises(ValueError, match="outside 900-43200"):
        issue(db, clock, duration)


def test_issuing_records_the_roles_last_use(db: Database, clock: FakeClock) -> None:
    issue(db, clock, region="ap-northeast-1")
    role = iam_store.get_role(db, ACCOUNT, "taskRole")
    assert role is not None
    assert role["RoleLastUsed"] == {"LastUsedDate": 1_750_000_000.0, "Region": "ap-northeast-1"}


def test_expired_credentials_are_kept_a_day_then_forgotten(db: Database, clock: FakeClock) -> None:
    old = issue(db, clock, 900)
    clock.advance(900 + iam_store.EXPIRED_CREDENTIALS_KEPT_SECONDS - 1)
    issue(db, clock)
    assert creds.lookup_credentials(db, old.access_key_id) is not None  # expired, but still recognised
    clock.advance(2)
    issue(db, clock)
    assert creds.lookup_credentials(db, old.access_key_id) is None


def test_caller_identity_with_expired_credentials_is_expired_token(db: Database, clock: FakeClock) -> None:
    sts = StsProvider(db, clock)
    issued = issue(db, clock, 900)
    ctx = RequestContext(ACCOUNT, "us-east-1", "req", "sts", "GetCallerIdentity", access_key=issued.access_key_id)
    assert sts.get_caller_identity(ctx, {})["Arn"] == issued.assumed_role_arn
    clock.advance(900)
    with pytest.raises(ExpiredToken) as caught:
        sts.get_caller_identity(ctx, {})
    assert (caught.value.code, caught.value.message) == (
        "ExpiredToken",
        "The security token included in the request is expired",
    )


def test_endpoint_document_is_what_sdks_read_from_the_credentials_endpoint(db: Database, clock: FakeClock) -> None:
    issued = issue(db, clock, 3600)
    assert issued.endpoint_document() == {
        "RoleArn": ROLE_ARN,
        "AccessKeyId": issued.access_key_id,
        "SecretAccessKey": issued.secret_access_key,
        "Token": issued.session_token,
        "Expiration": "2025-06-15T16:06:40Z",
    }
