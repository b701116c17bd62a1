"""AWS::ECS::Cluster, ::TaskDefinition, ::ClusterCapacityProviderAssociations and ::Service through
ecslite's ECS operations.

Cluster: ``Ref`` is the name, ``Arn`` its ARN; ``ClusterName`` needs a replacement, settings,
configuration, Service Connect defaults, capacity providers and tags change in place.
TaskDefinition: ``Ref`` (and ``TaskDefinitionArn``) is the revision's ARN; every change registers a
new revision (a replacement) and the old one is deregistered in the stack's cleanup, as CloudFormation
does. ClusterCapacityProviderAssociations: ``Ref`` is the cluster's name; a new ``Cluster`` needs a
replacement, the providers and default strategy change in place. Service: ``Ref`` (and
``ServiceArn``) is the ARN, ``Name`` its name; create and update return once the service is stable,
delete once it is INACTIVE (details at :class:`Service`).

ECS refuses ``aws:`` tag keys from callers, so ECS resources get the stack's own tags and the
template's, without CloudFormation's ``aws:cloudformation:*`` ones.
"""

from __future__ import annotations

import asyncio

from ecslite.protocol.errors import AwsError
from ecslite.providers.cloudformation.resources.base import (
    Doc,
    Physical,
    ResourceContext,
    ResourceFailed,
    ResourceHandler,
    register,
)
from ecslite.providers.cloudformation.resources.common import changed, merged_tags, pairs, remove, tag_changes
from ecslite.providers.cloudformation.resources.properties import api_params

NAME_MAX = 255
_CLUSTER_GONE = ("ClusterNotFoundException",)
# A cluster whose services and tasks are still stopping (in this stack, deleted just before) frees up.
_CLUSTER_BUSY = ("ClusterContainsServicesException", "ClusterContainsTasksException")


def ecs_tags(rc: ResourceContext, props: Doc) -> list[Doc]:
    """The stack's and the template's tags as ECS takes them (``aws:`` keys left out)."""
    return pairs(merged_tags(rc, props, reserved=False), "key", "value")


async def put_tags(rc: ResourceContext, arn: str, old: Doc, new: Doc) -> None:
    """Brings an ECS resource's tags from the template's old ``Tags`` to its new ones."""
    put, drop = tag_changes(old.get("Tags"), new.get("Tags"), reserved=False)
    if put:
        await rc.call("ecs", "TagResource", {"resourceArn": arn, "tags": pairs(put, "key", "value")})
    if drop:
        await rc.call("ecs", "UntagResource", {"resourceArn": arn, "tagKeys": drop})


def cluster_name(ref: str) -> str:
    """A cluster's name from its name or ARN (``arn:aws:ecs:<region>:<account>:cluster/<name>``)."""
    return ref.rsplit("/", 1)[-1] if ref.startswith("arn:") else ref


def _settings(props: Doc) -> list[Doc]:
    return [{"name": str(s["Name"]), "value": str(s["Value"])} for s in props.get("ClusterSettings") or []]


@register
class Cluster(ResourceHandler):
    type_name = "AWS::ECS::Cluster"
    stack_tags = True
    attributes = frozenset({"Arn"})
    replace_always = False
    replace_on = frozenset({"ClusterName"})
    name_property = "ClusterName"

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        name = str(props.get("ClusterName") or rc.physical_name(NAME_MAX))
        if props.get("ClusterName"):
            # CreateCluster returns an ACTIVE cluster of that name as it is; a stack must not adopt it
            # (and take it down with the stack). CloudFormation's AlreadyExists text; unverified that
            # it refuses an ECS cluster so.
            found = await rc.call("ecs", "DescribeClusters", {"clusters": [name]})
            if any(c["status"] == "ACTIVE" for c in found.get("clusters") or []):
                raise ResourceFailed(f"Resource of type '{self.type_name}' with identifier '{name}' already exists.")
        params = api_params("ecs", "CreateCluster", props, exclude=("ClusterName", "ClusterSettings", "Tags"))
        params["clusterName"] = name
        if props.get("ClusterSettings"):
            params["settings"] = _settings(props)
        tags = ecs_tags(rc, props)
        if tags:
            params["tags"] = tags
        cluster = (await rc.call("ecs", "CreateCluster", params))["cluster"]
        return Physical(name, {"Arn": cluster["clusterArn"]})

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        name = current.physical_id
        if old.get("ClusterSettings") != new.get("ClusterSettings"):
            # Taking the setting out of the template turns Container Insights back off.
            settings = _settings(new) or [{"name": "containerInsights", "value": "disabled"}]
            await rc.call("ecs", "UpdateClusterSettings", {"cluster": name, "settings": settings})
        if changed(old, new, ("Configuration", "ServiceConnectDefaults")):
            params = api_params(
                "ecs", "UpdateCluster", {k: new.get(k) for k in ("Configuration", "ServiceConnectDefaults")}
            )
            await rc.call("ecs", "UpdateCluster", {**params, "cluster": name})
        if changed(old, new, ("CapacityProviders", "DefaultCapacityProviderStrategy")):
            await _put_capacity(rc, name, new)
        await put_tags(rc, str(current.attributes["Arn"]), old, new)
        return current

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        params = {"cluster": current.physical_id}
        await remove(rc, "ecs", "DeleteCluster", params, gone=_CLUSTER_GONE, busy=_CLUSTER_BUSY)


async def _put_capacity(rc: ResourceContext, cluster: str, props: Doc) -> None:
    params = api_params(
        "ecs",
        "PutClusterCapacityProviders",
        {k: props.get(k) or [] for k in ("CapacityProviders", "DefaultCapacityProviderStrategy")},
    )
    await rc.call("ecs", "PutClusterCapacityProviders", {**params, "cluster": cluster})


@register
class ClusterCapacityProviderAssociations(ResourceHandler):
    type_name = "AWS::ECS::ClusterCapacityProviderAssociations"
    replace_always = False
    replace_on = frozenset({"Cluster"})

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        name = cluster_name(str(props["Cluster"]))
        await _put_capacity(rc, name, props)
        return Physical(name)

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        await _put_capacity(rc, current.physical_id, new)
        return current

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        params = {"cluster": current.physical_id, "capacityProviders": [], "defaultCapacityProviderStrategy": []}
        # A provider still used by a service going away in the same stack is freed once it is gone.
        await remove(
            rc, "ecs", "PutClusterCapacityProviders", params, gone=_CLUSTER_GONE, busy=("ResourceInUseException",)
        )


@register
class TaskDefinition(ResourceHandler):
    type_name = "AWS::ECS::TaskDefinition"
    attributes = frozenset({"TaskDefinitionArn"})

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        params = api_params("ecs", "RegisterTaskDefinition", props, exclude=("Tags", "ProxyConfiguration"))
        params["family"] = str(props.get("Family") or rc.physical_name(NAME_MAX))
        proxy = props.get("ProxyConfiguration")
        if proxy:
            # CloudFormation calls the proxy's name/value pairs ProxyConfigurationProperties.
            params["proxyConfiguration"] = api_params(
                "ecs",
                "RegisterTaskDefinition",
                {
                    "ProxyConfiguration": {
                        "Type": proxy.get("Type"),
                        "ContainerName": proxy.get("ContainerName"),
                        "Properties": proxy.get("ProxyConfigurationProperties"),
                    }
                },
            )["proxyConfiguration"]
        tags = ecs_tags(rc, props)
        if tags:
            params["tags"] = tags
        arn = str((await rc.call("ecs", "RegisterTaskDefinition", params))["taskDefinition"]["taskDefinitionArn"])
        return Physical(arn, {"TaskDefinitionArn": arn})

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        """Deregisters the revision (it stays INACTIVE, as in CloudFormation); one that is already
        INACTIVE or unknown counts as deleted."""
        arn = current.physical_id
        try:
            found = await rc.call("ecs", "DescribeTaskDefinition", {"taskDefinition": arn})
        except AwsError as error:
            if error.code == "ClientException":  # "Unable to describe task definition."
                return
            raise
        if found["taskDefinition"].get("status") == "ACTIVE":
            await rc.call("ecs", "DeregisterTaskDefinition", {"taskDefinition": arn})


# AWS::ECS::Service properties whose change needs a new service ("Update requires: Replacement").
SERVICE_REPLACE_ON = frozenset(
    {"ServiceName", "Cluster", "LaunchType", "Role", "SchedulingStrategy", "DeploymentController"}
)
# Properties UpdateService takes under the same name (case aside), changed in place; TaskDefinition
# and DesiredCount are sent whenever the template gives them, as CloudFormation does (an autoscaled
# count is reset to the template's on every update that names one).
_SERVICE_IN_PLACE = (
    "AvailabilityZoneRebalancing",
    "CapacityProviderStrategy",
    "DeploymentConfiguration",
    "EnableECSManagedTags",
    "EnableExecuteCommand",
    "HealthCheckGracePeriodSeconds",
    "LoadBalancers",
    "NetworkConfiguration",
    "PlacementConstraints",
    "PlatformVersion",
    "PropagateTags",
    "ServiceConnectConfiguration",
    "ServiceRegistries",
    "VolumeConfigurations",
    "VpcLatticeConfigurations",
)
# Lists a template may take out: the service then has none.
_CLEARABLE = {"LoadBalancers": "loadBalancers", "ServiceRegistries": "serviceRegistries"}
_CLEARABLE_PLACEMENT = {"PlacementConstraints": "placementConstraints", "PlacementStrategies": "placementStrategy"}
_SERVICE_GONE = ("ServiceNotFoundException", "ServiceNotActiveException", "ClusterNotFoundException")
# CloudFormation's status reason for a deployment the circuit breaker stopped.
BREAKER_FAILED = "Error occurred during operation 'ECS Deployment Circuit Breaker was triggered'."
POLL_SECONDS = 2.0


def _placement_strategy(props: Doc) -> list[Doc]:
    """``PlacementStrategies`` (CloudFormation's plural) as CreateService's ``placementStrategy``."""
    converted = api_params("ecs", "CreateService", {"PlacementStrategy": props.get("PlacementStrategies") or []})
    return list(converted.get("placementStrategy") or [])


def _force(props: Doc) -> bool:
    force = props.get("ForceNewDeployment") or {}
    value = force.get("EnableForceNewDeployment")
    return value is True or str(value).lower() == "true"


@register
class Service(ResourceHandler):
    """An ECS service; create and update return once the service is stable (its one deployment
    COMPLETED with runningCount == desiredCount), as CloudFormation waits for it."""

    type_name = "AWS::ECS::Service"
    stack_tags = True
    attributes = frozenset({"Name", "ServiceArn"})
    replace_always = False
    replace_on = SERVICE_REPLACE_ON
    name_property = "ServiceName"

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        name = str(props.get("ServiceName") or rc.physical_name(NAME_MAX))
        params = api_params(
            "ecs", "CreateService", props, exclude=("ServiceName", "PlacementStrategies", "Tags", "ForceNewDeployment")
        )
        params["serviceName"] = name
        if props.get("PlacementStrategies"):
            params["placementStrategy"] = _placement_strategy(props)
        external = str((props.get("DeploymentController") or {}).get("Type") or "ECS") == "EXTERNAL"
        if params.get("desiredCount") is None and params.get("schedulingStrategy") != "DAEMON" and not external:
            params["desiredCount"] = 1  # CloudFormation's default for a new REPLICA service
        tags = ecs_tags(rc, props)
        if tags:
            params["tags"] = tags
        service = (await rc.call("ecs", "CreateService", params))["service"]
        arn = str(service["serviceArn"])
        attributes = {"Name": name, "ServiceArn": arn}
        # Recorded at once: a server killed during the wait leaves the rollback a service to delete.
        rc.made(arn, attributes)
        cluster = _cluster_of(props)
        try:
            await self._stable(rc, cluster, arn, service)
        except ResourceFailed:
            # CloudFormation's rollback deletes the service it could not stabilize (with rollback
            # disabled too: the handler takes it down itself).
            await self.discard(rc, Physical(arn), props)
            raise
        except asyncio.CancelledError:
            # The stack timed out or was cancelled: the service goes (its tasks stop on their own)
            # without waiting, as the cancelled task may not wait any more.
            await _ignore_gone(rc, "DeleteService", {"cluster": cluster, "service": arn, "force": True})
            raise
        return Physical(arn, attributes)

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        arn = current.physical_id
        params: Doc = {"cluster": _cluster_of(new), "service": arn}
        for name in ("TaskDefinition", "DesiredCount"):
            if new.get(name) is not None:
                params.update(api_params("ecs", "UpdateService", {name: new[name]}))
        for name in _SERVICE_IN_PLACE:
            if old.get(name) == new.get(name):
                continue
            if new.get(name) is not None:
                params.update(api_params("ecs", "UpdateService", {name: new[name]}))
            elif name in _CLEARABLE:
                params[_CLEARABLE[name]] = []
            elif name in _CLEARABLE_PLACEMENT:
                params[_CLEARABLE_PLACEMENT[name]] = []
        if old.get("PlacementStrategies") != new.get("PlacementStrategies"):
            params["placementStrategy"] = _placement_strategy(new)
        if _force(new) and old.get("ForceNewDeployment") != new.get("ForceNewDeployment"):
            params["forceNewDeployment"] = True
        service = (await rc.call("ecs", "UpdateService", params))["service"]
        await put_tags(rc, arn, old, new)
        await self._stable(rc, _cluster_of(new), arn, service)
        return current

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        """Scales the service to 0, deletes it with force, and waits until it is INACTIVE (its tasks
        stopped), as CloudFormation does; a service already gone counts as deleted."""
        arn, cluster = current.physical_id, _cluster_of(props)
        shown = await self._describe(rc, cluster, arn)
        if shown is None or shown["status"] == "INACTIVE":
            return
        if shown["status"] == "ACTIVE":
            if shown.get("schedulingStrategy") != "DAEMON" and shown.get("desiredCount"):
                await _ignore_gone(rc, "UpdateService", {"cluster": cluster, "service": arn, "desiredCount": 0})
            await _ignore_gone(rc, "DeleteService", {"cluster": cluster, "service": arn, "force": True})

        async def inactive() -> bool | None:
            found = await self._describe(rc, cluster, arn)
            return True if found is None or found["status"] == "INACTIVE" else None

        await rc.poll(inactive, POLL_SECONDS)

    @staticmethod
    async def _describe(rc: ResourceContext, cluster: str, arn: str) -> Doc | None:
        try:
            found = await rc.call("ecs", "DescribeServices", {"cluster": cluster, "services": [arn]})
        except AwsError as error:
            if error.code in _CLUSTER_GONE:
                return None
            raise
        services = found.get("services") or []
        return dict(services[0]) if services else None

    async def _stable(self, rc: ResourceContext, cluster: str, arn: str, service: Doc) -> None:
        """Waits until the deployment the call started (or the one running) is the service's only one,
        COMPLETED with every desired task running; its failure (or a rollback away from it) fails."""
        if (service.get("deploymentController") or {}).get("type", "ECS") != "ECS":
            return  # CODE_DEPLOY and EXTERNAL services have no ECS deployment to wait for
        deployments = service.get("deployments") or []
        ours = str(deployments[0]["id"]) if deployments else None

        async def check() -> bool | None:
            shown = await self._describe(rc, cluster, arn)
            if shown is None or shown["status"] != "ACTIVE":
                raise ResourceFailed(f"Service {arn} is no longer ACTIVE.")  # unverified wording
            current = shown.get("deployments") or []
            mine = next((d for d in current if d.get("id") == ours), None)
            if mine is not None and mine.get("rolloutState") == "FAILED":
                raise ResourceFailed(_failure(mine.get("rolloutStateReason")))
            if not current or (ours is not None and current[0].get("id") != ours):
                # Rolled back (the breaker's new PRIMARY) or replaced by a later update.
                raise ResourceFailed(_failure(current[0].get("rolloutStateReason") if current else None))
            primary = current[0]
            done = primary.get("rolloutState") in (None, "COMPLETED")
            steady = len(current) == 1 and shown.get("runningCount") == shown.get("desiredCount")
            return True if done and steady else None

        await rc.poll(check, POLL_SECONDS)


def _failure(reason: object) -> str:
    text = str(reason or "")
    if "circuit breaker" in text.lower() or not text:
        return BREAKER_FAILED
    # Other failed deployments (alarms, a stopped deployment): CloudFormation's wording unverified.
    return f"Error occurred during operation '{text}'."


def _cluster_of(props: Doc) -> str:
    return str(props.get("Cluster") or "default")


async def _ignore_gone(rc: ResourceContext, operation: str, params: Doc) -> None:
    try:
        await rc.call("ecs", operation, params)
    except AwsError as error:
        if error.code not in _SERVICE_GONE:
            raise
