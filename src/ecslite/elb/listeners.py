"""The local ALB as a server component: one HTTP listener on 127.0.0.1 per ELBv2 listener of every
load balancer in the store (spec/ecs.md §7.5).

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
- Only ``HTTP`` listeners are served: an ``HTTPS`` listener's certificates live in ACM, which
  ecslite does not serve, so it is logged once and left unbound.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ecslite.elb.balancer import ROUND_ROBIN, Balancer, Endpoint
from ecslite.elb.proxy import ListenerConfig, ListenerProxy
from ecslite.listen_sockets import listen_tcp
from ecslite.store import elbv2 as elb_store
from ecslite.store.db import Change, Database

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
RESET_KIND = "*"
FOLLOWED_KINDS = frozenset({elb_store.LOAD_BALANCER_KIND, elb_store.LISTENER_KIND, elb_store.RULE_KIND, RESET_KIND})
IDLE_TIMEOUT_ATTRIBUTE = "idle_timeout.timeout_seconds"
ALGORITHM_ATTRIBUTE = "load_balancing.algorithm.type"
DEFAULT_IDLE_TIMEOUT = 60.0


class StoreRouting:
    """Routing (``elb.proxy.Routing``) from the store and the target groups' routing set, given as
    ``(target id, port)`` pairs (``control.target_groups.ElbTargetGroups.healthy_targets``)."""

    def __init__(self, db: Database, healthy_targets: Callable[[str], Sequence[tuple[str, int]]]) -> None:
        self.db = db
        self.healthy_targets = healthy_targets

    def routing_targets(self, target_group_arn: str) -> list[Endpoint]:
        group = elb_store.get_target_group(self.db, target_group_arn)
        if group is None:
            return []
        instance = group.get("TargetType", "instance") == "instance"
        # Container instances are this host: an instance target's port is a host port here.
        return [(LOOPBACK if instance else str(id), int(port)) for id, port in self.healthy_targets(target_group_arn)]

    def algorithm(self, target_group_arn: str) -> str:
        attributes = elb_store.target_group_attributes(self.db, target_group_arn)
        return attributes.get(ALGORITHM_ATTRIBUTE, ROUND_ROBIN)


def idle_timeout_of(load_balancer: dict[str, Any], attributes: dict[str, str]) -> float:
    try:
        return float(attributes.get(IDLE_TIMEOUT_ATTRIBUTE, DEFAULT_IDLE_TIMEOUT))
    except ValueError:
        return DEFAULT_IDLE_TIMEOUT


def listener_configs(db: Database, attributes_of: Callable[[dict[str, Any]], dict[str, str]]) -> list[ListenerConfig]:
    """Every HTTP listener of every load balancer, with its rules (the default rule last)."""
    out: list[ListenerConfig] = []
    for balancer in elb_store.all_load_balancers(db):
        if (balancer.get("State") or {}).get("Code") == "failed":
            continue
        idle = idle_timeout_of(balancer, attributes_of(balancer))
        for listener in elb_store.listeners_of(db, balancer["LoadBalancerArn"]):
            if listener.get("Protocol", "HTTP") != "HTTP":
                continue
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
                    listener["ListenerArn"], balancer["LoadBalancerArn"], int(listener["Port"]), tuple(rules), idle
                )
            )
    return out


@dataclass
class _Bound:
    proxy: ListenerProxy
    server: asyncio.AbstractServer
    wanted_port: int
    port: int


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
    ) -> None:
        self.db = db
        self.routing = routing
        self.attributes_of = attributes_of or (lambda balancer: dict(balancer.get("Attributes") or {}))
        self.balancer = Balancer()
        self._bound: dict[str, _Bound] = {}
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refreshing: asyncio.Task[None] | None = None
        self._again = False
        self._https_noted: set[str] = set()
        db.subscribe(self._on_changes)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # Targets are task addresses on the bridge: never through a proxy from the environment.
        self._client = httpx.AsyncClient(
            trust_env=False, limits=httpx.Limits(max_connections=None, max_keepalive_connections=100)
        )
        await self.refresh()

    async def stop(self) -> None:
        self._loop = None
        if self._refreshing is not None:
            self._refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refreshing
        for arn in list(self._bound):
            await self._close(arn)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def endpoints(self) -> dict[str, str]:
        """``listener ARN → 127.0.0.1:<port>`` where each listener is served."""
        return {arn: f"{LOOPBACK}:{bound.port}" for arn, bound in self._bound.items()}

    def stats(self) -> dict[str, Any]:
        return {
            arn: {
                "endpoint": f"{LOOPBACK}:{bound.port}",
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
        self._note_https()
        for arn in [
            arn for arn, bound in self._bound.items() if arn not in configs or configs[arn].port != bound.wanted_port
        ]:
            await self._close(arn)
        for arn, config in configs.items():
            bound = self._bound.get(arn)
            if bound is not None:
                bound.proxy.config = config
                continue
            await self._open(config)

    async def _open(self, config: ListenerConfig) -> None:
        assert self._client is not None
        try:
            sock = bind_listener_socket(config.port)
        except OSError as error:
            log.error("local ALB listener could not bind", extra={"listener": config.arn, "error": str(error)})
            return
        port = int(sock.getsockname()[1])
        proxy = ListenerProxy(config, self.routing, self.balancer, self._client)
        server = await asyncio.start_server(proxy.handle, sock=sock)
        self._bound[config.arn] = _Bound(proxy, server, config.port, port)
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
        bound.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(bound.server.wait_closed(), 1.0)

    def _note_https(self) -> None:
        for balancer in elb_store.all_load_balancers(self.db):
            for listener in elb_store.listeners_of(self.db, balancer["LoadBalancerArn"]):
                arn = listener["ListenerArn"]
                if listener.get("Protocol", "HTTP") != "HTTP" and arn not in self._https_noted:
                    self._https_noted.add(arn)
                    log.warning("local ALB serves HTTP listeners only; this one is not bound", extra={"listener": arn})
