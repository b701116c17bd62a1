"""The pure dependsOn rules (model.container_ordering, spec/ecs.md §2.6, §3.3, §3.4)."""

from __future__ import annotations

from ecslite.model.container_ordering import (
    Condition,
    ContainerFacts,
    Dependency,
    Verdict,
    may_stop,
    parse_dependencies,
    satisfied_for_running,
    start_decision,
)


def facts(*items: ContainerFacts) -> dict[str, ContainerFacts]:
    return {item.name: item for item in items}


def waits(on: str, condition: Condition) -> tuple[Dependency, ...]:
    return (Dependency(on, condition),)


def test_parse_dependencies_skips_malformed_items() -> None:
    parsed = parse_dependencies(
        [{"containerName": "db", "condition": "HEALTHY"}, {"containerName": "x", "condition": "NOPE"}, {}]
    )
    assert parsed == (Dependency("db", Condition.HEALTHY),)


def test_a_container_without_dependencies_is_ready() -> None:
    assert start_decision("a", facts(ContainerFacts("a")), 0).verdict is Verdict.READY


def test_start_condition_needs_the_target_started() -> None:
    pending = facts(ContainerFacts("db"), ContainerFacts("app", waits("db", Condition.START)))
    assert start_decision("app", pending, 0).verdict is Verdict.WAIT
    started = facts(ContainerFacts("db", started_at=1), ContainerFacts("app", waits("db", Condition.START)))
    assert start_decision("app", started, 2).verdict is Verdict.READY


def test_complete_and_success_conditions() -> None:
    exited_1 = ContainerFacts("init", started_at=1, exited=True, exit_code=1)
    complete = facts(exited_1, ContainerFacts("app", waits("init", Condition.COMPLETE)))
    assert start_decision("app", complete, 2).verdict is Verdict.READY
    success = facts(exited_1, ContainerFacts("app", waits("init", Condition.SUCCESS)))
    decision = start_decision("app", success, 2)
    assert decision.verdict is Verdict.FAIL
    assert decision.reason == (
        "CannotStartContainerError: dependency graph: failed to resolve container ordering dependency [init] for "
        "target [app] as dependency did not exit successfully. 'app' waits for 'init' SUCCESS but 'init' exited 1."
    )
    exited_0 = ContainerFacts("init", started_at=1, exited=True, exit_code=0)
    assert start_decision("app", facts(exited_0, success["app"]), 2).verdict is Verdict.READY


def test_healthy_condition_waits_then_times_out_by_the_targets_start_timeout() -> None:
    db = ContainerFacts("db", start_timeout=30, started_at=100)
    app = ContainerFacts("app", waits("db", Condition.HEALTHY))
    waiting = start_decision("app", facts(db, app), 110)
    assert (waiting.verdict, waiting.recheck_at) == (Verdict.WAIT, 130)
    timed_out = start_decision("app", facts(db, app), 130)
    assert timed_out.verdict is Verdict.FAIL
    assert "has timed out" in (timed_out.reason or "")
    healthy = ContainerFacts("db", start_timeout=30, started_at=100, healthy=True)
    assert start_decision("app", facts(healthy, app), 500).verdict is Verdict.READY


def test_a_target_that_failed_to_start_fails_every_condition() -> None:
    broken = ContainerFacts("side", failed_to_start="CannotStartContainerError: boom")
    for condition in Condition:
        decision = start_decision("app", facts(broken, ContainerFacts("app", waits("side", condition))), 0)
        assert decision.verdict is Verdict.FAIL
        assert "because dependency will never start" in (decision.reason or "")


def test_unknown_target_fails() -> None:
    decision = start_decision("app", facts(ContainerFacts("app", waits("ghost", Condition.START))), 0)
    assert decision.verdict is Verdict.FAIL
    assert "does not exist" in (decision.reason or "")


def test_running_needs_complete_targets_to_have_exited() -> None:
    init = ContainerFacts("init", started_at=1)
    app = ContainerFacts("app", waits("init", Condition.COMPLETE), started_at=2)
    assert not satisfied_for_running("init", facts(init, app))
    done = ContainerFacts("init", started_at=1, exited=True, exit_code=0)
    assert satisfied_for_running("init", facts(done, app))
    assert not satisfied_for_running("app", facts(done, ContainerFacts("app", waits("init", Condition.COMPLETE))))


def test_a_container_stops_only_after_its_running_dependents() -> None:
    router = ContainerFacts("router", started_at=1)
    app = ContainerFacts("app", waits("router", Condition.START), started_at=2)
    other = ContainerFacts("other", started_at=2)
    assert not may_stop("router", facts(router, app, other))
    assert may_stop("app", facts(router, app, other)) and may_stop("other", facts(router, app, other))
    stopped_app = ContainerFacts("app", waits("router", Condition.START), started_at=2, exited=True, exit_code=143)
    assert may_stop("router", facts(router, stopped_app, other))
