"""Secrets Manager through boto3 and the AWS CLI: secrets, versions, staging labels, deletion, tags."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from tests.conftest import CLIENT_CONFIG, REGION, make_client, start_server, stop_server

ACCOUNT = "000000000000"
ARN_PREFIX = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
NOT_FOUND = ("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
MARKED = (
    "InvalidRequestException",
    "You can't perform this operation on the secret because it was marked for deletion.",
)


@pytest.fixture
def sm(endpoint: str) -> Any:
    return make_client("secretsmanager", endpoint)


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


def token() -> str:
    return str(uuid.uuid4())


# -- CreateSecret / GetSecretValue --------------------------------------------------------------------


def test_create_secret_returns_an_arn_with_a_random_suffix_and_a_version(sm: Any) -> None:
    created = sm.create_secret(Name="app/db", SecretString='{"username":"admin"}')
    assert re.fullmatch(re.escape(ARN_PREFIX) + r"app/db-[A-Za-z0-9]{6}", created["ARN"])
    assert created["Name"] == "app/db"
    assert uuid.UUID(created["VersionId"])
    value = sm.get_secret_value(SecretId="app/db")
    assert value["SecretString"] == '{"username":"admin"}'
    assert value["VersionStages"] == ["AWSCURRENT"]
    assert value["VersionId"] == created["VersionId"]
    assert value["ARN"] == created["ARN"]


def test_client_request_token_becomes_the_version_id(sm: Any) -> None:
    version = token()
    assert sm.create_secret(Name="s", SecretString="v", ClientRequestToken=version)["VersionId"] == version
    assert sm.get_secret_value(SecretId="s", VersionId=version)["SecretString"] == "v"


def test_secret_is_found_by_name_full_arn_and_partial_arn(sm: Any) -> None:
    arn = sm.create_secret(Name="lookup", SecretString="x")["ARN"]
    for secret_id in ("lookup", arn, f"{ARN_PREFIX}lookup"):
        assert sm.get_secret_value(SecretId=secret_id)["ARN"] == arn


def test_arn_of_another_region_names_nothing(sm: Any, endpoint: str) -> None:
    arn = sm.create_secret(Name="here", SecretString="x")["ARN"]
    elsewhere = make_client("secretsmanager", endpoint, region="eu-west-1")
    assert error_of(elsewhere.get_secret_value, SecretId="here") == NOT_FOUND
    assert error_of(elsewhere.get_secret_value, SecretId=arn) == NOT_FOUND


def test_binary_secret_round_trips(sm: Any) -> None:
    sm.create_secret(Name="bin", SecretBinary=b"\x00\x01\xfe")
    value = sm.get_secret_value(SecretId="bin")
    assert value["SecretBinary"] == b"\x00\x01\xfe" and "SecretString" not in value


def test_unknown_secret_is_not_found(sm: Any) -> None:
    assert error_of(sm.get_secret_value, SecretId="nope") == NOT_FOUND
    assert error_of(sm.describe_secret, SecretId="nope") == NOT_FOUND
    assert error_of(sm.put_secret_value, SecretId="nope", SecretString="x") == NOT_FOUND


def test_create_secret_with_an_existing_name_is_refused(sm: Any) -> None:
    sm.create_secret(Name="dup", SecretString="a")
    assert error_of(sm.create_secret, Name="dup", SecretString="a") == (
        "ResourceExistsException",
        "The operation failed because the secret dup already exists.",
    )


def test_create_secret_retried_with_the_same_token_answers_as_the_first_time(sm: Any) -> None:
    version = token()
    first = sm.create_secret(Name="retry", SecretString="v", ClientRequestToken=version)
    again = sm.create_secret(Name="retry", SecretString="v", ClientRequestToken=version)
    assert (again["ARN"], again["VersionId"]) == (first["ARN"], version)
    assert len(sm.list_secret_version_ids(SecretId="retry")["Versions"]) == 1


def test_invalid_secret_name_is_a_validation_error(sm: Any) -> None:
    assert error_of(sm.create_secret, Name="bad name!", SecretString="x") == (
        "ValidationException",
        "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
    )


def test_string_and_binary_together_are_refused(sm: Any) -> None:
    assert error_of(sm.create_secret, Name="both", SecretString="x", SecretBinary=b"y") == (
        "InvalidParameterException",
        "You can't specify both a binary secret value and a string secret value in the same secret.",
    )
    assert sm.list_secrets()["SecretList"] == []


def test_secret_without_a_value_has_no_current_version(sm: Any) -> None:
    created = sm.create_secret(Name="empty", Description="later")
    assert "VersionId" not in created
    assert error_of(sm.get_secret_value, SecretId="empty") == (
        "ResourceNotFoundException",
        "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT",
    )


# -- versions and staging labels ----------------------------------------------------------------------


def test_put_secret_value_makes_the_new_version_current_and_the_old_previous(sm: Any) -> None:
    first = sm.create_secret(Name="rot", SecretString="one")["VersionId"]
    second = sm.put_secret_value(SecretId="rot", SecretString="two")
    assert second["VersionStages"] == ["AWSCURRENT"]
    assert sm.get_secret_value(SecretId="rot")["SecretString"] == "two"
    previous = sm.get_secret_value(SecretId="rot", VersionStage="AWSPREVIOUS")
    assert (previous["SecretString"], previous["VersionId"]) == ("one", first)
    third = sm.put_secret_value(SecretId="rot", SecretString="three")["VersionId"]
    stages = sm.describe_secret(SecretId="rot")["VersionIdsToStages"]
    assert stages == {second["VersionId"]: ["AWSPREVIOUS"], third: ["AWSCURRENT"]}
    all_versions = sm.list_secret_version_ids(SecretId="rot", IncludeDeprecated=True)["Versions"]
    assert [v["VersionId"] for v in all_versions] == [first, second["VersionId"], third]


def test_put_secret_value_with_a_custom_stage_leaves_current_alone(sm: Any) -> None:
    sm.create_secret(Name="pending", SecretString="one")
    pending = sm.put_secret_value(SecretId="pending", SecretString="two", VersionStages=["AWSPENDING"])
    assert sm.get_secret_value(SecretId="pending")["SecretString"] == "one"
    assert sm.get_secret_value(SecretId="pending", VersionStage="AWSPENDING")["VersionId"] == pending["VersionId"]


def test_get_secret_value_by_unknown_version_or_stage(sm: Any) -> None:
    version = sm.create_secret(Name="v", SecretString="x")["VersionId"]
    missing = token()
    assert error_of(sm.get_secret_value, SecretId="v", VersionId=missing) == (
        "ResourceNotFoundException",
        f"Secrets Manager can't find the specified secret value for VersionId: {missing}",
    )
    assert error_of(sm.get_secret_value, SecretId="v", VersionStage="AWSPREVIOUS") == (
        "ResourceNotFoundException",
        "Secrets Manager can't find the specified secret value for staging label: AWSPREVIOUS",
    )
    assert error_of(sm.get_secret_value, SecretId="v", VersionId=version, VersionStage="AWSPREVIOUS") == (
        "InvalidRequestException",
        "You provided a VersionStage that is not associated to the provided VersionId.",
    )


def test_put_secret_value_is_idempotent_for_its_token(sm: Any) -> None:
    sm.create_secret(Name="idem", SecretString="one")
    version = token()
    sm.put_secret_value(SecretId="idem", SecretString="two", ClientRequestToken=version)
    again = sm.put_secret_value(SecretId="idem", SecretString="two", ClientRequestToken=version)
    assert again["VersionId"] == version
    assert len(sm.list_secret_version_ids(SecretId="idem")["Versions"]) == 2
    assert error_of(sm.put_secret_value, SecretId="idem", SecretString="other", ClientRequestToken=version) == (
        "ResourceExistsException",
        "You can't modify an existing version, you can only create a new version.",
    )


def test_put_secret_value_without_a_value_is_refused(endpoint: str) -> None:
    unchecked = boto3.client(
        "secretsmanager",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=CLIENT_CONFIG.merge(Config(parameter_validation=False)),
    )
    unchecked.create_secret(Name="novalue", SecretString="x")
    assert error_of(unchecked.put_secret_value, SecretId="novalue") == (
        "InvalidRequestException",
        "You must provide either SecretString or SecretBinary.",
    )


def test_update_secret_changes_metadata_and_adds_a_version(sm: Any) -> None:
    sm.create_secret(Name="upd", SecretString="one", Description="first")
    meta_only = sm.update_secret(SecretId="upd", Description="second", KmsKeyId="alias/mine")
    assert "VersionId" not in meta_only
    described = sm.describe_secret(SecretId="upd")
    assert (described["Description"], described["KmsKeyId"]) == ("second", "alias/mine")
    new = sm.update_secret(SecretId="upd", SecretString="two")["VersionId"]
    assert sm.get_secret_value(SecretId="upd")["VersionId"] == new


# -- DescribeSecret / ListSecrets ---------------------------------------------------------------------


def test_describe_secret_shows_dates_tags_and_labelled_versions(sm: Any) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    version = sm.create_secret(Name="desc", SecretString="x", Tags=[{"Key": "team", "Value": "obs"}])["VersionId"]
    sm.get_secret_value(SecretId="desc")
    described = sm.describe_secret(SecretId="desc")
    assert described["CreatedDate"] >= before and described["LastChangedDate"] >= before
    assert described["LastAccessedDate"].time() == dt.time(0, 0)
    assert described["Tags"] == [{"Key": "team", "Value": "obs"}]
    assert described["VersionIdsToStages"] == {version: ["AWSCURRENT"]}
    assert "DeletedDate" not in described and "KmsKeyId" not in described


def test_list_secrets_filters_by_name_description_and_tags(sm: Any) -> None:
    sm.create_secret(Name="prod/db", SecretString="x", Description="Database", Tags=[{"Key": "env", "Value": "prod"}])
    sm.create_secret(Name="prod/api", SecretString="x", Tags=[{"Key": "env", "Value": "prod"}])
    sm.create_secret(Name="dev/db", SecretString="x", Description="database for dev")

    def names(*filters: dict[str, Any]) -> list[str]:
        listed = sm.list_secrets(Filters=list(filters), SortBy="name", SortOrder="asc")["SecretList"]
        return [s["Name"] for s in listed]

    assert names({"Key": "name", "Values": ["prod/"]}) == ["prod/api", "prod/db"]
    assert names({"Key": "name", "Values": ["!prod/"]}) == ["dev/db"]
    assert names({"Key": "description", "Values": ["DATABASE"]}) == ["dev/db", "prod/db"]
    assert names({"Key": "tag-key", "Values": ["env"]}, {"Key": "tag-value", "Values": ["pro"]}) == [
        "prod/api",
        "prod/db",
    ]
    assert names({"Key": "all", "Values": ["dev"]}) == ["dev/db"]
    assert names({"Key": "name", "Values": ["dev/", "prod/a"]}) == ["dev/db", "prod/api"]


def test_list_secrets_pages_and_sorts(sm: Any) -> None:
    for name in ("c", "a", "b", "d"):
        sm.create_secret(Name=name, SecretString="x")
    newest_first = [s["Name"] for s in sm.list_secrets()["SecretList"]]
    assert newest_first == ["d", "b", "a", "c"]
    page = sm.list_secrets(MaxResults=3, SortBy="name", SortOrder="asc")
    assert [s["Name"] for s in page["SecretList"]] == ["a", "b", "c"]
    rest = sm.list_secrets(MaxResults=3, SortBy="name", SortOrder="asc", NextToken=page["NextToken"])
    assert [s["Name"] for s in rest["SecretList"]] == ["d"] and "NextToken" not in rest
    assert "SecretVersionsToStages" in rest["SecretList"][0]
    paginated = [s["Name"] for p in sm.get_paginator("list_secrets").paginate() for s in p["SecretList"]]
    assert sorted(paginated) == ["a", "b", "c", "d"]


def test_list_secrets_rejects_a_token_it_never_issued(sm: Any) -> None:
    assert error_of(sm.list_secrets, NextToken="garbage!")[0] == "InvalidNextTokenException"


# -- DeleteSecret / RestoreSecret ---------------------------------------------------------------------


def test_deleted_secret_is_recoverable_during_its_window(sm: Any) -> None:
    arn = sm.create_secret(Name="gone", SecretString="x")["ARN"]
    before = dt.datetime.now(dt.UTC)
    deleted = sm.delete_secret(SecretId="gone", RecoveryWindowInDays=7)
    assert deleted["ARN"] == arn
    window = (deleted["DeletionDate"] - before).total_seconds()
    assert 7 * 86400 - 5 <= window <= 7 * 86400 + 5
    assert error_of(sm.get_secret_value, SecretId="gone") == MARKED
    assert error_of(sm.put_secret_value, SecretId="gone", SecretString="y") == MARKED
    assert error_of(sm.delete_secret, SecretId="gone") == MARKED
    assert "DeletedDate" in sm.describe_secret(SecretId="gone")
    assert sm.list_secrets()["SecretList"] == []
    assert [s["Name"] for s in sm.list_secrets(IncludePlannedDeletion=True)["SecretList"]] == ["gone"]
    assert error_of(sm.create_secret, Name="gone", SecretString="x") == (
        "InvalidRequestException",
        "You can't create this secret because a secret with this name is already scheduled for deletion.",
    )
    restored = sm.restore_secret(SecretId="gone")
    assert (restored["ARN"], restored["Name"]) == (arn, "gone")
    assert sm.get_secret_value(SecretId="gone")["SecretString"] == "x"
    assert "DeletedDate" not in sm.describe_secret(SecretId="gone")


def test_delete_secret_defaults_to_thirty_days(sm: Any) -> None:
    sm.create_secret(Name="thirty", SecretString="x")
    before = dt.datetime.now(dt.UTC)
    window = (sm.delete_secret(SecretId="thirty")["DeletionDate"] - before).total_seconds()
    assert 30 * 86400 - 5 <= window <= 30 * 86400 + 5


def test_force_delete_removes_the_secret_at_once(sm: Any) -> None:
    sm.create_secret(Name="now", SecretString="x", Tags=[{"Key": "a", "Value": "b"}])
    sm.delete_secret(SecretId="now", RecoveryWindowInDays=10)
    sm.delete_secret(SecretId="now", ForceDeleteWithoutRecovery=True)
    assert error_of(sm.describe_secret, SecretId="now") == NOT_FOUND
    created = sm.create_secret(Name="now", SecretString="again")
    assert sm.get_secret_value(SecretId=created["ARN"])["SecretString"] == "again"
    assert "Tags" not in sm.describe_secret(SecretId="now")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"RecoveryWindowInDays": 7, "ForceDeleteWithoutRecovery": True},
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
        ),
        ({"RecoveryWindowInDays": 6}, "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."),
        ({"RecoveryWindowInDays": 31}, "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."),
    ],
)
def test_delete_secret_checks_its_options(sm: Any, kwargs: dict[str, Any], message: str) -> None:
    sm.create_secret(Name="opts", SecretString="x")
    assert error_of(sm.delete_secret, SecretId="opts", **kwargs) == ("InvalidParameterException", message)
    assert sm.get_secret_value(SecretId="opts")["SecretString"] == "x"


# -- tags ---------------------------------------------------------------------------------------------


def test_tag_and_untag_a_secret(sm: Any) -> None:
    sm.create_secret(Name="t", SecretString="x", Tags=[{"Key": "a", "Value": "1"}])
    sm.tag_resource(SecretId="t", Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "3"}])
    assert sm.describe_secret(SecretId="t")["Tags"] == [{"Key": "a", "Value": "3"}, {"Key": "b", "Value": "2"}]
    sm.untag_resource(SecretId="t", TagKeys=["a"])
    assert sm.describe_secret(SecretId="t")["Tags"] == [{"Key": "b", "Value": "2"}]
    assert error_of(sm.tag_resource, SecretId="nope", Tags=[{"Key": "a", "Value": "1"}]) == NOT_FOUND


def test_more_than_fifty_tags_is_refused(sm: Any) -> None:
    sm.create_secret(Name="many", SecretString="x", Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    code, _ = error_of(sm.tag_resource, SecretId="many", Tags=[{"Key": "one-more", "Value": "v"}])
    assert code == "LimitExceededException"
    assert len(sm.describe_secret(SecretId="many")["Tags"]) == 50


# -- the AWS CLI --------------------------------------------------------------------------------------


def test_secret_round_trip_through_the_cli(aws: Callable[..., Any]) -> None:
    created = aws("secretsmanager", "create-secret", "--name", "cli/secret", "--secret-string", '{"k":"v"}')
    assert created["ARN"].startswith(ARN_PREFIX + "cli/secret-")
    value = aws("secretsmanager", "get-secret-value", "--secret-id", "cli/secret")
    assert value["SecretString"] == '{"k":"v"}'
    aws("secretsmanager", "put-secret-value", "--secret-id", "cli/secret", "--secret-string", "two")
    described = aws("secretsmanager", "describe-secret", "--secret-id", created["ARN"])
    assert sorted(s for stages in described["VersionIdsToStages"].values() for s in stages) == [
        "AWSCURRENT",
        "AWSPREVIOUS",
    ]
    deleted = aws("secretsmanager", "delete-secret", "--secret-id", "cli/secret", "--force-delete-without-recovery")
    assert deleted["Name"] == "cli/secret"


# -- at rest ------------------------------------------------------------------------------------------


def test_secret_values_are_encrypted_at_rest_and_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, ephemeral=False)
    try:
        sm = make_client("secretsmanager", server.endpoint)
        sm.create_secret(Name="at-rest", SecretString="plaintext-canary-4711")
    finally:
        stop_server(server)
    key = data_dir / "secrets.key"
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32
    stored = b"".join(p.read_bytes() for p in data_dir.glob("state.db*"))
    assert b"plaintext-canary-4711" not in stored
    server = start_server(data_dir, ephemeral=False)
    try:
        sm = make_client("secretsmanager", server.endpoint)
        assert sm.get_secret_value(SecretId="at-rest")["SecretString"] == "plaintext-canary-4711"
    finally:
        stop_server(server)
