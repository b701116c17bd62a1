"""CloudWatch Logs Insights query language: tokenizer, parser and the query's syntax tree.

Supported (the subset the seeds and issue 5 use): commands ``fields``, ``display``, ``filter``,
``parse`` (glob with ``*`` or regex with named groups), ``stats`` (``count``, ``count_distinct``,
``sum``, ``avg``, ``min``, ``max``, ``pct``, ``stddev``, ``earliest``, ``latest`` ``by`` fields
and ``bin(…)``), ``sort``, ``limit`` and ``dedup``, separated by ``|``; ``#`` comments; expressions
with arithmetic, comparisons, ``and``/``or``/``not``, ``like``/``not like`` (string or ``/regex/``),
``=~``, ``in``/``not in`` lists and functions (see :mod:`ecslite.model.logs_insights_eval`).

A query is parsed once into :class:`Query`; syntax errors raise :class:`MalformedQuery` with the
character range, as StartQuery's ``MalformedQueryException`` reports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

COMMANDS = ("fields", "display", "filter", "parse", "stats", "sort", "limit", "dedup")
EXPECTED_COMMAND = "{K_FIELDS, K_DISPLAY, K_FILTER, K_PARSE, K_STATS, K_SORT, K_LIMIT, K_DEDUP}"
AGGREGATES = frozenset({"count", "count_distinct", "sum", "avg", "min", "max", "pct", "stddev", "earliest", "latest"})
KEYWORDS = frozenset({"and", "or", "not", "like", "in", "as", "by", "asc", "desc"})

# Units of bin() and datefloor()/dateceil() periods; a trailing "s" pluralizes the longer ones.
UNITS = {
    "ms": "ms", "msec": "ms", "millisecond": "ms",
    "s": "s", "sec": "s", "second": "s",
    "m": "m", "min": "m", "minute": "m",
    "h": "h", "hr": "h", "hour": "h",
    "d": "d", "day": "d",
    "w": "w", "week": "w",
    "mo": "mo", "mon": "mo", "month": "mo",
    "q": "q", "qtr": "q", "quarter": "q",
    "y": "y", "yr": "y", "year": "y",
}  # fmt: skip


class MalformedQuery(ValueError):
    def __init__(self, message: str, start: int = 0, end: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = end


# -- tokens ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # name, string, regex, number, duration, op, pipe, end
    text: str  # the source text
    value: Any  # parsed value: unquoted string, compiled regex, number, (count, unit), name
    start: int
    end: int


_SPACE = re.compile(r"\s+|#[^\n]*")
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_DURATION = re.compile(r"(\d+)([A-Za-z]+)")
_NAME = re.compile(r"[@A-Za-z_$][\w.@$]*(?<!\.)")
_OPERATORS = ("=~", "!=", "<=", ">=", "==", "=", "<", ">", "+", "-", "*", "/", "%", "^", "(", ")", "[", "]", ",")
# After these a "/" opens a regex literal; after anything else it divides.
_REGEX_CONTEXT = frozenset({"(", ",", "=", "==", "!=", "=~", "[", "and", "or", "not", "like", "in", "|"})


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while True:
        while (space := _SPACE.match(text, pos)) is not None and space.end() > pos:
            pos = space.end()
        if pos >= len(text):
            tokens.append(Token("end", "", None, pos, pos))
            return tokens
        token = _next_token(text, pos, tokens)
        tokens.append(token)
        pos = token.end


def _next_token(text: str, pos: int, before: list[Token]) -> Token:
    ch = text[pos]
    if ch == "|":
        return Token("pipe", "|", None, pos, pos + 1)
    if ch in "\"'":
        return _quoted(text, pos, ch, "string")
    if ch == "`":
        end = text.find("`", pos + 1)
        if end == -1:
            raise MalformedQuery(f"token recognition error at: '{text[pos:]}'", pos, len(text))
        return Token("name", text[pos : end + 1], text[pos + 1 : end], pos, end + 1)
    if ch == "/" and _opens_regex(before):
        token = _quoted(text, pos, "/", "regex")
        return Token("regex", token.text, compile_regex(token.value, pos, token.end), pos, token.end)
    if ch.isdigit():
        duration = _DURATION.match(text, pos)
        if duration and duration.group(2).lower() in _all_units():
            unit = UNITS[_singular(duration.group(2).lower())]
            return Token("duration", duration.group(0), (int(duration.group(1)), unit), pos, duration.end())
        number = _NUMBER.match(text, pos)
        assert number is not None
        value = float(number.group(0)) if any(c in number.group(0) for c in ".eE") else int(number.group(0))
        return Token("number", number.group(0), value, pos, number.end())
    name = _NAME.match(text, pos)
    if name is not None:
        word = name.group(0)
        if ch == "@" and word.startswith("@") and word[1:2] == "`":
            raise MalformedQuery(f"token recognition error at: '{word}'", pos, name.end())
        return Token("name", word, word, pos, name.end())
    for op in _OPERATORS:
        if text.startswith(op, pos):
            return Token("op", op, op, pos, pos + len(op))
    raise MalformedQuery(f"token recognition error at: '{ch}'", pos, pos + 1)


def _opens_regex(before: list[Token]) -> bool:
    if not before:
        return True
    previous = before[-1]
    if previous.kind in ("op", "pipe"):
        return previous.text in _REGEX_CONTEXT
    if previous.kind != "name":
        return False
    # ``parse /re/`` and ``parse @message /re/``
    after_parse = len(before) >= 2 and before[-2].kind == "name" and before[-2].text.lower() == "parse"
    return previous.text.lower() in _REGEX_CONTEXT or previous.text.lower() == "parse" or after_parse


def _quoted(text: str, pos: int, quote: str, kind: str) -> Token:
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            # In regexes the backslash belongs to the pattern, except before the delimiter.
            out.append(nxt if (kind == "string" or nxt == quote) else ch + nxt)
            i += 2
            continue
        if ch == quote:
            return Token(kind, text[pos : i + 1], "".join(out), pos, i + 1)
        out.append(ch)
        i += 1
    raise MalformedQuery(f"token recognition error at: '{text[pos:]}'", pos, len(text))


def _all_units() -> set[str]:
    return set(UNITS) | {unit + "s" for unit in UNITS if len(unit) > 1}


def _singular(unit: str) -> str:
    return unit if unit in UNITS else unit[:-1]


def compile_regex(pattern: str, start: int = 0, end: int = 0) -> re.Pattern[str]:
    """A Logs Insights (Java-style) regex: ``(?<name>…)`` groups become Python's ``(?P<name>…)``."""
    converted = re.sub(r"\(\?<(?![=!])", "(?P<", pattern)
    try:
        return re.compile(converted)
    except re.error as error:
        raise MalformedQuery(f"Invalid regular expression /{pattern}/: {error}", start, end) from None


# -- expressions -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class Duration:
    count: int
    unit: str


@dataclass(frozen=True, slots=True)
class Regex:
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class Field:
    name: str


@dataclass(frozen=True, slots=True)
class Call:
    name: str  # lower case
    args: tuple[Expr, ...]
    star: bool = False  # count(*)


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "not" | "-"
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # and, or, =, !=, <, <=, >, >=, =~, like, not like, +, -, *, /, %, ^
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class InList:
    needle: Expr
    items: tuple[Expr, ...]
    negate: bool


Expr = Literal | Duration | Regex | Field | Call | Unary | Binary | InList


# -- commands ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Named:
    """An expression and the field name its value gets (the alias, else its source text)."""

    expr: Expr
    name: str


@dataclass(frozen=True, slots=True)
class Fields:
    items: tuple[Named, ...]


@dataclass(frozen=True, slots=True)
class Display:
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Filter:
    condition: Expr


@dataclass(frozen=True, slots=True)
class Parse:
    source: Expr
    pattern: re.Pattern[str]
    names: tuple[str, ...]  # fields set from the pattern's groups, in group order


@dataclass(frozen=True, slots=True)
class Stats:
    aggregates: tuple[Named, ...]
    groups: tuple[Named, ...]


@dataclass(frozen=True, slots=True)
class SortKey:
    expr: Expr
    descending: bool


@dataclass(frozen=True, slots=True)
class Sort:
    keys: tuple[SortKey, ...]


@dataclass(frozen=True, slots=True)
class Limit:
    count: int


@dataclass(frozen=True, slots=True)
class Dedup:
    names: tuple[str, ...]


Command = Fields | Display | Filter | Parse | Stats | Sort | Limit | Dedup


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    commands: tuple[Command, ...]


def parse_query(text: str) -> Query:
    return _Parser(text).query()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0

    # -- token helpers -----------------------------------------------------------------------------

    @property
    def token(self) -> Token:
        return self.tokens[self.pos]

    def _advance(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind != "end":
            self.pos += 1
        return token

    def _is_word(self, *words: str) -> bool:
        return self.token.kind == "name" and self.token.text.lower() in words

    def _is_op(self, *ops: str) -> bool:
        return self.token.kind == "op" and self.token.text in ops

    def _error(self, expecting: str) -> MalformedQuery:
        token = self.token
        shown = "<EOF>" if token.kind == "end" else token.text
        return MalformedQuery(f"mismatched input '{shown}' expecting {expecting}", token.start, token.end)

    def _expect_op(self, op: str) -> None:
        if not self._is_op(op):
            raise self._error(f"'{op}'")
        self._advance()

    def _source(self, start: int) -> str:
        return self.text[start : self.tokens[self.pos - 1].end].strip()

    # -- commands ----------------------------------------------------------------------------------

    def query(self) -> Query:
        commands = [self._command()]
        while self.token.kind == "pipe":
            self._advance()
            commands.append(self._command())
        if self.token.kind != "end":
            raise self._error("{<EOF>, '|'}")
        return Query(self.text, tuple(commands))

    def _command(self) -> Command:
        if not self._is_word(*COMMANDS):
            raise self._error(EXPECTED_COMMAND)
        word = self._advance().text.lower()
        if word == "fields":
            return Fields(self._named_list())
        if word == "display":
            return Display(tuple(item.name for item in self._named_list(allow_alias=False)))
        if word == "filter":
            return Filter(self._expr())
        if word == "parse":
            return self._parse_command()
        if word == "stats":
            return self._stats()
        if word == "sort":
            return self._sort()
        if word == "limit":
            if self.token.kind != "number" or not isinstance(self.token.value, int) or self.token.value < 1:
                raise self._error("INTEGER_LITERAL")
            return Limit(self._advance().value)
        return Dedup(tuple(item.name for item in self._named_list(allow_alias=False)))

    def _named_list(self, allow_alias: bool = True) -> tuple[Named, ...]:
        items = [self._named(allow_alias)]
        while self._is_op(","):
            self._advance()
            items.append(self._named(allow_alias))
        return tuple(items)

    def _named(self, allow_alias: bool = True) -> Named:
        start = self.token.start
        expr = self._expr()
        name = self._source(start)
        if isinstance(expr, Field):
            name = expr.name
        if allow_alias and self._is_word("as"):
            self._advance()
            name = self._alias()
        elif not allow_alias and not isinstance(expr, Field):
            raise MalformedQuery(f"Expected a field name, got '{name}'", start, self.tokens[self.pos - 1].end)
        return Named(expr, name)

    def _alias(self) -> str:
        if self.token.kind != "name" or self.token.text.lower() in KEYWORDS:
            raise self._error("IDENTIFIER")
        return str(self._advance().value)

    def _parse_command(self) -> Parse:
        source: Expr = Field("@message")
        if self.token.kind not in ("string", "regex"):
            source = self._primary()
        token = self._advance()
        if token.kind == "regex":
            pattern: re.Pattern[str] = token.value
            groups = tuple(name for name, _ in sorted(pattern.groupindex.items(), key=lambda item: item[1]))
            if not groups:
                raise MalformedQuery(
                    "The regular expression in parse must have named capture groups.", token.start, token.end
                )
            return Parse(source, pattern, groups)
        if token.kind != "string":
            raise MalformedQuery(
                f"mismatched input '{token.text}' expecting {{STRING_LITERAL, REGEX}}", token.start, token.end
            )
        glob = str(token.value)
        if not self._is_word("as"):
            raise self._error("'as'")
        self._advance()
        names = [self._alias()]
        while self._is_op(","):
            self._advance()
            names.append(self._alias())
        wildcards = glob.count("*")
        if wildcards != len(names):
            raise MalformedQuery(
                f"The number of fields ({len(names)}) does not match the number of wildcards ({wildcards}) in parse.",
                token.start,
                self.tokens[self.pos - 1].end,
            )
        return Parse(source, glob_regex(glob), tuple(names))

    def _stats(self) -> Stats:
        aggregates = self._named_list()
        for item in aggregates:
            if not _has_aggregate(item.expr):
                raise MalformedQuery(
                    f"Expression '{item.name}' in stats must use an aggregate function.", 0, len(self.text)
                )
        groups: tuple[Named, ...] = ()
        if self._is_word("by"):
            self._advance()
            groups = self._named_list()
        return Stats(aggregates, groups)

    def _sort(self) -> Sort:
        keys = []
        while True:
            expr = self._expr()
            descending = False
            if self._is_word("asc", "desc"):
                descending = self._advance().text.lower() == "desc"
            keys.append(SortKey(expr, descending))
            if not self._is_op(","):
                return Sort(tuple(keys))
            self._advance()

    # -- expressions: or < and < not < comparison < additive < multiplicative < power < unary ------

    def _expr(self) -> Expr:
        left = self._and()
        while self._is_word("or"):
            self._advance()
            left = Binary("or", left, self._and())
        return left

    def _and(self) -> Expr:
        left = self._not()
        while self._is_word("and"):
            self._advance()
            left = Binary("and", left, self._not())
        return left

    def _not(self) -> Expr:
        if self._is_word("not"):
            self._advance()
            return Unary("not", self._not())
        return self._comparison()

    def _comparison(self) -> Expr:
        left = self._additive()
        if self._is_op("=", "==", "!=", "<", "<=", ">", ">=", "=~"):
            op = self._advance().text
            return Binary("=" if op == "==" else op, left, self._additive())
        negate = False
        if (
            self._is_word("not")
            and self.tokens[self.pos + 1].kind == "name"
            and self.tokens[self.pos + 1].text.lower() in ("like", "in")
        ):
            self._advance()
            negate = True
        if self._is_word("like"):
            self._advance()
            return Binary("not like" if negate else "like", left, self._additive())
        if self._is_word("in"):
            self._advance()
            return InList(left, self._list(), negate)
        return left

    def _list(self) -> tuple[Expr, ...]:
        self._expect_op("[")
        items: list[Expr] = []
        if not self._is_op("]"):
            items.append(self._additive())
            while self._is_op(","):
                self._advance()
                items.append(self._additive())
        self._expect_op("]")
        return tuple(items)

    def _additive(self) -> Expr:
        left = self._multiplicative()
        while self._is_op("+", "-"):
            op = self._advance().text
            left = Binary(op, left, self._multiplicative())
        return left

    def _multiplicative(self) -> Expr:
        left = self._power()
        while self._is_op("*", "/", "%"):
            op = self._advance().text
            left = Binary(op, left, self._power())
        return left

    def _power(self) -> Expr:
        base = self._unary()
        if self._is_op("^"):
            self._advance()
            return Binary("^", base, self._power())
        return base

    def _unary(self) -> Expr:
        if self._is_op("-"):
            self._advance()
            return Unary("-", self._unary())
        return self._primary()

    def _primary(self) -> Expr:
        token = self.token
        if token.kind in ("number", "string"):
            self._advance()
            return Literal(token.value)
        if token.kind == "regex":
            self._advance()
            return Regex(token.value)
        if token.kind == "duration":
            self._advance()
            count, unit = token.value
            return Duration(count, unit)
        if self._is_op("("):
            self._advance()
            inner = self._expr()
            self._expect_op(")")
            return inner
        if token.kind == "name" and token.text.lower() not in KEYWORDS:
            self._advance()
            if self._is_op("(") and not token.text.startswith("`"):
                return self._call(token)
            return Field(str(token.value))
        raise self._error("{IDENTIFIER, STRING_LITERAL, NUMBER, REGEX, '('}")

    def _call(self, name: Token) -> Call:
        self._expect_op("(")
        function = name.text.lower()
        if self._is_op("*"):
            self._advance()
            self._expect_op(")")
            if function != "count":
                raise MalformedQuery(
                    f"'*' is valid only in count(*), not in {name.text}(*)", name.start, self.token.start
                )
            return Call(function, (), star=True)
        args: list[Expr] = []
        if not self._is_op(")"):
            args.append(self._expr())
            while self._is_op(","):
                self._advance()
                args.append(self._expr())
        self._expect_op(")")
        return Call(function, tuple(args))


def _has_aggregate(expr: Expr) -> bool:
    if isinstance(expr, Call):
        return expr.name in AGGREGATES or any(_has_aggregate(arg) for arg in expr.args)
    if isinstance(expr, Unary):
        return _has_aggregate(expr.operand)
    if isinstance(expr, Binary):
        return _has_aggregate(expr.left) or _has_aggregate(expr.right)
    return False


def glob_regex(glob: str) -> re.Pattern[str]:
    """``parse``'s glob: each ``*`` captures lazily, except a trailing one, which takes the rest."""
    parts = [re.escape(part) for part in glob.split("*")]
    pattern = ""
    for index, part in enumerate(parts):
        pattern += part
        if index < len(parts) - 1:
            pattern += "(.*)" if index == len(parts) - 2 and parts[-1] == "" else "(.*?)"
    return re.compile(pattern, re.DOTALL)
