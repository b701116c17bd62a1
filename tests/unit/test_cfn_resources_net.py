"""CloudFormation's ELBv2 and ACM resource handlers on an in-process server (fake runtime, fake clock),
driven as the stack engine drives them: properties as templates give them (PascalCase, numbers and
booleans as strings), ``Ref``/``Fn::GetAtt`` values read back through the usual APIs, changes in
place or by replacement as CloudFormation's "Update requires" says, and deletes that can be repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ecslite.clock import FakeClock
from ecslite.config import Settings
from ecslite.protocol.errors import AwsError
from ecslite.providers.base import RequestContext
from ecslite.providers.calls import Calls
from ecslite.providers.cloudformation.resources import acm, elbv2  # noqa: F401 - registers the types
from ecslite.providers.cloudformation.resources.base import HANDLERS, Physical, ResourceContext, ResourceHandler
from ecslite.runtime.fake import FakeRuntime
from ecslite.server import Server

ACCOUNT = "000000000000"
REGION = "us-east-1"
STACK = "a-rather-long-stack-name-for-names"
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/7a1d4b2e-0000-4000-8000-000000000001"
T = TypeVar("T")


@contextlib.asynccontextmanager
async def running(tmp_path: Path) -> AsyncIterator[tuple[FakeClock, Calls]]:
    """An in-process server on the fake runtime and a fake clock, and its operations' caller."""
    clock = FakeClock()
    server = Server(
        Settings(data_dir=tmp_path, ephemeral=True, runtime="fake"), clock=clock, runtime=FakeRuntime(clock)
    )
    await server.start()
    try:
        yield clock, Calls(server.providers, RequestContext(ACCOUNT, REGION, "test", "cloudformation", "test"))
    finally:
        await server.stop()


def context(call: Calls, clock: FakeClock, logical_id: str) -> ResourceContext:
    tags = [
        {"Key": "aws:cloudformation:stack-name", "Value": STACK},
        {"Key": "aws:cloudformation:stack-id", "Value": STACK_ID},
        {"Key": "aws:cloudformation:logical-id", "Value": logical_id},
    ]
    return ResourceContext(call, clock, STACK, STACK_ID, logical_id, tags)


async def drive(clock: FakeClock, work: Coroutine[Any, Any, T], limit: float = 600.0) -> T:
    """Runs a handler's operation while the fake clock moves, so its waits come to an end."""
    task = asyncio.ensure_future(work)
    deadline = clock.now() + limit
    while not task.done():
        assert clock.now() < deadline, "the handler did not finish in time"
        await clock.run_for(0.5, 0.5)
    return task.result()


class Driver:
    """One handler type, called as the engine calls it."""

    def __init__(self, call: Calls, clock: FakeClock, type_name: str) -> None:
        self.call, self.clock = call, clock
        self.handler: ResourceHandler = HANDLERS[type_name]

    async def create(self, logical_id: str, props: dict[str, Any]) -> Physical:
        return await drive(self.clock, self.handler.create(context(self.call, self.clock, logical_id), props))

    async def update(self, logical_id: str, current: Physical, old: dict[str, Any], new: dict[str, Any]) -> Physical:
        assert not self.handler.needs_replacement(old, new), "this change is made in place"
        rc = context(self.call, self.clock, logical_id)
        return await drive(self.clock, self.handler.update(rc, current, old, new))

    async def delete(self, logical_id: str, current: Physical, props: dict[str, Any]) -> None:
        await drive(self.clock, self.handler.delete(context(self.call, self.clock, logical_id), current, props))


async def refused(work: Awaitable[Any]) -> AwsError:
    with pytest.raises(AwsError) as caught:
        await work
    return caught.value


async def default_network(call: Calls) -> tuple[str, list[str]]:
    """The default VPC and its subnets (one per zone)."""
    vpcs = (await call("ec2", "DescribeVpcs", {"Filters": [{"Name": "is-default", "Values": ["true"]}]}))["Vpcs"]
    vpc = vpcs[0]["VpcId"]
    subnets = (await call("ec2", "DescribeSubnets", {"Filters": [{"Name": "vpc-id", "Values": [vpc]}]}))["Subnets"]
    return vpc, sorted(s["SubnetId"] for s in subnets)


async def tags_of(call: Calls, arn: str) -> dict[str, str]:
    [described] = (await call("elbv2", "DescribeTags", {"ResourceArns": [arn]}))["TagDescriptions"]
    return {t["Key"]: t["Value"] for t in described["Tags"]}


def test_load_balancer_target_group_listener_and_rule_are_made_changed_and_deleted(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (clock, call):
            vpc, subnets = await default_network(call)
            lbs = Driver(call, clock, "AWS::ElasticLoadBalancingV2::LoadBalancer")
            groups = Driver(call, clock, "AWS::ElasticLoadBalancingV2::TargetGroup")
            listeners = Driver(call, clock, "AWS::ElasticLoadBalancingV2::Listener")
            rules = Driver(call, clock, "AWS::ElasticLoadBalancingV2::ListenerRule")

            lb_props = {
                "Subnets": subnets[:2],
                "Scheme": "internet-facing",
                "LoadBalancerAttributes": [{"Key": "idle_timeout.timeout_seconds", "Value": 120}],
                "Tags": [{"Key": "team", "Value": "web"}],
            }
            lb = await lbs.create("PublicLoadBalancer", lb_props)
            [shown] = (await call("elbv2", "DescribeLoadBalancers", {"LoadBalancerArns": [lb.physical_id]}))[
                "LoadBalancers"
            ]
            # Reported created only once active; the generated name fits ELB's 32 characters.
            assert shown["State"]["Code"] == "active"
            name = shown["LoadBalancerName"]
            assert len(name) == 32 and name.startswith(f"{STACK}-Pub"[:19])
            assert lb.attributes == {
                "CanonicalHostedZoneID": shown["CanonicalHostedZoneId"],
                "DNSName": shown["DNSName"],
                "LoadBalancerArn": lb.physical_id,
                "LoadBalancerFullName": f"app/{name}/{lb.physical_id.rsplit('/', 1)[1]}",
                "LoadBalancerName": name,
                "SecurityGroups": shown["SecurityGroups"],
            }
            assert set(lb.attributes) == lbs.handler.attributes
            assert await _lb_attribute(call, lb.physical_id, "idle_timeout.timeout_seconds") == "120"
            tags = await tags_of(call, lb.physical_id)
            assert tags["team"] == "web" and tags["aws:cloudformation:logical-id"] == "PublicLoadBalancer"

            # Attributes and tags change in place; the scheme or subnets make a new load balancer.
            lb_new = {
                **lb_props,
                "LoadBalancerAttributes": [{"Key": "idle_timeout.timeout_seconds", "Value": "30"}],
                "Tags": [{"Key": "team", "Value": "api"}],
            }
            assert (await lbs.update("PublicLoadBalancer", lb, lb_props, lb_new)).physical_id == lb.physical_id
            assert await _lb_attribute(call, lb.physical_id, "idle_timeout.timeout_seconds") == "30"
            assert (await tags_of(call, lb.physical_id))["team"] == "api"
            assert lbs.handler.needs_replacement(lb_props, {**lb_props, "Scheme": "internal"})
            assert lbs.handler.needs_replacement(lb_props, {**lb_props, "Subnets": subnets[1:3]})

            tg_props = {
                "Name": "web-targets",
                "Port": "8080",
                "Protocol": "HTTP",
                "TargetType": "ip",
                "VpcId": vpc,
                "HealthCheckIntervalSeconds": "15",
                "HealthCheckTimeoutSeconds": "5",
                "HealthCheckEnabled": "true",
                "Matcher": {"HttpCode": "200-299"},
                "TargetGroupAttributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "10"}],
            }
            group = await groups.create("WebTargets", tg_props)
            assert group.physical_id.startswith(f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/web-")
            assert group.attributes["TargetGroupFullName"] == group.physical_id.split(":", 5)[5]
            assert group.attributes["TargetGroupName"] == "web-targets"
            assert group.attributes["LoadBalancerArns"] == []
            tg = await _group(call, group.physical_id)
            assert (tg["Port"], tg["HealthCheckIntervalSeconds"], tg["Matcher"]) == (8080, 15, {"HttpCode": "200-299"})
            assert await _tg_attribute(call, group.physical_id, "deregistration_delay.timeout_seconds") == "10"

            listener_props = {
                "LoadBalancerArn": lb.physical_id,
                "Port": "80",
                "Protocol": "HTTP",
                "DefaultActions": [{"Type": "forward", "TargetGroupArn": group.physical_id}],
            }
            listener = await listeners.create("HttpListener", listener_props)
            assert listener.attributes == {"ListenerArn": listener.physical_id}
            assert ":listener/app/" in listener.physical_id

            # Health check settings and group attributes change in place; the port makes a new group.
            tg_new = {
                **tg_props,
                "HealthCheckIntervalSeconds": 20,
                "HealthCheckPath": "/health",
                "TargetGroupAttributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": 45}],
            }
            updated = await groups.update("WebTargets", group, tg_props, tg_new)
            assert updated.physical_id == group.physical_id
            # The group's load balancers are read again: the listener now forwards to it.
            assert updated.attributes["LoadBalancerArns"] == [lb.physical_id]
            tg = await _group(call, group.physical_id)
            assert (tg["HealthCheckIntervalSeconds"], tg["HealthCheckPath"]) == (20, "/health")
            assert await _tg_attribute(call, group.physical_id, "deregistration_delay.timeout_seconds") == "45"
            assert groups.handler.needs_replacement(tg_props, {**tg_props, "Port": 8081})
            assert groups.handler.needs_replacement(tg_props, {**tg_props, "Name": "other"})

            rule_props = {
                "ListenerArn": listener.physical_id,
                "Priority": "10",
                "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}],
                "Actions": [
                    {
                        "Type": "forward",
                        "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": group.physical_id, "Weight": "100"}]},
                    }
                ],
            }
            rule = await rules.create("ApiRule", rule_props)
            assert rule.attributes == {"IsDefault": False, "RuleArn": rule.physical_id}
            fixed = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503", "MessageBody": "busy"}}]
            rule_new = {**rule_props, "Priority": 20, "Actions": fixed}
            await rules.update("ApiRule", rule, rule_props, rule_new)
            [shown_rule] = (await call("elbv2", "DescribeRules", {"RuleArns": [rule.physical_id]}))["Rules"]
            assert shown_rule["Priority"] == "20"
            assert shown_rule["Actions"][0]["FixedResponseConfig"]["StatusCode"] == "503"
            assert rules.handler.needs_replacement(rule_props, {**rule_props, "ListenerArn": "other"})

            # A listener's port, protocol and default actions change in place; its load balancer does not.
            listener_new = {**listener_props, "Port": 8000, "DefaultActions": fixed}
            assert (await listeners.update("HttpListener", listener, listener_props, listener_new)) == listener
            [shown_listener] = (await call("elbv2", "DescribeListeners", {"ListenerArns": [listener.physical_id]}))[
                "Listeners"
            ]
            assert shown_listener["Port"] == 8000
            assert shown_listener["DefaultActions"][0]["Type"] == "fixed-response"
            assert listeners.handler.needs_replacement(listener_props, {**listener_props, "LoadBalancerArn": "x"})

            # Deleting twice is the same as deleting once.
            for driver, logical, physical, props in (
                (rules, "ApiRule", rule, rule_new),
                (listeners, "HttpListener", listener, listener_new),
                (groups, "WebTargets", group, tg_new),
                (lbs, "PublicLoadBalancer", lb, lb_new),
            ):
                await driver.delete(logical, physical, props)
                await driver.delete(logical, physical, props)
            gone = await refused(call("elbv2", "DescribeTargetGroups", {"TargetGroupArns": [group.physical_id]}))
            assert gone.code == "TargetGroupNotFound"
            gone = await refused(call("elbv2", "DescribeLoadBalancers", {"LoadBalancerArns": [lb.physical_id]}))
            assert gone.code == "LoadBalancerNotFound"

    asyncio.run(scenario())


def test_a_group_held_by_a_listener_is_deleted_once_the_listener_is_gone(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (clock, call):
            vpc, subnets = await default_network(call)
            lb = await Driver(call, clock, "AWS::ElasticLoadBalancingV2::LoadBalancer").create(
                "Lb", {"Subnets": subnets[:2]}
            )
            groups = Driver(call, clock, "AWS::ElasticLoadBalancingV2::TargetGroup")
            props = {"Port": 80, "Protocol": "HTTP", "VpcId": vpc, "TargetType": "ip"}
            group = await groups.create("Targets", props)
            assert len(group.attributes["TargetGroupName"]) <= 32
            forward = [{"Type": "forward", "TargetGroupArn": group.physical_id}]
            listener = await call(
                "elbv2", "CreateListener", {"LoadBalancerArn": lb.physical_id, "Port": 80, "DefaultActions": forward}
            )
            rc = context(call, clock, "Targets")
            deleting = asyncio.ensure_future(groups.handler.delete(rc, group, props))
            await clock.run_for(10, 0.5)
            assert not deleting.done()  # still in use: tried again
            await call("elbv2", "DeleteListener", {"ListenerArn": listener["Listeners"][0]["ListenerArn"]})
            await clock.run_for(5, 0.5)
            await deleting
            assert not (await call("elbv2", "DescribeTargetGroups", {}))["TargetGroups"]

    asyncio.run(scenario())


def test_certificates_and_listener_certificates(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (clock, call):
            _, subnets = await default_network(call)
            certificates = Driver(call, clock, "AWS::CertificateManager::Certificate")
            extra = Driver(call, clock, "AWS::ElasticLoadBalancingV2::ListenerCertificate")
            cert_props = {
                "DomainName": "shop.example.com",
                "SubjectAlternativeNames": ["www.shop.example.com"],
                "ValidationMethod": "DNS",
                "DomainValidationOptions": [{"DomainName": "shop.example.com", "HostedZoneId": "Z123"}],
                "Tags": [{"Key": "app", "Value": "shop"}],
            }
            main = await certificates.create("MainCert", cert_props)
            other = await certificates.create("OtherCert", {"DomainName": "api.example.com"})
            shown = (await call("acm", "DescribeCertificate", {"CertificateArn": main.physical_id}))["Certificate"]
            assert (shown["Status"], shown["DomainName"]) == ("ISSUED", "shop.example.com")
            assert main.physical_id.startswith(f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/")
            listed = await call("acm", "ListTagsForCertificate", {"CertificateArn": main.physical_id})
            tags = {t["Key"]: t.get("Value") for t in listed["Tags"]}
            assert tags["app"] == "shop" and tags["aws:cloudformation:stack-name"] == STACK
            # Tags change in place; a name makes a new certificate.
            retagged = {**cert_props, "Tags": [{"Key": "owner", "Value": "ops"}]}
            await certificates.update("MainCert", main, cert_props, retagged)
            listed = await call("acm", "ListTagsForCertificate", {"CertificateArn": main.physical_id})
            keys = {t["Key"] for t in listed["Tags"]}
            assert "owner" in keys and "app" not in keys
            assert certificates.handler.needs_replacement(cert_props, {**cert_props, "DomainName": "x.example.com"})

            lb = await Driver(call, clock, "AWS::ElasticLoadBalancingV2::LoadBalancer").create(
                "Lb", {"Subnets": subnets[:2]}
            )
            fixed = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}]
            listener = await Driver(call, clock, "AWS::ElasticLoadBalancingV2::Listener").create(
                "Https",
                {
                    "LoadBalancerArn": lb.physical_id,
                    "Port": 443,
                    "Protocol": "HTTPS",
                    "Certificates": [{"CertificateArn": main.physical_id}],
                    "DefaultActions": fixed,
                },
            )
            props = {"ListenerArn": listener.physical_id, "Certificates": [{"CertificateArn": other.physical_id}]}
            held = await extra.create("ApiCert", props)
            assert held.physical_id == listener.physical_id
            assert await _listener_certificates(call, listener.physical_id) == {
                main.physical_id: True,
                other.physical_id: False,
            }
            # The certificate a listener serves is not deleted under it: the delete waits, then fails.
            busy = await refused(certificates.delete("OtherCert", other, {}))
            assert busy.code == "ResourceInUseException"
            await extra.delete("ApiCert", held, props)
            await extra.delete("ApiCert", held, props)
            assert await _listener_certificates(call, listener.physical_id) == {main.physical_id: True}
            await certificates.delete("OtherCert", other, {})
            await certificates.delete("OtherCert", other, {})
            gone = await refused(call("acm", "DescribeCertificate", {"CertificateArn": other.physical_id}))
            assert gone.code == "ResourceNotFoundException"

    asyncio.run(scenario())


async def _lb_attribute(call: Calls, arn: str, key: str) -> str:
    shown = await call("elbv2", "DescribeLoadBalancerAttributes", {"LoadBalancerArn": arn})
    return str({a["Key"]: a["Value"] for a in shown["Attributes"]}[key])


async def _tg_attribute(call: Calls, arn: str, key: str) -> str:
    shown = await call("elbv2", "DescribeTargetGroupAttributes", {"TargetGroupArn": arn})
    return str({a["Key"]: a["Value"] for a in shown["Attributes"]}[key])


async def _group(call: Calls, arn: str) -> dict[str, Any]:
    return dict((await call("elbv2", "DescribeTargetGroups", {"TargetGroupArns": [arn]}))["TargetGroups"][0])


async def _listener_certificates(call: Calls, arn: str) -> dict[str, bool]:
    shown = await call("elbv2", "DescribeListenerCertificates", {"ListenerArn": arn})
    return {c["CertificateArn"]: c["IsDefault"] for c in shown["Certificates"]}
