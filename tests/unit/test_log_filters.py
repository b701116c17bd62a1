"""The filter pattern language: parsing, matching and AWS's rejections (model/log_filters.py)."""

from __future__ import annotations

import pytest

from ecslite.model.log_filters import InvalidFilterPattern, parse_filter_pattern, split_fields

LINES = [
    "[ERROR 400] BAD REQUEST",
    "[ERROR 401] UNAUTHORIZED REQUEST",
    "[ERROR 419] MISSING ARGUMENTS",
    "[ERROR 420] INVALID ARGUMENTS",
    "[INFO 200] OK",
]


def matching(pattern: str, lines: list[str] = LINES) -> list[str]:
    matcher = parse_filter_pattern(pattern)
    return [line for line in lines if matcher.matches(line)]


@pytest.mark.parametrize("pattern", [None, "", "   ", '" "'])
def test_empty_or_blank_pattern_matches_everything(pattern: str | None) -> None:
    matcher = parse_filter_pattern(pattern)
    assert all(matcher.matches(line) for line in [*LINES, "x", ""])


def test_single_term_matches_whole_words_case_sensitively() -> None:
    assert matching("ERROR") == LINES[:4]
    assert matching("error") == []
    assert matching("ERR") == []
    assert matching("AUTHORIZED") == []


def test_all_terms_must_match() -> None:
    assert matching("ERROR ARGUMENTS") == LINES[2:4]


def test_question_mark_terms_are_alternatives() -> None:
    assert matching("?ARGUMENTS ?OK") == [*LINES[2:4], LINES[4]]


def test_term_groups_after_question_marks_are_conjunctions() -> None:
    assert matching('?"BAD" "REQUEST" ?"MISSING" ARGUMENTS') == [LINES[0], LINES[2]]


def test_minus_term_excludes() -> None:
    assert matching("ERROR -ARGUMENTS") == LINES[:2]
    assert matching("-ERROR") == [LINES[4]]


def test_quoted_phrase_matches_exactly_with_punctuation() -> None:
    assert matching('"ERROR 401"') == [LINES[1]]
    assert matching('"INVALID ARGUMENTS"') == [LINES[3]]
    assert matching('"user@example.com"', ["mail to user@example.com.", "mail to xuser@example.com"]) == [
        "mail to user@example.com."
    ]


def test_escaped_quote_inside_a_phrase() -> None:
    assert matching(r'"say \"hi\""', ['he said "hi"', 'they say "hi" twice']) == ['they say "hi" twice']


def test_regex_term_matches_inside_words() -> None:
    assert matching("%AUTHORIZED%") == [LINES[1]]
    assert matching("%ERROR 40[01]%") == LINES[:2]
    assert matching("%^\\[INFO%") == [LINES[4]]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("?", "Invalid character(s) in term '?'"),
        ("!(", "Invalid character(s) in term '!('"),
        ("email@domain.com", "Invalid character(s) in term 'email@domain.com'"),
        ("ERROR user-service", "Invalid character(s) in term 'user-service'"),
        ("%something!%", "Invalid character(s) in term '%something!%'"),
        ("%(a)%", "Invalid character(s) in term '%(a)%'"),
        ('{ $.level = "error"', "If a filter pattern starts with '{' it must end with '}'"),
        ("[ip, user", "If a filter pattern starts with '[' it must end with ']'"),
        ("{ }", "Invalid filter pattern"),
        ("{ level = 1 }", "Invalid filter pattern"),
        ("{ $.level = }", "Invalid filter pattern"),
        ("{ $.a > abc }", "Invalid filter pattern"),
        ("{ ($.a = 1 }", "Invalid filter pattern"),
        ("{ $.a = 1 && }", "Invalid filter pattern"),
        ("{ $.a IS MAYBE }", "Invalid filter pattern"),
        ("{ $.a = %x% || $.b = %y% || $.c = %z% }", "Invalid filter pattern"),
        ("[a, ..., b, ...]", "Invalid filter pattern"),
        ("[a b]", "Invalid filter pattern"),
        ("[a = 1 && b = 2]", "Invalid filter pattern"),
        ("[status > four]", "Invalid filter pattern"),
        ("[]", "Invalid filter pattern"),
    ],
)
def test_invalid_patterns_are_rejected_with_aws_text(pattern: str, message: str) -> None:
    with pytest.raises(InvalidFilterPattern) as caught:
        parse_filter_pattern(pattern)
    assert caught.value.message == message


JSON_LINES = [
    '{"level": "error", "latency": 250, "user": {"id": 7, "name": "ann"}, "tags": ["a", "b"], "ok": false}',
    '{"level": "info", "latency": 50, "user": {"id": 8, "name": null}, "tags": ["c"], "ok": true}',
    '{"level": "error", "latency": 90.5, "path": "/api/items/1"}',
    "plain text level error",
    '["not", "an", "object"]',
]


def json_matching(pattern: str) -> list[int]:
    matcher = parse_filter_pattern(pattern)
    return [i for i, line in enumerate(JSON_LINES) if matcher.matches(line)]


def test_json_string_equality_and_inequality() -> None:
    assert json_matching('{ $.level = "error" }') == [0, 2]
    assert json_matching("{ $.level = error }") == [0, 2]
    assert json_matching('{ $.level != "error" }') == [1]


def test_json_numeric_comparisons() -> None:
    assert json_matching("{ $.latency > 100 }") == [0]
    assert json_matching("{ $.latency >= 50 }") == [0, 1, 2]
    assert json_matching("{ $.latency < 90.5 }") == [1]
    assert json_matching("{ $.latency = 90.5 }") == [2]
    assert json_matching("{ $.latency != 250 }") == [1, 2]


def test_json_and_or_with_parentheses() -> None:
    assert json_matching('{ $.level = "error" && $.latency > 100 }') == [0]
    assert json_matching('{ $.level = "info" || $.latency > 100 }') == [0, 1]
    assert json_matching('{ ($.level = "info" || $.latency > 100) && $.user.id = 8 }') == [1]


def test_json_nested_selectors_and_array_indexes() -> None:
    assert json_matching("{ $.user.id = 7 }") == [0]
    assert json_matching('{ $.tags[1] = "b" }') == [0]
    assert json_matching('{ $.tags[0] = "c" }') == [1]
    assert json_matching('{ $.tags[5] = "c" }') == []


def test_json_wildcards_in_values() -> None:
    assert json_matching('{ $.path = "/api/*" }') == [2]
    assert json_matching("{ $.path = /api/items/* }") == [2]
    assert json_matching("{ $.level = * }") == [0, 1, 2]


def test_json_null_exists_and_booleans() -> None:
    assert json_matching("{ $.user.name IS NULL }") == [1]
    assert json_matching("{ $.user NOT EXISTS }") == [2, 4]
    assert json_matching("{ $.path EXISTS }") == [2]
    assert json_matching("{ $.ok IS TRUE }") == [1]
    assert json_matching("{ $.ok IS FALSE }") == [0]


def test_json_regex_values() -> None:
    assert json_matching("{ $.level = %err% }") == [0, 2]
    assert json_matching("{ $.path = %^/api/items/[0-9]+$% }") == [2]


def test_json_pattern_never_matches_non_json_messages() -> None:
    assert 3 not in json_matching("{ $.level = * }")
    assert parse_filter_pattern("{ $.level = error }").matches("{not json") is False


APACHE = [
    '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534',
    '10.0.0.2 - - [10/Oct/2000:13:25:16 -0700] "POST /api HTTP/1.1" 200 99',
    '10.0.0.3 - bob [10/Oct/2000:13:25:17 -0700] "GET /big HTTP/1.1" 500 20000',
]


def delimited_matching(pattern: str) -> list[int]:
    matcher = parse_filter_pattern(pattern)
    return [i for i, line in enumerate(APACHE) if matcher.matches(line)]


def test_split_fields_honours_quotes_and_brackets() -> None:
    assert split_fields(APACHE[0]) == [
        "127.0.0.1",
        "-",
        "frank",
        "10/Oct/2000:13:25:15 -0700",
        "GET /index.html HTTP/1.0",
        "404",
        "1534",
    ]


def test_space_delimited_columns_with_conditions() -> None:
    columns = "ip, id, user, timestamp, request"
    assert delimited_matching(f"[{columns}, status = 404, size]") == [0]
    assert delimited_matching(f"[{columns}, status = 4*, size]") == [0]
    assert delimited_matching(f"[{columns}, status, size > 1000]") == [0, 2]
    assert delimited_matching(f"[{columns}, status != 200, size < 10000]") == [0]
    assert delimited_matching(f"[{columns}, status >= 400 && status < 500, size]") == [0]
    assert delimited_matching(f"[{columns}, status = 200 || status = 500, size]") == [1, 2]
    assert delimited_matching(f'[ip, id, user = "bob", {columns.split(", ", 3)[3]}, status, size]') == [2]


def test_space_delimited_column_count_must_match_without_ellipsis() -> None:
    assert delimited_matching("[ip, id, user]") == []
    assert delimited_matching("[ip, ..., status = 404, size]") == [0]
    assert delimited_matching("[ip = 10.0.0.*, ...]") == [1, 2]
    assert delimited_matching("[..., size > 10000]") == [2]


def test_space_delimited_regex_values() -> None:
    assert delimited_matching("[ip, id, user, timestamp, request = %POST|GET /big%, ...]") == [1, 2]
