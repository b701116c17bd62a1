"""Host networking of the process runtime: the bridge, each task's network namespace, its
``/etc/hosts``/``resolv.conf``/``hostname`` files, the tasks' DNS resolver and published ports.

Layout (design.md Runtimes, spec/ecs.md §2.5, §9.1):

- One bridge, ``settings.bridge``, holds the gateway (``.1``) of every subnet in use (put there by
  its first task, taken off by :meth:`HostNetwork.keep_gateways` once the subnet is deleted), the
  resolver address of every VPC in use (VPC base + 2, answered by :mod:`.dns`; recorded by
  :mod:`.resolvers` and taken off by :meth:`HostNetwork.keep_resolvers` once the VPC is deleted) and
  ``169.254.170.2/32``, the metadata endpoint's address, which every task reaches via its
  gateway, and while they exist each load balancer's private addresses (``/32``, put there and
  taken off by the local ALB through :meth:`HostNetwork.add_host_address`). IPv4 forwarding
  is on. The bridge's own kernel work is :mod:`.bridge`'s. The nftables table ``ecslite-<bridge>``
  (:mod:`.nat`) masquerades what ``settings.vpc_cidr`` and the subnets in use send beyond the host
  and, while the agent endpoint serves (:meth:`HostNetwork.serve_agent`), maps ``169.254.170.2:80``
  to the endpoint's own port, as ECS does, so nothing on the host holds port 80.
- ``awsvpc`` and ``bridge`` tasks: a namespace ``/run/netns/<bridge>-<task id>``, a veth pair
  (host side ``ve`` + 13 hex of a hash of bridge and task id, on the bridge, ``eth0`` inside with the
  controller's MAC and address), ``lo`` up, a default route and a route to 169.254.170.2 via the
  gateway. ``bridge`` tasks also get their host ports proxied from ``publish_address`` (:mod:`.ports`).
- ``none``: a namespace with ``lo`` only. ``host``: no namespace; the host's own files.
- Every sandbox has a state record and the files its containers mount (:mod:`.sandbox_files`).

Invariants: every step is idempotent; a task's state (``<runtime_dir>/network/<task id>/state.json``)
is written *before* anything is made for it, so whatever a crash leaves behind is listed by
:meth:`HostNetwork.existing` and removed by :meth:`HostNetwork.destroy_sandbox`; namespaces and
veths outlive the server, proxies and the DNS relay are made again by :meth:`HostNetwork.setup`.
Kernel work (and the nftables table) runs on one thread owned by this object, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import os
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ecslite.config import Settings
from ecslite.runtime.base import SandboxFailed, SandboxSpec
from ecslite.runtime.process import netns
from ecslite.runtime.process.bridge import Bridge
from ecslite.runtime.process.dns import DnsForwarder
from ecslite.runtime.process.nat import METADATA_ADDRESS, NatTable, NatUnavailable
from ecslite.runtime.process.netlink import Netlink, NetlinkError
from ecslite.runtime.process.ports import PortInUse, Proxy, Route, start_proxies, stop_proxies
from ecslite.runtime.process.resolvers import RECORD_NAME, ResolverRecord
from ecslite.runtime.process.sandbox_files import (
    ADDRESSED_MODES,
    SandboxNetwork,
    initial_state,
    read_state,
    sandbox_network,
    write_files,
    write_state,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
TASK_IFNAME = "eth0"
VETH_PREFIX = "ve"
IFNAME_MAX = 15
SETUP_FAILED = "ResourceInitializationError: failed to set up the task's network"
SPARE_MODE = "spare"
SPARE_MAC = "02:00:00:00:00:01"  # eth0 of a spare: down and on no bridge until a task gives it its own


@dataclass(slots=True)
class SpareNetwork:
    """A namespace made before any task asked for it (:mod:`.pool`): ``lo`` up, ``eth0`` down inside,
    the host side of its veth on the bridge (without a carrier). ``inner`` is a netlink socket opened
    inside, so the task that takes it over configures ``eth0`` without entering the namespace; the
    veth keeps the spare's name (``hostVeth`` in the task's state says which it is)."""

    spare_id: str
    netns: str
    host_veth: str
    host_index: int
    eth_index: int
    inner: Netlink

    def close(self) -> None:
        self.inner.close()


def veth_name(bridge: str, task_id: str) -> str:
    """The host side of a task's veth: unique per (bridge, task) within the 15 characters Linux allows."""
    digest = hashlib.sha256(f"{bridge}/{task_id}".encode()).hexdigest()
    return (VETH_PREFIX + digest)[:IFNAME_MAX]


class HostNetwork:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.runtime_dir / "network"
        self.bridge = settings.bridge
        self.netns_prefix = f"{settings.bridge}-"
        self.dns = DnsForwarder()
        self.resolvers = ResolverRecord(self.root / RECORD_NAME)
        self.nat = NatTable(settings.bridge, settings.vpc_cidr)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"net-{settings.bridge}")
        self._bridge = Bridge(settings.bridge, settings.vpc_cidr)  # used on the executor thread only
        self._claims: Netlink | None = None  # used on the event loop only (taking over spares)
        self._proxies: dict[str, list[Proxy]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._host_tasks: set[str] = set()  # while any runs, the table's output chain goes first (:mod:`.nat`)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def setup(self) -> None:
        """Bridge up with 169.254.170.2, forwarding on, NAT, the DNS relay and the proxies of every
        sandbox that survived a restart. Safe to call again."""
        await self._run(self._bridge.setup)
        for task_id in self.existing():
            state = self._state(task_id)
            if state is None or not self._alive(state):
                continue
            if state.get("mode") == "host":
                self._host_tasks.add(task_id)
            await self._ensure_network_addresses(state)
            try:
                await self._ensure_proxies(task_id, state)
            except PortInUse as busy:
                # The task keeps running; only its published port is missing until the holder lets go.
                log.warning(
                    "published port taken while the server was down", extra={"task_id": task_id, "port": str(busy)}
                )
        self.nat.host_tasks = bool(self._host_tasks)
        await self._run(self.nat.install)

    async def serve_agent(self, port: int) -> None:
        """Map ``169.254.170.2:80`` to the agent endpoint listening on ``port`` (:mod:`.nat`).

        :class:`NatUnavailable` when nftables cannot: then no task reaches the endpoint."""
        self.nat.agent_port = port
        reason = await self._run(self.nat.install)
        if reason is not None:
            self.nat.agent_port = None
            raise NatUnavailable(f"169.254.170.2:80 cannot be mapped to the agent endpoint: {reason}")

    async def withdraw_agent(self) -> None:
        """Remove the mapping :meth:`serve_agent` made (the masquerade stays while tasks remain)."""
        if self.nat.agent_port is None:
            return
        self.nat.agent_port = None
        await self._run(self.nat.install)

    @property
    def device(self) -> str:
        """The bridge, for sockets that serve only what arrives on it."""
        return self.bridge

    async def add_host_address(self, address: str) -> None:
        """``address/32`` on the bridge: an address of this host that tasks reach (a load balancer's)."""
        await self._run(self._bridge.add_address, address, 32)

    async def remove_host_address(self, address: str) -> None:
        """Take ``address/32`` off the bridge again (nothing to do when it is not there)."""
        await self._run(self._bridge.remove_address, address, 32)

    async def keep_gateways(self, subnets: Iterable[str]) -> list[str]:
        """Take off the bridge the gateway of every network but ``subnets`` (CIDRs) and those a
        sandbox here still uses; their NAT goes too.

        Returns the gateways taken off, as ``address/prefix``. Call with the subnets of the store read
        just before (on the loop): a task made in a subnet created since has written its state first.
        """
        kept = frozenset(ipaddress.IPv4Network(c) for c in subnets)
        removed = await self._run(self._bridge.prune_gateways, kept, self._sandbox_networks)
        networks = {str(ipaddress.IPv4Network(gateway, strict=False)) for gateway in removed}
        if networks & self.nat.ranges:
            self.nat.ranges -= networks
            await self._run(self.nat.install)
        return removed

    def _sandbox_networks(self) -> set[ipaddress.IPv4Network]:
        found = set()
        for task_id in self.existing():
            state = self._state(task_id) or {}
            if state.get("gateway") and state.get("prefixLength"):
                found.add(ipaddress.IPv4Network(f"{state['gateway']}/{state['prefixLength']}", strict=False))
        return found

    async def keep_resolvers(self, addresses: Iterable[str]) -> list[str]:
        """Take off the bridge every VPC resolver address but ``addresses`` and those a sandbox here
        still names, and stop the DNS relay there. Returns the addresses taken off.

        Call with the VPCs of the store read just before (on the loop), as :meth:`keep_gateways`.
        """
        removed = await self._run(
            self._bridge.prune_resolvers, self.resolvers, frozenset(addresses), self._sandbox_resolvers
        )
        for address in removed:
            await self.dns.unlisten(address)
        return removed

    def _sandbox_resolvers(self) -> set[str]:
        return {
            str(server)
            for task_id in self.existing()
            for server in (self._state(task_id) or {}).get("dnsServers") or ()
        }

    @property
    def nat_reason(self) -> str | None:
        """Why the nftables table could not be made (tasks then reach this host but not beyond), or ``None``."""
        return self.nat.reason

    async def close(self) -> None:
        """Stop proxies and the DNS relay; namespaces and veths stay (their tasks keep running).

        With no sandbox left the bridge and the NAT table go too, so a stopped server leaves the
        host as it found it and no idle bridge keeps a route to this server's VPC space.
        """
        for task_id in list(self._proxies):
            await stop_proxies(self._proxies.pop(task_id))
        await self.dns.close()
        if not self.existing():
            await self._run(self._remove_bridge)
        await self._run(self._bridge.close)
        if self._claims is not None:
            self._claims.close()
            self._claims = None
        self._executor.shutdown(wait=True)

    def _remove_bridge(self) -> None:
        self._bridge.remove()
        self.resolvers.clear()
        self.nat.delete()

    # -- sandboxes -------------------------------------------------------------------------------

    async def create_sandbox(self, spec: SandboxSpec) -> SandboxNetwork:
        """The task's network, made now unless it exists already (then its proxies are checked)."""
        async with self._lock(spec.task_id):
            state = self._state(spec.task_id)
            if state is not None and self._alive(state):
                await self._ensure_network_addresses(state)
                with contextlib.suppress(PortInUse):  # logged when first missed; the task itself is fine
                    await self._ensure_proxies(spec.task_id, state)
                return self._network(state)
            if state is not None:
                await self._teardown(spec.task_id)
            if spec.network_mode in ADDRESSED_MODES and spec.network is None:
                raise SandboxFailed(f"{SETUP_FAILED}: no address was allocated for the {spec.network_mode} task.")
            state = self._initial_state(spec)
            try:
                await self._run(self._create, spec, state)
                await self._ensure_network_addresses(state)
                await self._ensure_proxies(spec.task_id, state)
            except PortInUse as busy:
                await self._teardown(spec.task_id)
                # Docker's words, which EC2 users see for the same conflict, then what to do about it.
                raise SandboxFailed(
                    f"CannotStartContainerError: Bind for {busy.address} failed: port is already allocated. "
                    f"Another process on this machine holds {busy.protocol} port {busy.port}; choose another "
                    "hostPort, or 0 for a dynamic one."
                ) from None
            except (OSError, NetlinkError) as error:
                await self._teardown(spec.task_id)
                raise SandboxFailed(f"{SETUP_FAILED}: {error}") from None
            if spec.network_mode == "host":
                await self._note_host_task(spec.task_id, running=True)
            return self._network(state)

    async def destroy_sandbox(self, task_id: str) -> None:
        """Remove the task's proxies, veth, namespace and files; nothing there is fine."""
        async with self._lock(task_id):
            await self._teardown(task_id)
            await self._note_host_task(task_id, running=False)
        self._locks.pop(task_id, None)

    async def create_spare(self, spare_id: str) -> SpareNetwork:
        """A namespace with an unaddressed veth, for a task to take over later (:meth:`claim_spare`)."""
        async with self._lock(spare_id):
            try:
                return await self._run(self._create_spare, spare_id)
            except (OSError, NetlinkError) as error:
                await self._teardown(spare_id)
                raise SandboxFailed(f"{SETUP_FAILED}: {error}") from None

    async def claim_spare(self, spare: SpareNetwork, spec: SandboxSpec) -> SandboxNetwork:
        """Make ``spare`` the network of the ``awsvpc`` task ``spec`` describes, as :meth:`create_sandbox`
        would have made it: its state and files, the task's MAC, address and routes, the namespace
        under the task's name. ``OSError``/``NetlinkError`` when that fails (the caller removes both
        and makes the network the usual way)."""
        if spec.network_mode != "awsvpc" or spec.network is None:
            raise OSError(f"a spare network is only for an addressed awsvpc task, not {spec.network_mode}")
        async with self._lock(spec.task_id):
            state = {**self._initial_state(spec), "hostVeth": spare.host_veth}
            # On the loop, not the network thread: about 15 syscalls of microseconds each, which on a
            # thread would each wait for the GIL again while the loop is busy (milliseconds under load).
            self._adopt(spare, spec, state)
            await self._ensure_relays(state)
        # The spare's own name and record go in the background: unmounting waits for an RCU grace
        # period and removing a directory may wait for the journal.
        self._retire(spare.spare_id)
        return self._network(state)

    def sandbox(self, task_id: str) -> SandboxNetwork | None:
        state = self._state(task_id)
        return self._network(state) if state is not None and self._alive(state) else None

    def existing(self) -> list[str]:
        """Task ids with any network state here: a state file or a namespace named for this bridge."""
        ids: set[str] = set()
        with contextlib.suppress(FileNotFoundError):
            ids.update(p.name for p in self.root.iterdir() if p.is_dir())
        ids.update(n[len(self.netns_prefix) :] for n in netns.names() if n.startswith(self.netns_prefix))
        return sorted(ids)

    def counters(self, task_id: str) -> tuple[int, int] | None:
        """(rx_bytes, tx_bytes) as the task sees them: the host side of its veth, the other way round."""
        state = self._state(task_id)
        if state is None or not state.get("hostVeth"):
            return None
        base = Path("/sys/class/net") / state["hostVeth"] / "statistics"
        try:
            host_rx = int((base / "rx_bytes").read_text())
            host_tx = int((base / "tx_bytes").read_text())
        except (OSError, ValueError):
            return None
        return host_tx, host_rx

    # -- state -------------------------------------------------------------------------------------

    def _dir(self, task_id: str) -> Path:
        return self.root / task_id

    def _state(self, task_id: str) -> dict[str, Any] | None:
        return read_state(self._dir(task_id))

    def _initial_state(self, spec: SandboxSpec) -> dict[str, Any]:
        veth = veth_name(self.bridge, spec.task_id)
        return initial_state(spec, netns_name=self.netns_prefix + spec.task_id, host_veth=veth)

    def _alive(self, state: dict[str, Any]) -> bool:
        name = state.get("netns")
        return name is None or netns.path_of(name).exists()

    def _network(self, state: dict[str, Any]) -> SandboxNetwork:
        return sandbox_network(state, self._dir(state["taskId"]))

    # -- on the network thread ---------------------------------------------------------------------

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _create(self, spec: SandboxSpec, state: dict[str, Any]) -> None:
        folder = self._dir(spec.task_id)
        write_state(folder, state)
        write_files(spec, folder)
        if state["netns"] is None:
            return
        namespace = netns.create(state["netns"])
        try:
            inner = namespace.netlink
            loopback = inner.link("lo")
            if loopback is not None:
                inner.set_up(loopback.index)
            network = spec.network
            if spec.network_mode not in ADDRESSED_MODES or network is None:
                return
            bridge = self._bridge.ensure()
            self._bridge.add_address(network.gateway, network.prefix_length)
            host = self._bridge.netlink()
            host.delete_link(state["hostVeth"])
            host.create_veth(state["hostVeth"], TASK_IFNAME, namespace.fd, network.mac_address, bridge)
            host.forget_neighbor(bridge, network.ipv4)
            eth = inner.link(TASK_IFNAME)
            if eth is None:
                raise OSError(f"{TASK_IFNAME} did not appear in {state['netns']}")
            inner.add_address(eth.index, network.ipv4, network.prefix_length)
            inner.set_up(eth.index)
            inner.add_route("0.0.0.0", 0, network.gateway)
            # The metadata endpoint (§9.1) is reached through the gateway, like the ECS agent routes it.
            inner.add_route(METADATA_ADDRESS, 32, network.gateway)
        finally:
            namespace.close()

    def _create_spare(self, spare_id: str) -> SpareNetwork:
        name, veth = self.netns_prefix + spare_id, veth_name(self.bridge, spare_id)
        state: dict[str, Any] = {"taskId": spare_id, "mode": SPARE_MODE, "netns": name, "hostVeth": veth, "ports": []}
        write_state(self._dir(spare_id), state)
        namespace = netns.create(name)
        inner = namespace.netlink
        try:
            loopback = inner.link("lo")
            if loopback is not None:
                inner.set_up(loopback.index)
            bridge = self._bridge.ensure()
            host = self._bridge.netlink()
            host.delete_link(veth)
            # On the bridge and up already: enslaving a port waits for an RCU grace period (~2 ms),
            # which the claim must not. Without a carrier (eth0 is down) the port forwards nothing.
            host.create_veth(veth, TASK_IFNAME, namespace.fd, SPARE_MAC, bridge)
            outer, eth = host.link(veth), inner.link(TASK_IFNAME)
            if outer is None or eth is None:
                raise OSError(f"the veth pair of {name} did not appear")
        except BaseException:
            inner.close()
            raise
        finally:
            os.close(namespace.fd)
        return SpareNetwork(spare_id, name, veth, outer.index, eth.index, inner)

    def _adopt(self, spare: SpareNetwork, spec: SandboxSpec, state: dict[str, Any]) -> None:
        """:meth:`_create`'s result from a spare: state and files first (the task's intent, as there),
        then links, addresses and routes, then the namespace's name; the spare's record goes last."""
        network = spec.network
        bridge = self._bridge.index
        if network is None or bridge is None:
            raise OSError("the bridge is not set up")
        folder = self._dir(spec.task_id)
        write_state(folder, state)
        write_files(spec, folder)
        if self._claims is None:
            self._claims = Netlink()
        host, inner = self._claims, spare.inner
        host.add_address(bridge, network.gateway, network.prefix_length)
        self.resolvers.note(network.dns_servers)
        for server in network.dns_servers:
            host.add_address(bridge, server, 32)
        host.forget_neighbor(bridge, network.ipv4)
        inner.set_link(spare.eth_index, mac=network.mac_address)
        inner.add_address(spare.eth_index, network.ipv4, network.prefix_length)
        inner.add_route("0.0.0.0", 0, network.gateway)
        inner.add_route(METADATA_ADDRESS, 32, network.gateway)
        # Bound under the task's name too: from here on the namespace is the task's, whatever
        # happens to the spare's name (removing a name never removes a namespace another holds).
        netns.bind(spare.netns, state["netns"])
        spare.close()

    def _retire(self, spare_id: str) -> None:
        """Drop what is left of a taken spare (its namespace name, its record), on the network thread."""
        state = self._state(spare_id) or {}

        def drop() -> None:
            netns.delete(str(state.get("netns") or self.netns_prefix + spare_id))
            shutil.rmtree(self._dir(spare_id), ignore_errors=True)

        self._executor.submit(drop)

    def _destroy(self, task_id: str, state: dict[str, Any] | None) -> None:
        veth = (state or {}).get("hostVeth") or veth_name(self.bridge, task_id)
        name = (state or {}).get("netns") or self.netns_prefix + task_id
        # Removing the namespace takes its end of the veth, and with it ours, in the kernel's batched
        # namespace cleanup; deleting the veth first would wait for an RCU grace period (~30 ms) each.
        if not netns.delete(name):
            self._bridge.netlink().delete_link(veth)
        address = (state or {}).get("ipv4")
        if address and self._bridge.index is not None:
            # The host's ARP entry for the address would point at a MAC that is gone, for as long as
            # it stays REACHABLE (up to ~45 s): the address's next owner, or one that got it while
            # this sandbox still stood, would be unreachable from the host until then.
            with contextlib.suppress(OSError, NetlinkError):
                self._bridge.netlink().forget_neighbor(self._bridge.index, str(address))
        shutil.rmtree(self._dir(task_id), ignore_errors=True)

    # -- on the loop -------------------------------------------------------------------------------

    async def _ensure_network_addresses(self, state: dict[str, Any]) -> None:
        """The gateway and resolver addresses of the task's network exist on the bridge and answer."""
        if state.get("mode") not in ADDRESSED_MODES or not state.get("gateway"):
            return
        await self._run(self._bridge.add_address, state["gateway"], int(state["prefixLength"]))
        self.resolvers.note(state.get("dnsServers") or ())
        for server in state.get("dnsServers") or ():
            await self._run(self._bridge.add_address, server, 32)
        await self._ensure_relays(state)

    async def _ensure_relays(self, state: dict[str, Any]) -> None:
        """The DNS relay answers on the task's resolver addresses; the task's subnet is NATed."""
        for server in state.get("dnsServers") or ():
            try:
                await self.dns.listen(server)
            except OSError as error:
                log.warning("DNS relay cannot listen", extra={"address": server, "error": str(error)})
        subnet = f"{state['gateway']}/{state['prefixLength']}"
        network = str(ipaddress.IPv4Network(subnet, strict=False))
        if network not in self.nat.ranges and not _within(network, self.settings.vpc_cidr):
            self.nat.ranges.add(network)
            await self._run(self.nat.install)

    async def _ensure_proxies(self, task_id: str, state: dict[str, Any]) -> None:
        if task_id in self._proxies or not state.get("ports") or not state.get("ipv4"):
            return
        routes = [
            Route(
                p["protocol"], self.settings.publish_address, int(p["hostPort"]), state["ipv4"], int(p["containerPort"])
            )
            for p in state["ports"]
        ]
        self._proxies[task_id] = await start_proxies(routes)

    async def _note_host_task(self, task_id: str, *, running: bool) -> None:
        """Keep the set of host tasks, and the output chain's precedence with it."""
        before = bool(self._host_tasks)
        if running:
            self._host_tasks.add(task_id)
        else:
            self._host_tasks.discard(task_id)
        self.nat.host_tasks = bool(self._host_tasks)
        if self.nat.host_tasks != before and self.nat.agent_port is not None:
            await self._run(self.nat.install)

    async def _teardown(self, task_id: str) -> None:
        proxies = self._proxies.pop(task_id, None)
        if proxies:
            await stop_proxies(proxies)
        await self._run(self._destroy, task_id, self._state(task_id))

    def _lock(self, task_id: str) -> asyncio.Lock:
        lock = self._locks.get(task_id)
        if lock is None:
            lock = self._locks[task_id] = asyncio.Lock()
        return lock


def _within(network: str, outer: str) -> bool:
    return ipaddress.IPv4Network(network).subnet_of(ipaddress.IPv4Network(outer))
