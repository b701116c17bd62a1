"""CloudFormation's intrinsic functions and conditions, evaluated against a :class:`Context`.

:func:`resolve` walks a value (a resource's Properties, an Output's Value) and replaces every
intrinsic function by what it stands for. ``{"Ref": "AWS::NoValue"}`` (directly or as the branch
an ``Fn::If`` takes) removes the key or list item holding it. What a resource's ``Ref`` or
``Fn::GetAtt`` gives, what an import holds and which zones a region has come from the context's
callbacks, so this module stays pure.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ecslite.model.cfn.errors import TemplateError

if TYPE_CHECKING:
    from ecslite.model.cfn.template import Template

PSEUDO = (
    "AWS::AccountId",
    "AWS::Region",
    "AWS::StackName",
    "AWS::StackId",
    "AWS::Partition",
    "AWS::URLSuffix",
    "AWS::NotificationARNs",
    "AWS::NoValue",
)
CONDITION_FUNCTIONS = ("Fn::And", "Fn::Equals", "Fn::Not", "Fn::Or")


class _NoValue:
    """What ``AWS::NoValue`` evaluates to before the key or item holding it is dropped."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()


@dataclass
class Context:
    """Everything a reference can point at while a stack's values are resolved."""

    parameters: Mapping[str, Any]
    pseudo: Mapping[str, Any]  # AWS::Region etc. (AWS::NoValue is handled by resolve)
    conditions: Mapping[str, bool]
    mappings: Mapping[str, Any]
    ref: Callable[[str], Any]  # a resource's Ref value (its physical id)
    get_att: Callable[[str, str], Any]  # a resource's attribute
    import_value: Callable[[str], str]  # raises TemplateError("No export named X found.")
    azs: Callable[[str], list[str]]  # Fn::GetAZs (region "" = the stack's)


def resolve(value: Any, ctx: Context) -> Any:
    """``value`` with every intrinsic function evaluated; None where the whole value is AWS::NoValue."""
    try:
        result = _resolve(value, ctx)
    except RecursionError:
        raise TemplateError("Template error: the template nests intrinsic functions too deeply") from None
    return None if result is NO_VALUE else result


def _resolve(value: Any, ctx: Context) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return _ref(arg, ctx)
            if key.startswith("Fn::"):
                function = _FUNCTIONS.get(key)
                if function is None:
                    raise TemplateError(
                        f"Template error: Encountered unsupported function: {key} "
                        f"Supported functions are: [{', '.join(sorted(FUNCTIONS))}]"
                    )
                return function(arg, ctx)
        resolved = {key: _resolve(item, ctx) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}
    if isinstance(value, list):
        items = [_resolve(item, ctx) for item in value]
        return [item for item in items if item is not NO_VALUE]
    return value


def text(value: Any) -> str | None:
    """A scalar as CloudFormation's strings hold it (``80`` -> "80", ``true`` -> "true"); None otherwise."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return None


def _ref(name: Any, ctx: Context) -> Any:
    if not isinstance(name, str):
        raise TemplateError("Template format error: Every Ref object must have a single String value.")
    if name == "AWS::NoValue":
        return NO_VALUE
    if name in ctx.parameters:
        return ctx.parameters[name]
    if name in ctx.pseudo:
        return ctx.pseudo[name]
    if name.startswith("AWS::"):
        raise TemplateError(
            f"Template format error: Unresolved resource dependencies [{name}] in the Resources block of the template"
        )
    return ctx.ref(name)


_GET_ATT_SHAPE = "Template error: every Fn::GetAtt object requires two non-empty parameters"


def get_att_target(arg: Any) -> tuple[str, Any]:
    """``Fn::GetAtt``'s resource and (possibly intrinsic) attribute name, from either form."""
    if isinstance(arg, str):
        arg = arg.split(".", 1)
    if not isinstance(arg, list) or len(arg) != 2 or not isinstance(arg[0], str) or not arg[0]:
        raise TemplateError(_GET_ATT_SHAPE)
    return arg[0], arg[1]


def _get_att(arg: Any, ctx: Context) -> Any:
    resource, attribute = get_att_target(arg)
    attribute = _resolve(attribute, ctx)
    if not isinstance(attribute, str) or not attribute:
        raise TemplateError(_GET_ATT_SHAPE)
    return ctx.get_att(resource, attribute)


_JOIN_SHAPE = (
    "Template error: every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of"
    " strings to be joined or a function that returns a list of strings (such as Fn::GetAZs) to be joined."
)


def _join(arg: Any, ctx: Context) -> str:
    if not isinstance(arg, list) or len(arg) != 2:
        raise TemplateError(_JOIN_SHAPE)
    delimiter, items = _resolve(arg[0], ctx), _resolve(arg[1], ctx)
    if not isinstance(delimiter, str) or not isinstance(items, list):
        raise TemplateError(_JOIN_SHAPE)
    parts = [text(item) for item in items]
    if any(part is None for part in parts):
        raise TemplateError(_JOIN_SHAPE)
    return delimiter.join(part for part in parts if part is not None)


_SELECT_SHAPE = (
    "Template error: every Fn::Select object requires two parameters, (1) an index into the list and"
    " (2) a list or a function that returns a list"
)


def _select(arg: Any, ctx: Context) -> Any:
    if not isinstance(arg, list) or len(arg) != 2:
        raise TemplateError(_SELECT_SHAPE)
    index, items = _resolve(arg[0], ctx), _resolve(arg[1], ctx)
    if isinstance(index, str) and re.fullmatch(r"-?[0-9]+", index):
        index = int(index)
    if isinstance(index, bool) or not isinstance(index, int) or not isinstance(items, list):
        raise TemplateError(_SELECT_SHAPE)
    if not 0 <= index < len(items):
        raise TemplateError(f"Template error: Fn::Select cannot select nonexistent value at index {index}")
    return items[index]


_SPLIT_SHAPE = (
    "Template error: every Fn::Split object requires two parameters, (1) a string delimiter and (2) a string"
    " to be split or a function that returns a string to be split."
)


def _split(arg: Any, ctx: Context) -> list[str]:
    if not isinstance(arg, list) or len(arg) != 2:
        raise TemplateError(_SPLIT_SHAPE)
    delimiter, source = _resolve(arg[0], ctx), text(_resolve(arg[1], ctx))
    if not isinstance(delimiter, str) or not delimiter or source is None:
        raise TemplateError(_SPLIT_SHAPE)
    return source.split(delimiter)


_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_SUB_NAME = re.compile(r"^[A-Za-z0-9_.:]+$")
SUB_SHAPE = (
    "Template error: One or more Fn::Sub intrinsic functions don't specify expected arguments. Specify a string"
    " as first argument, and an optional second argument to specify a mapping of values to replace in the string"
)


def sub_parts(template: str) -> Iterator[tuple[str, str | None]]:
    """``Fn::Sub``'s string as (literal text, variable name or None) pairs; ``${!X}`` is the text ``${X}``."""
    position = 0
    for match in _SUB_VARIABLE.finditer(template):
        inner = match.group(1)
        literal = template[position : match.start()]
        position = match.end()
        if inner.startswith("!"):
            yield literal + "${" + inner[1:] + "}", None
            continue
        name = inner.strip()
        if not _SUB_NAME.match(name):
            raise TemplateError(
                "Template error: variable names in Fn::Sub syntax must contain only alphanumeric characters,"
                " underscores, periods, and colons"
            )
        yield literal, name
    yield template[position:], None


def sub_names(template: str) -> list[str]:
    """The variables ``Fn::Sub``'s string names, in order."""
    return [name for _, name in sub_parts(template) if name is not None]


def _sub(arg: Any, ctx: Context) -> str:
    if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], dict):
        source, variables = arg[0], arg[1]
    elif isinstance(arg, str):
        source, variables = arg, {}
    else:
        raise TemplateError(SUB_SHAPE)
    if not isinstance(source, str):
        raise TemplateError(SUB_SHAPE)
    out: list[str] = []
    for literal, name in sub_parts(source):
        out.append(literal)
        if name is None:
            continue
        if name in variables:
            value = _resolve(variables[name], ctx)
        elif "." in name:
            resource, attribute = name.split(".", 1)
            value = ctx.get_att(resource, attribute)
        else:
            value = _ref(name, ctx)
        part = text(value)
        if part is None:
            # unverified: CloudFormation's text for a variable that is a list or an object.
            raise TemplateError(f"Template error: variable {name} in Fn::Sub expression does not resolve to a string")
        out.append(part)
    return "".join(out)


_IF_SHAPE = "Template error: Fn::If requires a list argument with three elements"  # unverified


def if_parts(arg: Any) -> tuple[str, Any, Any]:
    if not isinstance(arg, list) or len(arg) != 3 or not isinstance(arg[0], str):
        raise TemplateError(_IF_SHAPE)
    return arg[0], arg[1], arg[2]


def condition_value(name: str, conditions: Mapping[str, bool]) -> bool:
    if name not in conditions:
        raise TemplateError(f"Template error: unresolved condition dependency {name} in Fn::If")
    return conditions[name]


def _if(arg: Any, ctx: Context) -> Any:
    name, when_true, when_false = if_parts(arg)
    return _resolve(when_true if condition_value(name, ctx.conditions) else when_false, ctx)


_FIND_IN_MAP_SHAPE = (
    "Template error: every Fn::FindInMap object requires three parameters, the map name, map key and the"
    " attribute for return value"
)


def _find_in_map(arg: Any, ctx: Context) -> Any:
    default: Any = NO_VALUE
    if isinstance(arg, list) and len(arg) == 4:
        # AWS::LanguageExtensions' fourth argument: {"DefaultValue": x} when a key is missing.
        if not isinstance(arg[3], dict) or set(arg[3]) != {"DefaultValue"}:
            raise TemplateError(_FIND_IN_MAP_SHAPE)
        default, arg = arg[3]["DefaultValue"], arg[:3]
    if not isinstance(arg, list) or len(arg) != 3:
        raise TemplateError(_FIND_IN_MAP_SHAPE)
    keys = [text(_resolve(item, ctx)) for item in arg]
    if any(key is None for key in keys):
        raise TemplateError(_FIND_IN_MAP_SHAPE)
    name, first, second = (str(key) for key in keys)
    mapping = ctx.mappings.get(name)
    if not isinstance(mapping, dict):
        if default is not NO_VALUE:
            return _resolve(default, ctx)
        raise TemplateError(
            f"Template error: Mapping named '{name}' is not present in the 'Mappings' section of template."
        )
    inner = mapping.get(first)
    if not isinstance(inner, dict) or second not in inner:
        if default is not NO_VALUE:
            return _resolve(default, ctx)
        raise TemplateError(f"Template error: Unable to get mapping for {name}::{first}::{second}")
    return copy.deepcopy(inner[second])


def _single_string(function: str, arg: Any, ctx: Context) -> str:
    value = _resolve(arg, ctx)
    if not isinstance(value, str):
        # unverified: CloudFormation's text for a non-string argument.
        raise TemplateError(f"Template error: every {function} object requires a single string parameter")
    return value


def _get_azs(arg: Any, ctx: Context) -> list[str]:
    return list(ctx.azs(_single_string("Fn::GetAZs", arg, ctx)))


def _import_value(arg: Any, ctx: Context) -> str:
    return ctx.import_value(_single_string("Fn::ImportValue", arg, ctx))


def _base64(arg: Any, ctx: Context) -> str:
    return base64.b64encode(_single_string("Fn::Base64", arg, ctx).encode()).decode("ascii")


_CIDR_SHAPE = (  # unverified
    "Template error: every Fn::Cidr object requires three parameters, (1) an IP address block in CIDR notation,"
    " (2) the number of CIDRs to generate (1 to 256) and (3) the number of host bits of each CIDR"
)


def _cidr(arg: Any, ctx: Context) -> list[str]:
    if not isinstance(arg, list) or len(arg) != 3:
        raise TemplateError(_CIDR_SHAPE)
    block, count, bits = (_resolve(item, ctx) for item in arg)
    count, bits = _integer(count), _integer(bits)
    if not isinstance(block, str) or count is None or bits is None or not 1 <= count <= 256:
        raise TemplateError(_CIDR_SHAPE)
    try:
        network = ipaddress.ip_network(block, strict=False)
    except ValueError:
        raise TemplateError(f"Template error: Fn::Cidr: {block} is not a valid CIDR block") from None
    prefix = network.max_prefixlen - bits
    if not network.prefixlen <= prefix <= network.max_prefixlen or bits < 1:
        raise TemplateError(f"Template error: Fn::Cidr: {bits} host bits do not fit within {block}")
    cidrs = [str(subnet) for subnet in itertools.islice(network.subnets(new_prefix=prefix), count)]
    if len(cidrs) < count:
        raise TemplateError(f"Template error: Fn::Cidr: {block} holds fewer than {count} CIDRs of {bits} host bits")
    return cidrs


def _integer(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,6}", value):
        return int(value)
    return None


def _length(arg: Any, ctx: Context) -> int:
    value = _resolve(arg, ctx)
    if not isinstance(value, list):
        raise TemplateError(
            "Template error: Fn::Length object requires a list or intrinsic function that returns a list"
        )
    return len(value)


def _to_json_string(arg: Any, ctx: Context) -> str:
    value = _resolve(arg, ctx)
    if not isinstance(value, dict | list):
        raise TemplateError("Template error: Fn::ToJsonString requires an object or a list")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _transform(arg: Any, ctx: Context) -> Any:
    raise TemplateError("Template error: Fn::Transform needs a macro, and ecslite does not run macros")


_EQUALS_SHAPE = "Template error: every Fn::Equals object requires a list of 2 string parameters."


def _comparable(value: Any) -> Any:
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    return text(value)


def _equals(arg: Any, ctx: Context) -> bool:
    if not isinstance(arg, list) or len(arg) != 2:
        raise TemplateError(_EQUALS_SHAPE)
    left, right = (_comparable(_resolve(item, ctx)) for item in arg)
    return bool(left == right)


def _boolean(value: Any, ctx: Context) -> bool:
    if isinstance(value, dict) and len(value) == 1 and "Condition" in value:
        name = value["Condition"]
        if not isinstance(name, str):
            raise TemplateError("Template error: every Condition object requires a single String value")  # unverified
        if name not in ctx.conditions:
            raise TemplateError(
                f"Template format error: Unresolved condition dependencies [{name}] in the Conditions block"
                " of the template"  # unverified
            )
        return ctx.conditions[name]
    result = _resolve(value, ctx)
    if isinstance(result, bool):
        return result
    if isinstance(result, str) and result in ("true", "false"):
        return result == "true"
    raise TemplateError("Template error: Conditions can only be boolean operations on parameters and other conditions")


def _and_or(function: str) -> Callable[[Any, Context], bool]:
    def evaluate(arg: Any, ctx: Context) -> bool:
        if not isinstance(arg, list) or not 2 <= len(arg) <= 10:
            raise TemplateError(
                f"Template error: every {function} object requires a list of at least 2 and at most 10"
                " boolean parameters."
            )
        values = [_boolean(item, ctx) for item in arg]
        return all(values) if function == "Fn::And" else any(values)

    return evaluate


def _not(arg: Any, ctx: Context) -> bool:
    if not isinstance(arg, list) or len(arg) != 1:
        raise TemplateError("Template error: every Fn::Not object requires a list of 1 boolean parameter.")
    return not _boolean(arg[0], ctx)


_FUNCTIONS: dict[str, Callable[[Any, Context], Any]] = {
    "Fn::And": _and_or("Fn::And"),
    "Fn::Base64": _base64,
    "Fn::Cidr": _cidr,
    "Fn::Equals": _equals,
    "Fn::FindInMap": _find_in_map,
    "Fn::GetAZs": _get_azs,
    "Fn::GetAtt": _get_att,
    "Fn::If": _if,
    "Fn::ImportValue": _import_value,
    "Fn::Join": _join,
    "Fn::Length": _length,
    "Fn::Not": _not,
    "Fn::Or": _and_or("Fn::Or"),
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::Sub": _sub,
    "Fn::ToJsonString": _to_json_string,
    "Fn::Transform": _transform,
}
FUNCTIONS = ("Ref", "Condition", *_FUNCTIONS)


class _Conditions(Mapping[str, bool]):
    """The Conditions section evaluated on demand, each condition once, refusing cycles."""

    def __init__(self, definitions: Mapping[str, Any], ctx_for: Callable[[_Conditions], Context]) -> None:
        self._definitions = definitions
        self._values: dict[str, bool] = {}
        self._evaluating: list[str] = []
        self._ctx = ctx_for(self)

    def __getitem__(self, name: str) -> bool:
        if name in self._values:
            return self._values[name]
        if name not in self._definitions:
            raise KeyError(name)
        if name in self._evaluating:
            cycle = sorted(set(self._evaluating[self._evaluating.index(name) :]))
            raise TemplateError(
                f"Template error: Circular dependency between conditions: [{', '.join(cycle)}]"
            )  # unverified
        self._evaluating.append(name)
        try:
            self._values[name] = _boolean(self._definitions[name], self._ctx)
        finally:
            self._evaluating.pop()
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._definitions)

    def __len__(self) -> int:
        return len(self._definitions)


def _no_resources(name: str, *_: Any) -> Any:
    raise TemplateError(
        f"Template format error: Unresolved dependencies [{name}]. Cannot reference resources in the Conditions"
        " block of the template"
    )


def _nothing_else(what: str) -> Callable[[str], Any]:
    def refuse(_: str) -> Any:
        raise TemplateError(
            f"Template error: {what} cannot be used in the Conditions block of the template"
        )  # unverified

    return refuse


def evaluate_conditions(
    template: Template, parameters: Mapping[str, Any], pseudo: Mapping[str, Any]
) -> dict[str, bool]:
    """Every condition of the template, true or false, from the stack's parameters and pseudo parameters."""

    def ctx_for(conditions: _Conditions) -> Context:
        return Context(
            parameters=parameters,
            pseudo=pseudo,
            conditions=conditions,
            mappings=template.mappings,
            ref=_no_resources,
            get_att=_no_resources,
            import_value=_nothing_else("Fn::ImportValue"),
            azs=_nothing_else("Fn::GetAZs"),
        )

    conditions = _Conditions(template.conditions, ctx_for)
    try:
        return {name: conditions[name] for name in template.conditions}
    except RecursionError:
        raise TemplateError("Template error: the Conditions block nests too deeply") from None
