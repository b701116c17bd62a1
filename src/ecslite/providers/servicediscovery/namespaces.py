"""Cloud Map namespaces (spec/ecs.md §8.1): HTTP, private DNS (in a VPC of ecslite's EC2) and
public DNS; create, read, list with filters, update and delete.

A namespace's name is also its HTTP name (DiscoverInstances' ``NamespaceName``), so names are unique
in a partition whatever the type. Private DNS namespaces are answered by the tasks' resolver
(runtime.process.dns); public ones are recorded and discoverable through the API only, since
nothing on one machine is the public DNS.
"""

from __future__ import annotations

from typing import Any

from ecslite.model.cloudmap import NamespaceType, OperationType, hosted_zone_id, namespace_arn, namespace_id
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.servicediscovery import errors
from ecslite.providers.servicediscovery.common import CloudMapBase, Doc, keep, tags_of
from ecslite.store import cloudmap as store
from ecslite.store import tags as tag_store
from ecslite.store import vpc as vpc_store

DEFAULT_SOA_TTL = 15
MAX_TAGS = 50
# Unverified texts.
VPC_NOT_FOUND = "The VPC {vpc} does not exist in {region}. Name a VPC that DescribeVpcs lists."
WRONG_TYPE = "Namespace {id} is a {actual} namespace; use the update operation of that type."

_GETTERS = {
    "TYPE": lambda doc: doc.get("Type"),
    "NAME": lambda doc: doc.get("Name"),
    "HTTP_NAME": lambda doc: ((doc.get("Properties") or {}).get("HttpProperties") or {}).get("HttpName"),
    "RESOURCE_OWNER": lambda doc: doc.get("ResourceOwner"),
}


class NamespaceOps(CloudMapBase):
    def create_http_namespace(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        return self._create_namespace(ctx, params, NamespaceType.HTTP)

    def create_private_dns_namespace(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        vpc = params["Vpc"]
        if vpc_store.get_vpc(self.db, ctx.account, ctx.region, vpc) is None:
            raise errors.InvalidInput(VPC_NOT_FOUND.format(vpc=vpc, region=ctx.region))
        return self._create_namespace(ctx, params, NamespaceType.DNS_PRIVATE, vpc)

    def create_public_dns_namespace(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        return self._create_namespace(ctx, params, NamespaceType.DNS_PUBLIC)

    def _create_namespace(
        self, ctx: RequestContext, params: Params, kind: NamespaceType, vpc: str | None = None
    ) -> dict[str, Any]:
        token = params.get("CreatorRequestId")
        earlier = self.repeated(ctx, OperationType.CREATE_NAMESPACE, token, params)
        if earlier is not None:
            return {"OperationId": earlier}
        name = str(params["Name"]).rstrip(".") if kind is not NamespaceType.HTTP else str(params["Name"])
        for existing in store.namespaces_named(self.db, ctx.account, ctx.region, name):
            raise errors.NamespaceAlreadyExists(name, existing["Id"], existing.get("CreatorRequestId"))
        tags = tags_of(params)
        if len(tags) > MAX_TAGS:
            raise errors.TooManyTagsException(name)
        ident = namespace_id()
        doc: Doc = {
            "Id": ident,
            "Arn": namespace_arn(ctx.region, ctx.account, ident),
            "ResourceOwner": ctx.account,
            "Name": name,
            "Type": kind.value,
            "Properties": {"DnsProperties": {}, "HttpProperties": {"HttpName": name}},
            "CreateDate": self.now(),
        }
        if kind is not NamespaceType.HTTP:
            soa = ((params.get("Properties") or {}).get("DnsProperties") or {}).get("SOA") or {}
            doc["Properties"]["DnsProperties"] = {
                "HostedZoneId": hosted_zone_id(),
                "SOA": {"TTL": int(soa.get("TTL", DEFAULT_SOA_TTL))},
            }
        if params.get("Description") is not None:
            doc["Description"] = params["Description"]
        if token:
            doc["CreatorRequestId"] = token
        with self.db.transaction():
            store.insert_namespace(self.db, ctx.account, ctx.region, doc, vpc)
            tag_store.put(self.db, doc["Arn"], tags)
            operation = self.record(ctx, OperationType.CREATE_NAMESPACE, {"NAMESPACE": ident}, token, params)
        return {"OperationId": operation}

    def get_namespace(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self.namespace(ctx, params["Id"])
        return {"Namespace": self._namespace_view(ctx, doc)}

    def list_namespaces(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        filters = params.get("Filters") or ()
        found = [d for d in store.namespaces(self.db, ctx.account, ctx.region) if keep(d, filters, _GETTERS)]
        return self.listing("Namespaces", found, params, lambda d: self._namespace_view(ctx, d))

    def delete_namespace(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self.namespace(ctx, params["Id"])
        if store.service_count(self.db, ctx.account, ctx.region, doc["Id"]):
            raise errors.ResourceInUse(errors.NAMESPACE_HAS_SERVICES.format(id=doc["Id"]))
        with self.db.transaction():
            store.delete_namespace(self.db, ctx.account, ctx.region, doc)
            operation = self.record(ctx, OperationType.DELETE_NAMESPACE, {"NAMESPACE": doc["Id"]})
        return {"OperationId": operation}

    def update_http_namespace(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        return self._update_namespace(ctx, params, NamespaceType.HTTP)

    def update_private_dns_namespace(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        return self._update_namespace(ctx, params, NamespaceType.DNS_PRIVATE)

    def update_public_dns_namespace(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        return self._update_namespace(ctx, params, NamespaceType.DNS_PUBLIC)

    def _update_namespace(self, ctx: RequestContext, params: Params, kind: NamespaceType) -> dict[str, Any]:
        token = params.get("UpdaterRequestId")
        earlier = self.repeated(ctx, OperationType.UPDATE_NAMESPACE, token, params)
        if earlier is not None:
            return {"OperationId": earlier}
        doc = self.namespace(ctx, params["Id"])
        if doc["Type"] != kind.value:
            raise errors.InvalidInput(WRONG_TYPE.format(id=doc["Id"], actual=doc["Type"]))
        change = params["Namespace"]
        if change.get("Description") is not None:
            doc["Description"] = change["Description"]
        soa = ((change.get("Properties") or {}).get("DnsProperties") or {}).get("SOA")
        if soa is not None:
            doc["Properties"]["DnsProperties"]["SOA"] = {"TTL": int(soa["TTL"])}
        with self.db.transaction():
            store.put_namespace(self.db, ctx.account, ctx.region, doc)
            operation = self.record(ctx, OperationType.UPDATE_NAMESPACE, {"NAMESPACE": doc["Id"]}, token, params)
        return {"OperationId": operation}

    def _namespace_view(self, ctx: RequestContext, doc: Doc) -> Doc:
        return {**doc, "ServiceCount": store.service_count(self.db, ctx.account, ctx.region, doc["Id"])}
