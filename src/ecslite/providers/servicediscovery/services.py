"""Cloud Map services (spec/ecs.md §8.1): create with a DNS configuration and a health check
option, read, list, update, delete, and the service attributes.

Rules kept here: a service lives in one namespace and its name is unique there; an HTTP namespace's
services have no DNS configuration (type ``HTTP``); a DNS namespace's services have one (type
``DNS_HTTP``) unless created with ``Type: HTTP``. Record types: A and AAAA may go together, SRV may
join them, CNAME stands alone and only with WEIGHTED routing. ``HealthCheckConfig`` (Route 53
health checks) and ``HealthCheckCustomConfig`` exclude each other; ecslite runs no Route 53
checks, so only the custom form is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecslite.model.cloudmap import NamespaceType, OperationType, ServiceType, service_arn, service_id
from ecslite.protocol.errors import AwsError
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.servicediscovery import errors
from ecslite.providers.servicediscovery.common import CloudMapBase, Doc, keep, tags_of
from ecslite.store import cloudmap as store
from ecslite.store import tags as tag_store

MAX_TAGS = 50
MAX_SERVICE_ATTRIBUTES = 30
# Unverified texts.
NAMESPACE_REQUIRED = "A NamespaceId must be specified, as NamespaceId or DnsConfig.NamespaceId."
HTTP_NAMESPACE_DNS = "Namespace {id} is an HTTP namespace: its services cannot have a DnsConfig."
DNS_CONFIG_REQUIRED = "A service in the DNS namespace {id} needs a DnsConfig, unless its Type is HTTP."
HTTP_TYPE_DNS = "A service of Type HTTP cannot have a DnsConfig."
RECORD_TYPES_REPEATED = "DnsRecords cannot name the record type {type} twice."
CNAME_ALONE = "A CNAME record cannot be combined with other record types."
CNAME_WEIGHTED = "CNAME records require the WEIGHTED routing policy."
BOTH_HEALTH_CHECKS = "HealthCheckConfig and HealthCheckCustomConfig cannot both be specified."
ROUTE53_HEALTH_CHECK = (
    "HealthCheckConfig is valid only for services in public DNS namespaces. ecslite runs no Route 53 health "
    "checks; use HealthCheckCustomConfig and UpdateInstanceCustomHealthStatus."
)
ATTRIBUTES_LIMIT = "A service can have at most 30 attributes."

_GETTERS = {
    "NAMESPACE_ID": lambda doc: doc.get("NamespaceId"),
    "RESOURCE_OWNER": lambda doc: doc.get("ResourceOwner"),
}


class ServiceAttributesLimitExceededException(AwsError):
    def __init__(self) -> None:
        super().__init__("ServiceAttributesLimitExceededException", ATTRIBUTES_LIMIT)


def check_dns_config(config: Mapping[str, Any]) -> None:
    kinds = [str(r["Type"]) for r in config["DnsRecords"]]
    for kind in kinds:
        if kinds.count(kind) > 1:
            raise errors.InvalidInput(RECORD_TYPES_REPEATED.format(type=kind))
    if "CNAME" in kinds:
        if len(kinds) > 1:
            raise errors.InvalidInput(CNAME_ALONE)
        if config.get("RoutingPolicy") != "WEIGHTED":
            raise errors.InvalidInput(CNAME_WEIGHTED)


class ServiceOps(CloudMapBase):
    def create_service(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        dns = params.get("DnsConfig")
        ns_ref = params.get("NamespaceId") or (dns or {}).get("NamespaceId")
        if not ns_ref:
            raise errors.InvalidInput(NAMESPACE_REQUIRED)
        namespace = self.namespace(ctx, ns_ref)
        name, token = str(params["Name"]), params.get("CreatorRequestId")
        existing = store.service_named(self.db, ctx.account, ctx.region, namespace["Id"], name)
        if existing is not None:
            if token and existing.get("CreatorRequestId") == token:
                return {"Service": self._service_view(ctx, existing)}
            raise errors.ServiceAlreadyExists(name, existing["Id"], existing["Arn"], existing.get("CreatorRequestId"))
        kind = self._kind(namespace, dns, params.get("Type"))
        self._check_health(namespace, params)
        tags = tags_of(params)
        if len(tags) > MAX_TAGS:
            raise errors.TooManyTagsException(name)
        ident = service_id()
        doc: Doc = {
            "Id": ident,
            "Arn": service_arn(ctx.region, ctx.account, ident),
            "ResourceOwner": ctx.account,
            "Name": name,
            "NamespaceId": namespace["Id"],
            "Type": kind.value,
            "CreateDate": self.now(),
            "CreatedByAccount": ctx.account,
        }
        if dns is not None:
            doc["DnsConfig"] = {
                "RoutingPolicy": dns.get("RoutingPolicy") or "MULTIVALUE",
                "DnsRecords": dns["DnsRecords"],
            }
            check_dns_config(doc["DnsConfig"])
        for key in ("Description", "HealthCheckCustomConfig", "HealthCheckConfig"):
            if params.get(key) is not None:
                doc[key] = params[key]
        if token:
            doc["CreatorRequestId"] = token
        with self.db.transaction():
            store.insert_service(self.db, ctx.account, ctx.region, doc)
            tag_store.put(self.db, doc["Arn"], tags)
        return {"Service": self._service_view(ctx, doc)}

    @staticmethod
    def _kind(namespace: Doc, dns: Mapping[str, Any] | None, given: str | None) -> ServiceType:
        if namespace["Type"] == NamespaceType.HTTP:
            if dns is not None:
                raise errors.InvalidInput(HTTP_NAMESPACE_DNS.format(id=namespace["Id"]))
            return ServiceType.HTTP
        if given == ServiceType.HTTP:
            if dns is not None:
                raise errors.InvalidInput(HTTP_TYPE_DNS)
            return ServiceType.HTTP
        if dns is None:
            raise errors.InvalidInput(DNS_CONFIG_REQUIRED.format(id=namespace["Id"]))
        return ServiceType.DNS_HTTP

    @staticmethod
    def _check_health(namespace: Doc, params: Params) -> None:
        if params.get("HealthCheckConfig") is not None:
            if params.get("HealthCheckCustomConfig") is not None:
                raise errors.InvalidInput(BOTH_HEALTH_CHECKS)
            raise errors.InvalidInput(ROUTE53_HEALTH_CHECK)

    def get_service(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        return {"Service": self._service_view(ctx, self.service(ctx, params["Id"]))}

    def list_services(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        filters = params.get("Filters") or ()
        found = [d for d in store.services(self.db, ctx.account, ctx.region) if keep(d, filters, _GETTERS)]
        return self.listing("Services", found, params, lambda d: self._service_view(ctx, d))

    def update_service(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self.service(ctx, params["Id"])
        change = params["Service"]
        if change.get("HealthCheckConfig") is not None:
            raise errors.InvalidInput(ROUTE53_HEALTH_CHECK)
        records = (change.get("DnsConfig") or {}).get("DnsRecords")
        if records is not None:
            if "DnsConfig" not in doc:
                raise errors.InvalidInput(HTTP_TYPE_DNS)
            config = {**doc["DnsConfig"], "DnsRecords": records}
            check_dns_config(config)
            doc["DnsConfig"] = config
        if change.get("Description") is not None:
            doc["Description"] = change["Description"]
        with self.db.transaction():
            store.put_service(self.db, ctx.account, ctx.region, doc)
            operation = self.record(ctx, OperationType.UPDATE_SERVICE, {"SERVICE": doc["Id"]})
        return {"OperationId": operation}

    def delete_service(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self.service(ctx, params["Id"])
        if store.instance_count(self.db, ctx.account, ctx.region, doc["Id"]):
            raise errors.ResourceInUse(errors.SERVICE_HAS_INSTANCES.format(id=doc["Id"]))
        with self.db.transaction():
            store.delete_service(self.db, ctx.account, ctx.region, doc)
        return {}

    # -- service attributes ----------------------------------------------------------------------

    def get_service_attributes(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self.service(ctx, params["ServiceId"])
        return {
            "ServiceAttributes": {
                "ServiceArn": doc["Arn"],
                "ResourceOwner": doc["ResourceOwner"],
                "Attributes": dict(doc.get("_attributes") or {}),
            }
        }

    def update_service_attributes(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self.service(ctx, params["ServiceId"])
        merged = {**(doc.get("_attributes") or {}), **params["Attributes"]}
        if len(merged) > MAX_SERVICE_ATTRIBUTES:
            raise ServiceAttributesLimitExceededException()
        doc["_attributes"] = merged
        with self.db.transaction():
            store.put_service(self.db, ctx.account, ctx.region, doc)
        return {}

    def delete_service_attributes(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self.service(ctx, params["ServiceId"])
        kept = {k: v for k, v in (doc.get("_attributes") or {}).items() if k not in set(params["Attributes"])}
        doc["_attributes"] = kept
        with self.db.transaction():
            store.put_service(self.db, ctx.account, ctx.region, doc)
        return {}

    def _service_view(self, ctx: RequestContext, doc: Doc) -> Doc:
        return {**doc, "InstanceCount": store.instance_count(self.db, ctx.account, ctx.region, doc["Id"])}
