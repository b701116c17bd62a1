"""The UI's ELBv2 reads (spec/ecs.md §7.5 "Beyond ECS"): rules and checks in words, a load balancer's
state as the API would show it, which task a target is, and the last check's sentence after ECS's
unhealthy-target event."""

from __future__ import annotations

from typing import Any

import pytest

from ecslite.control.service_target_health import last_check_text
from ecslite.store import elbv2 as elb_store
from ecslite.store import services as svc_store
from ecslite.ui.elb_views import (
    describe_action,
    describe_check,
    describe_condition,
    describe_conditions,
    load_balancers,
    service_target_groups,
    state_of,
    target_group_detail,
)
from tests.unit.test_service_harness import ServiceHarness, run
from tests.unit.test_service_target_health import behind_target_group
from tests.unit.test_task_activation import PORT, TARGET_GROUP, target_of

GROUP_B = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/blue/0123456789abcdef"


@pytest.mark.parametrize(
    ("condition", "text"),
    [
        ({"Field": "path-pattern", "Values": ["/api/*", "/v2/*"]}, 'path is "/api/*" or "/v2/*"'),
        ({"Field": "host-header", "HostHeaderConfig": {"Values": ["a.example.com"]}}, 'host is "a.example.com"'),
        (
            {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Canary", "Values": ["1"]}},
            'header X-Canary is "1"',
        ),
        (
            {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["GET", "HEAD"]}},
            "method is GET or HEAD",
        ),
        (
            {"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "v", "Value": "2"}, {"Value": "x"}]}},
            'query has "v=2" or "=x"',
        ),
        ({"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8"]}}, "source address in 10.0.0.0/8"),
    ],
)
def test_conditions_read_as_phrases(condition: dict[str, Any], text: str) -> None:
    assert describe_condition(condition) == text


def test_a_rule_needs_all_its_conditions_and_the_default_rule_has_none() -> None:
    both = [{"Field": "path-pattern", "Values": ["/a"]}, {"Field": "host-header", "Values": ["h"]}]
    assert describe_conditions(both) == 'If path is "/a" and host is "h"'
    assert describe_conditions([]) == "Otherwise (default rule)"


def test_actions_read_as_phrases_with_group_names() -> None:
    names = {TARGET_GROUP: "web", GROUP_B: "blue"}
    assert describe_action({"Type": "forward", "TargetGroupArn": TARGET_GROUP}, names) == "forward to web"
    weighted = {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": TARGET_GROUP, "Weight": 3}, {"TargetGroupArn": GROUP_B, "Weight": 1}]
        },
    }
    assert describe_action(weighted, names) == "forward to web (75%), blue (25%)"
    unknown = {"Type": "forward", "TargetGroupArn": GROUP_B}
    assert describe_action(unknown, {}) == "forward to blue"  # the name from the ARN
    fixed = {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}
    assert describe_action(fixed, names) == "answer 503"
    redirect = {
        "Type": "redirect",
        "RedirectConfig": {
            "Protocol": "HTTPS",
            "Port": "443",
            "Host": "#{host}",
            "Path": "/#{path}",
            "Query": "",
            "StatusCode": "HTTP_302",
        },
    }
    assert describe_action(redirect, names) == "redirect (302) to HTTPS://#{host}:443/#{path}"


def test_a_check_in_words_and_in_the_event_sentence() -> None:
    passed = {"at": 1.0, "status": 200, "error": None, "latencyMs": 3.4}
    timed_out = {"at": 1.0, "status": None, "error": "timeout", "latencyMs": 2001.2}
    assert describe_check(passed) == "HTTP 200 in 3 ms"
    assert describe_check(timed_out) == "timeout after 2001 ms"
    assert describe_check(None) == "not checked yet"
    assert last_check_text(passed) == " The last health check got HTTP 200 in 3 ms."
    assert last_check_text(timed_out) == " The last health check failed (timeout) after 2001 ms."
    assert last_check_text(None) == ""


def test_a_load_balancer_reads_active_once_provisioned() -> None:
    lb = {"State": {"Code": "provisioning"}, "CreatedTime": 100.0}
    assert state_of(lb, 100.5) == "provisioning"
    assert state_of(lb, 101.0) == "active"
    assert state_of({"State": {"Code": "failed"}, "CreatedTime": 0.0}, 500.0) == "failed"


def test_targets_are_their_tasks_and_the_event_carries_the_last_check() -> None:
    async def scenario(h: ServiceHarness) -> None:
        task = await behind_target_group(h, healthCheckGracePeriodSeconds=0)
        target = target_of(task)
        service = svc_store.get(h.db, h.describe()["serviceArn"])
        assert service is not None

        (group,) = service_target_groups(h.db, service)
        assert group["name"] == "web" and group["containers"] == [f"app:{PORT}"]
        (shown,) = group["targets"]
        assert (shown["id"], shown["port"], shown["state"]) == (target.id, target.port, "initial")
        assert shown["task"]["taskArn"] == task["taskArn"] and shown["task"]["service"] == "web"
        assert shown["lastCheck"] is None and group["counts"] == {"initial": 1}

        # A target registered by hand at the task's address is the same task (found by address).
        with h.db.transaction():
            row = elb_store.get_target(h.db, TARGET_GROUP, target.id, target.port)
            assert row is not None
            elb_store.put_target(
                h.db, "000000000000", "us-east-1", elb_store.TargetRow(**{**_fields(row), "port": 9000})
            )
        detail = target_group_detail(h.db, TARGET_GROUP)
        assert detail is not None
        by_port = {t["port"]: t for t in detail["targetGroup"]["targets"]}
        assert by_port[9000]["task"]["taskArn"] == task["taskArn"]
        assert [lb["name"] for lb in detail["loadBalancers"]] == ["web"]
        (lb,) = load_balancers(h.db, h.clock.now())["loadBalancers"]
        assert [g["name"] for g in lb["targetGroups"]] == ["web"]

        check = {"at": h.clock.now(), "status": 502, "error": None, "latencyMs": 4.2}
        with h.db.transaction():
            elb_store.delete_target(h.db, TARGET_GROUP, target.id, 9000)
            elb_store.set_target_state(
                h.db,
                TARGET_GROUP,
                target.id,
                target.port,
                "unhealthy",
                "Target.ResponseCodeMismatch",
                "Health checks failed with these codes: [502]",
            )
            elb_store.set_last_check(h.db, TARGET_GROUP, target.id, target.port, check)
        (shown,) = service_target_groups(h.db, service)[0]["targets"]
        assert shown["lastCheck"] == check and shown["lastCheckText"] == "HTTP 502 in 4 ms"
        await h.until(lambda: any("is unhealthy in" in e for e in h.events()), limit=30)
        task_id = task["taskArn"].rsplit("/", 1)[-1]
        ecs_text = (
            f"(service web) (task {task_id}) (port {PORT}) is unhealthy in (target-group {TARGET_GROUP}) due to "
            "(reason Health checks failed with these codes: [502])."
        )
        assert f"{ecs_text} The last health check got HTTP 502 in 4 ms." in h.events()

    run(scenario)


def _fields(row: elb_store.TargetRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in elb_store.TargetRow.__slots__}
