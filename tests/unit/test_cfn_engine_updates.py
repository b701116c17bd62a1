"""Stack updates on the fake clock with test resource types: changes in place, replacements made
before the old resource is deleted in the cleanup phase, removed resources, rollbacks that put
everything back, change sets (CREATE, UPDATE, the empty one), exports in use, CancelUpdateStack and
an update in progress at a restart."""

from __future__ import annotations

import json

import pytest

from ecslite.protocol.errors import AwsError
from ecslite.providers.cloudformation.engine import RESTARTED
from tests.unit.test_cfn_engine import THREE, Stacks, body, run

EMPTY = "The submitted information didn't contain changes. Submit different information to create a change set."


def physical(s: Stacks, name: str, logical_id: str) -> str:
    found = s.call("DescribeStackResource", StackName=name, LogicalResourceId=logical_id)["StackResourceDetail"]
    return str(found["PhysicalResourceId"])


def test_update_in_place_replacement_and_removal() -> None:
    async def scenario(s: Stacks) -> None:
        s.call("CreateStack", StackName="web", TemplateBody=body(THREE))
        await s.settle("web")
        a, b, c = (physical(s, "web", x) for x in "ABC")
        with pytest.raises(AwsError, match=r"No updates are to be performed\."):
            s.call("UpdateStack", StackName="web", TemplateBody=body(THREE))
        changed = {
            # A changes in place (B reads its Value: B changes in place too), C is replaced, D is new.
            "A": {"Type": "AWS::Test::Thing", "Properties": {"Value": "a2", "Delay": 5}},
            "B": THREE["B"],
            "C": {"Type": "AWS::Test::Thing", "Properties": {"Value": "c", "Delay": 3, "Name": "c2"}},
            "D": {"Type": "AWS::Test::Thing"},
        }
        s.call("UpdateStack", StackName="web", TemplateBody=body(changed))
        stack = await s.settle("web")
        assert stack["StackStatus"] == "UPDATE_COMPLETE"
        assert physical(s, "web", "A") == a and physical(s, "web", "B") == b
        assert s.world.live[b]["Value"] == "a2"
        new_c = physical(s, "web", "C")
        assert new_c != c and c not in s.world.live and new_c in s.world.live
        events = s.events("web")
        statuses = [e[1] for e in events if e[0] == "web"]
        assert statuses[-3:] == ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE"]
        assert (
            "C",
            "UPDATE_IN_PROGRESS",
            "Requested update requires the creation of a new physical resource; hence creating one.",
        ) in events
        # The old C goes only in the cleanup phase, after the stack's update itself is done.
        cleanup = events.index(("web", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", ""))
        assert events.index(("C", "DELETE_COMPLETE", "")) > cleanup

        s.call("UpdateStack", StackName="web", TemplateBody=body({"A": changed["A"]}))
        assert (await s.settle("web"))["StackStatus"] == "UPDATE_COMPLETE"
        assert sorted(
            r["LogicalResourceId"] for r in s.call("DescribeStackResources", StackName="web")["StackResources"]
        ) == ["A"]
        assert list(s.world.live) == [a]

    run(scenario)


def test_failed_update_rolls_everything_back() -> None:
    async def scenario(s: Stacks) -> None:
        s.call("CreateStack", StackName="web", TemplateBody=body(THREE))
        await s.settle("web")
        before = {x: physical(s, "web", x) for x in "ABC"}
        changed = {
            "A": {"Type": "AWS::Test::Thing", "Properties": {"Value": "a2", "Delay": 5}},
            "B": {"Type": "AWS::Test::Thing", "Properties": {"Value": {"Fn::GetAtt": ["A", "Value"]}, "Name": "new"}},
            "C": {"Type": "AWS::Test::Thing", "Properties": {"Value": "c", "FailUpdate": True}, "DependsOn": "B"},
            "New": {"Type": "AWS::Test::Thing"},
        }
        s.call("UpdateStack", StackName="web", TemplateBody=body(changed))
        stack = await s.settle("web")
        assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
        statuses = [(e[1], e[2]) for e in s.events("web") if e[0] == "web"]
        assert ("UPDATE_ROLLBACK_IN_PROGRESS", "The following resource(s) failed to update: [C]. ") in statuses
        assert statuses[-2:] == [("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", ""), ("UPDATE_ROLLBACK_COMPLETE", "")]
        assert {x: physical(s, "web", x) for x in "ABC"} == before
        assert s.world.live[before["A"]]["Value"] == "a"  # put back in place
        assert sorted(s.world.live) == sorted(before.values())  # B's replacement and New taken down
        assert sorted(
            r["LogicalResourceId"] for r in s.call("ListStackResources", StackName="web")["StackResourceSummaries"]
        ) == ["A", "B", "C"]
        assert json.loads(s.call("GetTemplate", StackName="web")["TemplateBody"])["Resources"] == THREE
        # The stack can be updated again.
        s.call("UpdateStack", StackName="web", TemplateBody=body({**THREE, "New": changed["New"]}))
        assert (await s.settle("web"))["StackStatus"] == "UPDATE_COMPLETE"

    run(scenario)


def test_custom_named_resource_cannot_be_replaced() -> None:
    async def scenario(s: Stacks) -> None:
        role = {"R": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "r", "Name": "one"}}}
        s.call("CreateStack", StackName="web", TemplateBody=body(role), Capabilities=["CAPABILITY_NAMED_IAM"])
        await s.settle("web")
        role["R"]["Properties"]["Name"] = "two"
        s.call("UpdateStack", StackName="web", TemplateBody=body(role), Capabilities=["CAPABILITY_NAMED_IAM"])
        assert (await s.settle("web"))["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
        assert (
            "R",
            "UPDATE_FAILED",
            "CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename R and "
            "update the stack again.",
        ) in s.events("web")

    run(scenario)


def test_change_sets_create_update_and_empty() -> None:
    async def scenario(s: Stacks) -> None:
        params = {"Size": {"Type": "String", "Default": "1"}}
        template = body(
            {**THREE, "P": {"Type": "AWS::Test::Thing", "Properties": {"Value": {"Ref": "Size"}}}}, Parameters=params
        )
        created = s.call(
            "CreateChangeSet", StackName="web", ChangeSetName="one", ChangeSetType="CREATE", TemplateBody=template
        )
        review = s.call("DescribeStacks", StackName="web")["Stacks"][0]
        assert review["StackStatus"] == "REVIEW_IN_PROGRESS"
        shown = s.call("DescribeChangeSet", ChangeSetName=created["Id"])
        assert (shown["Status"], shown["ExecutionStatus"]) == ("CREATE_COMPLETE", "AVAILABLE")
        assert sorted(
            (c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"]) for c in shown["Changes"]
        ) == [
            ("Add", "A"),
            ("Add", "B"),
            ("Add", "C"),
            ("Add", "P"),
        ]
        s.call("ExecuteChangeSet", ChangeSetName="one", StackName="web")
        assert (await s.settle("web"))["StackStatus"] == "CREATE_COMPLETE"

        empty = s.call("CreateChangeSet", StackName="web", ChangeSetName="two", TemplateBody=template)
        shown = s.call("DescribeChangeSet", ChangeSetName=empty["Id"])
        assert (shown["Status"], shown["StatusReason"], shown["ExecutionStatus"]) == ("FAILED", EMPTY, "UNAVAILABLE")
        with pytest.raises(AwsError) as refused:
            s.call("ExecuteChangeSet", ChangeSetName=empty["Id"])
        assert refused.value.code == "InvalidChangeSetStatusException"
        s.call("DeleteChangeSet", ChangeSetName="two", StackName="web")

        changed = body(
            {
                "A": {"Type": "AWS::Test::Thing", "Properties": {"Value": "a", "Delay": 5, "Name": "x"}},
                "B": THREE["B"],
                "P": {"Type": "AWS::Test::Thing", "Properties": {"Value": {"Ref": "Size"}}},
            },
            Parameters=params,
        )
        update = s.call(
            "CreateChangeSet",
            StackName="web",
            ChangeSetName="three",
            TemplateBody=changed,
            Parameters=[{"ParameterKey": "Size", "ParameterValue": "2"}],
        )
        changes = {
            c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"]
            for c in s.call("DescribeChangeSet", ChangeSetName=update["Id"])["Changes"]
        }
        assert (changes["A"]["Action"], changes["A"]["Replacement"]) == ("Modify", "True")
        assert (changes["B"]["Action"], changes["B"]["Replacement"]) == ("Modify", "Conditional")
        assert (changes["P"]["Action"], changes["P"]["Replacement"]) == ("Modify", "False")
        assert changes["P"]["Details"][0]["Target"]["Name"] == "Value"
        assert changes["C"]["Action"] == "Remove"
        listed = s.call("ListChangeSets", StackName="web")["Summaries"]
        assert [(c["ChangeSetName"], c["ExecutionStatus"]) for c in listed] == [
            ("one", "EXECUTE_COMPLETE"),
            ("three", "AVAILABLE"),
        ]
        s.call("ExecuteChangeSet", ChangeSetName=update["Id"])
        stack = await s.settle("web")
        assert stack["StackStatus"] == "UPDATE_COMPLETE"
        assert stack["Parameters"] == [{"ParameterKey": "Size", "ParameterValue": "2"}]
        assert s.world.live[physical(s, "web", "P")]["Value"] == "2"

    run(scenario)


def test_exports_in_use() -> None:
    async def scenario(s: Stacks) -> None:
        outputs = {"Arn": {"Value": {"Fn::GetAtt": ["A", "Arn"]}, "Export": {"Name": "shared-arn"}}}
        s.call("CreateStack", StackName="base", TemplateBody=body({"A": THREE["A"]}, Outputs=outputs))
        await s.settle("base")
        user = {"U": {"Type": "AWS::Test::Thing", "Properties": {"Value": {"Fn::ImportValue": "shared-arn"}}}}
        s.call("CreateStack", StackName="app", TemplateBody=body(user))
        await s.settle("app")
        assert s.world.live[physical(s, "app", "U")]["Value"] == f"arn:test:{physical(s, 'base', 'A')}"
        assert s.call("ListImports", ExportName="shared-arn")["Imports"] == ["app"]
        # A second stack cannot export the same name.
        s.call("CreateStack", StackName="again", TemplateBody=body({"A": THREE["A"]}, Outputs=outputs))
        stack = await s.settle("again")
        assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
        [rollback] = [e[2] for e in s.events("again") if e[1] == "ROLLBACK_IN_PROGRESS"]
        assert rollback.startswith("Export with name shared-arn is already exported by stack base")
        s.call("DeleteStack", StackName="base")
        stack = await s.settle("base")
        assert (stack["StackStatus"], stack["StackStatusReason"]) == (
            "DELETE_FAILED",
            "Export shared-arn cannot be deleted as it is in use by app",
        )
        missing = {"U": {"Type": "AWS::Test::Thing", "Properties": {"Value": {"Fn::ImportValue": "nope"}}}}
        s.call("CreateStack", StackName="lost", TemplateBody=body(missing))
        assert (await s.settle("lost"))["StackStatus"] == "ROLLBACK_COMPLETE"
        assert ("U", "CREATE_FAILED", "No export named nope found.") in s.events("lost")
        s.call("DeleteStack", StackName="app")
        await s.settle("app")
        s.call("DeleteStack", StackName="base")
        assert (await s.settle("base"))["StackStatus"] == "DELETE_COMPLETE"
        assert s.call("ListExports")["Exports"] == []

    run(scenario)


def test_cancel_update_rolls_back() -> None:
    async def scenario(s: Stacks) -> None:
        s.call("CreateStack", StackName="web", TemplateBody=body({"A": THREE["A"]}))
        await s.settle("web")
        with pytest.raises(AwsError, match="CancelUpdateStack cannot be called from current stack status"):
            s.call("CancelUpdateStack", StackName="web")
        slow = {"A": {"Type": "AWS::Test::Thing", "Properties": {"Value": "b", "Delay": 300}}}
        s.call("UpdateStack", StackName="web", TemplateBody=body(slow))
        await s.clock.run_for(5, 1)
        s.call("CancelUpdateStack", StackName="web")
        stack = await s.settle("web")
        assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
        assert ("web", "UPDATE_ROLLBACK_IN_PROGRESS", "User Initiated") in s.events("web")
        assert ("A", "UPDATE_FAILED", "Resource update cancelled") in s.events("web")

    run(scenario)


def test_update_in_progress_at_a_restart_is_rolled_back() -> None:
    async def scenario(s: Stacks) -> None:
        s.call("CreateStack", StackName="web", TemplateBody=body(THREE))
        await s.settle("web")
        before = {x: physical(s, "web", x) for x in "ABC"}
        changed = {
            "A": {"Type": "AWS::Test::Thing", "Properties": {"Value": "a", "Delay": 5, "Name": "n"}},
            "B": THREE["B"],
            "C": {"Type": "AWS::Test::Thing", "Properties": {"Value": "c2", "Delay": 600}, "DependsOn": "A"},
        }
        s.call("UpdateStack", StackName="web", TemplateBody=body(changed))
        await s.clock.run_for(20, 1)  # A replaced, B changed, C's change still running
        await s.engine.stop()
        after, stack = await s.resumed("web")
        assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
        assert ("C", "UPDATE_FAILED", RESTARTED) in after.events("web")
        assert {x: physical(s, "web", x) for x in "ABC"} == before
        assert sorted(s.world.live) == sorted(before.values())

    run(scenario)


def test_continue_update_rollback_skipping_what_cannot_be_put_back() -> None:
    async def scenario(s: Stacks) -> None:
        # A's original properties cannot be applied again by an update: its rollback fails.
        original = {"A": {"Type": "AWS::Test::Thing", "Properties": {"Value": "a", "FailUpdate": True}}}
        s.call("CreateStack", StackName="web", TemplateBody=body(original))
        await s.settle("web")
        changed = {
            "A": {"Type": "AWS::Test::Thing", "Properties": {"Value": "b"}},
            "Bad": {"Type": "AWS::Test::Thing", "Properties": {"Fail": "no"}, "DependsOn": "A"},
        }
        s.call("UpdateStack", StackName="web", TemplateBody=body(changed))
        stack = await s.settle("web")
        assert (stack["StackStatus"], stack["StackStatusReason"]) == (
            "UPDATE_ROLLBACK_FAILED",
            "The following resource(s) failed to update: [A]. ",
        )
        with pytest.raises(AwsError, match="can not be updated"):
            s.call("UpdateStack", StackName="web", TemplateBody=body(original))
        s.call("ContinueUpdateRollback", StackName="web")
        assert (await s.settle("web"))["StackStatus"] == "UPDATE_ROLLBACK_FAILED"  # the same failure again
        s.call("ContinueUpdateRollback", StackName="web", ResourcesToSkip=["A"])
        assert (await s.settle("web"))["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
        assert [
            r["LogicalResourceId"] for r in s.call("ListStackResources", StackName="web")["StackResourceSummaries"]
        ] == ["A"]
        with pytest.raises(AwsError, match="can not continue update rollback"):
            s.call("ContinueUpdateRollback", StackName="web")

    run(scenario)


def test_resource_type_cannot_change() -> None:
    async def scenario(s: Stacks) -> None:
        s.call("CreateStack", StackName="web", TemplateBody=body({"A": THREE["A"]}))
        await s.settle("web")
        other = {"A": {"Type": "AWS::IAM::Role"}}
        with pytest.raises(AwsError, match=r"modifies resource type of the following resources: \[A\]"):
            s.call("UpdateStack", StackName="web", TemplateBody=body(other), Capabilities=["CAPABILITY_IAM"])

    run(scenario)
