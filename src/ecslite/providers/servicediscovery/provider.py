"""The Cloud Map provider (JSON 1.1 ``Route53AutoNaming_v20170314.<Op>`` and Smithy RPC v2 CBOR):
namespaces, services, instances, discovery, operations and tags (spec/ecs.md §8.1)."""

from __future__ import annotations

from ecslite.providers.servicediscovery.instances import InstanceOps
from ecslite.providers.servicediscovery.namespaces import NamespaceOps
from ecslite.providers.servicediscovery.operations import OperationOps
from ecslite.providers.servicediscovery.services import ServiceOps


class ServiceDiscoveryProvider(NamespaceOps, ServiceOps, InstanceOps, OperationOps):
    pass
