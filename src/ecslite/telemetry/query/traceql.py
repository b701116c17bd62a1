"""TraceQL, the forms Grafana's Tempo data source sends (spec/telemetry.md §7.3): spansets
``{ cond }`` (``{}`` = any span) joined by ``&&``/``||``, conditions with ``&&``, ``||``, ``!`` and
parentheses, comparisons ``= != > >= < <= =~ !~``.

Attributes: ``resource.<k>``, ``span.<k>``, unscoped ``.<k>`` (span first, then resource) and the
intrinsics ``name``, ``status`` (``error|ok|unset``), ``kind`` (``server|client|producer|consumer|
internal|unspecified``), ``duration``, ``statusMessage``, ``rootName``, ``rootServiceName``,
``traceDuration`` with their colon forms (``span:status``, ``trace:rootService``, ...). Values:
strings, numbers, durations (``100ms``), booleans, keywords and ``nil`` (``!= nil``: the
attribute is set).

Semantics kept from Tempo: a missing attribute makes every comparison false (``!=`` included);
regexes are fully anchored; ``{A} && {B}`` needs a span matching A and one matching B in the same
trace. Structural operators and pipelines (``>>``, ``| count()``) are not supported: they are
refused with a parse error rather than answered wrongly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ecslite.telemetry.query.params import go_duration_ns
from ecslite.telemetry.span_records import SpanKind, StatusCode
from ecslite.telemetry.store import StoredSpan, TraceSummary


class TraceQLError(ValueError):
    pass


STATUS = {"unset": StatusCode.UNSET, "ok": StatusCode.OK, "error": StatusCode.ERROR}
KIND = {
    "unspecified": SpanKind.UNSPECIFIED,
    "internal": SpanKind.INTERNAL,
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}
STATUS_NAMES: dict[int, str] = {int(v): k for k, v in STATUS.items()}
KIND_NAMES: dict[int, str] = {int(v): k for k, v in KIND.items()}
INTRINSICS = {
    "name": "name",
    "span:name": "name",
    "status": "status",
    "span:status": "status",
    "kind": "kind",
    "span:kind": "kind",
    "duration": "duration",
    "span:duration": "duration",
    "statusMessage": "statusMessage",
    "span:statusMessage": "statusMessage",
    "rootName": "rootName",
    "trace:rootName": "rootName",
    "rootServiceName": "rootServiceName",
    "trace:rootService": "rootServiceName",
    "traceDuration": "traceDuration",
    "trace:duration": "traceDuration",
}
INTRINSIC_TAGS = sorted(
    {"duration", "kind", "name", "rootName", "rootServiceName", "status", "statusMessage", "traceDuration"}
)

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)
    |(?P<duration>\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))*)(?![\w.])
    |(?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?![\w.])
    |(?P<op>&&|\|\||=~|!~|!=|>=|<=|=|>|<|!|\{|\}|\(|\)|\||>>|<<|~)
    |(?P<ident>[A-Za-z_.][A-Za-z0-9_.:/-]*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Context:
    """What a condition may read beyond the span itself."""

    trace: Callable[[bytes], TraceSummary | None]


Predicate = Callable[[StoredSpan, dict[str, object], Context], bool]


@dataclass(frozen=True, slots=True)
class Spanset:
    """One ``{ ... }``: ``predicate`` is None for ``{}``."""

    predicate: Predicate | None
    index: int

    def matches(self, span: StoredSpan, attrs: dict[str, object], ctx: Context) -> bool:
        return True if self.predicate is None else self.predicate(span, attrs, ctx)


@dataclass(frozen=True, slots=True)
class SpansetOp:
    op: str  # "&&" | "||"
    lhs: SpansetExpr
    rhs: SpansetExpr


SpansetExpr = Spanset | SpansetOp


@dataclass(frozen=True, slots=True)
class Query:
    root: SpansetExpr
    spansets: tuple[Spanset, ...]
    needs_trace: bool = False  # a condition reads rootName, rootServiceName or traceDuration

    def trace_matches(self, matched: dict[int, bool]) -> bool:
        """Whether a trace qualifies, given which spansets some span of it matched."""
        return _holds(self.root, matched)


def _holds(expr: SpansetExpr, matched: dict[int, bool]) -> bool:
    if isinstance(expr, Spanset):
        return matched.get(expr.index, False)
    if expr.op == "&&":
        return _holds(expr.lhs, matched) and _holds(expr.rhs, matched)
    return _holds(expr.lhs, matched) or _holds(expr.rhs, matched)


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise TraceQLError(f"parse error at col {position + 1}: unexpected {text[position : position + 10]!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def parse(text: str) -> Query:
    parser = _Parser(tokenize(text))
    root = parser.spanset_expr()
    if parser.position < len(parser.tokens):
        _kind, value = parser.tokens[parser.position]
        if value in ("|", ">>", "<<", ">", "<", "~"):
            raise TraceQLError(f"unsupported TraceQL: {value!r} (pipelines and structural operators)")
        raise TraceQLError(f"parse error: unexpected {value!r}")
    return Query(root, tuple(parser.spansets), parser.needs_trace)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.position = 0
        self.spansets: list[Spanset] = []
        self.needs_trace = False

    def peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise TraceQLError("parse error: unexpected end of query")
        token = self.tokens[self.position]
        self.position += 1
        return token

    def expect(self, value: str) -> None:
        _kind, found = self.take()
        if found != value:
            raise TraceQLError(f"parse error: expected {value!r}, found {found!r}")

    def spanset_expr(self) -> SpansetExpr:
        expr = self.spanset_and()
        while self.peek() == "||":
            self.take()
            expr = SpansetOp("||", expr, self.spanset_and())
        return expr

    def spanset_and(self) -> SpansetExpr:
        expr = self.spanset_term()
        while self.peek() == "&&":
            self.take()
            expr = SpansetOp("&&", expr, self.spanset_term())
        return expr

    def spanset_term(self) -> SpansetExpr:
        if self.peek() == "(":
            self.take()
            expr = self.spanset_expr()
            self.expect(")")
            return expr
        self.expect("{")
        predicate = None if self.peek() == "}" else self.condition()
        self.expect("}")
        spanset = Spanset(predicate, len(self.spansets))
        self.spansets.append(spanset)
        return spanset

    def condition(self) -> Predicate:
        left = self.conjunction()
        while self.peek() == "||":
            self.take()
            right = self.conjunction()
            left = _or(left, right)
        return left

    def conjunction(self) -> Predicate:
        left = self.negation()
        while self.peek() == "&&":
            self.take()
            right = self.negation()
            left = _and(left, right)
        return left

    def negation(self) -> Predicate:
        if self.peek() == "!":
            self.take()
            inner = self.negation()
            return lambda span, attrs, ctx: not inner(span, attrs, ctx)
        if self.peek() == "(":
            self.take()
            inner = self.condition()
            self.expect(")")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        kind, name = self.take()
        if kind != "ident":
            raise TraceQLError(f"parse error: expected an attribute, found {name!r}")
        if name in ("true", "false"):
            constant = name == "true"
            return lambda span, attrs, ctx: constant
        if self.peek() not in ("=", "!=", ">", ">=", "<", "<=", "=~", "!~"):
            raise TraceQLError(f"parse error: expected a comparison after {name!r}")
        op = self.take()[1]
        value_kind, raw = self.take()
        if INTRINSICS.get(name) in ("rootName", "rootServiceName", "traceDuration"):
            self.needs_trace = True
        return _comparison(name, op, _literal(value_kind, raw))


def _and(left: Predicate, right: Predicate) -> Predicate:
    return lambda span, attrs, ctx: left(span, attrs, ctx) and right(span, attrs, ctx)


def _or(left: Predicate, right: Predicate) -> Predicate:
    return lambda span, attrs, ctx: left(span, attrs, ctx) or right(span, attrs, ctx)


def _literal(kind: str, raw: str) -> object:
    if kind == "string":
        if raw.startswith("`"):
            return raw[1:-1]
        return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), raw[1:-1])
    if kind == "number":
        return float(raw) if any(c in raw for c in ".eE") else int(raw)
    if kind == "duration":
        nanos = go_duration_ns(raw)
        if nanos is None:
            raise TraceQLError(f"parse error: invalid duration {raw!r}")
        return nanos
    if kind == "ident":
        if raw in ("true", "false"):
            return raw == "true"
        if raw == "nil":
            return NIL
        return _Keyword(raw)
    raise TraceQLError(f"parse error: unexpected {raw!r}")


@dataclass(frozen=True, slots=True)
class _Keyword:
    name: str


NIL = object()  # ``nil``: "= nil" tests that an attribute is missing, "!= nil" that it is set


def _comparison(name: str, op: str, literal: object) -> Predicate:
    intrinsic = INTRINSICS.get(name)
    getter = _intrinsic_getter(intrinsic, literal) if intrinsic is not None else _attribute_getter(name)
    test = _operator(op, literal)
    return lambda span, attrs, ctx: test(getter(span, attrs, ctx))


Getter = Callable[[StoredSpan, dict[str, object], Context], object]


def _intrinsic_getter(intrinsic: str, literal: object) -> Getter:
    if intrinsic == "status":
        if isinstance(literal, _Keyword) and literal.name not in STATUS:
            raise TraceQLError(f"invalid status {literal.name!r}")
        return lambda span, attrs, ctx: _Keyword(STATUS_NAMES.get(span.span.status_code, "unset"))
    if intrinsic == "kind":
        if isinstance(literal, _Keyword) and literal.name not in KIND:
            raise TraceQLError(f"invalid kind {literal.name!r}")
        return lambda span, attrs, ctx: _Keyword(KIND_NAMES.get(span.span.kind, "unspecified"))
    if intrinsic == "name":
        return lambda span, attrs, ctx: span.span.name
    if intrinsic == "duration":
        return lambda span, attrs, ctx: span.span.duration_ns
    if intrinsic == "statusMessage":
        return lambda span, attrs, ctx: span.span.status_message
    if intrinsic == "rootName":
        return lambda span, attrs, ctx: _trace_field(span, ctx, "root_name")
    if intrinsic == "rootServiceName":
        return lambda span, attrs, ctx: _trace_field(span, ctx, "root_service")
    return lambda span, attrs, ctx: _trace_field(span, ctx, "duration_ns")


def _trace_field(span: StoredSpan, ctx: Context, field: str) -> object:
    summary = ctx.trace(span.span.trace_id)
    return None if summary is None else getattr(summary, field)


def _attribute_getter(name: str) -> Getter:
    if name.startswith("resource."):
        key = name[len("resource.") :]
        return lambda span, attrs, ctx: span.resource.attributes.get(key)
    if name.startswith("span."):
        key = name[len("span.") :]
        return lambda span, attrs, ctx: attrs.get(key)
    if name.startswith("."):
        key = name[1:]

        def either(span: StoredSpan, attrs: dict[str, object], ctx: Context) -> object:
            found = attrs.get(key)
            return span.resource.attributes.get(key) if found is None else found

        return either
    raise TraceQLError(f"parse error: unknown attribute {name!r} (use resource., span. or a leading dot)")


def _operator(op: str, literal: object) -> Callable[[object], bool]:
    if literal is NIL:
        if op not in ("=", "!="):
            raise TraceQLError(f"{op} cannot compare with nil")
        return (lambda value: value is None) if op == "=" else (lambda value: value is not None)
    if op in ("=~", "!~"):
        if not isinstance(literal, str):
            raise TraceQLError(f"{op} needs a string")
        pattern = re.compile(literal, re.DOTALL)
        want = op == "=~"
        return lambda value: isinstance(value, str) and (pattern.fullmatch(value) is not None) == want

    def test(value: object) -> bool:
        if value is None:
            return False
        left, right = _comparable(value, literal)
        if left is None or right is None:  # values of another type never compare, as a missing one
            return False
        try:
            return bool(_COMPARE[op](left, right))
        except TypeError:
            return False

    return test


_COMPARE: dict[str, Callable[[object, object], object]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,  # type: ignore[operator]
    ">=": lambda a, b: a >= b,  # type: ignore[operator]
    "<": lambda a, b: a < b,  # type: ignore[operator]
    "<=": lambda a, b: a <= b,  # type: ignore[operator]
}


def _comparable(value: object, literal: object) -> tuple[object, object]:
    """Both sides in one type, or (None, None) when they cannot be compared."""
    if isinstance(literal, _Keyword):
        return (value.name, literal.name) if isinstance(value, _Keyword) else (None, None)
    if isinstance(literal, bool):
        return (value, literal) if isinstance(value, bool) else (None, None)
    if isinstance(literal, int | float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, None
        return value, literal
    if isinstance(literal, str):
        return (value, literal) if isinstance(value, str) else (None, None)
    return None, None


def matched_spansets(query: Query, span: StoredSpan, attrs: dict[str, object], ctx: Context) -> list[int]:
    return [spanset.index for spanset in query.spansets if spanset.matches(span, attrs, ctx)]
