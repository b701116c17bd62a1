"""The structure checks CloudFormation makes before it runs anything (ValidateTemplate, CreateStack).

Every section has the shape it must have, every resource a type of the right form, and every name a
``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``DependsOn``, ``Condition`` or ``Fn::If`` uses is declared —
over all branches of every ``Fn::If``, since which are taken is known only once parameters are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ecslite.model.cfn.errors import TemplateError
from ecslite.model.cfn.graph import Reference, depends_on, references
from ecslite.model.cfn.intrinsics import FUNCTIONS, PSEUDO, text
from ecslite.model.cfn.parameters import is_parameter_type
from ecslite.model.cfn.template import (
    FORMAT_VERSION,
    OUTPUT_ATTRIBUTES,
    POLICIES,
    RESOURCE_ATTRIBUTES,
    SECTIONS,
    bracketed,
    check_nulls,
    is_logical_id,
    is_resource_type,
)


def check_template(doc: dict[str, Any]) -> None:
    """Raise :class:`TemplateError` for the first structural fault CloudFormation would report."""
    check_nulls(doc)
    unknown = [key for key in doc if key not in SECTIONS]
    if unknown:
        raise TemplateError(f"Template format error: Invalid template property or properties {bracketed(unknown)}")
    version = doc.get("AWSTemplateFormatVersion")
    if version is not None and text(version) != FORMAT_VERSION:
        # unverified: CloudFormation's text for another format version.
        raise TemplateError(f"Template format error: Unsupported template format version {text(version) or version}")
    if "Description" in doc and not isinstance(doc["Description"], str):
        raise TemplateError("Template format error: Every Description member must be a string.")  # unverified
    for section in ("Metadata", "Parameters", "Mappings", "Conditions", "Outputs", "Rules"):
        if section in doc and not isinstance(doc[section], dict):
            raise TemplateError(f"Template format error: The {section} section must be an object.")  # unverified
    _check_transform(doc.get("Transform"))
    resources = doc.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise TemplateError("Template format error: At least one Resources member must be defined.")
    parameters = doc.get("Parameters", {})
    conditions = doc.get("Conditions", {})
    _check_parameters(parameters)
    _check_mappings(doc.get("Mappings", {}))
    _check_conditions(conditions, parameters, resources)
    _check_resources(resources, parameters, conditions)
    _check_outputs(doc.get("Outputs", {}), parameters, resources, conditions)


def _check_transform(transform: Any) -> None:
    if transform is None:
        return
    names = [transform] if isinstance(transform, str) else transform
    if not isinstance(names, list) or not all(isinstance(name, str | dict) for name in names):
        raise TemplateError("Template format error: The Transform section must be a string or a list.")  # unverified


def _check_names(kind: str, names: Iterable[str]) -> None:
    for name in names:
        if not is_logical_id(name):
            raise TemplateError(f"Template format error: {kind} name {name} is non alphanumeric.")


def _check_parameters(parameters: Mapping[str, Any]) -> None:
    _check_names("Parameter", parameters)
    for definition in parameters.values():
        if not isinstance(definition, dict) or "Type" not in definition:
            raise TemplateError("Template format error: Every Parameters object must contain a Type member.")
        kind = definition["Type"]
        if not isinstance(kind, str) or not is_parameter_type(kind):
            raise TemplateError(f"Template format error: Unrecognized parameter type: {kind}")


def _check_mappings(mappings: Mapping[str, Any]) -> None:
    for name, mapping in mappings.items():
        if not isinstance(mapping, dict) or not all(isinstance(inner, dict) for inner in mapping.values()):
            raise TemplateError(f"Template format error: Every Mappings member {name} must be a map")
        for inner in mapping.values():
            for value in inner.values():
                if not (text(value) is not None or isinstance(value, list)):
                    raise TemplateError("Template format error: Every Mappings attribute must be a String or a List.")


def _check_conditions(
    conditions: Mapping[str, Any], parameters: Mapping[str, Any], resources: Mapping[str, Any]
) -> None:
    unresolved = set()
    for definition in conditions.values():
        for reference in _condition_references(definition):
            if reference.kind == "Condition":
                if reference.name not in conditions:
                    raise TemplateError(
                        f"Template format error: Unresolved condition dependencies [{reference.name}] in the"
                        " Conditions block of the template"  # unverified
                    )
            elif reference.name not in parameters and reference.name not in PSEUDO:
                unresolved.add(reference.name)
    if unresolved:
        raise TemplateError(
            f"Template format error: Unresolved dependencies {bracketed(sorted(unresolved))}. Cannot reference"
            " resources in the Conditions block of the template"
        )


def _condition_references(value: Any) -> Iterable[Reference]:
    """References in a condition; ``{"Condition": X}`` names another condition there."""
    if isinstance(value, list):
        for item in value:
            yield from _condition_references(item)
    elif isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("Condition"), str):
            yield Reference("Condition", value["Condition"])
        elif len(value) == 1 and next(iter(value)) in ("Ref", "Fn::GetAtt", "Fn::Sub"):
            yield from references(value)
        else:
            for item in value.values():
                yield from _condition_references(item)


def _check_resources(
    resources: Mapping[str, Any], parameters: Mapping[str, Any], conditions: Mapping[str, Any]
) -> None:
    _check_names("Resource", resources)
    unrecognized = []
    for name, body in resources.items():
        if not isinstance(body, dict) or not isinstance(body.get("Type"), str):
            raise TemplateError("Template format error: Every Resources object must contain a Type member.")
        for key in body:
            if key not in RESOURCE_ATTRIBUTES:
                raise TemplateError(f"Template format error: Invalid template resource property '{key}'")
        if not is_resource_type(body["Type"]):
            unrecognized.append(body["Type"])
        if "Properties" in body and not isinstance(body["Properties"], dict):
            raise TemplateError(
                f"Template format error: [/Resources/{name}/Properties] must be an object"
            )  # unverified
        for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
            if policy in body and body[policy] not in POLICIES:
                raise TemplateError(
                    f"Template format error: Unrecognized {policy} {body[policy]} for resource {name}"  # unverified
                )
        _check_condition_name(body.get("Condition"), conditions, f"resource {name}")
        missing = [target for target in depends_on(body) if target not in resources]
        if missing:
            raise TemplateError(
                f"Template format error: Unresolved resource dependencies {bracketed(missing)} in the Resources block"
                " of the template"
            )
    if unrecognized:
        raise TemplateError(
            f"Template format error: Unrecognized resource types: {bracketed(sorted(set(unrecognized)))}"
        )
    for body in resources.values():
        parts = {key: value for key, value in body.items() if key not in ("Type", "Condition", "DependsOn")}
        _check_references(parts, parameters, resources, conditions, "Resources")


def _check_condition_name(name: Any, conditions: Mapping[str, Any], where: str) -> None:
    if name is None:
        return
    if not isinstance(name, str) or name not in conditions:
        # unverified: CloudFormation's text for a Condition attribute naming no condition.
        raise TemplateError(f"Template format error: Unresolved dependencies [{name}]. Condition for {where} not found")


def _check_functions(value: Any) -> None:
    """Every ``Fn::`` key of a one-key object is a function CloudFormation has."""
    if isinstance(value, list):
        for item in value:
            _check_functions(item)
    elif isinstance(value, dict):
        if len(value) == 1:
            key = next(iter(value))
            if key.startswith("Fn::") and key not in FUNCTIONS:
                raise TemplateError(
                    f"Template error: Encountered unsupported function: {key} Supported functions are:"
                    f" [{', '.join(sorted(FUNCTIONS))}]"
                )
        for item in value.values():
            _check_functions(item)


def _check_references(
    value: Any, parameters: Mapping[str, Any], resources: Mapping[str, Any], conditions: Mapping[str, Any], block: str
) -> None:
    _check_functions(value)
    unresolved: set[str] = set()
    for reference in references(value):
        if reference.kind == "If":
            if reference.name not in conditions:
                raise TemplateError(f"Template error: unresolved condition dependency {reference.name} in Fn::If")
        elif reference.kind == "GetAtt":
            if reference.name not in resources:
                raise TemplateError(
                    f"Template error: instance of Fn::GetAtt references undefined resource {reference.name}"
                )
        elif reference.name not in parameters and reference.name not in resources and reference.name not in PSEUDO:
            unresolved.add(reference.name)
    if unresolved:
        raise TemplateError(
            f"Template format error: Unresolved resource dependencies {bracketed(sorted(unresolved))} in the {block}"
            " block of the template"
        )


def _check_outputs(
    outputs: Mapping[str, Any],
    parameters: Mapping[str, Any],
    resources: Mapping[str, Any],
    conditions: Mapping[str, Any],
) -> None:
    _check_names("Output", outputs)
    for name, body in outputs.items():
        if not isinstance(body, dict) or "Value" not in body:
            raise TemplateError("Template format error: Every Outputs member must contain a Value object")
        for key in body:
            if key not in OUTPUT_ATTRIBUTES:
                raise TemplateError(f"Template format error: Invalid outputs property : [{key}]")  # unverified
        _check_condition_name(body.get("Condition"), conditions, f"output {name}")
        export = body.get("Export")
        if export is not None and (not isinstance(export, dict) or "Name" not in export):
            raise TemplateError(
                f"Template format error: Output {name} is malformed. The Export field must contain a Name"
            )  # unverified
        _check_references([body["Value"], export], parameters, resources, conditions, "Outputs")
