"""The dependsOn graph of a task definition: entries and cycles (spec/ecs.md §2.6)."""

from __future__ import annotations

from ecslite.model.task_definitions import ContainerCondition, Dependency, dependencies_of, find_cycle


def test_find_cycle_is_none_for_a_chain() -> None:
    assert find_cycle(["app", "db", "init"], [("app", "db"), ("db", "init")]) is None


def test_find_cycle_reports_a_two_container_cycle_as_a_closed_path() -> None:
    assert find_cycle(["a", "b"], [("a", "b"), ("b", "a")]) == ["a", "b", "a"]


def test_find_cycle_reports_a_self_dependency() -> None:
    assert find_cycle(["a", "b"], [("b", "b")]) == ["b", "b"]


def test_find_cycle_finds_a_cycle_behind_an_acyclic_prefix() -> None:
    edges = [("web", "api"), ("api", "cache"), ("cache", "db"), ("db", "api")]
    assert find_cycle(["web", "api", "cache", "db"], edges) == ["api", "cache", "db", "api"]


def test_find_cycle_accepts_a_diamond() -> None:
    edges = [("top", "left"), ("top", "right"), ("left", "bottom"), ("right", "bottom")]
    assert find_cycle(["top", "left", "right", "bottom"], edges) is None


def test_find_cycle_ignores_unknown_targets() -> None:
    assert find_cycle(["a"], [("a", "ghost")]) is None


def test_dependencies_of_reads_every_entry_in_definition_order() -> None:
    containers = [
        {"name": "app", "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}]},
        {"name": "db"},
        {"name": "init", "dependsOn": []},
        {"name": "web", "dependsOn": [{"containerName": "app", "condition": "START"}]},
    ]
    assert dependencies_of(containers) == [
        Dependency("app", "db", ContainerCondition.HEALTHY),
        Dependency("web", "app", ContainerCondition.START),
    ]
