"""ELBv2's components: the local ALB serving each listener, and target health checks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ecslite.runtime.fake import FakeRuntime
from ecslite.wiring import Core

if TYPE_CHECKING:
    from ecslite.control.target_groups import ElbTargetGroups
    from ecslite.control.target_health import TargetHealth
    from ecslite.elb.listeners import LocalAlb
    from ecslite.telemetry.store import TelemetryStore

# AWS/ApplicationELB metrics are written at most every 10 s, and six times per --metrics-period.
ALB_METRICS_INTERVAL = 10.0


def add_local_alb(core: Core, target_groups: ElbTargetGroups, telemetry: TelemetryStore | None = None) -> LocalAlb:
    """Each ELBv2 listener served on 127.0.0.1 (§7.5), routing to the target groups' routing set, and
    on its load balancer's private addresses on the bridge where the runtime has one; its
    ``AWS/ApplicationELB`` metrics written to CloudWatch (elb.publish)."""
    from ecslite.elb.listeners import LocalAlb, StoreRouting
    from ecslite.elb.metrics import AlbMeter
    from ecslite.elb.publish import AlbMetricsPublisher

    fake: dict[str, Any] = {}
    if isinstance(core.runtime, FakeRuntime):
        from ecslite.elb.fake_network import NO_NETWORK, is_loopback

        fake = {"allow_target": is_loopback, "refusal": NO_NETWORK}
    meter = AlbMeter()
    local_alb = LocalAlb(
        core.db,
        StoreRouting(core.db, target_groups.healthy_targets),
        host_addresses=getattr(core.runtime, "network", None),
        meter=meter,
        **fake,
    )
    core.components.append(local_alb)
    minute = core.settings.metrics_period
    interval = min(ALB_METRICS_INTERVAL, minute / 6)
    core.components.append(AlbMetricsPublisher(core.db, core.clock, meter, interval, telemetry, minute))
    return local_alb


def add_target_health(core: Core) -> TargetHealth:
    """ELBv2 target health checks (§7.2): one loop per target group a load balancer uses."""
    from ecslite.control.target_health import TargetHealth

    if isinstance(core.runtime, FakeRuntime):
        from ecslite.elb.fake_network import fake_prober

        target_health = TargetHealth(core.db, core.clock, fake_prober(core.db))
    else:
        target_health = TargetHealth(core.db, core.clock)
    core.components.append(target_health)
    return target_health
