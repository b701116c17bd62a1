"""The pure deployment rules (spec/ecs.md §4.4–§4.10): bounds, rolling steps, health, breaker, throttle."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from ecslite.model.deployments import (
    HEALTHY_AFTER_RUNNING_SECONDS,
    RolloutInput,
    ServiceTask,
    StopOutcome,
    StopWhy,
    TaskPhase,
    breaker_threshold,
    classify_stop,
    counts_for_breaker,
    counts_for_throttle,
    has_essential_health_check,
    is_steady,
    max_tasks,
    min_healthy,
    new_deployment_id,
    rollout_step,
    scale_in_victims,
    task_phase,
    throttle_delay,
)

OLD, NEW = "ecs-svc/1000000000000000001", "ecs-svc/1000000000000000002"


@pytest.mark.parametrize(
    ("desired", "minimum", "maximum", "floor", "ceiling"),
    [
        (3, 100, 200, 3, 6),
        (4, 50, 100, 2, 4),
        (1, 0, 100, 0, 1),
        (1, 100, 200, 1, 2),
        (2, 75, 100, 2, 2),
        (3, 100, 125, 3, 3),
    ],
)
def test_bounds_round_like_ecs(desired: int, minimum: int, maximum: int, floor: int, ceiling: int) -> None:
    assert min_healthy(desired, minimum) == floor
    assert max_tasks(desired, maximum) == ceiling


def test_deployment_ids_are_ecs_svc_and_19_digits() -> None:
    ident = new_deployment_id()
    assert ident.startswith("ecs-svc/")
    digits = ident.split("/", 1)[1]
    assert len(digits) == 19 and digits.isdigit()


@pytest.mark.parametrize(
    ("desired", "threshold"), [(0, 3), (1, 3), (6, 3), (7, 4), (10, 5), (25, 13), (399, 200), (400, 200)]
)
def test_breaker_threshold_is_half_the_desired_count_between_3_and_200(desired: int, threshold: int) -> None:
    assert breaker_threshold(desired) == threshold


def test_breaker_threshold_configuration_types() -> None:
    assert breaker_threshold(10, {"type": "COUNT", "value": 7}) == 7
    assert breaker_threshold(10, {"type": "BOUNDED_PERCENT", "value": 100}) == 10
    assert breaker_threshold(2, {"type": "BOUNDED_PERCENT", "value": 10}) == 3
    assert breaker_threshold(2, {"type": "UNBOUNDED_PERCENT", "value": 10}) == 1
    assert breaker_threshold(1000, {"type": "UNBOUNDED_PERCENT", "value": 50}) == 500


# -- a small simulation of rolling steps ------------------------------------------------------------


@dataclass
class Sim:
    """Tasks as the scheduler sees them; launched tasks are PENDING for one round, then HEALTHY."""

    desired: int
    minimum: int
    maximum: int
    tasks: list[ServiceTask] = field(default_factory=list)
    history: list[tuple[int, int, int]] = field(default_factory=list)  # (launched, stopped old, stopped new)
    counter: int = 0

    def seed(self, count: int) -> None:
        for _ in range(count):
            self.tasks.append(self._task(OLD, TaskPhase.HEALTHY))

    def _task(self, deployment: str, phase: TaskPhase) -> ServiceTask:
        self.counter += 1
        return ServiceTask(f"arn:task/{self.counter}", deployment, phase, created_at=float(self.counter))

    def step(self, *, can_launch: bool = True) -> tuple[int, list[str], bool]:
        plan = rollout_step(RolloutInput(self.desired, self.minimum, self.maximum, NEW, self.tasks, can_launch))
        stopped = {order.arn for order in plan.stops}
        gone = [t for t in self.tasks if t.arn in stopped]
        self.tasks = [t for t in self.tasks if t.arn not in stopped]
        self.tasks += [self._task(NEW, TaskPhase.PENDING) for _ in range(plan.launch)]
        old = sum(1 for t in gone if t.deployment_id == OLD)
        self.history.append((plan.launch, old, len(gone) - old))
        return plan.launch, [t.deployment_id for t in gone], plan.stuck

    def mature(self, count: int | None = None) -> None:
        """``count`` pending tasks (all by default) become healthy."""
        left = len(self.tasks) if count is None else count
        for index, task in enumerate(self.tasks):
            if task.phase is TaskPhase.PENDING and left > 0:
                self.tasks[index] = replace(task, phase=TaskPhase.HEALTHY)
                left -= 1

    def healthy(self) -> int:
        return sum(1 for t in self.tasks if t.phase is TaskPhase.HEALTHY)

    def done(self) -> bool:
        return (
            all(t.deployment_id == NEW and t.phase is TaskPhase.HEALTHY for t in self.tasks)
            and len(self.tasks) == self.desired
        )


def test_rolling_update_100_200_starts_all_new_tasks_then_releases_old_ones() -> None:
    sim = Sim(3, 100, 200)
    sim.seed(3)
    assert sim.step() == (3, [], False)
    assert len(sim.tasks) == 6
    sim.mature(1)
    assert sim.step() == (0, [OLD], False)  # each healthy new task releases one old
    sim.mature()
    sim.step()
    assert sim.done() and sim.healthy() == 3


def test_rolling_update_50_100_stops_two_old_starts_two_new_then_the_rest() -> None:
    sim = Sim(4, 50, 100)
    sim.seed(4)
    assert sim.step() == (0, [OLD, OLD], False)
    assert sim.step() == (2, [], False)
    sim.mature()
    assert sim.step() == (0, [OLD, OLD], False)
    assert sim.step() == (2, [], False)
    sim.mature()
    sim.step()
    assert sim.done()


def test_rolling_update_0_100_stops_the_old_task_before_starting_the_new_one() -> None:
    sim = Sim(1, 0, 100)
    sim.seed(1)
    assert sim.step() == (0, [OLD], False)
    assert sim.step() == (1, [], False)


@pytest.mark.parametrize(("desired", "minimum", "maximum"), [(2, 75, 100), (3, 100, 125)])
def test_rolling_update_is_stuck_when_the_percentages_allow_no_movement(
    desired: int, minimum: int, maximum: int
) -> None:
    sim = Sim(desired, minimum, maximum)
    sim.seed(desired)
    assert sim.step() == (0, [], True)


def test_rolling_update_50_200_never_goes_below_the_floor_or_above_the_ceiling() -> None:
    sim = Sim(4, 50, 200)
    sim.seed(4)
    launched, stopped, _ = sim.step()
    assert (launched, stopped) == (4, [])  # launch before stop: room for all four new tasks
    while not sim.done():
        assert len(sim.tasks) <= 8
        assert sim.healthy() >= 2
        sim.mature(1)
        sim.step()
    assert all(new == 0 for _, _, new in sim.history)


def test_old_tasks_that_are_not_healthy_go_first_without_using_the_budget() -> None:
    tasks = [
        ServiceTask("a", OLD, TaskPhase.HEALTHY),
        ServiceTask("b", OLD, TaskPhase.HEALTHY),
        ServiceTask("c", OLD, TaskPhase.PENDING),
    ]
    plan = rollout_step(RolloutInput(3, 100, 100, NEW, tasks))
    assert [o.arn for o in plan.stops] == ["c"]
    assert plan.launch == 1  # the freed slot is used at once


def test_old_tasks_that_run_but_are_not_yet_healthy_are_kept_while_there_is_room() -> None:
    tasks = [ServiceTask("a", OLD, TaskPhase.STARTING), ServiceTask("b", OLD, TaskPhase.HEALTHY)]
    plan = rollout_step(RolloutInput(2, 100, 200, NEW, tasks))
    assert (plan.launch, plan.stops, plan.stuck) == (2, (), False)
    tight = rollout_step(RolloutInput(2, 50, 100, NEW, tasks))
    assert [o.arn for o in tight.stops] == ["a"]  # making room, the one not yet counted healthy goes first


def test_failed_primary_launches_nothing_and_keeps_old_tasks() -> None:
    tasks = [ServiceTask(str(i), OLD, TaskPhase.HEALTHY) for i in range(4)]
    plan = rollout_step(RolloutInput(4, 50, 100, NEW, tasks, can_launch=False))
    assert plan.launch == 0 and plan.stops == () and not plan.stuck


def test_unhealthy_primary_task_is_replaced_first_when_there_is_room() -> None:
    tasks = [
        ServiceTask("a", NEW, TaskPhase.HEALTHY),
        ServiceTask("b", NEW, TaskPhase.HEALTHY),
        ServiceTask("c", NEW, TaskPhase.UNHEALTHY),
    ]
    plan = rollout_step(RolloutInput(3, 100, 200, NEW, tasks))
    assert plan.launch == 1
    assert [(o.arn, o.why) for o in plan.stops] == [("c", StopWhy.UNHEALTHY)]


def test_unhealthy_tasks_go_one_at_a_time_without_room() -> None:
    tasks = [ServiceTask("a", NEW, TaskPhase.HEALTHY)] + [ServiceTask(x, NEW, TaskPhase.UNHEALTHY) for x in "bc"]
    plan = rollout_step(RolloutInput(3, 50, 100, NEW, tasks))
    assert plan.launch == 0
    assert [o.arn for o in plan.stops] == ["b"]


def test_scale_in_takes_pending_tasks_first_then_the_newest_of_the_fullest_zone() -> None:
    tasks = [
        ServiceTask("a", NEW, TaskPhase.HEALTHY, created_at=1, zone="z1"),
        ServiceTask("b", NEW, TaskPhase.HEALTHY, created_at=2, zone="z1"),
        ServiceTask("c", NEW, TaskPhase.HEALTHY, created_at=3, zone="z2"),
        ServiceTask("d", NEW, TaskPhase.PENDING, created_at=0, zone="z2"),
    ]
    assert [t.arn for t in scale_in_victims(tasks, 2)] == ["d", "b"]
    plan = rollout_step(RolloutInput(1, 100, 200, NEW, tasks))
    assert sorted(o.arn for o in plan.stops) == ["b", "c", "d"]
    assert all(o.why is StopWhy.ROLLOUT for o in plan.stops)


def test_scale_in_skips_protected_tasks_and_says_when_they_keep_the_count_up() -> None:
    tasks = [
        ServiceTask("a", NEW, TaskPhase.HEALTHY, created_at=1, protected=True),
        ServiceTask("b", NEW, TaskPhase.HEALTHY, created_at=2),
        ServiceTask("c", NEW, TaskPhase.PENDING, created_at=3, protected=True),
    ]
    plan = rollout_step(RolloutInput(1, 100, 200, NEW, tasks))
    assert [o.arn for o in plan.stops] == ["b"]
    assert plan.protected_block and not plan.stuck
    enough = rollout_step(RolloutInput(2, 100, 200, NEW, tasks))
    assert [o.arn for o in enough.stops] == ["b"] and not enough.protected_block


def test_a_deployment_keeps_protected_old_tasks_until_their_protection_ends() -> None:
    tasks = [
        ServiceTask("old-1", OLD, TaskPhase.HEALTHY, protected=True),
        ServiceTask("old-2", OLD, TaskPhase.HEALTHY),
        ServiceTask("new-1", NEW, TaskPhase.HEALTHY),
        ServiceTask("new-2", NEW, TaskPhase.HEALTHY),
    ]
    plan = rollout_step(RolloutInput(2, 100, 200, NEW, tasks))
    assert [o.arn for o in plan.stops] == ["old-2"]
    assert plan.protected_block and plan.launch == 0 and not plan.stuck
    unprotected = [replace(t, protected=False) for t in tasks]
    done = rollout_step(RolloutInput(2, 100, 200, NEW, unprotected))
    assert sorted(o.arn for o in done.stops) == ["old-1", "old-2"] and not done.protected_block


def test_steady_needs_exactly_the_desired_healthy_tasks_of_the_primary_alone() -> None:
    healthy = [ServiceTask(str(i), NEW, TaskPhase.HEALTHY) for i in range(2)]
    assert is_steady(2, NEW, healthy)
    assert not is_steady(3, NEW, healthy)
    assert not is_steady(2, NEW, [*healthy, ServiceTask("x", OLD, TaskPhase.HEALTHY)])
    assert not is_steady(2, NEW, [healthy[0], ServiceTask("y", NEW, TaskPhase.STARTING)])
    assert is_steady(0, NEW, [])


# -- health --------------------------------------------------------------------------------------------


def phase(**given: object) -> tuple[TaskPhase, float | None]:
    values: dict[str, object] = {
        "last_status": "RUNNING",
        "started_at": 100.0,
        "health_status": "UNKNOWN",
        "has_health_check": False,
        "grace_seconds": 0.0,
        "now": 100.0,
    }
    values.update(given)
    result = task_phase(**values)  # type: ignore[arg-type]
    return result.phase, result.recheck_at


def test_a_task_without_checks_is_healthy_40_seconds_after_running() -> None:
    assert phase(last_status="PENDING", started_at=None) == (TaskPhase.PENDING, None)
    assert phase(now=139.9) == (TaskPhase.STARTING, 100.0 + HEALTHY_AFTER_RUNNING_SECONDS)
    assert phase(now=140.0) == (TaskPhase.HEALTHY, None)


def test_a_task_with_checks_is_healthy_when_its_health_says_so() -> None:
    assert phase(has_health_check=True, now=1000.0) == (TaskPhase.STARTING, None)
    assert phase(has_health_check=True, health_status="HEALTHY") == (TaskPhase.HEALTHY, None)


def test_failing_checks_inside_the_grace_period_do_not_make_a_task_unhealthy() -> None:
    assert phase(has_health_check=True, health_status="UNHEALTHY", grace_seconds=60.0, now=150.0) == (
        TaskPhase.STARTING,
        160.0,
    )
    assert phase(has_health_check=True, health_status="UNHEALTHY", grace_seconds=60.0, now=160.0) == (
        TaskPhase.UNHEALTHY,
        None,
    )


def test_only_essential_containers_with_a_command_count_as_health_checked() -> None:
    check = {"command": ["CMD", "true"]}
    assert has_essential_health_check([{"essential": True, "healthCheck": check}])
    assert not has_essential_health_check([{"essential": False, "healthCheck": check}])
    assert not has_essential_health_check([{"essential": True, "healthCheck": None}])


# -- failures and throttling --------------------------------------------------------------------------


def test_stops_that_count_for_the_breaker_and_the_throttle() -> None:
    failed_start = classify_stop("TaskFailedToStart", reached_running=False, ever_healthy=False, for_health=False)
    exited_early = classify_stop(
        "EssentialContainerExited", reached_running=False, ever_healthy=False, for_health=False
    )
    crashed = classify_stop("EssentialContainerExited", reached_running=True, ever_healthy=False, for_health=False)
    healthy_exit = classify_stop("EssentialContainerExited", reached_running=True, ever_healthy=True, for_health=False)
    health = classify_stop("ServiceSchedulerInitiated", reached_running=True, ever_healthy=True, for_health=True)
    scaled = classify_stop("ServiceSchedulerInitiated", reached_running=True, ever_healthy=False, for_health=False)
    user = classify_stop("UserInitiated", reached_running=False, ever_healthy=False, for_health=False)
    assert (failed_start, exited_early) == (StopOutcome.FAILED_TO_START, StopOutcome.FAILED_TO_START)
    assert (crashed, healthy_exit, health) == (StopOutcome.CRASHED, StopOutcome.ENDED, StopOutcome.HEALTH_FAILURE)
    assert (scaled, user) == (StopOutcome.ENDED, StopOutcome.ENDED)
    assert [counts_for_breaker(o) for o in (failed_start, crashed, health, healthy_exit, user)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert [counts_for_throttle(o) for o in (failed_start, crashed, health)] == [True, False, False]


def test_throttle_doubles_from_ten_seconds_up_to_the_maximum() -> None:
    assert [throttle_delay(n) for n in range(6)] == [0.0, 10.0, 20.0, 40.0, 80.0, 160.0]
    assert throttle_delay(8) == 900.0
    assert throttle_delay(1000) == 900.0
    assert throttle_delay(10, maximum=27 * 60) == 27 * 60
