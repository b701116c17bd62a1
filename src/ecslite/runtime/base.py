"""The runtime interface: the seam between the task controller and whatever runs containers.

The controller hands the runtime plain specs (command, environment, limits, network mode, the
ids it chose); the runtime never sees an API request, an ARN-keyed store row or the schema.
A runtime identifies a task's sandbox by the task id and a container by (task id, container name).

Contract every implementation keeps (the controller relies on it to be crash-safe):

- Idempotent calls: ``prepare_sandbox`` of an existing sandbox returns it; ``start_container`` of a
  container that already exists returns its current state instead of starting a second one;
  ``destroy_sandbox`` of a missing sandbox and ``signal`` of an exited container do nothing.
- Failures are :class:`RuntimeFailure` subclasses whose ``reason`` is the text ECS would show
  (``CannotPullContainerError: …``); anything else is a bug of the runtime.
- Exits are reported through ``on_exit`` listeners, called on the event loop thread; a listener
  must only take note (the controller enqueues a key) and never block.
- After a restart of the server, ``sandboxes()`` lists what survived and ``inspect`` reports it,
  so the controller can re-attach; a runtime that keeps nothing (the fake) returns nothing.
- Times are epoch seconds from the runtime's clock (the one injected into the server).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class RuntimeFailure(Exception):
    """Base of runtime failures; ``reason`` is the text ECS would show (e.g. CannotPullContainerError: …)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SandboxFailed(RuntimeFailure):
    """The task's sandbox (network namespace, address, pause container) could not be set up."""


class ImagePullFailed(RuntimeFailure):
    """The image could not be resolved or pulled (``CannotPullContainerError: …``)."""


class ContainerCreateFailed(RuntimeFailure):
    """The container could not be created (``CannotCreateContainerError: …``)."""


class ContainerStartFailed(RuntimeFailure):
    """The container's process could not be started (``CannotStartContainerError: …``)."""


class ContainerNotFound(RuntimeFailure):
    """An operation named a container (or sandbox) the runtime does not have."""


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    """The address the controller allocated for a task's own network namespace.

    For ``awsvpc`` this is the task's ENI (an address of its subnet in the virtual VPC); for
    ``bridge`` it is the task's endpoint on the ``ecslite0`` bridge. The controller records the
    allocation in the store before asking for the sandbox, so a retry gets the same address.
    """

    ipv4: str
    prefix_length: int
    gateway: str
    mac_address: str
    subnet_cidr: str
    dns_servers: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PortBinding:
    """A host port the runtime publishes for a bridge-mode container port (spec/ecs.md §2.5)."""

    container_port: int
    host_port: int
    protocol: str = "tcp"  # tcp | udp
    host_ip: str = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    task_id: str
    network_mode: str  # awsvpc | bridge | host | none
    hostname: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    network: NetworkSpec | None = None  # awsvpc and bridge; None for host and none
    port_bindings: tuple[PortBinding, ...] = ()
    extra_hosts: tuple[tuple[str, str], ...] = ()  # (hostname, address) lines for /etc/hosts
    cpu_units: int = 0  # task-level cpu: a hard cap for all containers together (0: none)
    memory_mib: int | None = None  # task-level memory: a hard limit for all containers together


@dataclass(frozen=True, slots=True)
class SandboxInfo:
    """What a prepared sandbox reports: the task's address when it has its own (awsvpc)."""

    task_id: str
    sandbox_id: str
    private_ipv4: str | None = None
    mac_address: str | None = None
    subnet_cidr: str | None = None
    gateway: str | None = None
    created_at: float | None = None


@dataclass(frozen=True, slots=True)
class ImageInfo:
    image: str
    digest: str  # sha256:…, what DescribeTasks shows as imageDigest
    image_id: str


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """One container to run, fully resolved by the controller (overrides and §9.1 env applied)."""

    task_id: str
    name: str
    image: str
    runtime_id: str  # chosen by the controller before starting, so a retry finds the same container
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
    ulimits: tuple[tuple[str, int, int], ...] = ()  # (name, soft, hard), names as in ECS ulimits
    init_process: bool = False  # linuxParameters.initProcessEnabled: a reaping init as PID 1
    readonly_root: bool = False
    hostname: str | None = None


class ContainerRunState(StrEnum):
    RUNNING = "running"
    EXITED = "exited"


@dataclass(frozen=True, slots=True)
class ContainerState:
    task_id: str
    name: str
    runtime_id: str
    status: ContainerRunState
    pid: int | None = None
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    oom_killed: bool = False
    # Set when the runtime, not the process, ended the container (its shim died): what the task shows.
    reason: str | None = None

    @property
    def running(self) -> bool:
        return self.status is ContainerRunState.RUNNING


@dataclass(frozen=True, slots=True)
class ExecResult:
    exit_code: int | None
    output: str
    timed_out: bool = False

    @property
    def passed(self) -> bool:
        return not self.timed_out and self.exit_code == 0


@dataclass(frozen=True, slots=True)
class ContainerStats:
    read_at: float
    cpu_usage_ns: int
    memory_usage_bytes: int
    memory_limit_bytes: int | None = None
    rx_bytes: int = 0
    tx_bytes: int = 0
    # Storage bytes read and written by the container's processes (cumulative) and how many there
    # are (spec/telemetry.md §9.1); runtimes that cannot tell leave them 0.
    io_read_bytes: int = 0
    io_write_bytes: int = 0
    pids: int = 0


ExitListener = Callable[[str, str], None]  # (task_id, container name)


class Runtime(Protocol):
    name: str

    async def prepare_sandbox(self, spec: SandboxSpec) -> SandboxInfo: ...

    async def sandbox(self, task_id: str) -> SandboxInfo | None:
        """The task's sandbox if it exists (after a restart: if it survived)."""
        ...

    async def sandboxes(self) -> list[str]:
        """Task ids of every sandbox that exists (used to re-attach and to remove orphans)."""
        ...

    async def pull_image(self, spec: ContainerSpec) -> ImageInfo:
        """Make the container's image available locally (with the spec's registry credentials)."""
        ...

    async def start_container(self, spec: ContainerSpec) -> ContainerState: ...

    async def inspect(self, task_id: str, name: str) -> ContainerState | None: ...

    async def signal(self, task_id: str, name: str, signum: int) -> None: ...

    async def exec(self, task_id: str, name: str, command: Sequence[str], timeout: float) -> ExecResult:
        """Run ``command`` inside the container (health checks, ECS Exec); ``timed_out`` after ``timeout``."""
        ...

    async def stats(self, task_id: str, name: str) -> ContainerStats | None: ...

    async def destroy_sandbox(self, task_id: str) -> None:
        """Kill whatever still runs in the sandbox and remove it."""
        ...

    def on_exit(self, listener: ExitListener) -> None:
        """Call ``listener`` whenever a container exits."""
        ...

    async def close(self) -> None:
        """Release the runtime's own resources when the server stops. Containers of a runtime that
        keeps them across restarts (a per-task shim) go on running; the fake forgets everything."""
        ...


class ExecProcess(Protocol):
    """A command running inside a container with a terminal (ECS Exec, spec/ecs.md §11.4)."""

    async def read(self) -> bytes:
        """The next output; ``b""`` once the command's terminal has closed."""
        ...

    def write(self, data: bytes) -> None: ...

    def resize(self, rows: int, cols: int) -> None: ...

    async def wait(self) -> int:
        """The command's exit code (128 + signal number when a signal ended it)."""
        ...

    def kill(self) -> None: ...


class InteractiveExec(Protocol):
    """A runtime that can run a command inside a container on a terminal (optional for runtimes)."""

    async def open_exec(
        self, task_id: str, name: str, command: Sequence[str], *, rows: int = 24, cols: int = 80
    ) -> ExecProcess:
        """Start ``command`` in the container as root on a new terminal; ``ContainerNotFound`` when it
        is not running."""
        ...
