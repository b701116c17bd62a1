"""Parameter values: given, previous or default; types; constraints; NoEcho; SSM parameter types."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from ecslite.model.cfn import ResolvedParameters, TemplateError, parse_template, resolve_parameters
from ecslite.model.cfn.template import Template


def template_with(parameters: str) -> Template:
    return parse_template(
        "Parameters:\n"
        + textwrap.indent(textwrap.dedent(parameters), "  ")
        + "Resources:\n  R: {Type: AWS::ECS::Cluster}\n"
    )


def given(**values: str) -> list[dict[str, Any]]:
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]


def resolved(parameters: str, items: list[dict[str, Any]], **kwargs: Any) -> ResolvedParameters:
    return resolve_parameters(template_with(parameters), items, **kwargs)


def error_of(parameters: str, items: list[dict[str, Any]], **kwargs: Any) -> str:
    with pytest.raises(TemplateError) as caught:
        resolved(parameters, items, **kwargs)
    return caught.value.message


TYPES = """
Name: {Type: String}
Port: {Type: Number, Default: 80}
Weights: {Type: List<Number>, Default: "1, 2,3"}
Names: {Type: CommaDelimitedList, Default: " a , b"}
Vpc: {Type: AWS::EC2::VPC::Id, Default: vpc-1}
Subnets: {Type: List<AWS::EC2::Subnet::Id>, Default: "subnet-1,subnet-2"}
Enabled: {Type: String, Default: true}
"""


def test_types_give_strings_and_lists_of_strings() -> None:
    result = resolved(TYPES, given(Name="web"))
    assert result.values == {
        "Name": "web",
        "Port": "80",
        "Weights": ["1", "2", "3"],
        "Names": ["a", "b"],
        "Vpc": "vpc-1",
        "Subnets": ["subnet-1", "subnet-2"],
        "Enabled": "true",
    }
    assert result.described[0] == {"ParameterKey": "Name", "ParameterValue": "web"}
    assert result.described[2] == {"ParameterKey": "Weights", "ParameterValue": "1, 2,3"}
    assert [entry["ParameterKey"] for entry in result.described] == list(result.values)


def test_given_values_override_defaults() -> None:
    assert resolved(TYPES, given(Name="x", Port="8080.5", Names="z"), previous=None).values["Port"] == "8080.5"


def test_missing_values_are_named_in_template_order() -> None:
    parameters = "B: {Type: String}\nA: {Type: String}\nC: {Type: String, Default: c}\n"
    assert error_of(parameters, []) == "Parameters: [B, A] must have values"


def test_unknown_keys_are_refused() -> None:
    assert error_of(TYPES, given(Name="x", Nope="1")) == "Parameters: [Nope] do not exist in the template"


def test_use_previous_value_takes_the_stacks_value() -> None:
    items = [{"ParameterKey": "Name", "UsePreviousValue": True}]
    assert resolved(TYPES, items, previous={"Name": "old"}).values["Name"] == "old"
    message = error_of(TYPES, items, previous={})
    assert message.startswith("Invalid input for parameter key Name.")


def test_no_echo_masks_the_described_value_only() -> None:
    result = resolved("Secret: {Type: String, NoEcho: true}\n", given(Secret="hunter2"))
    assert result.values == {"Secret": "hunter2"}
    assert result.described == [{"ParameterKey": "Secret", "ParameterValue": "****"}]


def test_ssm_parameter_types_resolve_through_the_lookup() -> None:
    store = {"/app/image": "ami-123", "/app/zones": "a,b"}
    parameters = """
    Image: {Type: "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>", Default: /app/image}
    Zones: {Type: "AWS::SSM::Parameter::Value<List<String>>", Default: /app/zones}
    Name: {Type: "AWS::SSM::Parameter::Name", Default: /app/image}
    """
    result = resolved(parameters, [], ssm=store.get)
    assert result.values == {"Image": "ami-123", "Zones": ["a", "b"], "Name": "/app/image"}
    assert result.described[0] == {"ParameterKey": "Image", "ParameterValue": "/app/image", "ResolvedValue": "ami-123"}
    assert error_of(parameters, [], ssm={}.get) == (
        "Unable to fetch parameters [/app/image,/app/zones] from parameter store for this account."
    )


@pytest.mark.parametrize(
    ("parameters", "value", "message"),
    [
        ("P: {Type: Number}", "ten", "Parameter 'P' must be a number"),
        ("P: {Type: List<Number>}", "1,x", "Parameter 'P' must be a number"),
        ("P: {Type: String, AllowedValues: [a, b]}", "c", "Parameter 'P' must be one of AllowedValues"),
        ("P: {Type: CommaDelimitedList, AllowedValues: [a, b]}", "a,c", "Parameter 'P' must be one of AllowedValues"),
        ("P: {Type: Number, AllowedValues: [1, 2]}", "3", "Parameter 'P' must be one of AllowedValues"),
        (
            "P: {Type: String, AllowedPattern: '[a-z]+'}",
            "abc1",
            "Malformed input-Parameter P must match pattern [a-z]+",
        ),
        (
            "P: {Type: String, AllowedPattern: '[a-z]+', ConstraintDescription: must be lowercase letters}",
            "ABC",
            "Malformed input-Parameter P must be lowercase letters",
        ),
        ("P: {Type: String, MinLength: 3}", "ab", "Parameter 'P' must contain at least 3 characters"),
        ("P: {Type: String, MaxLength: '2'}", "abc", "Parameter 'P' must contain at most 2 characters"),
        ("P: {Type: Number, MinValue: 1}", "0.5", "Parameter 'P' must be a number not less than 1"),
        ("P: {Type: Number, MaxValue: 1.5}", "2", "Parameter 'P' must be a number not greater than 1.5"),
        (
            "P: {Type: Number, MaxValue: 10, ConstraintDescription: at most ten}",
            "11",
            "Parameter 'P' failed to satisfy constraint: at most ten",
        ),
        (
            "P: {Type: String, AllowedValues: [a], ConstraintDescription: only a}",
            "b",
            "Parameter 'P' failed to satisfy constraint: only a",
        ),
    ],
)
def test_constraints(parameters: str, value: str, message: str) -> None:
    assert error_of(parameters + "\n", given(P=value)) == message


@pytest.mark.parametrize(
    ("parameters", "value"),
    [
        ("P: {Type: Number, MinValue: 1, MaxValue: 10}", "10"),
        ("P: {Type: Number}", "-1.5e3"),
        ("P: {Type: String, AllowedPattern: '[a-z]+', MinLength: 1, MaxLength: 3}", "abc"),
        ("P: {Type: String, AllowedValues: [true, 1]}", "true"),
        ("P: {Type: CommaDelimitedList, AllowedValues: [a, b]}", "a, b"),
    ],
)
def test_values_within_constraints_are_accepted(parameters: str, value: str) -> None:
    assert resolved(parameters + "\n", given(P=value)).values["P"]


def test_defaults_are_checked_too() -> None:
    assert error_of("P: {Type: Number, Default: abc}\n", []) == "Parameter 'P' must be a number"
