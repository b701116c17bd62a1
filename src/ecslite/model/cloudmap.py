"""Cloud Map values shared by the provider, the ECS registration controller and the DNS view
(spec/ecs.md §8.1, §8.2): ids, ARNs, operation records, instance health and DNS record rules.

Health (§8.1, §8.2): an instance of a service with ``HealthCheckCustomConfig`` starts as its
``AWS_INIT_HEALTH_STATUS`` says (HEALTHY by default) and changes only through
UpdateInstanceCustomHealthStatus; an instance of a service without health checking is ``UNKNOWN``,
which counts as healthy for discovery and DNS, as Route 53 treats records without health checks.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

_ID_ALPHABET = string.ascii_lowercase + string.digits
_ZONE_ALPHABET = string.ascii_uppercase + string.digits

IPV4 = "AWS_INSTANCE_IPV4"
IPV6 = "AWS_INSTANCE_IPV6"
PORT = "AWS_INSTANCE_PORT"
CNAME = "AWS_INSTANCE_CNAME"
ALIAS = "AWS_ALIAS_DNS_NAME"
EC2_INSTANCE = "AWS_EC2_INSTANCE_ID"
INIT_HEALTH = "AWS_INIT_HEALTH_STATUS"
RESERVED = frozenset({IPV4, IPV6, PORT, CNAME, ALIAS, EC2_INSTANCE, INIT_HEALTH})
MAX_CUSTOM_ATTRIBUTES = 30


class NamespaceType(StrEnum):
    HTTP = "HTTP"
    DNS_PRIVATE = "DNS_PRIVATE"
    DNS_PUBLIC = "DNS_PUBLIC"


class ServiceType(StrEnum):
    HTTP = "HTTP"
    DNS_HTTP = "DNS_HTTP"
    DNS = "DNS"


class Health(StrEnum):
    HEALTHY = "HEALTHY"
    UNHEALTHY = "UNHEALTHY"
    UNKNOWN = "UNKNOWN"


class OperationType(StrEnum):
    CREATE_NAMESPACE = "CREATE_NAMESPACE"
    DELETE_NAMESPACE = "DELETE_NAMESPACE"
    UPDATE_NAMESPACE = "UPDATE_NAMESPACE"
    UPDATE_SERVICE = "UPDATE_SERVICE"
    REGISTER_INSTANCE = "REGISTER_INSTANCE"
    DEREGISTER_INSTANCE = "DEREGISTER_INSTANCE"


def _random(alphabet: str, size: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(size))


def namespace_id() -> str:
    return "ns-" + _random(_ID_ALPHABET, 16)


def service_id() -> str:
    return "srv-" + _random(_ID_ALPHABET, 16)


def operation_id() -> str:
    """Shaped like Cloud Map's (``gv4g5meo7ndmeh4fqskygvk23d2fijwa-k98y6drk``)."""
    return _random(_ID_ALPHABET, 32) + "-" + _random(_ID_ALPHABET, 8)


def hosted_zone_id() -> str:
    return "Z" + _random(_ZONE_ALPHABET, 20)


def namespace_arn(region: str, account: str, ident: str) -> str:
    return f"arn:aws:servicediscovery:{region}:{account}:namespace/{ident}"


def service_arn(region: str, account: str, ident: str) -> str:
    return f"arn:aws:servicediscovery:{region}:{account}:service/{ident}"


def operation_doc(kind: OperationType, targets: Mapping[str, str], now: float, request: str = "") -> dict[str, Any]:
    """A finished operation: ecslite does the work inside the request, so it is SUCCESS at once (§8.1)."""
    return {
        "Id": operation_id(),
        "Type": kind.value,
        "Status": "SUCCESS",
        "CreateDate": now,
        "UpdateDate": now,
        "Targets": dict(targets),
        "_request": request,
    }


def health_checked(service: Mapping[str, Any]) -> bool:
    return service.get("HealthCheckCustomConfig") is not None or service.get("HealthCheckConfig") is not None


def initial_health(service: Mapping[str, Any], attributes: Mapping[str, str]) -> Health:
    if not health_checked(service):
        return Health.UNKNOWN
    return Health(attributes.get(INIT_HEALTH) or Health.HEALTHY)


def record_types(service: Mapping[str, Any]) -> set[str]:
    return {str(r["Type"]) for r in (service.get("DnsConfig") or {}).get("DnsRecords") or ()}


def record_ttl(service: Mapping[str, Any], kind: str) -> int:
    for record in (service.get("DnsConfig") or {}).get("DnsRecords") or ():
        if record["Type"] == kind:
            return int(record["TTL"])
    return 0


def serving(healths: Mapping[str, str]) -> list[str]:
    """The instances DNS and HEALTHY_OR_ELSE_ALL answer with: the healthy ones (UNKNOWN counts as
    healthy), or all of them when none is healthy (Route 53 multivalue fails open, §8.2)."""
    healthy = [i for i, h in healths.items() if h != Health.UNHEALTHY]
    return healthy or list(healths)
