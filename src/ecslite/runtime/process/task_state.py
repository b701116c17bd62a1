"""What the process runtime holds in memory for one task (:class:`RuntimeTask`), the failure texts
its steps share, and a container's state as the :class:`~ecslite.runtime.base.Runtime` interface
reports it.

A :class:`RuntimeTask` is a cache: everything in it can be rebuilt from the task's directory
(:mod:`.task_dir`), its cgroups and its network (:mod:`.supervision` does after a restart).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from pathlib import Path

from ecslite.runtime.base import ContainerRunState, ContainerState, SandboxInfo
from ecslite.runtime.process.sandbox_files import SandboxNetwork
from ecslite.runtime.process.shim_client import ShimClient
from ecslite.runtime.process.task_dir import ContainerRecord

MIB = 1024 * 1024
CANNOT_START = "CannotStartContainerError"
CANNOT_CREATE = "CannotCreateContainerError"
SANDBOX_FAILED = "ResourceInitializationError: failed to set up the task's sandbox"


def shim_died_reason(pid: int | None, task_dir: Path) -> str:
    shim = f"ecslite shim (pid {pid})" if pid else "ecslite shim"
    return (
        f"The task's {shim} exited unexpectedly, so its containers were stopped; see {task_dir / 'shim.log'} for why."
    )


@dataclass(slots=True)
class RuntimeTask:
    task_id: str
    dir: Path
    info: SandboxInfo
    network: SandboxNetwork | None
    hostname: str | None = None
    containers: dict[str, ContainerRecord] = field(default_factory=dict)
    client: ShimClient | None = None
    shim_pid: int | None = None
    pidfd: int | None = None
    shim_exited: asyncio.Event = field(default_factory=asyncio.Event)
    connecting: asyncio.Lock = field(default_factory=asyncio.Lock)
    destroying: bool = False
    shim_died: bool = False
    zygote: bool = False  # a spare's shim holds a zygote in the task's ecslite.zygote cgroups (pool.py)


def container_state(task: RuntimeTask, container: ContainerRecord) -> ContainerState:
    """The container as the runtime interface shows it: running, or exited as its record says."""
    state = ContainerState(
        task_id=task.task_id,
        name=container.name,
        runtime_id=container.runtime_id,
        status=ContainerRunState.RUNNING,
        pid=container.pid,
        started_at=container.started_at,
    )
    record = container.exit
    if record is None:
        return state
    return replace(
        state,
        status=ContainerRunState.EXITED,
        pid=None,
        finished_at=record.finished_at,
        exit_code=record.code,
        oom_killed=container.oom,
        reason=record.reason,
    )
