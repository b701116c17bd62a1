"""Security group rules through boto3: egress, revoking by permission or by rule id, and
DescribeSecurityGroupRules, with EC2's errors."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import make_client
from tests.integration.test_tasks_helpers import error_of

ALL_OUT = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
HTTPS = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}


@pytest.fixture
def ec2(endpoint: str) -> Any:
    return make_client("ec2", endpoint)


def _group(ec2: Any, group_id: str) -> Any:
    return ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]


def _rules(ec2: Any, group_id: str) -> list[Any]:
    filters = [{"Name": "group-id", "Values": [group_id]}]
    return list(ec2.describe_security_group_rules(Filters=filters)["SecurityGroupRules"])


def test_a_new_group_allows_all_egress_and_lists_it_as_a_rule(ec2: Any) -> None:
    group_id = ec2.create_security_group(GroupName="out", Description="out")["GroupId"]
    group = _group(ec2, group_id)
    assert [(p["IpProtocol"], p["IpRanges"]) for p in group["IpPermissionsEgress"]] == [
        ("-1", [{"CidrIp": "0.0.0.0/0"}])
    ]
    assert "SecurityGroupRules" not in group
    (rule,) = _rules(ec2, group_id)
    assert (rule["IsEgress"], rule["IpProtocol"], rule["CidrIpv4"], rule["FromPort"]) == (True, "-1", "0.0.0.0/0", -1)
    # The same id every time it is read, so it can be revoked by id.
    assert _rules(ec2, group_id)[0]["SecurityGroupRuleId"] == rule["SecurityGroupRuleId"]
    listed = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]])
    assert [r["GroupId"] for r in listed["SecurityGroupRules"]] == [group_id]


def test_egress_is_authorized_and_revoked_by_permission(ec2: Any) -> None:
    group_id = ec2.create_security_group(GroupName="egress", Description="egress")["GroupId"]
    added = ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=[HTTPS])
    [rule] = added["SecurityGroupRules"]
    assert (rule["IsEgress"], rule["FromPort"], rule["CidrIpv4"]) == (True, 443, "10.0.0.0/8")
    assert error_of(ec2.authorize_security_group_egress, GroupId=group_id, IpPermissions=[HTTPS]) == (
        "InvalidPermission.Duplicate",
        'the specified rule "peer: 10.0.0.0/8, TCP, from port: 443, to port: 443, ALLOW" already exists',
    )
    revoked = ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=[ALL_OUT])
    assert revoked["Return"] is True
    assert [(r["IsEgress"], r["IpProtocol"]) for r in revoked["RevokedSecurityGroupRules"]] == [(True, "-1")]
    egress = _group(ec2, group_id)["IpPermissionsEgress"]
    assert [(p["IpProtocol"], p["FromPort"], p["IpRanges"]) for p in egress] == [
        ("tcp", 443, [{"CidrIp": "10.0.0.0/8"}])
    ]
    assert error_of(ec2.revoke_security_group_egress, GroupId=group_id, IpPermissions=[ALL_OUT]) == (
        "InvalidPermission.NotFound",
        "The specified rule does not exist in this security group.",
    )
    # Egress rules are not ingress rules: revoking one as ingress finds nothing.
    assert error_of(ec2.revoke_security_group_ingress, GroupId=group_id, IpPermissions=[HTTPS])[0] == (
        "InvalidPermission.NotFound"
    )
    ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=[HTTPS])
    assert _group(ec2, group_id)["IpPermissionsEgress"] == []
    assert _rules(ec2, group_id) == []
    ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=[ALL_OUT])
    assert [p["IpProtocol"] for p in _group(ec2, group_id)["IpPermissionsEgress"]] == ["-1"]


def test_ingress_is_revoked_by_permission_flat_parameters_or_rule_id(ec2: Any) -> None:
    group_id = ec2.create_security_group(GroupName="in", Description="in")["GroupId"]
    peer_id = ec2.create_security_group(GroupName="peer", Description="peer")["GroupId"]
    web = {
        "IpProtocol": "tcp",
        "FromPort": 80,
        "ToPort": 80,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}, {"CidrIp": "10.0.0.0/8", "Description": "inside"}],
        "UserIdGroupPairs": [{"GroupId": peer_id}],
    }
    rules = ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[web])["SecurityGroupRules"]
    assert len(rules) == 3
    by_peer = {r.get("CidrIpv4") or r["ReferencedGroupInfo"]["GroupId"]: r["SecurityGroupRuleId"] for r in rules}
    ec2.revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=[by_peer[peer_id]])
    ec2.revoke_security_group_ingress(GroupId=group_id, IpProtocol="tcp", FromPort=80, ToPort=80, CidrIp="0.0.0.0/0")
    (permission,) = _group(ec2, group_id)["IpPermissions"]
    assert (permission["FromPort"], permission["IpRanges"], permission["UserIdGroupPairs"]) == (
        80,
        [{"CidrIp": "10.0.0.0/8", "Description": "inside"}],
        [],
    )
    assert {r["SecurityGroupRuleId"] for r in _rules(ec2, group_id) if not r["IsEgress"]} == {by_peer["10.0.0.0/8"]}
    assert error_of(
        ec2.revoke_security_group_ingress, GroupId=group_id, SecurityGroupRuleIds=[by_peer["0.0.0.0/0"]]
    ) == ("InvalidSecurityGroupRuleId.NotFound", f"The security group rule ID '{by_peer['0.0.0.0/0']}' does not exist")
    # An egress rule's id does not name an ingress rule.
    egress_id = next(r["SecurityGroupRuleId"] for r in _rules(ec2, group_id) if r["IsEgress"])
    assert error_of(ec2.revoke_security_group_ingress, GroupId=group_id, SecurityGroupRuleIds=[egress_id])[0] == (
        "InvalidSecurityGroupRuleId.NotFound"
    )
    # A call that names one missing rule takes nothing away.
    missing = {"IpProtocol": "tcp", "FromPort": 81, "ToPort": 81, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
    present = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
    assert error_of(ec2.revoke_security_group_ingress, GroupId=group_id, IpPermissions=[present, missing])[0] == (
        "InvalidPermission.NotFound"
    )
    assert len(_group(ec2, group_id)["IpPermissions"]) == 1
    ec2.revoke_security_group_ingress(GroupName="in", IpPermissions=[present])
    assert _group(ec2, group_id)["IpPermissions"] == []
    assert error_of(ec2.revoke_security_group_ingress, GroupId="sg-00000000000000000", IpPermissions=[present]) == (
        "InvalidGroup.NotFound",
        "The security group 'sg-00000000000000000' does not exist",
    )


def test_describe_security_group_rules_errors(ec2: Any) -> None:
    assert error_of(ec2.describe_security_group_rules, SecurityGroupRuleIds=["sgr-00000000000000000"]) == (
        "InvalidSecurityGroupRuleId.NotFound",
        "The security group rule ID 'sgr-00000000000000000' does not exist",
    )
    assert error_of(ec2.describe_security_group_rules, Filters=[{"Name": "nope", "Values": ["x"]}])[0] == (
        "InvalidParameterValue"
    )
