"""A CloudFormation template as CloudFormation reads it: JSON or YAML, short-form tags expanded.

:func:`parse_template` turns a body into a :class:`Template` whose ``doc`` holds only JSON values,
with every YAML short form (``!Ref X``, ``!GetAtt A.B``, ``!Sub``...) written out in its long form,
and checks the template's structure with CloudFormation's own error texts (those marked "unverified"
are written in the same style where the real text is not known). Nothing here reads a file or calls
anything: what a reference points at is settled later, by :mod:`ecslite.model.cfn.intrinsics`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from ecslite.model.cfn.errors import TemplateError

FORMAT_VERSION = "2010-09-09"
SECTIONS = (
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Rules",
    "Mappings",
    "Conditions",
    "Transform",
    "Resources",
    "Outputs",
    "Hooks",
)
RESOURCE_ATTRIBUTES = (
    "Type",
    "Properties",
    "DependsOn",
    "Condition",
    "Metadata",
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "CreationPolicy",
    "UpdatePolicy",
    "Version",
)
OUTPUT_ATTRIBUTES = ("Value", "Description", "Export", "Condition")
POLICIES = ("Delete", "Retain", "RetainExceptOnCreate", "Snapshot")

# Short-form tag -> the long form's key. !GetAtt and !Condition are built by hand below.
SHORT_FORMS = {
    "!Ref": "Ref",
    "!Sub": "Fn::Sub",
    "!Join": "Fn::Join",
    "!Select": "Fn::Select",
    "!Split": "Fn::Split",
    "!If": "Fn::If",
    "!Equals": "Fn::Equals",
    "!Not": "Fn::Not",
    "!And": "Fn::And",
    "!Or": "Fn::Or",
    "!FindInMap": "Fn::FindInMap",
    "!GetAZs": "Fn::GetAZs",
    "!ImportValue": "Fn::ImportValue",
    "!Base64": "Fn::Base64",
    "!Cidr": "Fn::Cidr",
    "!Length": "Fn::Length",
    "!ToJsonString": "Fn::ToJsonString",
    "!Transform": "Fn::Transform",
}

_RESOURCE_TYPE = re.compile(r"^(AWS|Alexa)::[A-Za-z0-9]+::[A-Za-z0-9]+(::[A-Za-z0-9]+)*$|^Custom::[A-Za-z0-9_@-]+$")
_LOGICAL_ID = re.compile(r"^[A-Za-z0-9]+$")


class CfnLoader(yaml.SafeLoader):
    """YAML 1.1 as CloudFormation reads it: the short-form tags, and dates, times and sexagesimal
    numbers kept as the strings they were written as (``2010-09-09`` stays ``"2010-09-09"``)."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_yaml_int(self, node: yaml.ScalarNode) -> Any:
        value = self.construct_scalar(node)
        if isinstance(value, str) and ":" in value:
            return value  # 12:30:00 is a time to a template's author, not 45000
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: yaml.ScalarNode) -> Any:
        value = self.construct_scalar(node)
        if isinstance(value, str) and ":" in value:
            return value
        return super().construct_yaml_float(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Keys are names to CloudFormation: `64:` and `true:` are the strings "64" and "true".
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None, None, "found a mapping key that is not a string", key_node.start_mark
                )
        mapping = super().construct_mapping(node, deep=deep)
        return {_key_text(key): value for key, value in mapping.items()}


def _key_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _tag_value(loader: CfnLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    assert isinstance(node, yaml.MappingNode)
    return loader.construct_mapping(node, deep=True)


def _short_form(key: str) -> Any:
    def construct(loader: CfnLoader, node: yaml.Node) -> dict[str, Any]:
        return {key: _tag_value(loader, node)}

    return construct


def _get_att(loader: CfnLoader, node: yaml.Node) -> dict[str, Any]:
    value = _tag_value(loader, node)
    if isinstance(value, str):
        # !GetAtt Db.Endpoint.Address names resource Db's attribute Endpoint.Address.
        value = value.split(".", 1)
    return {"Fn::GetAtt": value}


CfnLoader.add_constructor("tag:yaml.org,2002:int", CfnLoader.construct_yaml_int)
CfnLoader.add_constructor("tag:yaml.org,2002:float", CfnLoader.construct_yaml_float)
for _tag, _key in SHORT_FORMS.items():
    CfnLoader.add_constructor(_tag, _short_form(_key))
CfnLoader.add_constructor("!GetAtt", _get_att)
CfnLoader.add_constructor("!Condition", _short_form("Condition"))


@dataclass(frozen=True)
class Template:
    """A parsed template: ``body`` as given (GetTemplate returns it), ``doc`` in long form."""

    body: str
    doc: dict[str, Any]

    @property
    def description(self) -> str | None:
        value = self.doc.get("Description")
        return value if isinstance(value, str) else None

    @property
    def metadata(self) -> dict[str, Any]:
        return _section(self.doc, "Metadata")

    @property
    def parameters(self) -> dict[str, Any]:
        return _section(self.doc, "Parameters")

    @property
    def mappings(self) -> dict[str, Any]:
        return _section(self.doc, "Mappings")

    @property
    def conditions(self) -> dict[str, Any]:
        return _section(self.doc, "Conditions")

    @property
    def resources(self) -> dict[str, Any]:
        return _section(self.doc, "Resources")

    @property
    def outputs(self) -> dict[str, Any]:
        return _section(self.doc, "Outputs")

    @property
    def transform(self) -> str | list[str] | None:
        value = self.doc.get("Transform")
        return value if isinstance(value, str | list) else None

    @property
    def transforms(self) -> list[str]:
        """The Transform section as a list of macro names (empty without one)."""
        value = self.doc.get("Transform")
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [item for item in value if isinstance(item, str)]
        return []

    def resource_type(self, logical_id: str) -> str:
        return str(self.resources[logical_id]["Type"])


def _section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name)
    return value if isinstance(value, dict) else {}


def load_body(body: str) -> Any:
    """The body's document, JSON when it looks like JSON, YAML otherwise."""
    if body.lstrip().startswith("{"):
        try:
            return json.loads(body, parse_constant=_no_constant)
        except (json.JSONDecodeError, ValueError, RecursionError) as error:
            # A YAML flow mapping also starts with "{": take it if YAML reads it, else report the JSON error.
            try:
                return yaml.load(body, Loader=CfnLoader)  # CfnLoader is a SafeLoader
            except (yaml.YAMLError, RecursionError):
                pass
            line, column = (error.lineno, error.colno) if isinstance(error, json.JSONDecodeError) else (1, 1)
            raise TemplateError(
                f"Template format error: JSON not well-formed. (line {line}, column {column})"
            ) from None
    try:
        return yaml.load(body, Loader=CfnLoader)  # CfnLoader is a SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise TemplateError(f"Template format error: YAML not well-formed. (line {line}, column {column})") from None
    except (yaml.YAMLError, RecursionError):
        raise TemplateError("Template format error: YAML not well-formed.") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_template(body: str) -> Template:
    """Parse and check a template body; raises :class:`TemplateError` with CloudFormation's text."""
    doc = load_body(body)
    if not isinstance(doc, dict):
        # unverified: CloudFormation's text for a body that is valid YAML but not a mapping.
        raise TemplateError("Template format error: the template must be a JSON object or a YAML mapping.")
    from ecslite.model.cfn.checks import check_template

    try:
        check_template(doc)
    except RecursionError:
        raise TemplateError("Template format error: the template nests values too deeply") from None  # unverified
    return Template(body=body, doc=doc)


def check_nulls(value: Any, path: str = "") -> None:
    """CloudFormation refuses null anywhere in a template, naming where it found it."""
    if value is None:
        raise TemplateError(f"Template format error: [{path or '/'}] 'null' values are not allowed in templates")
    if isinstance(value, dict):
        for key, item in value.items():
            check_nulls(item, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_nulls(item, f"{path}/{index}")


def is_resource_type(name: str) -> bool:
    return bool(_RESOURCE_TYPE.match(name))


def is_logical_id(name: str) -> bool:
    return bool(_LOGICAL_ID.match(name))


def check_resource_types(template: Template, supported: Collection[str]) -> None:
    """Refuse a template using resource types ecslite has no handler for (sorted, each named once)."""
    missing = sorted({str(body["Type"]) for body in template.resources.values()} - set(supported))
    if missing:
        raise TemplateError(
            f"Template format error: Unrecognized resource types: [{', '.join(missing)}]"
            " (ecslite supports: see docs/cloudformation.md)"
        )


def bracketed(names: Iterable[str]) -> str:
    return "[" + ", ".join(names) + "]"
