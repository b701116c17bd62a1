"""Filter patterns over fields (JSON selectors, space-delimited columns) and what all forms share.

Shared: :class:`InvalidFilterPattern` with AWS's texts, the ``Matcher`` protocol, ``%regex%`` terms
(checked against the characters AWS allows) and literal values with ``*`` wildcards. The entry
point and plain term patterns are in :mod:`ecslite.model.log_filters`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

# AWS's messages for rejected patterns (the brace/bracket one is verified for '{'; the '[' variant
# follows it by analogy).
INVALID_PATTERN = "Invalid filter pattern"
MAX_REGEX_PER_PATTERN = 2  # "a limit of 2 regex for each filter pattern" (JSON and space-delimited)


def invalid_characters(term: str) -> str:
    return f"Invalid character(s) in term '{term}'"


def unterminated(opening: str, closing: str) -> str:
    return f"If a filter pattern starts with '{opening}' it must end with '{closing}'"


class InvalidFilterPattern(ValueError):
    def __init__(self, message: str = INVALID_PATTERN) -> None:
        super().__init__(message)
        self.message = message


class Matcher(Protocol):
    def matches(self, message: str) -> bool: ...


# -- regex terms -------------------------------------------------------------------------------

# "Filter patterns with regex can only include": alphanumerics, the symbols _ # = @ / ; , - : and
# the operators ^ $ ? [ ] { } | \ * + . ; no parentheses, no multi-byte characters.
_REGEX_ALLOWED = re.compile(r"[A-Za-z0-9_#=@/;,\-: ^$?\[\]{}|\\*+.]*")


def compile_regex(term: str) -> re.Pattern[str]:
    body = term[1:-1]
    if not body or not _REGEX_ALLOWED.fullmatch(body):
        raise InvalidFilterPattern(invalid_characters(term))
    try:
        return re.compile(body)
    except re.error:
        raise InvalidFilterPattern() from None


def is_regex(token: str) -> bool:
    return len(token) >= 2 and token.startswith("%") and token.endswith("%")


# -- values shared by JSON and space-delimited patterns ----------------------------------------

_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


@dataclass(frozen=True, slots=True)
class Value:
    """A literal on the right of a comparison."""

    text: str
    number: float | None  # set when the literal is an unquoted number
    regex: re.Pattern[str] | None = None
    glob: re.Pattern[str] | None = None  # set when an unquoted or quoted string holds ``*``

    def equals_text(self, text: str) -> bool:
        if self.regex is not None:
            return self.regex.search(text) is not None
        if self.glob is not None:
            return self.glob.fullmatch(text) is not None
        return text == self.text


def _make_value(token: str, quoted: bool) -> Value:
    if not quoted and is_regex(token):
        return Value(token, None, regex=compile_regex(token))
    number = None
    if not quoted and _NUMBER.fullmatch(token):
        number = float(token)
    glob = None
    if "*" in token:
        glob = re.compile(".*".join(re.escape(part) for part in token.split("*")), re.DOTALL)
    return Value(token, number, glob=glob)


_OPS: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _compare_text(op: str, field: str, value: Value) -> bool:
    """A comparison against a field known only as text (space-delimited fields, JSON scalars)."""
    if value.number is not None:
        parsed = _as_number(field)
        if parsed is not None:
            return _OPS[op](parsed, value.number)
        if op in ("=", "!="):
            return (field == value.text) == (op == "=")
        return False
    if op == "=":
        return value.equals_text(field)
    if op == "!=":
        return not value.equals_text(field)
    raise InvalidFilterPattern()


def _as_number(text: str) -> float | None:
    if not _NUMBER.fullmatch(text):
        return None
    number = float(text)
    return None if math.isinf(number) else number


# -- JSON patterns -------------------------------------------------------------------------------

MISSING = object()


class _Expr(Protocol):
    def evaluate(self, doc: Any) -> bool: ...


@dataclass(frozen=True, slots=True)
class _And:
    left: _Expr
    right: _Expr

    def evaluate(self, doc: Any) -> bool:
        return self.left.evaluate(doc) and self.right.evaluate(doc)


@dataclass(frozen=True, slots=True)
class _Or:
    left: _Expr
    right: _Expr

    def evaluate(self, doc: Any) -> bool:
        return self.left.evaluate(doc) or self.right.evaluate(doc)


@dataclass(frozen=True, slots=True)
class Selector:
    """``$.a.b[0]`` as a path of keys (str) and indexes (int)."""

    path: tuple[str | int, ...]

    def resolve(self, doc: Any) -> Any:
        node = doc
        for step in self.path:
            if isinstance(step, int):
                if not isinstance(node, list) or step >= len(node):
                    return MISSING
                node = node[step]
            else:
                if not isinstance(node, dict) or step not in node:
                    return MISSING
                node = node[step]
        return node


@dataclass(frozen=True, slots=True)
class _Comparison:
    selector: Selector
    op: str
    value: Value

    def evaluate(self, doc: Any) -> bool:
        field = self.selector.resolve(doc)
        if self.value.text == "*" and self.value.glob is not None:
            # ``= *`` tests presence (CDK's FilterPattern.exists renders exactly this).
            return (field is not MISSING) == (self.op == "=")
        if field is MISSING or field is None or isinstance(field, dict | list):
            return False
        if isinstance(field, bool):
            return self.op in ("=", "!=") and _compare_text(self.op, "true" if field else "false", self.value)
        if isinstance(field, int | float):
            if self.value.number is not None:
                return _OPS[self.op](float(field), self.value.number)
            return _compare_text(self.op, _json_number_text(field), self.value)
        return _compare_text(self.op, str(field), self.value)


def _json_number_text(number: int | float) -> str:
    return orjson.dumps(number).decode()


@dataclass(frozen=True, slots=True)
class _Test:
    """``IS NULL``, ``IS TRUE``, ``IS FALSE``, ``EXISTS``, ``NOT EXISTS``."""

    selector: Selector
    test: str

    def evaluate(self, doc: Any) -> bool:
        field = self.selector.resolve(doc)
        if self.test == "NOT EXISTS":
            return field is MISSING
        if self.test == "EXISTS":
            return field is not MISSING
        if self.test == "IS NULL":
            return field is None
        return field is (self.test == "IS TRUE")


@dataclass(frozen=True, slots=True)
class JsonPattern:
    expr: _Expr

    def matches(self, message: str) -> bool:
        start = message.lstrip()[:1]
        if start not in ("{", "["):
            return False
        try:
            doc = orjson.loads(message)
        except orjson.JSONDecodeError:
            return False
        return self.expr.evaluate(doc)


_JSON_TOKEN = re.compile(
    r"""\s*(?:
      (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))
    | (?P<quoted>"(?:[^"\\]|\\.)*")
    | (?P<regex>%[^%]*%)
    | (?P<word>[^\s()=!<>&|"]+)
    )""",
    re.VERBOSE,
)
_SELECTOR_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]")
_TESTS = {("IS", "NULL"), ("IS", "TRUE"), ("IS", "FALSE"), ("NOT", "EXISTS")}


def _tokenize(text: str, pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        found = pattern.match(text, pos)
        if found is None or found.end() == pos:
            raise InvalidFilterPattern()
        kind = found.lastgroup or ""
        tokens.append((kind, found.group(kind)))
        pos = found.end()
    return tokens


def _parse_selector(text: str) -> Selector:
    if not text.startswith("$"):
        raise InvalidFilterPattern()
    path: list[str | int] = []
    pos = 1
    while pos < len(text):
        found = _SELECTOR_STEP.match(text, pos)
        if found is None:
            raise InvalidFilterPattern()
        key, index, single, double = found.groups()
        if index is not None:
            path.append(int(index))
        else:
            path.append(next(part for part in (key, single, double) if part is not None))
        pos = found.end()
    if not path:
        raise InvalidFilterPattern()
    return Selector(tuple(path))


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1])


def parse_json(text: str) -> Matcher:
    """The matcher for the inside of ``{ … }``."""
    return JsonPattern(_JsonParser(text).parse())


class _JsonParser:
    """Recursive descent over ``or := and ('||' and)*``, ``and := atom ('&&' atom)*``."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text, _JSON_TOKEN)
        self.pos = 0
        self.regexes = 0

    def parse(self) -> _Expr:
        if not self.tokens:
            raise InvalidFilterPattern()
        expr = self._or()
        if self.pos != len(self.tokens):
            raise InvalidFilterPattern()
        return expr

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise InvalidFilterPattern()
        self.pos += 1
        return token

    def _or(self) -> _Expr:
        expr = self._and()
        while self._peek() == ("op", "||"):
            self.pos += 1
            expr = _Or(expr, self._and())
        return expr

    def _and(self) -> _Expr:
        expr = self._atom()
        while self._peek() == ("op", "&&"):
            self.pos += 1
            expr = _And(expr, self._atom())
        return expr

    def _atom(self) -> _Expr:
        kind, text = self._next()
        if (kind, text) == ("op", "("):
            expr = self._or()
            if self._next() != ("op", ")"):
                raise InvalidFilterPattern()
            return expr
        if kind != "word":
            raise InvalidFilterPattern()
        selector = _parse_selector(text)
        return self._condition(selector)

    def _condition(self, selector: Selector) -> _Expr:
        kind, text = self._next()
        if kind == "word":
            second = self._peek()
            if text == "EXISTS":
                return _Test(selector, "EXISTS")
            if second is not None and (text, second[1]) in _TESTS:
                self.pos += 1
                return _Test(selector, f"{text} {second[1]}")
            raise InvalidFilterPattern()
        if kind != "op" or text not in _OPS:
            raise InvalidFilterPattern()
        value = self._value()
        if text not in ("=", "!=") and value.number is None:
            raise InvalidFilterPattern()
        return _Comparison(selector, text, value)

    def _value(self) -> Value:
        kind, text = self._next()
        if kind == "quoted":
            return _make_value(_unquote(text), quoted=True)
        if kind == "regex":
            self.regexes += 1
            if self.regexes > MAX_REGEX_PER_PATTERN:
                raise InvalidFilterPattern()
            return _make_value(text, quoted=False)
        if kind == "word":
            return _make_value(text, quoted=False)
        raise InvalidFilterPattern()


# -- space-delimited patterns --------------------------------------------------------------------

_COLUMN_NAME = re.compile(r"[A-Za-z0-9_\-]+")
_DELIMITED_TOKEN = re.compile(
    r"""\s*(?:
      (?P<op>&&|\|\||!=|<=|>=|=|<|>)
    | (?P<quoted>"(?:[^"\\]|\\.)*")
    | (?P<regex>%[^%]*%)
    | (?P<word>[^\s=!<>&|"]+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _FieldTest:
    op: str
    value: Value

    def evaluate(self, field: str) -> bool:
        return _compare_text(self.op, field, self.value)


@dataclass(frozen=True, slots=True)
class Column:
    """One column; ``conditions`` is a disjunction of conjunctions of tests on the field."""

    name: str
    conditions: tuple[tuple[_FieldTest, ...], ...] = ()

    def matches(self, field: str) -> bool:
        if not self.conditions:
            return True
        return any(all(test.evaluate(field) for test in conj) for conj in self.conditions)


@dataclass(frozen=True, slots=True)
class DelimitedPattern:
    head: tuple[Column, ...]  # columns before the ellipsis (all columns without one)
    tail: tuple[Column, ...] | None  # columns after the ellipsis, None without one

    def matches(self, message: str) -> bool:
        fields = split_fields(message)
        if self.tail is None:
            if len(fields) != len(self.head):
                return False
            pairs = zip(self.head, fields, strict=True)
        else:
            if len(fields) < len(self.head) + len(self.tail):
                return False
            tail_fields = fields[len(fields) - len(self.tail) :] if self.tail else []
            pairs = zip((*self.head, *self.tail), (*fields[: len(self.head)], *tail_fields), strict=True)
        return all(column.matches(field) for column, field in pairs)


def split_fields(message: str) -> list[str]:
    """A message's space-delimited fields; ``"…"`` and ``[…]`` enclose one field each."""
    fields: list[str] = []
    i, n = 0, len(message)
    while i < n:
        ch = message[i]
        if ch.isspace():
            i += 1
            continue
        closing = {'"': '"', "[": "]"}.get(ch)
        if closing is not None:
            end = message.find(closing, i + 1)
            if end != -1:
                fields.append(message[i + 1 : end])
                i = end + 1
                continue
        end = i
        while end < n and not message[end].isspace():
            end += 1
        fields.append(message[i:end])
        i = end
    return fields


def _split_columns(text: str) -> list[str]:
    """Column specs split at commas outside quotes and regexes."""
    parts: list[str] = []
    current: list[str] = []
    quote: str | None = None
    for ch in text:
        if quote is not None:
            current.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in '"%':
            quote = ch
        if ch == ",":
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [part.strip() for part in parts]


def parse_delimited(text: str) -> Matcher:
    specs = _split_columns(text)
    if specs == [""]:
        raise InvalidFilterPattern()
    head: list[Column] = []
    tail: list[Column] | None = None
    regexes = 0
    for spec in specs:
        if spec == "...":
            if tail is not None:
                raise InvalidFilterPattern()
            tail = []
            continue
        column, used = _parse_column(spec)
        regexes += used
        if regexes > MAX_REGEX_PER_PATTERN:
            raise InvalidFilterPattern()
        (head if tail is None else tail).append(column)
    return DelimitedPattern(tuple(head), None if tail is None else tuple(tail))


def _parse_column(spec: str) -> tuple[Column, int]:
    tokens = _tokenize(spec, _DELIMITED_TOKEN)
    if not tokens or tokens[0][0] != "word" or not _COLUMN_NAME.fullmatch(tokens[0][1]):
        raise InvalidFilterPattern()
    name = tokens[0][1]
    if len(tokens) == 1:
        return Column(name), 0
    disjunction: list[tuple[_FieldTest, ...]] = []
    conjunction: list[_FieldTest] = []
    pos, regexes = 1, 0
    while True:
        test, pos, used = _parse_field_test(tokens, pos)
        regexes += used
        conjunction.append(test)
        if pos == len(tokens):
            break
        joiner = tokens[pos]
        if joiner not in (("op", "&&"), ("op", "||")) or pos + 1 >= len(tokens) or tokens[pos + 1] != ("word", name):
            raise InvalidFilterPattern()
        if joiner[1] == "||":
            disjunction.append(tuple(conjunction))
            conjunction = []
        pos += 2
    disjunction.append(tuple(conjunction))
    return Column(name, tuple(disjunction)), regexes


def _parse_field_test(tokens: Sequence[tuple[str, str]], pos: int) -> tuple[_FieldTest, int, int]:
    if pos >= len(tokens):
        raise InvalidFilterPattern()
    op_kind, op = tokens[pos]
    if op_kind != "op" or op not in _OPS or pos + 1 >= len(tokens):
        raise InvalidFilterPattern()
    kind, text = tokens[pos + 1]
    if kind == "quoted":
        value = _make_value(_unquote(text), quoted=True)
    elif kind in ("word", "regex"):
        value = _make_value(text, quoted=False)
    else:
        raise InvalidFilterPattern()
    if op not in ("=", "!=") and value.number is None:
        raise InvalidFilterPattern()
    return _FieldTest(op, value), pos + 2, 1 if kind == "regex" else 0
