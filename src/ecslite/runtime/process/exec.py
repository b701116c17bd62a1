"""Running a command inside a running container: health checks now, ECS Exec later (spec/ecs.md §2.7, §11).

The shim binary's ``exec`` mode does the entering: it opens the namespaces of the container's first
process (mount, UTS, IPC, network, PID) and its root, joins the container's cgroups (so the command
counts against the container's limits, as ``docker exec`` does), then forks into the PID namespace,
takes the container's user, groups and working directory and execs the command with the
container's environment and ulimits, looking the program up in the container's ``PATH``.

The helper runs in a session of its own: on timeout the whole process group is killed, including
what the command started inside the container. Output (stdout and stderr together) is kept up to
:data:`OUTPUT_LIMIT` bytes, as Docker keeps health check output; the rest is read and dropped so the
command never blocks on a full pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ecslite.runtime.base import ExecResult
from ecslite.runtime.process.spawn import spawn

OUTPUT_LIMIT = 4096
# The helper's own failures (the container is gone, a namespace cannot be entered), as docker exec.
EXIT_ENTER_FAILED = 125


@dataclass(frozen=True, slots=True)
class ExecTarget:
    """Where and as whom a command runs: the container's process, cgroups and identity."""

    pid: int
    start_ticks: int = 0  # checked by the helper, so a pid taken over by another process is never entered
    cgroups: tuple[str, ...] = ()
    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()
    cwd: str = "/"
    env: Mapping[str, str] = field(default_factory=dict)
    rlimits: tuple[tuple[str, int, int], ...] = ()  # the container's ulimits apply to its commands too


def exec_argv(shim: Path, target: ExecTarget, command: Sequence[str]) -> list[str]:
    argv = [str(shim), "exec", str(target.pid)]
    if target.start_ticks:
        argv += ["--start-ticks", str(target.start_ticks)]
    for directory in target.cgroups:
        argv += ["--cgroup", directory]
    for name, soft, hard in target.rlimits:
        argv += ["--rlimit", f"{name} {soft} {hard}"]
    argv += ["--uid", str(target.uid), "--gid", str(target.gid)]
    argv += ["--groups", ",".join(str(g) for g in target.groups), "--cwd", target.cwd, "--", *command]
    return argv


async def run_in_container(shim: Path, target: ExecTarget, command: Sequence[str], timeout: float) -> ExecResult:
    """Run ``command`` in the container; ``timed_out`` when it outlives ``timeout`` seconds."""
    if not command:
        return ExecResult(exit_code=EXIT_ENTER_FAILED, output="no command given")
    # Spawned, not forked: every container with a check runs one each interval (see .spawn).
    process = spawn(
        exec_argv(shim, target, command), env=target.env, new_session=True, merge_stderr=True, limit=OUTPUT_LIMIT
    )
    try:
        code = await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        process.kill_group()
        await process.wait()
        process.close_output()
        text = process.kept().decode(errors="replace")
        return ExecResult(exit_code=None, output=text or f"Command exceeded timeout ({timeout:g}s)", timed_out=True)
    except BaseException:
        process.kill_group()
        process.close_output()
        raise
    # Whatever the command left behind in its group (a daemonized child) holds the pipe open.
    process.kill_group()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.output(), 1.0)
    process.close_output()
    return ExecResult(exit_code=code, output=process.kept().decode(errors="replace"))
