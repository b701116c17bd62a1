"""CreateLoadBalancer, DescribeLoadBalancers, DeleteLoadBalancer (application load balancers, §7.1).

Subnets and security groups come from ecslite's EC2 (the default VPC exists in every partition);
an ALB needs subnets in at least two zones of one VPC. A new load balancer is ``provisioning`` and
reads as ``active`` once :data:`PROVISIONING_SECONDS` have passed (**local model:** AWS takes a few
minutes; nothing here needs that long). Creating one again with the same name and settings returns
the existing one, as AWS does.

As an ALB's network interfaces do, a load balancer holds a private address in each of its subnets
(``store.elbv2.allocate_address``), which the process runtime puts on the bridge and the tasks'
resolver answers for its ``DNSName``; they are freed with it. Deleting one with
``deletion_protection.enabled`` is refused (``OperationNotPermitted``).
"""

from __future__ import annotations

import zlib
from typing import Any

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.elbv2 import errors
from ecslite.providers.elbv2.common import Doc, ElbBase, check_name, elb_arn, new_id, paged
from ecslite.providers.elbv2.lb_attributes import DELETION_PROTECTION, attributes_of, default_attributes
from ecslite.store import elbv2 as store
from ecslite.store import vpc as vpc_store

PROVISIONING_SECONDS = 1.0
# Route 53 hosted zone ids of ALBs, per region (public AWS documentation); others use us-east-1's.
HOSTED_ZONES = {
    "us-east-1": "Z35SXDOTRQ7X7K",
    "us-east-2": "Z3AADJGX6KTTL2",
    "us-west-1": "Z368ELLRRE2KJ0",
    "us-west-2": "Z1H1FL5HABSF5",
    "eu-west-1": "Z32O12XQLNTSW2",
    "eu-central-1": "Z215JYRZR1TBD5",
    "ap-southeast-1": "Z1LMS91P8CMLE5",
    "ap-northeast-1": "Z14GRHDCWA56QT",
}


def dns_name(ctx: RequestContext, name: str, lb_id: str, scheme: str) -> str:
    digits = zlib.crc32(lb_id.encode()) % 10**10
    prefix = "internal-" if scheme == "internal" else ""
    return f"{prefix}{name}-{digits}.{ctx.region}.elb.amazonaws.com"


class LoadBalancerOps(ElbBase):
    def create_load_balancer(self, ctx: RequestContext, params: Params) -> Doc:
        name = params["Name"]
        check_name(name, "Load balancer")
        if name.startswith("internal-"):
            raise errors.validation(errors.LB_NAME_INTERNAL.format(name=name))
        kind = params.get("Type", "application")
        if kind != "application":
            raise errors.validation(f"Load balancer type '{kind}' is not supported by ecslite; use 'application'")
        self.prepare(ctx)
        subnets = self._subnets(ctx, params)
        vpc_id = subnets[0]["VpcId"]
        groups = self._security_groups(ctx, params, vpc_id)
        scheme = params.get("Scheme", "internet-facing")
        existing = store.load_balancer_named(self.db, ctx.account, ctx.region, name)
        if existing is not None:
            same = (
                existing["Scheme"] == scheme
                and sorted(z["SubnetId"] for z in existing["AvailabilityZones"])
                == sorted(s["SubnetId"] for s in subnets)
                and sorted(existing["SecurityGroups"]) == sorted(groups)
            )
            if not same:
                raise errors.ElbError("DuplicateLoadBalancerName", errors.DUPLICATE_LOAD_BALANCER.format(name=name))
            return {"LoadBalancers": [self._view(existing)]}
        lb_id = new_id()
        now = self.now()
        doc: Doc = {
            "LoadBalancerArn": elb_arn(ctx, f"loadbalancer/app/{name}/{lb_id}"),
            "DNSName": dns_name(ctx, name, lb_id, scheme),
            "CanonicalHostedZoneId": HOSTED_ZONES.get(ctx.region, HOSTED_ZONES["us-east-1"]),
            "CreatedTime": now,
            "LoadBalancerName": name,
            "Scheme": scheme,
            "VpcId": vpc_id,
            "State": {"Code": "provisioning"},
            "Type": "application",
            "AvailabilityZones": [
                {"ZoneName": s["AvailabilityZone"], "SubnetId": s["SubnetId"], "LoadBalancerAddresses": []}
                for s in subnets
            ],
            "SecurityGroups": groups,
            "IpAddressType": params.get("IpAddressType", "ipv4"),
            "Attributes": default_attributes(scheme),
        }
        with self.db.transaction():
            store.insert_load_balancer(self.db, ctx.account, ctx.region, doc)
            for subnet in subnets:
                try:
                    store.allocate_address(
                        self.db, ctx.account, ctx.region, doc["LoadBalancerArn"], subnet, f"eni-{new_id()}0"
                    )
                except vpc_store.PoolExhausted:
                    raise errors.ElbError(
                        "InvalidSubnet", errors.SUBNET_FULL.format(subnet=subnet["SubnetId"])
                    ) from None
            if params.get("Tags"):
                self.put_tags(doc["LoadBalancerArn"], params["Tags"])
        return {"LoadBalancers": [self._view(doc)]}

    def _subnets(self, ctx: RequestContext, params: Params) -> list[Doc]:
        ids = list(params.get("Subnets") or [m["SubnetId"] for m in params.get("SubnetMappings") or []])
        found = []
        for subnet_id in ids:
            doc = vpc_store.get_subnet(self.db, ctx.account, ctx.region, subnet_id)
            if doc is None:
                raise errors.ElbError("SubnetNotFound", errors.SUBNET_NOT_FOUND.format(subnet=subnet_id))
            found.append(doc)
        if len({s["VpcId"] for s in found}) > 1:
            raise errors.invalid_config(errors.SUBNETS_IN_TWO_VPCS)
        if len({s["AvailabilityZone"] for s in found}) < 2:
            raise errors.validation(errors.SUBNETS_IN_ONE_ZONE)
        return found

    def _security_groups(self, ctx: RequestContext, params: Params, vpc_id: str) -> list[str]:
        ids = params.get("SecurityGroups")
        if ids is None:
            default = vpc_store.group_by_name(self.db, ctx.account, ctx.region, vpc_id, "default")
            return [default["GroupId"]] if default else []
        for group_id in ids:
            doc = vpc_store.get_group(self.db, ctx.account, ctx.region, group_id)
            if doc is None or doc.get("VpcId") != vpc_id:
                raise errors.ElbError("InvalidSecurityGroup", errors.SECURITY_GROUP_NOT_FOUND)
        return list(ids)

    def _view(self, doc: Doc) -> Doc:
        """The load balancer as shown now: ``active`` once provisioning time has passed."""
        if doc["State"]["Code"] == "provisioning" and self.clock.now() - doc["CreatedTime"] >= PROVISIONING_SECONDS:
            doc = {**doc, "State": {"Code": "active"}}
            with self.db.transaction():
                store.put_load_balancer(self.db, doc)
        return {k: v for k, v in doc.items() if k != "Attributes"}

    def describe_load_balancers(self, ctx: RequestContext, params: Params) -> Doc:
        arns, names = params.get("LoadBalancerArns"), params.get("Names")
        rows: list[tuple[int, Any]] = store.load_balancers(self.db, ctx.account, ctx.region)
        if arns:
            wanted = set(arns)
            rows = [r for r in rows if r[1]["LoadBalancerArn"] in wanted]
            if len(rows) < len(wanted):
                raise errors.load_balancer_not_found()
        if names:
            wanted = set(names)
            rows = [r for r in rows if r[1]["LoadBalancerName"] in wanted]
            if len(rows) < len(wanted):
                missing = ", ".join(sorted(wanted - {r[1]["LoadBalancerName"] for r in rows}))
                raise errors.ElbError("LoadBalancerNotFound", f"Load balancers '[{missing}]' not found")
        return paged("LoadBalancers", params, rows, self._view)

    def delete_load_balancer(self, ctx: RequestContext, params: Params) -> Doc:
        arn = params["LoadBalancerArn"]
        # Deleting one that is already gone succeeds, as in AWS; one of another kind or partition does not.
        if store.get_load_balancer(self.db, arn) is not None:
            doc = self.load_balancer(ctx, arn)
            if attributes_of(doc)[DELETION_PROTECTION] == "true":
                raise errors.ElbError("OperationNotPermitted", errors.DELETION_PROTECTED.format(arn=arn))
            with self.db.transaction():
                store.delete_load_balancer(self.db, arn)
        return {}
