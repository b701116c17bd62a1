"""The stack views' rules: which failures belong to a stack's latest operation, final and failed
statuses, the UI page each resource links to, a container's last output read from the end of its
file, and the CLI's colours of CloudFormation's statuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ecslite.cli.render import stack_style
from ecslite.ui import stack_views

STACK = "AWS::CloudFormation::Stack"


def event(logical: str, status: str, kind: str = "AWS::ECS::Service", reason: str | None = None) -> dict[str, Any]:
    return {
        "LogicalResourceId": logical,
        "ResourceType": kind,
        "ResourceStatus": status,
        "ResourceStatusReason": reason,
    }


def test_failures_are_those_of_the_latest_operation_first_one_per_resource() -> None:
    oldest_first = [
        event("web", "CREATE_IN_PROGRESS", STACK),
        event("Old", "CREATE_FAILED", reason="an earlier create"),
        event("web", "ROLLBACK_COMPLETE", STACK),
        event("web", "UPDATE_IN_PROGRESS", STACK),
        event("Service", "UPDATE_FAILED", reason="the breaker"),
        event("Queue", "UPDATE_FAILED", "AWS::SSM::Parameter", reason="Resource update cancelled"),
        event("web", "UPDATE_ROLLBACK_IN_PROGRESS", STACK),
        event("Service", "UPDATE_FAILED", reason="the rollback's own failure"),
        event("web", "UPDATE_ROLLBACK_FAILED", STACK),
    ]
    found = stack_views._operation_failures(list(reversed(oldest_first)))
    assert [(f["LogicalResourceId"], f["ResourceStatusReason"]) for f in found] == [
        ("Service", "the breaker"),
        ("Queue", "Resource update cancelled"),
    ]


def test_a_stack_without_failures_has_none() -> None:
    events = [event("web", "CREATE_COMPLETE", STACK), event("Service", "CREATE_COMPLETE")]
    assert stack_views._operation_failures(events) == []


@pytest.mark.parametrize(
    ("status", "final", "failure"),
    [
        ("CREATE_COMPLETE", True, False),
        ("UPDATE_COMPLETE", True, False),
        ("CREATE_IN_PROGRESS", False, False),
        ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", False, False),
        ("ROLLBACK_COMPLETE", True, True),
        ("UPDATE_ROLLBACK_COMPLETE", True, True),
        ("CREATE_FAILED", True, True),
        ("DELETE_FAILED", True, True),
        ("REVIEW_IN_PROGRESS", True, False),
    ],
)
def test_final_and_failed_statuses(status: str, final: bool, failure: bool) -> None:
    assert stack_views.is_final(status) is final
    assert (stack_views.is_final(status) and stack_views.is_failure(status)) is failure


@pytest.mark.parametrize(
    ("resource", "href"),
    [
        (
            {
                "ResourceType": "AWS::ECS::Cluster",
                "PhysicalResourceId": "web",
                "ResourceStatus": "CREATE_COMPLETE",
                "_attributes": {"Arn": "arn:aws:ecs:us-east-1:1:cluster/web"},
            },
            "/ui/cluster?arn=arn%3Aaws%3Aecs%3Aus-east-1%3A1%3Acluster%2Fweb",
        ),
        (
            {
                "ResourceType": "AWS::ECS::Service",
                "PhysicalResourceId": "arn:aws:ecs:us-east-1:1:service/web/api",
                "ResourceStatus": "UPDATE_COMPLETE",
            },
            "/ui/service?arn=arn%3Aaws%3Aecs%3Aus-east-1%3A1%3Aservice%2Fweb%2Fapi",
        ),
        (
            {
                "ResourceType": "AWS::ElasticLoadBalancingV2::TargetGroup",
                "PhysicalResourceId": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/tg/abc",
                "ResourceStatus": "CREATE_COMPLETE",
            },
            "/ui/target-group?arn=arn%3Aaws%3Aelasticloadbalancing%3Aus-east-1%3A1%3Atargetgroup%2Ftg%2Fabc",
        ),
        (
            {
                "ResourceType": "AWS::ElasticLoadBalancingV2::LoadBalancer",
                "PhysicalResourceId": "arn:lb",
                "ResourceStatus": "CREATE_COMPLETE",
            },
            "/ui/load-balancers",
        ),
        # No page of its own, nothing made yet, or gone.
        (
            {
                "ResourceType": "AWS::ECS::TaskDefinition",
                "PhysicalResourceId": "arn:td",
                "ResourceStatus": "CREATE_COMPLETE",
            },
            None,
        ),
        ({"ResourceType": "AWS::ECS::Service", "PhysicalResourceId": "", "ResourceStatus": "CREATE_IN_PROGRESS"}, None),
        (
            {"ResourceType": "AWS::ECS::Service", "PhysicalResourceId": "arn:x", "ResourceStatus": "DELETE_COMPLETE"},
            None,
        ),
    ],
)
def test_resource_links(resource: dict[str, Any], href: str | None) -> None:
    assert stack_views.resource_href(resource) == href


def test_output_tail_reads_the_last_whole_records(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    lines = [f"{1700000000 + i}.000000000 {'stderr' if i % 2 else 'stdout'} line {i}" for i in range(3000)]
    path.write_text("\n".join(lines) + "\n")
    tail = stack_views.output_tail(path, 3)
    assert tail == [
        {"timestamp": 1700002997000, "source": "stderr", "message": "line 2997"},
        {"timestamp": 1700002998000, "source": "stdout", "message": "line 2998"},
        {"timestamp": 1700002999000, "source": "stderr", "message": "line 2999"},
    ]
    # Read from the middle of the file, the cut first record is left out, never shown half.
    assert all(r["message"].startswith("line ") for r in stack_views.output_tail(path, 1000))
    assert stack_views.output_tail(tmp_path / "missing.log") == []


@pytest.mark.parametrize(
    ("status", "style"),
    [
        ("CREATE_FAILED", "red"),
        ("ROLLBACK_COMPLETE", "red"),
        ("UPDATE_ROLLBACK_COMPLETE", "red"),
        ("ROLLBACK_IN_PROGRESS", "yellow"),
        ("CREATE_IN_PROGRESS", "yellow"),
        ("CREATE_COMPLETE", "green"),
        ("UPDATE_COMPLETE", "green"),
        ("DELETE_COMPLETE", "dim"),
        ("DELETE_SKIPPED", "dim"),
    ],
)
def test_cli_status_colours(status: str, style: str) -> None:
    assert stack_style(status) == style
