"""A stack's parameter values: given, previous or default, checked against the template's constraints.

What ``Ref`` gives for a parameter is a string, or a list of strings for the list types
(``List<...>``, ``CommaDelimitedList``); a ``Number`` is checked as a number but stays the string it
was given as, as in CloudFormation. ``AWS::SSM::Parameter::Value<...>`` parameters hold an SSM
parameter's name and resolve to its value, looked up through the ``ssm`` callback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ecslite.model.cfn.errors import TemplateError
from ecslite.model.cfn.intrinsics import text

if TYPE_CHECKING:
    from ecslite.model.cfn.template import Template

AWS_TYPES = (
    "AWS::EC2::AvailabilityZone::Name",
    "AWS::EC2::Image::Id",
    "AWS::EC2::Instance::Id",
    "AWS::EC2::KeyPair::KeyName",
    "AWS::EC2::SecurityGroup::GroupName",
    "AWS::EC2::SecurityGroup::Id",
    "AWS::EC2::Subnet::Id",
    "AWS::EC2::Volume::Id",
    "AWS::EC2::VPC::Id",
    "AWS::Route53::HostedZone::Id",
)
_LISTS = ("CommaDelimitedList", "List<Number>", *(f"List<{name}>" for name in AWS_TYPES))
_SSM_INNER = ("String", *_LISTS, "List<String>", *AWS_TYPES)
TYPES = (
    "String",
    "Number",
    *_LISTS,
    *AWS_TYPES,
    "AWS::SSM::Parameter::Name",
    *(f"AWS::SSM::Parameter::Value<{inner}>" for inner in _SSM_INNER),
)
_SSM_PREFIX = "AWS::SSM::Parameter::Value<"
_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")
MASK = "****"


def is_parameter_type(name: str) -> bool:
    return name in TYPES


def is_list_type(name: str) -> bool:
    inner = name[len(_SSM_PREFIX) : -1] if name.startswith(_SSM_PREFIX) else name
    return inner == "CommaDelimitedList" or inner.startswith("List<")


def is_ssm_type(name: str) -> bool:
    return name.startswith(_SSM_PREFIX)


@dataclass(frozen=True)
class ResolvedParameters:
    values: dict[str, str | list[str]]  # what Ref gives: lists for List<...>/CommaDelimitedList
    # DescribeStacks' Parameters: ParameterKey, ParameterValue ("****" for NoEcho), ResolvedValue for SSM types.
    described: list[dict[str, str]]


def resolve_parameters(
    template: Template,
    given: list[dict[str, Any]],
    previous: Mapping[str, str] | None = None,
    ssm: Callable[[str], str | None] = lambda name: None,
) -> ResolvedParameters:
    """The stack's parameters from the API's ``Parameters`` (``ParameterKey``, ``ParameterValue``,
    ``UsePreviousValue``), the previous values of an update, and the template's defaults."""
    declared = template.parameters
    by_key = {str(item.get("ParameterKey")): item for item in given}
    unknown = [key for key in by_key if key not in declared]
    if unknown:
        raise TemplateError(f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    raw: dict[str, str] = {}
    missing = []
    for name, definition in declared.items():
        value = _raw_value(name, definition, by_key.get(name), previous)
        if value is None:
            missing.append(name)
        else:
            raw[name] = value
    if missing:
        raise TemplateError(f"Parameters: [{', '.join(missing)}] must have values")
    values: dict[str, str | list[str]] = {}
    described = []
    unfetched = []
    for name, definition in declared.items():
        kind = str(definition.get("Type"))
        entry = {"ParameterKey": name, "ParameterValue": MASK if _no_echo(definition) else raw[name]}
        value = raw[name]
        if is_ssm_type(kind):
            fetched = ssm(value)
            if fetched is None:
                unfetched.append(value)
                continue
            entry["ResolvedValue"] = fetched
            value = fetched
        values[name] = _checked(name, definition, kind, value)
        described.append(entry)
    if unfetched:
        raise TemplateError(
            f"Unable to fetch parameters [{','.join(unfetched)}] from parameter store for this account."
        )
    return ResolvedParameters(values=values, described=described)


def _raw_value(
    name: str, definition: Mapping[str, Any], item: Mapping[str, Any] | None, previous: Mapping[str, str] | None
) -> str | None:
    if item is not None and item.get("UsePreviousValue") in (True, "true"):
        if previous is None or name not in previous:
            # unverified: CloudFormation's text for UsePreviousValue on a parameter the stack did not have.
            raise TemplateError(
                f"Invalid input for parameter key {name}. Cannot specify usePreviousValue as true for a parameter key"
                " not in the previous template"
            )
        return previous[name]
    if item is not None and item.get("ParameterValue") is not None:
        return str(item["ParameterValue"])
    default = definition.get("Default")
    if isinstance(default, list):
        parts = [text(part) for part in default]
        return ",".join(part for part in parts if part is not None)
    return text(default)


def _no_echo(definition: Mapping[str, Any]) -> bool:
    return text(definition.get("NoEcho")) == "true"


def _checked(name: str, definition: Mapping[str, Any], kind: str, value: str) -> str | list[str]:
    inner = kind[len(_SSM_PREFIX) : -1] if is_ssm_type(kind) else kind
    if not is_list_type(kind):
        _check_item(name, definition, inner, value, whole=value)
        return value
    # Each member of a CommaDelimitedList is space trimmed (CloudFormation's parameter docs).
    items = [item.strip() for item in value.split(",")]
    element = "Number" if inner == "List<Number>" else "String"
    for item in items:
        _check_item(name, definition, element, item, whole=value)
    return items


def _check_item(name: str, definition: Mapping[str, Any], kind: str, item: str, whole: str) -> None:
    described = definition.get("ConstraintDescription")
    description = text(described) if described is not None else None

    def fail(message: str) -> TemplateError:
        # unverified: with a ConstraintDescription CloudFormation shows it in place of its own words.
        if description is not None:
            return TemplateError(f"Parameter '{name}' failed to satisfy constraint: {description}")
        return TemplateError(message)

    if kind == "Number" and not _NUMBER.match(item):
        raise TemplateError(f"Parameter '{name}' must be a number")
    allowed = definition.get("AllowedValues")
    if isinstance(allowed, list) and item not in [text(value) for value in allowed]:
        raise fail(f"Parameter '{name}' must be one of AllowedValues")
    pattern = definition.get("AllowedPattern")
    if isinstance(pattern, str):
        try:
            matches = re.fullmatch(pattern, item) is not None
        except re.error:
            raise TemplateError(f"Template format error: Parameter '{name}' has an invalid AllowedPattern") from None
        if not matches:
            # CloudFormation's parameter docs give these two forms, with and without ConstraintDescription.
            tail = description if description is not None else f"must match pattern {pattern}"
            raise TemplateError(f"Malformed input-Parameter {name} {tail}")
    _check_bounds(name, definition, kind, item, whole, fail)


def _check_bounds(
    name: str, definition: Mapping[str, Any], kind: str, item: str, whole: str, fail: Callable[[str], TemplateError]
) -> None:
    length = len(whole)
    minimum, maximum = _number(definition.get("MinLength")), _number(definition.get("MaxLength"))
    if minimum is not None and length < minimum:
        raise fail(f"Parameter '{name}' must contain at least {_shown(minimum)} characters")
    if maximum is not None and length > maximum:
        raise fail(f"Parameter '{name}' must contain at most {_shown(maximum)} characters")
    if kind != "Number":
        return
    number = float(item)
    low, high = _number(definition.get("MinValue")), _number(definition.get("MaxValue"))
    if low is not None and number < low:
        raise fail(f"Parameter '{name}' must be a number not less than {_shown(low)}")
    if high is not None and number > high:
        raise fail(f"Parameter '{name}' must be a number not greater than {_shown(high)}")


def _number(value: Any) -> float | None:
    shown = text(value)
    if shown is None or isinstance(value, bool) or not _NUMBER.match(shown):
        return None
    return float(shown)


def _shown(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)
