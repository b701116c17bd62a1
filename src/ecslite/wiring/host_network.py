"""What the process runtime's host network serves from the store: the tasks' resolver's local
names, the bridge's subnet gateways and VPC resolvers, and the agent endpoint at 169.254.170.2:80."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecslite.wiring import Core

if TYPE_CHECKING:
    from ecslite.agent.listener import AgentListener, AwsHandler
    from ecslite.builtin.gateway import TaskGateway
    from ecslite.providers.ecs.provider import EcsProvider


def add_cloud_map_dns(core: Core) -> None:
    """The tasks' resolver answers load balancers' DNS names and Cloud Map private DNS namespaces
    from the store (process runtime)."""
    dns = getattr(getattr(core.runtime, "network", None), "dns", None)
    if dns is None:
        return
    from ecslite.control.cloudmap_dns import local_names
    from ecslite.control.elb_dns import with_load_balancers

    dns.local_names = with_load_balancers(core.db, local_names(core.db))


def add_bridge_gateways(core: Core) -> None:
    """A deleted subnet's gateway and a deleted VPC's resolver leave the bridge (process runtime only;
    control.bridge_gateways)."""
    network = getattr(core.runtime, "network", None)
    if core.runtime.name != "process" or network is None:
        return
    from ecslite.control.bridge_gateways import BridgeGatewaysFeed

    core.components.append(BridgeGatewaysFeed(core.db, network, core.settings.vpc_cidr))


def add_agent(core: Core, gateway: TaskGateway | None, ecs: EcsProvider, aws: AwsHandler) -> AgentListener | None:
    """The agent endpoint at 169.254.170.2:80 (process runtime only): task metadata, credentials,
    task protection and the AWS API for tasks (ecslite.agent.listener), on ``settings.agent_port``
    with the host network mapping port 80 to it."""
    network = getattr(core.runtime, "network", None)
    if gateway is None or network is None:
        return None
    from ecslite.agent.listener import AgentEndpoint, AgentListener

    def caller_of(address: str) -> str | None:
        owner = gateway.owner_of(address)
        return owner.task_arn if owner is not None else None

    endpoint = AgentEndpoint(
        core.db,
        core.clock,
        core.settings,
        core.runtime,
        caller_of=caller_of,
        ecs=ecs,
        aws=aws,
    )
    agent = AgentListener(endpoint, core.settings.bridge, redirect=network, port=core.settings.agent_port)
    core.components.append(agent)
    return agent
