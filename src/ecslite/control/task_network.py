"""A task's network as the task controller allocates it, before it asks for the sandbox (§3.7).

- ``awsvpc``: an ENI in the task's subnet — its id (chosen at launch), a MAC, the subnet's lowest
  free address — stored as EC2 shows it (DescribeNetworkInterfaces), with the VPC's resolver
  (VPC base + 2) and EC2's search domain.
- ``bridge``: an endpoint on the host bridge from the server's bridge-mode range (never a VPC
  subnet), plus the task's published ports (``networkBindings`` chosen at launch, §2.5).
- ``host`` and ``none``: nothing to allocate.

The address is chosen and recorded in ``_run.network`` in one store transaction, so a retried
step gets the same address and an address is never handed out twice. Addresses are freed once
the task is STOPPED (or gone from the store).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecslite.model.task_launch import private_dns_name
from ecslite.model.tasks import RESOURCE_INITIALIZATION
from ecslite.model.vpc import dns_address, new_mac
from ecslite.model.vpc_docs import EniFacts, eni_doc
from ecslite.runtime.base import NetworkSpec, PortBinding
from ecslite.store import tasks as task_store
from ecslite.store import vpc as vpc_store
from ecslite.store.db import Database
from ecslite.store.tasks import Doc


class NetworkUnavailable(Exception):
    """The task's network cannot be allocated; ``reason`` is what the stopped task shows."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def search_domain(region: str) -> str:
    """EC2's DNS search domain of a region (``ec2.internal`` in us-east-1)."""
    return "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"


def allocated(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    found = (doc.get("_run") or {}).get("network")
    return dict(found) if found else None


def allocate(db: Database, key: str, doc: Doc, now: float) -> dict[str, Any] | None:
    """The task's allocation (making it on the first call); ``None`` for host and none modes."""
    existing = allocated(doc)
    if existing is not None:
        return existing
    spec = doc["_spec"]
    mode = spec.get("networkMode")
    with db.transaction():
        if mode == "awsvpc":
            record = _allocate_eni(db, key, doc, now)
        elif mode == "bridge" and spec.get("bridgePool"):
            record = _allocate_bridge(db, key, doc)
        else:
            return None
        task_store.update(db, key, lambda fresh: _record(fresh, record), visible=False)
    return record


def _record(doc: Doc, record: dict[str, Any]) -> bool:
    run = doc.setdefault("_run", {})
    if run.get("network"):
        return False
    run["network"] = record
    return True


def _allocate_eni(db: Database, key: str, doc: Doc, now: float) -> dict[str, Any]:
    spec = doc["_spec"]
    account, region = spec["account"], spec["region"]
    subnet_id = spec.get("subnetId") or ""
    subnet = vpc_store.get_subnet(db, account, region, subnet_id)
    if subnet is None:
        raise NetworkUnavailable(
            f"{RESOURCE_INITIALIZATION}: unable to create the task's network interface: "
            f"the subnet {subnet_id} no longer exists."
        )
    vpc = vpc_store.get_vpc(db, account, region, subnet["VpcId"])
    groups = [g for g in (vpc_store.get_group(db, account, region, i) for i in spec.get("securityGroups") or ()) if g]
    mac = new_mac()

    def build(address: str) -> dict[str, Any]:
        return eni_doc(
            EniFacts(
                account=account,
                region=region,
                eni_id=spec["eniId"],
                subnet=subnet,
                address=address,
                mac=mac,
                groups=groups,
                attachment_id=spec["attachmentId"],
                public=spec.get("assignPublicIp") == "ENABLED",
                attached_at=now,
                instance_id=spec.get("ec2InstanceId"),
            )
        )

    request = vpc_store.InterfaceRequest(
        account=account,
        region=region,
        id=spec["eniId"],
        kind="eni",
        pool=subnet["CidrBlock"],
        mac=mac,
        task_arn=key,
        subnet_id=subnet_id,
        vpc_id=subnet["VpcId"],
    )
    try:
        interface = vpc_store.allocate(db, request, build)
    except vpc_store.PoolExhausted:
        raise NetworkUnavailable(
            f"{RESOURCE_INITIALIZATION}: unable to create the task's network interface: subnet {subnet_id} "
            f"({subnet['CidrBlock']}) has no free IPv4 address left. Stop other tasks or use a larger subnet."
        ) from None
    resolver = dns_address(vpc["CidrBlock"]) if vpc else interface.gateway
    return _describe(interface, (resolver,), (search_domain(region),), subnet_id=subnet_id)


def _allocate_bridge(db: Database, key: str, doc: Doc) -> dict[str, Any]:
    spec = doc["_spec"]
    pool = spec["bridgePool"]
    request = vpc_store.InterfaceRequest(
        account=spec["account"],
        region=spec["region"],
        id=f"bridge-{spec['taskId']}",
        kind="bridge",
        pool=pool,
        mac=new_mac(),
        task_arn=key,
    )
    try:
        interface = vpc_store.allocate(db, request)
    except vpc_store.PoolExhausted:
        raise NetworkUnavailable(
            f"{RESOURCE_INITIALIZATION}: no free address left in the bridge network range {pool} of this host."
        ) from None
    return _describe(interface, (dns_address(pool),), ())


def _describe(
    interface: vpc_store.Interface, dns: tuple[str, ...], search: tuple[str, ...], *, subnet_id: str | None = None
) -> dict[str, Any]:
    return {
        "id": interface.id,
        "kind": interface.kind,
        "ipv4": interface.address,
        "prefixLength": interface.prefix_length,
        "gateway": interface.gateway,
        "mac": interface.mac,
        "subnetCidr": interface.pool,
        "subnetId": subnet_id,
        "dnsServers": list(dns),
        "dnsSearch": list(search),
    }


def network_spec(record: Mapping[str, Any] | None) -> NetworkSpec | None:
    if not record:
        return None
    return NetworkSpec(
        ipv4=record["ipv4"],
        prefix_length=int(record["prefixLength"]),
        gateway=record["gateway"],
        mac_address=record["mac"],
        subnet_cidr=record["subnetCidr"],
        dns_servers=tuple(record.get("dnsServers") or ()),
        dns_search=tuple(record.get("dnsSearch") or ()),
    )


def port_bindings(doc: Doc) -> tuple[PortBinding, ...]:
    """The host ports a bridge-mode task publishes: its containers' ``networkBindings`` (§2.5)."""
    if doc["_spec"].get("networkMode") != "bridge":
        return ()
    out: list[PortBinding] = []
    for container in doc["_spec"]["containers"]:
        for binding in container.get("networkBindings") or ():
            if binding.get("hostPort"):
                out.append(
                    PortBinding(
                        container_port=int(binding["containerPort"]),
                        host_port=int(binding["hostPort"]),
                        protocol=str(binding.get("protocol") or "tcp"),
                    )
                )
    return tuple(out)


def extra_hosts(doc: Doc) -> tuple[tuple[str, str], ...]:
    """``extraHosts`` of every container (EC2 only, §2.4), for the task's shared ``/etc/hosts``."""
    out: list[tuple[str, str]] = []
    for container in doc["_spec"]["containers"]:
        for entry in container.get("extraHosts") or ():
            if entry.get("hostname") and entry.get("ipAddress"):
                out.append((str(entry["hostname"]), str(entry["ipAddress"])))
    return tuple(dict.fromkeys(out))


def hostname(doc: Doc, record: Mapping[str, Any] | None) -> str | None:
    """The task's name in its ``/etc/hosts``: the ENI's private DNS name for awsvpc (§3.7)."""
    if doc["_spec"].get("networkMode") == "awsvpc" and record:
        return private_dns_name(doc["_spec"]["region"], record["ipv4"])
    return None


def attachment_details(doc: Doc, record: Mapping[str, Any]) -> list[dict[str, str]]:
    """The ENI attachment's details, in ECS's order (§3.7)."""
    spec = doc["_spec"]
    return [
        {"name": "subnetId", "value": spec.get("subnetId") or ""},
        {"name": "networkInterfaceId", "value": spec["eniId"]},
        {"name": "macAddress", "value": record["mac"]},
        {"name": "privateDnsName", "value": private_dns_name(spec["region"], record["ipv4"])},
        {"name": "privateIPv4Address", "value": record["ipv4"]},
    ]


def release(db: Database, task_arn: str) -> list[str]:
    """Free the task's addresses (its ENI disappears from DescribeNetworkInterfaces)."""
    with db.transaction():
        return vpc_store.release_for_task(db, task_arn)
