"""The stack engine with test resource types on the fake clock: resources made in dependency order
(independent ones at once), events and statuses as CloudFormation writes them, rollback of a failed
create, deletes in reverse order with DeletionPolicy Retain, timeouts, and what a restart does to an
operation that was in progress."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ecslite.clock import FakeClock
from ecslite.protocol.errors import AwsError
from ecslite.providers.base import RequestContext
from ecslite.providers.cloudformation.engine import RESTARTED, StackEngine
from ecslite.providers.cloudformation.provider import CloudFormationProvider
from ecslite.providers.cloudformation.resources.base import (
    Physical,
    ResourceContext,
    ResourceFailed,
    ResourceHandler,
)
from ecslite.providers.cloudformation.resources.registry import load
from ecslite.store import stacks as stacks_store
from ecslite.store.db import Database

ACCOUNT, REGION = "000000000000", "us-east-1"
CTX = RequestContext(ACCOUNT, REGION, "test", "cloudformation", "test")
Doc = dict[str, Any]


@dataclass
class World:
    """What the test resource types have made, and in which order."""

    live: dict[str, Doc] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)
    running: int = 0
    most: int = 0
    counter: int = 0


class Thing(ResourceHandler):
    """A resource that takes ``Delay`` seconds to make; ``Fail``/``FailUpdate`` make it fail; ``Name``
    needs a replacement, everything else changes in place."""

    type_name = "AWS::Test::Thing"
    attributes = frozenset({"Arn", "Value"})
    replace_always = False
    replace_on = frozenset({"Name", "Immutable"})

    def __init__(self, world: World) -> None:
        self.world = world

    async def _busy(self, what: str, rc: ResourceContext, delay: float) -> None:
        self.world.log.append((what, rc.logical_id))
        self.world.running += 1
        self.world.most = max(self.world.most, self.world.running)
        try:
            await rc.clock.sleep(delay)
        finally:
            self.world.running -= 1

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        await self._busy("create", rc, float(props.get("Delay", 1)))
        if props.get("Fail"):
            raise ResourceFailed(str(props["Fail"]))
        self.world.counter += 1
        physical = f"{rc.stack_name}-{rc.logical_id}-{self.world.counter}"
        self.world.live[physical] = dict(props)
        self.world.log.append(("created", rc.logical_id))
        return Physical(physical, {"Arn": f"arn:test:{physical}", "Value": str(props.get("Value", ""))})

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        await self._busy("update", rc, float(new.get("Delay", 1)))
        self.world.live[current.physical_id] = dict(new)  # a failed update may have changed the resource
        if new.get("FailUpdate"):
            raise AwsError("InvalidParameterException", "The value is not valid.")
        return Physical(
            current.physical_id, {"Arn": f"arn:test:{current.physical_id}", "Value": str(new.get("Value", ""))}
        )

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        await self._busy("delete", rc, 1)
        self.world.live.pop(current.physical_id, None)


class Role(Thing):
    type_name = "AWS::IAM::Role"
    name_property = "RoleName"
    iam = True


@dataclass
class Stacks:
    clock: FakeClock
    db: Database
    engine: StackEngine
    api: CloudFormationProvider
    world: World

    def call(self, operation: str, **params: Any) -> Doc:
        method: Callable[[RequestContext, Doc], Doc] = getattr(self.api, _snake(operation))
        return method(CTX, params)

    async def settle(self, name: str, limit: float = 600) -> Doc:
        """Lets the clock run until the stack's operation is over; the stack as DescribeStacks shows it."""
        stack_id = self.call("DescribeStacks", StackName=name)["Stacks"][0]["StackId"]
        deadline = self.clock.now() + limit
        while self.engine.busy(stack_id):
            assert self.clock.now() < deadline, "the stack operation did not end"
            await self.clock.run_for(1, 0.5)
        return dict(self.call("DescribeStacks", StackName=stack_id)["Stacks"][0])

    def events(self, name: str) -> list[tuple[str, str, str]]:
        """(logical id, status, reason) oldest first."""
        found = self.call("DescribeStackEvents", StackName=name)["StackEvents"]
        return [
            (e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason", "")) for e in reversed(found)
        ]

    async def resumed(self, name: str) -> tuple[Stacks, Doc]:
        """A new engine over the same store (this one stopped, as at a server restart) finishes the
        stack's operation: the new ``Stacks`` and the stack as it ends."""
        after = self.restarted()
        await after.engine.start()
        try:
            return after, await after.settle(name)
        finally:
            await after.engine.stop()

    def restarted(self) -> Stacks:
        """The same store with a new engine and provider, as after a server restart."""
        handlers = self.engine.handlers
        engine = StackEngine(self.db, self.clock, {}, handlers)
        return Stacks(
            self.clock, self.db, engine, CloudFormationProvider(self.db, self.clock, {}, engine, handlers), self.world
        )


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def make_stacks() -> Stacks:
    clock, db, world = FakeClock(), Database(None), World()
    handlers: dict[str, ResourceHandler] = {Thing.type_name: Thing(world), Role.type_name: Role(world)}
    engine = StackEngine(db, clock, {}, handlers)
    return Stacks(clock, db, engine, CloudFormationProvider(db, clock, {}, engine, handlers), world)


def run(scenario: Callable[[Stacks], Awaitable[None]]) -> None:
    async def main() -> None:
        stacks = make_stacks()
        await stacks.engine.start()
        try:
            await scenario(stacks)
        finally:
            await stacks.engine.stop()

    asyncio.run(main())


def body(resources: Doc, **sections: Any) -> str:
    return json.dumps({"Resources": resources, **sections})


THREE = {
    "A": {"Type": "AWS::Test::Thing", "Properties": {"Value": "a", "Delay": 5}},
    "B": {"Type": "AWS::Test::Thing", "Properties": {"Value": {"Fn::GetAtt": ["A", "Value"]}, "Other": {"Ref": "A"}}},
    "C": {"Type": "AWS::Test::Thing", "Properties": {"Value": "c", "Delay": 3}},
}


def test_create_in_dependency_order_with_independent_ones_at_once() -> None:
    async def scenario(s: Stacks) -> None:
        outputs = {"Out": {"Value": {"Fn::GetAtt": ["B", "Arn"]}, "Export": {"Name": "b-arn"}, "Description": "B"}}
        stack_id = s.call("CreateStack", StackName="web", TemplateBody=body(THREE, Outputs=outputs))["StackId"]
        assert stack_id.startswith(f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/web/")
        assert s.call("DescribeStacks", StackName="web")["Stacks"][0]["StackStatus"] == "CREATE_IN_PROGRESS"
        stack = await s.settle("web")
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        # A and C at once; B only once A was made (it reads A's Value and Ref).
        assert s.world.most == 2
        assert s.world.log.index(("created", "A")) < s.world.log.index(("create", "B"))
        b = s.call("DescribeStackResource", StackName="web", LogicalResourceId="B")["StackResourceDetail"]
        assert s.world.live[b["PhysicalResourceId"]]["Value"] == "a"
        assert (
            s.world.live[b["PhysicalResourceId"]]["Other"].endswith("-A-1")
            or "-A-" in s.world.live[b["PhysicalResourceId"]]["Other"]
        )
        assert stack["Outputs"] == [
            {
                "OutputKey": "Out",
                "OutputValue": f"arn:test:{b['PhysicalResourceId']}",
                "Description": "B",
                "ExportName": "b-arn",
            }
        ]
        events = s.events("web")
        assert events[0] == ("web", "CREATE_IN_PROGRESS", "User Initiated")
        assert events[-1] == ("web", "CREATE_COMPLETE", "")
        assert [e for e in events if e[0] == "B"] == [
            ("B", "CREATE_IN_PROGRESS", ""),
            ("B", "CREATE_IN_PROGRESS", "Resource creation Initiated"),
            ("B", "CREATE_COMPLETE", ""),
        ]
        summaries = s.call("ListStackResources", StackName="web")["StackResourceSummaries"]
        assert sorted((r["LogicalResourceId"], r["ResourceStatus"]) for r in summaries) == [
            ("A", "CREATE_COMPLETE"),
            ("B", "CREATE_COMPLETE"),
            ("C", "CREATE_COMPLETE"),
        ]
        by_physical = s.call("DescribeStackResources", PhysicalResourceId=b["PhysicalResourceId"])["StackResources"]
        assert {r["StackId"] for r in by_physical} == {stack_id} and len(by_physical) == 3
        assert json.loads(s.call("GetTemplate", StackName="web")["TemplateBody"])["Resources"] == THREE
        assert s.call("ListExports")["Exports"] == [
            {"ExportingStackId": stack_id, "Name": "b-arn", "Value": f"arn:test:{b['PhysicalResourceId']}"}
        ]

    run(scenario)


def test_failed_create_rolls_back_what_was_made() -> None:
    async def scenario(s: Stacks) -> None:
        resources = {
            "A": {"Type": "AWS::Test::Thing", "Properties": {"Delay": 2}},
            "Bad": {"Type": "AWS::Test::Thing", "Properties": {"Fail": "no room", "Delay": 1}, "DependsOn": "A"},
            "Later": {"Type": "AWS::Test::Thing", "DependsOn": "Bad"},
        }
        s.call("CreateStack", StackName="web", TemplateBody=body(resources))
        stack = await s.settle("web")
        assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
        assert s.world.live == {}
        assert ("create", "Later") not in s.world.log
        events = s.events("web")
        assert ("Bad", "CREATE_FAILED", "no room") in events
        assert (
            "web",
            "ROLLBACK_IN_PROGRESS",
            "The following resource(s) failed to create: [Bad]. Rollback requested by user.",
        ) in events
        assert ("A", "DELETE_COMPLETE", "") in events
        assert events[-1] == ("web", "ROLLBACK_COMPLETE", "")
        # A stack in ROLLBACK_COMPLETE can only be deleted.
        with pytest.raises(AwsError, match="is in ROLLBACK_COMPLETE state and can not be updated"):
            s.call("UpdateStack", StackName="web", TemplateBody=body({"A": resources["A"]}))
        s.call("DeleteStack", StackName="web")
        assert (await s.settle("web"))["StackStatus"] == "DELETE_COMPLETE"

    run(scenario)


def test_rollback_disabled_keeps_what_was_made() -> None:
    async def scenario(s: Stacks) -> None:
        resources = {"A": THREE["A"], "Bad": {"Type": "AWS::Test::Thing", "Properties": {"Fail": "nope"}}}
        s.call("CreateStack", StackName="web", TemplateBody=body(resources), DisableRollback=True)
        stack = await s.settle("web")
        assert stack["StackStatus"] == "CREATE_FAILED"
        assert stack["StackStatusReason"] == "The following resource(s) failed to create: [Bad]. "
        assert len(s.world.live) == 1

    run(scenario)


def test_handler_error_reads_as_cloudformation_writes_it() -> None:
    async def scenario(s: Stacks) -> None:
        s.call("CreateStack", StackName="web", TemplateBody=body({"A": THREE["A"]}))
        await s.settle("web")
        update = {"A": {"Type": "AWS::Test::Thing", "Properties": {"Value": "b", "FailUpdate": True}}}
        s.call("UpdateStack", StackName="web", TemplateBody=body(update))
        stack = await s.settle("web")
        assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
        [failed] = [e for e in s.events("web") if e[1] == "UPDATE_FAILED"]
        assert failed[2].startswith('Resource handler returned message: "The value is not valid." (RequestToken: ')
        assert failed[2].endswith(", HandlerErrorCode: InvalidRequest)")
        # The rollback puts the old properties back over what the failed update changed.
        assert [v.get("Value") for v in s.world.live.values()] == ["a"]

    run(scenario)


def test_delete_in_reverse_order_and_retain() -> None:
    async def scenario(s: Stacks) -> None:
        resources = {**THREE, "Kept": {"Type": "AWS::Test::Thing", "DeletionPolicy": "Retain"}}
        stack_id = s.call("CreateStack", StackName="web", TemplateBody=body(resources))["StackId"]
        await s.settle("web")
        s.world.log.clear()
        s.call("DeleteStack", StackName="web")
        assert s.call("DescribeStacks", StackName="web")["Stacks"][0]["StackStatus"] == "DELETE_IN_PROGRESS"
        stack = await s.settle("web")
        assert stack["StackStatus"] == "DELETE_COMPLETE"
        deletes = [logical for what, logical in s.world.log if what == "delete"]
        assert deletes.index("B") < deletes.index("A") and "Kept" not in deletes
        assert len(s.world.live) == 1  # the retained one
        assert ("Kept", "DELETE_SKIPPED", "") in s.events(stack_id)
        with pytest.raises(AwsError, match="Stack with id web does not exist"):
            s.call("DescribeStacks", StackName="web")
        listed = s.call("ListStacks", StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"]
        assert [x["StackId"] for x in listed] == [stack_id]
        s.call("DeleteStack", StackName="web")  # an unknown stack: nothing to do, no error
        s.call("CreateStack", StackName="web", TemplateBody=body({"A": THREE["A"]}))  # the name is free again
        assert (await s.settle("web"))["StackStatus"] == "CREATE_COMPLETE"

    run(scenario)


def test_checks_before_the_operation_starts() -> None:
    async def scenario(s: Stacks) -> None:
        s.call("CreateStack", StackName="web", TemplateBody=body({"A": THREE["A"]}))
        with pytest.raises(AwsError, match=r"Stack \[web\] already exists") as exists:
            s.call("CreateStack", StackName="web", TemplateBody=body({"A": THREE["A"]}))
        assert exists.value.code == "AlreadyExistsException"
        with pytest.raises(AwsError, match=r"Unrecognized resource types: \[AWS::RDS::DBInstance\]"):
            s.call("CreateStack", StackName="db", TemplateBody=body({"D": {"Type": "AWS::RDS::DBInstance"}}))
        bad_att = {
            "A": THREE["A"],
            "B": {"Type": "AWS::Test::Thing", "Properties": {"X": {"Fn::GetAtt": ["A", "Nope"]}}},
        }
        with pytest.raises(AwsError, match="resource A does not support attribute type Nope in Fn::GetAtt"):
            s.call("CreateStack", StackName="x", TemplateBody=body(bad_att))
        role = {"R": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "named"}}}
        with pytest.raises(AwsError, match=r"Requires capabilities : \[CAPABILITY_NAMED_IAM\]") as caps:
            s.call("CreateStack", StackName="r", TemplateBody=body(role), Capabilities=["CAPABILITY_IAM"])
        assert caps.value.code == "InsufficientCapabilitiesException"
        s.call("CreateStack", StackName="r", TemplateBody=body(role), Capabilities=["CAPABILITY_NAMED_IAM"])
        with pytest.raises(AwsError, match=r"TemplateURL needs ecslite.s S3"):
            s.call("CreateStack", StackName="u", TemplateURL="https://s3.amazonaws.com/b/t.yaml")
        with pytest.raises(AwsError, match="Transform AWS::Serverless-2016-10-31 is not supported"):
            s.call(
                "CreateStack",
                StackName="t",
                TemplateBody=body({"A": THREE["A"]}, Transform="AWS::Serverless-2016-10-31"),
            )
        with pytest.raises(AwsError, match="Stack with id nope does not exist"):
            s.call("DescribeStackEvents", StackName="nope")
        cycle = {
            "A": {"Type": "AWS::Test::Thing", "Properties": {"X": {"Ref": "B"}}},
            "B": {"Type": "AWS::Test::Thing", "Properties": {"X": {"Ref": "A"}}},
        }
        with pytest.raises(AwsError, match=r"Circular dependency between resources: \[A, B\]"):
            s.call("CreateStack", StackName="c", TemplateBody=body(cycle))
        validated = s.call(
            "ValidateTemplate",
            TemplateBody=body(
                role, Description="d", Parameters={"Size": {"Type": "Number", "Default": 2, "Description": "n"}}
            ),
        )
        assert validated["Parameters"] == [
            {"ParameterKey": "Size", "NoEcho": False, "DefaultValue": "2", "Description": "n"}
        ]
        assert validated["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
        assert validated["CapabilitiesReason"] == "The following resource(s) require capabilities: [AWS::IAM::Role]"
        summary = s.call(
            "GetTemplateSummary",
            TemplateBody=body(THREE, Parameters={"P": {"Type": "String", "AllowedValues": ["x", "y"]}}),
        )
        assert summary["ResourceTypes"] == ["AWS::Test::Thing"]
        assert summary["Parameters"][0]["ParameterConstraints"] == {"AllowedValues": ["x", "y"]}
        with pytest.raises(AwsError, match="JSON not well-formed"):
            s.call("ValidateTemplate", TemplateBody="{ nope")

    run(scenario)


def test_termination_protection() -> None:
    async def scenario(s: Stacks) -> None:
        s.call("CreateStack", StackName="web", TemplateBody=body({"A": THREE["A"]}), EnableTerminationProtection=True)
        await s.settle("web")
        with pytest.raises(AwsError, match=r"Stack \[web\] cannot be deleted while TerminationProtection is enabled"):
            s.call("DeleteStack", StackName="web")
        s.call("UpdateTerminationProtection", StackName="web", EnableTerminationProtection=False)
        s.call("DeleteStack", StackName="web")
        assert (await s.settle("web"))["StackStatus"] == "DELETE_COMPLETE"

    run(scenario)


def test_timeout_cancels_and_rolls_back() -> None:
    async def scenario(s: Stacks) -> None:
        slow = {"Slow": {"Type": "AWS::Test::Thing", "Properties": {"Delay": 600}}, "Quick": THREE["C"]}
        s.call("CreateStack", StackName="web", TemplateBody=body(slow), TimeoutInMinutes=1)
        stack = await s.settle("web")
        assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
        assert ("Slow", "CREATE_FAILED", "Resource creation cancelled") in s.events("web")
        assert ("Quick", "DELETE_COMPLETE", "") in s.events("web")
        assert s.world.live == {}

    run(scenario)


def test_create_in_progress_at_a_restart_is_failed_and_rolled_back() -> None:
    async def scenario(s: Stacks) -> None:
        slow = {
            "Quick": THREE["C"],
            "Slow": {"Type": "AWS::Test::Thing", "Properties": {"Delay": 600}, "DependsOn": "Quick"},
        }
        s.call("CreateStack", StackName="web", TemplateBody=body(slow))
        await s.clock.run_for(10, 1)
        await s.engine.stop()  # the server stops while Slow is being made
        assert s.call("DescribeStacks", StackName="web")["Stacks"][0]["StackStatus"] == "CREATE_IN_PROGRESS"
        after, stack = await s.resumed("web")
        assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
        assert ("Slow", "CREATE_FAILED", RESTARTED) in after.events("web")
        rollback = [e for e in after.events("web") if e[1] == "ROLLBACK_IN_PROGRESS"]
        assert rollback == [
            (
                "web",
                "ROLLBACK_IN_PROGRESS",
                f"The following resource(s) failed to create: [Slow]. {RESTARTED}. Rollback requested by user.",
            )
        ]
        assert s.world.live == {}

    run(scenario)


def test_delete_in_progress_at_a_restart_is_finished() -> None:
    async def scenario(s: Stacks) -> None:
        s.call("CreateStack", StackName="web", TemplateBody=body(THREE))
        await s.settle("web")
        s.call("DeleteStack", StackName="web")
        await s.clock.run_for(0.5, 0.5)
        await s.engine.stop()
        _, stack = await s.resumed(s.call("ListStacks")["StackSummaries"][0]["StackId"])
        assert stack["StackStatus"] == "DELETE_COMPLETE"
        assert s.world.live == {}

    run(scenario)


def test_delete_while_creating_waits_for_what_is_being_made() -> None:
    async def scenario(s: Stacks) -> None:
        resources = {
            "Slow": {"Type": "AWS::Test::Thing", "Properties": {"Delay": 30}},
            "Next": {"Type": "AWS::Test::Thing", "DependsOn": "Slow"},
        }
        stack_id = s.call("CreateStack", StackName="web", TemplateBody=body(resources))["StackId"]
        await s.clock.run_for(5, 1)
        s.call("DeleteStack", StackName="web")
        stack = await s.settle(stack_id)
        assert stack["StackStatus"] == "DELETE_COMPLETE"
        # Slow was finished (so its id was known) and taken down; Next was never started.
        assert ("created", "Slow") in s.world.log and ("create", "Next") not in s.world.log
        assert s.world.live == {}
        statuses = [e[1] for e in s.events(stack_id) if e[0] == "web"]
        assert statuses == ["CREATE_IN_PROGRESS", "DELETE_IN_PROGRESS", "DELETE_COMPLETE"]

    run(scenario)


def test_docs_name_every_resource_type() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "cloudformation.md").read_text()
    rows = {line.split("|")[1].strip(): line.split("|")[2] for line in docs.splitlines() if line.count("|") == 3}
    missing = [
        name
        for name in load()
        if f"`{name.split('::')[2]}`" not in rows.get(name.split("::")[1], "") and f"`{name}`" not in docs
    ]
    assert missing == [], "types missing from docs/cloudformation.md"


def test_a_stored_template_that_no_longer_reads_fails_the_operation() -> None:
    async def scenario(s: Stacks) -> None:
        s.call("CreateStack", StackName="web", TemplateBody=body({"A": THREE["A"]}))
        await s.clock.run_for(0.5, 0.5)
        await s.engine.stop()
        stack = s.api.stack(CTX, "web")
        stack["_template"] = "{ broken"
        with s.db.transaction():
            stacks_store.put_stack(s.db, ACCOUNT, REGION, stack)
        _, shown = await s.resumed("web")
        assert shown["StackStatus"] == "CREATE_FAILED"
        assert shown["StackStatusReason"].startswith("Template format error: JSON not well-formed.")

    run(scenario)


def test_deletion_policies_on_a_failed_create() -> None:
    async def scenario(s: Stacks) -> None:
        resources = {
            "Kept": {"Type": "AWS::Test::Thing", "DeletionPolicy": "Retain"},
            "OnlyAfter": {"Type": "AWS::Test::Thing", "DeletionPolicy": "RetainExceptOnCreate"},
            "Bad": {"Type": "AWS::Test::Thing", "Properties": {"Fail": "no"}, "DependsOn": ["Kept", "OnlyAfter"]},
        }
        s.call("CreateStack", StackName="web", TemplateBody=body(resources))
        assert (await s.settle("web"))["StackStatus"] == "ROLLBACK_COMPLETE"
        events = s.events("web")
        # RetainExceptOnCreate keeps a resource except when the operation that made it rolls back.
        assert ("Kept", "DELETE_SKIPPED", "") in events and ("OnlyAfter", "DELETE_COMPLETE", "") in events
        assert len(s.world.live) == 1

    run(scenario)
