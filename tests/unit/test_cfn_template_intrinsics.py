"""Intrinsic functions and conditions, evaluated against a context of made-up resources."""

from __future__ import annotations

import base64
import json
import textwrap
from typing import Any

import pytest

from ecslite.model.cfn import Context, TemplateError, evaluate_conditions, parse_template, resolve

RESOURCES = {"Bucket": "bucket-1", "Role": "role-1"}
ATTRIBUTES = {("Role", "Arn"): "arn:aws:iam::123456789012:role/role-1", ("Bucket", "Endpoint.Address"): "b.local"}
EXPORTS = {"shared-vpc": "vpc-123"}
PSEUDO = {
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "demo",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NotificationARNs": [],
}


def _ref(name: str) -> Any:
    if name not in RESOURCES:
        raise TemplateError(f"no resource {name}")
    return RESOURCES[name]


def _get_att(name: str, attribute: str) -> Any:
    if (name, attribute) not in ATTRIBUTES:
        raise TemplateError(f"no attribute {name}.{attribute}")
    return ATTRIBUTES[(name, attribute)]


def _import(name: str) -> str:
    if name not in EXPORTS:
        raise TemplateError(f"No export named {name} found.")
    return EXPORTS[name]


def context(**changes: Any) -> Context:
    values: dict[str, Any] = {
        "parameters": {"Env": "prod", "Subnets": ["subnet-a", "subnet-b"], "Count": "3"},
        "pseudo": PSEUDO,
        "conditions": {"IsProd": True, "IsDev": False},
        "mappings": {"Sizes": {"prod": {"Cpu": "1024", "Zones": ["a", "b"]}, "dev": {"Cpu": "256"}}},
        "ref": _ref,
        "get_att": _get_att,
        "import_value": _import,
        "azs": lambda region: [f"{region or 'eu-west-1'}{zone}" for zone in "abc"],
    }
    values.update(changes)
    return Context(**values)


def error_of(value: Any, ctx: Context | None = None) -> str:
    with pytest.raises(TemplateError) as caught:
        resolve(value, ctx or context())
    return caught.value.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"Ref": "Env"}, "prod"),
        ({"Ref": "Subnets"}, ["subnet-a", "subnet-b"]),
        ({"Ref": "AWS::Region"}, "eu-west-1"),
        ({"Ref": "Bucket"}, "bucket-1"),
        ({"Fn::GetAtt": ["Role", "Arn"]}, "arn:aws:iam::123456789012:role/role-1"),
        ({"Fn::GetAtt": "Bucket.Endpoint.Address"}, "b.local"),
        ({"Fn::GetAtt": ["Role", {"Fn::Join": ["", ["A", "rn"]]}]}, "arn:aws:iam::123456789012:role/role-1"),
        ({"Fn::Join": [",", ["a", {"Ref": "Env"}, 3, True]]}, "a,prod,3,true"),
        ({"Fn::Join": ["-", {"Ref": "Subnets"}]}, "subnet-a-subnet-b"),
        ({"Fn::Join": ["", []]}, ""),
        ({"Fn::Select": [1, {"Ref": "Subnets"}]}, "subnet-b"),
        ({"Fn::Select": ["0", ["x", "y"]]}, "x"),
        ({"Fn::Split": [",", "a,,b"]}, ["a", "", "b"]),
        ({"Fn::Select": [1, {"Fn::Split": ["/", {"Fn::GetAtt": ["Role", "Arn"]}]}]}, "role-1"),
        ({"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Cpu"]}, "1024"),
        ({"Fn::FindInMap": ["Sizes", "prod", "Zones"]}, ["a", "b"]),
        ({"Fn::FindInMap": ["Sizes", "test", "Cpu", {"DefaultValue": "128"}]}, "128"),
        ({"Fn::GetAZs": ""}, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
        ({"Fn::GetAZs": {"Ref": "AWS::Region"}}, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
        ({"Fn::GetAZs": "us-east-2"}, ["us-east-2a", "us-east-2b", "us-east-2c"]),
        ({"Fn::ImportValue": {"Fn::Join": ["-", ["shared", "vpc"]]}}, "vpc-123"),
        ({"Fn::Base64": {"Fn::Sub": "echo ${Env}"}}, base64.b64encode(b"echo prod").decode()),
        ({"Fn::Cidr": ["10.0.0.0/16", 3, 8]}, ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]),
        ({"Fn::Cidr": ["10.0.0.0/24", "2", "6"]}, ["10.0.0.0/26", "10.0.0.64/26"]),
        ({"Fn::Cidr": ["2001:db8::/56", 2, 64]}, ["2001:db8::/64", "2001:db8:0:1::/64"]),
        ({"Fn::Length": {"Ref": "Subnets"}}, 2),
        ({"Fn::Length": [1, {"Ref": "AWS::NoValue"}, 3]}, 2),
        ({"Fn::ToJsonString": {"a": {"Ref": "Env"}, "b": [1]}}, '{"a":"prod","b":[1]}'),
        ({"Fn::Equals": [{"Ref": "Count"}, 3]}, True),
        ({"Fn::If": ["IsProd", "big", "small"]}, "big"),
        ({"Fn::If": ["IsDev", "big", {"Ref": "Env"}]}, "prod"),
        ({"Fn::If": ["IsProd", {"Fn::If": ["IsDev", 1, 2]}, 3]}, 2),
        ("plain", "plain"),
        (42, 42),
    ],
)
def test_intrinsic_functions(value: Any, expected: Any) -> None:
    assert resolve(value, context()) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${Env}-${AWS::Region}-${AWS::AccountId}", "prod-eu-west-1-123456789012"),
        ("${Bucket}/${Role.Arn}", "bucket-1/arn:aws:iam::123456789012:role/role-1"),
        ("${Bucket.Endpoint.Address}:80", "b.local:80"),
        ("${!Literal} and ${ Env }", "${Literal} and prod"),
        ("no variables, $ and { alone", "no variables, $ and { alone"),
        ("${Count}", "3"),
        ("unclosed ${Env", "unclosed ${Env"),
    ],
)
def test_sub_string_form(template: str, expected: str) -> None:
    assert resolve({"Fn::Sub": template}, context()) == expected


def test_sub_list_form_takes_its_variables_first_and_resolves_them() -> None:
    value = {
        "Fn::Sub": [
            "${Env}:${Name}:${Nested}:${AWS::Partition}",
            {"Env": "overridden", "Name": {"Ref": "Bucket"}, "Nested": {"Fn::Sub": ["${X}!", {"X": {"Ref": "Env"}}]}},
        ]
    }
    assert resolve(value, context()) == "overridden:bucket-1:prod!:aws"


def test_no_value_removes_keys_and_list_items() -> None:
    value = {
        "Keep": "yes",
        "Drop": {"Ref": "AWS::NoValue"},
        "DropIf": {"Fn::If": ["IsDev", "x", {"Ref": "AWS::NoValue"}]},
        "List": ["a", {"Fn::If": ["IsProd", {"Ref": "AWS::NoValue"}, "b"]}, {"Ref": "AWS::NoValue"}, "c"],
        "Nested": {"Inner": {"Fn::If": ["IsProd", {"Ref": "AWS::NoValue"}, 1]}},
    }
    assert resolve(value, context()) == {"Keep": "yes", "List": ["a", "c"], "Nested": {}}
    assert resolve({"Ref": "AWS::NoValue"}, context()) is None


def test_untaken_if_branch_is_not_evaluated() -> None:
    # The untaken branch refers to what does not exist: CloudFormation never looks at it.
    value = {"Fn::If": ["IsProd", "ok", {"Fn::GetAtt": ["Gone", "Arn"]}]}
    assert resolve(value, context()) == "ok"


def test_resource_and_import_callbacks_raise_through() -> None:
    assert error_of({"Fn::ImportValue": "nope"}) == "No export named nope found."
    assert error_of({"Ref": "Gone"}) == "no resource Gone"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"Ref": ["Env"]}, "Template format error: Every Ref object must have a single String value."),
        (
            {"Ref": "AWS::Nope"},
            "Template format error: Unresolved resource dependencies [AWS::Nope] in the Resources block"
            " of the template",
        ),
        ({"Fn::GetAtt": ["Role"]}, "Template error: every Fn::GetAtt object requires two non-empty parameters"),
        ({"Fn::GetAtt": "Role"}, "Template error: every Fn::GetAtt object requires two non-empty parameters"),
        (
            {"Fn::Join": [",", "a"]},
            "Template error: every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of"
            " strings to be joined or a function that returns a list of strings (such as Fn::GetAZs) to be joined.",
        ),
        (
            {"Fn::Join": [",", [["nested"]]]},
            "Template error: every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of"
            " strings to be joined or a function that returns a list of strings (such as Fn::GetAZs) to be joined.",
        ),
        ({"Fn::Select": [5, ["a"]]}, "Template error: Fn::Select cannot select nonexistent value at index 5"),
        ({"Fn::Select": [-1, ["a"]]}, "Template error: Fn::Select cannot select nonexistent value at index -1"),
        (
            {"Fn::Select": ["x", ["a"]]},
            "Template error: every Fn::Select object requires two parameters, (1) an index into the list and (2) a"
            " list or a function that returns a list",
        ),
        (
            {"Fn::Split": ["", "abc"]},
            "Template error: every Fn::Split object requires two parameters, (1) a string delimiter and (2) a string"
            " to be split or a function that returns a string to be split.",
        ),
        (
            {"Fn::FindInMap": ["Nope", "a", "b"]},
            "Template error: Mapping named 'Nope' is not present in the 'Mappings' section of template.",
        ),
        ({"Fn::FindInMap": ["Sizes", "dev", "Zones"]}, "Template error: Unable to get mapping for Sizes::dev::Zones"),
        ({"Fn::FindInMap": ["Sizes", "qa", "Cpu"]}, "Template error: Unable to get mapping for Sizes::qa::Cpu"),
        (
            {"Fn::FindInMap": ["Sizes", "prod"]},
            "Template error: every Fn::FindInMap object requires three parameters, the map name, map key and the"
            " attribute for return value",
        ),
        ({"Fn::If": ["Nope", 1, 2]}, "Template error: unresolved condition dependency Nope in Fn::If"),
        ({"Fn::If": ["IsProd", 1]}, "Template error: Fn::If requires a list argument with three elements"),
        (
            {"Fn::Sub": "${a b}"},
            "Template error: variable names in Fn::Sub syntax must contain only alphanumeric characters,"
            " underscores, periods, and colons",
        ),
        (
            {"Fn::Sub": "${Subnets}"},
            "Template error: variable Subnets in Fn::Sub expression does not resolve to a string",
        ),
        ({"Fn::Base64": ["a"]}, "Template error: every Fn::Base64 object requires a single string parameter"),
        ({"Fn::Cidr": ["10.0.0.0/24", 300, 4]}, None),
        ({"Fn::Cidr": ["10.0.0.0/28", 1, 8]}, "Template error: Fn::Cidr: 8 host bits do not fit within 10.0.0.0/28"),
        (
            {"Fn::Cidr": ["10.0.0.0/24", 5, 6]},
            "Template error: Fn::Cidr: 10.0.0.0/24 holds fewer than 5 CIDRs of 6 host bits",
        ),
        ({"Fn::Cidr": ["nonsense", 1, 8]}, "Template error: Fn::Cidr: nonsense is not a valid CIDR block"),
        (
            {"Fn::Length": "abc"},
            "Template error: Fn::Length object requires a list or intrinsic function that returns a list",
        ),
        ({"Fn::Equals": ["a"]}, "Template error: every Fn::Equals object requires a list of 2 string parameters."),
        (
            {"Fn::And": [True]},
            "Template error: every Fn::And object requires a list of at least 2 and at most 10 boolean parameters.",
        ),
        ({"Fn::Not": [True, False]}, "Template error: every Fn::Not object requires a list of 1 boolean parameter."),
        (
            {"Fn::Transform": {"Name": "M"}},
            "Template error: Fn::Transform needs a macro, and ecslite does not run macros",
        ),
    ],
)
def test_intrinsic_errors(value: Any, message: str | None) -> None:
    found = error_of(value)
    if message is None:
        assert found.startswith("Template error: every Fn::Cidr object requires three parameters")
    else:
        assert found == message


def test_unknown_function_names_the_supported_ones() -> None:
    assert error_of({"Fn::Nope": 1}).startswith(
        "Template error: Encountered unsupported function: Fn::Nope Supported functions are: [Condition, Fn::And,"
    )


def test_results_are_copies_of_mapping_values() -> None:
    ctx = context()
    zones = resolve({"Fn::FindInMap": ["Sizes", "prod", "Zones"]}, ctx)
    zones.append("changed")
    assert ctx.mappings["Sizes"]["prod"]["Zones"] == ["a", "b"]


def conditions_of(body: str, parameters: dict[str, Any], pseudo: dict[str, Any] | None = None) -> dict[str, bool]:
    template = parse_template(textwrap.dedent(body))
    return evaluate_conditions(template, parameters, pseudo or PSEUDO)


CONDITIONS = """
Parameters:
  Env: {Type: String}
  Size: {Type: Number}
Mappings:
  Tier: {prod: {Big: "yes"}, dev: {Big: "no"}}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  InIreland: !Equals [eu-west-1, !Ref "AWS::Region"]
  BigSize: !Equals [!Ref Size, 10]
  BigTier: !Equals [!FindInMap [Tier, !Ref Env, Big], "yes"]
  ProdAndBig: !And [!Condition IsProd, !Condition BigSize]
  EitherWay: !Or [!Condition IsProd, !Condition InIreland, !Equals [a, b]]
  NotProd: !Not [!Condition IsProd]
  Alias: !Condition NotProd
  Joined: !Equals [!Join ["-", [!Ref Env, x]], prod-x]
Resources:
  A: {Type: AWS::ECS::Cluster}
"""


def test_conditions_from_parameters_pseudo_parameters_and_mappings() -> None:
    assert conditions_of(CONDITIONS, {"Env": "prod", "Size": "10"}) == {
        "IsProd": True,
        "InIreland": True,
        "BigSize": True,
        "BigTier": True,
        "ProdAndBig": True,
        "EitherWay": True,
        "NotProd": False,
        "Alias": False,
        "Joined": True,
    }
    dev = conditions_of(CONDITIONS, {"Env": "dev", "Size": "3"}, {"AWS::Region": "us-east-1"})
    assert dev == {
        "IsProd": False,
        "InIreland": False,
        "BigSize": False,
        "BigTier": False,
        "ProdAndBig": False,
        "EitherWay": False,
        "NotProd": True,
        "Alias": True,
        "Joined": False,
    }


def test_condition_cycle_is_refused() -> None:
    body = """
    Conditions:
      A: !Not [!Condition B]
      B: !And [!Condition A, !Equals [x, x]]
    Resources:
      R: {Type: AWS::ECS::Cluster}
    """
    with pytest.raises(TemplateError) as caught:
        conditions_of(body, {})
    assert caught.value.message == "Template error: Circular dependency between conditions: [A, B]"


def test_condition_that_is_not_boolean_is_refused() -> None:
    body = """
    Parameters:
      Env: {Type: String}
    Conditions:
      A: !Ref Env
    Resources:
      R: {Type: AWS::ECS::Cluster}
    """
    with pytest.raises(TemplateError) as caught:
        conditions_of(body, {"Env": "prod"})
    assert caught.value.message == (
        "Template error: Conditions can only be boolean operations on parameters and other conditions"
    )


def test_to_json_string_keeps_unicode() -> None:
    assert json.loads(resolve({"Fn::ToJsonString": ["é"]}, context())) == ["é"]
