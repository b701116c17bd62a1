"""ECS Express Mode: CreateExpressGatewayService, UpdateExpressGatewayService,
DeleteExpressGatewayService and DescribeExpressGatewayService.

An Express service is an ordinary ECS service plus what ECS makes for it (the ECS developer guide,
"Resources created by Amazon ECS Express Mode services"): a task definition, two target groups with
the health check path, a host-header rule on the network's shared Application Load Balancer's HTTPS
listener forwarding to both, a task security group open to the load balancer, a log group, and an
Application Auto Scaling target with a target-tracking policy. All are made through ecslite's own
operations (``express_resources.Calls``), so they show through the usual APIs, and the local ALB
serves the service at ``https://<endpoint>`` on the listener's local port (``/_ecslite/elb/listeners``).

Deployments are canaries, as ECS makes them (developer guide, "Updating an Amazon ECS Express Mode
service"): the ECS service has the ECS deployment controller, strategy ``CANARY`` with 5 % for a
3-minute canary bake and a 3-minute deployment bake, the circuit breaker with rollback, and on its
load balancer an ``advancedConfiguration`` naming the second target group, the host-header rule as
the production rule and the infrastructure role. Update registers a new task definition when the
container or its resources change and updates the ECS service: the new tasks start in the idle
group, the rule sends them 5 % of the host's traffic (weights 95/5), then all of it after the
canary bake (``control.service_blue_green``); the old tasks stop after the deployment bake, and
the next update's canary goes to the other group. The configuration joins ``activeConfigurations``
while its deployment runs, so Describe shows both during the canary. ECS also rolls an Express
deployment back on an alarm over the 4xx and 5xx error percentage (above 1 for 2 datapoints within
3 minutes): a metric-math CloudWatch alarm on the local ALB's ``AWS/ApplicationELB`` metrics over
both target groups (``express_plan.rollback_alarm_request``; its name and exact metrics are
unverified), made with the service, named in its ``deploymentConfiguration.alarms`` with rollback
(``control.service_alarms`` watches it through the canary and the bake) and deleted with it. Services
stored before the canary get their second group, and before the alarm their alarm, at their next
Update. The ECS service shows ``resourceManagementType`` ``ECS``, and its revisions list what is made
for it under ``ecsManagedResources`` (``express_managed``); UpdateService and DeleteService called on
it directly are carried out, as ECS does.

Delete scales the service to zero and deletes it and its rollback alarm; what depends on its tasks
being gone (both target groups, the task security group) and the network's load balancer, once no
Express service uses it, are taken down by a follow-up that looks again every
:data:`DRAIN_POLL_SECONDS` of the clock (and by any later Express call) until the service is
``INACTIVE``; a server restarted meanwhile finishes it at the next Express call. Log groups are
kept, as CloudWatch Logs outlives the service (a deliberate, unverified choice).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from ecslite.model.arns import service_arn
from ecslite.protocol.errors import AwsError
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.calls import Calls
from ecslite.providers.ecs import express_plan as plan
from ecslite.providers.ecs import express_resources as res
from ecslite.providers.ecs.common import EcsBase
from ecslite.providers.ecs.errors import (
    ClusterNotFoundException,
    InvalidParameterException,
    ResourceNotFoundException,
    ServiceNotActiveException,
    ServiceNotFoundException,
)
from ecslite.store import express_services as store
from ecslite.store.db import Database

Doc = dict[str, Any]
log = logging.getLogger(__name__)

NOT_IDEMPOTENT = "Creation of service was not idempotent."
# How often a deleted Express service's leftovers are looked at, and for how long at most (its tasks
# stop within their stop timeout plus the target group's deregistration delay, 300 s by default).
DRAIN_POLL_SECONDS = 2.0
DRAIN_GIVE_UP_SECONDS = 3600.0
NOT_FOUND = "The specified Express service was not found."  # unverified text
NO_MAIN = "The task definition must have a container named Main with a container port."  # unverified text


class ExpressServiceOps(EcsBase):
    # The other providers (ELBv2, ACM, EC2, Application Auto Scaling, Logs) and ECS itself, set by the server.
    peers: Mapping[str, object] = {}

    def _express_calls(self, ctx: RequestContext) -> Calls:
        return Calls({**self.peers, "ecs": self}, ctx)

    @property
    def _express_lock(self) -> asyncio.Lock:
        """One Express operation at a time: a Create that waits on Logs must not let a second Create
        of the same network miss the load balancer the first one is making."""
        lock = self.__dict__.get("_express_lock_")
        if lock is None:
            lock = self.__dict__["_express_lock_"] = asyncio.Lock()
        return lock

    # -- create ----------------------------------------------------------------------------------

    async def create_express_gateway_service(self, ctx: RequestContext, params: Params) -> Doc:
        async with self._express_lock:
            return await self._express_create(ctx, params)

    async def _express_create(self, ctx: RequestContext, params: Params) -> Doc:
        plan.check_request(params, creating=True)
        call = self._express_calls(ctx)
        cluster = await self._express_cluster(ctx, call, params.get("cluster"))
        name = params.get("serviceName") or self._express_name(params)
        arn = service_arn(ctx.region, ctx.account, cluster, name)
        earlier = store.get(self.db, ctx.account, ctx.region, arn)
        if (earlier and earlier["status"] != "INACTIVE") or await self._express_ecs_service(
            call, cluster, name, active=True
        ):
            raise InvalidParameterException(NOT_IDEMPOTENT)
        await self._express_finish(call)
        config = plan.configuration(params)
        port = await self._express_port(call, config)
        subnets = (config.get("networkConfiguration") or {}).get("subnets") or []
        vpc, subnets = (
            (await res.vpc_of(call, subnets), sorted(subnets)) if subnets else await res.default_network(call)
        )
        network = plan.network_key(vpc, subnets)
        made: list[tuple[str, str, Doc]] = []
        try:
            resources = await self._express_make(call, cluster, name, config, port, vpc, subnets, network, params, made)
        except Exception:
            await res.undo(call, made)
            raise
        now = self.now()
        config["createdAt"] = now
        doc: Doc = {
            "serviceArn": arn,
            "cluster": cluster,
            "serviceName": name,
            "network": network,
            "status": "ACTIVE",
            "infrastructureRoleArn": params["infrastructureRoleArn"],
            "tags": params.get("tags") or [],
            "createdAt": now,
            "updatedAt": now,
            "configurations": [config],
            "resources": resources,
        }
        with self.db.transaction():
            store.put(self.db, ctx.account, ctx.region, doc)
        return {"service": await self._express_view(call, doc, include_tags=True)}

    async def _express_make(
        self,
        call: Calls,
        cluster: str,
        name: str,
        config: Doc,
        port: int,
        vpc: str,
        subnets: list[str],
        network: str,
        params: Params,
        made: list[tuple[str, str, Doc]],
    ) -> Doc:
        """Every resource of a new Express service, in dependency order; ``made`` lists what to undo."""
        sharing = store.in_network(self.db, call.ctx.account, call.ctx.region, network)
        shared = (
            sharing[0]["resources"]["shared"] if sharing else await res.make_shared(call, network, vpc, subnets, made)
        )
        resources: Doc = {"shared": shared, "taskDefinitions": []}
        groups = (config.get("networkConfiguration") or {}).get("securityGroups") or []
        if not groups:
            group = await res.security_group(
                call,
                f"ecs-express-{name[:40]}-{plan.short_hash(cluster, name, size=6)}",
                f"ECS Express Mode service {name}",
                vpc,
                port,
                {"UserIdGroupPairs": [{"GroupId": shared["loadBalancerSecurityGroup"]}]},
            )
            made.append(("ec2", "DeleteSecurityGroup", {"GroupId": group}))
            groups, resources["securityGroup"] = [group], group
        config["networkConfiguration"] = {"subnets": subnets, "securityGroups": groups}
        task_definition = await self._express_task_definition(
            call, cluster, name, config, params.get("tags") or [], resources
        )
        made.extend(("ecs", "DeregisterTaskDefinition", {"taskDefinition": t}) for t in resources["taskDefinitions"])
        target_group, alternate = [
            await self._express_target_group(call, cluster, name, port, vpc, config, alternate=second)
            for second in (False, True)
        ]
        made.extend(("elbv2", "DeleteTargetGroup", {"TargetGroupArn": arn}) for arn in (target_group, alternate))
        host = plan.endpoint_host(name, cluster, call.ctx.account, call.ctx.region)
        priority = await res.next_priority(call, shared["listenerArn"])
        rule_request = plan.rule_request(shared["listenerArn"], priority, host, target_group, alternate)
        rule = (await call("elbv2", "CreateRule", rule_request))["Rules"][0]["RuleArn"]
        made.append(("elbv2", "DeleteRule", {"RuleArn": rule}))
        resources.update(targetGroupArn=target_group, alternateTargetGroupArn=alternate, ruleArn=rule, endpoint=host)
        alarm = await self._express_alarm(call, cluster, name, resources)
        made.append(("cloudwatch", "DeleteAlarms", {"AlarmNames": [alarm]}))
        balancers = plan.load_balancers(target_group, alternate, rule, params["infrastructureRoleArn"], port)
        service = plan.service_request(cluster, name, task_definition, config, groups, balancers, alarm)
        if params.get("tags"):
            service["tags"] = params["tags"]
        await call("ecs", "CreateService", service)
        made.append(("ecs", "DeleteService", {"cluster": cluster, "service": name, "force": True}))
        await self._express_scaling(call, cluster, name, config, resources)
        return resources

    @staticmethod
    async def _express_target_group(
        call: Calls, cluster: str, name: str, port: int, vpc: str, config: Doc, *, alternate: bool
    ) -> str:
        request = plan.target_group_request(
            name, cluster, call.ctx.account, port, vpc, config["healthCheckPath"], alternate=alternate
        )
        return str((await call("elbv2", "CreateTargetGroup", request))["TargetGroups"][0]["TargetGroupArn"])

    @staticmethod
    async def _express_alarm(call: Calls, cluster: str, name: str, resources: Doc) -> str:
        """Put the service's 4xx/5xx rollback alarm over both target groups; its name."""
        alarm = plan.rollback_alarm_name(cluster, name)
        groups = [resources["targetGroupArn"], resources["alternateTargetGroupArn"]]
        request = plan.rollback_alarm_request(alarm, resources["shared"]["loadBalancerArn"], groups)
        await call("cloudwatch", "PutMetricAlarm", request)
        resources["rollbackAlarm"] = alarm
        return alarm

    async def _express_alternate(self, call: Calls, doc: Doc, port: int) -> None:
        """The second target group and the rule forwarding to both, for a service stored before Express
        services deployed as canaries (its ECS service then moves from rolling to canary deployments)."""
        resources = doc["resources"]
        group = await call("elbv2", "DescribeTargetGroups", {"TargetGroupArns": [resources["targetGroupArn"]]})
        vpc = group["TargetGroups"][0]["VpcId"]
        config = doc["configurations"][-1]
        alternate = await self._express_target_group(
            call, doc["cluster"], doc["serviceName"], port, vpc, config, alternate=True
        )
        resources["alternateTargetGroupArn"] = alternate
        shown = plan.rule_request("", 0, "", resources["targetGroupArn"], alternate)
        await call("elbv2", "ModifyRule", {"RuleArn": resources["ruleArn"], "Actions": shown["Actions"]})

    async def _express_task_definition(
        self, call: Calls, cluster: str, name: str, config: Doc, tags: list[Doc], resources: Doc
    ) -> str:
        """The configuration's task definition: the given one, or a new revision of the service's family."""
        if config.get("taskDefinitionArn"):  # given, or the previous configuration's, unchanged
            return str(config["taskDefinitionArn"])
        logs = plan.log_settings(config, cluster, name)
        try:
            await call("logs", "CreateLogGroup", {"logGroupName": logs["logGroup"]})
        except AwsError as error:
            if error.code != "ResourceAlreadyExistsException":
                raise
        resources["logGroup"] = logs["logGroup"]
        family = plan.family_name(cluster, name)
        request = plan.task_definition_request(config, family, call.ctx.region, logs, tags)
        arn = str((await call("ecs", "RegisterTaskDefinition", request))["taskDefinition"]["taskDefinitionArn"])
        resources["taskDefinitions"].append(arn)
        config["taskDefinitionArn"] = arn
        return arn

    async def _express_scaling(self, call: Calls, cluster: str, name: str, config: Doc, resources: Doc) -> None:
        scaling = config["scalingTarget"]
        await call(
            "application-autoscaling", "RegisterScalableTarget", plan.scalable_target_request(cluster, name, scaling)
        )
        policy = plan.scaling_policy_request(
            cluster, name, scaling, resources["shared"]["loadBalancerArn"], resources["targetGroupArn"]
        )
        resources["scalingPolicyArn"] = (await call("application-autoscaling", "PutScalingPolicy", policy))["PolicyARN"]

    # -- update ----------------------------------------------------------------------------------

    async def update_express_gateway_service(self, ctx: RequestContext, params: Params) -> Doc:
        async with self._express_lock:
            return await self._express_update(ctx, params)

    async def _express_update(self, ctx: RequestContext, params: Params) -> Doc:
        plan.check_request(params, creating=False)
        call = self._express_calls(ctx)
        doc = self._express(ctx, params["serviceArn"], missing=ServiceNotFoundException())
        if doc["status"] != "ACTIVE":
            raise ServiceNotActiveException()
        previous = doc["configurations"][-1]
        config = plan.configuration(params, {k: v for k, v in previous.items() if k != "createdAt"})
        if params.get("primaryContainer") or any(
            params.get(f) for f in ("cpu", "memory", "cpuArchitecture", "executionRoleArn", "taskRoleArn")
        ):
            config.pop("taskDefinitionArn", None)
        port = await self._express_port(call, config)
        cluster, name, resources = doc["cluster"], doc["serviceName"], doc["resources"]
        if params.get("networkConfiguration"):
            given = params["networkConfiguration"]
            config["networkConfiguration"] = {
                "subnets": previous["networkConfiguration"]["subnets"],  # the load balancer's network stays
                "securityGroups": given.get("securityGroups") or previous["networkConfiguration"]["securityGroups"],
            }
        task_definition = await self._express_task_definition(
            call, cluster, name, config, doc.get("tags") or [], resources
        )
        if "alternateTargetGroupArn" not in resources:
            await self._express_alternate(call, doc, port)
            resources.pop("rollbackAlarm", None)  # it must watch the new group too
        if "rollbackAlarm" not in resources:  # also a service stored before the alarm was made
            await self._express_alarm(call, cluster, name, resources)
        target_groups = [resources["targetGroupArn"], resources["alternateTargetGroupArn"]]
        # Both groups check the new path: the canary's tasks go to whichever one is idle.
        for group in (await call("elbv2", "DescribeTargetGroups", {"TargetGroupArns": target_groups}))["TargetGroups"]:
            if group.get("HealthCheckPath") != config["healthCheckPath"]:
                health = {"TargetGroupArn": group["TargetGroupArn"], "HealthCheckPath": config["healthCheckPath"]}
                await call("elbv2", "ModifyTargetGroup", health)
        groups = config["networkConfiguration"]["securityGroups"]
        balancers = plan.load_balancers(
            resources["targetGroupArn"],
            resources["alternateTargetGroupArn"],
            resources["ruleArn"],
            doc["infrastructureRoleArn"],
            port,
        )
        service = plan.service_request(
            cluster, name, task_definition, config, groups, balancers, resources["rollbackAlarm"]
        )
        fields = ("cluster", "taskDefinition", "networkConfiguration", "loadBalancers", "deploymentConfiguration")
        update = {k: service[k] for k in fields}
        await call("ecs", "UpdateService", {**update, "service": name, "forceNewDeployment": True})
        await self._express_scaling(call, cluster, name, config, resources)
        config["createdAt"] = self.now()
        doc["configurations"].append(config)
        doc["updatedAt"] = config["createdAt"]
        with self.db.transaction():
            store.put(self.db, ctx.account, ctx.region, doc)
        view = await self._express_view(call, doc, include_tags=False)
        updated = {k: view[k] for k in ("serviceArn", "cluster", "serviceName", "status", "createdAt", "updatedAt")}
        target = {k: v for k, v in config.items() if k != "createdAt"}
        return {"service": {**updated, "targetConfiguration": {**target, "createdAt": config["createdAt"]}}}

    # -- delete ----------------------------------------------------------------------------------

    async def delete_express_gateway_service(self, ctx: RequestContext, params: Params) -> Doc:
        async with self._express_lock:
            return await self._express_delete(ctx, params)

    async def _express_delete(self, ctx: RequestContext, params: Params) -> Doc:
        call = self._express_calls(ctx)
        doc = self._express(ctx, params["serviceArn"], missing=ServiceNotFoundException())
        if doc["status"] != "ACTIVE":
            raise ServiceNotActiveException()
        cluster, name, resources = doc["cluster"], doc["serviceName"], doc["resources"]
        target = plan.scalable_target_request(cluster, name, doc["configurations"][-1]["scalingTarget"])
        await call.remove(
            "application-autoscaling", "DeregisterScalableTarget", {k: target[k] for k in list(target)[:3]}
        )
        await call.remove("elbv2", "DeleteRule", {"RuleArn": resources["ruleArn"]})
        await call.remove("ecs", "DeleteService", {"cluster": cluster, "service": name, "force": True})
        if resources.get("rollbackAlarm"):
            await call.remove("cloudwatch", "DeleteAlarms", {"AlarmNames": [resources["rollbackAlarm"]]})
        doc["status"], doc["updatedAt"] = "DRAINING", self.now()
        with self.db.transaction():
            store.put(self.db, ctx.account, ctx.region, doc)
        view = await self._express_view(call, doc, include_tags=False)
        await self._express_finish(call)
        if store.draining(self.db, ctx.account, ctx.region):
            self._express_follow_up(ctx)
        return {"service": view}

    def _express_follow_up(self, ctx: RequestContext) -> None:
        """Finish DRAINING Express services of ``ctx``'s account and region once their tasks are gone."""
        drains: dict[tuple[str, str], asyncio.Task[None]] = self.__dict__.setdefault("_express_drains_", {})
        key = (ctx.account, ctx.region)
        if key in drains and not drains[key].done():
            return
        drains[key] = asyncio.get_running_loop().create_task(self._express_drain(ctx), name="express-drain")

    async def _express_drain(self, ctx: RequestContext) -> None:
        give_up = self.clock.now() + DRAIN_GIVE_UP_SECONDS
        while self.clock.now() < give_up:
            await self.clock.sleep(DRAIN_POLL_SECONDS)
            async with self._express_lock:
                try:
                    await self._express_finish(self._express_calls(ctx))
                except Exception:  # a failed look is retried at the next poll, never lost
                    log.exception("finishing deleted Express services failed")
                if not store.draining(self.db, ctx.account, ctx.region):
                    return

    async def _express_finish(self, call: Calls) -> None:
        """Take down what DRAINING Express services still hold, as far as their tasks allow."""
        for doc in store.draining(self.db, call.ctx.account, call.ctx.region):
            resources = doc["resources"]
            service = await self._express_ecs_service(call, doc["cluster"], doc["serviceName"], active=False)
            if service.get("status") == "DRAINING":
                continue  # its tasks still stop: their addresses hold the target group and security group
            done = True
            for key in ("targetGroupArn", "alternateTargetGroupArn"):
                if resources.get(key):
                    done = await call.remove("elbv2", "DeleteTargetGroup", {"TargetGroupArn": resources[key]}) and done
            if resources.get("securityGroup"):
                done = await call.remove("ec2", "DeleteSecurityGroup", {"GroupId": resources["securityGroup"]}) and done
            for arn in resources["taskDefinitions"]:
                await call.remove("ecs", "DeregisterTaskDefinition", {"taskDefinition": arn})
            others = [d for d in store.in_network(self.db, call.ctx.account, call.ctx.region, doc["network"])]
            if done and not [d for d in others if d["serviceArn"] != doc["serviceArn"]]:
                done = await res.remove_shared(call, resources["shared"])
            if done:
                doc["status"] = "INACTIVE"
                with self.db.transaction():
                    store.put(self.db, call.ctx.account, call.ctx.region, doc)

    # -- describe --------------------------------------------------------------------------------

    async def describe_express_gateway_service(self, ctx: RequestContext, params: Params) -> Doc:
        async with self._express_lock:
            return await self._express_describe(ctx, params)

    async def _express_describe(self, ctx: RequestContext, params: Params) -> Doc:
        call = self._express_calls(ctx)
        await self._express_finish(call)
        doc = self._express(ctx, params["serviceArn"], missing=ResourceNotFoundException(NOT_FOUND))
        return {"service": await self._express_view(call, doc, include_tags="TAGS" in (params.get("include") or []))}

    async def _express_view(self, call: Calls, doc: Doc, *, include_tags: bool) -> Doc:
        service = await self._express_ecs_service(call, doc["cluster"], doc["serviceName"], active=False)
        running = {d["taskDefinition"] for d in service.get("deployments") or []}
        endpoint = doc["resources"]["endpoint"]
        active = [c for c in doc["configurations"] if c.get("taskDefinitionArn") in running] or (
            doc["configurations"][-1:] if doc["status"] == "ACTIVE" else []
        )
        revisions = await self._express_revisions(call, service)
        view: Doc = {
            "cluster": self._express_cluster_arn(call.ctx, doc["cluster"]),
            "serviceName": doc["serviceName"],
            "serviceArn": doc["serviceArn"],
            "infrastructureRoleArn": doc["infrastructureRoleArn"],
            "status": {"statusCode": doc["status"]},
            "activeConfigurations": [
                {
                    **{k: v for k, v in c.items()},
                    **(
                        {"serviceRevisionArn": revisions[c["taskDefinitionArn"]]}
                        if c["taskDefinitionArn"] in revisions
                        else {}
                    ),
                    "ingressPaths": [{"accessType": "PUBLIC", "endpoint": f"https://{endpoint}"}],
                }
                for c in active
            ],
            "createdAt": doc["createdAt"],
            "updatedAt": doc["updatedAt"],
        }
        if service.get("currentServiceDeployment"):
            view["currentDeployment"] = service["currentServiceDeployment"]
        if include_tags:
            view["tags"] = doc.get("tags") or []
        return view

    @staticmethod
    async def _express_revisions(call: Calls, service: Doc) -> dict[str, str]:
        """Task definition → service revision ARN, for the service's current deployments."""
        arns = [service["currentServiceDeployment"]] if service.get("currentServiceDeployment") else []
        if not arns:
            return {}
        found = (await call("ecs", "DescribeServiceDeployments", {"serviceDeploymentArns": arns}))["serviceDeployments"]
        revisions = [d["targetServiceRevision"]["arn"] for d in found if d.get("targetServiceRevision")]
        if not revisions:
            return {}
        shown = (await call("ecs", "DescribeServiceRevisions", {"serviceRevisionArns": revisions}))["serviceRevisions"]
        return {r["taskDefinition"]: r["serviceRevisionArn"] for r in shown}

    # -- lookups ---------------------------------------------------------------------------------

    def _express(self, ctx: RequestContext, arn: str, *, missing: AwsError) -> Doc:
        doc = store.get(self.db, ctx.account, ctx.region, arn)
        if doc is None:
            raise missing
        return doc

    async def _express_cluster(self, ctx: RequestContext, call: Calls, ref: str | None) -> str:
        """The cluster's name; ECS makes the ``default`` cluster when the request names none and it is missing."""
        try:
            return str(self.get_cluster(ctx, ref)["clusterName"])
        except ClusterNotFoundException:
            if ref:
                raise
        await call("ecs", "CreateCluster", {"clusterName": "default"})
        return "default"

    def _express_cluster_arn(self, ctx: RequestContext, cluster: str) -> str:
        return str(self.get_cluster(ctx, cluster, active=False)["clusterArn"])

    @staticmethod
    async def _express_ecs_service(call: Calls, cluster: str, name: str, *, active: bool) -> Doc:
        found = (await call("ecs", "DescribeServices", {"cluster": cluster, "services": [name]}))["services"]
        if not found or (active and found[0]["status"] != "ACTIVE"):
            return {}
        return dict(found[0])

    def _express_name(self, params: Params) -> str:
        """A name from the image's repository and a hash, when the request names none (unverified form)."""
        image = (params.get("primaryContainer") or {}).get("image") or params.get("taskDefinitionArn") or "service"
        base = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0] or "service"
        return f"{base[:200]}-{plan.short_hash(image, str(self.clock.now()))}"

    async def _express_port(self, call: Calls, config: Doc) -> int:
        """The primary container's port; with a given task definition, its ``Main`` container's first port."""
        if "primaryContainer" in config:
            return int(config["primaryContainer"]["containerPort"])
        shown = (await call("ecs", "DescribeTaskDefinition", {"taskDefinition": config["taskDefinitionArn"]}))[
            "taskDefinition"
        ]
        for container in shown["containerDefinitions"]:
            if container["name"] == plan.CONTAINER_NAME and container.get("portMappings"):
                return int(container["portMappings"][0]["containerPort"])
        raise InvalidParameterException(NO_MAIN)


def local_endpoints(db: Database, listeners: Mapping[str, Mapping[str, Any]]) -> list[Doc]:
    """Where each Express service answers on this host: its name (the Host and TLS server name to
    send) and the local address of its network's HTTPS listener (``listeners``: the local ALB's
    view by listener ARN, as ``/_ecslite/elb/listeners`` shows it)."""
    out = []
    for doc in store.every(db):
        listener = doc["resources"]["shared"]["listenerArn"]
        served = listeners.get(listener) or {}
        out.append(
            {
                "serviceArn": doc["serviceArn"],
                "status": doc["status"],
                "endpoint": f"https://{doc['resources']['endpoint']}",
                "host": doc["resources"]["endpoint"],
                "listenerArn": listener,
                "local": served.get("endpoint"),
            }
        )
    return out
