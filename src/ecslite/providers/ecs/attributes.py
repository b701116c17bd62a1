"""Custom attributes of container instances (PutAttributes, DeleteAttributes, ListAttributes)."""

from __future__ import annotations

from ecslite.providers.ecs.common import EcsBase


class AttributeOps(EcsBase):
    pass
