"""The periodic component base: passes on the clock, a failed pass logged and survived, stop and restart."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ecslite.clock import FakeClock
from ecslite.periodic import Periodic


class Counter(Periodic):
    name = "counter"
    failure = "counting pass failed"

    def __init__(self, clock: FakeClock, interval: float, fail_on: int | None = None) -> None:
        super().__init__(clock, interval)
        self.passes = 0
        self.fail_on = fail_on

    async def run_pass(self) -> None:
        self.passes += 1
        if self.passes == self.fail_on:
            raise RuntimeError("boom")


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def _advance(clock: FakeClock, seconds: float) -> None:
    # Whole steps: FakeClock.run_for's tenths add up to just under a whole second.
    clock.advance(seconds)
    await _settle()


def test_a_pass_runs_at_start_and_then_every_interval() -> None:
    async def scenario() -> list[int]:
        clock = FakeClock()
        counter = Counter(clock, 2.0)
        await counter.start()
        await _settle()
        seen = [counter.passes]
        await _advance(clock, 1.0)
        seen.append(counter.passes)
        await _advance(clock, 1.0)
        seen.append(counter.passes)
        await _advance(clock, 2.0)
        await _advance(clock, 2.0)
        seen.append(counter.passes)
        await counter.stop()
        return seen

    assert asyncio.run(scenario()) == [1, 1, 2, 4]


def test_a_failed_pass_is_logged_and_the_next_one_still_runs(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> int:
        clock = FakeClock()
        counter = Counter(clock, 1.0, fail_on=1)
        await counter.start()
        await _settle()
        await _advance(clock, 1.0)
        await counter.stop()
        return counter.passes

    with caplog.at_level(logging.ERROR):
        assert asyncio.run(scenario()) == 2
    failed = [record for record in caplog.records if record.getMessage() == "counting pass failed"]
    assert len(failed) == 1
    assert failed[0].name == __name__  # the subclass's module logger
    assert failed[0].exc_info is not None


def test_stop_cancels_the_task_and_no_pass_runs_after() -> None:
    async def scenario() -> tuple[int, bool]:
        clock = FakeClock()
        counter = Counter(clock, 1.0)
        await counter.start()
        await _settle()
        task = counter._task
        await counter.stop()
        await _advance(clock, 5.0)
        return counter.passes, task is not None and task.cancelled()

    assert asyncio.run(scenario()) == (1, True)


def test_start_twice_keeps_one_task_and_restart_begins_a_new_one() -> None:
    async def scenario() -> tuple[bool, bool, int]:
        clock = FakeClock()
        counter = Counter(clock, 1.0)
        await counter.start()
        first = counter._task
        await counter.start()
        same = counter._task is first
        await _settle()
        await counter.restart()
        await _settle()  # the new task's first pass, with no time passed
        replaced = counter._task is not first and first is not None and first.cancelled()
        names = {task.get_name() for task in asyncio.all_tasks()}
        await counter.stop()
        return same, replaced and "counter" in names, counter.passes

    assert asyncio.run(scenario()) == (True, True, 2)


@pytest.mark.parametrize("interval", [0.0, -1.0])
def test_an_interval_of_zero_or_less_never_starts(interval: float) -> None:
    async def scenario() -> tuple[bool, int]:
        clock = FakeClock()
        counter = Counter(clock, interval)
        await counter.start()
        await _settle()
        started = counter._task is not None
        await counter.stop()
        return started, counter.passes

    assert asyncio.run(scenario()) == (False, 0)
