"""Properties of the CloudFormation template language (``ecslite.model.cfn``).

- A template's document is the same whether its body is JSON or YAML, and a YAML short form
  (``!Ref X``, ``!GetAtt A.B``, ``!Sub [...]``) parses to exactly its long form.
- Parsing, resolving and walking dependencies of random nested intrinsic functions only ever fail
  with :class:`TemplateError`, CloudFormation's ValidationError, never with a crash.
- On random dependency graphs, the resources that ``resource_dependencies`` refuses as circular are
  exactly those a brute-force reachability check finds on a cycle, and otherwise
  ``topological_order`` puts every resource after everything it needs.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from ecslite.model.cfn import (
    Context,
    TemplateError,
    evaluate_conditions,
    output_dependencies,
    parse_template,
    resolve,
    resolve_parameters,
    resource_dependencies,
    topological_order,
)
from ecslite.model.cfn.intrinsics import FUNCTIONS
from tests.property.conftest import property_settings

# YAML 1.1 reads NEL and the Unicode line and paragraph separators as line breaks, which PyYAML's
# emitter folds when it writes them inside a quoted scalar: a text holding them is not round-trippable
# through any YAML writer-reader pair, so bodies are drawn without them.
characters = st.characters(exclude_characters="\x85\u2028\u2029", exclude_categories=["Cs"])
# Keys a plain object may have: never one that makes a one-key object an intrinsic function.
plain_keys = st.text(characters, min_size=1, max_size=8).filter(
    lambda key: key not in FUNCTIONS and not key.startswith("Fn::")
)
scalars = (
    st.text(characters, max_size=12)
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(plain_keys, inner, max_size=4),
    max_leaves=20,
)
logical_ids = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
resource_types = st.sampled_from(["AWS::ECS::Cluster", "AWS::ECS::Service", "Custom::Thing", "AWS::A1::B2::C3"])

documents = st.fixed_dictionaries(
    {
        "Resources": st.dictionaries(
            logical_ids,
            st.fixed_dictionaries(
                {"Type": resource_types}, optional={"Properties": st.dictionaries(plain_keys, json_values, max_size=4)}
            ),
            min_size=1,
            max_size=4,
        )
    },
    optional={
        "AWSTemplateFormatVersion": st.just("2010-09-09"),
        "Description": st.text(characters, max_size=40),
        "Metadata": st.dictionaries(plain_keys, json_values, max_size=3),
        "Mappings": st.dictionaries(
            logical_ids,
            st.dictionaries(plain_keys, st.dictionaries(plain_keys, st.text(characters, max_size=8), min_size=1)),
            max_size=2,
        ),
    },
)


@property_settings(300)
@given(documents, st.booleans(), st.booleans())
def test_json_and_yaml_bodies_give_the_same_doc(doc: dict[str, Any], flow: bool, unicode: bool) -> None:
    assert parse_template(json.dumps(doc)).doc == doc
    body = yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=unicode, sort_keys=False)
    template = parse_template(body)
    assert template.doc == doc
    assert template.body == body


# A tree of intrinsic functions with its YAML short-form rendering, built side by side.
names = st.sampled_from(["Env", "Res", "AWS::Region", "A.B", "x y", ""])
plain_strings = st.text("abc-_. ${}!", max_size=6)


def flow_scalar(value: str | int) -> str:
    """``value`` written as PyYAML writes it inside a flow collection."""
    return yaml.safe_dump([value], default_flow_style=True, width=10**9).strip()[1:-1]


def short(tag: str, long_key: str, arg: tuple[Any, str]) -> tuple[Any, str]:
    value = arg[0]
    if isinstance(value, int):
        value = str(value)  # a tagged scalar is the text written: `!Base64 0` is the string "0"
    if long_key == "Fn::GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {long_key: value}, f"{tag} {arg[1]}"


def yaml_list(items: list[tuple[Any, str]]) -> tuple[Any, str]:
    return [item[0] for item in items], "[" + ", ".join(item[1] for item in items) + "]"


def yaml_map(items: dict[str, tuple[Any, str]]) -> tuple[Any, str]:
    return (
        {key: item[0] for key, item in items.items()},
        "{" + ", ".join(f"{flow_scalar(key)}: {item[1]}" for key, item in items.items()) + "}",
    )


plain_leaves = st.one_of(
    plain_strings.map(lambda value: (value, flow_scalar(value))),
    st.integers(-5, 300).map(lambda value: (value, str(value))),
)
leaves = st.one_of(
    plain_leaves,
    names.map(lambda name: ({"Ref": name}, f"!Ref {json.dumps(name)}")),
    st.tuples(names, names).map(
        lambda pair: (
            {"Fn::GetAtt": f"{pair[0]}.{pair[1]}".split(".", 1)},
            f"!GetAtt {json.dumps(f'{pair[0]}.{pair[1]}')}",
        )
    ),
    st.sampled_from(["IsProd", "Nope"]).map(lambda name: ({"Condition": name}, f"!Condition {name}")),
)
TAGS = [
    ("!Sub", "Fn::Sub"),
    ("!Join", "Fn::Join"),
    ("!Select", "Fn::Select"),
    ("!Split", "Fn::Split"),
    ("!If", "Fn::If"),
    ("!Equals", "Fn::Equals"),
    ("!Not", "Fn::Not"),
    ("!And", "Fn::And"),
    ("!Or", "Fn::Or"),
    ("!FindInMap", "Fn::FindInMap"),
    ("!GetAZs", "Fn::GetAZs"),
    ("!ImportValue", "Fn::ImportValue"),
    ("!Base64", "Fn::Base64"),
    ("!Cidr", "Fn::Cidr"),
    ("!Length", "Fn::Length"),
    ("!ToJsonString", "Fn::ToJsonString"),
    ("!GetAtt", "Fn::GetAtt"),
]


def _tagged(inner: st.SearchStrategy[tuple[Any, str]]) -> st.SearchStrategy[tuple[Any, str]]:
    # A tag cannot apply to a node that already has one (`!Sub !Ref X` is not YAML): a tagged
    # function's argument is a plain scalar, a list or a mapping.
    args = (
        plain_leaves
        | st.lists(inner, max_size=4).map(yaml_list)
        | st.dictionaries(plain_keys, inner, max_size=3).map(yaml_map)
    )
    return st.tuples(st.sampled_from(TAGS), args).map(lambda pair: short(pair[0][0], pair[0][1], pair[1]))


trees = st.recursive(
    leaves,
    lambda inner: (
        _tagged(inner)
        | st.lists(inner, max_size=4).map(yaml_list)
        | st.dictionaries(plain_keys, inner, max_size=3).map(yaml_map)
    ),
    max_leaves=16,
)


@property_settings(300)
@given(trees)
def test_yaml_short_forms_parse_to_their_long_forms(tree: tuple[Any, str]) -> None:
    long_form, rendered = tree
    doc = yaml.load(f"Resources: {{R: {{Type: AWS::ECS::Cluster, Properties: {{P: {rendered}}}}}}}", Loader=loader())
    assert doc["Resources"]["R"]["Properties"]["P"] == long_form


def loader() -> type[yaml.SafeLoader]:
    from ecslite.model.cfn.template import CfnLoader

    return CfnLoader


def raising(what: str) -> Any:
    def fail(*args: Any) -> Any:
        raise TemplateError(f"{what} {args}")

    return fail


def garbage_context() -> Context:
    return Context(
        parameters={"Env": "prod", "List": ["a", "b"]},
        pseudo={"AWS::Region": "us-east-1", "AWS::StackName": "s"},
        conditions={"IsProd": True},
        mappings={"M": {"k": {"v": "x", "l": ["1"]}}, "Bad": {"k": "flat"}},
        ref=lambda name: f"id-{name}" if name == "Res" else raising("ref")(name),
        get_att=lambda name, attribute: "att" if name == "Res" else raising("get_att")(name, attribute),
        import_value=raising("import"),
        azs=lambda region: ["a", "b"],
    )


garbage_names = st.sampled_from(
    ["Env", "List", "Res", "Nope", "AWS::Region", "AWS::NoValue", "AWS::Other", "IsProd", "M", "Bad", "k", "v", "l"]
)
garbage_leaves = (
    garbage_names
    | st.sampled_from(["${Env}", "${Res.Arn}", "${!x}", "${a b}", "${Nope}", "10.0.0.0/16", "::1/120", ",", "", "a,b"])
    | st.integers(-3, 300)
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.none()
)
garbage = st.recursive(
    garbage_leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(plain_keys, inner, max_size=3)
        | st.tuples(st.sampled_from([*FUNCTIONS, "Fn::Bogus"]), inner).map(lambda pair: {pair[0]: pair[1]})
    ),
    max_leaves=24,
)


@property_settings(1000)
@given(garbage)
def test_resolve_fails_only_with_template_errors(value: Any) -> None:
    try:
        resolve(value, garbage_context())
    except TemplateError as error:
        assert error.message


@property_settings(500)
@given(garbage, garbage)
def test_parsing_and_dependencies_fail_only_with_template_errors(properties: Any, condition: Any) -> None:
    doc = {
        "Parameters": {"Env": {"Type": "String", "Default": "prod"}},
        "Mappings": {"M": {"k": {"v": "x"}}},
        "Conditions": {"IsProd": condition},
        "Resources": {"Res": {"Type": "AWS::X::Y"}, "Other": {"Type": "AWS::X::Y", "Properties": {"P": properties}}},
        "Outputs": {"Out": {"Value": properties}},
    }
    try:
        template = parse_template(json.dumps(doc))
        conditions = evaluate_conditions(template, {"Env": "prod"}, {"AWS::Region": "us-east-1"})
        resource_dependencies(template, conditions)
        output_dependencies(template, conditions)
    except TemplateError as error:
        assert error.message


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, set[str]]:
    count = draw(st.integers(1, 9))
    nodes = [f"R{index}" for index in range(count)]
    return {node: set(draw(st.lists(st.sampled_from(nodes), max_size=3))) for node in nodes}


REFERENCE_FORMS = (
    lambda target: {"Ref": target},
    lambda target: {"Fn::GetAtt": [target, "Arn"]},
    lambda target: {"Fn::Sub": f"x-${{{target}}}-${{Env}}"},
    lambda target: {"Fn::Sub": ["${V}", {"V": {"Fn::GetAtt": f"{target}.Id"}}]},
    lambda target: {"Fn::If": ["Yes", {"Ref": target}, {"Ref": "AWS::NoValue"}]},
)


def on_cycle(graph: dict[str, set[str]]) -> set[str]:
    """Brute force: a node is on a cycle when it can reach itself."""
    cyclic = set()
    for start in graph:
        seen: set[str] = set()
        frontier = set(graph[start])
        while frontier:
            node = frontier.pop()
            if node == start:
                cyclic.add(start)
                break
            if node not in seen:
                seen.add(node)
                frontier |= graph[node]
    return cyclic


@property_settings(400)
@given(graphs(), st.data())
def test_cycles_are_found_exactly_and_order_is_topological(graph: dict[str, set[str]], data: st.DataObject) -> None:
    resources: dict[str, Any] = {}
    for node, needs in graph.items():
        body: dict[str, Any] = {"Type": "AWS::X::Y", "Properties": {"Decoy": {"Fn::If": ["No", {"Ref": node}, "x"]}}}
        for index, target in enumerate(sorted(needs)):
            if data.draw(st.booleans()):
                body.setdefault("DependsOn", []).append(target)
            else:
                form = data.draw(st.sampled_from(REFERENCE_FORMS))
                body["Properties"][f"P{index}"] = form(target)
        resources[node] = body
    doc = {
        "Parameters": {"Env": {"Type": "String", "Default": "e"}},
        "Conditions": {"Yes": {"Fn::Equals": ["a", "a"]}, "No": {"Fn::Equals": ["a", "b"]}},
        "Resources": resources,
    }
    template = parse_template(json.dumps(doc))
    conditions = evaluate_conditions(template, {"Env": "e"}, {})
    cyclic = on_cycle(graph)
    try:
        found = resource_dependencies(template, conditions)
    except TemplateError as error:
        assert cyclic, error.message
        assert error.message == f"Circular dependency between resources: [{', '.join(sorted(cyclic))}]"
        return
    assert not cyclic
    assert found == graph
    order = topological_order(found)
    assert sorted(order) == sorted(graph)
    position = {node: index for index, node in enumerate(order)}
    assert all(position[need] < position[node] for node, needs in found.items() for need in needs)


@property_settings(200)
@given(st.lists(st.text("abcxyz-_./:", min_size=1, max_size=6), min_size=1, max_size=6))
def test_comma_delimited_lists_split_back_into_their_items(items: list[str]) -> None:
    template = parse_template(
        json.dumps({"Parameters": {"P": {"Type": "CommaDelimitedList"}}, "Resources": {"R": {"Type": "AWS::X::Y"}}})
    )
    result = resolve_parameters(template, [{"ParameterKey": "P", "ParameterValue": ", ".join(items)}])
    assert result.values == {"P": items}
    assert result.described == [{"ParameterKey": "P", "ParameterValue": ", ".join(items)}]
