"""The runtime interface: the seam between the task controller and whatever runs containers.

The controller hands the runtime plain specs (command, environment, limits, network mode); the
runtime never sees an API request, an ARN-keyed store row or the schema. Every method is safe to
call again with the same arguments (a repeated ``prepare_sandbox`` returns the existing sandbox,
``destroy_sandbox`` of a missing sandbox does nothing), because reconcilers retry after crashes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class RuntimeFailure(Exception):
    """Base of runtime failures; ``reason`` is the text ECS would show (e.g. CannotPullContainerError: …)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ImagePullFailed(RuntimeFailure):
    pass


class ContainerStartFailed(RuntimeFailure):
    pass


class SandboxFailed(RuntimeFailure):
    pass


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    task_id: str
    network_mode: str  # awsvpc | bridge | host | none
    hostname: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SandboxInfo:
    sandbox_id: str
    private_ipv4: str | None = None
    mac_address: str | None = None
    subnet_cidr: str | None = None
    gateway: str | None = None


@dataclass(frozen=True, slots=True)
class ImageInfo:
    image: str
    digest: str
    image_id: str


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    task_id: str
    name: str
    image: str
    entry_point: Sequence[str] = ()
    command: Sequence[str] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    working_directory: str | None = None
    user: str | None = None
    cpu_units: int = 0
    memory_mib: int | None = None
    memory_reservation_mib: int | None = None
    stop_signal: int = 15
    labels: Mapping[str, str] = field(default_factory=dict)
    interactive: bool = False
    pseudo_terminal: bool = False


@dataclass(frozen=True, slots=True)
class ContainerState:
    container_id: str
    name: str
    status: str  # "running" | "exited"
    runtime_id: str
    pid: int | None = None
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    oom_killed: bool = False


@dataclass(frozen=True, slots=True)
class ExecResult:
    exit_code: int | None
    output: str
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class ContainerStats:
    read_at: float
    cpu_usage_ns: int
    memory_usage_bytes: int
    memory_limit_bytes: int | None = None
    rx_bytes: int = 0
    tx_bytes: int = 0


ExitListener = Callable[[str, str], None]  # (task_id, container name)


class Runtime(Protocol):
    name: str

    async def prepare_sandbox(self, spec: SandboxSpec) -> SandboxInfo: ...

    async def pull_image(self, image: str) -> ImageInfo: ...

    async def start_container(self, sandbox: SandboxInfo, spec: ContainerSpec) -> ContainerState: ...

    async def inspect(self, task_id: str, name: str) -> ContainerState | None: ...

    async def signal(self, task_id: str, name: str, signum: int) -> None: ...

    async def exec(self, task_id: str, name: str, command: Sequence[str], timeout: float) -> ExecResult: ...

    async def stats(self, task_id: str, name: str) -> ContainerStats | None: ...

    async def destroy_sandbox(self, task_id: str) -> None: ...

    async def sandboxes(self) -> list[str]:
        """Task ids of every sandbox that still exists (used to re-attach after a restart)."""
        ...

    def on_exit(self, listener: ExitListener) -> None:
        """Call ``listener`` whenever a container exits."""
        ...

    async def close(self) -> None: ...
