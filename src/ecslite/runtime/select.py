"""Choosing the runtime: the one asked for, or the best this machine can run, with the reason.

``auto`` takes the process runtime when this machine can run it (Linux, root, writable cgroups,
a shim that builds and can create namespaces, iproute2, nftables), else the fake runtime; the reason says
which requirement failed, and ``/_ecslite/health`` shows it as ``runtimeReason``. ``process``
on a machine that cannot run it is an error with that same reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ecslite.clock import Clock
from ecslite.config import Settings
from ecslite.runtime.base import Runtime


class RuntimeUnavailable(Exception):
    pass


@dataclass(frozen=True, slots=True)
class ProcessSupport:
    """What the process runtime needs, found on this machine."""

    shim: Path


def check_process_runtime(settings: Settings) -> ProcessSupport:
    """Everything the process runtime needs, or :class:`RuntimeUnavailable` naming what is missing
    (a phrase about "it", the process runtime, to put after "the process runtime cannot run here: ")."""
    from ecslite.runtime.process.cgroups import CgroupError, Cgroups, Layout, cgroup_key
    from ecslite.runtime.process.shim_build import ShimBuildError, ensure_shim

    if sys.platform != "linux":
        raise RuntimeUnavailable(f"it needs Linux, and this is {sys.platform}")
    if os.geteuid() != 0:
        raise RuntimeUnavailable("it needs root (network namespaces, cgroups and the host bridge); run ecslite as root")
    if shutil.which("ip") is None:
        raise RuntimeUnavailable("it needs the ip command (apt-get install iproute2)")
    nft = shutil.which("nft")
    if nft is None:
        raise RuntimeUnavailable(
            "it needs the nft command (apt-get install nftables): tasks reach 169.254.170.2:80 and the "
            "world beyond the host through nftables rules"
        )
    listed = subprocess.run([nft, "list", "tables"], capture_output=True, text=True, timeout=30, check=False)
    if listed.returncode != 0:
        raise RuntimeUnavailable(f"nftables does not work here: {listed.stderr.strip()}")
    try:
        Cgroups(Layout.detect(), cgroup_key(settings.runtime_dir)).check_writable()
    except (CgroupError, OSError) as error:
        raise RuntimeUnavailable(f"it cannot create cgroups: {error}") from None
    try:
        shim = ensure_shim()
    except ShimBuildError as error:
        text = str(error).rstrip(".")
        raise RuntimeUnavailable(text[:1].lower() + text[1:]) from None
    probe = subprocess.run([str(shim), "probe"], capture_output=True, text=True, timeout=30, check=False)
    if probe.returncode != 0:
        raise RuntimeUnavailable(f"it cannot create containers here: {probe.stderr.strip()}")
    return ProcessSupport(shim=shim)


def select_runtime(settings: Settings, clock: Clock | None = None) -> tuple[Runtime, str]:
    """The runtime to use and a sentence saying why it was chosen; times come from ``clock``."""
    from ecslite.runtime.fake import FakeRuntime

    requested = settings.runtime
    if requested == "fake":
        return FakeRuntime(clock), "requested with --runtime fake"
    if requested in ("auto", "process"):
        try:
            support = check_process_runtime(settings)
        except RuntimeUnavailable as unavailable:
            if requested == "process":
                raise RuntimeUnavailable(
                    f"The process runtime cannot run here: {unavailable}. Use --runtime fake (tasks go through "
                    "the whole ECS lifecycle without running processes)."
                ) from None
            why = f"the process runtime cannot run here: {unavailable}; tasks run on the fake runtime"
            return FakeRuntime(clock), why
        from ecslite.runtime.process.runtime import ProcessRuntime

        why = "requested with --runtime process" if requested == "process" else "this machine can run it"
        return ProcessRuntime(settings, clock, shim=support.shim), why
    raise RuntimeUnavailable(
        f"The {requested} runtime is not part of this build yet. Use --runtime fake (tasks go through the "
        "whole ECS lifecycle without running processes)."
    )
