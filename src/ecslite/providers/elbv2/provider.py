"""The ELBv2 provider (query protocol, API 2015-12-01): application load balancers only.

Load balancers and target groups and their attributes, listeners, rules and tags are stored
(``store.elbv2``); targets go through ``control.target_groups`` and their health is decided by the
health checker (``control.target_health``). Listeners are served on 127.0.0.1 by the local ALB.
"""

from __future__ import annotations

from ecslite.providers.elbv2.lb_attributes import LoadBalancerAttributeOps
from ecslite.providers.elbv2.listeners import ListenerOps
from ecslite.providers.elbv2.load_balancers import LoadBalancerOps
from ecslite.providers.elbv2.target_groups import TargetGroupOps
from ecslite.providers.elbv2.targets import TargetOps


class Elbv2Provider(LoadBalancerOps, LoadBalancerAttributeOps, TargetGroupOps, ListenerOps, TargetOps):
    """Elastic Load Balancing v2."""
