"""STS GetCallerIdentity and AssumeRole, and requests signed with the credentials it issues."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from tests.conftest import CLIENT_CONFIG, REGION, make_client

ACCOUNT = "000000000000"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def error_of(call: Any, **kwargs: Any) -> tuple[str, str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def client_with(service: str, endpoint: str, credentials: dict[str, Any], region: str = REGION) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        config=CLIENT_CONFIG,
    )


def make_role(endpoint: str, name: str = "ecsTaskRole", access_key: str = "test", **kwargs: Any) -> dict[str, Any]:
    iam = make_client("iam", endpoint, access_key=access_key)
    role: dict[str, Any] = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST, **kwargs)["Role"]
    return role


def test_caller_without_issued_credentials_is_the_account_root(sts: Any) -> None:
    identity = sts.get_caller_identity()
    assert (identity["UserId"], identity["Account"], identity["Arn"]) == (
        ACCOUNT,
        ACCOUNT,
        f"arn:aws:iam::{ACCOUNT}:root",
    )


def test_assume_role_issues_temporary_credentials_for_the_role(endpoint: str, sts: Any) -> None:
    role = make_role(endpoint)
    before = dt.datetime.now(dt.UTC)
    result = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="my-session")
    credentials = result["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA") and len(credentials["AccessKeyId"]) == 20
    assert len(credentials["SecretAccessKey"]) == 40
    assert len(credentials["SessionToken"]) > 100
    lifetime = (credentials["Expiration"] - before).total_seconds()
    assert 3590 <= lifetime <= 3601
    assert result["AssumedRoleUser"] == {
        "AssumedRoleId": f"{role['RoleId']}:my-session",
        "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/ecsTaskRole/my-session",
    }


def test_caller_identity_with_issued_credentials_is_the_assumed_role(endpoint: str, sts: Any) -> None:
    role = make_role(endpoint, Path="/service-role/")
    credentials = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="task-1")["Credentials"]
    identity = client_with("sts", endpoint, credentials).get_caller_identity()
    assert identity == {
        "UserId": f"{role['RoleId']}:task-1",
        "Account": ACCOUNT,
        "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/ecsTaskRole/task-1",
        "ResponseMetadata": identity["ResponseMetadata"],
    }


def test_assume_role_records_the_roles_last_use(endpoint: str, sts: Any) -> None:
    role = make_role(endpoint)
    sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1")
    last_used = make_client("iam", endpoint).get_role(RoleName="ecsTaskRole")["Role"]["RoleLastUsed"]
    assert last_used["Region"] == REGION
    assert abs((dt.datetime.now(dt.UTC) - last_used["LastUsedDate"]).total_seconds()) < 60


def test_requests_signed_with_issued_credentials_act_in_the_roles_account(endpoint: str) -> None:
    role = make_role(endpoint, access_key="111111111111")
    sts = make_client("sts", endpoint, access_key="111111111111")
    credentials = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1")["Credentials"]
    ecs = client_with("ecs", endpoint, credentials)
    cluster = ecs.create_cluster(clusterName="from-role")["cluster"]
    assert cluster["clusterArn"] == f"arn:aws:ecs:{REGION}:111111111111:cluster/from-role"
    assert client_with("sts", endpoint, credentials).get_caller_identity()["Account"] == "111111111111"


def test_assume_role_in_another_account_by_arn(endpoint: str, sts: Any) -> None:
    role = make_role(endpoint, access_key="222222222222")
    credentials = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="cross")["Credentials"]
    identity = client_with("sts", endpoint, credentials).get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::222222222222:assumed-role/ecsTaskRole/cross"


def test_assume_unknown_role_is_access_denied(sts: Any) -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:role/nope"
    assert error_of(sts.assume_role, RoleArn=arn, RoleSessionName="s1") == (
        "AccessDenied",
        f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: sts:AssumeRole on resource: {arn}",
        403,
    )


def test_assume_role_with_the_wrong_path_is_access_denied(endpoint: str, sts: Any) -> None:
    make_role(endpoint, Path="/service-role/")
    arn = f"arn:aws:iam::{ACCOUNT}:role/ecsTaskRole"
    assert error_of(sts.assume_role, RoleArn=arn, RoleSessionName="s1")[0] == "AccessDenied"


def test_assume_role_with_something_that_is_not_a_role_arn_is_invalid(sts: Any) -> None:
    for arn in ("not-an-arn-but-long-enough", f"arn:aws:iam::{ACCOUNT}:user/someone"):
        assert error_of(sts.assume_role, RoleArn=arn, RoleSessionName="s1") == (
            "ValidationError",
            "Request ARN is invalid",
            400,
        )


def test_session_name_with_characters_sts_refuses_is_a_validation_error(endpoint: str, sts: Any) -> None:
    role = make_role(endpoint)
    code, message, _ = error_of(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="bad name")
    assert code == "ValidationError"
    assert message == (
        "1 validation error detected: Value 'bad name' at 'roleSessionName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\w+=,.@-]*"
    )


def test_duration_longer_than_the_roles_maximum_is_refused(endpoint: str, sts: Any) -> None:
    role = make_role(endpoint, MaxSessionDuration=7200)
    credentials = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1", DurationSeconds=7200)["Credentials"]
    lifetime = (credentials["Expiration"] - dt.datetime.now(dt.UTC)).total_seconds()
    assert 7190 <= lifetime <= 7201
    assert error_of(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="s1", DurationSeconds=7201) == (
        "ValidationError",
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        400,
    )


def test_duration_below_fifteen_minutes_is_a_validation_error(endpoint: str) -> None:
    role = make_role(endpoint)
    unchecked = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=CLIENT_CONFIG.merge(Config(parameter_validation=False)),
    )
    code, message, _ = error_of(unchecked.assume_role, RoleArn=role["Arn"], RoleSessionName="s1", DurationSeconds=899)
    assert code == "ValidationError"
    assert "Member must have value greater than or equal to 900" in message


def test_role_chaining_is_limited_to_one_hour(endpoint: str, sts: Any) -> None:
    first = make_role(endpoint, "first", MaxSessionDuration=43200)
    second = make_role(endpoint, "second", MaxSessionDuration=43200)
    credentials = sts.assume_role(RoleArn=first["Arn"], RoleSessionName="aa")["Credentials"]
    chained = client_with("sts", endpoint, credentials)
    assert error_of(chained.assume_role, RoleArn=second["Arn"], RoleSessionName="bb", DurationSeconds=7200) == (
        "ValidationError",
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        400,
    )
    again = chained.assume_role(RoleArn=second["Arn"], RoleSessionName="bb")["Credentials"]
    identity = client_with("sts", endpoint, again).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/second/bb"


def test_access_denied_names_the_assumed_role_session_as_the_caller(endpoint: str, sts: Any) -> None:
    role = make_role(endpoint)
    credentials = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="caller")["Credentials"]
    arn = f"arn:aws:iam::{ACCOUNT}:role/nope"
    message = error_of(client_with("sts", endpoint, credentials).assume_role, RoleArn=arn, RoleSessionName="xx")[1]
    assert message == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/ecsTaskRole/caller is not authorized to perform: "
        f"sts:AssumeRole on resource: {arn}"
    )


def test_malformed_session_policy_is_refused(endpoint: str, sts: Any) -> None:
    role = make_role(endpoint)
    assert error_of(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="s1", Policy="{nope")[:2] == (
        "MalformedPolicyDocument",
        "This policy contains invalid Json",
    )


def test_assume_role_through_the_cli(endpoint: str, aws: Any) -> None:
    role = make_role(endpoint)
    result = aws("sts", "assume-role", "--role-arn", role["Arn"], "--role-session-name", "cli")
    assert result["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/ecsTaskRole/cli"
    assert result["Credentials"]["AccessKeyId"].startswith("ASIA")
