"""The virtual VPC as pure functions: ids, zones, the default VPC's layout, CIDR rules and IPAM.

**Local model** (spec/ecs.md §13.1, design.md Runtimes): every partition (account, region) has a
default VPC on ``settings.vpc_cidr`` carved like AWS carves 172.31.0.0/16 — one /20 per virtual
zone (``<region>a/b/c``). All of it hangs off one host bridge, so:

- subnets with the *same* CIDR (the default subnets of every partition, or the same CIDR in two
  VPCs) share one address pool and one gateway on this host;
- subnets whose CIDRs *partly* overlap cannot coexist on the bridge and are refused;
- the last block of ``vpc_cidr`` (the size of a default subnet) is the bridge-mode range: the
  endpoints of ``bridge`` network-mode tasks, never a VPC subnet.

Addresses AWS reserves in every subnet are never handed out: the network address, ``.1`` (the
router, here the gateway address on the bridge), ``.2`` (DNS), ``.3`` (reserved) and broadcast.
The VPC's DNS resolver is at the VPC base + 2, as in AWS ("AmazonProvidedDNS").
"""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

ZONE_SUFFIXES = ("a", "b", "c")
ID_HEX = 17  # vpc-, subnet-, sg-, eni- ids carry 17 hex digits
VPC_PREFIX_RANGE = (16, 28)  # CreateVpc / CreateSubnet netmask limits
RESERVED_LOW = 4  # network, router, DNS, reserved
# Ranges that cannot be a VPC on a Linux host (loopback, link-local, multicast, "this network").
UNUSABLE = tuple(
    ipaddress.ip_network(n) for n in ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4")
)
DIRECTIONS = {
    "northeast": "ne",
    "northwest": "nw",
    "southeast": "se",
    "southwest": "sw",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
    "central": "c",
}


# -- ids ---------------------------------------------------------------------------------------


def new_id(prefix: str) -> str:
    """A fresh EC2 id: ``vpc-``/``subnet-``/``sg-``/``eni-`` plus 17 hex digits."""
    return f"{prefix}-{secrets.token_hex(9)[:ID_HEX]}"


def stable_id(prefix: str, *parts: str) -> str:
    """The id of a default resource, the same every time the partition is set up again.

    Default VPCs, subnets and security groups come back with the same ids after a reset or on
    another machine with the same settings, so scripts holding them keep working.
    """
    digest = hashlib.sha256("/".join((prefix, *parts)).encode()).hexdigest()
    return f"{prefix}-{digest[:ID_HEX]}"


def new_mac() -> str:
    """A MAC like an ENI's: locally administered, unicast (``0a:…``, ``02``/``06``/``0e`` style)."""
    rest = secrets.token_bytes(5)
    return "0a:" + ":".join(f"{b:02x}" for b in rest)


def zone_names(region: str) -> list[str]:
    return [region + suffix for suffix in ZONE_SUFFIXES]


def zone_id(region: str, zone: str) -> str:
    """EC2's zone id: ``us-east-1a`` → ``use1-az1`` (region code, then the zone's number)."""
    parts = region.split("-")
    code = parts[0] + "".join(DIRECTIONS.get(p, p[:1]) for p in parts[1:-1]) + (parts[-1] if len(parts) > 1 else "")
    index = ZONE_SUFFIXES.index(zone[-1]) + 1 if zone and zone[-1] in ZONE_SUFFIXES else 1
    return f"{code}-az{index}"


# -- the default VPC ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Layout:
    """How ``vpc_cidr`` is carved: one default subnet per zone, and the bridge-mode range."""

    vpc: IPv4Network
    subnets: tuple[tuple[str, IPv4Network], ...]  # (zone suffix, cidr)
    bridge_range: IPv4Network


class BadVpcCidr(ValueError):
    """``settings.vpc_cidr`` cannot hold a default VPC."""


def default_layout(vpc_cidr: str) -> Layout:
    """The default VPC on ``vpc_cidr``: blocks of ``prefix + 4`` (a /16 gives /20s, as AWS's 172.31.0.0/16).

    The first three blocks are the zones' subnets, the last one the bridge-mode range.
    """
    try:
        vpc = IPv4Network(vpc_cidr)
    except ValueError as bad:
        raise BadVpcCidr(f"--vpc-cidr {vpc_cidr} is not an IPv4 CIDR block ({bad}).") from None
    if not VPC_PREFIX_RANGE[0] <= vpc.prefixlen <= 24:
        raise BadVpcCidr(f"--vpc-cidr {vpc_cidr} must have a netmask between /16 and /24, like 172.31.0.0/16.")
    if any(vpc.overlaps(bad) for bad in UNUSABLE):
        raise BadVpcCidr(f"--vpc-cidr {vpc_cidr} overlaps a range no VPC can use (loopback, link-local, multicast).")
    blocks = list(vpc.subnets(new_prefix=vpc.prefixlen + 4))
    subnets = tuple((suffix, blocks[i]) for i, suffix in enumerate(ZONE_SUFFIXES))
    return Layout(vpc=vpc, subnets=subnets, bridge_range=blocks[-1])


def dns_address(vpc_cidr: str) -> str:
    """The VPC resolver's address: the VPC base + 2 (AWS's AmazonProvidedDNS)."""
    return str(IPv4Network(vpc_cidr).network_address + 2)


def gateway(cidr: str) -> str:
    """The subnet router's address: the subnet base + 1."""
    return str(IPv4Network(cidr).network_address + 1)


# -- CIDR rules ----------------------------------------------------------------------------------


def parse_cidr(text: str) -> IPv4Network | None:
    """A CIDR block in canonical form (host bits zero), or ``None``."""
    try:
        network = IPv4Network(text, strict=True)
    except ValueError:
        return None
    return network if "/" in text else None


def size_ok(network: IPv4Network) -> bool:
    return VPC_PREFIX_RANGE[0] <= network.prefixlen <= VPC_PREFIX_RANGE[1]


def usable(network: IPv4Network) -> bool:
    return not any(network.overlaps(bad) for bad in UNUSABLE)


def conflict(candidate: IPv4Network, others: Iterable[str]) -> str | None:
    """The first CIDR of ``others`` that partly overlaps ``candidate`` (identical blocks share a pool)."""
    for text in others:
        other = IPv4Network(text)
        if other != candidate and other.overlaps(candidate):
            return text
    return None


def usable_count(cidr: str) -> int:
    """Addresses a subnet can hand out: all but the five AWS reserves."""
    return max(0, IPv4Network(cidr).num_addresses - RESERVED_LOW - 1)


# -- IPAM --------------------------------------------------------------------------------------


def next_free_address(cidr: str, used: Iterable[str]) -> str | None:
    """The lowest address of ``cidr`` that is neither reserved nor in ``used``; ``None`` when full."""
    network = IPv4Network(cidr)
    taken = {int(IPv4Address(a)) for a in used}
    first = int(network.network_address) + RESERVED_LOW
    last = int(network.broadcast_address) - 1
    for value in range(first, last + 1):
        if value not in taken:
            return str(IPv4Address(value))
    return None


# -- EC2 filters ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filter:
    name: str
    values: tuple[str, ...]


def filters_from(params: Sequence[Mapping[str, object]] | None) -> list[Filter]:
    out = []
    for item in params or ():
        values = item.get("Values") or ()
        out.append(Filter(str(item.get("Name") or ""), tuple(str(v) for v in values)))  # type: ignore[attr-defined]
    return out


def unknown_filter(filters: Sequence[Filter], known: Iterable[str]) -> str | None:
    """The first filter name a resource does not support (``tag:<key>`` and ``tag-key`` always are)."""
    names = set(known)
    for item in filters:
        if item.name.startswith("tag:") or item.name in ("tag-key", "tag-value") or item.name in names:
            continue
        return item.name
    return None


def matches(filters: Sequence[Filter], values: Mapping[str, Sequence[str]], tags: Mapping[str, str]) -> bool:
    """EC2's filter semantics: every filter must match, any of its values; ``*`` and ``?`` are wildcards."""
    for item in filters:
        if item.name.startswith("tag:"):
            key = item.name[4:]
            candidates: Sequence[str] = [tags[key]] if key in tags else []
        elif item.name == "tag-key":
            candidates = list(tags)
        elif item.name == "tag-value":
            candidates = list(tags.values())
        else:
            candidates = values.get(item.name, ())
        if not any(_match(pattern, value) for pattern in item.values for value in candidates):
            return False
    return True


def _match(pattern: str, value: str) -> bool:
    if "*" not in pattern and "?" not in pattern:
        return pattern == value
    # EC2 wildcards are only * and ?; brackets are literal.
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))
