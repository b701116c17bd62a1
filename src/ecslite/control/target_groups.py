"""Targets of ELBv2 target groups: registration, draining, and the routing set (§7.2–7.4).

This is the one place that changes which targets a group has; RegisterTargets/DeregisterTargets and
ECS's task activation (:class:`ElbTargetGroups`, the ``TargetGroups`` of ``control.task_activation``)
both go through it, and the health checker (``control.target_health``) moves states from there.

Invariants:
- A registered target starts ``initial`` (``Elb.RegistrationInProgress``) when its group is used by
  a load balancer and health checks are on; ``unused`` (``Target.NotInUse``) when no load balancer
  uses the group (no checks then); ``unavailable`` (``Target.HealthCheckDisabled``) with checks off.
  :func:`settle_states` keeps that true when a group gains or loses its load balancer.
- Registering a target that is already registered changes nothing, unless it was draining: then it
  starts over. Deregistering puts it in ``draining`` until ``deregistration_delay.timeout_seconds``
  has passed (the health checker then removes it); a group no load balancer uses, or a delay of 0,
  removes it at once.
- Routing (:meth:`ElbTargetGroups.healthy_targets`): the ``healthy`` targets, or, when none is, every
  registered target that is not draining (fail open, §7.3).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from ecslite.control.task_activation import Target
from ecslite.store import elbv2 as store
from ecslite.store import vpc as vpc_store
from ecslite.store.db import Database

REGISTRATION_IN_PROGRESS = ("initial", "Elb.RegistrationInProgress", "Target registration is in progress")
INITIAL_CHECKING = ("initial", "Elb.InitialHealthChecking", "Initial health checks in progress")
NOT_IN_USE = (
    "unused",
    "Target.NotInUse",
    "Target group is not configured to receive traffic from the load balancer",
)
NOT_REGISTERED = ("unused", "Target.NotRegistered", "Target is not registered to the target group")
CHECKS_DISABLED = ("unavailable", "Target.HealthCheckDisabled", "Health checks are disabled")
DRAINING = ("draining", "Target.DeregistrationInProgress", "Target deregistration is in progress")
ZONE_ALL = "all"


class InvalidTarget(Exception):
    """A target the group cannot take: the message is ELBv2's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class TargetSpec:
    id: str
    port: int
    zone: str | None = None


def _entry_state(group: store.Doc) -> tuple[str, str, str]:
    if not group.get("LoadBalancerArns"):
        return NOT_IN_USE
    if not group.get("HealthCheckEnabled", True):
        return CHECKS_DISABLED
    return REGISTRATION_IN_PROGRESS


def zone_of(db: Database, account: str, region: str, group: store.Doc, spec: TargetSpec) -> str | None:
    """The target's zone: its subnet's for an ip in the group's VPC; raises InvalidTarget otherwise."""
    if group["TargetType"] == "instance":
        if not spec.id.startswith("i-"):
            raise InvalidTarget("ValidationError", f"Instance ID '{spec.id}' is not valid")
        return spec.zone
    try:
        address = ipaddress.IPv4Address(spec.id)
    except ValueError:
        raise InvalidTarget("InvalidTarget", f"The IP address '{spec.id}' is not a valid IPv4 address") from None
    for _, subnet in vpc_store.subnets(db, account, region, group["VpcId"]):
        if address in ipaddress.IPv4Network(subnet["CidrBlock"]):
            return str(subnet["AvailabilityZone"])
    if spec.zone == ZONE_ALL:
        return ZONE_ALL
    raise InvalidTarget(
        "ValidationError", f"The Availability Zone is required for IP address '{spec.id}' because it is not in the VPC"
    )


def register(db: Database, group_arn: str, specs: Sequence[TargetSpec], now: float) -> None:
    """Register ``specs`` with the group (checked first: all or nothing)."""
    group = store.get_target_group(db, group_arn)
    partition = store.target_group_partition(db, group_arn)
    if group is None or partition is None:
        return
    account, region = partition
    zones = [zone_of(db, account, region, group, spec) for spec in specs]
    state, reason, description = _entry_state(group)
    with db.transaction():
        for spec, zone in zip(specs, zones, strict=True):
            current = store.get_target(db, group_arn, spec.id, spec.port)
            if current is not None and current.state != "draining":
                continue
            row = store.TargetRow(group_arn, spec.id, spec.port, zone, state, reason, description, now, None, None)
            store.put_target(db, account, region, row)


def deregistration_delay(db: Database, group_arn: str) -> float:
    value = store.target_group_attributes(db, group_arn).get("deregistration_delay.timeout_seconds", "300")
    return float(value)


def deregister(db: Database, group_arn: str, specs: Sequence[TargetSpec], now: float) -> float:
    """Start draining ``specs``; the seconds until they are gone (0 when removed at once)."""
    group = store.get_target_group(db, group_arn)
    if group is None:
        return 0.0
    delay = deregistration_delay(db, group_arn) if group.get("LoadBalancerArns") else 0.0
    drains = False
    with db.transaction():
        for spec in specs:
            current = store.get_target(db, group_arn, spec.id, spec.port)
            if current is None or current.state == "draining":
                drains = drains or current is not None
                continue
            if delay <= 0:
                store.delete_target(db, group_arn, spec.id, spec.port)
                continue
            state, reason, description = DRAINING
            store.set_target_state(db, group_arn, spec.id, spec.port, state, reason, description, now + delay)
            drains = True
    return delay if drains else 0.0


def settle_states(db: Database, group_arn: str) -> None:
    """Targets follow their group: ``unused`` without a load balancer, ``unavailable`` without checks."""
    group = store.get_target_group(db, group_arn)
    if group is None:
        return
    in_use = bool(group.get("LoadBalancerArns"))
    enabled = bool(group.get("HealthCheckEnabled", True))
    with db.transaction():
        for target in store.targets_of(db, group_arn):
            if target.state == "draining":
                continue
            wanted: tuple[str, str, str] | None = None
            if not in_use:
                wanted = NOT_IN_USE
            elif not enabled:
                wanted = CHECKS_DISABLED
            elif target.state in ("unused", "unavailable"):
                wanted = REGISTRATION_IN_PROGRESS
            if wanted is not None and (target.state, target.reason) != wanted[:2]:
                store.set_target_state(db, group_arn, target.id, target.port, *wanted)


def remove_drained(db: Database, now: float) -> list[store.TargetRow]:
    gone = store.drained(db, now)
    if gone:
        with db.transaction():
            for target in gone:
                store.delete_target(db, target.target_group_arn, target.id, target.port)
    return gone


class ElbTargetGroups:
    """ECS's view of target groups (``control.task_activation.TargetGroups``) and the ALB's routing set."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def register(self, targets: Sequence[Target], now: float) -> None:
        for group_arn, specs in _by_group(targets).items():
            try:
                register(self.db, group_arn, specs, now)
            except InvalidTarget:
                # ECS registers what its tasks have; a target the group refuses is left out, as
                # the service's events will show through its health.
                continue

    def deregister(self, targets: Sequence[Target], now: float) -> float:
        """Deregister ``targets``; the longest deregistration delay among the groups that drain."""
        longest = 0.0
        for group_arn, specs in _by_group(targets).items():
            longest = max(longest, deregister(self.db, group_arn, specs, now))
        return longest

    def healthy_targets(self, target_group_arn: str) -> list[tuple[str, int]]:
        """Where the load balancer sends requests: healthy targets, or all non-draining ones if none is."""
        targets = [t for t in store.targets_of(self.db, target_group_arn) if t.state != "draining"]
        healthy = [(t.id, t.port) for t in targets if t.state == "healthy"]
        return healthy or [(t.id, t.port) for t in targets]

    def target_state(self, target_group_arn: str, id: str, port: int) -> store.TargetRow | None:
        """The target's row (state, reason, description, last check), or None when not registered."""
        return store.get_target(self.db, target_group_arn, id, port)


def _by_group(targets: Sequence[Target]) -> dict[str, list[TargetSpec]]:
    out: dict[str, list[TargetSpec]] = {}
    for target in targets:
        out.setdefault(target.target_group_arn, []).append(TargetSpec(target.id, target.port))
    return out
