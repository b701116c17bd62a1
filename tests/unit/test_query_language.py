"""The cluster query language (spec/ecs.md §5.4): every subject, operator and word form, and the
expressions it refuses."""

from __future__ import annotations

import pytest

from ecslite.model.placement.query_language import Comparison, Operator, PlainFacts, QueryError, parse, parse_tree

SMALL = PlainFacts(
    attributes={
        "ecs.instance-type": "t2.small",
        "ecs.availability-zone": "us-east-1a",
        "stack": "prod",
        "weight": "10",
        "ecs.capability.task-eni": None,
    },
    agent_connected=True,
    ec2_instance_id="i-0abc",
    agent_version="1.20.3",
    running_tasks_count=2,
    registered_at=1_529_360_908.0,  # 2018-06-18T22:28:28Z
    task_groups={"service:web": 2, "family:batch": 1},
)


def matches(expression: str, facts: PlainFacts = SMALL) -> bool:
    return parse(expression).matches(facts)


@pytest.mark.parametrize(
    ("symbol", "word"),
    [
        ("==", "equals"),
        ("!=", "not_equals"),
        (">", "greater_than"),
        (">=", "greater_than_equal"),
        ("<", "less_than"),
        ("<=", "less_than_equal"),
        ("=~", "matches"),
        ("!~", "not_matches"),
        ("in", "in"),
        ("!in", "not_in"),
    ],
)
def test_word_forms_mean_the_same_as_symbols(symbol: str, word: str) -> None:
    value = "[t2.small, t3.micro]" if "in" in symbol else "t2.*" if "~" in symbol else "t2.small"
    symbolic = parse(f"attribute:ecs.instance-type {symbol} {value}")
    worded = parse(f"attribute:ecs.instance-type {word} {value}")
    assert isinstance(symbolic.tree, Comparison) and isinstance(worded.tree, Comparison)
    assert symbolic.tree.operator is worded.tree.operator
    assert symbolic.matches(SMALL) == worded.matches(SMALL)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("attribute:ecs.instance-type == t2.small", True),
        ("attribute:ecs.instance-type == t2.large", False),
        ("attribute:ecs.instance-type != t2.large", True),
        ("attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", True),
        ("attribute:ecs.availability-zone in [us-east-1c]", False),
        ("attribute:ecs.availability-zone not_in [us-east-1c]", True),
        ("attribute:ecs.availability-zone !in [us-east-1a]", False),
        ("attribute:ecs.instance-type =~ t2.*", True),
        ("attribute:ecs.instance-type =~ t2", False),  # Java's matches(): the whole value
        ("attribute:ecs.instance-type !~ g2.*", True),
        ("attribute:weight > 9", True),
        ("attribute:weight >= 10", True),
        ("attribute:weight < 9", False),  # numbers compare as numbers, not text
        ("attribute:weight <= 10", True),
        ("attribute:ecs.capability.task-eni exists", True),
        ("attribute:ecs.capability.efs exists", False),
        ("attribute:ecs.capability.efs !exists", True),
        ("attribute:ecs.capability.efs not_exists", True),
        ("attribute:stack == 'prod'", True),
        ('attribute:stack == "prod"', True),
    ],
)
def test_attribute_operators(expression: str, expected: bool) -> None:
    assert matches(expression) is expected


def test_attribute_comparisons_need_the_attribute_present() -> None:
    # ECS: `attribute:retiring != true` does not match instances without the attribute.
    assert matches("attribute:retiring != true") is False
    assert matches("attribute:retiring not_in [true]") is False
    assert matches("attribute:retiring !~ t.*") is False


def test_valueless_attribute_matches_only_existence() -> None:
    assert matches("attribute:ecs.capability.task-eni == anything") is False
    assert matches("attribute:ecs.capability.task-eni exists") is True


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("agentConnected == true", True),
        ("agentConnected != true", False),
        ("agentConnected in [false]", False),
        ("ec2InstanceId == i-0abc", True),
        ("ec2InstanceId =~ i-0.*", True),
        ("ec2InstanceId not_in [i-0abc]", False),
        ("agentVersion < 1.21.0", True),
        ("agentVersion >= 1.20.3", True),
        ("agentVersion > 1.3.0", True),  # dotted versions compare part by part
        ("runningTasksCount == 2", True),
        ("runningTasksCount > 1", True),
        ("runningTasksCount <= 1", False),
        ("registeredAt < 2018-06-19", True),
        ("registeredAt > 2018-06-18", True),
        ("registeredAt == 2018-06-18T22:28:28Z", True),
        ("registeredAt == 2018-06-18T22:28:28+00:00", True),
        ("registeredAt == 2018-06-18T22:28:28", True),
        ("registeredAt > 2018-06-18T23:28:28+02:00", True),  # 21:28:28Z
        ("task:group == service:web", True),
        ("task:group == service:db", False),
        ("task:group != service:db", True),
        ("task:group != service:web", False),
        ("task:group in [service:db, family:batch]", True),
        ("task:group =~ service:.*", True),
        ("task:group !~ service:.*", False),
        ("task:group exists", True),
    ],
)
def test_other_subjects(expression: str, expected: bool) -> None:
    assert matches(expression) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone != us-east-1d", True),
        ("attribute:ecs.instance-type =~ t2.* && attribute:ecs.availability-zone == us-east-1d", False),
        ("attribute:ecs.instance-type == g2.large or runningTasksCount == 2", True),
        ("attribute:ecs.instance-type == g2.large || runningTasksCount == 3", False),
        ("not(task:group == service:web)", False),
        ("!(task:group == database)", True),
        ("NOT attribute:stack == prod", False),
        ("attribute:stack == prod AND NOT attribute:weight == 11", True),
        # `and` binds tighter than `or`; parentheses change it
        ("attribute:stack == dev and runningTasksCount == 2 or agentConnected == true", True),
        ("attribute:stack == dev and (runningTasksCount == 2 or agentConnected == true)", False),
        ("((attribute:stack == prod))", True),
    ],
)
def test_combinations_and_precedence(expression: str, expected: bool) -> None:
    assert matches(expression) is expected


def test_expressions_are_parsed_once_and_know_what_placement_changes() -> None:
    first = parse("runningTasksCount < 3")
    assert parse("runningTasksCount < 3") is first
    assert first.dynamic
    assert parse("not(task:group == web)").dynamic
    assert not parse("attribute:stack == prod").dynamic


def test_tree_uses_canonical_operators() -> None:
    tree = parse_tree("attribute:a not_equals b")
    assert tree == Comparison("attribute:a", Operator.NE, ("b",))


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("attribute:ecs.instance-type ==", "ends too early"),
        ("attribute:ecs.instance-type", "ends too early"),
        ("(attribute:a == b", "ends too early"),
        ("attribute:a == b)", "Unexpected"),
        ("colour == red", "Unexpected"),
        ("attribute:a === b", "Unexpected"),
        ("attribute:a == b and", "ends too early"),
        ("attribute:a == [x, y]", "takes one value"),
        ("attribute:a in [x,", "ends too early"),
        ("attribute:a =~ (", "Unexpected"),
        ("attribute:a =~ '('", "not a valid regular expression"),
        ("runningTasksCount =~ 1", "cannot be used with runningTasksCount"),
        ("runningTasksCount == many", "whole number"),
        ("agentVersion == latest", "version"),
        ("agentVersion in [1.2.3]", "cannot be used with agentVersion"),
        ("agentConnected == yes", "true or false"),
        ("agentConnected > true", "cannot be used with agentConnected"),
        ("ec2InstanceId exists", "cannot be used with ec2InstanceId"),
        ("registeredAt < yesterday", "registeredAt takes a date"),
        ("registeredAt =~ 2018.*", "cannot be used with registeredAt"),
        ("attribute:a == b " + "and attribute:a == b " * 120, "longer than 2000"),
    ],
)
def test_malformed_expressions_are_refused(expression: str, fragment: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse(expression)
    assert fragment in str(caught.value)
