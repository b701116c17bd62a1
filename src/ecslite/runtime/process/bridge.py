"""The process runtime's host bridge and the addresses it holds (design.md Runtimes, spec/ecs.md §9.1).

The bridge, ``settings.bridge``, has a MAC of its own and, from its setup on, ``169.254.170.2/32``
(the metadata endpoint's address) and IPv4 forwarding on. :class:`.network.HostNetwork` puts the
rest there: the gateway (``.1``) of every subnet in use and the resolver address (VPC base + 2) of
every VPC in use (recorded by :mod:`.resolvers`), and, through the local ALB, each load balancer's
private addresses (``/32``). :meth:`Bridge.prune_gateways` and :meth:`Bridge.prune_resolvers` take
off those of subnets and VPCs gone.

Invariants: every step is idempotent; a bridge without ports (left by an earlier server) never
keeps a copy of this server's VPC space. Everything here is kernel work, done on the network
thread of :class:`.network.HostNetwork` only, which shares :meth:`Bridge.netlink` (the host
namespace's socket) for the tasks' veths.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
from collections.abc import Callable
from pathlib import Path

from ecslite.runtime.process import netns
from ecslite.runtime.process.nat import METADATA_ADDRESS
from ecslite.runtime.process.netlink import Netlink
from ecslite.runtime.process.resolvers import ResolverRecord

log = logging.getLogger(__name__)

Networks = set[ipaddress.IPv4Network]


def bridge_mac(bridge: str) -> str:
    """The bridge's own MAC: locally administered, unicast, fixed by its name (as Docker fixes docker0's)."""
    digest = hashlib.sha256(f"bridge/{bridge}".encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))


class Bridge:
    def __init__(self, name: str, vpc_cidr: str) -> None:
        self.name = name
        self.vpc_cidr = vpc_cidr
        self.index: int | None = None  # known once set up
        self._netlink: Netlink | None = None

    def netlink(self) -> Netlink:
        """The host namespace's netlink socket (opened on first use)."""
        if self._netlink is None:
            self._netlink = Netlink()
        return self._netlink

    def setup(self) -> int:
        """Make the bridge (and ``/run/netns``, the host's other once-only step) and return its index."""
        netns.prepare_dir()
        host = self.netlink()
        host.create_bridge(self.name)
        link = host.link(self.name)
        if link is None:
            raise OSError(f"the bridge {self.name} could not be created")
        # A bridge without an address of its own takes the lowest of its ports' MACs, so a port
        # joining (a task's or a spare's veth) could change it under the tasks' ARP caches, and their
        # packets to the gateway would go nowhere until the entries went stale (tens of seconds).
        host.set_link(link.index, mac=bridge_mac(self.name))
        self.index = link.index
        self._release_stale_bridges(host, link.index)
        self.add_address(METADATA_ADDRESS, 32)
        for path in ("/proc/sys/net/ipv4/ip_forward", f"/proc/sys/net/ipv4/conf/{self.name}/forwarding"):
            with contextlib.suppress(OSError):
                Path(path).write_text("1\n")
        return link.index

    def ensure(self) -> int:
        """The bridge's index, setting it up first if this object has not yet."""
        return self.index if self.index is not None else self.setup()

    def add_address(self, address: str, prefix: int) -> None:
        # Asked every time (an existing address costs one EEXIST round trip): whatever removed it, it is back.
        self.netlink().add_address(self.ensure(), address, prefix)

    def remove_address(self, address: str, prefix: int) -> None:
        if self.index is not None:
            self.netlink().delete_address(self.index, address, prefix)

    def prune_gateways(self, subnets: frozenset[ipaddress.IPv4Network], in_use: Callable[[], Networks]) -> list[str]:
        """Take off the gateway of every network but ``subnets`` and ``in_use()`` (the sandboxes');
        returns them as ``address/prefix``."""
        host = self.netlink()
        link = host.link(self.name)
        if link is None:
            return []
        kept = set(subnets)
        # Listed before the states are read: a sandbox whose gateway is listed has written its state.
        listed = host.addresses(link.index)
        kept |= in_use()
        removed = []
        for address, prefix in listed:
            # Only a gateway (base + 1) has a prefix below /32 here; resolvers, load balancers and
            # the metadata address are /32.
            if prefix >= 32:
                continue
            network = ipaddress.IPv4Network(f"{address}/{prefix}", strict=False)
            if str(network.network_address + 1) != address or network in kept:
                continue
            host.delete_address(link.index, address, prefix)
            removed.append(f"{address}/{prefix}")
        return removed

    def prune_resolvers(
        self, record: ResolverRecord, kept: frozenset[str], in_use: Callable[[], set[str]]
    ) -> list[str]:
        """Take off the resolver addresses ``record`` lists but ``kept`` and ``in_use()`` (the
        sandboxes'), as :meth:`.ResolverRecord.prune` does; returns them."""
        host = self.netlink()
        link = host.link(self.name)
        if link is None:
            return []
        return record.prune(host, link.index, kept, in_use)

    def remove(self) -> None:
        self.netlink().delete_link(self.name)
        self.index = None

    def close(self) -> None:
        if self._netlink is not None:
            self._netlink.close()
            self._netlink = None

    def _release_stale_bridges(self, host: Netlink, ours: int) -> None:
        """Take our VPC space back from bridges without any port (left by an earlier server).

        Two bridges holding the same subnet make the host route that subnet to whichever came first;
        a bridge with no ports carries no task, so its copy can only misroute ours.
        """
        vpc = ipaddress.IPv4Network(self.vpc_cidr)
        links = host.links()
        used = {link.master for link in links if link.master is not None}
        for link in links:
            if link.index == ours or link.kind != "bridge" or link.index in used:
                continue
            for address, prefix in host.addresses(link.index):
                if ipaddress.IPv4Network(f"{address}/{prefix}", strict=False).overlaps(vpc):
                    log.warning(
                        "removing a stale copy of this server's VPC space",
                        extra={"bridge": link.name, "address": f"{address}/{prefix}"},
                    )
                    host.delete_address(link.index, address, prefix)
