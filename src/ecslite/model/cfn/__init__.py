"""CloudFormation's template language: parsing, parameters, intrinsic functions, conditions, dependencies.

Pure logic: the stack engine gives what a template refers to (resources' ids and attributes,
exports, zones, SSM parameters) through callbacks, and gets :class:`TemplateError` with
CloudFormation's own text for anything wrong with the template or the values given to it.
"""

from ecslite.model.cfn.errors import TemplateError
from ecslite.model.cfn.graph import (
    Reference,
    active_resources,
    get_att_uses,
    output_dependencies,
    references,
    resource_dependencies,
    topological_order,
)
from ecslite.model.cfn.intrinsics import PSEUDO, Context, evaluate_conditions, resolve, sub_names
from ecslite.model.cfn.parameters import ResolvedParameters, resolve_parameters
from ecslite.model.cfn.rules import check_rules
from ecslite.model.cfn.template import Template, check_resource_types, parse_template

__all__ = [
    "PSEUDO",
    "Context",
    "Reference",
    "ResolvedParameters",
    "Template",
    "TemplateError",
    "active_resources",
    "check_resource_types",
    "check_rules",
    "evaluate_conditions",
    "get_att_uses",
    "output_dependencies",
    "parse_template",
    "references",
    "resolve",
    "resolve_parameters",
    "resource_dependencies",
    "sub_names",
    "topological_order",
]
