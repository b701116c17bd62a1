"""Template checks the CDK's templates lean on: ``Rules`` assertions (the CDK's CheckBootstrapVersion),
resource types of conditional resources (the bootstrap template's KMS key and managed policy, made only
on request), and a change set for a new stack whose Conditions read its parameters."""

from __future__ import annotations

import pytest

from ecslite.model import cfn
from ecslite.protocol.errors import AwsError
from tests.unit.test_cfn_engine import THREE, Stacks, body, run

# The rule the CDK writes into every synthesized stack (BootstrapVersion is an SSM parameter there).
BOOTSTRAP_RULE = {
    "CheckBootstrapVersion": {
        "Assertions": [
            {
                "Assert": {"Fn::Not": [{"Fn::Contains": [["1", "2", "3", "4", "5"], {"Ref": "BootstrapVersion"}]}]},
                "AssertDescription": "CDK bootstrap stack version 6 required. Please run 'cdk bootstrap'.",
            }
        ]
    }
}


def _template(rules: dict[str, object], **parameters: object) -> cfn.Template:
    params = {name: {"Type": "String"} for name in parameters}
    params.update({"Sizes": {"Type": "CommaDelimitedList"}})
    return cfn.parse_template(body({"A": {"Type": "AWS::Test::Thing"}}, Parameters=params, Rules=rules))


def test_rules_assert_on_parameter_values() -> None:
    template = _template(BOOTSTRAP_RULE, BootstrapVersion="")
    cfn.check_rules(template, {"BootstrapVersion": "33"}, {})
    with pytest.raises(cfn.TemplateError, match=r"^CDK bootstrap stack version 6 required\. Please run"):
        cfn.check_rules(template, {"BootstrapVersion": "5"}, {})


def test_rule_conditions_and_list_functions() -> None:
    rules = {
        "SmallInProd": {
            "RuleCondition": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
            "Assertions": [
                {"Assert": {"Fn::EachMemberIn": [{"Ref": "Sizes"}, ["s", "m"]]}, "AssertDescription": "sizes"},
                {
                    "Assert": {
                        "Fn::Or": [{"Fn::EachMemberEquals": [{"Ref": "Sizes"}, "s"]}, {"Fn::Equals": ["a", "a"]}]
                    },
                    "AssertDescription": "never",
                },
            ],
        },
        "AllStrings": {
            "Assertions": [
                {"Assert": {"Fn::Contains": [{"Fn::RefAll": "String"}, "prod"]}, "AssertDescription": "env missing"}
            ]
        },
    }
    template = _template(rules, Env="")
    cfn.check_rules(template, {"Env": "prod", "Sizes": ["s", "m"]}, {})
    with pytest.raises(cfn.TemplateError, match=r"^sizes$"):
        cfn.check_rules(template, {"Env": "prod", "Sizes": ["s", "xl"]}, {})
    # The condition does not hold outside prod: the first rule's assertions are not checked.
    with pytest.raises(cfn.TemplateError, match=r"^env missing$"):
        cfn.check_rules(template, {"Env": "dev", "Sizes": ["xl"]}, {})
    with pytest.raises(cfn.TemplateError, match="Fn::ValueOf"):
        cfn.check_rules(
            _template({"R": {"Assertions": [{"Assert": {"Fn::ValueOf": ["Env", "Tags"]}}]}}, Env=""), {"Env": "x"}, {}
        )


def test_operations_refuse_a_failed_assertion() -> None:
    async def scenario(s: Stacks) -> None:
        template = body(
            {"A": THREE["A"]},
            Parameters={"BootstrapVersion": {"Type": "String", "Default": "33"}},
            Rules=BOOTSTRAP_RULE,
        )
        with pytest.raises(AwsError, match="CDK bootstrap stack version 6 required") as refused:
            s.call(
                "CreateStack",
                StackName="app",
                TemplateBody=template,
                Parameters=[{"ParameterKey": "BootstrapVersion", "ParameterValue": "4"}],
            )
        assert refused.value.code == "ValidationError"
        s.call("CreateStack", StackName="app", TemplateBody=template)
        assert (await s.settle("app"))["StackStatus"] == "CREATE_COMPLETE"

    run(scenario)


def test_types_without_a_handler_are_refused_only_where_their_condition_holds() -> None:
    async def scenario(s: Stacks) -> None:
        resources = {
            "A": THREE["A"],
            "Key": {"Type": "AWS::KMS::Key", "Condition": "CreateKey", "Properties": {"KeyPolicy": {}}},
        }
        template = body(
            resources,
            Parameters={"KeyId": {"Type": "String", "Default": "AWS_MANAGED_KEY"}},
            Conditions={"CreateKey": {"Fn::Equals": [{"Ref": "KeyId"}, ""]}},
        )
        s.call("CreateStack", StackName="kms", TemplateBody=template)
        assert (await s.settle("kms"))["StackStatus"] == "CREATE_COMPLETE"
        listed = s.call("ListStackResources", StackName="kms")["StackResourceSummaries"]
        assert [r["LogicalResourceId"] for r in listed] == ["A"]
        with pytest.raises(AwsError, match=r"Unrecognized resource types: \[AWS::KMS::Key\]"):
            s.call(
                "UpdateStack",
                StackName="kms",
                TemplateBody=template,
                Parameters=[{"ParameterKey": "KeyId", "ParameterValue": ""}],
            )
        # A resource without a Condition is refused whatever the parameters.
        with pytest.raises(AwsError, match=r"Unrecognized resource types: \[AWS::KMS::Alias\]"):
            s.call(
                "CreateStack",
                StackName="alias",
                TemplateBody=body({"A": THREE["A"], "Alias": {"Type": "AWS::KMS::Alias"}}),
            )

    run(scenario)


def test_a_change_set_for_a_new_stack_evaluates_conditions_on_its_parameters() -> None:
    async def scenario(s: Stacks) -> None:
        # The CDK's bootstrap: conditions that read list parameters, through a CREATE change set.
        template = body(
            {"A": THREE["A"], "B": {**THREE["C"], "Condition": "Trusted"}},
            Parameters={"TrustedAccounts": {"Type": "CommaDelimitedList", "Default": ""}},
            Conditions={"Trusted": {"Fn::Not": [{"Fn::Equals": ["", {"Fn::Join": ["", {"Ref": "TrustedAccounts"}]}]}]}},
        )
        s.call("CreateChangeSet", StackName="boot", ChangeSetName="cs", ChangeSetType="CREATE", TemplateBody=template)
        described = s.call("DescribeChangeSet", StackName="boot", ChangeSetName="cs")
        assert described["Status"] == "CREATE_COMPLETE"
        assert [c["ResourceChange"]["LogicalResourceId"] for c in described["Changes"]] == ["A"]
        s.call("ExecuteChangeSet", StackName="boot", ChangeSetName="cs")
        assert (await s.settle("boot"))["StackStatus"] == "CREATE_COMPLETE"

    run(scenario)
