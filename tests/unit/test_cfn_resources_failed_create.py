"""A create that makes its resource and then fails a later call takes the resource down before the
failure goes on (CloudFormation's handlers leave nothing of a failed create), and reports the
physical id as soon as the resource exists, so that a rollback after a crash can take it down too.
Driven against an in-process server's providers on the fake runtime and a fake clock."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ecslite.clock import FakeClock
from ecslite.protocol.errors import AwsError
from ecslite.providers.calls import Calls
from ecslite.providers.cloudformation.resources import ec2, elbv2, iam, logs  # noqa: F401 - registers the types
from ecslite.providers.cloudformation.resources.base import HANDLERS, Physical, ResourceContext
from tests.unit.test_cfn_resources_net import STACK, STACK_ID, default_network, drive, running

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
READ = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


def reporting(call: Calls, clock: FakeClock, logical_id: str, reported: list[Physical]) -> ResourceContext:
    """A context whose early reports land in ``reported`` (the engine's recorder in a stack)."""
    return ResourceContext(call, clock, STACK, STACK_ID, logical_id, [], reported.append)


async def failed_create(clock: FakeClock, type_name: str, rc: ResourceContext, props: dict[str, Any]) -> AwsError:
    with pytest.raises(AwsError) as caught:
        await drive(clock, HANDLERS[type_name].create(rc, props))
    return caught.value


def test_log_group_whose_retention_is_refused_is_taken_down(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (clock, call):
            reported: list[Physical] = []
            rc = reporting(call, clock, "Logs", reported)
            props = {"LogGroupName": "/cfn/half", "RetentionInDays": 8}
            error = await failed_create(clock, "AWS::Logs::LogGroup", rc, props)
            assert error.code == "InvalidParameterException"
            assert [p.physical_id for p in reported] == ["/cfn/half"]
            groups = (await call("logs", "DescribeLogGroups", {"logGroupNamePrefix": "/cfn/half"}))["logGroups"]
            assert groups == []

    asyncio.run(scenario())


def test_role_whose_managed_policy_is_refused_is_taken_down_with_its_inline_policies(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (clock, call):
            reported: list[Physical] = []
            rc = reporting(call, clock, "Role", reported)
            props = {
                "RoleName": "half-role",
                "AssumeRolePolicyDocument": TRUST,
                "Policies": [{"PolicyName": "inline", "PolicyDocument": READ}],
                "ManagedPolicyArns": ["arn:aws:iam::000000000000:policy/nothing-here"],
            }
            error = await failed_create(clock, "AWS::IAM::Role", rc, props)
            assert error.code == "NoSuchEntity"
            assert [p.physical_id for p in reported] == ["half-role"]
            assert reported[0].attributes["Arn"].endswith(":role/half-role")
            with pytest.raises(AwsError) as gone:
                await call("iam", "GetRole", {"RoleName": "half-role"})
            assert gone.value.code == "NoSuchEntity"

    asyncio.run(scenario())


def test_security_group_whose_ingress_is_refused_is_taken_down(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (clock, call):
            vpc, _ = await default_network(call)
            reported: list[Physical] = []
            rc = reporting(call, clock, "Group", reported)
            props = {
                "GroupName": "half-group",
                "GroupDescription": "made, then its rule refused",
                "VpcId": vpc,
                # The same rule twice: EC2 refuses the second as a duplicate.
                "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIp": "10.0.0.0/8"}]
                * 2,
            }
            error = await failed_create(clock, "AWS::EC2::SecurityGroup", rc, props)
            assert error.code == "InvalidPermission.Duplicate"
            [group] = reported
            assert group.physical_id.startswith("sg-")
            filters = [{"Name": "group-name", "Values": ["half-group"]}]
            assert (await call("ec2", "DescribeSecurityGroups", {"Filters": filters}))["SecurityGroups"] == []

    asyncio.run(scenario())


def test_load_balancer_and_target_group_whose_attributes_are_refused_are_taken_down(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (clock, call):
            vpc, subnets = await default_network(call)
            reported: list[Physical] = []
            rc = reporting(call, clock, "Balancer", reported)
            props = {
                "Name": "half-lb",
                "Subnets": subnets[:2],
                "LoadBalancerAttributes": [{"Key": "no.such.attribute", "Value": "1"}],
            }
            error = await failed_create(clock, "AWS::ElasticLoadBalancingV2::LoadBalancer", rc, props)
            assert error.code == "ValidationError"
            assert [p.physical_id for p in reported] and ":loadbalancer/app/half-lb/" in reported[0].physical_id
            assert (await call("elbv2", "DescribeLoadBalancers", {}))["LoadBalancers"] == []

            reported.clear()
            rc = reporting(call, clock, "Targets", reported)
            props = {
                "Name": "half-tg",
                "Port": 80,
                "Protocol": "HTTP",
                "TargetType": "ip",
                "VpcId": vpc,
                "TargetGroupAttributes": [{"Key": "no.such.attribute", "Value": "1"}],
            }
            error = await failed_create(clock, "AWS::ElasticLoadBalancingV2::TargetGroup", rc, props)
            assert error.code == "ValidationError"
            assert [p.physical_id for p in reported] and ":targetgroup/half-tg/" in reported[0].physical_id
            assert (await call("elbv2", "DescribeTargetGroups", {}))["TargetGroups"] == []

    asyncio.run(scenario())
