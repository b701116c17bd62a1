"""A task's directory: what the process runtime records there, and reads back after a restart.

``<runtime_dir>/tasks/<task id>/`` holds ``sandbox.json`` (the sandbox as prepared: written as an
intent with ``ready: false`` before anything is made, again with ``ready: true`` once it stands),
the shim's own files and, per container, ``<name>.spec`` (what the shim starts, with the runtime's
notes such as the runtime id), ``.started``, ``.exit`` and ``.log`` (see :mod:`.shim_client`).
A directory without ``sandbox.json`` (or its half-written ``.tmp``) is no sandbox; the ``.log``
files outlive the sandbox as the task's container output. Spare sandboxes (:mod:`.pool`) have
directories here too, named by their spare id until a task takes one over by renaming it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from ecslite.runtime.base import SandboxInfo, SandboxSpec
from ecslite.runtime.process.shim_client import ExitRecord, LaunchSpec, read_exit, read_started, write_atomic

SANDBOX_FILE = "sandbox.json"


@dataclass(slots=True)
class ContainerRecord:
    """A started container as the runtime knows it: its launch spec, process and (once over) exit."""

    name: str
    launch: LaunchSpec
    pid: int
    started_at: float
    start_ticks: int = 0
    exit: ExitRecord | None = None
    oom: bool = False

    @property
    def runtime_id(self) -> str:
        return self.launch.notes.get("runtime-id", "")


@dataclass(frozen=True, slots=True)
class SandboxRecord:
    info: SandboxInfo
    ready: bool
    hostname: str | None


def task_dirs(tasks_dir: Path) -> list[str]:
    """Task ids with a sandbox record, or with one half-written: a server killed between writing the
    record's temporary file and renaming it made nothing yet, but its directory still needs removing."""
    pending = SANDBOX_FILE + ".tmp"
    try:
        return sorted(d.name for d in tasks_dir.iterdir() if (d / SANDBOX_FILE).exists() or (d / pending).exists())
    except FileNotFoundError:
        return []


def begin_sandbox(task_dir: Path, info: SandboxInfo, spec: SandboxSpec) -> None:
    """Make the task's directory and record the sandbox as intended (not ready)."""
    # Owner-only: spec files hold the containers' environments (secrets among them). Containers
    # still read the files bound into them: a bind mount does not look at the source's directories.
    task_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_sandbox(task_dir, info, spec, False)


def begin_spare(task_dir: Path, spare_id: str, created_at: float) -> None:
    """Make a spare sandbox's directory (:mod:`.pool`): recorded like a task's, so that whatever a
    crash leaves of it is found and removed like a task's sandbox."""
    task_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    record = {"taskId": spare_id, "sandboxId": "", "networkMode": "awsvpc", "createdAt": created_at, "ready": False}
    write_atomic(task_dir / SANDBOX_FILE, json.dumps(record).encode())


def write_sandbox(task_dir: Path, info: SandboxInfo, spec: SandboxSpec, ready: bool) -> None:
    record = {
        "taskId": info.task_id,
        "sandboxId": info.sandbox_id,
        "networkMode": spec.network_mode,
        "hostname": spec.hostname,
        "privateIpv4": info.private_ipv4,
        "macAddress": info.mac_address,
        "subnetCidr": info.subnet_cidr,
        "gateway": info.gateway,
        "createdAt": info.created_at,
        "ready": ready,
    }
    write_atomic(task_dir / SANDBOX_FILE, json.dumps(record).encode())


def read_sandbox(task_dir: Path) -> SandboxRecord | None:
    try:
        record = json.loads((task_dir / SANDBOX_FILE).read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    info = SandboxInfo(
        task_id=record["taskId"],
        sandbox_id=record.get("sandboxId") or "",
        private_ipv4=record.get("privateIpv4"),
        mac_address=record.get("macAddress"),
        subnet_cidr=record.get("subnetCidr"),
        gateway=record.get("gateway"),
        created_at=record.get("createdAt"),
    )
    return SandboxRecord(info, bool(record.get("ready")), record.get("hostname"))


def load_containers(task_dir: Path) -> dict[str, ContainerRecord]:
    containers: dict[str, ContainerRecord] = {}
    for started_file in sorted(task_dir.glob("*.started")):
        name = started_file.name.removesuffix(".started")
        started = read_started(started_file)
        try:
            launch = LaunchSpec.decode((task_dir / f"{name}.spec").read_bytes())
        except (FileNotFoundError, ValueError):
            continue
        if started is None:
            continue
        containers[name] = ContainerRecord(
            name, launch, started.pid, started.started_at, started.start_ticks, read_exit(task_dir / f"{name}.exit")
        )
    return containers


def remove_task_files(task_dir: Path, keep_shim_log: bool) -> None:
    """Everything of the task but its containers' output, which outlives the sandbox as the task's logs
    (and the log of a shim that died, which the stopped task's reason points at)."""
    try:
        entries = list(task_dir.iterdir())
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        elif not entry.name.endswith(".log") or (entry.name == "shim.log" and not keep_shim_log):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
    with contextlib.suppress(OSError):
        task_dir.rmdir()  # only when no output was kept
