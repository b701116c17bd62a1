"""Task sets of services with the EXTERNAL deployment controller (spec/ecs.md §4.11):
CreateTaskSet, DescribeTaskSets, UpdateTaskSet, UpdateServicePrimaryTaskSet, DeleteTaskSet, and the
EXTERNAL branches of CreateService and UpdateService.

An EXTERNAL service has no ``deployments``: what runs is decided by its task sets, kept in the
service document (``taskSets``, newest first, at most five). Each task set carries its own task
definition, launch type or capacity provider strategy, network and load balancers, and a
``scale`` (a percentage of the service's ``desiredCount``); ``computedDesiredCount`` is
``ceil(desiredCount × scale / 100)``. A new task set is ACTIVE; UpdateServicePrimaryTaskSet makes
one PRIMARY (the service then shows its configuration); DeleteTaskSet makes it DRAINING, its tasks
stop and it disappears once none is left. The service controller keeps each set at its count and
writes ``runningCount``, ``pendingCount`` and ``stabilityStatus`` (``control.task_sets``); the
provider writes what the user asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ecslite.model.deployments import new_deployment_id
from ecslite.model.services import ControllerType, DeploymentSpec, SchedulingStrategy, ServiceStatus, apply_spec
from ecslite.model.task_sets import DEFAULT_SCALE, MAX_TASK_SETS, computed_desired, task_set_arn
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ecs.common import EcsBase
from ecslite.providers.ecs.errors import (
    InvalidParameterException,
    ServiceNotActiveException,
    ServiceNotFoundException,
    TaskSetNotFoundException,
)
from ecslite.providers.ecs.service_validation import (
    active_definition,
    check_grace,
    check_placement,
    deployment_configuration,
)
from ecslite.providers.ecs.service_views import service_view
from ecslite.store import services as svc_store
from ecslite.store import tags as tag_store

# ECS's text for a sixth task set (seen in ECS answers).
TOO_MANY_TASK_SETS = (
    "{count} deployments exist on the service. Unable to create new TaskSet since this exceeds the maximum limit."
)
# ECS-like texts (unverified), one place to correct them.
NOT_EXTERNAL = "The service must use the EXTERNAL deployment controller to use task sets."
SCALE_UNIT = "The scale unit must be PERCENT."
SCALE_RANGE = "The scale value must be between 0 and 100; got {value}."
NOT_SCALED_DOWN = (
    "The task set cannot be deleted while it is scaled above 0. Update its scale to 0 first, or delete it with force."
)
EXTERNAL_UPDATE = (
    "Unable to update {member} on services with an EXTERNAL deployment controller. Create a new task set instead."
)


class TaskSetOps(EcsBase):
    if TYPE_CHECKING:  # provided by the other mixins of the assembled provider

        def find_task_definition(self, ctx: RequestContext, ref: str, *, active_only: bool) -> dict[str, Any]: ...

        def _find_service(self, ctx: RequestContext, cluster: dict[str, Any], ref: str) -> dict[str, Any] | None: ...

        def _service_launch(
            self,
            ctx: RequestContext,
            cluster: dict[str, Any],
            params: Params,
            definition: dict[str, Any],
            strategy: SchedulingStrategy,
            *,
            check_compatibility: bool = True,
        ) -> Any: ...

        def _deployment_spec(
            self,
            ctx: RequestContext,
            params: Params,
            definition: dict[str, Any],
            launch: Any,
            controller: ControllerType,
            current: DeploymentSpec | None,
        ) -> DeploymentSpec: ...

    # -- CreateService / UpdateService for EXTERNAL ----------------------------------------------

    def create_external_service(
        self,
        ctx: RequestContext,
        cluster: dict[str, Any],
        params: Params,
        arn: str,
        desired: int,
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        """An EXTERNAL service: its settings, no deployment; task sets bring the tasks."""
        config = deployment_configuration(
            params.get("deploymentConfiguration"), SchedulingStrategy.REPLICA, ControllerType.EXTERNAL
        )
        check_grace(params.get("healthCheckGracePeriodSeconds"))
        constraints, placement = check_placement(
            params.get("placementConstraints") or [], params.get("placementStrategy") or []
        )
        tags = self.check_tags(params.get("tags"))
        doc: dict[str, Any] = {
            "serviceArn": arn,
            "serviceName": params["serviceName"],
            "clusterArn": cluster["clusterArn"],
            "status": ServiceStatus.ACTIVE.value,
            "desiredCount": desired,
            "deploymentConfiguration": config,
            "createdAt": self.now(),
            "createdBy": ctx.principal_arn,
            "placementConstraints": constraints,
            "placementStrategy": placement,
            "healthCheckGracePeriodSeconds": int(params.get("healthCheckGracePeriodSeconds") or 0),
            "schedulingStrategy": SchedulingStrategy.REPLICA.value,
            "deploymentController": {"type": ControllerType.EXTERNAL.value},
            "enableECSManagedTags": bool(params.get("enableECSManagedTags", False)),
            "propagateTags": params.get("propagateTags") or "NONE",
            "enableExecuteCommand": bool(params.get("enableExecuteCommand", False)),
            "deployments": [],
            "taskSets": [],
            "loadBalancers": [],
            "serviceRegistries": [],
            **extra,
        }
        with self.db.transaction():
            svc_store.insert(self.db, ctx.account, ctx.region, cluster["clusterName"], doc)
            tag_store.put(self.db, arn, tags)
        return {"service": service_view(self.db, doc, include_tags=True)}

    def update_external_service(self, ctx: RequestContext, doc: dict[str, Any], params: Params) -> dict[str, Any]:
        """UpdateService of an EXTERNAL service changes its count, grace period and bounds only."""
        for member, label in (
            ("taskDefinition", "the task definition"),
            ("launchType", "the launch type"),
            ("capacityProviderStrategy", "the capacity provider strategy"),
            ("networkConfiguration", "the network configuration"),
            ("platformVersion", "the platform version"),
            ("loadBalancers", "load balancers"),
            ("serviceRegistries", "service registries"),
        ):
            if params.get(member):
                raise InvalidParameterException(EXTERNAL_UPDATE.format(member=label))
        updated = dict(doc)
        if params.get("desiredCount") is not None:
            if params["desiredCount"] < 0:
                raise InvalidParameterException(f"The desired count must be at least 0; got {params['desiredCount']}.")
            updated["desiredCount"] = params["desiredCount"]
        check_grace(params.get("healthCheckGracePeriodSeconds"))
        if params.get("healthCheckGracePeriodSeconds") is not None:
            updated["healthCheckGracePeriodSeconds"] = params["healthCheckGracePeriodSeconds"]
        updated["deploymentConfiguration"] = deployment_configuration(
            params.get("deploymentConfiguration"),
            SchedulingStrategy.REPLICA,
            ControllerType.EXTERNAL,
            doc["deploymentConfiguration"],
        )
        updated["taskSets"] = [self._recount(updated, ts) for ts in doc.get("taskSets") or ()]
        with self.db.transaction():
            svc_store.put(self.db, updated)
        return {"service": service_view(self.db, updated, include_tags=False)}

    # -- task set operations ---------------------------------------------------------------------

    def create_task_set(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster, service = self._external_service(ctx, params)
        sets = service.get("taskSets") or []
        if len(sets) >= MAX_TASK_SETS:
            raise InvalidParameterException(TOO_MANY_TASK_SETS.format(count=len(sets)))
        scale = _scale(params.get("scale"))
        definition = self.find_task_definition(ctx, params["taskDefinition"], active_only=False)
        active_definition(definition)
        launch = self._service_launch(ctx, cluster, params, definition, SchedulingStrategy.REPLICA)
        spec = self._deployment_spec(ctx, params, definition, launch, ControllerType.EXTERNAL, None)
        tags = self.check_tags(params.get("tags"))
        now = self.now()
        task_set_id = new_deployment_id()
        cluster_name = cluster["clusterName"]
        doc: dict[str, Any] = {
            "id": task_set_id,
            "taskSetArn": task_set_arn(ctx.region, ctx.account, cluster_name, service["serviceName"], task_set_id),
            "serviceArn": service["serviceArn"],
            "clusterArn": cluster["clusterArn"],
            "status": "ACTIVE",
            "taskDefinition": spec.task_definition,
            "createdAt": now,
            "updatedAt": now,
            "scale": scale,
            "runningCount": 0,
            "pendingCount": 0,
            "stabilityStatus": "STABILIZING",
            "stabilityStatusAt": now,
            "loadBalancers": [dict(lb) for lb in spec.load_balancers],
            "serviceRegistries": [dict(r) for r in spec.service_registries],
            "_spec": spec.to_doc(),
        }
        if params.get("externalId"):
            doc["externalId"] = params["externalId"]
        if spec.capacity_provider_strategy:
            doc["capacityProviderStrategy"] = [dict(i) for i in spec.capacity_provider_strategy]
        elif spec.launch_type:
            doc["launchType"] = spec.launch_type
        if spec.fargate:
            doc["platformVersion"] = spec.platform_version or "LATEST"
            doc["platformFamily"] = "Linux"
        if spec.network_configuration:
            doc["networkConfiguration"] = dict(spec.network_configuration)
        doc = self._recount(service, doc)
        service["taskSets"] = [doc, *sets]
        with self.db.transaction():
            svc_store.put(self.db, service)
            tag_store.put(self.db, doc["taskSetArn"], tags)
        return {"taskSet": self._task_set_view(doc, tags=True)}

    def describe_task_sets(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params["cluster"])
        service = self._find_service(ctx, cluster, params["service"])
        if service is None:
            raise ServiceNotFoundException()
        if service["deploymentController"]["type"] != ControllerType.EXTERNAL:
            raise InvalidParameterException(NOT_EXTERNAL)
        with_tags = "TAGS" in (params.get("include") or ())
        sets = service.get("taskSets") or []
        refs = params.get("taskSets")
        if not refs:
            return {"taskSets": [self._task_set_view(ts, tags=with_tags) for ts in sets], "failures": []}
        found, failures = [], []
        for ref in refs:
            match = _match(sets, ref)
            if match is None:
                failures.append({"arn": ref, "reason": "MISSING"})
            else:
                found.append(self._task_set_view(match, tags=with_tags))
        return {"taskSets": found, "failures": failures}

    def update_task_set(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        _, service = self._external_service(ctx, params)
        task_set = self._task_set(service, params["taskSet"])
        task_set["scale"] = _scale(params["scale"])
        task_set["updatedAt"] = self.now()
        self._recount(service, task_set)
        with self.db.transaction():
            svc_store.put(self.db, service)
        return {"taskSet": self._task_set_view(task_set, tags=False)}

    def update_service_primary_task_set(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        _, service = self._external_service(ctx, params)
        chosen = self._task_set(service, params["primaryTaskSet"])
        if chosen["status"] == "DRAINING":
            raise InvalidParameterException("A DRAINING task set cannot become the primary task set.")
        now = self.now()
        for task_set in service.get("taskSets") or ():
            if task_set is chosen:
                task_set["status"] = "PRIMARY"
            elif task_set["status"] == "PRIMARY":
                task_set["status"] = "ACTIVE"
            else:
                continue
            task_set["updatedAt"] = now
        # The service shows its primary task set's configuration (deployment-type-external).
        apply_spec(service, DeploymentSpec.from_doc(chosen["_spec"]))
        with self.db.transaction():
            svc_store.put(self.db, service)
        return {"taskSet": self._task_set_view(chosen, tags=False)}

    def delete_task_set(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        _, service = self._external_service(ctx, params)
        task_set = self._task_set(service, params["taskSet"])
        if float(task_set["scale"].get("value", 0.0)) > 0 and not params.get("force"):
            raise InvalidParameterException(NOT_SCALED_DOWN)
        task_set["status"] = "DRAINING"
        task_set["updatedAt"] = self.now()
        self._recount(service, task_set)
        with self.db.transaction():
            svc_store.put(self.db, service)
        return {"taskSet": self._task_set_view(task_set, tags=False)}

    # -- helpers ---------------------------------------------------------------------------------

    def _external_service(self, ctx: RequestContext, params: Params) -> tuple[dict[str, Any], dict[str, Any]]:
        cluster = self.get_cluster(ctx, params["cluster"])
        service = self._find_service(ctx, cluster, params["service"])
        if service is None:
            raise ServiceNotFoundException()
        if service["status"] != ServiceStatus.ACTIVE:
            raise ServiceNotActiveException()
        if service["deploymentController"]["type"] != ControllerType.EXTERNAL:
            raise InvalidParameterException(NOT_EXTERNAL)
        return cluster, service

    @staticmethod
    def _task_set(service: dict[str, Any], ref: str) -> dict[str, Any]:
        found = _match(service.get("taskSets") or [], ref)
        if found is None:
            raise TaskSetNotFoundException()
        return found

    @staticmethod
    def _recount(service: dict[str, Any], task_set: dict[str, Any]) -> dict[str, Any]:
        task_set["computedDesiredCount"] = computed_desired(
            int(service["desiredCount"]), task_set["scale"], task_set["status"]
        )
        return task_set

    def _task_set_view(self, doc: dict[str, Any], *, tags: bool) -> dict[str, Any]:
        view = {k: v for k, v in doc.items() if not k.startswith("_")}
        view["startedBy"] = doc["id"]
        view["tags"] = self.tags_of(doc["taskSetArn"]) if tags else []
        return view


def _match(sets: list[dict[str, Any]], ref: str) -> dict[str, Any] | None:
    for task_set in sets:
        if ref in (task_set["id"], task_set["taskSetArn"]):
            return task_set
    return None


def _scale(given: dict[str, Any] | None) -> dict[str, Any]:
    if not given:
        return dict(DEFAULT_SCALE)
    unit = given.get("unit") or "PERCENT"
    if unit != "PERCENT":
        raise InvalidParameterException(SCALE_UNIT)
    value = float(given.get("value", 0.0))
    if not 0 <= value <= 100:
        raise InvalidParameterException(SCALE_RANGE.format(value=value))
    return {"value": value, "unit": unit}
