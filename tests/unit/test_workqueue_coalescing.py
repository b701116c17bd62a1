"""The work queue's coalesced adds: a burst of ``add_within`` is one run, within the bound."""

from __future__ import annotations

from ecslite.clock import FakeClock
from ecslite.control.workqueue import WorkQueue
from tests.unit.test_task_harness import run


def test_a_burst_of_coalesced_adds_is_one_add_at_the_first_deadline() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        queue = WorkQueue(clock)
        queue.start()
        queue.add_within("a", 0.05)
        await clock.run_for(0.03, step=0.01)
        queue.add_within("a", 0.05)  # would be due at 0.08: the first deadline (0.05) stands
        queue.add_within("a", 0.05)
        assert len(queue) == 0
        await clock.run_for(0.03, step=0.01)
        assert len(queue) == 1
        assert await queue.get() == "a"
        queue.done("a")
        await clock.run_for(1, step=0.01)
        assert len(queue) == 0  # the later calls folded into that run
        await queue.shutdown()

    run(scenario())


def test_a_run_taken_before_the_deadline_cancels_the_coalesced_add() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        queue = WorkQueue(clock)
        queue.start()
        queue.add_within("a", 0.05)
        queue.add("a")  # something urgent: queued at once
        assert len(queue) == 1
        assert await queue.get() == "a"
        queue.done("a")
        await clock.run_for(1, step=0.01)
        assert len(queue) == 0  # that run read everything the coalesced add was for
        await queue.shutdown()

    run(scenario())


def test_a_coalesced_add_while_processing_runs_the_key_once_more() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        queue = WorkQueue(clock)
        queue.start()
        queue.add("a")
        assert await queue.get() == "a"
        queue.add_within("a", 0.05)  # the running step may have read before this change
        await clock.run_for(0.1, step=0.01)
        assert len(queue) == 0  # never handed out while the key is processed
        queue.done("a")
        assert len(queue) == 1
        assert await queue.get() == "a"
        queue.done("a")
        await clock.run_for(1, step=0.01)
        assert len(queue) == 0
        await queue.shutdown()

    run(scenario())


def test_coalesced_adds_do_not_touch_a_requested_look_again() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        queue = WorkQueue(clock)
        queue.start()
        queue.add_after("a", 10)
        queue.add_within("a", 0.05)
        await clock.run_for(0.1, step=0.01)
        assert await queue.get() == "a"
        queue.done("a")
        assert queue.pending_delay("a") is not None  # the step's own recheck still stands
        await clock.run_for(10, step=0.5)
        assert len(queue) == 1
        await queue.shutdown()

    run(scenario())


def test_clear_drops_pending_coalesced_adds() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        queue = WorkQueue(clock)
        queue.start()
        queue.add_within("a", 0.05)
        queue.clear()
        await clock.run_for(1, step=0.01)
        assert len(queue) == 0
        await queue.shutdown()

    run(scenario())
