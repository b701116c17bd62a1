"""Service operations (spec/ecs.md §4.1–§4.3): CreateService, UpdateService, DeleteService,
DescribeServices, ListServices, ListServicesByNamespace; the history operations come with
:class:`ServiceDeploymentOps`, which this mixin extends.

The provider checks the request, records the desired state and returns: a new service or a change
that needs one (§4.2) gets a new PRIMARY deployment with its service revision and service
deployment; everything that follows (tasks, rollout, events, DRAINING → INACTIVE) is the service
controller's. Every write happens in one transaction.

DAEMON services are scheduled on container instances by the service controller; EXTERNAL services
run task sets (``providers.ecs.task_sets``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ecslite.model.arns import service_arn
from ecslite.model.blue_green import is_blue_green
from ecslite.model.capacity import StrategyItem
from ecslite.model.services import (
    SERVICE_LINKED_ROLE,
    UNFINISHED_SERVICE_DEPLOYMENT,
    ControllerType,
    DeploymentSpec,
    DeploymentStart,
    DeploymentStatus,
    NewDeployment,
    SchedulingStrategy,
    ServiceDeploymentStatus,
    ServiceStatus,
    apply_spec,
    container_images,
    start_deployment,
)
from ecslite.model.services import SUPERSEDED_REASON as SUPERSEDED
from ecslite.model.task_launch import FARGATE_PLATFORM_VERSIONS
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ecs.capacity_providers import check_strategy, check_weighted, is_fargate, provider_name
from ecslite.providers.ecs.errors import (
    InvalidParameterException,
    PlatformUnknownException,
    ServiceNotActiveException,
    ServiceNotFoundException,
    UnsupportedFeatureException,
)
from ecslite.providers.ecs.service_blue_green import check_service as check_blue_green_service
from ecslite.providers.ecs.service_deployments import ServiceDeploymentOps
from ecslite.providers.ecs.service_load_balancers import check_target_groups
from ecslite.providers.ecs.service_registries import check_service_registries
from ecslite.providers.ecs.service_validation import (
    CODE_DEPLOY_TASK_DEFINITION,
    CODE_DEPLOY_UPDATE,
    DAEMON_DESIRED_COUNT,
    DAEMON_FARGATE,
    MAX_DESCRIBE,
    NOT_IDEMPOTENT,
    SCALED_ABOVE_ZERO,
    TASK_DEFINITION_REQUIRED,
    active_definition,
    check_client_token,
    check_controller,
    check_desired,
    check_grace,
    check_load_balancers,
    check_placement,
    check_scheduling,
    check_service_connect,
    check_service_name,
    check_unsupported,
    deployment_configuration,
)
from ecslite.providers.ecs.service_views import service_view
from ecslite.providers.ecs.tasks import (
    BOTH_LAUNCH_OPTIONS,
    LAUNCH_TYPE_UNSUPPORTED,
    PLATFORM_HINT,
    PLATFORM_MUST_BE_NULL,
    check_network,
    check_vpc,
)
from ecslite.providers.pagination import encode_token
from ecslite.store import services as svc_store
from ecslite.store import tags as tag_store

SERVICES_EMPTY = "Services cannot be empty."
SERVICES_TOO_MANY = f"services can have at most {MAX_DESCRIBE} items."
MANAGED_INSTANCES = "The MANAGED_INSTANCES launch type is not supported by ecslite yet; use EC2 or FARGATE."


@dataclass(frozen=True, slots=True)
class _Launch:
    """How a service's tasks are launched (§5.6: launchType > strategy > cluster default > EC2)."""

    launch_type: str | None
    strategy: tuple[dict[str, Any], ...]
    fargate: bool


class ServiceOps(ServiceDeploymentOps):
    if TYPE_CHECKING:  # provided by TaskDefinitionOps and TaskSetOps in the assembled provider

        def find_task_definition(self, ctx: RequestContext, ref: str, *, active_only: bool) -> dict[str, Any]: ...

        def create_external_service(
            self,
            ctx: RequestContext,
            cluster: dict[str, Any],
            params: Params,
            arn: str,
            desired: int,
            extra: dict[str, Any],
        ) -> dict[str, Any]: ...

        def update_external_service(
            self, ctx: RequestContext, doc: dict[str, Any], params: Params
        ) -> dict[str, Any]: ...

    # -- CreateService ---------------------------------------------------------------------------

    def create_service(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))
        name = params["serviceName"]
        check_service_name(name)
        token = params.get("clientToken")
        check_client_token(token)
        arn = service_arn(ctx.region, ctx.account, cluster["clusterName"], name)
        request_hash = _request_hash(params)
        existing = svc_store.get(self.db, arn)
        if existing is not None and existing["status"] != ServiceStatus.INACTIVE:
            # §1.6: the same token and input return the service the first request created.
            if token and existing.get("_clientToken") == token and existing.get("_requestHash") == request_hash:
                return {"service": service_view(self.db, existing, include_tags=True)}
            raise InvalidParameterException(NOT_IDEMPOTENT)
        check_unsupported(params)
        controller = check_controller(params)
        strategy, desired = check_scheduling(params, controller)
        if controller is ControllerType.EXTERNAL:
            # §4.11: task sets bring the tasks (providers.ecs.task_sets).
            extra = {"_clientToken": token, "_requestHash": request_hash}
            return self.create_external_service(ctx, cluster, params, arn, desired, extra)
        if not params.get("taskDefinition"):
            raise InvalidParameterException(TASK_DEFINITION_REQUIRED.format(controller=controller.value))
        definition = self.find_task_definition(ctx, params["taskDefinition"], active_only=False)
        active_definition(definition)
        launch = self._service_launch(ctx, cluster, params, definition, strategy)
        spec = self._deployment_spec(ctx, params, definition, launch, controller, None)
        config = deployment_configuration(params.get("deploymentConfiguration"), strategy, controller)
        if is_blue_green(config):
            check_blue_green_service(self.db, ctx, spec, definition)
        check_grace(params.get("healthCheckGracePeriodSeconds"))
        constraints, placement = check_placement(
            params.get("placementConstraints") or [], params.get("placementStrategy") or []
        )
        tags = self.check_tags(params.get("tags"))
        now = self.now()
        doc: dict[str, Any] = {
            "serviceArn": arn,
            "serviceName": name,
            "clusterArn": cluster["clusterArn"],
            "status": ServiceStatus.ACTIVE.value,
            "desiredCount": desired,
            "deploymentConfiguration": config,
            "createdAt": now,
            "createdBy": ctx.principal_arn,
            "placementConstraints": constraints,
            "placementStrategy": placement,
            "healthCheckGracePeriodSeconds": int(params.get("healthCheckGracePeriodSeconds") or 0),
            "schedulingStrategy": strategy.value,
            "deploymentController": {"type": controller.value},
            "enableECSManagedTags": bool(params.get("enableECSManagedTags", False)),
            "propagateTags": params.get("propagateTags") or "NONE",
            "enableExecuteCommand": bool(params.get("enableExecuteCommand", False)),
            "availabilityZoneRebalancing": params.get("availabilityZoneRebalancing") or "ENABLED",
            "_clientToken": token,
            "_requestHash": request_hash,
        }
        apply_spec(doc, spec)
        role = self._role_arn(ctx, params.get("role"), spec)
        if role:
            doc["roleArn"] = role
        new = start_deployment(self._start(ctx, cluster, doc, spec, definition, now))
        doc["deployments"] = [new.deployment]
        doc["currentServiceDeployment"] = new.deployment["_serviceDeploymentArn"]
        with self.db.transaction():
            svc_store.insert(self.db, ctx.account, ctx.region, cluster["clusterName"], doc)
            if new.revision is not None:
                svc_store.put_revision(self.db, new.revision)
            if new.service_deployment is not None:
                svc_store.put_service_deployment(self.db, new.service_deployment)
            tag_store.put(self.db, arn, tags)
        return {"service": service_view(self.db, doc, include_tags=True)}

    def _start(
        self,
        ctx: RequestContext,
        cluster: dict[str, Any],
        doc: dict[str, Any],
        spec: DeploymentSpec,
        definition: dict[str, Any],
        now: float,
    ) -> DeploymentStart:
        return DeploymentStart(
            region=ctx.region,
            account=ctx.account,
            cluster=cluster["clusterName"],
            service=doc["serviceName"],
            service_arn=doc["serviceArn"],
            cluster_arn=cluster["clusterArn"],
            spec=spec,
            desired=int(doc["desiredCount"]),
            now=now,
            deployment_configuration=doc["deploymentConfiguration"],
            container_images=container_images(definition),
        )

    # -- UpdateService ---------------------------------------------------------------------------

    def update_service(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))
        doc = self._active_service(ctx, cluster, params["service"])
        check_unsupported(params)
        controller = ControllerType(doc["deploymentController"]["type"])
        if controller is ControllerType.EXTERNAL:
            return self.update_external_service(ctx, doc, params)
        if params.get("deploymentController"):
            controller = check_controller(params)
        strategy = SchedulingStrategy(doc["schedulingStrategy"])
        primary = _primary(doc)
        current = DeploymentSpec.from_doc(primary["_spec"])
        if params.get("desiredCount") is not None:
            if strategy is SchedulingStrategy.DAEMON:
                raise InvalidParameterException(DAEMON_DESIRED_COUNT)
            check_desired(params["desiredCount"])
        definition = self._update_definition(ctx, params, current, controller)
        launch = self._update_launch(ctx, cluster, params, current, definition, strategy)
        spec = self._deployment_spec(ctx, params, definition, launch, controller, current)
        if controller is ControllerType.CODE_DEPLOY:
            _code_deploy_changes(current, spec)
        config = deployment_configuration(
            params.get("deploymentConfiguration"), strategy, controller, doc["deploymentConfiguration"]
        )
        if is_blue_green(config):
            check_blue_green_service(self.db, ctx, spec, definition)
        check_grace(params.get("healthCheckGracePeriodSeconds"))
        constraints, placement = check_placement(
            params["placementConstraints"]
            if params.get("placementConstraints") is not None
            else doc.get("placementConstraints") or [],
            params["placementStrategy"]
            if params.get("placementStrategy") is not None
            else doc.get("placementStrategy") or [],
        )
        updated = dict(doc)
        updated["deploymentConfiguration"] = config
        updated["placementConstraints"] = constraints
        updated["placementStrategy"] = placement
        updated["deploymentController"] = {"type": controller.value}
        for key in ("desiredCount", "healthCheckGracePeriodSeconds", "propagateTags", "availabilityZoneRebalancing"):
            if params.get(key) is not None:
                updated[key] = params[key]
        for key in ("enableECSManagedTags", "enableExecuteCommand"):
            if params.get(key) is not None:
                updated[key] = bool(params[key])
        # §4.2: only a change of what the tasks run (or forceNewDeployment) starts a deployment.
        redeploy = bool(params.get("forceNewDeployment")) or spec.to_doc() != current.to_doc()
        new = self._redeploy(ctx, cluster, updated, spec, definition) if redeploy else None
        with self.db.transaction():
            if new is not None:
                self._supersede(doc)
                if new.revision is not None:
                    svc_store.put_revision(self.db, new.revision)
                if new.service_deployment is not None:
                    svc_store.put_service_deployment(self.db, new.service_deployment)
            svc_store.put(self.db, updated)
        return {"service": service_view(self.db, updated, include_tags=False)}

    def _update_definition(
        self, ctx: RequestContext, params: Params, current: DeploymentSpec, controller: ControllerType
    ) -> dict[str, Any]:
        if not params.get("taskDefinition"):
            # The revision a service runs stays until nothing refers to it (DeleteTaskDefinitions).
            return self.find_task_definition(ctx, current.task_definition, active_only=False)
        definition = self.find_task_definition(ctx, params["taskDefinition"], active_only=False)
        active_definition(definition)
        if controller is ControllerType.CODE_DEPLOY and definition["taskDefinitionArn"] != current.task_definition:
            raise InvalidParameterException(CODE_DEPLOY_TASK_DEFINITION)
        return definition

    def _update_launch(
        self,
        ctx: RequestContext,
        cluster: dict[str, Any],
        params: Params,
        current: DeploymentSpec,
        definition: dict[str, Any],
        strategy: SchedulingStrategy,
    ) -> _Launch:
        if params.get("capacityProviderStrategy"):
            return self._service_launch(ctx, cluster, params, definition, strategy)
        launch = _Launch(
            current.launch_type, tuple(dict(i) for i in current.capacity_provider_strategy), current.fargate
        )
        if definition["taskDefinitionArn"] != current.task_definition:
            _check_compatibility(definition, _launch_kinds(launch))
        return launch

    def _redeploy(
        self,
        ctx: RequestContext,
        cluster: dict[str, Any],
        doc: dict[str, Any],
        spec: DeploymentSpec,
        definition: dict[str, Any],
    ) -> NewDeployment:
        """A new PRIMARY for ``spec`` in ``doc``; the previous ones become ACTIVE and drain (§4.2, §4.4)."""
        now = self.now()
        sources = [d["_revisionArn"] for d in doc.get("deployments") or ()]
        new = start_deployment(self._start(ctx, cluster, doc, spec, definition, now), sources)
        deployments = []
        for deployment in doc.get("deployments") or ():
            old = dict(deployment)
            old["status"] = DeploymentStatus.ACTIVE.value
            old["updatedAt"] = now
            deployments.append(old)
        doc["deployments"] = [new.deployment, *deployments]
        doc["currentServiceDeployment"] = new.deployment["_serviceDeploymentArn"]
        apply_spec(doc, spec)
        # §4.2: a new deployment clears the launch throttle and starts the steady-state story over.
        doc.pop("_throttle", None)
        doc.pop("_steadyAt", None)
        return new

    def _supersede(self, before: dict[str, Any]) -> None:
        """Service deployments still running when a newer one starts are STOPPED (§4.11)."""
        now = self.now()
        for deployment in before.get("deployments") or ():
            arn = deployment.get("_serviceDeploymentArn")
            record = svc_store.get_service_deployment(self.db, arn) if arn else None
            if record is None or record["status"] not in UNFINISHED_SERVICE_DEPLOYMENT:
                continue
            record.update(
                status=ServiceDeploymentStatus.STOPPED.value, statusReason=SUPERSEDED, stoppedAt=now, updatedAt=now
            )
            svc_store.freeze_counts(self.db, before, record, None)
            svc_store.put_service_deployment(self.db, record)

    # -- DeleteService ---------------------------------------------------------------------------

    def delete_service(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))
        doc = self._active_service(ctx, cluster, params["service"])
        replica = doc["schedulingStrategy"] == SchedulingStrategy.REPLICA
        if replica and doc["desiredCount"] > 0 and not params.get("force"):
            raise InvalidParameterException(SCALED_ABOVE_ZERO)
        # §4.2: desired 0 and DRAINING at once (hidden from ListServices); the controller stops the
        # tasks normally and makes the service INACTIVE when none is left.
        doc["desiredCount"] = 0
        doc["status"] = ServiceStatus.DRAINING.value
        with self.db.transaction():
            svc_store.put(self.db, doc)
        return {"service": service_view(self.db, doc, include_tags=False)}

    # -- DescribeServices / ListServices -----------------------------------------------------------

    def describe_services(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))
        refs = params["services"]
        if not refs:
            raise InvalidParameterException(SERVICES_EMPTY)
        if len(refs) > MAX_DESCRIBE:
            raise InvalidParameterException(SERVICES_TOO_MANY)
        include_tags = "TAGS" in (params.get("include") or ())
        found, failures = [], []
        for ref in refs:
            doc = self._find_service(ctx, cluster, ref)
            if doc is None:
                failures.append({"arn": self._service_arn_of(ctx, cluster, ref), "reason": "MISSING"})
            else:
                found.append(service_view(self.db, doc, include_tags=include_tags))
        return {"services": found, "failures": failures}

    def list_services(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))
        after, limit = self.page_args(params, default=10, maximum=100)
        if after is not None and not isinstance(after, int):
            raise InvalidParameterException("Invalid nextToken.")
        managed = params.get("resourceManagementType")
        where = svc_store.ServiceFilter(
            ctx.account,
            ctx.region,
            cluster["clusterName"],
            launch_type=params.get("launchType"),
            scheduling_strategy=params.get("schedulingStrategy"),
            express=None if managed is None else managed == "ECS",
        )
        rows = svc_store.list_page(self.db, where, after, limit + 1)
        result: dict[str, Any] = {"serviceArns": [arn for _, arn in rows[:limit]]}
        if len(rows) > limit:
            result["nextToken"] = encode_token(rows[limit - 1][0])
        return result

    def list_services_by_namespace(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        after, limit = self.page_args(params, default=10, maximum=100)
        if after is not None and not isinstance(after, int):
            raise InvalidParameterException("Invalid nextToken.")
        namespace = params["namespace"]
        names = {namespace, namespace.rsplit("/", 1)[-1]}
        rows = svc_store.namespace_page(self.db, ctx.account, ctx.region, sorted(names), after, limit + 1)
        result: dict[str, Any] = {"serviceArns": [arn for _, arn in rows[:limit]]}
        if len(rows) > limit:
            result["nextToken"] = encode_token(rows[limit - 1][0])
        return result

    # -- references --------------------------------------------------------------------------------

    def _service_arn_of(self, ctx: RequestContext, cluster: dict[str, Any], ref: str) -> str:
        return ref if ref.startswith("arn:") else service_arn(ctx.region, ctx.account, cluster["clusterName"], ref)

    def _active_service(self, ctx: RequestContext, cluster: dict[str, Any], ref: str) -> dict[str, Any]:
        doc = self._find_service(ctx, cluster, ref)
        if doc is None:
            raise ServiceNotFoundException()
        if doc["status"] != ServiceStatus.ACTIVE:
            raise ServiceNotActiveException()
        return doc

    # -- launch and network ----------------------------------------------------------------------

    def _service_launch(
        self,
        ctx: RequestContext,
        cluster: dict[str, Any],
        params: Params,
        definition: dict[str, Any],
        strategy: SchedulingStrategy,
        *,
        check_compatibility: bool = True,
    ) -> _Launch:
        if params.get("launchType") and params.get("capacityProviderStrategy"):
            raise InvalidParameterException(BOTH_LAUNCH_OPTIONS)
        launch_type = params.get("launchType")
        items: list[StrategyItem] = []
        if launch_type == "MANAGED_INSTANCES":
            raise UnsupportedFeatureException(MANAGED_INSTANCES)
        if not launch_type:
            given = params.get("capacityProviderStrategy")
            chosen = given or cluster.get("defaultCapacityProviderStrategy") or []
            if chosen:
                associated = [provider_name(ctx, p) for p in cluster.get("capacityProviders") or []]
                items = check_strategy(ctx, associated, chosen)
                check_weighted(items, cluster_default=not given)
            else:
                launch_type = "EC2"
        launch = _Launch(launch_type, tuple(i.to_api() for i in items), False)
        kinds = _launch_kinds(launch)
        if check_compatibility:
            _check_compatibility(definition, kinds)
        fargate = kinds == {"FARGATE"}
        if fargate and strategy is SchedulingStrategy.DAEMON:
            raise InvalidParameterException(DAEMON_FARGATE)
        return _Launch(launch_type, launch.strategy, fargate)

    def _deployment_spec(
        self,
        ctx: RequestContext,
        params: Params,
        definition: dict[str, Any],
        launch: _Launch,
        controller: ControllerType,
        current: DeploymentSpec | None,
    ) -> DeploymentSpec:
        """What the deployment runs; members the request leaves out keep ``current``'s values."""
        platform = params.get("platformVersion")
        if platform is None and current is not None and launch.fargate:
            platform = current.platform_version
        if platform is not None and not launch.fargate:
            raise InvalidParameterException(PLATFORM_MUST_BE_NULL.format(launch_type=launch.launch_type or "EC2"))
        if platform is not None and platform not in FARGATE_PLATFORM_VERSIONS:
            raise PlatformUnknownException(PlatformUnknownException().message + PLATFORM_HINT)
        given_network = params.get("networkConfiguration")
        if given_network is None and current is not None:
            given_network = current.network_configuration
        network = self._network(ctx, definition, launch, given_network)
        lbs = params.get("loadBalancers")
        registries = params.get("serviceRegistries")
        connect = params.get("serviceConnectConfiguration")
        if current is not None:
            lbs = current.load_balancers if lbs is None else lbs
            registries = current.service_registries if registries is None else registries
        if lbs:
            check_target_groups(self.db, ctx, check_load_balancers(lbs, definition), definition)
        return DeploymentSpec(
            task_definition=definition["taskDefinitionArn"],
            launch_type=launch.launch_type,
            capacity_provider_strategy=launch.strategy,
            platform_version=platform if launch.fargate else None,
            network_configuration=network,
            load_balancers=tuple(
                check_load_balancers(lbs, definition)
                if lbs is not None
                else (current.load_balancers if current else ())
            ),
            service_registries=tuple(
                check_service_registries(self.db, ctx, registries, definition)
                if registries is not None
                else (current.service_registries if current else ())
            ),
            service_connect_configuration=(
                check_service_connect(connect, controller)
                if connect is not None
                else (current.service_connect_configuration if current else None)
            ),
            fargate=launch.fargate,
        )

    def _network(
        self, ctx: RequestContext, definition: dict[str, Any], launch: _Launch, given: Any
    ) -> dict[str, Any] | None:
        """The awsvpc configuration, checked exactly as RunTask checks it (§4.1), with its defaults."""
        mode = definition.get("networkMode") or "bridge"
        kind = "FARGATE" if launch.fargate else launch.launch_type or "EC2"
        subnets, groups, public_ip = check_network(mode, kind, given)
        if not subnets:
            return None
        check_vpc(self.db, ctx, subnets, groups)
        return {
            "awsvpcConfiguration": {
                "subnets": list(subnets),
                "securityGroups": list(groups),
                "assignPublicIp": public_ip,
            }
        }

    @staticmethod
    def _role_arn(ctx: RequestContext, role: str | None, spec: DeploymentSpec) -> str | None:
        if role:
            return role if role.startswith("arn:") else f"arn:aws:iam::{ctx.account}:role/{role.lstrip('/')}"
        if spec.load_balancers:
            return f"arn:aws:iam::{ctx.account}:{SERVICE_LINKED_ROLE}"
        return None


def _launch_kinds(launch: _Launch) -> set[str]:
    if launch.launch_type:
        return {launch.launch_type}
    return {"FARGATE" if is_fargate(str(i["capacityProvider"])) else "EC2" for i in launch.strategy}


def _check_compatibility(definition: dict[str, Any], kinds: set[str]) -> None:
    compatibilities = definition.get("compatibilities") or ["EC2"]
    for kind in sorted(kinds):
        if kind not in compatibilities:
            raise InvalidParameterException(LAUNCH_TYPE_UNSUPPORTED.format(launch_type=kind))


def _primary(doc: dict[str, Any]) -> dict[str, Any]:
    for deployment in doc.get("deployments") or ():
        if deployment["status"] == DeploymentStatus.PRIMARY:
            found: dict[str, Any] = deployment
            return found
    raise ValueError(f"service {doc['serviceArn']} has no PRIMARY deployment")


def _code_deploy_changes(current: DeploymentSpec, spec: DeploymentSpec) -> None:
    """CODE_DEPLOY services change what runs through CodeDeploy only (§4.11)."""
    for member, before, after in (
        ("network configuration", current.network_configuration, spec.network_configuration),
        ("platform version", current.platform_version, spec.platform_version),
        ("load balancers", current.load_balancers, spec.load_balancers),
    ):
        if before != after:
            raise InvalidParameterException(CODE_DEPLOY_UPDATE.format(member=member))


def _request_hash(params: Params) -> str:
    payload = {k: v for k, v in params.items() if k != "clientToken"}
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()
