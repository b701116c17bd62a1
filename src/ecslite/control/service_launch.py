"""Launching a deployment's tasks (spec/ecs.md §4.1, §5.2, §5.6, §13.1) through the launch path
RunTask uses (``model.task_launch``, ``store.placement``), so a service task is shaped and placed
exactly like a standalone one.

Service tasks get ``startedBy`` = the deployment id, ``group`` = ``service:<name>``, the service's
``enableExecuteCommand``, tags per ``propagateTags`` and, with ECS-managed tags, ``aws:ecs:clusterName``
and ``aws:ecs:serviceName`` (§1.6, §3.7). A capacity provider strategy is followed task by task
(``model.capacity.next_provider``), Fargate tasks are spread over the zones of the service's
subnets, EC2 tasks are placed by the placement engine (``store.placement.Placer``) with the
service's constraints, the definition's ``memberOf`` constraints and required attributes, and the
service's strategies — ``spread`` over ``attribute:ecs.availability-zone`` when it has none (§4.1);
one no instance of a managed-scaling provider can take yet waits in PROVISIONING
(``store.capacity_wait``, §5.6).
A DAEMON service's tasks are placed each on the instance it is for (``on_instances``).

Nothing here writes: the reconciler inserts the returned documents together with its own record of
them, in its step's transaction. A launch that cannot happen (no instance fits, the network is gone)
comes back as an event text; the tasks placed before it are still launched.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ecslite.config import Settings
from ecslite.control import service_events as texts
from ecslite.model.capacity import StrategyItem, next_provider, parse_strategy
from ecslite.model.placement.constraints import parse_constraints
from ecslite.model.placement.strategies import DEFAULT_SERVICE_STRATEGY, PlacementInputError, parse_strategies
from ecslite.model.services import DeploymentSpec, resolved_platform
from ecslite.model.task_launch import (
    LaunchTemplate,
    TagSources,
    TaskTarget,
    build_task,
    launch_request,
    launch_tags,
    template_demand,
)
from ecslite.model.task_placement import Placement, fargate_subnet, instance_subnet
from ecslite.model.vpc import default_layout
from ecslite.store import capacity_wait
from ecslite.store import clusters as cluster_store
from ecslite.store import placement as placement_store
from ecslite.store import tags as tag_store
from ecslite.store import task_definitions as td_store
from ecslite.store import tasks as task_store
from ecslite.store.db import Database

Doc = dict[str, Any]

# §4.10 "closest matching (container-instance <id>) …" texts for the reasons the engine adds to the
# service events' own table.
CLOSEST_PROBLEMS = {
    "ATTRIBUTE": "is missing an attribute required by your task.",
    "AGENT": 'encountered error "AGENT".',
    "RESOURCE:GPU": "has insufficient GPU resources available.",
}


@dataclass(slots=True)
class LaunchOutcome:
    docs: list[Doc] = field(default_factory=list)
    tags: tuple[tuple[str, str], ...] = ()
    problem: str | None = None  # the event text (after the service prefix) of a launch that failed


@dataclass(frozen=True, slots=True)
class ServiceRef:
    account: str
    region: str
    cluster: str
    name: str


class ServiceLauncher:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def launch(
        self,
        ref: ServiceRef,
        service: Doc,
        deployment: Doc,
        count: int,
        live: Sequence[Doc],
        now: float,
        on_instances: Sequence[str] | None = None,
    ) -> LaunchOutcome:
        """Up to ``count`` new task documents of ``deployment``; ``live`` are the service's live tasks.

        With ``on_instances`` (DAEMON), one task for each of those container instances instead."""
        outcome = LaunchOutcome()
        cluster = cluster_store.get(self.db, ref.account, ref.region, ref.cluster)
        spec = DeploymentSpec.from_doc(deployment["_spec"])
        definition = self._definition(ref, spec.task_definition)
        if cluster is None or cluster["status"] == "INACTIVE" or definition is None:
            missing = "Cluster not found." if definition is not None else "Unable to describe task definition."
            outcome.problem = texts.LAUNCH_FAILED.format(error=missing)
            return outcome
        try:
            template = self._template(ref, service, deployment, spec, definition)
        except placement_store.NetworkProblem as problem:
            outcome.problem = texts.LAUNCH_FAILED.format(error=_network_error(problem))
            return outcome
        outcome.tags = template.tags
        targets: list[str | None] = list(on_instances) if on_instances is not None else [None] * count
        providers = self._providers(spec, deployment["id"], live, len(targets))
        zones = task_store.count_by_zone(self.db, ref.account, ref.region, ref.cluster, template.group or "")
        placer: placement_store.Placer | None = None
        gate = capacity_wait.Gate(self.db, ref.account, ref.region, ref.cluster)
        for provider, instance_arn in zip(providers, targets, strict=True):
            kind = "FARGATE" if spec.fargate else (spec.launch_type or "EC2")
            target = TaskTarget(
                account=ref.account,
                region=ref.region,
                cluster_name=ref.cluster,
                cluster_arn=cluster["clusterArn"],
                launch_type=kind,
                now=now,
                capacity_provider=provider,
                platform_version=resolved_platform("FARGATE", spec.platform_version) if spec.fargate else None,
                bridge_pool=str(default_layout(self.settings.vpc_cidr).bridge_range),
            )
            if spec.fargate:
                subnet = fargate_subnet(template.subnets, template.subnet_zones, zones)
                zone = template.subnet_zones[subnet]
                zones[zone] = zones.get(zone, 0) + 1
                target = replace(target, subnet=subnet, availability_zone=zone)
            else:
                if placer is None:
                    try:
                        placer = self.placer(ref, service, template, definition)
                    except PlacementInputError as error:
                        outcome.problem = texts.LAUNCH_FAILED.format(error=str(error))
                        break
                placed = self.place(template, placer, provider, target, instance_arn)
                if isinstance(placed, str) and instance_arn is None and gate.admits(provider):
                    # §5.6: on a managed-scaling provider the task waits in PROVISIONING for capacity.
                    outcome.docs.append(self._waiting(template, target, service, now))
                    continue
                if isinstance(placed, str):
                    outcome.problem = placed
                    if instance_arn is None:
                        break
                    continue  # a DAEMON task that does not fit one instance does not hold back the others
                target = placed
            outcome.docs.append(build_task(launch_request(template, target)))
        return outcome

    def placer(
        self, ref: ServiceRef, service: Doc, template: LaunchTemplate, definition: Doc
    ) -> placement_store.Placer:
        """The placement of this launch: the service's constraints and strategies (§4.1 default
        spread over zones; DAEMON services place by instance, without strategies)."""
        constraints = parse_constraints(service.get("placementConstraints") or ())
        strategies = parse_strategies(service.get("placementStrategy") or ()) or DEFAULT_SERVICE_STRATEGY
        launch = placement_store.launch_placement(definition, template.group or "", constraints, strategies)
        demand = replace(template_demand(template), gpu=placement_store.definition_gpus(definition))
        view = placement_store.view_for(self.db, ref.account, ref.region, ref.cluster, launch)
        return placement_store.Placer(view, launch, demand)

    def place(
        self,
        template: LaunchTemplate,
        placer: placement_store.Placer,
        provider: str | None,
        target: TaskTarget,
        instance_arn: str | None = None,
    ) -> TaskTarget | str:
        """EC2 placement (§5.2): where the task goes, or the event text saying why it cannot go anywhere."""
        if instance_arn is None and not placer.has_candidates(provider):
            return texts.NO_INSTANCES
        outcome = placer.place(provider) if instance_arn is None else placer.place_on(instance_arn)
        if not isinstance(outcome, Placement):
            if not outcome.arn:
                return texts.NO_INSTANCES
            problem = CLOSEST_PROBLEMS.get(outcome.reason) or texts.CLOSEST_PROBLEMS.get(
                outcome.reason, f'encountered error "{outcome.reason}".'
            )
            return texts.CLOSEST_INSTANCE.format(
                instance=outcome.arn.rsplit("/", 1)[-1],
                problem=problem,
                troubleshooting=texts.TROUBLESHOOTING,
                detail=outcome.detail,
            )
        zone = placer.view.zone(outcome.arn)
        instance = placer.view.docs.get(outcome.arn) or {}
        return replace(
            target,
            subnet=instance_subnet(template.subnets, template.subnet_zones, zone),
            availability_zone=zone,
            container_instance_arn=outcome.arn,
            ec2_instance_id=instance.get("ec2InstanceId"),
            dynamic_ports=outcome.dynamic_ports,
        )

    @staticmethod
    def _waiting(template: LaunchTemplate, target: TaskTarget, service: Doc, now: float) -> Doc:
        strategies = service.get("placementStrategy") or [
            {"type": s.type.value, "field": s.field} for s in DEFAULT_SERVICE_STRATEGY
        ]
        doc = build_task(launch_request(template, target))
        return capacity_wait.hold(doc, now, service.get("placementConstraints"), strategies, template.subnet_zones)

    def _definition(self, ref: ServiceRef, arn: str) -> Doc | None:
        family, _, revision = arn.rsplit("/", 1)[-1].rpartition(":")
        if not revision.isdigit():
            return None
        return td_store.get(self.db, ref.account, ref.region, family, int(revision))

    def _template(
        self, ref: ServiceRef, service: Doc, deployment: Doc, spec: DeploymentSpec, definition: Doc
    ) -> LaunchTemplate:
        vpc = (spec.network_configuration or {}).get("awsvpcConfiguration") or {}
        subnets = tuple(vpc.get("subnets") or ())
        network = placement_store.resolve_network(
            self.db, ref.account, ref.region, subnets, tuple(vpc.get("securityGroups") or ())
        )
        tags = launch_tags(
            TagSources(
                propagate=service.get("propagateTags"),
                definition_tags=tag_store.get(self.db, definition["taskDefinitionArn"]),
                service_tags=tag_store.get(self.db, service["serviceArn"]),
                managed=bool(service.get("enableECSManagedTags")),
                cluster_name=ref.cluster,
                service_name=ref.name,
            )
        )
        return LaunchTemplate(
            definition=definition,
            network_mode=definition.get("networkMode") or ("awsvpc" if spec.fargate else "bridge"),
            subnets=subnets,
            security_groups=network.security_groups,
            assign_public_ip=vpc.get("assignPublicIp") or "DISABLED",
            started_by=deployment["id"],
            group=f"service:{ref.name}",
            enable_execute_command=bool(service.get("enableExecuteCommand")),
            tags=tags,
            subnet_zones=network.subnet_zones,
            vpc_id=network.vpc_id,
            service_name=ref.name,
        )

    @staticmethod
    def _providers(spec: DeploymentSpec, deployment_id: str, live: Sequence[Doc], count: int) -> list[str | None]:
        """The capacity provider of each new task (``None`` with a launch type): the strategy's split
        over the deployment's live tasks plus these (§5.6)."""
        if not spec.capacity_provider_strategy:
            return [None] * count
        strategy: list[StrategyItem] = parse_strategy(spec.capacity_provider_strategy)
        placed: Counter[str] = Counter(
            str(t.get("capacityProviderName"))
            for t in live
            # Tasks already told to stop (scale-in, Spot interruption) no longer hold their provider's share.
            if t.get("startedBy") == deployment_id and t.get("capacityProviderName") and t["desiredStatus"] == "RUNNING"
        )
        out: list[str | None] = []
        for _ in range(count):
            chosen = next_provider(strategy, placed)
            placed[chosen] += 1
            out.append(chosen)
        return out


def _network_error(problem: placement_store.NetworkProblem) -> str:
    if isinstance(problem, placement_store.SubnetNotFound):
        return f"The subnet ID '{problem.subnet}' does not exist"
    if isinstance(problem, placement_store.SecurityGroupNotFound):
        return f"The security group '{problem.group}' does not exist"
    if isinstance(problem, placement_store.SecurityGroupInOtherVpc):
        return f"Security group {problem.group} does not appear to belong to the same VPC as the input subnets."
    return f"The subnets must all belong to the same VPC: {problem}"
