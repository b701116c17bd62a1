"""Building a container's launch: what its process gets (Docker's rules, spec/ecs.md §2.4), its
cgroups, and the spec file the task's shim starts it from (:class:`~.shim_client.LaunchSpec`).

The spec file is owner-only: the environment may hold the task's secrets (§2.8). Everything here
does blocking file I/O; the runtime calls it off the event loop.
"""

from __future__ import annotations

import signal

from ecslite.runtime.base import ContainerCreateFailed, ContainerSpec
from ecslite.runtime.process.cgroups import CgroupError, Cgroups, Limits
from ecslite.runtime.process.images import ResolvedImage, process_argv, process_cwd, process_env, resolve_user
from ecslite.runtime.process.shim_client import Bind, LaunchSpec, write_atomic
from ecslite.runtime.process.task_state import CANNOT_CREATE, MIB, RuntimeTask

Rlimit = tuple[str, int, int]


def write_launch(
    cgroups: Cgroups, task: RuntimeTask, spec: ContainerSpec, image: ResolvedImage, nofile: tuple[int, int]
) -> LaunchSpec:
    """Resolve what the process gets, make its cgroups, write its spec file; ``nofile`` is the
    open-file limit the server started with (the containers' unless they set their own)."""
    argv = process_argv(image, spec.entry_point, spec.command)
    user = resolve_user(image, spec.user or image.user)
    # The container's own name, else the task's (awsvpc: its DNS name); host mode keeps the host's.
    hostname = spec.hostname or task.hostname
    env = process_env(image, spec.environment, user=user, hostname=hostname)
    reservation = spec.memory_reservation_mib
    limits = Limits(
        cpu_shares=spec.cpu_units,
        memory_bytes=spec.memory_mib * MIB if spec.memory_mib else None,
        memory_low_bytes=reservation * MIB if reservation else None,
    )
    try:
        directories = cgroups.create_container(spec.task_id, spec.name, limits)
    except CgroupError as error:
        raise ContainerCreateFailed(f"{CANNOT_CREATE}: {error}") from None
    launch = LaunchSpec(
        argv=tuple(argv),
        env=env,
        cwd=process_cwd(image, spec.working_directory),
        uid=user.uid,
        gid=user.gid,
        groups=user.groups,
        rlimits=rlimits(spec, nofile),
        cgroups=tuple(str(d) for d in directories),
        netns=task.network.netns_path if task.network else None,
        hostname=hostname,
        binds=binds(task, spec.name, hostname),
        rootfs=str(image.root) if image.root is not None else None,
        # An image root is shared by every container of the image: each writes to a layer of its own.
        rootfs_upper=str(task.dir / f"{spec.name}.rootfs") if image.root is not None else None,
        readonly=spec.readonly_root,
        init=spec.init_process,
        # docker stop sends the image's STOPSIGNAL; a stop signal other than the default is the spec's own.
        stop_signal=spec.stop_signal if spec.stop_signal != signal.SIGTERM else image.stop_signal,
        notes={"runtime-id": spec.runtime_id, "image": spec.image},
    )
    # Owner-only: the environment may hold the task's secrets (§2.8).
    write_atomic(task.dir / f"{spec.name}.spec", launch.encode(), mode=0o600)
    return launch


def rlimits(spec: ContainerSpec, nofile: tuple[int, int]) -> tuple[Rlimit, ...]:
    """The container's ulimits; without a nofile one, the limits the server itself started with."""
    if any(name == "nofile" for name, _, _ in spec.ulimits):
        return tuple(spec.ulimits)
    return (*spec.ulimits, ("nofile", *nofile))


def binds(task: RuntimeTask, name: str, hostname: str | None) -> tuple[Bind, ...]:
    """The task's ``/etc/hosts``, ``/etc/resolv.conf`` and ``/etc/hostname``, bind-mounted."""
    network = task.network
    if network is None:
        return ()
    hostname_file = network.hostname_file
    if hostname and hostname != task.hostname:
        # A container's own name (bridge mode) gets its own /etc/hostname; the task's files stay shared.
        hostname_file = task.dir / f"{name}.hostname"
        write_atomic(hostname_file, f"{hostname}\n".encode())
    return (
        Bind(str(network.hosts_file), "/etc/hosts"),
        Bind(str(network.resolv_file), "/etc/resolv.conf"),
        Bind(str(hostname_file), "/etc/hostname"),
    )
