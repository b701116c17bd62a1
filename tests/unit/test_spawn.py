"""Helpers spawned from the loop (runtime/process/spawn.py): exit codes, output, limits, groups, signals."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import uvloop

from ecslite.runtime.process.spawn import spawn

SH = "/bin/sh"


def run_on_uvloop(coro_fn):  # type: ignore[no-untyped-def]
    # The server's loop: the helper must not depend on the loop's own child handling.
    return uvloop.run(coro_fn())


def test_spawn_reports_exit_code_and_separate_streams() -> None:
    async def main() -> tuple[int, bytes, bytes]:
        process = spawn([SH, "-c", "echo out; echo err >&2; exit 3"])
        code = await process.wait()
        out, err = await process.output()
        return code, out, err

    assert run_on_uvloop(main) == (3, b"out\n", b"err\n")


def test_spawn_merges_stderr_and_keeps_only_the_limit() -> None:
    async def main() -> tuple[int, bytes]:
        process = spawn(
            [SH, "-c", "echo first >&2; head -c 100000 /dev/zero | tr '\\0' x; echo done"],
            merge_stderr=True,
            limit=10,
        )
        code = await process.wait()
        out, _ = await process.output()
        return code, out

    code, out = run_on_uvloop(main)
    assert code == 0
    assert out == b"first\nxxxx"


def test_spawn_gives_the_environment_and_no_input() -> None:
    async def main() -> bytes:
        process = spawn([SH, "-c", 'printf "%s" "$ONLY"; cat; echo "[$HOME]"'], env={"ONLY": "here"})
        await process.wait()
        return (await process.output())[0]

    assert run_on_uvloop(main) == b"here[]\n"


def test_spawn_reports_the_signal_that_ended_it() -> None:
    async def main() -> int:
        process = spawn([SH, "-c", "kill -TERM $$"])
        return await process.wait()

    assert run_on_uvloop(main) == -signal.SIGTERM


def test_spawned_child_has_default_signal_actions() -> None:
    # The server ignores SIGPIPE (Python does); a child must not inherit that, as with subprocess.
    async def main() -> bytes:
        process = spawn([SH, "-c", "grep -E '^(SigIgn|SigBlk)' /proc/self/status"])
        await process.wait()
        return (await process.output())[0]

    lines = dict(line.split(":\t") for line in run_on_uvloop(main).decode().splitlines())
    assert int(lines["SigIgn"], 16) == 0  # none, not even glibc's own 32 and 33 (posix_spawn ignores those)
    assert int(lines["SigBlk"], 16) == 0


def test_kill_group_ends_a_session_and_what_it_left_behind() -> None:
    async def main() -> tuple[int, float, int]:
        process = spawn([SH, "-c", "sleep 30 & echo $!; exec sleep 30"], new_session=True, merge_stderr=True)
        while b"\n" not in process.kept():
            await asyncio.sleep(0.01)
        orphan = int(process.kept().split()[0])
        assert os.getpgid(orphan) == process.pid
        started = time.monotonic()
        process.kill_group()
        code = await process.wait()
        await asyncio.wait_for(process.output(), 5)
        return code, time.monotonic() - started, orphan

    code, seconds, orphan = run_on_uvloop(main)
    assert code == -signal.SIGKILL
    assert seconds < 5
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(orphan, 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)
    else:
        raise AssertionError("the group's other process survived")


def test_close_output_stops_waiting_for_a_descendant_holding_the_pipe() -> None:
    async def main() -> tuple[int, bytes]:
        process = spawn([SH, "-c", "echo hi; sleep 30 &"], new_session=True, merge_stderr=True)
        code = await process.wait()
        try:
            await asyncio.wait_for(process.output(), 0.2)
        except TimeoutError:
            pass
        else:
            raise AssertionError("the descendant should still hold the pipe")
        process.close_output()
        process.kill_group()
        return code, process.kept()

    assert run_on_uvloop(main) == (0, b"hi\n")
