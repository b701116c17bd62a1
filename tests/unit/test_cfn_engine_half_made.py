"""A resource whose handler has made it but not returned yet (it waits, as an ECS service's does for
its deployment) is known to the stack by the physical id the handler reported: when the server goes
away meanwhile (its handler cancelled and never run again, as a SIGKILL leaves it), the rollback after
the restart takes it down, for a new resource and for a replacement alike."""

from __future__ import annotations

import asyncio
from typing import Any

from ecslite.clock import FakeClock
from ecslite.providers.cloudformation.engine import RESTARTED, StackEngine
from ecslite.providers.cloudformation.provider import CloudFormationProvider
from ecslite.providers.cloudformation.resources.base import Physical, ResourceContext, ResourceHandler
from ecslite.store.db import Database
from tests.unit.test_cfn_engine import Stacks, Thing, World, body

Doc = dict[str, Any]


class Slow(Thing):
    """Made at once, reported, then ``Delay`` seconds of waiting before the handler returns."""

    type_name = "AWS::Test::Slow"
    replace_on = frozenset({"Name"})

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        self.world.counter += 1
        physical = f"{rc.stack_name}-{rc.logical_id}-{self.world.counter}"
        self.world.live[physical] = dict(props)
        attributes = {"Arn": f"arn:test:{physical}", "Value": str(props.get("Value", ""))}
        rc.made(physical, attributes)
        await rc.clock.sleep(float(props.get("Delay", 1)))
        return Physical(physical, attributes)


def make() -> Stacks:
    clock, db, world = FakeClock(), Database(None), World()
    handlers: dict[str, ResourceHandler] = {Thing.type_name: Thing(world), Slow.type_name: Slow(world)}
    engine = StackEngine(db, clock, {}, handlers)
    return Stacks(clock, db, engine, CloudFormationProvider(db, clock, {}, engine, handlers), world)


async def killed_and_restarted(s: Stacks, name: str) -> tuple[Stacks, Doc]:
    """Stops the engine mid-operation (the fake handlers do nothing on the way out) and lets a new one
    finish the stack's operation over the same store."""
    await s.engine.stop()
    return await s.resumed(name)


async def _new_resource() -> None:
    s = make()
    await s.engine.start()
    template = {
        "A": {"Type": "AWS::Test::Thing", "Properties": {"Value": "a"}},
        "S": {"Type": "AWS::Test::Slow", "Properties": {"Delay": 600}, "DependsOn": "A"},
    }
    s.call("CreateStack", StackName="web", TemplateBody=body(template))
    await s.clock.run_for(20, 1)
    [made] = [p for p in s.world.live if p.startswith("web-S-")]
    shown = s.call("DescribeStackResource", StackName="web", LogicalResourceId="S")["StackResourceDetail"]
    assert (shown["ResourceStatus"], shown["PhysicalResourceId"]) == ("CREATE_IN_PROGRESS", made)

    after, stack = await killed_and_restarted(s, "web")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = after.events("web")
    assert ("S", "CREATE_FAILED", RESTARTED) in events and ("S", "DELETE_COMPLETE", "") in events
    assert s.world.live == {}


async def _replacement() -> None:
    s = make()
    await s.engine.start()
    s.call("CreateStack", StackName="web", TemplateBody=body({"S": {"Type": "AWS::Test::Slow"}}))
    assert (await s.settle("web"))["StackStatus"] == "CREATE_COMPLETE"
    [first] = list(s.world.live)
    replaced = {"S": {"Type": "AWS::Test::Slow", "Properties": {"Name": "two", "Delay": 600}}}
    s.call("UpdateStack", StackName="web", TemplateBody=body(replaced))
    await s.clock.run_for(20, 1)
    assert len(s.world.live) == 2  # the replacement exists, its handler still waiting

    after, stack = await killed_and_restarted(s, "web")
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert list(s.world.live) == [first]
    shown = after.call("DescribeStackResource", StackName="web", LogicalResourceId="S")["StackResourceDetail"]
    assert shown["PhysicalResourceId"] == first


def test_a_resource_being_made_at_a_restart_is_taken_down_by_the_rollback() -> None:
    asyncio.run(_new_resource())


def test_a_replacement_being_made_at_a_restart_is_taken_down_by_the_rollback() -> None:
    asyncio.run(_replacement())
