"""Container instances (spec/ecs.md §5.1): register, describe, list, state, deregister."""

from __future__ import annotations

from ecslite.providers.ecs.common import EcsBase


class ContainerInstanceOps(EcsBase):
    pass
