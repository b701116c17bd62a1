"""When a container may start and when it may stop, from its ``dependsOn`` (spec/ecs.md §2.6, §3.3, §3.4).

Pure functions over a snapshot of the task's containers, so the task controller can ask them on
every reconcile and unit tests can drive every case without a runtime.

Start rules (as the ECS agent's dependency graph applies them):

- ``START``: the target has started; ``COMPLETE``: it exited (any code); ``SUCCESS``: it exited 0;
  ``HEALTHY``: it reports HEALTHY.
- A dependency that can never be met fails the dependent at once: a ``SUCCESS`` target that exited
  non-zero, a target that failed to start, a ``HEALTHY`` target that exited without being healthy.
  ECS's agent words these ``dependency graph: failed to resolve container ordering dependency …``;
  **Beyond ECS** the reason goes on to say who waits for whom and what happened (§3.3).
- ``startTimeout`` belongs to the *target*: if the target has not reached the condition
  (``COMPLETE``/``SUCCESS``/``HEALTHY``) within its ``startTimeout`` after it started, the
  dependent gives up (the agent's ``hasDependencyTimedOut``).

Stop rule: a container is signalled only after every container that depends on it has stopped,
so shutdown runs in reverse dependency order while unrelated containers stop in parallel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from ecslite.model.task_definitions import ContainerCondition as Condition
from ecslite.model.tasks import DEPENDENCY_PREFIX

__all__ = ["Condition", "ContainerFacts", "Dependency", "StartDecision", "Verdict"]


@dataclass(frozen=True, slots=True)
class Dependency:
    target: str
    condition: Condition


@dataclass(frozen=True, slots=True)
class ContainerFacts:
    """What ordering needs to know about one container right now."""

    name: str
    depends_on: tuple[Dependency, ...] = ()
    start_timeout: float | None = None
    started_at: float | None = None
    failed_to_start: str | None = None  # the reason, when it never started and never will
    exit_code: int | None = None
    exited: bool = False
    healthy: bool = False

    @property
    def started(self) -> bool:
        return self.started_at is not None

    @property
    def terminal(self) -> bool:
        return self.exited or self.failed_to_start is not None


class Verdict(StrEnum):
    READY = "READY"
    WAIT = "WAIT"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class StartDecision:
    verdict: Verdict
    reason: str | None = None  # for FAIL: the container reason ECS shows
    recheck_at: float | None = None  # for WAIT: when a start timeout expires


def parse_dependencies(items: Sequence[Mapping[str, str]] | None) -> tuple[Dependency, ...]:
    out = []
    for item in items or ():
        try:
            out.append(Dependency(item["containerName"], Condition(item["condition"])))
        except (KeyError, ValueError):
            continue  # registration rejects these; a stored oddity must not break the controller
    return tuple(out)


def _failed(dependent: str, dep: Dependency, agent_text: str, detail: str) -> StartDecision:
    return StartDecision(
        Verdict.FAIL,
        f"{DEPENDENCY_PREFIX} {agent_text}. '{dependent}' waits for '{dep.target}' {dep.condition.value} but {detail}.",
    )


def _unresolvable(dependent: str, dep: Dependency, target: ContainerFacts) -> StartDecision | None:
    """A FAIL decision when ``dep`` can never be met, else ``None``."""
    resolve = f"failed to resolve container ordering dependency [{dep.target}] for target [{dependent}]"
    if target.failed_to_start is not None:
        return _failed(
            dependent, dep, f"{resolve} because dependency will never start", f"'{dep.target}' failed to start"
        )
    if dep.condition is Condition.SUCCESS and target.exited and target.exit_code != 0:
        return _failed(
            dependent,
            dep,
            f"{resolve} as dependency did not exit successfully",
            f"'{dep.target}' exited {_code(target.exit_code)}",
        )
    if dep.condition is Condition.HEALTHY and target.exited and not target.healthy:
        return _failed(
            dependent, dep, resolve, f"'{dep.target}' exited {_code(target.exit_code)} before it was healthy"
        )
    return None


def _code(exit_code: int | None) -> str:
    return "without an exit code" if exit_code is None else str(exit_code)


def _met(dep: Dependency, target: ContainerFacts) -> bool:
    if dep.condition is Condition.START:
        return target.started
    if dep.condition is Condition.COMPLETE:
        return target.exited
    if dep.condition is Condition.SUCCESS:
        return target.exited and target.exit_code == 0
    return target.healthy


def start_decision(name: str, containers: Mapping[str, ContainerFacts], now: float) -> StartDecision:
    """May container ``name`` (not yet started) start now?"""
    me = containers[name]
    recheck: float | None = None
    waiting = False
    for dep in me.depends_on:
        target = containers.get(dep.target)
        if target is None:
            return StartDecision(
                Verdict.FAIL,
                f"{DEPENDENCY_PREFIX} container ordering dependency [{dep.target}] for target [{name}] does not exist.",
            )
        failure = _unresolvable(name, dep, target)
        if failure is not None:
            return failure
        if _met(dep, target):
            continue
        waiting = True
        if dep.condition is not Condition.START and target.start_timeout and target.started_at is not None:
            deadline = target.started_at + target.start_timeout
            if now >= deadline:
                return _failed(
                    name,
                    dep,
                    f"container ordering dependency [{dep.target}] for target [{name}] has timed out",
                    f"'{dep.target}' was not {_state_word(dep.condition)} within its startTimeout of "
                    f"{target.start_timeout:g}s",
                )
            recheck = deadline if recheck is None else min(recheck, deadline)
    if waiting:
        return StartDecision(Verdict.WAIT, recheck_at=recheck)
    return StartDecision(Verdict.READY)


def _state_word(condition: Condition) -> str:
    return {
        Condition.START: "started",
        Condition.COMPLETE: "complete",
        Condition.SUCCESS: "successfully complete",
        Condition.HEALTHY: "HEALTHY",
    }[condition]


def satisfied_for_running(name: str, containers: Mapping[str, ContainerFacts]) -> bool:
    """Does container ``name`` let the task count as RUNNING (§3.3)?

    It must have started; a container others wait on with COMPLETE/SUCCESS must also have exited.
    """
    me = containers[name]
    if me.failed_to_start is not None:
        return True  # a non-essential container that will never run does not hold the task back
    if not me.started:
        return False
    for other in containers.values():
        for dep in other.depends_on:
            if dep.target == name and dep.condition in (Condition.COMPLETE, Condition.SUCCESS) and not me.exited:
                return False
    return True


def may_stop(name: str, containers: Mapping[str, ContainerFacts]) -> bool:
    """True when every container depending on ``name`` has stopped (§3.4 reverse order)."""
    for other in containers.values():
        if other.name == name or other.terminal or not other.started:
            continue
        if any(dep.target == name for dep in other.depends_on):
            return False
    return True
