"""AWS::ServiceDiscovery::{PrivateDnsNamespace,HttpNamespace,Service} (Cloud Map).

``Ref`` is the namespace's or service's id. Namespace operations answer with an operation id; the
namespace is read once the operation has succeeded (Cloud Map's own operations finish at once here,
so the wait is short). A service whose instances are still being deregistered (its ECS tasks
stopping) is tried again until it can be deleted.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ecslite.providers.cloudformation.resources.base import (
    Doc,
    Physical,
    ResourceContext,
    ResourceFailed,
    ResourceHandler,
    register,
)
from ecslite.providers.cloudformation.resources.common import remove, retag, tag_list
from ecslite.providers.cloudformation.resources.properties import api_params

SERVICE_NAME_MAX = 63  # a DNS label


async def _finished(rc: ResourceContext, operation_id: str) -> Doc:
    """The Cloud Map operation once it is no longer pending (FAIL is the handler's failure)."""

    async def done() -> Doc | None:
        found = (await rc.call("servicediscovery", "GetOperation", {"OperationId": operation_id}))["Operation"]
        return dict(found) if found["Status"] in ("SUCCESS", "FAIL") else None

    operation = await rc.poll(done, interval=1.0)
    if operation["Status"] == "FAIL":
        raise ResourceFailed(str(operation.get("ErrorMessage") or f"Cloud Map operation {operation_id} failed"))
    return operation


async def _retag(rc: ResourceContext, arn: str, old: Doc, new: Doc) -> None:
    await retag(rc, "servicediscovery", {"ResourceARN": arn}, old, new)


class _Namespace(ResourceHandler):
    create_operation: ClassVar[str]
    update_operation: ClassVar[str]
    replace_always = False
    name_property = None  # a namespace's name is the template's; CloudFormation generates none
    stack_tags = True

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        params = api_params("servicediscovery", self.create_operation, props, exclude=("Tags",))
        params["Tags"] = tag_list(rc, props)
        operation_id = (await rc.call("servicediscovery", self.create_operation, params))["OperationId"]
        operation = await _finished(rc, operation_id)
        namespace_id = operation["Targets"]["NAMESPACE"]
        async with self.finishing(rc, namespace_id, props, {"Id": namespace_id}):
            return await self._physical(rc, namespace_id)

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        if old.get("Description") != new.get("Description") or old.get("Properties") != new.get("Properties"):
            change: Doc = {"Description": new.get("Description") or ""}
            if new.get("Properties"):  # DNS namespaces' SOA; an HTTP namespace's change has none
                change["Properties"] = new["Properties"]
            params = api_params("servicediscovery", self.update_operation, {"Namespace": change})
            params["Id"] = current.physical_id
            operation_id = (await rc.call("servicediscovery", self.update_operation, params))["OperationId"]
            await _finished(rc, operation_id)
        await _retag(rc, current.attributes["Arn"], old, new)
        return await self._physical(rc, current.physical_id)

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        params = {"Id": current.physical_id}
        await remove(
            rc, "servicediscovery", "DeleteNamespace", params, gone=("NamespaceNotFound",), busy=("ResourceInUse",)
        )

    async def _physical(self, rc: ResourceContext, namespace_id: str) -> Physical:
        found = (await rc.call("servicediscovery", "GetNamespace", {"Id": namespace_id}))["Namespace"]
        return Physical(namespace_id, self._attributes(found))

    @staticmethod
    def _attributes(namespace: Doc) -> Doc:
        return {"Id": namespace["Id"], "Arn": namespace["Arn"]}


@register
class PrivateDnsNamespace(_Namespace):
    type_name = "AWS::ServiceDiscovery::PrivateDnsNamespace"
    attributes = frozenset({"Arn", "HostedZoneId", "Id"})
    replace_on = frozenset({"Name", "Vpc"})
    create_operation = "CreatePrivateDnsNamespace"
    update_operation = "UpdatePrivateDnsNamespace"

    @staticmethod
    def _attributes(namespace: Doc) -> Doc:
        zone = ((namespace.get("Properties") or {}).get("DnsProperties") or {}).get("HostedZoneId", "")
        return {"Id": namespace["Id"], "Arn": namespace["Arn"], "HostedZoneId": zone}


@register
class HttpNamespace(_Namespace):
    type_name = "AWS::ServiceDiscovery::HttpNamespace"
    attributes = frozenset({"Arn", "Id"})
    replace_on = frozenset({"Name"})
    create_operation = "CreateHttpNamespace"
    update_operation = "UpdateHttpNamespace"


@register
class Service(ResourceHandler):
    type_name = "AWS::ServiceDiscovery::Service"
    stack_tags = True
    attributes = frozenset({"Arn", "Id", "Name"})
    replace_always = False
    replace_on = frozenset({"Name", "NamespaceId", "HealthCheckCustomConfig", "Type"})
    name_property = "Name"

    def needs_replacement(self, old: Doc, new: Doc) -> bool:
        # Only the records of a DNS configuration change in place (its namespace and routing policy do not).
        fixed = ("NamespaceId", "RoutingPolicy")
        before, after = old.get("DnsConfig") or {}, new.get("DnsConfig") or {}
        return super().needs_replacement(old, new) or any(before.get(k) != after.get(k) for k in fixed)

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        params = api_params("servicediscovery", "CreateService", props, exclude=("Name", "Tags", "ServiceAttributes"))
        params["Name"] = props.get("Name") or rc.physical_name(SERVICE_NAME_MAX, lowercase=True)
        params["Tags"] = tag_list(rc, props)
        service = (await rc.call("servicediscovery", "CreateService", params))["Service"]
        physical = self._physical(service)
        async with self.finishing(rc, physical.physical_id, props, physical.attributes):
            if props.get("ServiceAttributes"):
                attributes = {str(k): str(v) for k, v in props["ServiceAttributes"].items()}
                params = {"ServiceId": service["Id"], "Attributes": attributes}
                await rc.call("servicediscovery", "UpdateServiceAttributes", params)
        return physical

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        change: Doc = {}
        if old.get("Description") != new.get("Description"):
            change["Description"] = new.get("Description") or ""
        if old.get("DnsConfig") != new.get("DnsConfig"):
            change["DnsConfig"] = {"DnsRecords": (new.get("DnsConfig") or {}).get("DnsRecords") or []}
        if old.get("HealthCheckConfig") != new.get("HealthCheckConfig") and new.get("HealthCheckConfig"):
            change["HealthCheckConfig"] = new["HealthCheckConfig"]
        if change:
            params = api_params("servicediscovery", "UpdateService", {"Service": change})
            params["Id"] = current.physical_id
            await _finished(rc, (await rc.call("servicediscovery", "UpdateService", params))["OperationId"])
        if old.get("ServiceAttributes") != new.get("ServiceAttributes"):
            await self._attributes(rc, current.physical_id, old.get("ServiceAttributes"), new.get("ServiceAttributes"))
        await _retag(rc, current.attributes["Arn"], old, new)
        found = (await rc.call("servicediscovery", "GetService", {"Id": current.physical_id}))["Service"]
        return self._physical(found)

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        params = {"Id": current.physical_id}
        await remove(
            rc, "servicediscovery", "DeleteService", params, gone=("ServiceNotFound",), busy=("ResourceInUse",)
        )

    @staticmethod
    async def _attributes(rc: ResourceContext, service_id: str, old: Any, new: Any) -> None:
        before = {str(k): str(v) for k, v in (old or {}).items()}
        after = {str(k): str(v) for k, v in (new or {}).items()}
        gone = [k for k in before if k not in after]
        if gone:
            params = {"ServiceId": service_id, "Attributes": gone}
            await rc.call("servicediscovery", "DeleteServiceAttributes", params)
        if after:
            await rc.call("servicediscovery", "UpdateServiceAttributes", {"ServiceId": service_id, "Attributes": after})

    @staticmethod
    def _physical(service: Doc) -> Physical:
        return Physical(service["Id"], {"Arn": service["Arn"], "Id": service["Id"], "Name": service["Name"]})
