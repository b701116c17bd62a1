"""Task operations (spec/ecs.md §3, §2.11, §5.2 basic, §13): RunTask, StartTask, StopTask,
DescribeTasks, ListTasks.

The provider validates a launch, decides where each task goes (Fargate: a subnet and its zone;
EC2: a container instance, first fit; on a managed-scaling provider with no room, nowhere yet: the
task waits in PROVISIONING, ``store.capacity_wait``), writes the new tasks in PROVISIONING/PENDING
and returns;
the task controller does everything that follows. StopTask only records the stop request.

Texts ECS sends verbatim are the constants below; those marked unverified are ECS-like wording
kept in one place so they can be corrected.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from ecslite.model.arns import container_instance_arn, task_arn
from ecslite.model.capacity import distribute
from ecslite.model.placement.constraints import parse_constraints
from ecslite.model.placement.strategies import PlacementInputError, parse_strategies
from ecslite.model.task_definitions import is_fargate_size
from ecslite.model.task_launch import (
    FARGATE_PLATFORM_VERSIONS,
    LaunchTemplate,
    TagSources,
    TaskTarget,
    build_task,
    launch_request,
    launch_tags,
    template_demand,
)
from ecslite.model.task_placement import Placement, fargate_subnet, instance_subnet
from ecslite.model.tasks import DEFAULT_USER_STOP_REASON, StopCode
from ecslite.model.vpc import default_layout
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ecs.capacity_providers import check_strategy, check_weighted, is_fargate, provider_name
from ecslite.providers.ecs.common import EcsBase
from ecslite.providers.ecs.errors import (
    ClientException,
    ConflictException,
    InvalidParameterException,
    PlatformUnknownException,
    UnsupportedFeatureException,
)
from ecslite.providers.pagination import encode_token
from ecslite.store import capacity_wait
from ecslite.store import container_instances as ci_store
from ecslite.store import placement as placement_store
from ecslite.store import tags as tag_store
from ecslite.store import tasks as task_store
from ecslite.store.db import Database
from ecslite.store.tasks import RecordedLaunch, StopRequest, TaskFilter

MAX_COUNT = 10
MAX_DESCRIBE = 100
MAX_START_INSTANCES = 10
MAX_SUBNETS = 16
MAX_SECURITY_GROUPS = 5
MAX_OVERRIDES_LENGTH = 8192
MAX_REASON = 255
STARTED_BY = re.compile(r"[a-zA-Z0-9_/-]{1,128}")

BOTH_LAUNCH_OPTIONS = (
    "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again."
)
NETWORK_REQUIRED = "Network Configuration must be provided when networkMode 'awsvpc' is specified."
LAUNCH_TYPE_UNSUPPORTED = "Task definition does not support launch_type {launch_type}."
NO_INSTANCES = "No Container Instances were found in your cluster."
TASK_NOT_FOUND = "The referenced task was not found."
TASK_DEFINITION_INACTIVE = "TaskDefinition is inactive"
PLATFORM_MUST_BE_NULL = "The platform version must be null when specifying an {launch_type} launch type."
PUBLIC_IP_UNSUPPORTED = "Assign public IP is not supported for this launch type."
SUBNETS_TOO_MANY = f"subnets can have at most {MAX_SUBNETS} items."
SECURITY_GROUPS_TOO_MANY = f"securityGroups can have at most {MAX_SECURITY_GROUPS} items."
OVERRIDE_UNKNOWN = "Override for container named {name} is not a container in the TaskDefinition."
OVERRIDE_WITHOUT_NAME = "name cannot be blank."
OVERRIDES_TOO_LONG = f"Container Overrides length must be at most {MAX_OVERRIDES_LENGTH}"
TASKS_EMPTY = "Tasks cannot be empty."
TASKS_TOO_MANY = f"tasks can have at most {MAX_DESCRIBE} items."
LIST_STARTED_BY_ALONE = "cannot specify startedBy with other arguments"
LIST_SERVICE_NAME_ALONE = "cannot specify serviceName with other arguments"
# Unverified wording (spec §1.3, §2.11, §4.1).
NETWORK_NOT_VALID = "Network Configuration is not valid for the given networkMode of this task definition."
COUNT_OUT_OF_RANGE = f"count must be between 1 and {MAX_COUNT}."
SUBNETS_EMPTY = "subnets can not be empty."
# ECS's texts for awsvpcConfiguration ids EC2 does not know (verified from ECS answers seen in the
# wild); the bracket lists every subnet (or group) of the request, the quote the first unknown one.
SUBNET_NOT_FOUND = (
    "Error retrieving subnet information for [{subnets}]: The subnet ID '{subnet}' does not exist "
    "(ErrorCode: InvalidSubnetID.NotFound)"
)
SECURITY_GROUP_NOT_FOUND = (
    "Error retrieving security group information for [{groups}]: The security group '{group}' does not exist "
    "(ErrorCode: InvalidGroup.NotFound)"
)
SECURITY_GROUP_OTHER_VPC = "Security group {group} does not appear to belong to the same VPC as the input subnets."
# Unverified wording; the second sentence is ecslite's (spec §1.3 "Beyond ECS").
SUBNETS_OTHER_VPCS = "The subnets must all belong to the same VPC. {detail}."
STARTED_BY_INVALID = (
    "startedBy can have up to 128 letters (uppercase and lowercase), numbers, hyphens (-), forward slashes (/) "
    "and underscores (_); got '{value}'."
)
INSTANCES_EMPTY = "containerInstances can not be empty."
INSTANCES_TOO_MANY = f"containerInstances can have at most {MAX_START_INSTANCES} items."
TOKEN_CONFLICT = (
    "The specified clientToken is already in use with a different RunTask request. Run RunTask with a unique "
    "clientToken, or with this clientToken and the original parameters. Tasks of the original request: {arns}."
)
FARGATE_SIZE_OVERRIDE = (
    "Invalid 'cpu' or 'memory' override for a task using the Fargate launch type: cpu {cpu} with memory {memory} "
    "is not a Fargate task size."
)
PLATFORM_HINT = " Use LATEST, 1.4.0 or 1.3.0."


class TaskOps(EcsBase):
    if TYPE_CHECKING:  # provided by TaskDefinitionOps in the assembled provider

        def find_task_definition(self, ctx: RequestContext, ref: str, *, active_only: bool) -> dict[str, Any]: ...

    # -- RunTask / StartTask -------------------------------------------------------------------

    def run_task(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))
        name = cluster["clusterName"]
        token = params.get("clientToken")
        request_hash = _request_hash(params)
        if token:
            replay = self._run_task_replay(ctx, name, token, request_hash)
            if replay is not None:
                return replay
        count = params.get("count", 1)
        if not 1 <= count <= MAX_COUNT:
            raise InvalidParameterException(COUNT_OUT_OF_RANGE)
        if params.get("launchType") and params.get("capacityProviderStrategy"):
            raise InvalidParameterException(BOTH_LAUNCH_OPTIONS)
        definition = self._launchable_definition(ctx, params["taskDefinition"])
        plan = self._task_launch_plan(ctx, cluster, params, count)
        for launch_type in {lt for lt, _ in plan}:
            self._check_launch_type(definition, launch_type)
        launch = self._launch_common(ctx, cluster, definition, params, plan[0][0])
        platform = self._fargate_platform(plan[0][0], params.get("platformVersion"))
        placement = _launch_placement(definition, launch.group or "", params)
        docs, failures = self._place_new_tasks(ctx, cluster, launch, plan, platform, placement, params)
        self._store_new_tasks(ctx, cluster, docs, launch.tags)
        if token:
            with self.db.transaction():
                task_store.record_launch(
                    self.db,
                    ctx.account,
                    ctx.region,
                    _token_scope(name),
                    token,
                    self.now(),
                    RecordedLaunch(request_hash, [d["taskArn"] for d in docs], failures),
                )
        return {"tasks": [self._task_view(d, tags=True) for d in docs], "failures": failures}

    def start_task(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))
        refs = params["containerInstances"]
        if not refs:
            raise InvalidParameterException(INSTANCES_EMPTY)
        if len(refs) > MAX_START_INSTANCES:
            raise InvalidParameterException(INSTANCES_TOO_MANY)
        definition = self._launchable_definition(ctx, params["taskDefinition"])
        self._check_launch_type(definition, "EC2")
        launch = self._launch_common(ctx, cluster, definition, params, "EC2")
        docs: list[dict[str, Any]] = []
        failures: list[dict[str, str]] = []
        for ref in refs:
            instance = self._task_instance(ctx, cluster["clusterName"], ref)
            if instance is None or instance["status"] not in ("ACTIVE", "DRAINING"):
                failures.append({"arn": self._task_instance_arn(ctx, cluster["clusterName"], ref), "reason": "MISSING"})
                continue
            # StartTask places exactly where it is told: no resource checks (§1.1).
            subnet = launch.subnets[0] if launch.subnets else None
            docs.append(self._new_task_doc(ctx, cluster, launch, "EC2", None, subnet, instance, {}))
        self._store_new_tasks(ctx, cluster, docs, launch.tags)
        return {"tasks": [self._task_view(d, tags=True) for d in docs], "failures": failures}

    def _run_task_replay(
        self, ctx: RequestContext, cluster: str, token: str, request_hash: str
    ) -> dict[str, Any] | None:
        """§1.6: the same token and input return the first result; other input is a conflict."""
        recorded = task_store.recorded_launch(
            self.db, ctx.account, ctx.region, _token_scope(cluster), token, self.now()
        )
        if recorded is None:
            return None
        if recorded.request_hash != request_hash:
            raise ConflictException(TOKEN_CONFLICT.format(arns=", ".join(recorded.task_arns) or "none"))
        docs = task_store.get_many(self.db, recorded.task_arns)
        tasks = [self._task_view(docs[arn], tags=True) for arn in recorded.task_arns if arn in docs]
        return {"tasks": tasks, "failures": recorded.failures}

    def _launchable_definition(self, ctx: RequestContext, ref: str) -> dict[str, Any]:
        definition = self.find_task_definition(ctx, ref, active_only=False)
        if definition["status"] != "ACTIVE":
            raise ClientException(TASK_DEFINITION_INACTIVE)
        return definition

    def _task_launch_plan(
        self, ctx: RequestContext, cluster: dict[str, Any], params: Params, count: int
    ) -> list[tuple[str, str | None]]:
        """(launch type, capacity provider) per task (§5.6: launchType > strategy > cluster default > EC2)."""
        launch_type = params.get("launchType")
        if launch_type:
            if launch_type == "MANAGED_INSTANCES":
                raise UnsupportedFeatureException(
                    "The MANAGED_INSTANCES launch type is not supported by ecslite yet; use EC2 or FARGATE."
                )
            return [(launch_type, None)] * count
        given = params.get("capacityProviderStrategy")
        strategy = given or cluster.get("defaultCapacityProviderStrategy") or []
        if not strategy:
            return [("EC2", None)] * count
        associated = [provider_name(ctx, p) for p in cluster.get("capacityProviders") or []]
        items = check_strategy(ctx, associated, strategy)
        check_weighted(items, cluster_default=not given)
        plan: list[tuple[str, str | None]] = []
        for provider, n in distribute(count, items).items():
            plan += [("FARGATE" if is_fargate(provider) else "EC2", provider)] * n
        return plan

    @staticmethod
    def _check_launch_type(definition: dict[str, Any], launch_type: str) -> None:
        compatibilities = definition.get("compatibilities") or ["EC2"]
        if launch_type not in compatibilities:
            raise InvalidParameterException(LAUNCH_TYPE_UNSUPPORTED.format(launch_type=launch_type))

    @staticmethod
    def _fargate_platform(launch_type: str, requested: str | None) -> str | None:
        if launch_type != "FARGATE":
            if requested:
                raise InvalidParameterException(PLATFORM_MUST_BE_NULL.format(launch_type=launch_type))
            return None
        if requested and requested not in FARGATE_PLATFORM_VERSIONS:
            raise PlatformUnknownException(PlatformUnknownException().message + PLATFORM_HINT)
        return FARGATE_PLATFORM_VERSIONS[requested or "LATEST"]

    def _launch_common(
        self, ctx: RequestContext, cluster: dict[str, Any], definition: dict[str, Any], params: Params, launch_type: str
    ) -> LaunchTemplate:
        network_mode = definition.get("networkMode") or "bridge"
        subnets, groups, public_ip = check_network(network_mode, launch_type, params.get("networkConfiguration"))
        network = check_vpc(self.db, ctx, subnets, groups)
        overrides = self._launch_overrides(definition, params.get("overrides"), launch_type)
        started_by = params.get("startedBy")
        if started_by is not None and not STARTED_BY.fullmatch(started_by):
            raise InvalidParameterException(STARTED_BY_INVALID.format(value=started_by))
        return LaunchTemplate(
            definition=definition,
            network_mode=network_mode,
            subnets=subnets,
            security_groups=network.security_groups,
            assign_public_ip=public_ip,
            overrides=overrides,
            started_by=started_by,
            group=params.get("group") or f"family:{definition['family']}",
            enable_execute_command=bool(params.get("enableExecuteCommand", False)),
            tags=self._launch_tags(cluster, definition, params),
            subnet_zones=network.subnet_zones,
            vpc_id=network.vpc_id,
        )

    @staticmethod
    def _launch_overrides(
        definition: dict[str, Any], overrides: dict[str, Any] | None, launch_type: str
    ) -> dict[str, Any]:
        """§2.11: names must exist, at most 8192 characters, task size still valid on Fargate."""
        overrides = dict(overrides or {})
        items = overrides.get("containerOverrides") or []
        names = {c["name"] for c in definition.get("containerDefinitions") or ()}
        for item in items:
            if not item:
                continue  # ECS accepts an empty override
            if not item.get("name"):
                raise InvalidParameterException(OVERRIDE_WITHOUT_NAME)
            if item["name"] not in names:
                raise InvalidParameterException(OVERRIDE_UNKNOWN.format(name=item["name"]))
        if len(orjson.dumps(items)) > MAX_OVERRIDES_LENGTH:
            raise InvalidParameterException(OVERRIDES_TOO_LONG)
        overrides["containerOverrides"] = [item for item in items if item]
        if launch_type == "FARGATE" and (overrides.get("cpu") or overrides.get("memory")):
            cpu = str(overrides.get("cpu") or definition.get("cpu") or "")
            memory = str(overrides.get("memory") or definition.get("memory") or "")
            if not (cpu.isdigit() and memory.isdigit() and is_fargate_size(int(cpu), int(memory))):
                raise ClientException(FARGATE_SIZE_OVERRIDE.format(cpu=cpu or "none", memory=memory or "none"))
        return overrides

    def _launch_tags(
        self, cluster: dict[str, Any], definition: dict[str, Any], params: Params
    ) -> tuple[tuple[str, str], ...]:
        """The request's tags, plus the definition's (``propagateTags``) and ECS-managed ones (§1.6)."""
        return launch_tags(
            TagSources(
                given=self.check_tags(params.get("tags")),
                propagate=params.get("propagateTags"),
                definition_tags=tag_store.get(self.db, definition["taskDefinitionArn"]),
                managed=bool(params.get("enableECSManagedTags")),
                cluster_name=cluster["clusterName"],
            )
        )

    # -- placement -------------------------------------------------------------------------------

    def _place_new_tasks(
        self,
        ctx: RequestContext,
        cluster: dict[str, Any],
        launch: LaunchTemplate,
        plan: list[tuple[str, str | None]],
        platform: str | None,
        placement: placement_store.LaunchPlacement,
        params: Params,
    ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        docs: list[dict[str, Any]] = []
        failures: list[dict[str, str]] = []
        name = cluster["clusterName"]
        gate = capacity_wait.Gate(self.db, ctx.account, ctx.region, name)
        zones = task_store.count_by_zone(self.db, ctx.account, ctx.region, name, launch.group or "")
        placer: placement_store.Placer | None = None
        demand = replace(template_demand(launch), gpu=placement_store.definition_gpus(launch.definition))
        for launch_type, provider in plan:
            if launch_type == "FARGATE":
                chosen = fargate_subnet(launch.subnets, launch.subnet_zones, zones)
                zone = launch.subnet_zones[chosen]
                zones[zone] = zones.get(zone, 0) + 1
                docs.append(self._new_task_doc(ctx, cluster, launch, launch_type, provider, chosen, None, {}, platform))
                continue
            if placer is None:
                view = placement_store.view_for(self.db, ctx.account, ctx.region, name, placement)
                placer = placement_store.Placer(view, placement, demand)
            if not placer.has_candidates(provider) and gate.admits(provider):
                docs.append(self._waiting_task_doc(ctx, cluster, launch, launch_type, provider, params))
                continue
            self._check_candidates(ctx, name, placer, provider)
            outcome = placer.place(provider)
            if not isinstance(outcome, Placement) and gate.admits(provider):
                docs.append(self._waiting_task_doc(ctx, cluster, launch, launch_type, provider, params))
                continue
            if not isinstance(outcome, Placement):
                failures.append({"arn": outcome.arn, "reason": outcome.reason, "detail": outcome.detail})
                continue
            instance = placer.view.docs.get(outcome.arn)
            subnet = instance_subnet(launch.subnets, launch.subnet_zones, placer.view.zone(outcome.arn))
            docs.append(
                self._new_task_doc(ctx, cluster, launch, launch_type, provider, subnet, instance, outcome.dynamic_ports)
            )
        return docs, failures

    def _waiting_task_doc(
        self,
        ctx: RequestContext,
        cluster: dict[str, Any],
        launch: LaunchTemplate,
        launch_type: str,
        provider: str | None,
        params: Params,
    ) -> dict[str, Any]:
        """§5.6: a task no instance of a managed-scaling provider can take yet waits in PROVISIONING."""
        doc = self._new_task_doc(ctx, cluster, launch, launch_type, provider, None, None, {})
        return capacity_wait.hold(
            doc,
            self.now(),
            params.get("placementConstraints"),
            params.get("placementStrategy"),
            launch.subnet_zones,
        )

    def _check_candidates(
        self, ctx: RequestContext, cluster: str, placer: placement_store.Placer, provider: str | None
    ) -> None:
        if not placer.has_candidates(provider):
            message = NO_INSTANCES
            draining = placement_store.draining_count(self.db, ctx.account, ctx.region, cluster)
            if draining and provider is None:
                message += f" {draining} registered instance(s) are DRAINING and take no new tasks."
            raise InvalidParameterException(message)

    def _new_task_doc(
        self,
        ctx: RequestContext,
        cluster: dict[str, Any],
        launch: LaunchTemplate,
        launch_type: str,
        provider: str | None,
        subnet: str | None,
        instance: dict[str, Any] | None,
        dynamic_ports: dict[str, int],
        platform: str | None = None,
    ) -> dict[str, Any]:
        zone = launch.subnet_zones.get(subnet) if subnet else None
        if instance is not None:
            zone = placement_store.instance_zone(self.db, instance) or zone
        target = TaskTarget(
            account=ctx.account,
            region=ctx.region,
            cluster_name=cluster["clusterName"],
            cluster_arn=cluster["clusterArn"],
            launch_type=launch_type,
            now=self.now(),
            capacity_provider=provider,
            subnet=subnet,
            availability_zone=zone,
            container_instance_arn=instance["containerInstanceArn"] if instance else None,
            ec2_instance_id=instance.get("ec2InstanceId") if instance else None,
            dynamic_ports=dynamic_ports,
            platform_version=platform,
            bridge_pool=str(default_layout(self.settings.vpc_cidr).bridge_range),
        )
        return build_task(launch_request(launch, target))

    def _store_new_tasks(
        self,
        ctx: RequestContext,
        cluster: dict[str, Any],
        docs: list[dict[str, Any]],
        tags: tuple[tuple[str, str], ...],
    ) -> None:
        task_store.insert_launched(self.db, ctx.account, ctx.region, cluster["clusterName"], docs, tags)

    # -- StopTask ------------------------------------------------------------------------------

    def stop_task(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))
        doc = self._find_task_doc(ctx, cluster["clusterName"], params["task"])
        if doc is None:
            raise InvalidParameterException(TASK_NOT_FOUND)
        reason = (params.get("reason") or DEFAULT_USER_STOP_REASON)[:MAX_REASON]
        stopped = task_store.request_stop(
            self.db, doc["taskArn"], StopRequest(StopCode.USER_INITIATED, reason, self.now())
        )
        return {"task": self._task_view(stopped or doc, tags=False)}

    # -- DescribeTasks / ListTasks -----------------------------------------------------------------

    def describe_tasks(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))
        refs = params["tasks"]
        if not refs:
            raise InvalidParameterException(TASKS_EMPTY)
        if len(refs) > MAX_DESCRIBE:
            raise InvalidParameterException(TASKS_TOO_MANY)
        include_tags = "TAGS" in (params.get("include") or ())
        tasks, failures = [], []
        for ref in refs:
            doc = self._find_task_doc(ctx, cluster["clusterName"], ref)
            if doc is None:
                arn = ref if ref.startswith("arn:") else task_arn(ctx.region, ctx.account, cluster["clusterName"], ref)
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                tasks.append(self._task_view(doc, tags=include_tags))
        return {"tasks": tasks, "failures": failures}

    def list_tasks(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))
        name = cluster["clusterName"]
        others = [k for k in ("family", "serviceName", "containerInstance", "launchType") if params.get(k)]
        if params.get("startedBy") and others:
            raise InvalidParameterException(LIST_STARTED_BY_ALONE)
        if params.get("serviceName") and {"family", "containerInstance"} & set(others):
            raise InvalidParameterException(LIST_SERVICE_NAME_ALONE)
        after, limit = self.page_args(params)
        if after is not None and not isinstance(after, int):
            raise InvalidParameterException("Invalid nextToken.")
        instance = params.get("containerInstance")
        where = TaskFilter(
            account=ctx.account,
            region=ctx.region,
            cluster=name,
            desired_status=params.get("desiredStatus") or "RUNNING",
            family=params.get("family"),
            started_by=params.get("startedBy"),
            service_name=params.get("serviceName"),
            launch_type=params.get("launchType"),
            container_instance=self._task_instance_arn(ctx, name, instance) if instance else None,
        )
        rows = task_store.list_page(self.db, where, after, limit + 1)
        result: dict[str, Any] = {"taskArns": [arn for _, arn in rows[:limit]]}
        if len(rows) > limit:
            result["nextToken"] = encode_token(rows[limit - 1][0])
        return result

    # -- references and views ----------------------------------------------------------------------

    def _find_task_doc(self, ctx: RequestContext, cluster: str, ref: str) -> dict[str, Any] | None:
        """A task of ``cluster`` by id or ARN (§1.5); an ARN of another cluster or partition is not found."""
        task_id = self.ref_id(ctx, ref, "task", cluster=cluster, lengths=(2,))
        if task_id is None:
            return None
        return task_store.get_by_id(self.db, ctx.account, ctx.region, cluster, task_id)

    def _task_instance(self, ctx: RequestContext, cluster: str, ref: str) -> dict[str, Any] | None:
        instance_id = self.ref_id(ctx, ref, "container-instance", cluster=cluster, lengths=(1, 2))
        return ci_store.get(self.db, ctx.account, ctx.region, cluster, instance_id) if instance_id else None

    @staticmethod
    def _task_instance_arn(ctx: RequestContext, cluster: str, ref: str) -> str:
        if ref.startswith("arn:"):
            return ref
        return container_instance_arn(ctx.region, ctx.account, cluster, ref)

    def _task_view(self, doc: dict[str, Any], *, tags: bool) -> dict[str, Any]:
        view = task_store.public_view(doc)
        view["tags"] = self.tags_of(doc["taskArn"]) if tags else []
        return view


def _launch_placement(definition: dict[str, Any], group: str, params: Params) -> placement_store.LaunchPlacement:
    """RunTask's constraints and strategies (§5.3, §5.4) with the definition's; no strategy is first fit."""
    try:
        constraints = parse_constraints(params.get("placementConstraints"))
        strategies = parse_strategies(params.get("placementStrategy"))
        return placement_store.launch_placement(definition, group, constraints, strategies)
    except PlacementInputError as error:
        raise InvalidParameterException(str(error)) from None


def _request_hash(params: Params) -> str:
    payload = {k: v for k, v in params.items() if k != "clientToken"}
    payload.setdefault("count", 1)  # an omitted count and count=1 are the same request
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _token_scope(cluster: str) -> str:
    """Tokens are idempotent per cluster (ECS idempotency guide)."""
    return f"RunTask/{cluster}"


# -- network checks shared by RunTask, StartTask, CreateService and UpdateService ----------------


def check_network(
    network_mode: str, launch_type: str, config: dict[str, Any] | None
) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """``(subnets, security groups, assignPublicIp)`` of a launch: required for awsvpc, refused otherwise."""
    vpc = (config or {}).get("awsvpcConfiguration")
    if network_mode != "awsvpc":
        if vpc:
            raise InvalidParameterException(NETWORK_NOT_VALID)
        return (), (), "DISABLED"
    if not vpc:
        raise InvalidParameterException(NETWORK_REQUIRED)
    subnets = tuple(vpc.get("subnets") or ())
    groups = tuple(vpc.get("securityGroups") or ())
    if not subnets:
        raise InvalidParameterException(SUBNETS_EMPTY)
    if len(subnets) > MAX_SUBNETS:
        raise InvalidParameterException(SUBNETS_TOO_MANY)
    if len(groups) > MAX_SECURITY_GROUPS:
        raise InvalidParameterException(SECURITY_GROUPS_TOO_MANY)
    public_ip = vpc.get("assignPublicIp") or "DISABLED"
    if public_ip == "ENABLED" and launch_type != "FARGATE":
        raise InvalidParameterException(PUBLIC_IP_UNSUPPORTED)
    return tuple(dict.fromkeys(subnets)), groups, public_ip


def check_vpc(
    db: Database, ctx: RequestContext, subnets: tuple[str, ...], groups: tuple[str, ...]
) -> placement_store.ResolvedNetwork:
    """The subnets' zones, their VPC and the security groups, checked against the virtual VPC, in
    ECS's words when something does not fit."""
    try:
        return placement_store.resolve_network(db, ctx.account, ctx.region, subnets, groups)
    except placement_store.SubnetNotFound as problem:
        raise InvalidParameterException(
            SUBNET_NOT_FOUND.format(subnets=", ".join(problem.subnets), subnet=problem.subnet)
        ) from None
    except placement_store.SubnetsInManyVpcs as problem:
        detail = ", ".join(f"{s} is in {v}" for s, v in problem.vpc_of.items())
        raise InvalidParameterException(SUBNETS_OTHER_VPCS.format(detail=detail)) from None
    except placement_store.SecurityGroupNotFound as problem:
        raise InvalidParameterException(
            SECURITY_GROUP_NOT_FOUND.format(groups=", ".join(problem.groups), group=problem.group)
        ) from None
    except placement_store.SecurityGroupInOtherVpc as problem:
        raise InvalidParameterException(SECURITY_GROUP_OTHER_VPC.format(group=problem.group)) from None
