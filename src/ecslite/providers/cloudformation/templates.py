"""What a stack operation checks in a template before it starts, on top of the template language
(:mod:`ecslite.model.cfn`): resource types ecslite has handlers for, ``Fn::GetAtt`` names the handler
reads, the IAM capabilities the resources need, and Transforms (not run here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecslite.model import cfn
from ecslite.providers.cloudformation import errors
from ecslite.providers.cloudformation.resources.base import ResourceHandler

Doc = dict[str, Any]
PARTITION, URL_SUFFIX = "aws", "amazonaws.com"


def load(body: str, handlers: Mapping[str, ResourceHandler]) -> cfn.Template:
    """The template parsed and checked against what ecslite can make; ValidationError otherwise."""
    try:
        template = cfn.parse_template(body)
        if template.transform:
            names = template.transform if isinstance(template.transform, list) else [template.transform]
            raise errors.ValidationError(errors.TRANSFORM.format(names=", ".join(str(n) for n in names)))
        check_types(template, handlers)
    except cfn.TemplateError as error:
        raise errors.ValidationError(error.message) from None
    for target, attribute in sorted(cfn.get_att_uses(template)):
        spec = template.resources.get(target)
        if spec is None:
            raise errors.ValidationError(
                f"Template error: instance of Fn::GetAtt references undefined resource {target}"
            )
        handler = handlers.get(spec.get("Type", ""))
        if handler is not None and attribute not in handler.attributes:
            raise errors.ValidationError(
                f"Template error: resource {target} does not support attribute type {attribute} in Fn::GetAtt"
            )
    return template


def check_types(
    template: cfn.Template, handlers: Mapping[str, ResourceHandler], conditions: Mapping[str, bool] | None = None
) -> None:
    """Refuses resource types ecslite has no handler for. A resource with a ``Condition`` is let
    through until the conditions are known (``conditions`` None), then only if its condition is false:
    the CDK's bootstrap template, for one, holds a KMS key and a managed policy that it makes only
    when asked to, and a stack that never makes them needs no handler for them."""

    def made(spec: Doc) -> bool:
        if "Condition" not in spec:
            return True
        return conditions is not None and conditions.get(str(spec["Condition"]), True)

    missing = sorted(
        {str(s["Type"]) for s in template.resources.values() if str(s["Type"]) not in handlers and made(s)}
    )
    if missing:
        raise cfn.TemplateError(
            f"Template format error: Unrecognized resource types: [{', '.join(missing)}]"
            " (ecslite supports: see docs/cloudformation.md)"
        )


def required_capabilities(template: cfn.Template, handlers: Mapping[str, ResourceHandler]) -> tuple[list[str], str]:
    """The capabilities the template's resources need and CloudFormation's reason for them."""
    iam: list[str] = []
    named = False
    for spec in template.resources.values():
        handler = handlers.get(spec.get("Type", ""))
        if handler is None or not handler.iam:
            continue
        iam.append(spec["Type"])
        props = spec.get("Properties") or {}
        named = named or (handler.name_property is not None and handler.name_property in props)
    if not iam:
        return [], ""
    reason = f"The following resource(s) require capabilities: [{', '.join(sorted(set(iam)))}]"
    return (["CAPABILITY_NAMED_IAM"] if named else ["CAPABILITY_IAM"]), reason


def check_capabilities(template: cfn.Template, handlers: Mapping[str, ResourceHandler], given: list[str]) -> None:
    needed, _ = required_capabilities(template, handlers)
    if not needed:
        return
    if "CAPABILITY_NAMED_IAM" in given or (needed == ["CAPABILITY_IAM"] and "CAPABILITY_IAM" in given):
        return
    raise errors.InsufficientCapabilitiesException(f"Requires capabilities : [{needed[0]}]")


def pseudo(account: str, region: str, stack_name: str, stack_id: str, notifications: list[str]) -> Doc:
    return {
        "AWS::AccountId": account,
        "AWS::Region": region,
        "AWS::StackName": stack_name,
        "AWS::StackId": stack_id,
        "AWS::Partition": PARTITION,
        "AWS::URLSuffix": URL_SUFFIX,
        "AWS::NotificationARNs": notifications,
    }


def azs(region: str) -> list[str]:
    # ecslite's EC2 answers the region's zones a, b and c.
    return [f"{region}{zone}" for zone in "abc"]


def parameter_declarations(template: cfn.Template) -> list[Doc]:
    """ValidateTemplate's Parameters."""
    shown = []
    for name, spec in (template.parameters or {}).items():
        item: Doc = {"ParameterKey": name, "NoEcho": str(spec.get("NoEcho", "false")).lower() == "true"}
        if "Default" in spec:
            item["DefaultValue"] = as_text(spec["Default"])
        if "Description" in spec:
            item["Description"] = spec["Description"]
        shown.append(item)
    return shown


def parameter_summaries(template: cfn.Template) -> list[Doc]:
    """GetTemplateSummary's Parameters."""
    shown = []
    for item, spec in zip(parameter_declarations(template), (template.parameters or {}).values(), strict=True):
        item["ParameterType"] = spec.get("Type", "String")
        if "AllowedValues" in spec:
            item["ParameterConstraints"] = {"AllowedValues": [as_text(v) for v in spec["AllowedValues"]]}
        shown.append(item)
    return shown


def as_text(value: Any) -> str:
    """A parameter's or output's value as CloudFormation shows it: lists comma-joined, booleans in
    lower case."""
    if isinstance(value, list):
        return ",".join(as_text(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
