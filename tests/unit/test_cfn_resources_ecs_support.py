"""CloudFormation's handlers for what ECS services stand on (Logs LogGroup/LogStream, IAM Role/Policy,
Application Auto Scaling ScalableTarget/ScalingPolicy) and the no-op CDK::Metadata and
WaitConditionHandle, driven against an in-process server's providers: what they make shows through
the services' own operations, in-place updates change only what changed, deletes are idempotent."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from ecslite.clock import FakeClock
from ecslite.protocol.errors import AwsError
from ecslite.providers.calls import Calls
from ecslite.providers.cloudformation.resources.base import HANDLERS, Physical, ResourceFailed
from ecslite.server import Server
from tests.unit.test_cfn_resources_ecs import STACK, STACK_ID, cluster_with_definition, context, drive, run

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
READ = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
WRITE = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}
EXECUTION = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


# -- Logs ------------------------------------------------------------------------------------------


async def log_group(call: Calls, name: str) -> dict[str, Any] | None:
    found = (await call("logs", "DescribeLogGroups", {"logGroupNamePrefix": name}))["logGroups"]
    return next((dict(g) for g in found if g["logGroupName"] == name), None)


def test_log_group_is_named_with_retention_and_tags_changed_in_place(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        handler = HANDLERS["AWS::Logs::LogGroup"]
        rc = context(call, clock, "Logs")
        props = {"RetentionInDays": "7", "Tags": [{"Key": "env", "Value": "test"}]}
        made = await handler.create(rc, props)
        name = made.physical_id
        assert name.startswith(f"{STACK}-Logs-")
        assert made.attributes == {"Arn": f"arn:aws:logs:us-east-1:000000000000:log-group:{name}:*"}
        shown = await log_group(call, name)
        assert shown is not None and shown["retentionInDays"] == 7
        tags = (await call("logs", "ListTagsLogGroup", {"logGroupName": name}))["tags"]
        # Logs takes CloudFormation's own aws:cloudformation:* tags.
        assert tags == {
            "aws:cloudformation:stack-name": STACK,
            "aws:cloudformation:logical-id": "X",
            "team": "shop",
        } | {"env": "test"}

        assert handler.needs_replacement(props, {**props, "LogGroupName": "/other"})
        assert not handler.needs_replacement(props, {**props, "RetentionInDays": 14})
        longer = {"RetentionInDays": 14, "Tags": [{"Key": "tier", "Value": "1"}]}
        assert await handler.update(rc, made, props, longer) == made
        shown = await log_group(call, name)
        assert shown is not None and shown["retentionInDays"] == 14
        tags = (await call("logs", "ListTagsLogGroup", {"logGroupName": name}))["tags"]
        assert "env" not in tags and tags["tier"] == "1"
        await handler.update(rc, made, longer, {})
        shown = await log_group(call, name)
        assert shown is not None and "retentionInDays" not in shown  # never expire again

        await handler.delete(rc, made, {})
        assert await log_group(call, name) is None
        await handler.delete(rc, made, {})

    run(tmp_path, scenario)


def test_log_group_with_a_bad_retention_fails_with_the_logs_error(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        with pytest.raises(AwsError) as failed:
            await HANDLERS["AWS::Logs::LogGroup"].create(
                context(call, clock, "Logs"), {"LogGroupName": "/bad", "RetentionInDays": "8"}
            )
        assert failed.value.code == "InvalidParameterException" and "retentionInDays" in failed.value.message

    run(tmp_path, scenario)


def test_log_stream_is_made_in_its_group_and_deleted_idempotently(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        await call("logs", "CreateLogGroup", {"logGroupName": "/shop"})
        handler = HANDLERS["AWS::Logs::LogStream"]
        rc = context(call, clock, "Stream")
        made = await handler.create(rc, {"LogGroupName": "/shop"})
        assert made.physical_id.startswith(f"{STACK}-Stream-")
        streams = (await call("logs", "DescribeLogStreams", {"logGroupName": "/shop"}))["logStreams"]
        assert [s["logStreamName"] for s in streams] == [made.physical_id]
        assert handler.needs_replacement({"LogGroupName": "/shop"}, {"LogGroupName": "/shop", "LogStreamName": "x"})
        await handler.delete(rc, made, {"LogGroupName": "/shop"})
        assert not (await call("logs", "DescribeLogStreams", {"logGroupName": "/shop"}))["logStreams"]
        await handler.delete(rc, made, {"LogGroupName": "/shop"})
        await call("logs", "DeleteLogGroup", {"logGroupName": "/shop"})
        await handler.delete(rc, made, {"LogGroupName": "/shop"})  # its group gone as well

    run(tmp_path, scenario)


# -- IAM -------------------------------------------------------------------------------------------


async def role_state(call: Calls, name: str) -> tuple[dict[str, Any], list[str], list[str], dict[str, str]]:
    role = (await call("iam", "GetRole", {"RoleName": name}))["Role"]
    inline = (await call("iam", "ListRolePolicies", {"RoleName": name}))["PolicyNames"]
    attached = [
        p["PolicyArn"] for p in (await call("iam", "ListAttachedRolePolicies", {"RoleName": name}))["AttachedPolicies"]
    ]
    tags = {t["Key"]: t["Value"] for t in (await call("iam", "ListRoleTags", {"RoleName": name}))["Tags"]}
    return dict(role), sorted(inline), sorted(attached), tags


def test_role_with_inline_and_managed_policies_changes_in_place_and_comes_off_cleanly(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        handler = HANDLERS["AWS::IAM::Role"]
        assert handler.iam and handler.name_property == "RoleName"
        rc = context(call, clock, "TaskExecutionRoleWithAVeryLongLogicalIdThatMustBeCut")
        props: dict[str, Any] = {
            "AssumeRolePolicyDocument": TRUST,
            "Policies": [{"PolicyName": "read", "PolicyDocument": READ}],
            "ManagedPolicyArns": [EXECUTION],
            "MaxSessionDuration": "7200",
            "Tags": [{"Key": "env", "Value": "test"}],
        }
        made = await handler.create(rc, props)
        name = made.physical_id
        assert len(name) == 64 and name.startswith(f"{STACK}-TaskExecutionRole")  # IAM's limit
        role, inline, attached, tags = await role_state(call, name)
        assert made.attributes == {"Arn": role["Arn"], "RoleId": role["RoleId"]}
        assert role["Arn"] == f"arn:aws:iam::000000000000:role/{name}" and role["MaxSessionDuration"] == 7200
        assert json.loads(unquote(role["AssumeRolePolicyDocument"]))  # IAM shows it URL-encoded == TRUST
        assert inline == ["read"] and attached == [EXECUTION]
        assert tags == {"team": "shop", "env": "test"}  # IAM refuses aws: keys

        assert handler.needs_replacement(props, {**props, "Path": "/svc/"})
        new = {
            "AssumeRolePolicyDocument": json.dumps(TRUST),  # the same document, as a string
            "Description": "tasks",
            "Policies": [{"PolicyName": "write", "PolicyDocument": WRITE}],
            "ManagedPolicyArns": [READ_ONLY],
            "Tags": [{"Key": "tier", "Value": "1"}, {"Key": "aws:x", "Value": "y"}],  # the aws: one left out
        }
        assert not handler.needs_replacement(props, new)
        assert await handler.update(rc, made, props, new) == made
        role, inline, attached, tags = await role_state(call, name)
        assert role["Description"] == "tasks" and role["RoleId"] == made.attributes["RoleId"]
        assert inline == ["write"] and attached == [READ_ONLY] and tags == {"team": "shop", "tier": "1"}
        document = (await call("iam", "GetRolePolicy", {"RoleName": name, "PolicyName": "write"}))["PolicyDocument"]
        assert json.loads(unquote(document)) == WRITE

        # Something else put a policy on the role meanwhile: the delete takes it off too.
        await call(
            "iam", "PutRolePolicy", {"RoleName": name, "PolicyName": "extra", "PolicyDocument": json.dumps(READ)}
        )
        await handler.delete(rc, made, new)
        with pytest.raises(AwsError) as gone:
            await call("iam", "GetRole", {"RoleName": name})
        assert gone.value.code == "NoSuchEntity"
        await handler.delete(rc, made, new)

    run(tmp_path, scenario)


def test_policy_is_put_on_its_roles_moved_renamed_and_taken_off(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        for role in ("a", "b"):
            await call("iam", "CreateRole", {"RoleName": role, "AssumeRolePolicyDocument": json.dumps(TRUST)})
        handler = HANDLERS["AWS::IAM::Policy"]
        rc = context(call, clock, "Policy")
        props = {"PolicyName": "read", "PolicyDocument": READ, "Roles": ["a", "arn:aws:iam::000000000000:role/b"]}
        made = await handler.create(rc, props)
        assert made.physical_id.startswith("stk-Polic-") and made.attributes == {"Id": made.physical_id}

        async def names(role: str) -> list[str]:
            return list((await call("iam", "ListRolePolicies", {"RoleName": role}))["PolicyNames"])

        assert await names("a") == ["read"] and await names("b") == ["read"]
        new = {"PolicyName": "write", "PolicyDocument": WRITE, "Roles": ["b"]}
        assert not handler.needs_replacement(props, new)
        await handler.update(rc, made, props, new)
        assert await names("a") == [] and await names("b") == ["write"]
        await handler.delete(rc, made, new)
        assert await names("b") == []
        await handler.delete(rc, made, new)
        await call("iam", "DeleteRole", {"RoleName": "b"})
        await handler.delete(rc, made, new)  # the role itself gone

        with pytest.raises(ResourceFailed) as refused:
            await handler.create(rc, {**props, "Users": ["bob"]})
        assert "Groups or Users" in refused.value.reason

    run(tmp_path, scenario)


def test_managed_policy_versions_documents_attaches_to_roles_and_comes_off_cleanly(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        for role in ("a", "b", "c"):
            await call("iam", "CreateRole", {"RoleName": role, "AssumeRolePolicyDocument": json.dumps(TRUST)})
        handler = HANDLERS["AWS::IAM::ManagedPolicy"]
        assert handler.iam and handler.name_property == "ManagedPolicyName"
        rc = context(call, clock, "Managed")
        props: dict[str, Any] = {"PolicyDocument": READ, "Path": "/app/", "Roles": ["a"]}
        made = await handler.create(rc, props)
        arn = made.physical_id
        name = arn.rsplit("/", 1)[-1]
        assert arn == f"arn:aws:iam::000000000000:policy/app/{name}" and name.startswith(f"{STACK}-Managed-")
        policy = (await call("iam", "GetPolicy", {"PolicyArn": arn}))["Policy"]
        assert made.attributes == {
            "PolicyArn": arn,
            "DefaultVersionId": "v1",
            "AttachmentCount": 1,
            "IsAttachable": True,
            "PolicyId": policy["PolicyId"],
        }

        async def attached(role: str) -> list[str]:
            found = (await call("iam", "ListAttachedRolePolicies", {"RoleName": role}))["AttachedPolicies"]
            return [p["PolicyArn"] for p in found]

        async def version_ids() -> list[str]:
            return [v["VersionId"] for v in (await call("iam", "ListPolicyVersions", {"PolicyArn": arn}))["Versions"]]

        assert handler.needs_replacement(props, {**props, "ManagedPolicyName": "other"})
        assert handler.needs_replacement(props, {**props, "Description": "new"})
        new = {**props, "PolicyDocument": WRITE, "Roles": ["arn:aws:iam::000000000000:role/b"]}
        assert not handler.needs_replacement(props, new)
        updated = await handler.update(rc, made, props, new)
        assert updated.physical_id == arn and updated.attributes["DefaultVersionId"] == "v2"
        assert await attached("a") == [] and await attached("b") == [arn]
        version = await call("iam", "GetPolicyVersion", {"PolicyArn": arn, "VersionId": "v2"})
        assert json.loads(unquote(version["PolicyVersion"]["Document"])) == WRITE

        # Five versions already: the oldest goes so that the new document can be the default.
        old = new
        for document in (READ, WRITE, READ, WRITE):
            new = {**old, "PolicyDocument": document}
            updated = await handler.update(rc, updated, old, new)
            old = new
        assert await version_ids() == ["v6", "v5", "v4", "v3", "v2"]
        assert updated.attributes["DefaultVersionId"] == "v6"

        # Attached elsewhere meanwhile: the delete detaches it from every role.
        await call("iam", "AttachRolePolicy", {"RoleName": "c", "PolicyArn": arn})
        await handler.delete(rc, updated, new)
        with pytest.raises(AwsError) as gone:
            await call("iam", "GetPolicy", {"PolicyArn": arn})
        assert gone.value.code == "NoSuchEntity"
        assert await attached("b") == [] and await attached("c") == []
        await handler.delete(rc, updated, new)  # already gone

    run(tmp_path, scenario)


# -- Application Auto Scaling ----------------------------------------------------------------------


def test_scalable_target_and_policy_scale_a_stack_service(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        cluster, _definition, service_props = await cluster_with_definition(call, clock)
        service = await drive(clock, HANDLERS["AWS::ECS::Service"].create(context(call, clock, "Web"), service_props))
        resource_id = f"service/{cluster}/{service.attributes['Name']}"
        target = HANDLERS["AWS::ApplicationAutoScaling::ScalableTarget"]
        rc = context(call, clock, "Target")
        start = dt.datetime.fromtimestamp(clock.now() + 86_400, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        props: dict[str, Any] = {
            "ResourceId": resource_id,
            "ScalableDimension": "ecs:service:DesiredCount",
            "ServiceNamespace": "ecs",
            "MinCapacity": "1",
            "MaxCapacity": "4",
            "SuspendedState": {"ScheduledScalingSuspended": "false"},
            "ScheduledActions": [
                {
                    "ScheduledActionName": "morning",
                    "Schedule": "cron(0 8 * * ? *)",
                    "StartTime": start,
                    "ScalableTargetAction": {"MinCapacity": "2", "MaxCapacity": "4"},
                }
            ],
        }
        made = await target.create(rc, props)
        ref = f"{resource_id}|ecs:service:DesiredCount|ecs"
        assert made == Physical(ref, {"Id": ref})

        async def shown() -> dict[str, Any]:
            found = await call("application-autoscaling", "DescribeScalableTargets", {"ServiceNamespace": "ecs"})
            return dict(found["ScalableTargets"][0])

        async def actions() -> list[dict[str, Any]]:
            found = await call("application-autoscaling", "DescribeScheduledActions", {"ServiceNamespace": "ecs"})
            return list(found["ScheduledActions"])

        assert ((await shown())["MinCapacity"], (await shown())["MaxCapacity"]) == (1, 4)
        [action] = await actions()
        assert action["StartTime"] == dt.datetime.fromisoformat(start).timestamp()  # ISO text to epoch seconds

        policy_handler = HANDLERS["AWS::ApplicationAutoScaling::ScalingPolicy"]
        prc = context(call, clock, "Cpu")
        policy: dict[str, Any] = {
            "PolicyName": "cpu",
            "PolicyType": "TargetTrackingScaling",
            "ScalingTargetId": made.physical_id,
            "TargetTrackingScalingPolicyConfiguration": {
                "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
                "TargetValue": "50",
                "ScaleInCooldown": "60",
            },
        }
        arn = (await policy_handler.create(prc, policy)).physical_id
        assert arn.startswith("arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:")
        assert policy_handler.needs_replacement(policy, {**policy, "PolicyName": "other"})
        tighter = dict(policy)
        tighter["TargetTrackingScalingPolicyConfiguration"] = {
            **policy["TargetTrackingScalingPolicyConfiguration"],
            "TargetValue": 70,
        }
        assert not policy_handler.needs_replacement(policy, tighter)
        assert await policy_handler.update(prc, Physical(arn, {"Arn": arn}), policy, tighter) == Physical(
            arn, {"Arn": arn}
        )
        found = await call("application-autoscaling", "DescribeScalingPolicies", {"ServiceNamespace": "ecs"})
        [shown_policy] = found["ScalingPolicies"]
        assert shown_policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 70.0

        assert target.needs_replacement(props, {**props, "ResourceId": "service/shop/other"})
        wider = {**props, "MaxCapacity": 6, "ScheduledActions": []}
        assert not target.needs_replacement(props, wider)
        await target.update(rc, made, props, wider)
        assert (await shown())["MaxCapacity"] == 6 and await actions() == []

        await policy_handler.delete(prc, Physical(arn), tighter)
        await policy_handler.delete(prc, Physical(arn), tighter)
        await target.delete(rc, made, wider)
        assert not (await call("application-autoscaling", "DescribeScalableTargets", {"ServiceNamespace": "ecs"}))[
            "ScalableTargets"
        ]
        await target.delete(rc, made, wider)
        await policy_handler.delete(prc, Physical(arn), tighter)  # its target gone too

    run(tmp_path, scenario)


# -- No-ops ----------------------------------------------------------------------------------------


def test_cdk_metadata_and_wait_condition_handle_make_nothing(tmp_path: Path) -> None:
    async def scenario(_server: Server, clock: FakeClock, call: Calls) -> None:
        metadata = HANDLERS["AWS::CDK::Metadata"]
        rc = context(call, clock, "CDKMetadata")
        made = await metadata.create(rc, {"Analytics": "v2:deflate64:abc"})
        assert not metadata.needs_replacement({"Analytics": "a"}, {"Analytics": "b"})
        assert await metadata.update(rc, made, {"Analytics": "a"}, {"Analytics": "b"}) == made
        await metadata.delete(rc, made, {})

        handle = HANDLERS["AWS::CloudFormation::WaitConditionHandle"]
        url = (await handle.create(context(call, clock, "Handle"), {})).physical_id
        assert url.startswith(
            "https://cloudformation-waitcondition-us-east-1.s3.amazonaws.com/arn%3Aaws%3Acloudformation"
        )
        assert STACK_ID.rsplit("/", 1)[-1] in url and "Handle" in url
        await handle.delete(context(call, clock, "Handle"), Physical(url), {})

    run(tmp_path, scenario)
