"""Which resources a resource or an output needs, and the order that gives.

A resource needs every resource it names through ``Ref``, ``Fn::GetAtt``, a ``${Name}`` or
``${Name.Attribute}`` of ``Fn::Sub``, or ``DependsOn`` — counting only the branches of ``Fn::If``
that the stack's conditions take, as CloudFormation does. Parameters and pseudo parameters are not
resources and never count.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ecslite.model.cfn.errors import TemplateError
from ecslite.model.cfn.intrinsics import PSEUDO, SUB_SHAPE, condition_value, get_att_target, if_parts, sub_names
from ecslite.model.cfn.template import Template, bracketed

# The parts of a resource that are not references to other resources.
_NOT_REFERENCES = ("Type", "Condition", "DependsOn", "DeletionPolicy", "UpdateReplacePolicy")


@dataclass(frozen=True, slots=True)
class Reference:
    """One name a value refers to: ``kind`` is "Ref" (also a plain ``${X}``), "GetAtt" (also
    ``${X.Y}``) or "If" (a condition an ``Fn::If`` tests); ``attribute`` is a GetAtt's attribute name
    when it is written out (not itself an intrinsic function)."""

    kind: str
    name: str
    attribute: str | None = None


def references(value: Any, conditions: Mapping[str, bool] | None = None) -> Iterator[Reference]:
    """Every reference inside ``value``; with ``conditions``, only inside the ``Fn::If`` branches taken."""
    if isinstance(value, list):
        for item in value:
            yield from references(item, conditions)
        return
    if not isinstance(value, dict):
        return
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            if not isinstance(arg, str):
                raise TemplateError("Template format error: Every Ref object must have a single String value.")
            yield Reference("Ref", arg)
            return
        if key == "Fn::GetAtt":
            resource, attribute = get_att_target(arg)
            yield Reference("GetAtt", resource, attribute if isinstance(attribute, str) else None)
            yield from references(attribute, conditions)
            return
        if key == "Fn::Sub":
            yield from _sub_references(arg, conditions)
            return
        if key == "Fn::If":
            name, when_true, when_false = if_parts(arg)
            yield Reference("If", name)
            if conditions is None:
                yield from references([when_true, when_false], conditions)
            else:
                yield from references(when_true if condition_value(name, conditions) else when_false, conditions)
            return
    for item in value.values():
        yield from references(item, conditions)


def _sub_references(arg: Any, conditions: Mapping[str, bool] | None) -> Iterator[Reference]:
    if isinstance(arg, str):
        source, variables = arg, {}
    elif isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) and isinstance(arg[1], dict):
        source, variables = arg
    else:
        raise TemplateError(SUB_SHAPE)
    for name in sub_names(source):
        if name in variables:
            continue
        if "." in name:
            resource, attribute = name.split(".", 1)
            yield Reference("GetAtt", resource, attribute)
        else:
            yield Reference("Ref", name)
    yield from references(list(variables.values()), conditions)


def resource_references(
    template: Template, body: Mapping[str, Any], conditions: Mapping[str, bool] | None = None
) -> Iterator[Reference]:
    """What one resource's body refers to (Properties, Metadata, policies), DependsOn as "Ref"s."""
    for key, value in body.items():
        if key not in _NOT_REFERENCES:
            yield from references(value, conditions)
    for name in depends_on(body):
        yield Reference("Ref", name)


def get_att_uses(template: Template) -> set[tuple[str, str]]:
    """Every (resource, attribute) the template reads with ``Fn::GetAtt`` or ``${Resource.Attribute}``,
    in any branch, for checking attribute names against the resource types before anything runs."""
    uses = set()
    parts = [body for body in template.resources.values()] + [template.outputs]
    for reference in references(parts):
        if reference.kind == "GetAtt" and reference.attribute is not None:
            uses.add((reference.name, reference.attribute))
    return uses


def depends_on(body: Mapping[str, Any]) -> list[str]:
    value = body.get("DependsOn", [])
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        # unverified: CloudFormation's text for a DependsOn that is not a string or a list of strings.
        raise TemplateError("Template format error: DependsOn must be a string or a list of strings")
    return names


def active_resources(template: Template, conditions: Mapping[str, bool]) -> set[str]:
    """The resources the stack has: those without a Condition, or whose Condition holds."""
    active = set()
    for name, body in template.resources.items():
        condition = body.get("Condition")
        if condition is None or conditions.get(condition, False):
            active.add(name)
    return active


def _needed(template: Template, value_refs: Iterator[Reference], active: set[str], block: str) -> set[str]:
    """The resources ``value_refs`` name, refusing those the stack does not have."""
    needed: set[str] = set()
    missing: set[str] = set()
    try:
        found = list(value_refs)
    except RecursionError:
        raise TemplateError("Template format error: the template nests values too deeply") from None  # unverified
    for reference in found:
        if reference.kind == "If" or reference.name in PSEUDO or reference.name in template.parameters:
            continue
        if reference.name in active:
            needed.add(reference.name)
        else:
            missing.add(reference.name)
    if missing:
        raise TemplateError(
            f"Template format error: Unresolved resource dependencies {bracketed(sorted(missing))} in the {block} block"
            " of the template"
        )
    return needed


def resource_dependencies(template: Template, conditions: Mapping[str, bool]) -> dict[str, set[str]]:
    """For every resource the stack has, the resources it needs; refuses references to resources the
    conditions leave out, and cycles (naming every resource on one, sorted)."""
    active = active_resources(template, conditions)
    graph = {}
    for name, body in template.resources.items():
        if name in active:
            graph[name] = _needed(template, resource_references(template, body, conditions), active, "Resources")
    cyclic = cycle_members(graph)
    if cyclic:
        raise TemplateError(f"Circular dependency between resources: {bracketed(sorted(cyclic))}")
    return graph


def output_dependencies(template: Template, conditions: Mapping[str, bool]) -> dict[str, set[str]]:
    """For every output whose Condition holds, the resources its Value and Export need."""
    active = active_resources(template, conditions)
    graph = {}
    for name, body in template.outputs.items():
        condition = body.get("Condition")
        if condition is not None and not conditions.get(condition, False):
            continue
        parts = [body.get("Value"), body.get("Export")]
        graph[name] = _needed(template, references(parts, conditions), active, "Outputs")
    return graph


def cycle_members(graph: Mapping[str, set[str]]) -> set[str]:
    """The nodes on some cycle: members of a strongly connected component of more than one node, or
    with an edge to themselves (Tarjan's algorithm, iterative so deep chains don't overflow)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    members: set[str] = set()
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.get(successor, ())))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    members.update(component)
    return members


def topological_order(graph: Mapping[str, set[str]]) -> list[str]:
    """Every node after all it needs; among nodes ready at once, by name. Raises on a cycle."""
    waiting = {node: set(needs) & set(graph) for node, needs in graph.items()}
    needed_by: dict[str, list[str]] = {node: [] for node in graph}
    for node, needs in waiting.items():
        for need in needs:
            needed_by[need].append(node)
    ready = [node for node, needs in waiting.items() if not needs]
    heapq.heapify(ready)
    order = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for dependant in needed_by[node]:
            waiting[dependant].discard(node)
            if not waiting[dependant]:
                heapq.heappush(ready, dependant)
    if len(order) < len(graph):
        raise TemplateError(f"Circular dependency between resources: {bracketed(sorted(cycle_members(graph)))}")
    return order
