"""Choosing the runtime: the one asked for, or the best this machine can run, with the reason."""

from __future__ import annotations

from ecslite.clock import Clock
from ecslite.config import Settings
from ecslite.runtime.base import Runtime


class RuntimeUnavailable(Exception):
    pass


def select_runtime(settings: Settings, clock: Clock | None = None) -> tuple[Runtime, str]:
    """The runtime to use and a sentence saying why it was chosen; times come from ``clock``."""
    from ecslite.runtime.fake import FakeRuntime

    requested = settings.runtime
    if requested == "fake":
        return FakeRuntime(clock), "requested with --runtime fake"
    if requested == "auto":
        return (
            FakeRuntime(clock),
            "the process and docker runtimes are not part of this build yet; tasks run on the fake runtime",
        )
    raise RuntimeUnavailable(
        f"The {requested} runtime is not part of this build yet. Use --runtime fake (tasks go through the "
        "whole ECS lifecycle without running processes)."
    )
