"""Listener rule evaluation of the local ALB (spec/ecs.md §7.3)."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from ecslite.elb.rules import FixedResponse, Forward, HttpRequest, Redirect, evaluate, ordered

TG_A = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/a/0000000000000001"
TG_B = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/b/0000000000000002"
TG_DEFAULT = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/d/0000000000000003"


def request(**fields: Any) -> HttpRequest:
    base: dict[str, Any] = {
        "method": "GET",
        "host": "shop.example.com",
        "path": "/",
        "query": "",
        "headers": (),
        "source_ip": "127.0.0.1",
        "protocol": "HTTP",
        "port": 8080,
    }
    base.update(fields)
    return HttpRequest(**base)


def forward(arn: str) -> list[dict[str, Any]]:
    return [{"Type": "forward", "TargetGroupArn": arn, "Order": 1}]


def rules_with(*conditions: dict[str, Any], priority: str = "10") -> list[dict[str, Any]]:
    return [
        {
            "RuleArn": "rule-default",
            "Priority": "default",
            "IsDefault": True,
            "Conditions": [],
            "Actions": forward(TG_DEFAULT),
        },
        {
            "RuleArn": "rule-1",
            "Priority": priority,
            "IsDefault": False,
            "Conditions": list(conditions),
            "Actions": forward(TG_A),
        },
    ]


def target(rules: list[dict[str, Any]], req: HttpRequest) -> str | None:
    decision = evaluate(rules, req)
    assert isinstance(decision, Forward)
    return decision.target_group_arn


def test_rules_are_tried_in_ascending_priority_with_default_last() -> None:
    rules = [
        {"Priority": "default", "IsDefault": True, "Conditions": [], "Actions": forward(TG_DEFAULT)},
        {"Priority": "20", "Conditions": [], "Actions": forward(TG_B)},
        {"Priority": "3", "Conditions": [], "Actions": forward(TG_A)},
    ]
    assert [r["Priority"] for r in ordered(rules)] == ["3", "20", "default"]
    assert target(rules, request()) == TG_A


def test_host_header_is_case_insensitive_with_wildcards_and_ignores_port() -> None:
    rules = rules_with({"Field": "host-header", "HostHeaderConfig": {"Values": ["*.EXAMPLE.com"]}})
    assert target(rules, request(host="Shop.Example.COM:8080")) == TG_A
    assert target(rules, request(host="example.com")) == TG_DEFAULT
    single = rules_with({"Field": "host-header", "Values": ["api-?.example.com"]})  # legacy form
    assert target(single, request(host="api-1.example.com")) == TG_A
    assert target(single, request(host="api-12.example.com")) == TG_DEFAULT


def test_path_pattern_is_case_sensitive_and_ignores_the_query() -> None:
    rules = rules_with({"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*", "/v?/x"]}})
    assert target(rules, request(path="/api/orders", query="a=1")) == TG_A
    assert target(rules, request(path="/v2/x")) == TG_A
    assert target(rules, request(path="/API/orders")) == TG_DEFAULT
    assert target(rules, request(path="/v22/x")) == TG_DEFAULT


def test_an_escaped_wildcard_matches_only_itself() -> None:
    rules = rules_with({"Field": "path-pattern", "PathPatternConfig": {"Values": ["/what\\?"]}})
    assert target(rules, request(path="/what?")) == TG_A
    assert target(rules, request(path="/whatx")) == TG_DEFAULT


def test_http_header_matches_any_value_case_insensitively() -> None:
    rules = rules_with(
        {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "User-Agent", "Values": ["*mobile*", "curl/?"]}}
    )
    assert target(rules, request(headers=(("user-agent", "Some Mobile Browser"),))) == TG_A
    assert target(rules, request(headers=(("user-agent", "curl/8"),))) == TG_A
    assert target(rules, request(headers=(("user-agent", "Desktop"),))) == TG_DEFAULT
    assert target(rules, request(headers=())) == TG_DEFAULT


def test_http_request_method_is_case_sensitive() -> None:
    rules = rules_with({"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["POST", "PUT"]}})
    assert target(rules, request(method="PUT")) == TG_A
    assert target(rules, request(method="GET")) == TG_DEFAULT
    assert target(rules, request(method="post")) == TG_DEFAULT


def test_query_string_pairs_with_and_without_key() -> None:
    rules = rules_with(
        {
            "Field": "query-string",
            "QueryStringConfig": {"Values": [{"Key": "version", "Value": "v*"}, {"Value": "beta"}]},
        }
    )
    assert target(rules, request(query="version=V2&x=1")) == TG_A
    assert target(rules, request(query="channel=BETA")) == TG_A
    assert target(rules, request(query="version=2")) == TG_DEFAULT
    assert target(rules, request(query="")) == TG_DEFAULT
    assert target(rules, request(query="name=hello%20world&version=v%31")) == TG_A


def test_source_ip_matches_cidr_blocks() -> None:
    rules = rules_with({"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8", "192.168.1.7/32"]}})
    assert target(rules, request(source_ip="10.20.30.40")) == TG_A
    assert target(rules, request(source_ip="192.168.1.7")) == TG_A
    assert target(rules, request(source_ip="192.168.1.8")) == TG_DEFAULT


def test_conditions_are_anded_across_types() -> None:
    rules = rules_with(
        {"Field": "host-header", "HostHeaderConfig": {"Values": ["shop.example.com"]}},
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/cart*"]}},
    )
    assert target(rules, request(path="/cart/1")) == TG_A
    assert target(rules, request(path="/other")) == TG_DEFAULT
    assert target(rules, request(host="else.example.com", path="/cart/1")) == TG_DEFAULT


def test_weighted_forward_splits_by_weight_and_skips_zero() -> None:
    action = {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": TG_A, "Weight": 3}, {"TargetGroupArn": TG_B, "Weight": 1}]
        },
    }
    rules = [{"Priority": "default", "IsDefault": True, "Conditions": [], "Actions": [action]}]
    rng = random.Random(7)
    counts = Counter(
        d.target_group_arn for d in (evaluate(rules, request(), rng) for _ in range(4000)) if isinstance(d, Forward)
    )
    assert 2800 < counts[TG_A] < 3200
    assert counts[TG_A] + counts[TG_B] == 4000
    zero = {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": TG_A, "Weight": 0}, {"TargetGroupArn": TG_B, "Weight": 5}]
        },
    }
    rules = [{"Priority": "default", "IsDefault": True, "Conditions": [], "Actions": [zero]}]
    assert {target(rules, request()) for _ in range(50)} == {TG_B}
    none = {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": TG_A, "Weight": 0}]}}
    rules = [{"Priority": "default", "IsDefault": True, "Conditions": [], "Actions": [none]}]
    assert target(rules, request()) is None


def test_fixed_response_action() -> None:
    action = {
        "Type": "fixed-response",
        "FixedResponseConfig": {"StatusCode": "418", "ContentType": "text/plain", "MessageBody": "teapot"},
    }
    rules = [{"RuleArn": "r", "Priority": "default", "IsDefault": True, "Conditions": [], "Actions": [action]}]
    assert evaluate(rules, request()) == FixedResponse(418, "text/plain", "teapot", "r")


def test_redirect_keeps_omitted_parts_and_fills_keywords() -> None:
    action = {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}
    rules = [{"Priority": "default", "IsDefault": True, "Conditions": [], "Actions": [action]}]
    decision = evaluate(rules, request(host="shop.example.com:8080", path="/a/b", query="x=1"))
    assert isinstance(decision, Redirect)
    assert (decision.status, decision.location) == (301, "https://shop.example.com:443/a/b?x=1")
    action = {
        "Type": "redirect",
        "RedirectConfig": {
            "Host": "new.#{host}",
            "Path": "/v2/#{path}",
            "Query": "from=#{port}&#{query}",
            "StatusCode": "HTTP_302",
        },
    }
    rules = [{"Priority": "default", "IsDefault": True, "Conditions": [], "Actions": [action]}]
    decision = evaluate(rules, request(path="/items", query="id=3"))
    assert isinstance(decision, Redirect)
    assert (decision.status, decision.location) == (302, "http://new.shop.example.com:8080/v2/items?from=8080&id=3")


def test_redirect_with_an_empty_query_has_no_question_mark() -> None:
    action = {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}
    rules = [{"Priority": "default", "IsDefault": True, "Conditions": [], "Actions": [action]}]
    decision = evaluate(rules, request(path="/"))
    assert isinstance(decision, Redirect)
    assert decision.location == "https://shop.example.com:443/"


def test_the_first_terminal_action_by_order_decides() -> None:
    actions = [
        {"Type": "forward", "TargetGroupArn": TG_B, "Order": 2},
        {"Type": "fixed-response", "Order": 1, "FixedResponseConfig": {"StatusCode": "503"}},
    ]
    rules = [{"Priority": "default", "IsDefault": True, "Conditions": [], "Actions": actions}]
    assert evaluate(rules, request()) == FixedResponse(503, None, "", None)
