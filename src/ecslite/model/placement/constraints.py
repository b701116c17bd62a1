"""Placement constraints (spec/ecs.md §5.4): ``distinctInstance`` and ``memberOf``.

Constraints are binding (strategies are best effort): an instance that breaks one never gets the
task. ``distinctInstance`` keeps the tasks of one group (a service's ``service:<name>``, RunTask's
``group``) on different instances; ``memberOf`` admits the instances its cluster query language
expression matches. A task definition may carry ``memberOf`` constraints only; the engine applies
them together with the launch's own (RunTask, CreateService).

Expressions are parsed once (``query_language.parse`` caches them); a constraint knows whether it
reads what placing a task changes (the instance's task groups or running-task count), so the
engine only re-checks those after each placement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ecslite.model.placement.query_language import Expression, Facts, QueryError, parse
from ecslite.model.placement.strategies import PlacementInputError

MAX_CONSTRAINTS = 10  # §5.4 (unverified)

# ECS's texts for unmet constraints (the reasons tasks waiting for capacity show, §5.2).
MEMBER_OF_UNSATISFIED = "MemberOf placement constraint unsatisfied"
DISTINCT_INSTANCE_UNSATISFIED = "DistinctInstance placement constraint unsatisfied"
# ECS-like texts (unverified), one place to correct them.
TOO_MANY_CONSTRAINTS = f"placementConstraints can have at most {MAX_CONSTRAINTS} items."
EXPRESSION_REQUIRED = "An expression must be specified for a memberOf placement constraint."
EXPRESSION_FORBIDDEN = "An expression cannot be specified for a distinctInstance placement constraint."
DISTINCT_IN_DEFINITION = "The distinctInstance placement constraint is not supported in task definitions."
UNKNOWN_TYPE = "Invalid placement constraint type '{type}': use distinctInstance or memberOf."
INVALID_EXPRESSION = "Invalid placement constraint expression '{expression}'. {detail}"


class ConstraintType(StrEnum):
    DISTINCT_INSTANCE = "distinctInstance"
    MEMBER_OF = "memberOf"


@dataclass(frozen=True, slots=True)
class Constraint:
    type: ConstraintType
    expression: Expression | None = None

    @property
    def dynamic(self) -> bool:
        """True when placing a task can change whether an instance meets the constraint."""
        return self.type is ConstraintType.DISTINCT_INSTANCE or bool(self.expression and self.expression.dynamic)

    @property
    def unsatisfied(self) -> str:
        return DISTINCT_INSTANCE_UNSATISFIED if self.type is ConstraintType.DISTINCT_INSTANCE else MEMBER_OF_UNSATISFIED

    def allows(self, facts: Facts, group: str) -> bool:
        if self.type is ConstraintType.DISTINCT_INSTANCE:
            return facts.task_groups.get(group, 0) <= 0
        assert self.expression is not None
        return self.expression.matches(facts)

    def to_api(self) -> dict[str, str]:
        out = {"type": self.type.value}
        if self.expression is not None:
            out["expression"] = self.expression.text
        return out


def parse_constraints(
    items: Sequence[Mapping[str, Any]] | None, *, in_definition: bool = False
) -> tuple[Constraint, ...]:
    """The API's ``placementConstraints``, checked and compiled; raises :class:`PlacementInputError`."""
    items = items or ()
    if len(items) > MAX_CONSTRAINTS:
        raise PlacementInputError(TOO_MANY_CONSTRAINTS)
    return tuple(parse_constraint(item, in_definition=in_definition) for item in items)


def parse_constraint(item: Mapping[str, Any], *, in_definition: bool = False) -> Constraint:
    kind = str(item.get("type") or "")
    expression = item.get("expression")
    if kind == ConstraintType.DISTINCT_INSTANCE:
        if in_definition:
            raise PlacementInputError(DISTINCT_IN_DEFINITION)
        if expression:
            raise PlacementInputError(EXPRESSION_FORBIDDEN)
        return Constraint(ConstraintType.DISTINCT_INSTANCE)
    if kind == ConstraintType.MEMBER_OF:
        if not expression:
            raise PlacementInputError(EXPRESSION_REQUIRED)
        return Constraint(ConstraintType.MEMBER_OF, compile_expression(str(expression)))
    raise PlacementInputError(UNKNOWN_TYPE.format(type=kind))


def compile_expression(text: str) -> Expression:
    try:
        return parse(text)
    except QueryError as error:
        raise PlacementInputError(INVALID_EXPRESSION.format(expression=text, detail=error)) from None


def first_unmet(constraints: Sequence[Constraint], facts: Facts, group: str) -> Constraint | None:
    for constraint in constraints:
        if not constraint.allows(facts, group):
            return constraint
    return None
