"""Control groups of tasks and containers, on cgroup v1 (one hierarchy per controller) and v2.

Layout, the same under every hierarchy we use (v1: ``cpu``, ``cpuacct``, ``memory``, ``pids``,
``freezer``, wherever they are mounted, co-mounted or not; v2: the unified hierarchy)::

    <mount>/ecslite/<key>/<task id>/             task limits (task cpu as a hard cap, task memory)
    <mount>/ecslite/<key>/<task id>/<container>  container limits; the container's processes
    <mount>/ecslite/<key>/<task id>/ecslite.shim the task's shim (a dot: never a container name)
    <mount>/ecslite/<key>/<task id>/ecslite.zygote a spare sandbox's next container process, made ahead
                                                 (the shim's zygote), renamed to the container's name

``<key>`` is derived from the server's runtime directory, so two servers on one machine never share
a cgroup, and a restarted server finds its tasks' cgroups again by path alone. The tree hangs off the
hierarchy's root rather than the server's own cgroup: cgroup v2 lets only leaves hold processes, and
tasks must outlive the server's cgroup (a service manager restarting it).

Limits (spec/ecs.md §2.4, §13.1): container ``cpu`` units are a relative share (0 and 1 become
2, as the ECS agent gives Docker), ``memory`` the hard limit (swap off, as on ECS-optimized
AMIs), ``memoryReservation`` the soft limit (v1 ``memory.soft_limit_in_bytes``, v2
``memory.low``); task ``cpu`` is a hard cap (CFS quota) and task ``memory`` a hard limit.

Every function here does blocking file I/O; the runtime calls them off the event loop. The parsing
helpers at the bottom are pure.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import signal
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
TOP = "ecslite"
SHIM_GROUP = "ecslite.shim"
ZYGOTE_GROUP = "ecslite.zygote"
V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids", "freezer")
V2_CONTROLLERS = ("cpu", "memory", "pids")
MIN_CPU_SHARES = 2
MAX_CPU_SHARES = 262144
CFS_PERIOD_US = 100_000
# v1 reports "no limit" as the largest page-aligned value; anything this large means unlimited.
UNLIMITED_THRESHOLD = 1 << 62


class CgroupError(Exception):
    """A cgroup operation failed; the message names the file and the error."""


@dataclass(frozen=True, slots=True)
class Limits:
    cpu_shares: int | None = None  # relative weight, v1 cpu.shares units
    cpu_quota_units: int | None = None  # hard cap in ECS cpu units (1024 = one core)
    memory_bytes: int | None = None
    memory_low_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_usage_ns: int
    memory_usage_bytes: int
    memory_limit_bytes: int | None


@dataclass(frozen=True, slots=True)
class Activity:
    io_read_bytes: int
    io_write_bytes: int
    pids: int


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the hierarchies are: v1 maps controllers to mount points, v2 has one mount."""

    version: int
    mounts: Mapping[str, Path]  # v1: controller → mount; v2: {"unified": mount}

    @classmethod
    def detect(cls, mountinfo: str | None = None) -> Layout:
        text = mountinfo if mountinfo is not None else Path("/proc/self/mountinfo").read_text()
        return parse_mountinfo(text)

    def hierarchies(self) -> list[Path]:
        """Each mount point once (co-mounted v1 controllers share one)."""
        seen: list[Path] = []
        for mount in self.mounts.values():
            if mount not in seen:
                seen.append(mount)
        return seen

    def mount_of(self, controller: str) -> Path | None:
        return self.mounts.get("unified") if self.version == 2 else self.mounts.get(controller)


def cgroup_key(runtime_dir: Path) -> str:
    return hashlib.sha256(str(runtime_dir).encode()).hexdigest()[:12]


class Cgroups:
    """The cgroups of one server's tasks."""

    def __init__(self, layout: Layout, key: str) -> None:
        self.layout = layout
        self.key = key
        self._enabled: set[Path] = set()  # v2 groups whose subtree_control we already set

    # -- paths -------------------------------------------------------------------------------

    def base_dirs(self) -> list[Path]:
        return [mount / TOP / self.key for mount in self.layout.hierarchies()]

    def task_dirs(self, task_id: str) -> list[Path]:
        return [base / task_id for base in self.base_dirs()]

    def container_dirs(self, task_id: str, name: str) -> list[Path]:
        return [base / task_id / name for base in self.base_dirs()]

    def shim_dirs(self, task_id: str) -> list[Path]:
        return [base / task_id / SHIM_GROUP for base in self.base_dirs()]

    def zygote_dirs(self, task_id: str) -> list[Path]:
        return [base / task_id / ZYGOTE_GROUP for base in self.base_dirs()]

    def _dir(self, controller: str, *parts: str) -> Path | None:
        mount = self.layout.mount_of(controller)
        return None if mount is None else mount.joinpath(TOP, self.key, *parts)

    def existing_tasks(self) -> list[str]:
        found: set[str] = set()
        for base in self.base_dirs():
            with contextlib.suppress(FileNotFoundError), os.scandir(base) as entries:
                found.update(entry.name for entry in entries if entry.is_dir(follow_symlinks=False))
        return sorted(found)

    # -- creating ----------------------------------------------------------------------------

    def check_writable(self) -> None:
        """Create the server's base groups; raises :class:`CgroupError` when that is not allowed."""
        for base in self.base_dirs():
            self._make(base)

    def create_task(self, task_id: str, limits: Limits) -> None:
        for directory in [*self.task_dirs(task_id), *self.shim_dirs(task_id)]:
            self._make(directory)
        self._apply(limits, task_id)

    def create_zygote(self, task_id: str) -> list[Path]:
        """The group a spare's zygote waits in (no limits: the container's are applied at its start)."""
        dirs = self.zygote_dirs(task_id)
        for directory in dirs:
            self._make(directory)
        return dirs

    def claim_zygote(self, task_id: str, name: str) -> bool:
        """The task's zygote group becomes container ``name``'s (renamed in every hierarchy, or in
        none); False when there is none to take. Limits are the caller's (:meth:`create_container`)."""
        done: list[Path] = []
        for base in self.base_dirs():
            try:
                os.rename(base / task_id / ZYGOTE_GROUP, base / task_id / name)
            except OSError:
                for undo in reversed(done):
                    with contextlib.suppress(OSError):
                        os.rename(undo / name, undo / ZYGOTE_GROUP)
                return False
            done.append(base / task_id)
        return True

    def adopt_task(self, spare_id: str, task_id: str, limits: Limits) -> None:
        """A spare task group (made by :meth:`create_task` without limits, its shim already in it)
        becomes ``task_id``'s with ``limits``: renamed in every hierarchy, so no process moves (a
        move waits for an RCU grace period, ~10 ms; a rename takes microseconds)."""
        for base in self.base_dirs():
            try:
                os.rename(base / spare_id, base / task_id)
            except OSError as error:
                raise CgroupError(f"cannot rename cgroup {base / spare_id} to {task_id}: {error.strerror}") from None
        self._apply(limits, task_id)

    def create_container(self, task_id: str, name: str, limits: Limits) -> list[Path]:
        dirs = self.container_dirs(task_id, name)
        for directory in dirs:
            self._make(directory)
        self._apply(limits, task_id, name)
        return dirs

    def join(self, directories: Iterable[Path], pid: int) -> None:
        for directory in directories:
            _write(directory / "cgroup.procs", str(pid))

    def release(self, pid: int) -> None:
        """Move ``pid`` to the hierarchies' roots: an exiting shim then leaves no zombie in the task's
        groups while whoever inherited it gets round to reaping it, and they can be removed at once."""
        self.join(self.layout.hierarchies(), pid)

    def _make(self, directory: Path) -> None:
        if self.layout.version == 2:
            # v2 hands a controller to children only when every ancestor enables it for its subtree.
            parent = self.layout.hierarchies()[0]
            for part in directory.relative_to(parent).parts[:-1]:
                self._enable(parent)
                parent = parent / part
                _mkdir(parent)
            self._enable(parent)
        _mkdir(directory, parents=self.layout.version == 1)

    def _enable(self, directory: Path) -> None:
        if directory not in self._enabled:
            _enable_controllers(directory)
            self._enabled.add(directory)

    def _apply(self, limits: Limits, *parts: str) -> None:
        v2 = self.layout.version == 2
        cpu = self._dir("cpu", *parts)
        memory = self._dir("memory", *parts)
        if cpu is not None and limits.cpu_shares is not None:
            shares = cpu_shares(limits.cpu_shares)
            if v2:
                _write(cpu / "cpu.weight", str(cpu_weight(shares)))
            else:
                _write(cpu / "cpu.shares", str(shares))
        if cpu is not None and limits.cpu_quota_units:
            quota = cfs_quota_us(limits.cpu_quota_units)
            if v2:
                _write(cpu / "cpu.max", f"{quota} {CFS_PERIOD_US}")
            else:
                _write(cpu / "cpu.cfs_period_us", str(CFS_PERIOD_US))
                _write(cpu / "cpu.cfs_quota_us", str(quota))
        if memory is not None and limits.memory_bytes is not None:
            if v2:
                _write(memory / "memory.max", str(limits.memory_bytes))
                _write_if_present(memory / "memory.swap.max", "0")
            else:
                _write(memory / "memory.limit_in_bytes", str(limits.memory_bytes))
                # Swap off: memory+swap capped at the memory limit (the file exists only with swap accounting).
                _write_if_present(memory / "memory.memsw.limit_in_bytes", str(limits.memory_bytes))
        if memory is not None and limits.memory_low_bytes is not None:
            name = "memory.low" if v2 else "memory.soft_limit_in_bytes"
            _write(memory / name, str(limits.memory_low_bytes))

    # -- reading -----------------------------------------------------------------------------

    def usage(self, task_id: str, name: str) -> Usage:
        """CPU time and memory as Docker's stats count them (memory without the inactive file cache)."""
        cpu_dir = self._dir("cpu" if self.layout.version == 2 else "cpuacct", task_id, name)
        memory = self._dir("memory", task_id, name)
        if cpu_dir is None or memory is None:
            raise CgroupError("the cpu and memory controllers are not both available")
        if self.layout.version == 2:
            cpu_ns = parse_flat_keyed(_read(cpu_dir / "cpu.stat")).get("usage_usec", 0) * 1000
            current = int(_read(memory / "memory.current"))
            inactive = parse_flat_keyed(_read(memory / "memory.stat")).get("inactive_file", 0)
            limit = parse_limit(_read(memory / "memory.max"))
        else:
            cpu_ns = int(_read(cpu_dir / "cpuacct.usage"))
            current = int(_read(memory / "memory.usage_in_bytes"))
            inactive = parse_flat_keyed(_read(memory / "memory.stat")).get("total_inactive_file", 0)
            limit = parse_limit(_read(memory / "memory.limit_in_bytes"))
        return Usage(cpu_usage_ns=cpu_ns, memory_usage_bytes=max(0, current - inactive), memory_limit_bytes=limit)

    def activity(self, task_id: str, name: str) -> Activity:
        """Storage bytes and process count of a container (spec/telemetry.md §9.1).

        Bytes come from v2 ``io.stat`` where the io controller is on, else from ``/proc/<pid>/io``
        of the container's processes (so on v1 too, whose ``blkio`` hierarchy tasks do not join);
        a process that exits takes its bytes along, which the sampler treats as no change.
        """
        pids: set[int] = set()
        for directory in self.container_dirs(task_id, name):
            for leaf in _walk_names(str(directory)):
                pids.update(_procs(leaf))
        memory = self._dir("memory", task_id, name)
        io_text = _read_optional(f"{memory}/io.stat") if memory is not None and self.layout.version == 2 else None
        if io_text is not None:
            read, write = parse_io_stat(io_text)
        else:
            read = write = 0
            for pid in pids:
                with contextlib.suppress(OSError):
                    with open(f"/proc/{pid}/io") as handle:
                        r, w = parse_proc_io(handle.read())
                    read, write = read + r, write + w
        counted = self._dir("pids", task_id, name)
        current = len(pids)
        text = _read_optional(f"{counted}/pids.current") if counted is not None else None
        if text is not None:
            with contextlib.suppress(ValueError):
                current = int(text)
        return Activity(io_read_bytes=read, io_write_bytes=write, pids=current)

    def oom_kills(self, task_id: str, name: str) -> int:
        """Processes of the container the OOM killer ended (spec/ecs.md §3.5: the OOM evidence)."""
        memory = self._dir("memory", task_id, name)
        if memory is None:
            return 0
        path = memory / ("memory.events" if self.layout.version == 2 else "memory.oom_control")
        try:
            return parse_flat_keyed(_read(path)).get("oom_kill", 0)
        except CgroupError:
            return 0

    def procs(self, directory: Path) -> list[int]:
        try:
            return [int(line) for line in _read(directory / "cgroup.procs").split()]
        except CgroupError:
            return []

    # -- ending ------------------------------------------------------------------------------

    def kill(self, directories: list[Path], timeout: float = 5.0) -> None:
        """SIGKILL every process in ``directories`` (and below) and wait until they are gone."""
        deadline = time.monotonic() + timeout
        leaves = [d for top in directories for d in _walk(top)]
        if self.layout.version == 2 and all((d / "cgroup.kill").exists() for d in directories if d.exists()):
            for directory in directories:
                _write_if_present(directory / "cgroup.kill", "1")
        else:
            self._kill_frozen(leaves)
        while any(self.procs(d) for d in leaves):
            if time.monotonic() > deadline:
                raise CgroupError(f"processes outlived SIGKILL in {', '.join(map(str, directories))}")
            for directory in leaves:
                for pid in self.procs(directory):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def _kill_frozen(self, leaves: list[Path]) -> None:
        """v1: freeze first where a freezer exists, so nothing forks while the processes are killed."""
        frozen = [d for d in leaves if (d / "freezer.state").exists()]
        for directory in frozen:
            _write_if_present(directory / "freezer.state", "FROZEN")
        for directory in leaves:
            for pid in self.procs(directory):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for directory in frozen:
            _write_if_present(directory / "freezer.state", "THAWED")

    def remove(self, directories: list[Path], timeout: float = 5.0) -> None:
        """Remove ``directories`` and everything below them (children first), once empty."""
        deadline = time.monotonic() + timeout
        for top in directories:
            for directory in reversed(list(_walk(top))):
                while True:
                    try:
                        directory.rmdir()
                        break
                    except FileNotFoundError:
                        break
                    except OSError as error:
                        # EBUSY while exiting processes are still being taken out of the group.
                        if error.errno != errno.EBUSY or time.monotonic() > deadline:
                            raise CgroupError(f"cannot remove {directory}: {error.strerror}") from None
                        time.sleep(0.005)

    def signal_container(self, task_id: str, name: str, signum: int) -> None:
        """Send ``signum`` to every process of the container (when its shim cannot be asked to)."""
        for directory in self.container_dirs(task_id, name):
            for leaf in _walk(directory):
                for pid in self.procs(leaf):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signum)

    def kill_containers(self, task_id: str) -> None:
        """SIGKILL every container process of the task, leaving its shim alone."""
        dirs = [
            entry
            for task_dir in self.task_dirs(task_id)
            if task_dir.is_dir()
            for entry in sorted(task_dir.iterdir())
            if entry.is_dir() and entry.name != SHIM_GROUP
        ]
        if dirs:
            self.kill(dirs)

    def remove_base_if_unused(self) -> None:
        """Remove this server's groups (and the shared top) where no task is left in them."""
        for base in self.base_dirs():
            for directory in (base, base.parent):
                with contextlib.suppress(OSError):  # still in use: by our tasks, or by another server
                    directory.rmdir()

    def destroy_task(self, task_id: str) -> None:
        dirs = self.task_dirs(task_id)
        self.kill(dirs)
        self.remove(dirs)


# -- file access ----------------------------------------------------------------------------------


def _walk(top: Path) -> list[Path]:
    """``top`` and every cgroup below it, parents before children; nothing if ``top`` is gone."""
    return [Path(directory) for directory in _walk_names(str(top))]


def _walk_names(top: str) -> list[str]:
    """:func:`_walk` on plain strings. The directory entries' own type (``d_type``, which cgroupfs
    fills in) tells groups from interface files, so a walk costs one ``getdents`` per group instead
    of a ``stat`` per file: a v1 memory group alone holds some thirty files, and the runtime metrics
    walk every container's groups every sample."""
    try:
        with os.scandir(top) as entries:
            children = sorted(entry.path for entry in entries if entry.is_dir(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = [top]
    for child in children:
        found.extend(_walk_names(child))
    return found


def _procs(directory: str) -> list[int]:
    text = _read_optional(f"{directory}/cgroup.procs")
    return [] if text is None else [int(line) for line in text.split()]


def _read_optional(path: str) -> str | None:
    """A cgroup file's text, or None when it cannot be read (the group or the file is not there)."""
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return None


def _mkdir(directory: Path, *, parents: bool = False) -> None:
    try:
        directory.mkdir(parents=parents, exist_ok=True)
    except OSError as error:
        raise CgroupError(f"cannot create cgroup {directory}: {error.strerror}") from None


def _enable_controllers(directory: Path) -> None:
    try:
        available = set(_read(directory / "cgroup.controllers").split())
        enabled = set(_read(directory / "cgroup.subtree_control").split())
    except CgroupError:
        return
    for controller in V2_CONTROLLERS:
        if controller in available and controller not in enabled:
            _write(directory / "cgroup.subtree_control", f"+{controller}")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as error:
        raise CgroupError(f"cannot read {path}: {error.strerror}") from None


def _write(path: Path, value: str) -> None:
    try:
        with open(path, "w") as handle:
            handle.write(value)
    except OSError as error:
        raise CgroupError(f"cannot write {value!r} to {path}: {error.strerror}") from None


def _write_if_present(path: Path, value: str) -> None:
    if path.exists():
        _write(path, value)


# -- pure helpers ---------------------------------------------------------------------------------


def parse_mountinfo(text: str) -> Layout:
    """The cgroup hierarchies of a ``/proc/self/mountinfo``; a v2 root with controllers wins (pure v2)."""
    unified: Path | None = None
    v1: dict[str, Path] = {}
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        kind = right.split()
        if len(fields) < 5 or len(kind) < 3:
            continue
        mount = Path(_unescape(fields[4]))
        if kind[0] == "cgroup2":
            if unified is None or mount == ROOT:
                unified = mount
        elif kind[0] == "cgroup":
            for option in kind[2].split(","):
                if option in V1_CONTROLLERS:
                    v1.setdefault(option, mount)
    if unified is not None and (not v1 or unified == ROOT):
        return Layout(version=2, mounts={"unified": unified})
    if not v1:
        raise CgroupError("no cgroup hierarchy is mounted (looked in /proc/self/mountinfo)")
    return Layout(version=1, mounts=v1)


def _unescape(path: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    out, i = [], 0
    while i < len(path):
        escaped = path[i + 1 : i + 4]
        if path[i] == "\\" and len(escaped) == 3 and escaped.isdigit():
            out.append(chr(int(path[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def parse_flat_keyed(text: str) -> dict[str, int]:
    """``key value`` lines (``memory.stat``, ``cpu.stat``, ``memory.events``, ``memory.oom_control``)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            values[key] = int(value.strip())
    return values


def parse_io_stat(text: str) -> tuple[int, int]:
    """Total ``rbytes``/``wbytes`` over the devices of a v2 ``io.stat``."""
    read = write = 0
    for line in text.splitlines():
        for item in line.split()[1:]:
            key, _, value = item.partition("=")
            if key == "rbytes" and value.isdigit():
                read += int(value)
            elif key == "wbytes" and value.isdigit():
                write += int(value)
    return read, write


def parse_proc_io(text: str) -> tuple[int, int]:
    """``read_bytes``/``write_bytes`` (bytes that reached the storage layer) of ``/proc/<pid>/io``."""
    values = {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in text.splitlines())}
    read = values.get("read_bytes", "0")
    write = values.get("write_bytes", "0")
    return (int(read) if read.isdigit() else 0), (int(write) if write.isdigit() else 0)


def parse_limit(text: str) -> int | None:
    """A memory limit file's value; ``max`` (v2) or v1's near-2^63 sentinel mean no limit."""
    value = text.strip()
    if value == "max":
        return None
    number = int(value)
    return None if number >= UNLIMITED_THRESHOLD else number


def cpu_shares(units: int) -> int:
    """ECS cpu units as CPU shares: 0 and 1 become 2 (§2.4), capped at the kernel's maximum."""
    return min(max(units, MIN_CPU_SHARES), MAX_CPU_SHARES)


def cpu_weight(shares: int) -> int:
    """v1 shares [2, 262144] mapped onto v2 weight [1, 10000], runc's formula."""
    return 1 + ((shares - MIN_CPU_SHARES) * 9999) // (MAX_CPU_SHARES - MIN_CPU_SHARES)


def cfs_quota_us(units: int) -> int:
    """A hard cap of ``units`` (1024 per core) as CFS quota per ``CFS_PERIOD_US``; at least 1 ms."""
    return max(1000, units * CFS_PERIOD_US // 1024)
