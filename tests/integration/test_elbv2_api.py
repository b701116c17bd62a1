"""ELBv2 through boto3: load balancers, target groups (+ attributes), listeners, rules, tags (§7.1–7.3)."""

from __future__ import annotations

import time
from typing import Any

import botocore.exceptions
import pytest

from tests.conftest import make_client

ACCOUNT = "000000000000"


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return response["Error"]["Code"], response["Error"]["Message"]


def default_network(ec2: Any) -> tuple[str, list[str]]:
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    return vpc, [s["SubnetId"] for s in subnets]


def make_lb(elbv2: Any, ec2: Any, name: str = "web") -> dict[str, Any]:
    _, subnets = default_network(ec2)
    lb: dict[str, Any] = elbv2.create_load_balancer(Name=name, Subnets=subnets[:2])["LoadBalancers"][0]
    return lb


def make_tg(elbv2: Any, ec2: Any, name: str = "api", **kwargs: Any) -> dict[str, Any]:
    vpc, _ = default_network(ec2)
    args = {"Name": name, "Protocol": "HTTP", "Port": 8080, "VpcId": vpc, "TargetType": "ip", **kwargs}
    group: dict[str, Any] = elbv2.create_target_group(**args)["TargetGroups"][0]
    return group


def forward(group_arn: str) -> list[dict[str, Any]]:
    return [{"Type": "forward", "TargetGroupArn": group_arn}]


# -- load balancers ----------------------------------------------------------------------------


def test_create_load_balancer_provisions_then_is_active(elbv2: Any, ec2: Any) -> None:
    vpc, subnets = default_network(ec2)
    lb = make_lb(elbv2, ec2)
    assert lb["LoadBalancerArn"].startswith(f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/app/web/")
    assert len(lb["LoadBalancerArn"].rsplit("/", 1)[1]) == 16
    assert lb["State"] == {"Code": "provisioning"}
    assert lb["Type"] == "application" and lb["Scheme"] == "internet-facing" and lb["VpcId"] == vpc
    assert lb["DNSName"].startswith("web-") and lb["DNSName"].endswith(".us-east-1.elb.amazonaws.com")
    assert sorted(z["SubnetId"] for z in lb["AvailabilityZones"]) == sorted(subnets[:2])
    assert len(lb["SecurityGroups"]) == 1
    time.sleep(1.1)
    shown = elbv2.describe_load_balancers(Names=["web"])["LoadBalancers"]
    assert [x["State"]["Code"] for x in shown] == ["active"]


def test_create_load_balancer_again_with_the_same_settings_returns_it(elbv2: Any, ec2: Any) -> None:
    _, subnets = default_network(ec2)
    first = make_lb(elbv2, ec2)
    again = elbv2.create_load_balancer(Name="web", Subnets=subnets[:2])["LoadBalancers"][0]
    assert again["LoadBalancerArn"] == first["LoadBalancerArn"]
    code, message = error_of(elbv2.create_load_balancer, Name="web", Subnets=subnets[:3])
    assert code == "DuplicateLoadBalancerName"
    assert message == "A load balancer with the same name 'web' exists, but with different settings"


def test_load_balancer_needs_two_zones_and_known_subnets(elbv2: Any, ec2: Any) -> None:
    _, subnets = default_network(ec2)
    assert error_of(elbv2.create_load_balancer, Name="one", Subnets=subnets[:1])[0] == "ValidationError"
    assert error_of(elbv2.create_load_balancer, Name="bad", Subnets=["subnet-0000000000000000f", subnets[0]])[0] == (
        "SubnetNotFound"
    )
    assert error_of(elbv2.create_load_balancer, Name="-bad", Subnets=subnets[:2])[0] == "ValidationError"


def test_describe_load_balancers_pages_with_marker(elbv2: Any, ec2: Any) -> None:
    for name in ("a1", "a2", "a3"):
        make_lb(elbv2, ec2, name)
    first = elbv2.describe_load_balancers(PageSize=2)
    assert [x["LoadBalancerName"] for x in first["LoadBalancers"]] == ["a1", "a2"]
    second = elbv2.describe_load_balancers(PageSize=2, Marker=first["NextMarker"])
    assert [x["LoadBalancerName"] for x in second["LoadBalancers"]] == ["a3"]
    assert "NextMarker" not in second
    pages = elbv2.get_paginator("describe_load_balancers").paginate(PaginationConfig={"PageSize": 1})
    assert [lb["LoadBalancerName"] for p in pages for lb in p["LoadBalancers"]] == ["a1", "a2", "a3"]
    assert error_of(elbv2.describe_load_balancers, Names=["nope"])[0] == "LoadBalancerNotFound"


def test_delete_load_balancer_deletes_its_listeners(elbv2: Any, ec2: Any) -> None:
    lb = make_lb(elbv2, ec2)
    group = make_tg(elbv2, ec2)
    listener = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=forward(group["TargetGroupArn"])
    )["Listeners"][0]
    elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    code, message = error_of(elbv2.describe_listeners, ListenerArns=[listener["ListenerArn"]])
    assert (code, message) == ("ListenerNotFound", "One or more listeners not found")
    assert elbv2.describe_target_groups(Names=["api"])["TargetGroups"][0]["LoadBalancerArns"] == []
    elbv2.delete_target_group(TargetGroupArn=group["TargetGroupArn"])
    code, _ = error_of(elbv2.describe_load_balancers, LoadBalancerArns=[lb["LoadBalancerArn"]])
    assert code == "LoadBalancerNotFound"


# -- target groups -----------------------------------------------------------------------------


def test_create_target_group_has_the_documented_defaults(elbv2: Any, ec2: Any) -> None:
    group = make_tg(elbv2, ec2)
    assert group["TargetGroupArn"].startswith(f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/api/")
    assert group["HealthCheckProtocol"] == "HTTP" and group["HealthCheckPort"] == "traffic-port"
    assert group["HealthCheckPath"] == "/" and group["HealthCheckEnabled"] is True
    assert (group["HealthCheckIntervalSeconds"], group["HealthCheckTimeoutSeconds"]) == (30, 6)
    assert (group["HealthyThresholdCount"], group["UnhealthyThresholdCount"]) == (5, 2)
    assert group["Matcher"] == {"HttpCode": "200"}
    assert group["TargetType"] == "ip" and group["LoadBalancerArns"] == []
    attributes = {
        a["Key"]: a["Value"]
        for a in elbv2.describe_target_group_attributes(TargetGroupArn=group["TargetGroupArn"])["Attributes"]
    }
    assert attributes["deregistration_delay.timeout_seconds"] == "300"
    assert attributes["slow_start.duration_seconds"] == "0"
    assert attributes["load_balancing.algorithm.type"] == "round_robin"
    assert attributes["stickiness.enabled"] == "false" and attributes["stickiness.type"] == "lb_cookie"
    assert attributes["stickiness.lb_cookie.duration_seconds"] == "86400"


def test_target_group_settings_are_checked(elbv2: Any, ec2: Any) -> None:
    code, message = error_of(make_tg, elbv2=elbv2, ec2=ec2, HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=5)
    assert (code, message) == ("ValidationError", "Health check interval must be greater than the timeout.")
    assert error_of(make_tg, elbv2=elbv2, ec2=ec2, Matcher={"HttpCode": "500"})[0] == "ValidationError"
    assert error_of(make_tg, elbv2=elbv2, ec2=ec2, Matcher={"HttpCode": "200-199"})[0] == "ValidationError"
    assert make_tg(elbv2, ec2, Matcher={"HttpCode": "200,204,300-399"})["Matcher"]["HttpCode"] == "200,204,300-399"
    code, message = error_of(make_tg, elbv2=elbv2, ec2=ec2, name="x", VpcId="vpc-0123456789abcdef0")
    assert (code, message) == ("ValidationError", "The VPC ID 'vpc-0123456789abcdef0' is not found")


def test_create_target_group_again_returns_it_unless_settings_differ(elbv2: Any, ec2: Any) -> None:
    first = make_tg(elbv2, ec2)
    assert make_tg(elbv2, ec2)["TargetGroupArn"] == first["TargetGroupArn"]
    code, message = error_of(make_tg, elbv2=elbv2, ec2=ec2, Port=9090)
    assert code == "DuplicateTargetGroupName"
    assert message == "A target group with the same name 'api' exists, but with different settings"


def test_modify_target_group_and_its_attributes(elbv2: Any, ec2: Any) -> None:
    arn = make_tg(elbv2, ec2)["TargetGroupArn"]
    changed = elbv2.modify_target_group(
        TargetGroupArn=arn,
        HealthCheckPath="/health",
        HealthCheckIntervalSeconds=5,
        HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2,
        Matcher={"HttpCode": "200-299"},
    )["TargetGroups"][0]
    assert (changed["HealthCheckPath"], changed["HealthCheckIntervalSeconds"]) == ("/health", 5)
    assert elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]["Matcher"] == {"HttpCode": "200-299"}
    shown = elbv2.modify_target_group_attributes(
        TargetGroupArn=arn,
        Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "5"},
            {"Key": "stickiness.enabled", "Value": "true"},
            {"Key": "load_balancing.algorithm.type", "Value": "least_outstanding_requests"},
        ],
    )["Attributes"]
    values = {a["Key"]: a["Value"] for a in shown}
    assert values["deregistration_delay.timeout_seconds"] == "5" and values["stickiness.enabled"] == "true"
    for key, value in (
        ("deregistration_delay.timeout_seconds", "3601"),
        ("slow_start.duration_seconds", "10"),
        ("load_balancing.algorithm.type", "random"),
        ("no.such", "1"),
    ):
        code, _ = error_of(
            elbv2.modify_target_group_attributes, TargetGroupArn=arn, Attributes=[{"Key": key, "Value": value}]
        )
        assert code == "ValidationError"


def test_unknown_target_group_is_not_found(elbv2: Any) -> None:
    arn = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/nope/0123456789abcdef"
    code, message = error_of(elbv2.describe_target_groups, TargetGroupArns=[arn])
    assert (code, message) == ("TargetGroupNotFound", "One or more target groups not found")
    assert error_of(elbv2.describe_target_health, TargetGroupArn=arn)[0] == "TargetGroupNotFound"
    other_region = make_client("elbv2", elbv2.meta.endpoint_url, region="eu-west-1")
    assert error_of(other_region.describe_target_groups, Names=["nope"])[0] == "TargetGroupNotFound"


# -- listeners and rules -----------------------------------------------------------------------


def test_listener_forwards_and_the_group_names_its_load_balancer(elbv2: Any, ec2: Any) -> None:
    lb, group = make_lb(elbv2, ec2), make_tg(elbv2, ec2)
    listener = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=forward(group["TargetGroupArn"])
    )["Listeners"][0]
    assert listener["ListenerArn"].startswith(lb["LoadBalancerArn"].replace(":loadbalancer/", ":listener/") + "/")
    action = listener["DefaultActions"][0]
    assert action["TargetGroupArn"] == group["TargetGroupArn"]
    assert action["ForwardConfig"]["TargetGroups"] == [{"TargetGroupArn": group["TargetGroupArn"], "Weight": 1}]
    shown = elbv2.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]
    assert [g["LoadBalancerArns"] for g in shown] == [[lb["LoadBalancerArn"]]]
    code, message = error_of(elbv2.delete_target_group, TargetGroupArn=group["TargetGroupArn"])
    assert code == "ResourceInUse"
    assert message == f"Target group '{group['TargetGroupArn']}' is currently in use by a listener or a rule"
    code, message = error_of(
        elbv2.create_listener,
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=forward(group["TargetGroupArn"]),
    )
    assert code == "DuplicateListener"
    assert message == f"A listener already exists on this port for this load balancer '{lb['LoadBalancerArn']}'"
    rules = elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
    assert [(r["Priority"], r["IsDefault"], r["Conditions"]) for r in rules] == [("default", True, [])]


def test_listener_actions_are_checked(elbv2: Any, ec2: Any) -> None:
    lb = make_lb(elbv2, ec2)
    missing = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/gone/0123456789abcdef"
    code, _ = error_of(
        elbv2.create_listener,
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=forward(missing),
    )
    assert code == "TargetGroupNotFound"
    fixed = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=81,
        DefaultActions=[
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain", "MessageBody": "no"},
            }
        ],
    )["Listeners"][0]
    assert fixed["DefaultActions"][0]["FixedResponseConfig"]["StatusCode"] == "404"
    redirect = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=82,
        DefaultActions=[
            {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}
        ],
    )["Listeners"][0]
    assert redirect["DefaultActions"][0]["RedirectConfig"] == {
        "Protocol": "HTTPS",
        "Port": "443",
        "Host": "#{host}",
        "Path": "/#{path}",
        "Query": "#{query}",
        "StatusCode": "HTTP_301",
    }
    code, _ = error_of(
        elbv2.create_listener,
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=83,
        DefaultActions=[
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "ContentType": "image/png"}}
        ],
    )
    assert code == "ValidationError"


def test_modify_listener_moves_port_and_default_actions(elbv2: Any, ec2: Any) -> None:
    lb, one, two = make_lb(elbv2, ec2), make_tg(elbv2, ec2, "one"), make_tg(elbv2, ec2, "two")
    arn = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=forward(one["TargetGroupArn"])
    )["Listeners"][0]["ListenerArn"]
    elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=81, DefaultActions=forward(one["TargetGroupArn"])
    )
    code, message = error_of(elbv2.modify_listener, ListenerArn=arn, Port=81)
    assert (code, message) == ("ValidationError", "Listener port '81' is already in use")
    changed = elbv2.modify_listener(ListenerArn=arn, Port=8080, DefaultActions=forward(two["TargetGroupArn"]))
    assert changed["Listeners"][0]["Port"] == 8080
    default = elbv2.describe_rules(ListenerArn=arn)["Rules"][-1]
    assert default["Actions"][0]["TargetGroupArn"] == two["TargetGroupArn"]
    assert elbv2.describe_target_groups(Names=["two"])["TargetGroups"][0]["LoadBalancerArns"] == [lb["LoadBalancerArn"]]
    elbv2.delete_listener(ListenerArn=arn)
    assert [x["Port"] for x in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]] == [81]


def test_rules_priorities_conditions_and_reordering(elbv2: Any, ec2: Any) -> None:
    lb, group = make_lb(elbv2, ec2), make_tg(elbv2, ec2)
    listener = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=forward(group["TargetGroupArn"])
    )["Listeners"][0]["ListenerArn"]
    host = [{"Field": "host-header", "HostHeaderConfig": {"Values": ["*.example.com"]}}]
    path = [{"Field": "path-pattern", "Values": ["/api/*"]}]
    r10 = elbv2.create_rule(
        ListenerArn=listener, Priority=10, Conditions=host, Actions=forward(group["TargetGroupArn"])
    )["Rules"][0]
    assert r10["Priority"] == "10" and r10["IsDefault"] is False
    assert r10["Conditions"][0]["HostHeaderConfig"] == {"Values": ["*.example.com"]}
    r5 = elbv2.create_rule(ListenerArn=listener, Priority=5, Conditions=path, Actions=forward(group["TargetGroupArn"]))[
        "Rules"
    ][0]
    assert r5["Conditions"][0]["PathPatternConfig"] == {"Values": ["/api/*"]}
    code, message = error_of(
        elbv2.create_rule, ListenerArn=listener, Priority=5, Conditions=host, Actions=forward(group["TargetGroupArn"])
    )
    assert (code, message) == ("PriorityInUse", "Priority '5' is currently in use")
    six = [
        {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["GET", "PUT", "POST"]}},
        {"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8", "192.168.0.0/16", "1.2.3.4/32"]}},
    ]
    assert (
        error_of(
            elbv2.create_rule,
            ListenerArn=listener,
            Priority=7,
            Conditions=six,
            Actions=forward(group["TargetGroupArn"]),
        )[0]
        == "ValidationError"
    )
    order = [r["Priority"] for r in elbv2.describe_rules(ListenerArn=listener)["Rules"]]
    assert order == ["5", "10", "default"]
    swapped = elbv2.set_rule_priorities(
        RulePriorities=[{"RuleArn": r5["RuleArn"], "Priority": 10}, {"RuleArn": r10["RuleArn"], "Priority": 5}]
    )["Rules"]
    assert {r["RuleArn"]: r["Priority"] for r in swapped} == {r5["RuleArn"]: "10", r10["RuleArn"]: "5"}
    assert [r["RuleArn"] for r in elbv2.describe_rules(ListenerArn=listener)["Rules"][:2]] == [
        r10["RuleArn"],
        r5["RuleArn"],
    ]
    modified = elbv2.modify_rule(
        RuleArn=r5["RuleArn"],
        Conditions=[{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Env", "Values": ["dev*"]}}],
    )["Rules"][0]
    assert modified["Conditions"][0]["HttpHeaderConfig"]["HttpHeaderName"] == "X-Env"
    default = elbv2.describe_rules(ListenerArn=listener)["Rules"][-1]
    assert error_of(elbv2.delete_rule, RuleArn=default["RuleArn"])[0] == "OperationNotPermitted"
    elbv2.delete_rule(RuleArn=r5["RuleArn"])
    assert error_of(elbv2.describe_rules, RuleArns=[r5["RuleArn"]]) == ("RuleNotFound", "One or more rules not found")
    page = elbv2.describe_rules(ListenerArn=listener, PageSize=1)
    assert len(page["Rules"]) == 1 and "NextMarker" in page


# -- tags --------------------------------------------------------------------------------------


def test_tags_on_load_balancers_and_target_groups(elbv2: Any, ec2: Any) -> None:
    lb = make_lb(elbv2, ec2)
    group = make_tg(elbv2, ec2, Tags=[{"Key": "team", "Value": "a"}])
    elbv2.add_tags(ResourceArns=[lb["LoadBalancerArn"], group["TargetGroupArn"]], Tags=[{"Key": "env", "Value": "dev"}])
    described = elbv2.describe_tags(ResourceArns=[lb["LoadBalancerArn"], group["TargetGroupArn"]])["TagDescriptions"]
    assert [(d["ResourceArn"], sorted((t["Key"], t["Value"]) for t in d["Tags"])) for d in described] == [
        (lb["LoadBalancerArn"], [("env", "dev")]),
        (group["TargetGroupArn"], [("env", "dev"), ("team", "a")]),
    ]
    elbv2.remove_tags(ResourceArns=[group["TargetGroupArn"]], TagKeys=["team"])
    tags = elbv2.describe_tags(ResourceArns=[group["TargetGroupArn"]])["TagDescriptions"][0]["Tags"]
    assert tags == [{"Key": "env", "Value": "dev"}]
    gone = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/gone/0123456789abcdef"
    assert error_of(elbv2.add_tags, ResourceArns=[gone], Tags=[{"Key": "a", "Value": "b"}])[0] == "TargetGroupNotFound"
