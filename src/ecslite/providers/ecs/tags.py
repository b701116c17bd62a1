"""Tags on every taggable ECS resource (TagResource, UntagResource, ListTagsForResource)."""

from __future__ import annotations

from ecslite.providers.ecs.common import EcsBase


class TagOps(EcsBase):
    pass
