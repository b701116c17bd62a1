"""IAM customer managed policies through boto3: create, versions, attach to roles, delete."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import make_client
from tests.integration.test_iam import ACCOUNT, LOGS_POLICY, create, error_of

DOCUMENT = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
DOCUMENT_TEXT = json.dumps(DOCUMENT, indent=2)
SECOND = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}


@pytest.fixture
def iam(endpoint: str) -> Any:
    return make_client("iam", endpoint)


def make_policy(iam: Any, name: str = "AppPolicy", **kwargs: Any) -> dict[str, Any]:
    policy: dict[str, Any] = iam.create_policy(PolicyName=name, PolicyDocument=DOCUMENT_TEXT, **kwargs)["Policy"]
    return policy


def test_create_and_get_policy_with_path_description_and_tags(iam: Any) -> None:
    policy = make_policy(iam, Path="/app/", Description="reads objects", Tags=[{"Key": "team", "Value": "a"}])
    assert policy["Arn"] == f"arn:aws:iam::{ACCOUNT}:policy/app/AppPolicy"
    assert policy["PolicyId"].startswith("ANPA") and len(policy["PolicyId"]) == 21
    assert (policy["DefaultVersionId"], policy["AttachmentCount"], policy["IsAttachable"]) == ("v1", 0, True)
    got = iam.get_policy(PolicyArn=policy["Arn"])["Policy"]
    assert got["Description"] == "reads objects"
    assert got["Tags"] == [{"Key": "team", "Value": "a"}]
    assert got["PolicyId"] == policy["PolicyId"]
    version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId="v1")["PolicyVersion"]
    assert version["Document"] == DOCUMENT and version["IsDefaultVersion"] is True


def test_policy_names_are_unique_and_documents_are_checked(iam: Any) -> None:
    make_policy(iam)
    assert error_of(iam.create_policy, PolicyName="apppolicy", PolicyDocument=DOCUMENT_TEXT, Path="/x/") == (
        "EntityAlreadyExists",
        "A policy called apppolicy already exists. Duplicate names are not allowed.",
        409,
    )
    assert error_of(iam.create_policy, PolicyName="Bad", PolicyDocument="{not json")[:2] == (
        "MalformedPolicyDocument",
        "This policy contains invalid Json",
    )
    no_resource = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]})
    assert error_of(iam.create_policy, PolicyName="Bad", PolicyDocument=no_resource)[:2] == (
        "MalformedPolicyDocument",
        "Policy statement must contain resources.",
    )


def test_unknown_policy_is_no_such_entity(iam: Any) -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:policy/Nope"
    for call, kwargs in (
        (iam.get_policy, {}),
        (iam.delete_policy, {}),
        (iam.list_policy_versions, {}),
        (iam.get_policy_version, {"VersionId": "v1"}),
    ):
        assert error_of(call, PolicyArn=arn, **kwargs) == ("NoSuchEntity", f"Policy {arn} was not found.", 404)


def test_versions_default_limit_and_deletion(iam: Any) -> None:
    arn = make_policy(iam)["Arn"]
    created = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(SECOND), SetAsDefault=True)
    assert created["PolicyVersion"]["VersionId"] == "v2" and created["PolicyVersion"]["IsDefaultVersion"] is True
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    for _ in range(3):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=DOCUMENT_TEXT)
    listed = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [v["VersionId"] for v in listed] == ["v5", "v4", "v3", "v2", "v1"]
    assert [v["IsDefaultVersion"] for v in listed] == [False, False, False, True, False]
    code, message, status = error_of(iam.create_policy_version, PolicyArn=arn, PolicyDocument=DOCUMENT_TEXT)
    assert (code, status) == ("LimitExceeded", 409) and "up to 5 versions" in message
    assert error_of(iam.delete_policy_version, PolicyArn=arn, VersionId="v2")[:2] == (
        "DeleteConflict",
        "Cannot delete the default version of a policy.",
    )
    assert error_of(iam.get_policy_version, PolicyArn=arn, VersionId="v9")[0] == "NoSuchEntity"
    iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v5")
    # Version ids are never reused: the next one is v6 although v1 is gone.
    assert iam.create_policy_version(PolicyArn=arn, PolicyDocument=DOCUMENT_TEXT)["PolicyVersion"]["VersionId"] == "v6"
    assert iam.get_policy_version(PolicyArn=arn, VersionId="v5")["PolicyVersion"]["IsDefaultVersion"] is True
    code, message, _ = error_of(iam.delete_policy, PolicyArn=arn)
    assert code == "DeleteConflict" and "more than one version" in message
    for version in ("v2", "v3", "v4", "v6"):
        iam.delete_policy_version(PolicyArn=arn, VersionId=version)
    iam.delete_policy(PolicyArn=arn)
    assert error_of(iam.get_policy, PolicyArn=arn)[0] == "NoSuchEntity"


def test_attach_customer_policy_counts_attachments_and_blocks_deletion(iam: Any) -> None:
    arn = make_policy(iam, Path="/app/")["Arn"]
    create(iam, "roleA")
    create(iam, "roleB")
    iam.attach_role_policy(RoleName="roleA", PolicyArn=arn)
    iam.attach_role_policy(RoleName="roleB", PolicyArn=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 2
    assert iam.list_attached_role_policies(RoleName="roleA")["AttachedPolicies"] == [
        {"PolicyName": "AppPolicy", "PolicyArn": arn}
    ]
    assert iam.list_attached_role_policies(RoleName="roleA", PathPrefix="/app/")["AttachedPolicies"] != []
    assert error_of(iam.delete_policy, PolicyArn=arn)[:2] == (
        "DeleteConflict",
        "Cannot delete a policy attached to entities.",
    )
    iam.detach_role_policy(RoleName="roleA", PolicyArn=arn)
    iam.detach_role_policy(RoleName="roleB", PolicyArn=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0
    iam.delete_policy(PolicyArn=arn)
    assert error_of(iam.attach_role_policy, RoleName="roleA", PolicyArn=arn) == (
        "NoSuchEntity",
        f"Policy {arn} does not exist or is not attachable.",
        404,
    )


def test_list_policies_by_scope_attachment_and_path(iam: Any) -> None:
    mine = make_policy(iam, Path="/app/")["Arn"]
    make_policy(iam, "Other")
    create(iam, "roleA")
    iam.attach_role_policy(RoleName="roleA", PolicyArn=mine)
    iam.attach_role_policy(RoleName="roleA", PolicyArn=LOGS_POLICY)
    local = iam.list_policies(Scope="Local")["Policies"]
    assert [p["PolicyName"] for p in local] == ["AppPolicy", "Other"]
    assert "Description" not in local[0]
    aws = iam.list_policies(Scope="AWS")["Policies"]
    assert aws and all(p["Arn"].startswith("arn:aws:iam::aws:policy/") for p in aws)
    everything = iam.list_policies()["Policies"]
    assert len(everything) == len(local) + len(aws)
    attached = iam.list_policies(OnlyAttached=True)["Policies"]
    assert sorted(p["Arn"] for p in attached) == sorted([mine, LOGS_POLICY])
    assert [p["Arn"] for p in iam.list_policies(Scope="Local", PathPrefix="/app/")["Policies"]] == [mine]
    page = iam.list_policies(Scope="Local", MaxItems=1)
    assert page["IsTruncated"] is True and len(page["Policies"]) == 1
    rest = iam.list_policies(Scope="Local", MaxItems=1, Marker=page["Marker"])
    assert [p["PolicyName"] for p in rest["Policies"]] == ["Other"] and rest["IsTruncated"] is False


def test_stack_with_a_managed_policy_on_its_role(endpoint: str, iam: Any) -> None:
    cfn = make_client("cloudformation", endpoint)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    template = {
        "Resources": {
            "TaskRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": trust}},
            "Access": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {"PolicyDocument": DOCUMENT, "Roles": [{"Ref": "TaskRole"}]},
            },
        },
        "Outputs": {
            "Arn": {"Value": {"Ref": "Access"}},
            "Version": {"Value": {"Fn::GetAtt": ["Access", "DefaultVersionId"]}},
        },
    }
    body = json.dumps(template)
    code, message, _ = error_of(cfn.create_stack, StackName="pol", TemplateBody=body)
    assert code == "InsufficientCapabilitiesException" and "CAPABILITY_IAM" in message
    cfn.create_stack(StackName="pol", TemplateBody=body, Capabilities=["CAPABILITY_IAM"])
    cfn.get_waiter("stack_create_complete").wait(StackName="pol", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="pol")["Stacks"][0]["Outputs"]}
    assert outputs["Version"] == "v1"
    policy = iam.get_policy(PolicyArn=outputs["Arn"])["Policy"]
    assert policy["AttachmentCount"] == 1 and policy["PolicyName"].startswith("pol-Access-")
    cfn.delete_stack(StackName="pol")
    cfn.get_waiter("stack_delete_complete").wait(StackName="pol", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert error_of(iam.get_policy, PolicyArn=outputs["Arn"])[0] == "NoSuchEntity"
