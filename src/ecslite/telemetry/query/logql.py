"""LogQL parsing (spec/telemetry.md §7.2): stream selectors, pipelines and metric queries.

No maintained Python LogQL parser exists, so this is a small recursive-descent parser over Loki's
grammar subset; it produces:

- :class:`LogQuery` — a selector and its pipeline stages (:mod:`.logql_pipeline` runs them);
- a metric query tree made of PromQL nodes (:mod:`.promql_ast`: aggregations, binary operators,
  numbers, ``vector()``) whose leaves are :class:`LogRange` (``count_over_time``, ``rate``,
  ``bytes_over_time``, ``bytes_rate``, ``absent_over_time`` and the unwrapped
  ``sum|avg|min|max|first|last|stddev|stdvar|quantile_over_time``), so vector operations reuse
  the PromQL evaluator with Loki's (= Prometheus') semantics.

Errors are :class:`LogQLError` with Loki's ``parse error at line 1, col N: ...`` form.
"""

from __future__ import annotations

import re

from ecslite.telemetry.query.logql_ast import (
    BoolExpr,
    Comparison,
    Decolorize,
    DropKeep,
    LabelExpr,
    LabelFilter,
    LabelFormat,
    LineFilter,
    LineFormat,
    LogQLError,
    LogQuery,
    LogRange,
    MetricQuery,
    Parsed,
    Parser,
    Stage,
    Unwrap,
    bytes_value,
    duration_ms,
    unquote,
)
from ecslite.telemetry.query.params import go_duration_ns, prometheus_duration_ms
from ecslite.telemetry.query.promql_ast import Aggregate, Binary, Call, Node, NumberLit, Paren, Unary
from ecslite.telemetry.store.matchers import Matcher

__all__ = [
    "LineFilter",
    "LogQLError",
    "LogQuery",
    "LogRange",
    "MetricQuery",
    "Parsed",
    "Parser",
    "bytes_value",
    "parse",
    "parse_selector",
]

RANGE_FUNCTIONS = frozenset({"count_over_time", "rate", "bytes_over_time", "bytes_rate", "absent_over_time"})
UNWRAP_FUNCTIONS = frozenset(
    {
        "sum_over_time",
        "avg_over_time",
        "min_over_time",
        "max_over_time",
        "first_over_time",
        "last_over_time",
        "stddev_over_time",
        "stdvar_over_time",
        "quantile_over_time",
        "rate_counter",
    }
)
VECTOR_AGGREGATIONS = frozenset({"sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk", "bottomk"})
VECTOR_FUNCTIONS = frozenset({"sort", "sort_desc"})
BINARY_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "unless": 2,
    "==": 3,
    "!=": 3,
    ">": 3,
    "<": 3,
    ">=": 3,
    "<=": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
    "^": 6,
}
_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)
    |(?P<bytes>\d+(?:\.\d+)?(?:[kKmMgGtTpP][iI]?)?[bB])(?![\w])
    |(?P<duration>\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d|w|y)(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d|w|y))*)(?![\w.])
    |(?P<number>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|0x[0-9a-fA-F]+)(?![\w])
    |(?P<op>\|=|\|~|\|>|!=|!~|!>|=~|==|>=|<=|[{}()\[\],|=<>+\-*/%^])
    |(?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
    """,
    re.VERBOSE,
)


def parse(text: str) -> Parsed:
    parser = _Parser(text)
    if parser.peek_value() == "{":
        query = parser.log_query()
        parser.end()
        return query
    root = parser.expression(0)
    parser.end()
    return MetricQuery(root, parser.ranges)


def parse_selector(text: str) -> tuple[Matcher, ...]:
    parser = _Parser(text)
    matchers = parser.selector()
    parser.end()
    return matchers


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                raise LogQLError(
                    f"parse error at line 1, col {position + 1}: syntax error: unexpected {text[position]!r}"
                )
            kind = match.lastgroup
            assert kind is not None
            if kind != "space":
                self.tokens.append((kind, match.group(kind), position + 1))
            position = match.end()
        self.position = 0
        self.ranges: list[LogRange] = []

    # -- token helpers -----------------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> tuple[str, str, int] | None:
        index = self.position + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def peek_value(self, ahead: int = 0) -> str | None:
        token = self.peek(ahead)
        return None if token is None else token[1]

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            raise LogQLError(f"parse error at line 1, col {len(self.text) + 1}: syntax error: unexpected end of query")
        self.position += 1
        return token

    def fail(self, token: tuple[str, str, int] | None, what: str) -> LogQLError:
        if token is None:
            return LogQLError(f"parse error at line 1, col {len(self.text) + 1}: syntax error: {what}")
        return LogQLError(f"parse error at line 1, col {token[2]}: syntax error: unexpected {token[1]}, {what}")

    def expect(self, value: str) -> tuple[str, str, int]:
        token = self.take()
        if token[1] != value:
            raise self.fail(token, f"expecting {value}")
        return token

    def expect_kind(self, kind: str, what: str) -> str:
        token = self.take()
        if token[0] != kind:
            raise self.fail(token, f"expecting {what}")
        return token[1]

    def end(self) -> None:
        if self.position < len(self.tokens):
            raise self.fail(self.peek(), "expecting end of query")

    # -- selectors and pipelines -------------------------------------------------------------------

    def selector(self) -> tuple[Matcher, ...]:
        self.expect("{")
        matchers: list[Matcher] = []
        while self.peek_value() != "}":
            name = self.expect_kind("ident", "label name")
            op_token = self.take()
            if op_token[1] not in ("=", "!=", "=~", "!~"):
                raise self.fail(op_token, "expecting =, !=, =~ or !~")
            value = unquote(self.expect_kind("string", "string"))
            matchers.append(_matcher(name, op_token[1], value))
            if self.peek_value() == ",":
                self.take()
        self.expect("}")
        if not matchers or all(m.matches_empty() for m in matchers):
            raise LogQLError(
                "parse error : queries require at least one regexp or equality matcher that does not have an "
                'empty-compatible value. For instance, app=~".*" does not meet this requirement, but app=~".+" will'
            )
        return tuple(matchers)

    def log_query(self) -> LogQuery:
        matchers = self.selector()
        stages: list[Stage] = []
        while True:
            value = self.peek_value()
            if value in ("|=", "!=", "|~", "!~"):
                stages.append(self.line_filter())
            elif value == "|":
                self.take()
                stages.append(self.stage())
            else:
                return LogQuery(matchers, tuple(stages))

    def line_filter(self) -> LineFilter:
        op = self.take()[1]
        values = [unquote(self.expect_kind("string", "string"))]
        while self.peek_value() == "or" and self.peek(1) is not None and self.peek(1)[0] == "string":  # type: ignore[index]
            self.take()
            values.append(unquote(self.take()[1]))
        patterns: tuple[re.Pattern[str], ...] = ()
        if op in ("|~", "!~"):
            try:
                patterns = tuple(re.compile(v) for v in values)
            except re.error as error:
                raise LogQLError(f"parse error : invalid regular expression: {error}") from None
        return LineFilter(op, tuple(values), patterns)

    def stage(self) -> Stage:
        token = self.peek()
        name = token[1] if token is not None else ""
        if name in ("json", "logfmt"):
            self.take()
            return Parser(name, self.extraction_params())
        if name in ("regexp", "pattern"):
            self.take()
            raw = unquote(self.expect_kind("string", "string"))
            return Parser(name, (), _regexp(raw) if name == "regexp" else _pattern(raw))
        if name == "unpack":
            self.take()
            return Parser("unpack")
        if name == "line_format":
            self.take()
            return LineFormat(unquote(self.expect_kind("string", "template string")))
        if name == "label_format":
            self.take()
            return self.label_format()
        if name in ("drop", "keep"):
            self.take()
            return self.drop_keep(name == "keep")
        if name == "decolorize":
            self.take()
            return Decolorize()
        if name == "unwrap":
            self.take()
            return self.unwrap()
        return LabelFilter(self.label_expr())

    def extraction_params(self) -> tuple[tuple[str, str], ...]:
        params: list[tuple[str, str]] = []
        while self.peek() is not None and self.peek()[0] == "ident" and self.peek_value(1) in ("=", ",", None, "|"):  # type: ignore[index]
            label = self.take()[1]
            if self.peek_value() == "=":
                self.take()
                params.append((label, unquote(self.expect_kind("string", "string"))))
            else:
                params.append((label, label))
            if self.peek_value() == ",":
                self.take()
            else:
                break
        return tuple(params)

    def label_format(self) -> LabelFormat:
        items: list[tuple[str, str, bool]] = []
        while True:
            destination = self.expect_kind("ident", "label name")
            self.expect("=")
            token = self.take()
            if token[0] == "ident":
                items.append((destination, token[1], False))
            elif token[0] == "string":
                items.append((destination, unquote(token[1]), True))
            else:
                raise self.fail(token, "expecting a label or a template")
            if self.peek_value() != ",":
                return LabelFormat(tuple(items))
            self.take()

    def drop_keep(self, keep: bool) -> DropKeep:
        names: list[str] = []
        matchers: list[Matcher] = []
        while True:
            name = self.expect_kind("ident", "label name")
            if self.peek_value() in ("=", "!=", "=~", "!~"):
                op = self.take()[1]
                matchers.append(_matcher(name, op, unquote(self.expect_kind("string", "string"))))
            else:
                names.append(name)
            if self.peek_value() != ",":
                return DropKeep(keep, tuple(names), tuple(matchers))
            self.take()

    def unwrap(self) -> Unwrap:
        name = self.expect_kind("ident", "label name")
        if name in ("bytes", "duration", "duration_seconds") and self.peek_value() == "(":
            self.take()
            label = self.expect_kind("ident", "label name")
            self.expect(")")
            return Unwrap(label, name)
        return Unwrap(name)

    def label_expr(self) -> LabelExpr:
        left = self.label_and()
        while self.peek_value() == "or":
            self.take()
            left = BoolExpr("or", left, self.label_and())
        return left

    def label_and(self) -> LabelExpr:
        left = self.label_term()
        while self.peek_value() in ("and", ","):
            self.take()
            left = BoolExpr("and", left, self.label_term())
        return left

    def label_term(self) -> LabelExpr:
        if self.peek_value() == "(":
            self.take()
            inner = self.label_expr()
            self.expect(")")
            return inner
        token = self.take()
        if token[0] != "ident":
            raise self.fail(token, "expecting a label filter")
        op_token = self.take()
        op = op_token[1]
        if op not in ("=", "==", "!=", "=~", "!~", ">", ">=", "<", "<="):
            raise self.fail(op_token, "expecting a comparison")
        value = self.take()
        if value[0] == "string":
            text = unquote(value[1])
            pattern = None
            if op in ("=~", "!~"):
                try:
                    pattern = re.compile(text, re.DOTALL)
                except re.error as error:
                    raise LogQLError(f"parse error : invalid regular expression: {error}") from None
            elif op not in ("=", "==", "!="):
                raise self.fail(value, "expecting a number, duration or bytes")
            return Comparison(token[1], "=" if op == "==" else op, text, "string", pattern)
        if value[0] == "number":
            return Comparison(
                token[1], op, float(int(value[1], 16)) if value[1].startswith("0x") else float(value[1]), "number"
            )
        if value[0] == "duration":
            nanos = go_duration_ns(value[1])
            if nanos is None:
                ms = prometheus_duration_ms(value[1])
                nanos = None if ms is None else ms * 1_000_000
            if nanos is None:
                raise self.fail(value, "expecting a duration")
            return Comparison(token[1], op, nanos / 1e9, "duration")
        if value[0] == "bytes":
            amount = bytes_value(value[1])
            if amount is None:
                raise self.fail(value, "expecting a byte size")
            return Comparison(token[1], op, amount, "bytes")
        raise self.fail(value, "expecting a value")

    # -- metric queries ----------------------------------------------------------------------------

    def expression(self, min_precedence: int) -> Node:
        left = self.unary()
        while True:
            op = self.peek_value()
            precedence = BINARY_PRECEDENCE.get(op or "")
            if precedence is None or precedence < min_precedence:
                return left
            self.take()
            node = Binary(op or "", left, Paren(NumberLit(0)))
            if op in ("and", "or", "unless"):
                node.card = "many-to-many"
            if self.peek_value() == "bool":
                self.take()
                node.return_bool = True
            if self.peek_value() in ("on", "ignoring"):
                node.on = self.take()[1] == "on"
                node.matching = self.label_list()
                if self.peek_value() in ("group_left", "group_right"):
                    node.card = "many-to-one" if self.take()[1] == "group_left" else "one-to-many"
                    node.include = self.label_list() if self.peek_value() == "(" else ()
            # "^" is right-associative, every other operator left-associative.
            node.rhs = self.expression(precedence if op == "^" else precedence + 1)
            left = node

    def unary(self) -> Node:
        if self.peek_value() == "-":
            self.take()
            inner = self.unary()
            if isinstance(inner, NumberLit):
                return NumberLit(-inner.value)
            return Unary(inner)
        if self.peek_value() == "+":
            self.take()
            return self.unary()
        return self.primary()

    def primary(self) -> Node:
        token = self.peek()
        if token is None:
            raise self.fail(None, "unexpected end of query")
        kind, value, _column = token
        if kind == "number":
            self.take()
            return NumberLit(float(int(value, 16)) if value.startswith("0x") else float(value))
        if value == "(":
            self.take()
            inner = self.expression(0)
            self.expect(")")
            return Paren(inner)
        if kind != "ident":
            raise self.fail(token, "expecting a metric query")
        if value in RANGE_FUNCTIONS or value in UNWRAP_FUNCTIONS:
            return self.range_aggregation()
        if value in VECTOR_AGGREGATIONS:
            return self.vector_aggregation()
        if value in VECTOR_FUNCTIONS:
            self.take()
            self.expect("(")
            inner = self.expression(0)
            self.expect(")")
            return Call(value, [inner])
        if value == "vector":
            self.take()
            self.expect("(")
            number = self.expression(0)
            self.expect(")")
            return Call("vector", [number])
        raise self.fail(token, "expecting a metric query")

    def label_list(self) -> tuple[str, ...]:
        self.expect("(")
        names: list[str] = []
        while self.peek_value() != ")":
            names.append(self.expect_kind("ident", "label name"))
            if self.peek_value() == ",":
                self.take()
        self.expect(")")
        return tuple(names)

    def grouping(self) -> tuple[tuple[str, ...], bool] | None:
        if self.peek_value() in ("by", "without"):
            without = self.take()[1] == "without"
            return self.label_list(), without
        return None

    def range_aggregation(self) -> LogRange:
        name = self.take()[1]
        self.expect("(")
        param: float | None = None
        if name == "quantile_over_time":
            param = float(self.expect_kind("number", "a quantile"))
            self.expect(",")
        query = self.log_query()
        unwrap = next((s for s in query.stages if isinstance(s, Unwrap)), None)
        if name in UNWRAP_FUNCTIONS and unwrap is None:
            raise LogQLError(f"parse error : invalid aggregation {name} without unwrap")
        if name in RANGE_FUNCTIONS and name != "rate" and unwrap is not None:
            raise LogQLError(f"parse error : invalid aggregation {name} with unwrap")
        self.expect("[")
        raw = self.take()
        range_ms = duration_ms(raw[1]) if raw[0] in ("duration", "number") else None
        if range_ms is None or range_ms <= 0:
            raise self.fail(raw, "expecting a duration")
        self.expect("]")
        offset_ms = 0
        if self.peek_value() == "offset":
            self.take()
            raw = self.take()
            offset = duration_ms(raw[1])
            if offset is None:
                raise self.fail(raw, "expecting a duration")
            offset_ms = offset
        self.expect(")")
        grouping = self.grouping()
        node = LogRange(name, query, range_ms, offset_ms, param, unwrap)
        if grouping is not None:
            node.grouping, node.without = grouping
        self.ranges.append(node)
        return node

    def vector_aggregation(self) -> Node:
        op = self.take()[1]
        grouping = self.grouping()
        self.expect("(")
        param: Node | None = None
        if op in ("topk", "bottomk"):
            param = NumberLit(float(self.expect_kind("number", "a number")))
            self.expect(",")
        inner = self.expression(0)
        self.expect(")")
        if grouping is None:
            grouping = self.grouping()
        labels, without = grouping if grouping is not None else ((), False)
        return Aggregate(op, inner, param, labels, without)


def _matcher(name: str, op: str, value: str) -> Matcher:
    try:
        return Matcher(name, op, value)
    except re.error as error:
        raise LogQLError(f"parse error : invalid regular expression: {error}") from None


def _regexp(raw: str) -> re.Pattern[str]:
    try:
        pattern = re.compile(raw)
    except re.error as error:
        raise LogQLError(f"parse error : invalid regular expression: {error}") from None
    if not pattern.groupindex:
        raise LogQLError("parse error : at least one named capture must be supplied")
    return pattern


def _pattern(raw: str) -> re.Pattern[str]:
    """Loki's ``pattern`` parser as a regex: ``<name>`` captures up to the next literal, ``<_>`` skips."""
    parts = re.split(r"(<[A-Za-z_][A-Za-z0-9_]*>)", raw)
    out: list[str] = []
    names: set[str] = set()
    for index, part in enumerate(parts):
        if not part:
            continue
        if part.startswith("<") and part.endswith(">"):
            name = part[1:-1]
            last = index == len(parts) - 1 or all(not p for p in parts[index + 1 :])
            capture = ".*" if last else ".*?"
            if name == "_":
                out.append(f"(?:{capture})")
            else:
                if name in names:
                    raise LogQLError(f"parse error : duplicate capture {name} in pattern")
                names.add(name)
                out.append(f"(?P<{name}>{capture})")
        else:
            out.append(re.escape(part))
    if not names:
        raise LogQLError("parse error : at least one capture is required in a pattern")
    return re.compile("".join(out), re.DOTALL)
