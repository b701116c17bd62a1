"""The ECS provider: every implemented operation, grouped by resource in the mixins below."""

from __future__ import annotations

from ecslite.providers.ecs.account_settings import AccountSettingOps
from ecslite.providers.ecs.attributes import AttributeOps
from ecslite.providers.ecs.capacity_providers import CapacityProviderOps
from ecslite.providers.ecs.clusters import ClusterOps
from ecslite.providers.ecs.container_instances import ContainerInstanceOps
from ecslite.providers.ecs.exec import ExecOps
from ecslite.providers.ecs.express_services import ExpressServiceOps
from ecslite.providers.ecs.services import ServiceOps
from ecslite.providers.ecs.tags import TagOps
from ecslite.providers.ecs.task_definitions import TaskDefinitionOps
from ecslite.providers.ecs.task_protection import TaskProtectionOps
from ecslite.providers.ecs.task_sets import TaskSetOps
from ecslite.providers.ecs.tasks import TaskOps


class EcsProvider(
    ClusterOps,
    TaskDefinitionOps,
    TaskOps,
    ServiceOps,
    TaskSetOps,
    ContainerInstanceOps,
    CapacityProviderOps,
    AccountSettingOps,
    AttributeOps,
    TagOps,
    ExecOps,
    TaskProtectionOps,
    ExpressServiceOps,
):
    """Amazon ECS, API version 2014-11-13. Unimplemented operations answer UnsupportedFeatureException."""
