"""A template's ``Rules``: assertions on its parameter values, checked before an operation starts.

Each rule has an optional ``RuleCondition`` and a list of ``Assertions`` (``Assert`` with an optional
``AssertDescription``); when the condition holds, every assertion must, or the operation is refused
with the assertion's description (the CDK's ``CheckBootstrapVersion`` rule reads "CDK bootstrap stack
version 6 required..." this way). Rule-specific functions: ``Fn::Contains``, ``Fn::EachMemberEquals``,
``Fn::EachMemberIn``, ``Fn::RefAll``, with ``Fn::And``, ``Fn::Or``, ``Fn::Not`` and ``Fn::Equals``;
``Ref`` reads parameters and pseudo parameters. ``Fn::ValueOf`` and
``Fn::ValueOfAll`` read attributes of AWS-specific parameter types (a VPC's tags, ...), which ecslite
does not keep: a rule using them is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ecslite.model.cfn.errors import TemplateError
from ecslite.model.cfn.intrinsics import text

if TYPE_CHECKING:
    from ecslite.model.cfn.template import Template

RULE_FUNCTIONS = (
    "Fn::And",
    "Fn::Contains",
    "Fn::EachMemberEquals",
    "Fn::EachMemberIn",
    "Fn::Equals",
    "Fn::Not",
    "Fn::Or",
    "Fn::RefAll",
)


class _Rules:
    def __init__(self, template: Template, parameters: Mapping[str, Any], pseudo: Mapping[str, Any]) -> None:
        self.template = template
        self.parameters = parameters
        self.pseudo = pseudo

    def value(self, value: Any) -> Any:
        """A value inside a rule: lists item by item, functions evaluated, scalars as strings."""
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict) and len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key.startswith("Fn::"):
                return self.function(key, arg)
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        return text(value)

    def ref(self, name: Any) -> Any:
        if isinstance(name, str) and name in self.parameters:
            found = self.parameters[name]
            return [text(v) for v in found] if isinstance(found, list) else text(found)
        if isinstance(name, str) and name in self.pseudo:
            return self.pseudo[name]
        raise TemplateError(
            f"Template format error: Unresolved dependencies [{name}]. Rules can only refer to parameters"
        )  # unverified

    def boolean(self, value: Any) -> bool:
        result = self.value(value)
        if isinstance(result, bool):
            return result
        if result in ("true", "false"):
            return bool(result == "true")
        raise TemplateError("Template error: every rule assertion must be a boolean function")  # unverified

    def function(self, name: str, arg: Any) -> Any:
        if name in ("Fn::And", "Fn::Or"):
            if not isinstance(arg, list) or not 2 <= len(arg) <= 10:
                raise TemplateError(
                    f"Template error: every {name} object requires a list of at least 2 and at most 10"
                    " boolean parameters."
                )
            values = [self.boolean(item) for item in arg]
            return all(values) if name == "Fn::And" else any(values)
        if name == "Fn::Not":
            if not isinstance(arg, list) or len(arg) != 1:
                raise TemplateError("Template error: every Fn::Not object requires a list of 1 boolean parameter.")
            return not self.boolean(arg[0])
        if name == "Fn::Equals":
            left, right = self.pair(name, arg)
            return bool(left == right)
        if name == "Fn::Contains":
            items, item = self.pair(name, arg)
            return item in self.strings(name, items)
        if name == "Fn::EachMemberEquals":
            items, item = self.pair(name, arg)
            return all(member == item for member in self.strings(name, items))
        if name == "Fn::EachMemberIn":
            items, allowed = self.pair(name, arg)
            return set(self.strings(name, items)) <= set(self.strings(name, allowed))
        if name == "Fn::RefAll":
            kind = self.value(arg)
            definitions = self.template.parameters or {}
            found: list[Any] = []
            for key, spec in definitions.items():
                if spec.get("Type") == kind:
                    current = self.ref(key)
                    found.extend(current if isinstance(current, list) else [current])
            return found
        if name in ("Fn::ValueOf", "Fn::ValueOfAll"):
            raise TemplateError(f"Template error: ecslite does not evaluate {name} in Rules (no parameter attributes)")
        raise TemplateError(
            f"Template error: Encountered unsupported function: {name} "
            f"Supported functions are: [{', '.join(RULE_FUNCTIONS)}]"
        )  # unverified: the list CloudFormation names for Rules

    def pair(self, name: str, arg: Any) -> tuple[Any, Any]:
        if not isinstance(arg, list) or len(arg) != 2:
            raise TemplateError(f"Template error: every {name} object requires a list of 2 parameters.")  # unverified
        return self.value(arg[0]), self.value(arg[1])

    @staticmethod
    def strings(name: str, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise TemplateError(f"Template error: {name} needs a list of strings")  # unverified
        return value


def check_rules(template: Template, parameters: Mapping[str, Any], pseudo: Mapping[str, Any]) -> None:
    """Raises :class:`TemplateError` with the first failed assertion's description."""
    rules = template.doc.get("Rules") or {}
    evaluator = _Rules(template, parameters, pseudo)
    for name, rule in rules.items():
        if not isinstance(rule, dict):
            raise TemplateError(f"Template format error: Rule {name} must be an object")  # unverified
        if "RuleCondition" in rule and not evaluator.boolean(rule["RuleCondition"]):
            continue
        assertions = rule.get("Assertions")
        if not isinstance(assertions, list):
            raise TemplateError(f"Template format error: Rule {name} needs a list of Assertions")  # unverified
        for assertion in assertions:
            if not isinstance(assertion, dict) or "Assert" not in assertion:
                raise TemplateError(
                    f"Template format error: every assertion of rule {name} needs an Assert"
                )  # unverified
            if not evaluator.boolean(assertion["Assert"]):
                description = assertion.get("AssertDescription")
                # unverified: CloudFormation's text for an assertion without a description.
                raise TemplateError(str(description) if description else f"Template error: rule {name} failed")
