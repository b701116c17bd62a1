"""An UpdateStack that changes the stack's tags passes them on to the stack's resources whose types
take tags, as CloudFormation does; a rollback puts the resources' tags back. Run on an in-process
server (fake runtime, fake clock) through CloudFormation's own operations, the tags read back
through the resources' services."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from ecslite.clock import FakeClock
from ecslite.providers.calls import Calls
from tests.unit.test_cfn_resources_net import running

TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Logs": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": "/cfn/tagged", "Tags": [{"Key": "tier", "Value": "template"}]},
        },
        "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "tagged"}},
    }
}


async def settled(clock: FakeClock, call: Calls, name: str) -> dict[str, Any]:
    for _ in range(600):
        [stack] = (await call("cloudformation", "DescribeStacks", {"StackName": name}))["Stacks"]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return dict(stack)
        await clock.run_for(1, 0.5)
    raise AssertionError("the stack operation did not end")


async def tags(call: Calls) -> tuple[dict[str, str], dict[str, str]]:
    """The log group's and the cluster's tags, CloudFormation's own aws: ones left out."""
    group = (await call("logs", "ListTagsLogGroup", {"logGroupName": "/cfn/tagged"}))["tags"]
    [cluster] = (await call("ecs", "DescribeClusters", {"clusters": ["tagged"], "include": ["TAGS"]}))["clusters"]
    listed = {t["key"]: t["value"] for t in cluster.get("tags") or []}
    return {k: v for k, v in group.items() if not k.startswith("aws:")}, listed


def test_stack_tag_changes_reach_the_resources_and_a_rollback_puts_them_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (clock, call):
            params = {"StackName": "tagged", "TemplateBody": json.dumps(TEMPLATE)}
            await call("cloudformation", "CreateStack", {**params, "Tags": [{"Key": "env", "Value": "dev"}]})
            assert (await settled(clock, call, "tagged"))["StackStatus"] == "CREATE_COMPLETE"
            assert await tags(call) == ({"env": "dev", "tier": "template"}, {"env": "dev"})

            # The template is the same: only the stack's tags change (one changed, one added, and one
            # the template's own tag overrides on the log group).
            new = [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "shop"}, {"Key": "tier", "Value": "x"}]
            await call("cloudformation", "UpdateStack", {**params, "Tags": new})
            assert (await settled(clock, call, "tagged"))["StackStatus"] == "UPDATE_COMPLETE"
            assert await tags(call) == (
                {"env": "prod", "team": "shop", "tier": "template"},
                {"env": "prod", "team": "shop", "tier": "x"},
            )
            events = (await call("cloudformation", "DescribeStackEvents", {"StackName": "tagged"}))["StackEvents"]
            updated = {e["LogicalResourceId"] for e in events if e["ResourceStatus"] == "UPDATE_COMPLETE"}
            assert {"Logs", "Cluster"} <= updated

            # A tag taken off the stack comes off the resources.
            await call("cloudformation", "UpdateStack", {**params, "Tags": [{"Key": "team", "Value": "shop"}]})
            assert (await settled(clock, call, "tagged"))["StackStatus"] == "UPDATE_COMPLETE"
            assert await tags(call) == ({"team": "shop", "tier": "template"}, {"team": "shop"})

            # An update that fails (a new log group whose retention Logs refuses) puts the tags back.
            failing = json.loads(json.dumps(TEMPLATE))
            failing["Resources"]["Bad"] = {
                "Type": "AWS::Logs::LogGroup",
                "DependsOn": ["Logs", "Cluster"],
                "Properties": {"LogGroupName": "/cfn/bad", "RetentionInDays": 8},
            }
            changed = [{"Key": "team", "Value": "web"}]
            await call(
                "cloudformation", "UpdateStack", {**params, "TemplateBody": json.dumps(failing), "Tags": changed}
            )
            stack = await settled(clock, call, "tagged")
            assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
            assert stack["Tags"] == [{"Key": "team", "Value": "shop"}]
            assert await tags(call) == ({"team": "shop", "tier": "template"}, {"team": "shop"})
            bad = (await call("logs", "DescribeLogGroups", {"logGroupNamePrefix": "/cfn/bad"}))["logGroups"]
            assert bad == []

    asyncio.run(scenario())
