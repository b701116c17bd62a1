"""The awslogs driver (ecslite.control.task_logs) with the task controller, the fake runtime and the logs
provider in one process: streams at task start, lines shipped in order with their times, exactly once
across a restart, the non-blocking buffer, multi-line flushes, and a missing group."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ecslite.clock import FakeClock
from ecslite.control.task_logs import TaskLogs
from ecslite.control.tasks import TaskController
from ecslite.protocol.errors import AwsError
from ecslite.providers.base import RequestContext
from ecslite.providers.logs.provider import LogsProvider
from ecslite.runtime.fake import FakeRuntime, FakeScript
from ecslite.store import log_events
from ecslite.store.logs import LogStore
from tests.unit.test_task_harness import ACCOUNT, REGION, Harness, container, definition, labels

CTX = RequestContext(ACCOUNT, REGION, "test", "logs", "test")
GROUP = "/ecs/app"


def awslogs(**options: str) -> dict[str, Any]:
    base = {"awslogs-group": GROUP, "awslogs-region": REGION, "awslogs-stream-prefix": "ecs"}
    return {"logConfiguration": {"logDriver": "awslogs", "options": {**base, **options}}}


class Rig:
    """A task controller whose tasks log through the driver into an on-disk logs.db."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.h = Harness(tmp)
        self.clock: FakeClock = self.h.clock
        self.h.runtime = FakeRuntime(self.clock, output_dir=tmp / "output")
        self.logs = LogsProvider(LogStore(tmp / "logs.db"), self.clock)
        self.driver = TaskLogs(self.h.db, self.logs, self.h.runtime.output_path, self.clock)
        self.h.controller = TaskController(self.h.db, self.h.runtime, self.clock, self.h.settings, logs=self.driver)

    async def start(self) -> None:
        await self.logs.start()
        await self.driver.start()
        await self.h.controller.start()

    async def stop(self) -> None:
        await self.h.controller.stop()
        await self.driver.stop()
        await self.logs.stop()

    async def restart_logs(self) -> None:
        """What a restart of the server does to the driver: a new one, on the same logs.db."""
        await self.driver.stop()
        await self.logs.stop()
        self.logs = LogsProvider(LogStore(self.tmp / "logs.db"), self.clock)
        self.driver = TaskLogs(self.h.db, self.logs, self.h.runtime.output_path, self.clock)
        self.h.controller.reconciler.logs = self.driver
        await self.logs.start()
        await self.driver.start()

    async def until(self, condition: Callable[[], Any], limit: float = 10.0, step: float = 0.05) -> None:
        """Let simulated time pass in small steps (real threads read the files) until ``condition``."""
        deadline = time.monotonic() + limit
        while not await _value(condition()):
            assert time.monotonic() < deadline, "condition not met"
            self.clock.advance(step)
            await asyncio.sleep(0.002)

    async def messages(self, stream: str) -> list[tuple[int, str]]:
        page = await self.logs.get_log_events(
            CTX, {"logGroupName": GROUP, "logStreamName": stream, "startFromHead": True}
        )
        return [(e["timestamp"], e["message"]) for e in page["events"]]


async def _value(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) else value


def run(tmp: Path, body: Callable[[Rig], Any]) -> None:
    async def main() -> None:
        rig = Rig(tmp)
        await rig.start()
        try:
            await asyncio.wait_for(body(rig), 30)
        finally:
            await rig.stop()

    asyncio.run(main())


def test_missing_group_without_create_group_fails_the_task_and_stores_nothing(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        other = awslogs(**{"awslogs-group": "/ecs/other", "awslogs-create-group": "true"})
        arn = rig.h.launch(definition(container("app", **awslogs()), container("side", **other)))
        task = await rig.h.until(arn, "STOPPED")
        reason = (
            "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: "
            "failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not "
            "exist. : exit status 1 Create the log group /ecs/app in us-east-1 first (aws logs create-log-group "
            '--log-group-name /ecs/app), or set awslogs-create-group to "true".'
        )
        assert (task["stopCode"], task["stoppedReason"]) == ("TaskFailedToStart", reason)
        assert [(c["lastStatus"], c["reason"], "exitCode" in c) for c in task["containers"]] == [
            ("STOPPED", reason, False)
        ] * 2
        assert not [call for call in rig.h.runtime.calls if call[0] == "start_container"]
        assert (await rig.logs.describe_log_groups(CTX, {}))["logGroups"] == []
        assert await rig.logs.run(log_events.positions, rig.logs.store) == {}

    run(tmp_path, body)


def test_output_reaches_the_stream_in_order_with_the_times_it_was_printed(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await rig.logs.create_log_group(CTX, {"logGroupName": GROUP})
        output = labels(output="first {n}\n2>to stderr {n}\n{n} last", output_interval=1, run_seconds=2.5)
        arn = rig.h.launch(definition(container("app", **awslogs(), **output)))
        task_id = rig.h.task_id(arn)
        await rig.h.until(arn, "RUNNING")
        started = rig.h.task(arn)["_run"]["containers"]["app"]["startedAt"]
        assert rig.h.task(arn)["_run"]["logStreams"] == {
            "app": {"group": GROUP, "region": REGION, "stream": f"ecs/app/{task_id}", "mode": "blocking"}
        }
        await rig.h.until(arn, "STOPPED")
        stream = f"ecs/app/{task_id}"
        await rig.until(lambda: rig.driver.stats()["feeds"] == [])
        base = int(started * 1000)
        assert await rig.messages(stream) == [(base, "first 1"), (base + 1000, "to stderr 2"), (base + 2000, "3 last")]
        assert await rig.logs.run(log_events.positions, rig.logs.store) == {}

    run(tmp_path, body)


def test_a_restart_resumes_where_the_stored_events_end(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        output = labels(output="line {n}", output_interval=1, output_repeat=0)
        arn = rig.h.launch(definition(container("app", **awslogs(**{"awslogs-create-group": "true"}), **output)))
        stream = f"ecs/app/{rig.h.task_id(arn)}"
        await rig.h.until(arn, "RUNNING")
        await rig.until(lambda: _count(rig, stream, 3))
        await rig.restart_logs()  # while the container goes on printing
        await rig.h.run(3)
        await rig.restart_logs()
        await rig.until(lambda: _count(rig, stream, 8))
        rig.h.stop(arn)
        await rig.h.until(arn, "STOPPED")
        await rig.until(lambda: rig.driver.stats()["feeds"] == [])
        printed = (rig.tmp / "output" / rig.h.task_id(arn) / "app.log").read_text().count("\n")
        assert [m for _, m in await rig.messages(stream)] == [f"line {n}" for n in range(1, printed + 1)]

    run(tmp_path, body)


async def _count(rig: Rig, stream: str, wanted: int) -> bool:
    try:
        return len(await rig.messages(stream)) >= wanted
    except AwsError:  # the group or stream is not there (yet)
        return False


def test_non_blocking_mode_drops_the_lines_past_its_buffer(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        line = "x" * 70 + " {n}"
        output = labels(output="\n".join([line] * 100), run_seconds=1)
        options = {"awslogs-create-group": "true", "mode": "non-blocking", "max-buffer-size": "2k"}
        arn = rig.h.launch(definition(container("app", **awslogs(**options), **output)))
        await rig.h.until(arn, "STOPPED")
        await rig.until(lambda: rig.driver.stats()["feeds"] == [])
        kept = [m for _, m in await rig.messages(f"ecs/app/{rig.h.task_id(arn)}")]
        # The buffer is the first 2 KiB of unread output: the records that end within it are kept.
        records = (rig.tmp / "output" / rig.h.task_id(arn) / "app.log").read_bytes().splitlines(keepends=True)
        ends = [sum(len(r) for r in records[: i + 1]) for i in range(len(records))]
        fit = sum(1 for end in ends if end <= 2048)
        assert kept == ["x" * 70 + f" {n}" for n in range(1, fit + 1)]
        assert rig.driver.stats()["dropped"] == 100 - len(kept)

    run(tmp_path, body)


def test_a_pending_multiline_event_is_flushed_after_the_interval(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        output = labels(output="ERROR boom\n  at main.py:3")
        options = {
            "awslogs-create-group": "true",
            "awslogs-multiline-pattern": "^(ERROR|INFO)",
            "awslogs-force-flush-interval-seconds": "2",
        }
        arn = rig.h.launch(definition(container("app", **awslogs(**options), **output)))
        stream = f"ecs/app/{rig.h.task_id(arn)}"
        await rig.h.until(arn, "RUNNING")
        await rig.h.run(1.0)
        await asyncio.sleep(0.2)
        assert await rig.messages(stream) == []
        await rig.until(lambda: _count(rig, stream, 1))
        [(_, message)] = await rig.messages(stream)
        assert message == "ERROR boom\n  at main.py:3\n"

    run(tmp_path, body)


def test_a_deleted_group_is_created_again_with_create_group(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        output = labels(output="tick {n}", output_interval=1, output_repeat=0)
        arn = rig.h.launch(definition(container("app", **awslogs(**{"awslogs-create-group": "true"}), **output)))
        stream = f"ecs/app/{rig.h.task_id(arn)}"
        await rig.until(lambda: _count(rig, stream, 2))
        await rig.logs.delete_log_group(CTX, {"logGroupName": GROUP})
        await rig.until(lambda: _count(rig, stream, 1))
        assert (await rig.messages(stream))[0][1].startswith("tick ")

    run(tmp_path, body)


def test_fake_output_labels_are_checked() -> None:
    script = FakeScript.from_labels(labels(output="a\n2>b", output_interval=0.5, output_repeat=0)["dockerLabels"])
    assert (script.output, script.output_interval, script.output_repeat) == (("a", "2>b"), 0.5, 0)
    with pytest.raises(ValueError) as caught:
        FakeScript.from_labels(labels(output="a", output_repeat=0)["dockerLabels"])
    assert str(caught.value) == (
        "label ecslite.fake.output-repeat must be a count of at least 1, or 0 with ecslite.fake.output-interval "
        "set; got '0'"
    )
