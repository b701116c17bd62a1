"""Cloud Map instances (spec/ecs.md §8.1): register, deregister, read, list, health, and discovery.

RegisterInstance checks the attributes against the service's DNS records, as Cloud Map does: an A
record needs ``AWS_INSTANCE_IPV4``, AAAA ``AWS_INSTANCE_IPV6``, SRV a port and an address, CNAME
``AWS_INSTANCE_CNAME``; ``AWS_INIT_HEALTH_STATUS`` only with a custom health check; at most 30
custom attributes. Registering an id again replaces the instance's attributes.

DiscoverInstances filters by health only for services with health checking (the model's rule:
``HealthStatus`` is ignored otherwise and every instance is returned), then by ``QueryParameters``
(all must match) and ``OptionalParameters`` (applied only when some instance matches them).
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Mapping
from typing import Any

from ecslite.model import cloudmap as cm
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.servicediscovery import errors
from ecslite.providers.servicediscovery.common import CloudMapBase, Doc, fingerprint, request_key
from ecslite.store import cloudmap as store

DEFAULT_DISCOVER = 100
# Unverified texts.
ATTRIBUTE_REQUIRED = "The service {id} has {record} records, so the instance needs the {attribute} attribute."
ADDRESS_REQUIRED = (
    "The service {id} has {record} records, so the instance needs AWS_INSTANCE_IPV4 or AWS_INSTANCE_IPV6."
)
BAD_IPV4 = "AWS_INSTANCE_IPV4 must be an IPv4 address; got {value}."
BAD_IPV6 = "AWS_INSTANCE_IPV6 must be an IPv6 address; got {value}."
BAD_PORT = "AWS_INSTANCE_PORT must be a port number from 0 to 65535; got {value}."
INIT_HEALTH_WITHOUT_CUSTOM = "AWS_INIT_HEALTH_STATUS can be specified only for services with a custom health check."
BAD_INIT_HEALTH = "AWS_INIT_HEALTH_STATUS must be HEALTHY or UNHEALTHY; got {value}."
ALIAS_UNSUPPORTED = "AWS_ALIAS_DNS_NAME names an Elastic Load Balancing load balancer, which ecslite does not have."
TOO_MANY_ATTRIBUTES = "An instance can have at most 30 custom attributes; got {count}."


def check_attributes(service: Mapping[str, Any], attributes: Mapping[str, str]) -> None:
    kinds = cm.record_types(service)
    ident = service["Id"]
    if "A" in kinds and "AAAA" not in kinds and cm.IPV4 not in attributes:
        raise errors.InvalidInput(ATTRIBUTE_REQUIRED.format(id=ident, record="A", attribute=cm.IPV4))
    if "AAAA" in kinds and "A" not in kinds and cm.IPV6 not in attributes:
        raise errors.InvalidInput(ATTRIBUTE_REQUIRED.format(id=ident, record="AAAA", attribute=cm.IPV6))
    if kinds & {"A", "AAAA", "SRV"} and cm.IPV4 not in attributes and cm.IPV6 not in attributes:
        raise errors.InvalidInput(ADDRESS_REQUIRED.format(id=ident, record="/".join(sorted(kinds))))
    if "SRV" in kinds and cm.PORT not in attributes:
        raise errors.InvalidInput(ATTRIBUTE_REQUIRED.format(id=ident, record="SRV", attribute=cm.PORT))
    if "CNAME" in kinds and cm.CNAME not in attributes:
        raise errors.InvalidInput(ATTRIBUTE_REQUIRED.format(id=ident, record="CNAME", attribute=cm.CNAME))
    _check_values(service, attributes)
    custom = [k for k in attributes if k not in cm.RESERVED]
    if len(custom) > cm.MAX_CUSTOM_ATTRIBUTES:
        raise errors.InvalidInput(TOO_MANY_ATTRIBUTES.format(count=len(custom)))


def _check_values(service: Mapping[str, Any], attributes: Mapping[str, str]) -> None:
    for key, kind, message in ((cm.IPV4, ipaddress.IPv4Address, BAD_IPV4), (cm.IPV6, ipaddress.IPv6Address, BAD_IPV6)):
        if key in attributes:
            try:
                kind(attributes[key])
            except ValueError:
                raise errors.InvalidInput(message.format(value=attributes[key])) from None
    port = attributes.get(cm.PORT)
    if port is not None and not (port.isdigit() and int(port) <= 65535):
        raise errors.InvalidInput(BAD_PORT.format(value=port))
    health = attributes.get(cm.INIT_HEALTH)
    if health is not None:
        if service.get("HealthCheckCustomConfig") is None:
            raise errors.InvalidInput(INIT_HEALTH_WITHOUT_CUSTOM)
        if health not in (cm.Health.HEALTHY, cm.Health.UNHEALTHY):
            raise errors.InvalidInput(BAD_INIT_HEALTH.format(value=health))
    if cm.ALIAS in attributes:
        raise errors.InvalidInput(ALIAS_UNSUPPORTED)


class InstanceOps(CloudMapBase):
    def register_instance(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        service = self.service(ctx, params["ServiceId"])
        token = params.get("CreatorRequestId")
        earlier = self.repeated(ctx, cm.OperationType.REGISTER_INSTANCE, token, params)
        if earlier is not None:
            return {"OperationId": earlier}
        attributes = {str(k): str(v) for k, v in params["Attributes"].items()}
        check_attributes(service, attributes)
        registration = store.Registration(
            instance_id=params["InstanceId"],
            attributes=attributes,
            creator_request_id=token,
            request_key=request_key(cm.OperationType.REGISTER_INSTANCE, token) if token else None,
            fingerprint=fingerprint(params),
        )
        with self.db.transaction():
            operation = store.register(self.db, ctx.account, ctx.region, service, registration, self.now())
        return {"OperationId": operation}

    def deregister_instance(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        service = self.service(ctx, params["ServiceId"])
        instance = self.instance(ctx, service, params["InstanceId"])
        with self.db.transaction():
            operation = store.deregister(self.db, ctx.account, ctx.region, service, instance.id, self.now())
        return {"OperationId": operation}

    def get_instance(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        service = self.service(ctx, params["ServiceId"])
        instance = self.instance(ctx, service, params["InstanceId"])
        return {"ResourceOwner": service["ResourceOwner"], "Instance": instance.doc}

    def list_instances(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        service = self.service(ctx, params["ServiceId"])
        docs = [i.doc for i in store.instances(self.db, ctx.account, ctx.region, service["Id"])]

        def view(doc: Doc) -> Doc:
            return {k: doc[k] for k in ("Id", "Attributes", "CreatedByAccount") if k in doc}

        return self.listing("Instances", docs, params, view, ResourceOwner=service["ResourceOwner"])

    def get_instances_health_status(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        service = self.service(ctx, params["ServiceId"])
        found = {i.id: i.health for i in store.instances(self.db, ctx.account, ctx.region, service["Id"])}
        wanted = params.get("Instances")
        if wanted:
            for instance_id in wanted:
                if instance_id not in found:
                    raise errors.InstanceNotFound(instance_id)
            found = {i: found[i] for i in wanted}
        pairs: list[Doc] = [{"Id": k, "Health": v} for k, v in found.items()]
        shown, token = self.page(pairs, params)
        result: dict[str, Any] = {"Status": {p["Id"]: p["Health"] for p in shown}}
        if token:
            result["NextToken"] = token
        return result

    def update_instance_custom_health_status(self, ctx: RequestContext, params: Params) -> None:
        service = self.service(ctx, params["ServiceId"])
        if service.get("HealthCheckCustomConfig") is None:
            raise errors.CustomHealthNotFound(service["Id"])
        instance = self.instance(ctx, service, params["InstanceId"])
        with self.db.transaction():
            store.set_health(self.db, ctx.account, ctx.region, service, instance.id, params["Status"])

    # -- discovery -------------------------------------------------------------------------------

    def discover_instances(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        namespace, service = self._discovered(ctx, params)
        found = store.instances(self.db, ctx.account, ctx.region, service["Id"])
        found = _by_health(service, found, params.get("HealthStatus") or "HEALTHY")
        found = [i for i in found if _matches(i.attributes, params.get("QueryParameters") or {})]
        optional = params.get("OptionalParameters") or {}
        narrowed = [i for i in found if _matches(i.attributes, optional)]
        if narrowed:
            found = narrowed
        # Cloud Map returns instances in no fixed order; clients must not depend on one.
        random.shuffle(found)
        limit = params.get("MaxResults") or DEFAULT_DISCOVER
        instances = [
            {
                "InstanceId": i.id,
                "NamespaceName": namespace["Name"],
                "ServiceName": service["Name"],
                "HealthStatus": i.health,
                "Attributes": i.attributes,
            }
            for i in found[:limit]
        ]
        revision = store.revision(self.db, ctx.account, ctx.region, service["Id"])
        return {"Instances": instances, "InstancesRevision": revision}

    def discover_instances_revision(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        _, service = self._discovered(ctx, params)
        return {"InstancesRevision": store.revision(self.db, ctx.account, ctx.region, service["Id"])}

    def _discovered(self, ctx: RequestContext, params: Params) -> tuple[Doc, Doc]:
        name = params["NamespaceName"]
        owner = params.get("OwnerAccount") or ctx.account
        namespaces = store.namespaces_named(self.db, owner, ctx.region, name)
        if not namespaces:
            raise errors.NamespaceNotFound(name, errors.NAMESPACE_NAME_NOT_FOUND.format(name=name))
        namespace = namespaces[0]
        service = store.service_named(self.db, owner, ctx.region, namespace["Id"], params["ServiceName"])
        if service is None:
            message = errors.SERVICE_NAME_NOT_FOUND.format(name=params["ServiceName"], namespace=name)
            raise errors.ServiceNotFound(params["ServiceName"], message)
        return namespace, service


def _by_health(service: Mapping[str, Any], found: list[store.Instance], wanted: str) -> list[store.Instance]:
    if not cm.health_checked(service) or wanted == "ALL":
        return found
    if wanted == "HEALTHY_OR_ELSE_ALL":
        chosen = set(cm.serving({i.id: i.health for i in found}))
        return [i for i in found if i.id in chosen]
    return [i for i in found if i.health == wanted]


def _matches(attributes: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(attributes.get(k) == v for k, v in wanted.items())
