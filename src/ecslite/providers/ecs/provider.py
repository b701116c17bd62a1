"""The ECS provider: every implemented operation, grouped by resource in the mixins below."""

from __future__ import annotations

from ecslite.providers.ecs.capacity_providers import CapacityProviderOps
from ecslite.providers.ecs.clusters import ClusterOps
from ecslite.providers.ecs.task_definitions import TaskDefinitionOps
from ecslite.providers.ecs.tasks import TaskOps


class EcsProvider(ClusterOps, TaskDefinitionOps, TaskOps, CapacityProviderOps):
    """Amazon ECS, API version 2014-11-13. Unimplemented operations answer UnsupportedFeatureException."""
