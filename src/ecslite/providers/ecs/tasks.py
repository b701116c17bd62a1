"""Task operations (spec/ecs.md §3): run, start, stop, describe, list. Filled in by the task work."""

from __future__ import annotations

from ecslite.providers.ecs.common import EcsBase


class TaskOps(EcsBase):
    pass
