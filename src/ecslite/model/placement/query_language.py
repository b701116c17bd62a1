"""The cluster query language (spec/ecs.md §5.4): memberOf constraints and ListContainerInstances
``filter`` expressions.

An expression is ``subject operator [argument]``, combined with ``&&``/``and``, ``||``/``or``,
``!``/``not`` and parentheses (``not`` binds tightest, then ``and``, then ``or``). It is parsed by a
real grammar (lark, LALR with a contextual lexer, so an operator word such as ``in`` after a
subject is an operator, and a word after an operator is a value), checked (each subject takes only
its operators, values of the right kind, regular expressions that compile) and compiled once into
a predicate over an instance's :class:`Facts`; :func:`parse` caches the result by text.

Meaning of each subject:

- ``attribute:<name>``: the instance's attribute. Comparisons need the attribute to be present
  (``attribute:x != y`` does not match an instance without ``x``, as in ECS); ordering compares
  numbers as numbers, dotted versions part by part, anything else as text.
- ``agentConnected`` (``true``/``false``), ``ec2InstanceId`` (text), ``agentVersion`` (dotted
  version), ``runningTasksCount`` (integer), ``registeredAt`` (dates ``2018-06-18T22:28:28+00:00``,
  ``…Z``, ``2018-06-18T22:28:28`` or ``2018-06-18``, UTC unless an offset is given).
- ``task:group``: the groups of the tasks on the instance. A positive operator matches when any
  task's group matches; its negation (``!=``, ``not_in``, ``!~``) when none does, so
  ``task:group != database`` and ``not(task:group == database)`` agree.

``=~``/``matches`` take a Java-style regular expression matched against the whole value
(``String.matches``). Invalid expressions raise :class:`QueryError` with a sentence saying what is
wrong; callers turn it into ``InvalidParameterException``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

import regex
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

MAX_EXPRESSION_LENGTH = 2000  # the API model's limit for placement constraint expressions
CACHE_SIZE = 4096

GRAMMAR = r"""
?start: disjunction
?disjunction: conjunction (OR conjunction)*
?conjunction: negation (AND negation)*
?negation: NOT negation -> negate
         | atom
?atom: "(" disjunction ")"
     | SUBJECT OPERATOR argument   -> compare
     | SUBJECT EXISTS              -> existence
argument: value | "[" value ("," value)* "]"
value: VALUE | STRING

SUBJECT: /attribute:[A-Za-z0-9_.\-\/\\:@*]+/
       | /task:group/
       | /agentConnected|agentVersion|ec2InstanceId|registeredAt|runningTasksCount/
OPERATOR.2: /==|!=|>=|<=|=~|!~|>|</
          | /(?i:greater_than_equal|less_than_equal|greater_than|less_than|not_equals|equals)(?![A-Za-z0-9_])/
          | /(?i:not_matches|matches|not_in|!in|in)(?![A-Za-z0-9_])/
EXISTS.2: /(?i:!exists|not_exists|exists)(?![A-Za-z0-9_])/
AND.2: /&&|(?i:and)(?![A-Za-z0-9_])/
OR.2: /\|\||(?i:or)(?![A-Za-z0-9_])/
NOT.2: /!|(?i:not)(?![A-Za-z0-9_])/
STRING: /"[^"]*"/ | /'[^']*'/
VALUE: /[^\s()\[\],"'&]+/

%import common.WS
%ignore WS
"""


class QueryError(ValueError):
    """An expression that does not parse or does not make sense; the message says why."""


class Operator(StrEnum):
    EQ = "=="
    NE = "!="
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    EXISTS = "exists"
    NOT_EXISTS = "!exists"
    IN = "in"
    NOT_IN = "not_in"
    MATCHES = "=~"
    NOT_MATCHES = "!~"


_WORDS = {
    "==": Operator.EQ,
    "equals": Operator.EQ,
    "!=": Operator.NE,
    "not_equals": Operator.NE,
    ">": Operator.GT,
    "greater_than": Operator.GT,
    ">=": Operator.GE,
    "greater_than_equal": Operator.GE,
    "<": Operator.LT,
    "less_than": Operator.LT,
    "<=": Operator.LE,
    "less_than_equal": Operator.LE,
    "exists": Operator.EXISTS,
    "!exists": Operator.NOT_EXISTS,
    "not_exists": Operator.NOT_EXISTS,
    "in": Operator.IN,
    "!in": Operator.NOT_IN,
    "not_in": Operator.NOT_IN,
    "=~": Operator.MATCHES,
    "matches": Operator.MATCHES,
    "!~": Operator.NOT_MATCHES,
    "not_matches": Operator.NOT_MATCHES,
}
_ORDERING = frozenset({Operator.EQ, Operator.NE, Operator.GT, Operator.GE, Operator.LT, Operator.LE})
_TEXTUAL = frozenset({Operator.EQ, Operator.NE, Operator.IN, Operator.NOT_IN, Operator.MATCHES, Operator.NOT_MATCHES})
# §5.4: which operators each subject takes (attributes and task groups take all of them).
_ALLOWED: dict[str, frozenset[Operator]] = {
    "agentConnected": _TEXTUAL,
    "ec2InstanceId": _TEXTUAL,
    "agentVersion": _ORDERING,
    "runningTasksCount": _ORDERING,
    "registeredAt": _ORDERING,
}
_NEGATED = {
    Operator.NE: Operator.EQ,
    Operator.NOT_IN: Operator.IN,
    Operator.NOT_MATCHES: Operator.MATCHES,
    Operator.NOT_EXISTS: Operator.EXISTS,
}
# Subjects whose value changes as tasks are placed: the engine re-checks them after each placement.
DYNAMIC_SUBJECTS = frozenset({"runningTasksCount", "task:group"})


class Facts(Protocol):
    """What an expression can ask about a container instance."""

    @property
    def attributes(self) -> Mapping[str, str | None]: ...

    @property
    def agent_connected(self) -> bool: ...

    @property
    def ec2_instance_id(self) -> str: ...

    @property
    def agent_version(self) -> str: ...

    @property
    def running_tasks_count(self) -> int: ...

    @property
    def registered_at(self) -> float: ...

    @property
    def task_groups(self) -> Mapping[str, int]: ...


Predicate = Callable[[Facts], bool]


# -- syntax tree -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    subject: str
    operator: Operator
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]


Node = Comparison | Not | And | Or


@v_args(inline=True)
class _ToTree(Transformer[Token, Node]):
    def disjunction(self, *parts: Node | Token) -> Node:
        return Or(tuple(p for p in parts if not isinstance(p, Token)))

    def conjunction(self, *parts: Node | Token) -> Node:
        return And(tuple(p for p in parts if not isinstance(p, Token)))

    def negate(self, _token: Token, operand: Node) -> Node:
        return Not(operand)

    def compare(self, subject: Token, operator: Token, values: tuple[str, ...]) -> Node:
        return Comparison(str(subject), _WORDS[str(operator).lower()], values)

    def existence(self, subject: Token, operator: Token) -> Node:
        return Comparison(str(subject), _WORDS[str(operator).lower()])

    def argument(self, *values: str) -> tuple[str, ...]:
        return tuple(values)

    def value(self, token: Token) -> str:
        text = str(token)
        return text[1:-1] if token.type == "STRING" else text


_PARSER = Lark(GRAMMAR, parser="lalr", lexer="contextual", maybe_placeholders=False)


# -- compiled expressions --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed, checked expression and the predicate it compiles to."""

    text: str
    tree: Node
    predicate: Predicate
    dynamic: bool  # reads runningTasksCount or task:group

    def matches(self, facts: Facts) -> bool:
        return self.predicate(facts)


@functools.lru_cache(maxsize=CACHE_SIZE)
def parse(text: str) -> Expression:
    """The expression ``text`` parsed and compiled (cached); raises :class:`QueryError`."""
    if not text or not text.strip():
        raise QueryError("The expression is empty.")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise QueryError(f"The expression is longer than {MAX_EXPRESSION_LENGTH} characters.")
    tree = parse_tree(text)
    return Expression(text, tree, _compile(tree), _is_dynamic(tree))


def parse_tree(text: str) -> Node:
    try:
        parsed = _PARSER.parse(text)
    except UnexpectedInput as error:
        raise QueryError(_syntax_message(text, error)) from None
    except LarkError as error:  # pragma: no cover - any other grammar failure
        raise QueryError(f"The expression could not be parsed: {error}") from None
    tree = _ToTree().transform(parsed)
    if not isinstance(tree, Comparison | Not | And | Or):  # pragma: no cover - the grammar rules it out
        raise QueryError("The expression has no comparison.")
    return tree


def _syntax_message(text: str, error: UnexpectedInput) -> str:
    if isinstance(error, UnexpectedEOF) or (isinstance(error, UnexpectedToken) and error.token.type == "$END"):
        return f"The expression '{text}' ends too early."
    column = getattr(error, "column", None)
    where = f" at position {column}" if isinstance(column, int) and column > 0 else ""
    if isinstance(error, UnexpectedToken):
        return f"Unexpected '{error.token}'{where} in the expression '{text}'."
    if isinstance(error, UnexpectedCharacters) and error.pos_in_stream is not None:
        return f"Unexpected character '{text[error.pos_in_stream]}'{where} in the expression '{text}'."
    return f"The expression '{text}' is not valid{where}."


def _is_dynamic(node: Node) -> bool:
    if isinstance(node, Comparison):
        return node.subject in DYNAMIC_SUBJECTS
    if isinstance(node, Not):
        return _is_dynamic(node.operand)
    return any(_is_dynamic(n) for n in node.operands)


def _compile(node: Node) -> Predicate:
    if isinstance(node, Comparison):
        return _comparison(node)
    if isinstance(node, Not):
        inner = _compile(node.operand)
        return lambda facts: not inner(facts)
    parts = tuple(_compile(n) for n in node.operands)
    if isinstance(node, And):
        return lambda facts: all(p(facts) for p in parts)
    return lambda facts: any(p(facts) for p in parts)


def _comparison(node: Comparison) -> Predicate:
    subject, operator, values = node.subject, node.operator, node.values
    allowed = _ALLOWED.get(subject)
    if allowed is not None and operator not in allowed:
        raise QueryError(f"The operator '{operator.value}' cannot be used with {subject}.")
    if operator in (Operator.EXISTS, Operator.NOT_EXISTS):
        if values:  # pragma: no cover - the grammar rules it out
            raise QueryError(f"'{operator.value}' takes no value.")
    elif operator not in (Operator.IN, Operator.NOT_IN) and len(values) != 1:
        raise QueryError(f"The operator '{operator.value}' takes one value, not a list.")
    if subject.startswith("attribute:"):
        name = subject.split(":", 1)[1]
        return _on_value(lambda f: f.attributes.get(name), lambda f: name in f.attributes, operator, values)
    if subject == "task:group":
        return _on_groups(operator, values)
    if subject == "agentConnected":
        flags = tuple(_boolean(v) for v in values)
        return _on_typed(lambda f: f.agent_connected, operator, flags)
    if subject == "ec2InstanceId":
        return _on_value(lambda f: f.ec2_instance_id, lambda f: True, operator, values)
    if subject == "agentVersion":
        wanted_versions = tuple(_version(v) for v in values)
        return _on_typed(lambda f: _version(f.agent_version, strict=False), operator, wanted_versions)
    if subject == "runningTasksCount":
        counts = tuple(_integer(v) for v in values)
        return _on_typed(lambda f: f.running_tasks_count, operator, counts)
    if subject == "registeredAt":
        stamps = tuple(_date(v) for v in values)
        return _on_typed(lambda f: f.registered_at, operator, stamps)
    raise QueryError(f"Unknown subject '{subject}'.")  # pragma: no cover - the grammar rules it out


def _on_value(
    read: Callable[[Facts], str | None], present: Callable[[Facts], bool], operator: Operator, values: tuple[str, ...]
) -> Predicate:
    """A comparison of one optional text value; every comparison needs the value present."""
    if operator is Operator.EXISTS:
        return present
    if operator is Operator.NOT_EXISTS:
        return lambda f: not present(f)
    test = _text_test(operator, values)

    def predicate(facts: Facts) -> bool:
        if not present(facts):
            return False
        value = read(facts)
        return value is not None and test(value)

    return predicate


def _on_groups(operator: Operator, values: tuple[str, ...]) -> Predicate:
    """``task:group``: positive operators match any group on the instance, negations match none."""
    positive = _NEGATED.get(operator, operator)
    if positive is Operator.EXISTS:
        test: Callable[[str], bool] = lambda group: True  # noqa: E731
    else:
        test = _text_test(positive, values)

    def any_group(facts: Facts) -> bool:
        return any(count > 0 and test(group) for group, count in facts.task_groups.items())

    if operator in _NEGATED:
        return lambda facts: not any_group(facts)
    return any_group


def _text_test(operator: Operator, values: tuple[str, ...]) -> Callable[[str], bool]:
    if operator in (Operator.MATCHES, Operator.NOT_MATCHES):
        pattern = _regex(values[0])
        if operator is Operator.MATCHES:
            return lambda v: pattern.fullmatch(v) is not None
        return lambda v: pattern.fullmatch(v) is None
    if operator is Operator.IN:
        allowed = frozenset(values)
        return lambda v: v in allowed
    if operator is Operator.NOT_IN:
        refused = frozenset(values)
        return lambda v: v not in refused
    wanted = values[0]
    if operator is Operator.EQ:
        return lambda v: v == wanted
    if operator is Operator.NE:
        return lambda v: v != wanted
    return lambda v: _ordered(operator, _order_key(v), _order_key(wanted))


def _on_typed(read: Callable[[Facts], object], operator: Operator, values: tuple[object, ...]) -> Predicate:
    if operator is Operator.IN:
        return lambda f: read(f) in values
    if operator is Operator.NOT_IN:
        return lambda f: read(f) not in values
    if operator in (Operator.MATCHES, Operator.NOT_MATCHES):
        pattern = _regex(str(values[0]).lower() if isinstance(values[0], bool) else str(values[0]))
        positive = operator is Operator.MATCHES

        def matcher(f: Facts) -> bool:
            value = read(f)
            text = str(value).lower() if isinstance(value, bool) else str(value)
            return (pattern.fullmatch(text) is not None) is positive

        return matcher
    wanted = values[0]
    return lambda f: _ordered(operator, read(f), wanted)


def _ordered(operator: Operator, left: object, right: object) -> bool:
    try:
        if operator is Operator.EQ:
            return left == right
        if operator is Operator.NE:
            return left != right
        if operator is Operator.GT:
            return bool(left > right)  # type: ignore[operator]
        if operator is Operator.GE:
            return bool(left >= right)  # type: ignore[operator]
        if operator is Operator.LT:
            return bool(left < right)  # type: ignore[operator]
        return bool(left <= right)  # type: ignore[operator]
    except TypeError:
        return False  # values of different kinds never compare (a number against text)


_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_VERSION = re.compile(r"\d+(\.\d+)+")


def _order_key(text: str) -> tuple[int, object]:
    """How attribute values order: numbers, then dotted versions, then text, never mixed."""
    if _NUMBER.fullmatch(text):
        return (0, float(text))
    if _VERSION.fullmatch(text):
        return (1, tuple(int(p) for p in text.split(".")))
    return (2, text)


def _regex(text: str) -> regex.Pattern[str]:
    try:
        return regex.compile(text)
    except regex.error as error:
        raise QueryError(f"'{text}' is not a valid regular expression: {error}.") from None


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise QueryError(f"agentConnected takes true or false, not '{text}'.")
    return lowered == "true"


def _integer(text: str) -> int:
    if not re.fullmatch(r"-?\d+", text):
        raise QueryError(f"runningTasksCount takes a whole number, not '{text}'.")
    return int(text)


def _version(text: str, *, strict: bool = True) -> tuple[int, ...]:
    if not re.fullmatch(r"\d+(\.\d+)*", text):
        if strict:
            raise QueryError(f"agentVersion takes a version such as 1.14.5, not '{text}'.")
        return ()
    return tuple(int(p) for p in text.split("."))


def _date(text: str) -> float:
    """§5.4 date forms; a date without an offset is UTC."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(
            f"registeredAt takes a date such as 2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28Z, "
            f"2018-06-18T22:28:28 or 2018-06-18, not '{text}'."
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


@dataclass(frozen=True, slots=True)
class PlainFacts:
    """Facts as plain values (ListContainerInstances builds these from stored instances)."""

    attributes: Mapping[str, str | None]
    agent_connected: bool = True
    ec2_instance_id: str = ""
    agent_version: str = ""
    running_tasks_count: int = 0
    registered_at: float = 0.0
    task_groups: Mapping[str, int] = field(default_factory=dict)


def subjects(node: Node) -> Collection[str]:
    """Every subject an expression reads."""
    if isinstance(node, Comparison):
        return {node.subject}
    if isinstance(node, Not):
        return subjects(node.operand)
    out: set[str] = set()
    for operand in node.operands:
        out.update(subjects(operand))
    return out
