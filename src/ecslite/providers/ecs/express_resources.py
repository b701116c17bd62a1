"""Making and taking down what an ECS Express Mode service stands on, through ecslite's own
operations (the same handlers the API reaches, with a request context of their own), so that every
resource shows through the usual APIs: DescribeLoadBalancers, DescribeRules, DescribeScalableTargets,
DescribeAlarms.

- :class:`~ecslite.providers.calls.Calls` invokes another provider's operation by its AWS name.
- The network's shared part (load balancer security group, certificate for ``*.ecs.<region>.on.aws``
  from ecslite's local CA, the Application Load Balancer and its HTTPS listener on 443) is made by
  the first Express service of a network and taken down with the last one.
- Taking down is idempotent: a resource already gone counts as removed, one still in use (a task
  security group while the service's tasks stop) stays listed in ``resources`` for the next try.
"""

from __future__ import annotations

import logging
from typing import Any

from ecslite.providers.calls import Calls
from ecslite.providers.ecs import express_plan as plan

log = logging.getLogger(__name__)

Doc = dict[str, Any]


async def default_network(call: Calls) -> tuple[str, list[str]]:
    """The default VPC and its subnets (ECS uses them when the request names none)."""
    vpcs = (await call("ec2", "DescribeVpcs", {"Filters": [{"Name": "is-default", "Values": ["true"]}]}))["Vpcs"]
    vpc = vpcs[0]["VpcId"]
    subnets = (await call("ec2", "DescribeSubnets", {"Filters": [{"Name": "vpc-id", "Values": [vpc]}]}))["Subnets"]
    return vpc, sorted(s["SubnetId"] for s in subnets)


async def vpc_of(call: Calls, subnets: list[str]) -> str:
    found = (await call("ec2", "DescribeSubnets", {"SubnetIds": subnets}))["Subnets"]
    return str(found[0]["VpcId"])


async def security_group(call: Calls, name: str, description: str, vpc: str, port: int, source: Doc) -> str:
    group = await call("ec2", "CreateSecurityGroup", {"GroupName": name, "Description": description, "VpcId": vpc})
    group_id = str(group["GroupId"])
    permission = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, **source}
    await call("ec2", "AuthorizeSecurityGroupIngress", {"GroupId": group_id, "IpPermissions": [permission]})
    return group_id


async def make_shared(call: Calls, network: str, vpc: str, subnets: list[str], made: list[tuple[str, str, Doc]]) -> Doc:
    """The network's load balancer and HTTPS listener; each step is appended to ``made`` for undoing."""
    name = plan.load_balancer_name(network)
    lb_group = await security_group(
        call,
        f"{name}-sg",
        "ECS Express Mode load balancer",
        vpc,
        plan.HTTPS_PORT,
        {"IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    )
    made.append(("ec2", "DeleteSecurityGroup", {"GroupId": lb_group}))
    domain = f"*.ecs.{call.ctx.region}.on.aws"
    certificate = (await call("acm", "RequestCertificate", {"DomainName": domain, "ValidationMethod": "DNS"}))[
        "CertificateArn"
    ]
    made.append(("acm", "DeleteCertificate", {"CertificateArn": certificate}))
    lb = (
        await call(
            "elbv2",
            "CreateLoadBalancer",
            {"Name": name, "Subnets": subnets, "SecurityGroups": [lb_group], "Type": "application"},
        )
    )["LoadBalancers"][0]
    made.append(("elbv2", "DeleteLoadBalancer", {"LoadBalancerArn": lb["LoadBalancerArn"]}))
    not_found = {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"}}
    listener = (
        await call(
            "elbv2",
            "CreateListener",
            {
                "LoadBalancerArn": lb["LoadBalancerArn"],
                "Protocol": "HTTPS",
                "Port": plan.HTTPS_PORT,
                "Certificates": [{"CertificateArn": certificate}],
                "DefaultActions": [not_found],
            },
        )
    )["Listeners"][0]
    made.append(("elbv2", "DeleteListener", {"ListenerArn": listener["ListenerArn"]}))
    return {
        "loadBalancerArn": lb["LoadBalancerArn"],
        "loadBalancerDnsName": lb["DNSName"],
        "listenerArn": listener["ListenerArn"],
        "certificateArn": certificate,
        "loadBalancerSecurityGroup": lb_group,
    }


async def remove_shared(call: Calls, shared: Doc) -> bool:
    """Take the network's shared part down (its last service is gone); True when all of it is."""
    steps = [
        ("elbv2", "DeleteListener", {"ListenerArn": shared["listenerArn"]}),
        ("elbv2", "DeleteLoadBalancer", {"LoadBalancerArn": shared["loadBalancerArn"]}),
        ("acm", "DeleteCertificate", {"CertificateArn": shared["certificateArn"]}),
        ("ec2", "DeleteSecurityGroup", {"GroupId": shared["loadBalancerSecurityGroup"]}),
    ]
    return all([await call.remove(*step) for step in steps])


async def next_priority(call: Calls, listener: str) -> int:
    rules = (await call("elbv2", "DescribeRules", {"ListenerArn": listener}))["Rules"]
    taken = [int(r["Priority"]) for r in rules if r["Priority"] != "default"]
    return max(taken, default=0) + 1


async def undo(call: Calls, made: list[tuple[str, str, Doc]]) -> None:
    """Take down, newest first, what a failed Create made before it failed."""
    for service, operation, params in reversed(made):
        await call.remove(service, operation, params)
