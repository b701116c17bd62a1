"""IAM roles and their policies through boto3 and the AWS CLI (issue 5 item 6; seed 000 step 2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from tests.conftest import make_client

ACCOUNT = "000000000000"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
TRUST_TEXT = json.dumps(TRUST, indent=2)
EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
LOGS_POLICY = "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess"
SSM_CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
INLINE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["ssm:GetParameters"], "Resource": "*"}],
}


@pytest.fixture
def iam(endpoint: str) -> Any:
    return make_client("iam", endpoint)


def error_of(call: Any, **kwargs: Any) -> tuple[str, str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def create(iam: Any, name: str = "ecsTaskRole", **kwargs: Any) -> dict[str, Any]:
    role: dict[str, Any] = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST_TEXT, **kwargs)["Role"]
    return role


# -- CreateRole / GetRole ---------------------------------------------------------------------------


def test_create_role_returns_the_role_with_ids_arn_and_decoded_trust_policy(iam: Any) -> None:
    role = create(iam, Description="task role")
    assert role["RoleName"] == "ecsTaskRole"
    assert role["Path"] == "/"
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/ecsTaskRole"
    assert role["RoleId"].startswith("AROA") and len(role["RoleId"]) == 21 and role["RoleId"].isalnum()
    assert role["AssumeRolePolicyDocument"] == TRUST
    assert role["Description"] == "task role"
    assert role["CreateDate"].microsecond == 0


def test_create_role_with_a_path_puts_the_path_in_the_arn(iam: Any) -> None:
    role = create(iam, "svc", Path="/service-role/")
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/service-role/svc"
    assert iam.get_role(RoleName="svc")["Role"]["Path"] == "/service-role/"


def test_get_role_shows_session_duration_last_use_and_tags(iam: Any) -> None:
    created = create(iam, MaxSessionDuration=7200, Tags=[{"Key": "team", "Value": "obs"}])
    role = iam.get_role(RoleName="ecsTaskRole")["Role"]
    assert role["RoleId"] == created["RoleId"]
    assert role["MaxSessionDuration"] == 7200
    assert role["RoleLastUsed"] == {}
    assert role["Tags"] == [{"Key": "team", "Value": "obs"}]
    assert role["AssumeRolePolicyDocument"] == TRUST


def test_role_names_are_unique_without_regard_to_case(iam: Any) -> None:
    create(iam, "ecsTaskRole")
    code, message, status = error_of(iam.create_role, RoleName="ECSTASKROLE", AssumeRolePolicyDocument=TRUST_TEXT)
    assert (code, message, status) == ("EntityAlreadyExists", "Role with name ECSTASKROLE already exists.", 409)
    assert iam.get_role(RoleName="ecstaskrole")["Role"]["RoleName"] == "ecsTaskRole"


def test_get_unknown_role_is_no_such_entity(iam: Any) -> None:
    assert error_of(iam.get_role, RoleName="nope") == (
        "NoSuchEntity",
        "The role with name nope cannot be found.",
        404,
    )


def test_role_name_with_characters_iam_refuses_is_a_validation_error(iam: Any) -> None:
    code, message, _ = error_of(iam.create_role, RoleName="bad name", AssumeRolePolicyDocument=TRUST_TEXT)
    assert code == "ValidationError"
    assert message == (
        "1 validation error detected: Value 'bad name' at 'roleName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\w+=,.@-]+"
    )


def test_path_without_slashes_around_it_is_a_validation_error(iam: Any) -> None:
    code, message, _ = error_of(iam.create_role, RoleName="r", Path="/nope", AssumeRolePolicyDocument=TRUST_TEXT)
    assert code == "ValidationError"
    assert "Value '/nope' at 'path' failed to satisfy constraint" in message


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "This policy contains invalid Json"),
        ('{"Version": "2012-10-17"}', "Syntax errors in policy."),
        ('{"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "*"}]}', "Syntax errors in policy."),
        ('{"Version": "1999-01-01", "Statement": []}', "Syntax errors in policy."),
        (
            '{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole", "Resource": "*"}]}',
            "Has prohibited field Resource",
        ),
        ('{"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}', "Missing required field Principal"),
    ],
)
def test_malformed_trust_policy_is_refused(iam: Any, document: str, message: str) -> None:
    code, text, status = error_of(iam.create_role, RoleName="r", AssumeRolePolicyDocument=document)
    assert (code, text, status) == ("MalformedPolicyDocument", message, 400)
    assert iam.list_roles()["Roles"] == []


def test_trust_policy_over_quota_is_limit_exceeded(iam: Any) -> None:
    principals = [f"arn:aws:iam::{ACCOUNT}:role/r{i:04d}" for i in range(60)]
    document = json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": {"AWS": principals}, "Action": "sts:AssumeRole"}]}
    )
    code, message, status = error_of(iam.create_role, RoleName="big", AssumeRolePolicyDocument=document)
    assert (code, message, status) == ("LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048", 409)


def test_update_assume_role_policy_replaces_the_trust_policy(iam: Any) -> None:
    create(iam)
    other = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    iam.update_assume_role_policy(RoleName="ecsTaskRole", PolicyDocument=json.dumps(other))
    assert iam.get_role(RoleName="ecsTaskRole")["Role"]["AssumeRolePolicyDocument"] == other
    code, message, _ = error_of(iam.update_assume_role_policy, RoleName="ecsTaskRole", PolicyDocument="[")
    assert (code, message) == ("MalformedPolicyDocument", "This policy contains invalid Json")
    assert error_of(iam.update_assume_role_policy, RoleName="nope", PolicyDocument=TRUST_TEXT)[0] == "NoSuchEntity"


def test_update_role_changes_description_and_session_duration(iam: Any) -> None:
    create(iam)
    iam.update_role(RoleName="ecsTaskRole", Description="new", MaxSessionDuration=43200)
    role = iam.get_role(RoleName="ecsTaskRole")["Role"]
    assert (role["Description"], role["MaxSessionDuration"]) == ("new", 43200)
    shown = iam.update_role_description(RoleName="ecsTaskRole", Description="newer")["Role"]
    assert shown["Description"] == "newer"


# -- ListRoles ----------------------------------------------------------------------------------------


def test_list_roles_pages_in_name_order_with_marker(iam: Any) -> None:
    for name in ["delta", "Alpha", "charlie", "bravo", "echo"]:
        create(iam, name)
    page = iam.list_roles(MaxItems=2)
    assert [r["RoleName"] for r in page["Roles"]] == ["Alpha", "bravo"]
    assert page["IsTruncated"] is True
    seen = [r["RoleName"] for r in page["Roles"]]
    while page["IsTruncated"]:
        page = iam.list_roles(MaxItems=2, Marker=page["Marker"])
        seen += [r["RoleName"] for r in page["Roles"]]
    assert seen == ["Alpha", "bravo", "charlie", "delta", "echo"]
    assert "Marker" not in page
    listed = [r for p in iam.get_paginator("list_roles").paginate(PaginationConfig={"PageSize": 3}) for r in p["Roles"]]
    assert [r["RoleName"] for r in listed] == seen
    assert listed[0]["MaxSessionDuration"] == 3600 and "Tags" not in listed[0] and "RoleLastUsed" not in listed[0]


def test_list_roles_filters_by_path_prefix(iam: Any) -> None:
    create(iam, "plain")
    create(iam, "svc", Path="/service-role/")
    create(iam, "app", Path="/app/prod/")
    assert [r["RoleName"] for r in iam.list_roles(PathPrefix="/service-role/")["Roles"]] == ["svc"]
    assert [r["RoleName"] for r in iam.list_roles(PathPrefix="/app")["Roles"]] == ["app"]
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["app", "plain", "svc"]


def test_list_roles_rejects_a_marker_it_never_issued(iam: Any) -> None:
    assert error_of(iam.list_roles, Marker="garbage!")[:2] == ("ValidationError", "Invalid Marker.")


def test_roles_are_global_but_kept_per_account(endpoint: str, iam: Any) -> None:
    create(iam)
    elsewhere = make_client("iam", endpoint, region="eu-west-1")
    assert [r["RoleName"] for r in elsewhere.list_roles()["Roles"]] == ["ecsTaskRole"]
    other_account = make_client("iam", endpoint, access_key="111111111111")
    assert other_account.list_roles()["Roles"] == []
    assert error_of(other_account.get_role, RoleName="ecsTaskRole")[0] == "NoSuchEntity"


# -- DeleteRole ---------------------------------------------------------------------------------------


def test_delete_role_is_refused_while_policies_remain(iam: Any) -> None:
    create(iam)
    iam.attach_role_policy(RoleName="ecsTaskRole", PolicyArn=LOGS_POLICY)
    iam.put_role_policy(RoleName="ecsTaskRole", PolicyName="inline", PolicyDocument=json.dumps(INLINE))
    assert error_of(iam.delete_role, RoleName="ecsTaskRole") == (
        "DeleteConflict",
        "Cannot delete entity, must detach all policies first.",
        409,
    )
    iam.detach_role_policy(RoleName="ecsTaskRole", PolicyArn=LOGS_POLICY)
    assert error_of(iam.delete_role, RoleName="ecsTaskRole")[:2] == (
        "DeleteConflict",
        "Cannot delete entity, must delete policies first.",
    )
    iam.delete_role_policy(RoleName="ecsTaskRole", PolicyName="inline")
    iam.delete_role(RoleName="ecsTaskRole")
    assert error_of(iam.get_role, RoleName="ecsTaskRole")[0] == "NoSuchEntity"
    assert error_of(iam.delete_role, RoleName="ecsTaskRole")[:2] == (
        "NoSuchEntity",
        "The role with name ecsTaskRole cannot be found.",
    )


def test_recreated_role_starts_without_the_old_roles_tags(iam: Any) -> None:
    create(iam, Tags=[{"Key": "old", "Value": "1"}])
    first = iam.get_role(RoleName="ecsTaskRole")["Role"]["RoleId"]
    iam.delete_role(RoleName="ecsTaskRole")
    role = create(iam)
    assert role["RoleId"] != first
    assert iam.list_role_tags(RoleName="ecsTaskRole")["Tags"] == []


# -- attached managed policies ------------------------------------------------------------------------


def test_attach_aws_managed_policies_and_list_them(iam: Any) -> None:
    create(iam)
    for arn in (EXECUTION_POLICY, LOGS_POLICY, LOGS_POLICY):
        iam.attach_role_policy(RoleName="ecsTaskRole", PolicyArn=arn)
    attached = iam.list_attached_role_policies(RoleName="ecsTaskRole")
    assert attached["AttachedPolicies"] == [
        {"PolicyName": "AmazonECSTaskExecutionRolePolicy", "PolicyArn": EXECUTION_POLICY},
        {"PolicyName": "CloudWatchLogsFullAccess", "PolicyArn": LOGS_POLICY},
    ]
    assert attached["IsTruncated"] is False
    service_role = iam.list_attached_role_policies(RoleName="ecsTaskRole", PathPrefix="/service-role/")
    assert [p["PolicyArn"] for p in service_role["AttachedPolicies"]] == [EXECUTION_POLICY]
    page = iam.list_attached_role_policies(RoleName="ecsTaskRole", MaxItems=1)
    assert page["IsTruncated"] is True
    rest = iam.list_attached_role_policies(RoleName="ecsTaskRole", MaxItems=1, Marker=page["Marker"])
    assert [p["PolicyArn"] for p in rest["AttachedPolicies"]] == [LOGS_POLICY] and rest["IsTruncated"] is False


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws:iam::{ACCOUNT}:policy/MyPolicy",
        "arn:aws:iam::aws:policy/AmazonECSTaskExecutionRolePolicy",  # the real one lives under /service-role/
        "arn:aws:iam::aws:policy/NoSuchAwsPolicy",
    ],
)
def test_attach_unknown_policy_is_no_such_entity(iam: Any, arn: str) -> None:
    create(iam)
    assert error_of(iam.attach_role_policy, RoleName="ecsTaskRole", PolicyArn=arn) == (
        "NoSuchEntity",
        f"Policy {arn} does not exist or is not attachable.",
        404,
    )
    assert iam.list_attached_role_policies(RoleName="ecsTaskRole")["AttachedPolicies"] == []


def test_attach_to_unknown_role_is_no_such_entity(iam: Any) -> None:
    assert error_of(iam.attach_role_policy, RoleName="nope", PolicyArn=LOGS_POLICY)[:2] == (
        "NoSuchEntity",
        "The role with name nope cannot be found.",
    )


def test_more_than_ten_attached_policies_is_limit_exceeded(iam: Any) -> None:
    create(iam)
    names = [
        "AdministratorAccess",
        "PowerUserAccess",
        "ReadOnlyAccess",
        "IAMFullAccess",
        "IAMReadOnlyAccess",
        "AmazonECS_FullAccess",
        "CloudWatchLogsFullAccess",
        "CloudWatchFullAccess",
        "AmazonSSMManagedInstanceCore",
        "SecretsManagerReadWrite",
    ]
    for name in names:
        iam.attach_role_policy(RoleName="ecsTaskRole", PolicyArn=f"arn:aws:iam::aws:policy/{name}")
    assert error_of(
        iam.attach_role_policy, RoleName="ecsTaskRole", PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess"
    ) == ("LimitExceeded", "Cannot exceed quota for PoliciesPerRole: 10", 409)


def test_detach_policy_that_is_not_attached_is_no_such_entity(iam: Any) -> None:
    create(iam)
    assert error_of(iam.detach_role_policy, RoleName="ecsTaskRole", PolicyArn=LOGS_POLICY) == (
        "NoSuchEntity",
        f"Policy {LOGS_POLICY} was not found.",
        404,
    )


# -- inline policies ----------------------------------------------------------------------------------


def test_put_get_list_delete_inline_policy(iam: Any) -> None:
    create(iam)
    iam.put_role_policy(RoleName="ecsTaskRole", PolicyName="read-params", PolicyDocument=json.dumps(INLINE))
    iam.put_role_policy(RoleName="ecsTaskRole", PolicyName="another", PolicyDocument=json.dumps(INLINE))
    got = iam.get_role_policy(RoleName="ecsTaskRole", PolicyName="read-params")
    assert (got["RoleName"], got["PolicyName"], got["PolicyDocument"]) == ("ecsTaskRole", "read-params", INLINE)
    assert iam.list_role_policies(RoleName="ecsTaskRole")["PolicyNames"] == ["another", "read-params"]
    page = iam.list_role_policies(RoleName="ecsTaskRole", MaxItems=1)
    assert page["PolicyNames"] == ["another"] and page["IsTruncated"] is True
    assert iam.list_role_policies(RoleName="ecsTaskRole", Marker=page["Marker"])["PolicyNames"] == ["read-params"]
    iam.delete_role_policy(RoleName="ecsTaskRole", PolicyName="another")
    assert iam.list_role_policies(RoleName="ecsTaskRole")["PolicyNames"] == ["read-params"]


def test_put_role_policy_replaces_a_policy_of_the_same_name(iam: Any) -> None:
    create(iam)
    iam.put_role_policy(RoleName="ecsTaskRole", PolicyName="p", PolicyDocument=json.dumps(INLINE))
    replacement = {"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
    iam.put_role_policy(RoleName="ecsTaskRole", PolicyName="p", PolicyDocument=json.dumps(replacement))
    assert iam.get_role_policy(RoleName="ecsTaskRole", PolicyName="p")["PolicyDocument"] == replacement


def test_missing_inline_policy_is_no_such_entity(iam: Any) -> None:
    create(iam)
    expected = ("NoSuchEntity", "The role policy with name nope cannot be found.", 404)
    assert error_of(iam.get_role_policy, RoleName="ecsTaskRole", PolicyName="nope") == expected
    assert error_of(iam.delete_role_policy, RoleName="ecsTaskRole", PolicyName="nope") == expected


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ({"Effect": "Allow", "Resource": "*"}, "Policy statement must contain actions."),
        ({"Effect": "Allow", "Action": "s3:*"}, "Policy statement must contain resources."),
    ],
)
def test_inline_policy_without_actions_or_resources_is_malformed(
    iam: Any, statement: dict[str, Any], message: str
) -> None:
    create(iam)
    document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    assert error_of(iam.put_role_policy, RoleName="ecsTaskRole", PolicyName="p", PolicyDocument=document)[:2] == (
        "MalformedPolicyDocument",
        message,
    )


def test_inline_policy_with_repeated_sids_is_malformed(iam: Any) -> None:
    create(iam)
    statement = {"Sid": "same", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    document = json.dumps({"Statement": [statement, statement]})
    assert error_of(iam.put_role_policy, RoleName="ecsTaskRole", PolicyName="p", PolicyDocument=document)[:2] == (
        "MalformedPolicyDocument",
        "Statement IDs (SID) in a single policy must be unique.",
    )


def test_inline_policies_over_the_role_quota_are_limit_exceeded(iam: Any) -> None:
    create(iam)
    resources = [f"arn:aws:s3:::bucket-number-{i:05d}/*" for i in range(150)]
    document = json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": resources}]})
    iam.put_role_policy(RoleName="ecsTaskRole", PolicyName="first", PolicyDocument=document)
    assert error_of(iam.put_role_policy, RoleName="ecsTaskRole", PolicyName="second", PolicyDocument=document) == (
        "LimitExceeded",
        "Maximum policy size of 10240 bytes exceeded for role ecsTaskRole",
        409,
    )
    iam.put_role_policy(RoleName="ecsTaskRole", PolicyName="first", PolicyDocument=document)  # replacing fits


# -- tags ---------------------------------------------------------------------------------------------


def test_tag_untag_and_list_role_tags(iam: Any) -> None:
    create(iam, Tags=[{"Key": "Team", "Value": "obs"}])
    iam.tag_role(RoleName="ecsTaskRole", Tags=[{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "sre"}])
    assert iam.list_role_tags(RoleName="ecsTaskRole")["Tags"] == [
        {"Key": "env", "Value": "dev"},
        {"Key": "team", "Value": "sre"},
    ]
    iam.untag_role(RoleName="ecsTaskRole", TagKeys=["ENV", "missing"])
    result = iam.list_role_tags(RoleName="ecsTaskRole")
    assert result["Tags"] == [{"Key": "team", "Value": "sre"}] and result["IsTruncated"] is False


def test_duplicate_tag_keys_in_one_request_are_invalid_input(iam: Any) -> None:
    code, message, _ = error_of(
        iam.create_role,
        RoleName="r",
        AssumeRolePolicyDocument=TRUST_TEXT,
        Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}],
    )
    assert (code, message) == (
        "InvalidInput",
        "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
    )


def test_more_than_fifty_tags_on_a_role_is_limit_exceeded(iam: Any) -> None:
    create(iam, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(30)])
    code, message, _ = error_of(
        iam.tag_role, RoleName="ecsTaskRole", Tags=[{"Key": f"n{i}", "Value": "v"} for i in range(21)]
    )
    assert (code, message) == ("LimitExceeded", "The number of tags has reached the maximum limit.")
    assert len(iam.list_role_tags(RoleName="ecsTaskRole")["Tags"]) == 30


def test_tag_key_with_characters_iam_refuses_is_a_validation_error(iam: Any) -> None:
    create(iam)
    code, message, _ = error_of(iam.tag_role, RoleName="ecsTaskRole", Tags=[{"Key": "bad!key", "Value": "v"}])
    assert code == "ValidationError"
    assert message.startswith("1 validation error detected: Value 'bad!key' at 'tags.1.member.key'")


# -- the seed's commands through the AWS CLI ----------------------------------------------------------


def test_seed_step_two_creates_both_roles_through_the_cli(aws: Callable[..., Any], tmp_path: Path) -> None:
    trust = tmp_path / "ecs-task-execution-trust-policy.json"
    trust.write_text(TRUST_TEXT + "\n")
    created = aws(
        "iam",
        "create-role",
        "--role-name",
        "ecsTaskExecutionRole",
        "--assume-role-policy-document",
        f"file://{trust}",
    )
    assert created["Role"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole"
    assert created["Role"]["AssumeRolePolicyDocument"] == TRUST
    for arn in (EXECUTION_POLICY, LOGS_POLICY):
        assert aws("iam", "attach-role-policy", "--role-name", "ecsTaskExecutionRole", "--policy-arn", arn) is None
    aws("iam", "create-role", "--role-name", "ecsTaskRole", "--assume-role-policy-document", f"file://{trust}")
    aws("iam", "attach-role-policy", "--role-name", "ecsTaskRole", "--policy-arn", LOGS_POLICY)
    aws("iam", "attach-role-policy", "--role-name", "ecsTaskRole", "--policy-arn", SSM_CORE_POLICY)
    attached = aws("iam", "list-attached-role-policies", "--role-name", "ecsTaskExecutionRole")
    assert [p["PolicyArn"] for p in attached["AttachedPolicies"]] == [EXECUTION_POLICY, LOGS_POLICY]
    task_role = aws("iam", "get-role", "--role-name", "ecsTaskRole")["Role"]
    assert task_role["AssumeRolePolicyDocument"] == TRUST
    listed = aws("iam", "list-roles")["Roles"]
    assert [r["RoleName"] for r in listed] == ["ecsTaskExecutionRole", "ecsTaskRole"]


def test_permissions_boundary_must_be_a_known_managed_policy(iam: Any) -> None:
    create(iam, "bounded", PermissionsBoundary=LOGS_POLICY)
    assert iam.get_role(RoleName="bounded")["Role"]["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "Policy",
        "PermissionsBoundaryArn": LOGS_POLICY,
    }
    unknown = f"arn:aws:iam::{ACCOUNT}:policy/boundary"
    code, message, status = error_of(
        iam.create_role, RoleName="other", AssumeRolePolicyDocument=TRUST_TEXT, PermissionsBoundary=unknown
    )
    assert (code, message, status) == (
        "NoSuchEntity",
        f"Scope ARN: {unknown} does not exist or is not attachable.",
        404,
    )
