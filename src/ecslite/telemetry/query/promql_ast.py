"""PromQL syntax tree: the ``promql-parser`` package parses and type-checks a query (it follows
Prometheus' own grammar), and :func:`parse` copies its tree into the plain dataclasses below.

Why a copy: the parser's nodes are Rust objects whose attribute reads build new Python objects on
every access, so they can neither be keyed by identity (the evaluator caches per node) nor read
cheaply once per evaluation step. Times here are integer milliseconds, as in Prometheus.

Invariants: ``@ start()`` / ``@ end()`` stay symbolic (:class:`At` with ``kind`` ``start``/``end``)
until the evaluator knows the query's range; a selector's matchers always include the metric name
as a ``__name__`` equality matcher when the query wrote one.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from datetime import timedelta

import promql_parser

from ecslite.telemetry.store.matchers import Matcher

_MATCH_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}


def _register_prometheus2_functions() -> None:
    """``holt_winters`` is Prometheus 2's name for ``double_exponential_smoothing``; the parser only
    knows the Prometheus 3 name, and Grafana dashboards use both."""
    kinds = promql_parser.ValueType
    holt_winters = promql_parser.Function("holt_winters", [kinds.Matrix, kinds.Scalar, kinds.Scalar], kinds.Vector)
    with contextlib.suppress(ValueError):  # registered already (the registry is process-wide)
        promql_parser.register_extra_functions([holt_winters])


_register_prometheus2_functions()


class ParseError(ValueError):
    """The query is not valid PromQL (Prometheus answers ``bad_data``)."""


@dataclass(frozen=True, slots=True)
class At:
    kind: str  # "at" | "start" | "end"
    ms: int = 0


@dataclass(eq=False, slots=True)
class Node:
    pass


@dataclass(eq=False, slots=True)
class NumberLit(Node):
    value: float


@dataclass(eq=False, slots=True)
class StringLit(Node):
    value: str


@dataclass(eq=False, slots=True)
class VectorSel(Node):
    matchers: tuple[Matcher, ...]
    or_groups: tuple[tuple[Matcher, ...], ...] = ()
    offset_ms: int = 0
    at: At | None = None

    def groups(self) -> tuple[tuple[Matcher, ...], ...]:
        """Matcher sets whose union the selector selects (``{a="1" or b="2"}`` has two)."""
        return self.or_groups or (self.matchers,)


@dataclass(eq=False, slots=True)
class MatrixSel(Node):
    selector: VectorSel
    range_ms: int


@dataclass(eq=False, slots=True)
class Subquery(Node):
    expr: Node
    range_ms: int
    step_ms: int | None
    offset_ms: int = 0
    at: At | None = None


@dataclass(eq=False, slots=True)
class Call(Node):
    name: str
    args: list[Node] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class Aggregate(Node):
    op: str
    expr: Node
    param: Node | None
    labels: tuple[str, ...] = ()
    without: bool = False


@dataclass(eq=False, slots=True)
class Binary(Node):
    op: str
    lhs: Node
    rhs: Node
    return_bool: bool = False
    card: str = "one-to-one"  # one-to-one | many-to-one | one-to-many | many-to-many
    on: bool = False
    matching: tuple[str, ...] = ()
    include: tuple[str, ...] = ()


@dataclass(eq=False, slots=True)
class Unary(Node):
    expr: Node  # negation: the parser folds unary plus away


@dataclass(eq=False, slots=True)
class Paren(Node):
    expr: Node


SET_OPERATORS = frozenset({"and", "or", "unless"})
COMPARISONS = frozenset({"==", "!=", ">", "<", ">=", "<="})
_CARDINALITY = {
    "VectorMatchCardinality.OneToOne": "one-to-one",
    "VectorMatchCardinality.ManyToOne": "many-to-one",
    "VectorMatchCardinality.OneToMany": "one-to-many",
    "VectorMatchCardinality.ManyToMany": "many-to-many",
}


def parse(query: str) -> Node:
    """Parse and type-check ``query``; :class:`ParseError` with the parser's message otherwise."""
    if not query.strip():
        raise ParseError("no expression found in input")
    try:
        tree = promql_parser.parse(query)
        return _convert(tree)
    except ParseError:
        raise
    except re.error as error:
        raise ParseError(f"invalid regular expression: {error}") from None
    except ValueError as error:
        raise ParseError(str(error)) from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # the Rust parser panics (pyo3 PanicException) on some inputs
        raise ParseError(f"unsupported expression: {error}") from None


def format_query(query: str) -> str:
    """The query pretty-printed by the parser (``/api/v1/format_query``)."""
    parse(query)  # the same errors as evaluation
    return str(promql_parser.parse(query).prettify())


def _ms(delta: timedelta | None) -> int:
    if delta is None:
        return 0
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def _at(at: object | None) -> At | None:
    if at is None:
        return None
    kind = str(getattr(at, "type", ""))
    if kind.endswith("Start"):
        return At("start")
    if kind.endswith("End"):
        return At("end")
    try:
        moment = at.at  # type: ignore[attr-defined]
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:
        # The parser cannot represent times before 1970 (it panics reading them back).
        raise ParseError("@ modifier timestamps before 1970 are not supported") from None
    return At("at", round(moment.timestamp() * 1000))


def _matchers(raw: object) -> tuple[Matcher, ...]:
    out = []
    for m in raw:  # type: ignore[attr-defined]
        out.append(Matcher(m.name, _MATCH_OPS[str(m.op).split("(")[0]], m.value))
    return tuple(out)


def _selector(e: promql_parser.VectorSelector) -> VectorSel:
    matchers = _matchers(e.matchers.matchers)
    name_matcher: tuple[Matcher, ...] = ()
    if e.name is not None and not any(m.name == "__name__" for m in matchers):
        name_matcher = (Matcher("__name__", "=", e.name),)
    groups = tuple(name_matcher + _matchers(group) for group in e.matchers.or_matchers)
    return VectorSel(name_matcher + matchers, groups, _ms(e.offset), _at(e.at))


def _convert(e: object) -> Node:
    if isinstance(e, promql_parser.NumberLiteral):
        return NumberLit(float(e.val))
    if isinstance(e, promql_parser.StringLiteral):
        return StringLit(e.val)
    if isinstance(e, promql_parser.VectorSelector):
        return _selector(e)
    if isinstance(e, promql_parser.MatrixSelector):
        return MatrixSel(_selector(e.vector_selector), _ms(e.range))
    if isinstance(e, promql_parser.SubqueryExpr):
        step = _ms(e.step) if e.step is not None else None
        return Subquery(_convert(e.expr), _ms(e.range), step or None, _ms(e.offset), _at(e.at))
    if isinstance(e, promql_parser.ParenExpr):
        return Paren(_convert(e.expr))
    if isinstance(e, promql_parser.UnaryExpr):
        return Unary(_convert(e.expr))
    if isinstance(e, promql_parser.Call):
        return Call(e.func.name, [_convert(a) for a in e.args])
    if isinstance(e, promql_parser.AggregateExpr):
        return _aggregate(e)
    if isinstance(e, promql_parser.BinaryExpr):
        return _binary(e)
    raise ParseError(f"unsupported expression type {type(e).__name__}")


def _aggregate(e: promql_parser.AggregateExpr) -> Aggregate:
    modifier = e.modifier
    labels: tuple[str, ...] = ()
    without = False
    if modifier is not None:
        labels = tuple(modifier.labels)
        without = str(modifier.type).endswith("Without")
    param = _convert(e.param) if e.param is not None else None
    return Aggregate(str(e.op), _convert(e.expr), param, labels, without)


def _binary(e: promql_parser.BinaryExpr) -> Binary:
    op = str(e.op)
    node = Binary(op, _convert(e.lhs), _convert(e.rhs))
    if op in SET_OPERATORS:
        node.card = "many-to-many"
    modifier = e.modifier
    if modifier is None:
        return node
    node.return_bool = bool(modifier.return_bool)
    node.card = _CARDINALITY.get(str(modifier.card), node.card)
    if modifier.matching is not None:
        node.on = str(modifier.matching.type).endswith("Include")
        node.matching = tuple(modifier.matching.labels)
    node.include = tuple(modifier.group_labels or ())
    return node


def walk(node: Node) -> list[Node]:
    """``node`` and every node below it, parents first."""
    out: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(reversed(children(current)))
    return out


def children(node: Node) -> list[Node]:
    if isinstance(node, MatrixSel):
        return [node.selector]
    if isinstance(node, Subquery | Paren | Unary):
        return [node.expr]
    if isinstance(node, Call):
        return list(node.args)
    if isinstance(node, Aggregate):
        return [node.expr] if node.param is None else [node.param, node.expr]
    if isinstance(node, Binary):
        return [node.lhs, node.rhs]
    return []


def unwrap(node: Node) -> Node:
    while isinstance(node, Paren):
        node = node.expr
    return node
