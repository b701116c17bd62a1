"""CloudWatch Logs filter patterns (FilterLogEvents, metric and subscription filters, ``ecslite logs``).

A pattern is parsed once into a matcher; ``matcher.matches(message)`` is then a pure function of
the message. Three forms, told apart by the first character (AWS "Filter pattern syntax"):

- terms: ``ERROR``, ``"exact phrase"``, ``?ERROR ?WARN`` (alternatives), ``-DEBUG`` (exclusion),
  ``%regex%``. All terms of a group must match; ``?`` starts another group and any group may match.
  Terms are case-sensitive and match whole words: ``ERROR`` matches ``[ERROR]`` and ``ERROR:`` but
  not ``ERRORS`` (a phrase's ends are matched at word boundaries where they are word characters).
  Unquoted terms may hold only letters, digits and underscores.
- JSON: ``{ $.level = "error" && ($.latency > 100 || $.user.id NOT EXISTS) }``; selectors with
  ``.key`` and ``[index]``; values are strings (``*`` wildcards), numbers or ``%regex%``; unary
  tests ``IS NULL``, ``IS TRUE``, ``IS FALSE``, ``EXISTS``, ``NOT EXISTS``. Messages that are not
  JSON objects or arrays never match.
- space-delimited: ``[ip, user, ..., status = 4*, size > 100]``. The message is split on spaces
  (text in ``"…"`` or ``[…]`` is one field); ``...`` stands for any number of fields; otherwise the
  number of fields must equal the number of columns.

Invalid patterns raise :class:`InvalidFilterPattern` with the text CloudWatch Logs answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ecslite.model.log_filters_fields import (
    INVALID_PATTERN,
    InvalidFilterPattern,
    Matcher,
    compile_regex,
    invalid_characters,
    is_regex,
    parse_delimited,
    parse_json,
    split_fields,
    unterminated,
)

__all__ = ["INVALID_PATTERN", "InvalidFilterPattern", "Matcher", "parse_filter_pattern", "split_fields"]


def parse_filter_pattern(text: str | None) -> Matcher:
    """The matcher for ``text``; an empty or missing pattern matches every event."""
    stripped = (text or "").strip()
    if not stripped:
        return MatchAll()
    if stripped.startswith("{"):
        if not stripped.endswith("}"):
            raise InvalidFilterPattern(unterminated("{", "}"))
        return parse_json(stripped[1:-1])
    if stripped.startswith("["):
        if not stripped.endswith("]"):
            raise InvalidFilterPattern(unterminated("[", "]"))
        return parse_delimited(stripped[1:-1])
    return _parse_terms(stripped)


class MatchAll:
    def matches(self, message: str) -> bool:
        return True


# -- term patterns -----------------------------------------------------------------------------

_BARE_TERM = re.compile(r"\w+")


def _phrase_regex(phrase: str) -> re.Pattern[str]:
    head = r"(?<!\w)" if _BARE_TERM.fullmatch(phrase[0]) else ""
    tail = r"(?!\w)" if _BARE_TERM.fullmatch(phrase[-1]) else ""
    return re.compile(head + re.escape(phrase) + tail)


@dataclass(frozen=True, slots=True)
class TermGroup:
    """All of ``include`` and none of ``exclude`` must occur in the message."""

    include: tuple[re.Pattern[str], ...]
    exclude: tuple[re.Pattern[str], ...]

    def matches(self, message: str) -> bool:
        if any(p.search(message) for p in self.exclude):
            return False
        return all(p.search(message) for p in self.include)


@dataclass(frozen=True, slots=True)
class TermPattern:
    groups: tuple[TermGroup, ...]

    def matches(self, message: str) -> bool:
        return any(group.matches(message) for group in self.groups)


def _split_terms(text: str) -> list[tuple[str, str | None]]:
    """``(raw token, phrase)`` pairs; ``phrase`` is the unquoted text of a quoted token, else None."""
    tokens: list[tuple[str, str | None]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        while i < n and text[i] in "?-" and i == start:
            i += 1
        if i < n and text[i] == '"':
            phrase, i = _read_quoted(text, i)
            if i < n and not text[i].isspace():
                raise InvalidFilterPattern(invalid_characters(text[start : _word_end(text, i)]))
            tokens.append((text[start:i], phrase))
            continue
        if i < n and text[i] == "%" and text.find("%", i + 1) != -1:
            i = text.find("%", i + 1) + 1  # a regex may hold spaces
            if i < n and not text[i].isspace():
                raise InvalidFilterPattern(invalid_characters(text[start : _word_end(text, i)]))
            tokens.append((text[start:i], None))
            continue
        i = _word_end(text, i)
        tokens.append((text[start:i], None))
    return tokens


def _word_end(text: str, i: int) -> int:
    while i < len(text) and not text[i].isspace():
        i += 1
    return i


def _read_quoted(text: str, i: int) -> tuple[str, int]:
    """The content of the quoted string starting at ``text[i] == '"'`` and the index after it."""
    out: list[str] = []
    i += 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise InvalidFilterPattern(invalid_characters(text))


def _parse_terms(text: str) -> Matcher:
    groups: list[tuple[list[re.Pattern[str]], list[re.Pattern[str]]]] = []
    for raw, phrase in _split_terms(text):
        prefix = raw[0] if raw[0] in "?-" else ""
        body = raw[len(prefix) :]
        if prefix == "?" or not groups:
            groups.append(([], []))
        if phrase is not None:
            # A quoted blank (" ") asks for nothing: AWS documents it as "match everything".
            pattern = _phrase_regex(phrase) if phrase.strip() else None
        elif is_regex(body):
            pattern = compile_regex(body)
        elif _BARE_TERM.fullmatch(body):
            pattern = _phrase_regex(body)
        else:
            raise InvalidFilterPattern(invalid_characters(raw))
        if pattern is not None:
            groups[-1][1 if prefix == "-" else 0].append(pattern)
    if not groups:
        return MatchAll()
    return TermPattern(tuple(TermGroup(tuple(include), tuple(exclude)) for include, exclude in groups))
