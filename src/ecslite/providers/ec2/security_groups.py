"""Security groups: CreateSecurityGroup, DescribeSecurityGroups, DeleteSecurityGroup,
Authorize/RevokeSecurityGroupIngress, Authorize/RevokeSecurityGroupEgress, DescribeSecurityGroupRules.

**Local model**: groups and their rules are stored and shown exactly, and awsvpc tasks name
them, but they are not enforced as a firewall: every task on the host bridge can reach every
other (docs/networking.md says so). Rules are kept as EC2 shows them, merged per
(protocol, from port, to port), each source or destination also recorded as a rule with its
``sgr-`` id in the group's hidden ``SecurityGroupRules`` (groups stored before rules were kept get
theirs from their permissions, with ids that stay the same until the group is next written).
"""

from __future__ import annotations

from typing import Any

from ecslite.model.vpc import new_id, parse_cidr, stable_id
from ecslite.model.vpc_docs import security_group_doc
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ec2 import errors
from ecslite.providers.ec2.common import Doc, Ec2Base, Values
from ecslite.providers.ec2.elb_interfaces import balancers_with_group
from ecslite.store import vpc as vpc_store

GROUP_FILTERS = ("group-id", "group-name", "vpc-id", "description", "owner-id", "ip-permission.protocol")
PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}
NAME_MAX = 255
RULES = "SecurityGroupRules"  # kept in the stored doc, left out of DescribeSecurityGroups
PEERS = (("IpRanges", "CidrIp"), ("UserIdGroupPairs", "GroupId"))
RULE_FILTERS = ("group-id", "security-group-rule-id")


def group_values(doc: Doc) -> Values:
    return {
        "group-id": [doc["GroupId"]],
        "group-name": [doc["GroupName"]],
        "vpc-id": [doc["VpcId"]],
        "description": [doc["Description"]],
        "owner-id": [doc["OwnerId"]],
        "ip-permission.protocol": [p["IpProtocol"] for p in doc.get("IpPermissions") or ()],
    }


class SecurityGroupOps(Ec2Base):
    def describe_security_groups(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        rows = vpc_store.groups(self.db, ctx.account, ctx.region)
        names = params.get("GroupNames") or []
        if names:
            vpc_id = self.default_vpc_id(ctx)
            by_name = {d["GroupName"]: d for _, d in rows if d["VpcId"] == vpc_id}
            for name in names:
                if name not in by_name:
                    raise errors.group_name_not_found(name, vpc_id)
            rows = [(rid, d) for rid, d in rows if d["VpcId"] == vpc_id and d["GroupName"] in names]
        for group_id in params.get("GroupIds") or ():
            if not group_id.startswith("sg-"):
                raise errors.malformed("InvalidGroupId.Malformed", group_id, "sg")
        result = self.describe(
            params,
            rows,
            ids_param="GroupIds",
            id_key="GroupId",
            not_found=errors.group_not_found,
            filter_values=group_values,
            known_filters=GROUP_FILTERS,
            result_key="SecurityGroups",
        )
        result["SecurityGroups"] = [{k: v for k, v in d.items() if k != RULES} for d in result["SecurityGroups"]]
        return result

    def describe_security_group_rules(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        rows = list(enumerate(r for _, g in vpc_store.groups(self.db, ctx.account, ctx.region) for r in _rules(g)))
        return self.describe(
            params,
            rows,
            ids_param="SecurityGroupRuleIds",
            id_key="SecurityGroupRuleId",
            not_found=_rule_not_found,
            filter_values=lambda r: {"group-id": [r["GroupId"]], "security-group-rule-id": [r["SecurityGroupRuleId"]]},
            known_filters=RULE_FILTERS,
            result_key="SecurityGroupRules",
        )

    def create_security_group(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        self.check_dry_run(params)
        name = params["GroupName"]
        description = params["Description"]
        if name.lower().startswith("sg-"):
            raise errors.invalid_value("Group names may not be in the format sg-*.")
        if not name or len(name) > NAME_MAX:
            raise errors.invalid_value(f"Invalid value '{name}' for groupName. Length must be 1-{NAME_MAX}.")
        if name == vpc_store.DEFAULT_GROUP:
            raise errors.invalid_value("The security group name 'default' is reserved.")
        vpc_id = params.get("VpcId") or self.default_vpc_id(ctx)
        self.vpc(ctx, vpc_id)
        if vpc_store.group_by_name(self.db, ctx.account, ctx.region, vpc_id, name) is not None:
            raise errors.Ec2Error(
                "InvalidGroup.Duplicate", f"The security group '{name}' already exists for VPC '{vpc_id}'"
            )
        tags = self.spec_tags(params, "security-group")
        doc = security_group_doc(ctx.account, ctx.region, new_id("sg"), vpc_id, name, description, tags=tags)
        with self.db.transaction():
            vpc_store.put_group(self.db, ctx.account, ctx.region, doc)
        return {"GroupId": doc["GroupId"], "Tags": doc["Tags"], "SecurityGroupArn": doc["SecurityGroupArn"]}

    def delete_security_group(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        self.check_dry_run(params)
        group = self._group(ctx, params)
        group_id = group["GroupId"]
        if group["GroupName"] == vpc_store.DEFAULT_GROUP:
            raise errors.Ec2Error(
                "CannotDelete", f'the specified group: "{group_id}" name: "default" cannot be deleted by a user'
            )
        if vpc_store.interfaces_with_group(self.db, ctx.account, ctx.region, group_id) or balancers_with_group(
            self.db, ctx.account, ctx.region, group_id
        ):
            raise errors.dependency(f"resource {group_id} has a dependent object")
        with self.db.transaction():
            vpc_store.delete_group(self.db, ctx.account, ctx.region, group_id)
        return {"Return": True, "GroupId": group_id}

    def authorize_security_group_ingress(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        return self._authorize(ctx, params, egress=False)

    def authorize_security_group_egress(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        return self._authorize(ctx, params, egress=True)

    def revoke_security_group_ingress(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        return self._revoke(ctx, params, egress=False)

    def revoke_security_group_egress(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        return self._revoke(ctx, params, egress=True)

    def _authorize(self, ctx: RequestContext, params: Params, *, egress: bool) -> dict[str, Any]:
        self.check_dry_run(params)
        group = self._group(ctx, params)
        permissions = self._permissions(ctx, params, egress=egress)
        if not permissions:
            raise errors.Ec2Error("MissingParameter", "No IP permissions specified.")
        kept = _rules(group)
        stored = group.setdefault(_field(egress), [])
        rules: list[Doc] = []
        for permission in permissions:
            rules += _add(group, stored, _normalised(permission), egress=egress)
        kept += rules
        with self.db.transaction():
            vpc_store.put_group(self.db, ctx.account, ctx.region, group)
        return {"Return": True, "SecurityGroupRules": rules}

    def _revoke(self, ctx: RequestContext, params: Params, *, egress: bool) -> dict[str, Any]:
        """Takes rules away, named by ``IpPermissions`` (or the flat parameters) or by
        ``SecurityGroupRuleIds``; one that is not there fails the whole call, as EC2 does."""
        self.check_dry_run(params)
        group = self._group(ctx, params)
        kept = _rules(group)
        mine = {r["SecurityGroupRuleId"]: r for r in kept if r["IsEgress"] == egress}
        doomed: list[Doc] = []
        for rule_id in params.get("SecurityGroupRuleIds") or ():
            if rule_id not in mine:
                raise _rule_not_found(rule_id)
            doomed.append(mine[rule_id])
        permissions = self._permissions(ctx, params, egress=egress)
        if not permissions and not params.get("SecurityGroupRuleIds"):
            raise errors.Ec2Error("MissingParameter", "No IP permissions specified.")
        for permission in permissions:
            normal = _normalised(permission)
            for field, peer_key in PEERS:
                for peer in normal[field]:
                    found = next((r for r in mine.values() if _same(r, normal, peer_key, peer[peer_key])), None)
                    if found is None:
                        raise errors.Ec2Error(
                            "InvalidPermission.NotFound", "The specified rule does not exist in this security group."
                        )
                    doomed.append(found)
        # IPv6 ranges and prefix lists are not kept (see _normalised): a permission naming only
        # those has nothing here to take away.
        gone = {r["SecurityGroupRuleId"] for r in doomed}
        group[RULES] = [r for r in kept if r["SecurityGroupRuleId"] not in gone]
        group[_field(egress)] = _permissions_of([r for r in group[RULES] if r["IsEgress"] == egress], group)
        with self.db.transaction():
            vpc_store.put_group(self.db, ctx.account, ctx.region, group)
        revoked = [r for r in kept if r["SecurityGroupRuleId"] in gone]
        return {"Return": True, "RevokedSecurityGroupRules": [_revoked(r) for r in revoked]}

    def _permissions(self, ctx: RequestContext, params: Params, *, egress: bool) -> list[Doc]:
        permissions = list(params.get("IpPermissions") or ())
        flat = ("IpProtocol", "CidrIp") + (() if egress else ("SourceSecurityGroupName",))
        if any(params.get(key) for key in flat):
            permissions.append(self._flat_permission(ctx, params))
        return permissions

    # -- helpers -----------------------------------------------------------------------------------

    def _group(self, ctx: RequestContext, params: Params) -> Doc:
        group_id = params.get("GroupId")
        if group_id:
            if not group_id.startswith("sg-"):
                raise errors.malformed("InvalidGroupId.Malformed", group_id, "sg")
            found = vpc_store.get_group(self.db, ctx.account, ctx.region, group_id)
            if found is None:
                raise errors.group_not_found(group_id)
            return found
        name = params.get("GroupName")
        if not name:
            raise errors.Ec2Error("MissingParameter", "The request must contain the parameter groupName or groupId")
        vpc_id = self.default_vpc_id(ctx)
        found = vpc_store.group_by_name(self.db, ctx.account, ctx.region, vpc_id, name)
        if found is None:
            raise errors.group_name_not_found(name, vpc_id)
        return found

    def _flat_permission(self, ctx: RequestContext, params: Params) -> Doc:
        permission: Doc = {"IpProtocol": params.get("IpProtocol") or "-1"}
        for key in ("FromPort", "ToPort"):
            if params.get(key) is not None:
                permission[key] = params[key]
        if params.get("CidrIp"):
            permission["IpRanges"] = [{"CidrIp": params["CidrIp"]}]
        if params.get("SourceSecurityGroupName"):
            source = self._group(ctx, {"GroupName": params["SourceSecurityGroupName"]})
            permission["UserIdGroupPairs"] = [{"GroupId": source["GroupId"], "UserId": ctx.account}]
        return permission


def _field(egress: bool) -> str:
    return "IpPermissionsEgress" if egress else "IpPermissions"


def _rule(group: Doc, permission: Doc, peer_key: str, peer: Doc, *, egress: bool, rule_id: str) -> Doc:
    rule: Doc = {
        "SecurityGroupRuleId": rule_id,
        "GroupId": group["GroupId"],
        "GroupOwnerId": group["OwnerId"],
        "IsEgress": egress,
        "IpProtocol": permission["IpProtocol"],
        "FromPort": permission.get("FromPort", -1),
        "ToPort": permission.get("ToPort", -1),
    }
    if peer_key == "CidrIp":
        rule["CidrIpv4"] = peer["CidrIp"]
    else:
        rule["ReferencedGroupInfo"] = {"GroupId": peer["GroupId"], "UserId": peer.get("UserId")}
    if peer.get("Description"):
        rule["Description"] = peer["Description"]
    return rule


def _rules(group: Doc) -> list[Doc]:
    """The group's rules, one per source or destination; a group stored without them (the
    default egress rule, groups of older stores) gets ids made from what each rule is, so they
    read the same every time until the list is written back."""
    if RULES not in group:
        made: list[Doc] = []
        for egress in (False, True):
            for permission in group.get(_field(egress)) or ():
                for field, peer_key in PEERS:
                    for peer in permission.get(field) or ():
                        what = (group["GroupId"], str(egress), _key_text(permission), str(peer.get(peer_key)))
                        rule_id = stable_id("sgr", *what)
                        made.append(_rule(group, permission, peer_key, peer, egress=egress, rule_id=rule_id))
        group[RULES] = made
    rules: list[Doc] = group[RULES]
    return rules


def _key_text(permission: Doc) -> str:
    return f"{permission['IpProtocol']}/{permission.get('FromPort')}/{permission.get('ToPort')}"


def _add(group: Doc, stored: list[Doc], permission: Doc, *, egress: bool) -> list[Doc]:
    key = (permission["IpProtocol"], permission.get("FromPort"), permission.get("ToPort"))
    target = next(
        (p for p in stored if (p["IpProtocol"], p.get("FromPort"), p.get("ToPort")) == key),
        None,
    )
    if target is None:
        target = {**permission, "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []}
        stored.append(target)
    rules: list[Doc] = []
    for field, peer_key in PEERS:
        for peer in permission.get(field) or ():
            if any(existing.get(peer_key) == peer.get(peer_key) for existing in target[field]):
                raise errors.Ec2Error("InvalidPermission.Duplicate", _duplicate_text(permission, peer[peer_key]))
            target[field].append(peer)
            rules.append(_rule(group, permission, peer_key, peer, egress=egress, rule_id=new_id("sgr")))
    return rules


def _same(rule: Doc, permission: Doc, peer_key: str, peer: str) -> bool:
    if (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) != (
        permission["IpProtocol"],
        permission.get("FromPort", -1),
        permission.get("ToPort", -1),
    ):
        return False
    if peer_key == "CidrIp":
        return bool(rule.get("CidrIpv4") == peer)
    return bool((rule.get("ReferencedGroupInfo") or {}).get("GroupId") == peer)


def _permissions_of(rules: list[Doc], group: Doc) -> list[Doc]:
    """The merged ``IpPermissions`` view of ``rules``, in the order their (protocol, ports) came."""
    merged: dict[tuple[Any, ...], Doc] = {}
    for rule in rules:
        key = (rule["IpProtocol"], rule["FromPort"], rule["ToPort"])
        if key not in merged:
            head: Doc = {"IpProtocol": rule["IpProtocol"]}
            if rule["IpProtocol"] != "-1":
                head.update(FromPort=rule["FromPort"], ToPort=rule["ToPort"])
            merged[key] = {**head, "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []}
        described = {"Description": rule["Description"]} if rule.get("Description") else {}
        if "CidrIpv4" in rule:
            merged[key]["IpRanges"].append({"CidrIp": rule["CidrIpv4"], **described})
        else:
            pair = {k: v for k, v in rule["ReferencedGroupInfo"].items() if v is not None}
            merged[key]["UserIdGroupPairs"].append({**pair, **described})
    return list(merged.values())


def _revoked(rule: Doc) -> Doc:
    out = {k: rule[k] for k in ("SecurityGroupRuleId", "GroupId", "IsEgress", "IpProtocol", "FromPort", "ToPort")}
    if "CidrIpv4" in rule:
        out["CidrIpv4"] = rule["CidrIpv4"]
    else:
        out["ReferencedGroupId"] = rule["ReferencedGroupInfo"]["GroupId"]
    return out


def _rule_not_found(rule_id: str) -> errors.Ec2Error:
    return errors.Ec2Error(
        "InvalidSecurityGroupRuleId.NotFound", f"The security group rule ID '{rule_id}' does not exist"
    )


def _normalised(permission: Doc) -> Doc:
    """A permission as EC2 stores it: named protocol, ports checked, CIDRs valid."""
    protocol = str(permission.get("IpProtocol") or "").lower()
    protocol = PROTOCOL_NAMES.get(protocol, protocol)
    if protocol not in ("tcp", "udp", "icmp", "icmpv6", "-1") and not (protocol.isdigit() and int(protocol) < 256):
        raise errors.invalid_value(f"Invalid value '{permission.get('IpProtocol')}' for IP protocol. Unknown protocol.")
    out: Doc = {"IpProtocol": protocol}
    if protocol in ("tcp", "udp"):
        low, high = permission.get("FromPort"), permission.get("ToPort")
        if low is None or high is None:
            raise errors.invalid_value(
                "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange"
            )
        if not (0 <= low <= high <= 65535):
            raise errors.invalid_value(f"Invalid value '{low}-{high}' for portRange. Ports must be 0-65535, from ≤ to.")
        out.update(FromPort=low, ToPort=high)
    elif protocol != "-1":
        out.update(FromPort=permission.get("FromPort", -1), ToPort=permission.get("ToPort", -1))
    ranges = []
    for item in permission.get("IpRanges") or ():
        if parse_cidr(item.get("CidrIp") or "") is None:
            raise errors.bad_cidr(item.get("CidrIp") or "", "cidrIp")
        ranges.append({k: v for k, v in item.items() if k in ("CidrIp", "Description")})
    out["IpRanges"] = ranges
    out["UserIdGroupPairs"] = [
        {k: v for k, v in pair.items() if k in ("GroupId", "UserId", "Description")}
        for pair in permission.get("UserIdGroupPairs") or ()
        if pair.get("GroupId")
    ]
    return out


def _duplicate_text(permission: Doc, peer: str) -> str:
    protocol = "ALL" if permission["IpProtocol"] == "-1" else permission["IpProtocol"].upper()
    low, high = permission.get("FromPort", -1), permission.get("ToPort", -1)
    return f'the specified rule "peer: {peer}, {protocol}, from port: {low}, to port: {high}, ALLOW" already exists'
