"""CreateService/UpdateService ``serviceRegistries`` (spec/ecs.md §8.2) checked as ECS checks them.

- One registry per service, with a ``registryArn`` (service_validation.check_registries).
- The ARN is a Cloud Map service ARN of the caller's partition that exists.
- ``port`` and ``containerName``/``containerPort`` exclude each other; ``containerName`` and
  ``containerPort`` come together and name a container of the task definition and a port it maps.
- ``bridge``/``host`` tasks have no address of their own: they need ``containerName`` and
  ``containerPort`` (SRV records).
- A Cloud Map service without SRV records takes no port: ECS refuses ``containerPort``/``port``.
- An ``awsvpc`` task registering in a service with SRV records needs a port from one of the two forms.

Texts ECS is known to send are kept verbatim; the others are ECS-style (unverified), one constant each.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ecslite.model.cloudmap import record_types
from ecslite.providers.base import RequestContext
from ecslite.providers.ecs.errors import InvalidParameterException
from ecslite.providers.ecs.service_validation import check_registries
from ecslite.store import cloudmap as cloudmap_store
from ecslite.store.db import Database

_ARN = re.compile(r"arn:aws[a-z-]*:servicediscovery:[a-z0-9-]+:\d{12}:service/srv-[a-z0-9]+")

# ECS's texts.
ARN_INVALID = "The format of the supplied service registry ARN is invalid: {arn}."
PORT_NOT_REQUIRED = (
    "The values specified for serviceRegistries do not require a value for '{member}'. Remove the value and retry."
)
PORT_AND_CONTAINER = (
    "Specify a value for either 'port' or the 'containerName' and 'containerPort' combination, but not both. "
    "Remove one and retry."
)
BRIDGE_NEEDS_CONTAINER = (
    "When specifying 'host' or 'bridge' for networkMode, values for 'containerName' and 'containerPort' must be "
    "specified from the task definition. Registry: {arn}"
)
# Unverified texts.
REGISTRY_NOT_FOUND = "The service registry {arn} does not exist. Create it with servicediscovery CreateService first."
PORT_REQUIRED = (
    "The values specified for serviceRegistries require a value for 'port' or the 'containerName' and "
    "'containerPort' combination, because the service registry has SRV records. Registry: {arn}"
)
CONTAINER_PAIR = "When specifying 'containerName' or 'containerPort', both must be specified. Registry: {arn}"
CONTAINER_UNKNOWN = "The container {container} does not exist in the task definition."
CONTAINER_PORT_UNKNOWN = "The container {container} did not have a container port {port} defined."


def check_service_registries(
    db: Database, ctx: RequestContext, items: Sequence[Mapping[str, Any]], definition: Mapping[str, Any]
) -> list[dict[str, Any]]:
    checked = check_registries(items)
    mode = definition.get("networkMode") or "bridge"
    containers = {c["name"]: c for c in definition.get("containerDefinitions") or ()}
    for item in checked:
        arn = str(item["registryArn"])
        if not _ARN.fullmatch(arn):
            raise InvalidParameterException(ARN_INVALID.format(arn=arn))
        found = cloudmap_store.service_by_arn(db, arn)
        if found is None or found[:2] != (ctx.account, ctx.region):
            raise InvalidParameterException(REGISTRY_NOT_FOUND.format(arn=arn))
        _check_ports(item, arn, mode, "SRV" in record_types(found[2]), containers)
    return checked


def _check_ports(
    item: Mapping[str, Any], arn: str, mode: str, srv: bool, containers: Mapping[str, Mapping[str, Any]]
) -> None:
    name, container_port, port = item.get("containerName"), item.get("containerPort"), item.get("port")
    if port is not None and (name or container_port is not None):
        raise InvalidParameterException(PORT_AND_CONTAINER)
    if bool(name) != (container_port is not None):
        if mode in ("bridge", "host"):
            raise InvalidParameterException(BRIDGE_NEEDS_CONTAINER.format(arn=arn))
        raise InvalidParameterException(CONTAINER_PAIR.format(arn=arn))
    if mode in ("bridge", "host") and not name:
        raise InvalidParameterException(BRIDGE_NEEDS_CONTAINER.format(arn=arn))
    if not srv:
        if container_port is not None:
            raise InvalidParameterException(PORT_NOT_REQUIRED.format(member="containerPort"))
        if port is not None:
            raise InvalidParameterException(PORT_NOT_REQUIRED.format(member="port"))
    elif port is None and container_port is None:
        raise InvalidParameterException(PORT_REQUIRED.format(arn=arn))
    if name:
        container = containers.get(str(name))
        if container is None:
            raise InvalidParameterException(CONTAINER_UNKNOWN.format(container=name))
        ports = {m.get("containerPort") for m in container.get("portMappings") or ()}
        if container_port not in ports:
            raise InvalidParameterException(CONTAINER_PORT_UNKNOWN.format(container=name, port=container_port))
