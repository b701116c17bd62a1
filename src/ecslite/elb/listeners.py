"""The local ALB as a server component: one HTTP listener on 127.0.0.1 per ELBv2 listener of every
load balancer in the store (spec/ecs.md §7.5), and, where the runtime has a bridge, the same
listener on the load balancer's private addresses, so tasks reach it by its ``DNSName``.

- Which port: the listener's own when the host has it free; otherwise (taken, or privileged for
  this process) any free port, logged and reported by :meth:`LocalAlb.endpoints` (the
  ``host:port`` DescribeLoadBalancers and the UI show beside the ``DNSName``).
- Following the store: ``db.changed`` for load balancers, listeners and rules (``"*"`` for a
  reset) only says when to look again; the set is always read whole, so a missed or repeated
  announcement changes nothing. A listener created is bound once its transaction commits, a
  deleted one is closed, a changed one serves its new rules from the next request on (a port
  change rebinds).
- Where traffic goes: :class:`StoreRouting` reads a group's routing set from the target groups'
  side (healthy targets, failing open to every registered non-draining one) and its algorithm
  attribute on each request, so registration, draining and health changes take effect at once.
- Private addresses (with :class:`HostAddresses`, the process runtime's bridge): each load
  balancer's addresses (``store.elbv2.load_balancer_addresses``, one per subnet) are put on the
  bridge while it exists, whether or not it has listeners, and each listener is also bound there
  on its own port (bound to the bridge device, so servers with other bridges may hold the same
  address). An address is taken off once its load balancer is gone, and all of them when the
  component stops: nothing is left on the host. Without a bridge (the fake runtime) only
  127.0.0.1 is served.
- ``HTTPS`` listeners are served with TLS 1.2+ (:mod:`ecslite.elb.tls`): the listener's default
  certificate, its other certificates by SNI, all read from ecslite's ACM (``store.certificates``),
  under its security policy. A changed certificate (ModifyListener, Add/RemoveListenerCertificates, a
  re-import) serves from the next connection on; a protocol or security policy change rebinds. Requested certificates
  are issued by the local CA (``<data dir>/tls/ca.pem``), which clients trust to verify them.
- Metrics: every listener's proxy counts its traffic in one shared meter (``elb.metrics``), which
  ``elb.publish`` writes as ``AWS/ApplicationELB`` CloudWatch metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ecslite.elb.balancer import ROUND_ROBIN, Balancer, Endpoint
from ecslite.elb.http1 import TargetPool
from ecslite.elb.metrics import AlbMeter
from ecslite.elb.proxy import ListenerConfig, ListenerProxy
from ecslite.elb.tls import ListenerTls
from ecslite.listen_sockets import listen_tcp
from ecslite.model import ssl_policies
from ecslite.model.certificates import Material
from ecslite.store import certificates as acm_store
from ecslite.store import elbv2 as elb_store
from ecslite.store.db import Change, Database

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
RESET_KIND = "*"
ROUTING_KINDS = frozenset({elb_store.TARGET_GROUP_KIND, elb_store.TARGET_KIND, RESET_KIND})
FOLLOWED_KINDS = frozenset(
    {elb_store.LOAD_BALANCER_KIND, elb_store.LISTENER_KIND, elb_store.RULE_KIND, acm_store.KIND, RESET_KIND}
)
TLS_HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT_ATTRIBUTE = "idle_timeout.timeout_seconds"
XFF_MODE_ATTRIBUTE = "routing.http.xff_header_processing.mode"
DROP_INVALID_ATTRIBUTE = "routing.http.drop_invalid_header_fields.enabled"
KEEP_ALIVE_ATTRIBUTE = "client_keep_alive.seconds"
ALGORITHM_ATTRIBUTE = "load_balancing.algorithm.type"
DEFAULT_IDLE_TIMEOUT = 60.0
DEFAULT_KEEP_ALIVE = 3600.0


class HostAddresses(Protocol):
    """Where load balancers' private addresses live on this host (the process runtime's bridge)."""

    @property
    def device(self) -> str: ...

    async def add_host_address(self, address: str) -> None: ...

    async def remove_host_address(self, address: str) -> None: ...


class StoreRouting:
    """Routing (``elb.proxy.Routing``) from the store and the target groups' routing set, given as
    ``(target id, port)`` pairs (``control.target_groups.ElbTargetGroups.healthy_targets``).

    A group's routing set and algorithm are read once and kept until the store announces a change
    to target groups or targets (registration, health, draining, attributes; ``"*"`` for a reset):
    the proxy asks on every request. A change committed while a read is under way leaves that
    read uncached (the generation moved), so a stale answer is never kept."""

    def __init__(self, db: Database, healthy_targets: Callable[[str], Sequence[tuple[str, int]]]) -> None:
        self.db = db
        self.healthy_targets = healthy_targets
        self._cache: dict[str, tuple[list[Endpoint], str]] = {}
        self._generation = 0
        db.subscribe(self._on_changes)

    def _on_changes(self, changes: Sequence[Change]) -> None:
        if any(change.kind in ROUTING_KINDS for change in changes):
            self._generation += 1
            self._cache = {}

    def _routing(self, target_group_arn: str) -> tuple[list[Endpoint], str]:
        found = self._cache.get(target_group_arn)
        if found is not None:
            return found
        generation = self._generation
        group = elb_store.get_target_group(self.db, target_group_arn)
        if group is None:
            found = ([], ROUND_ROBIN)
        else:
            instance = group.get("TargetType", "instance") == "instance"
            # Container instances are this host: an instance target's port is a host port here.
            targets = [
                (LOOPBACK if instance else str(id), int(port)) for id, port in self.healthy_targets(target_group_arn)
            ]
            attributes = elb_store.target_group_attributes(self.db, target_group_arn)
            found = (targets, attributes.get(ALGORITHM_ATTRIBUTE, ROUND_ROBIN))
        if generation == self._generation:
            self._cache[target_group_arn] = found
        return found

    def routing_targets(self, target_group_arn: str) -> list[Endpoint]:
        return self._routing(target_group_arn)[0]

    def algorithm(self, target_group_arn: str) -> str:
        return self._routing(target_group_arn)[1]


def _seconds(attributes: dict[str, str], key: str, default: float) -> float:
    try:
        return float(attributes.get(key, default))
    except ValueError:
        return default


def idle_timeout_of(load_balancer: dict[str, Any], attributes: dict[str, str]) -> float:
    return _seconds(attributes, IDLE_TIMEOUT_ATTRIBUTE, DEFAULT_IDLE_TIMEOUT)


def balancer_addresses(db: Database) -> dict[str, tuple[str, ...]]:
    """Every load balancer's private addresses (``failed`` ones have none that serve)."""
    return {
        balancer["LoadBalancerArn"]: tuple(elb_store.load_balancer_addresses(db, balancer["LoadBalancerArn"]))
        for balancer in elb_store.all_load_balancers(db)
        if (balancer.get("State") or {}).get("Code") != "failed"
    }


def listener_configs(db: Database, attributes_of: Callable[[dict[str, Any]], dict[str, str]]) -> list[ListenerConfig]:
    """Every HTTP and HTTPS listener of every load balancer, with its rules (the default rule last)."""
    out: list[ListenerConfig] = []
    for balancer in elb_store.all_load_balancers(db):
        if (balancer.get("State") or {}).get("Code") == "failed":
            continue
        attributes = attributes_of(balancer)
        idle = idle_timeout_of(balancer, attributes)
        keep_alive = _seconds(attributes, KEEP_ALIVE_ATTRIBUTE, DEFAULT_KEEP_ALIVE)
        addresses = tuple(elb_store.load_balancer_addresses(db, balancer["LoadBalancerArn"]))
        for listener in elb_store.listeners_of(db, balancer["LoadBalancerArn"]):
            protocol = listener.get("Protocol", "HTTP")
            if protocol not in ("HTTP", "HTTPS"):
                continue
            certificates = [*(listener.get("Certificates") or []), *(listener.get("ListenerCertificates") or [])]
            rules = elb_store.rules_of(db, listener["ListenerArn"])
            if not any(rule.get("IsDefault") for rule in rules):
                rules.append(
                    {
                        "Priority": "default",
                        "IsDefault": True,
                        "Conditions": [],
                        "Actions": listener.get("DefaultActions") or [],
                    }
                )
            out.append(
                ListenerConfig(
                    listener["ListenerArn"],
                    balancer["LoadBalancerArn"],
                    int(listener["Port"]),
                    tuple(rules),
                    idle,
                    xff_mode=attributes.get(XFF_MODE_ATTRIBUTE, "append"),
                    drop_invalid_headers=attributes.get(DROP_INVALID_ATTRIBUTE) == "true",
                    client_keep_alive=keep_alive,
                    addresses=addresses,
                    protocol=protocol,
                    certificates=tuple(dict.fromkeys(c["CertificateArn"] for c in certificates)),
                    ssl_policy=listener.get("SslPolicy"),
                )
            )
    return out


@dataclass
class _Bound:
    proxy: ListenerProxy
    servers: list[asyncio.AbstractServer]
    wanted_port: int
    port: int
    addresses: tuple[str, ...]  # what the load balancer had when bound
    private: tuple[str, ...]  # ``address:port`` served on its private addresses
    tls: ListenerTls | None = None  # HTTPS listeners


def bind_listener_socket(port: int) -> socket.socket:
    """127.0.0.1:``port``, or any free port when the host has that one taken or reserved."""
    try:
        return listen_tcp(LOOPBACK, port)
    except OSError as error:
        if error.errno not in (errno.EADDRINUSE, errno.EACCES):
            raise
    return listen_tcp(LOOPBACK, 0)


class LocalAlb:
    """A server component: keeps one bound proxy per listener in step with the store."""

    name = "local-alb"

    def __init__(
        self,
        db: Database,
        routing: StoreRouting,
        *,
        attributes_of: Callable[[dict[str, Any]], dict[str, str]] | None = None,
        host_addresses: HostAddresses | None = None,
        allow_target: Callable[[str], bool] | None = None,
        refusal: str = "Connection refused",
        meter: AlbMeter | None = None,
    ) -> None:
        self.db = db
        self.meter = meter  # AWS/ApplicationELB counts, published by elb.publish
        # Which target addresses may be reached (the fake runtime's: loopback only), and the error
        # the others fail with.
        self.allow_target = allow_target
        self.refusal = refusal
        self.routing = routing
        self.host_addresses = host_addresses
        self._addresses: set[str] = set()  # on the host now, put there by this component
        self.attributes_of = attributes_of or (lambda balancer: dict(balancer.get("Attributes") or {}))
        self.balancer = Balancer()
        self._bound: dict[str, _Bound] = {}
        self._pool: TargetPool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refreshing: asyncio.Task[None] | None = None
        self._again = False
        db.subscribe(self._on_changes)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # Targets are task addresses on the bridge, reached directly (never through an HTTP proxy).
        self._pool = TargetPool(self.allow_target, self.refusal)
        await self.refresh()

    async def stop(self) -> None:
        self._loop = None
        if self._refreshing is not None:
            self._refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refreshing
        for arn in list(self._bound):
            await self._close(arn)
        await self._sync_addresses(set())
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def endpoints(self) -> dict[str, str]:
        """``listener ARN → 127.0.0.1:<port>`` where each listener is served."""
        return {arn: f"{LOOPBACK}:{bound.port}" for arn, bound in self._bound.items()}

    def private_endpoints(self) -> dict[str, list[str]]:
        """``listener ARN → [<private address>:<port>, …]`` where tasks reach each listener."""
        return {arn: list(bound.private) for arn, bound in self._bound.items()}

    def stats(self) -> dict[str, Any]:
        names = {b["LoadBalancerArn"]: b.get("DNSName") for b in elb_store.all_load_balancers(self.db)}
        return {
            arn: {
                "endpoint": f"{LOOPBACK}:{bound.port}",
                "loadBalancerArn": bound.proxy.config.load_balancer_arn,
                "dnsName": names.get(bound.proxy.config.load_balancer_arn),
                "privateEndpoints": list(bound.private),
                "requests": bound.proxy.stats.requests,
                "byStatus": {str(k): v for k, v in sorted(bound.proxy.stats.by_status.items())},
                "lastError": bound.proxy.stats.last_error,
            }
            for arn, bound in self._bound.items()
        }

    # -- following the store ---------------------------------------------------------------------

    def _on_changes(self, changes: Sequence[Change]) -> None:
        if self._loop is None or not any(change.kind in FOLLOWED_KINDS for change in changes):
            return
        self._loop.call_soon_threadsafe(self._schedule)

    def _schedule(self) -> None:
        if self._refreshing is not None and not self._refreshing.done():
            self._again = True
            return
        self._refreshing = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def _refresh_loop(self) -> None:
        while True:
            self._again = False
            try:
                await self.refresh()
            except Exception:
                log.exception("local ALB failed to follow the store")
            if not self._again:
                return

    async def refresh(self) -> None:
        configs = {config.arn: config for config in listener_configs(self.db, self.attributes_of)}
        for arn in [
            arn
            for arn, bound in self._bound.items()
            if arn not in configs
            or configs[arn].port != bound.wanted_port
            or (configs[arn].protocol == "HTTPS") != (bound.tls is not None)
            or (bound.tls is not None and bound.tls.policy != ssl_policies.policy(configs[arn].ssl_policy))
            or (self.host_addresses is not None and configs[arn].addresses != bound.addresses)
        ]:
            await self._close(arn)
        if self.host_addresses is not None:
            await self._sync_addresses({a for found in balancer_addresses(self.db).values() for a in found})
        for arn, config in configs.items():
            bound = self._bound.get(arn)
            if bound is not None:
                if bound.tls is not None and not self._update_tls(bound.tls, config):
                    await self._close(arn)
                    continue
                bound.proxy.config = config
                continue
            await self._open(config)

    async def _open(self, config: ListenerConfig) -> None:
        assert self._pool is not None
        tls: ListenerTls | None = None
        if config.protocol == "HTTPS":
            tls = ListenerTls(ssl_policies.policy(config.ssl_policy))
            if not self._update_tls(tls, config):
                return
        try:
            sock = bind_listener_socket(config.port)
        except OSError as error:
            log.error("local ALB listener could not bind", extra={"listener": config.arn, "error": str(error)})
            return
        port = int(sock.getsockname()[1])
        proxy = ListenerProxy(config, self.routing, self.balancer, self._pool, meter=self.meter)
        serve = functools.partial(
            asyncio.start_server,
            proxy.handle,
            ssl=None if tls is None else tls.front,
            ssl_handshake_timeout=None if tls is None else TLS_HANDSHAKE_TIMEOUT,
        )
        servers: list[asyncio.AbstractServer] = [await serve(sock=sock)]
        private: list[str] = []
        for address in config.addresses if self.host_addresses is not None else ():
            if address not in self._addresses:
                continue
            try:
                inner = listen_tcp(address, config.port, device=self.host_addresses.device)  # type: ignore[union-attr]
            except OSError as error:
                log.error(
                    "local ALB listener could not bind its load balancer's address",
                    extra={"listener": config.arn, "address": f"{address}:{config.port}", "error": str(error)},
                )
                continue
            servers.append(await serve(sock=inner))
            private.append(f"{address}:{config.port}")
        self._bound[config.arn] = _Bound(proxy, servers, config.port, port, config.addresses, tuple(private), tls)
        if port != config.port:
            log.warning(
                "local ALB listener port is taken on this host; serving on another",
                extra={"listener": config.arn, "port": config.port, "endpoint": f"{LOOPBACK}:{port}"},
            )
        else:
            log.info("local ALB listener serving", extra={"listener": config.arn, "endpoint": f"{LOOPBACK}:{port}"})

    async def _close(self, arn: str) -> None:
        bound = self._bound.pop(arn, None)
        if bound is None:
            return
        for server in bound.servers:
            server.close()
        for server in bound.servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    async def _sync_addresses(self, wanted: set[str]) -> None:
        """Exactly ``wanted`` on the host, of the addresses this component manages (listeners on an
        address leaving are closed first by the caller)."""
        if self.host_addresses is None:
            return
        for address in sorted(self._addresses - wanted):
            try:
                await self.host_addresses.remove_host_address(address)
            except OSError as error:
                log.error("load balancer address could not be removed", extra={"address": address, "error": str(error)})
            self._addresses.discard(address)
        for address in sorted(wanted - self._addresses):
            try:
                await self.host_addresses.add_host_address(address)
            except OSError as error:
                log.error("load balancer address could not be added", extra={"address": address, "error": str(error)})
                continue
            self._addresses.add(address)

    def _update_tls(self, tls: ListenerTls, config: ListenerConfig) -> bool:
        """Point ``tls`` at the listener's certificates; ``False`` (logged) when none can serve, and
        the listener is then left unbound."""
        certificates: list[tuple[str, Material]] = []
        for arn in config.certificates:
            found = acm_store.material(self.db, arn)
            if found is not None:
                certificates.append((arn, found))
        if not certificates or certificates[0][0] != config.certificates[0]:
            log.error("HTTPS listener's default certificate is not in ACM", extra={"listener": config.arn})
            return False
        try:
            tls.update(certificates)
        except (ssl.SSLError, ValueError, OSError) as error:
            log.error(
                "HTTPS listener's certificates could not be loaded", extra={"listener": config.arn, "error": str(error)}
            )
            return False
        return True
