"""Container instances (spec/ecs.md §5.1): register, describe, list (with the cluster query
language ``filter``, §5.4), change state, deregister; and virtual instances made on command.

**Local model:** a container instance is a virtual EC2 instance, an accounting object with CPU,
memory, GPUs, reserved ports, a zone, an instance type and attributes; its tasks run on this
machine. ``remainingResources`` and the task counts are computed from the tasks placed on it, so
they are always what placement sees. Attributes (built-in ``ecs.*`` and capabilities, plus the
ones given at registration) live in the shared attributes table, where PutAttributes and
placement see them.

:meth:`ContainerInstanceOps.add_virtual_instances` (``ecslite instances add``, the managed scaling
of capacity providers) registers instances as the agent of a launched EC2 instance would: its
type's CPU and memory (``model.placement.instance_types``), the zone's subnet of the default VPC,
and, for an Auto Scaling group provider's instances, ``capacityProviderName``.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import orjson

from ecslite.model.arns import container_instance_arn
from ecslite.model.placement.instance_types import INSTANCE_TYPES, InstanceType, instance_type
from ecslite.model.placement.query_language import PlainFacts, QueryError, parse
from ecslite.model.tasks import FORCED_DEREGISTRATION_REASON, StopCode
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ecs.common import EcsBase
from ecslite.providers.ecs.errors import ClientException, InvalidParameterException
from ecslite.providers.pagination import encode_token
from ecslite.store import capacity_providers as cp_store
from ecslite.store import container_instances as ci_store
from ecslite.store import placement as placement_store
from ecslite.store import tags as tag_store
from ecslite.store import tasks as task_store
from ecslite.store import vpc as vpc_store

MAX_DESCRIBE = 100
MAX_STATE_UPDATE = 10
DEFAULT_CPU = 2048  # a 2-vCPU instance (t3.medium), vCPUs × 1024
DEFAULT_MEMORY = 3904  # MiB the agent of a t3.medium offers to tasks
DEFAULT_INSTANCE_TYPE = "t3.medium"
DEFAULT_AMI = "ami-0ecslite00000000"
RESERVED_TCP_PORTS = ("22", "2375", "2376", "51678", "51679")
RESOURCE_TYPES = ("INTEGER", "LONG", "DOUBLE", "STRINGSET")
VERSION_INFO = {"agentVersion": "1.89.3", "agentHash": "ecslite", "dockerVersion": "DockerVersion: 25.0.8"}
# Capabilities a virtual instance advertises: all of them (§2.2 requiresAttributes).
CAPABILITIES = (
    "com.amazonaws.ecs.capability.logging-driver.awslogs",
    "com.amazonaws.ecs.capability.logging-driver.json-file",
    "com.amazonaws.ecs.capability.logging-driver.syslog",
    "com.amazonaws.ecs.capability.logging-driver.fluentd",
    "com.amazonaws.ecs.capability.logging-driver.awsfirelens",
    "com.amazonaws.ecs.capability.docker-remote-api.1.17",
    "com.amazonaws.ecs.capability.docker-remote-api.1.18",
    "com.amazonaws.ecs.capability.docker-remote-api.1.19",
    "com.amazonaws.ecs.capability.docker-remote-api.1.21",
    "com.amazonaws.ecs.capability.docker-remote-api.1.22",
    "com.amazonaws.ecs.capability.docker-remote-api.1.23",
    "com.amazonaws.ecs.capability.docker-remote-api.1.24",
    "com.amazonaws.ecs.capability.docker-remote-api.1.25",
    "com.amazonaws.ecs.capability.docker-remote-api.1.28",
    "com.amazonaws.ecs.capability.docker-remote-api.1.29",
    "com.amazonaws.ecs.capability.docker-remote-api.1.30",
    "com.amazonaws.ecs.capability.docker-remote-api.1.44",
    "com.amazonaws.ecs.capability.task-iam-role",
    "com.amazonaws.ecs.capability.task-iam-role-network-host",
    "com.amazonaws.ecs.capability.ecr-auth",
    "com.amazonaws.ecs.capability.privileged-container",
    "ecs.capability.execution-role-awslogs",
    "ecs.capability.execution-role-ecr-pull",
    "ecs.capability.task-eni",
    "ecs.capability.container-health-check",
    "ecs.capability.container-ordering",
    "ecs.capability.secrets.asm.environment-variables",
    "ecs.capability.secrets.ssm.environment-variables",
    "ecs.capability.firelens.fluentbit",
    "ecs.capability.firelens.options.config.file",
    "ecs.capability.env-files.s3",
    "ecs.capability.efsAuth",
    "ecs.capability.efs",
    "ecs.capability.increased-task-cpu-limit",
    "ecs.capability.full-sync",
    "ecs.capability.execute-command",
)

# ECS texts (seed 004 / agent logs) and unverified ones, in one place.
INSTANCE_INACTIVE = "Container instance {id} is inactive."
INSTANCE_NOT_FOUND = "The referenced container instance was not found."  # unverified
RUNNING_TASKS = "Found running tasks on the instance."  # unverified
STATE_NOT_ALLOWED = "Container instance status can only be updated to ACTIVE or DRAINING."  # unverified
INSTANCES_EMPTY = "Container instances cannot be empty."  # unverified
IDENTITY_NOT_JSON = "instanceIdentityDocument must be a JSON document; got text that is not JSON."  # unverified
RESOURCE_INVALID = (  # unverified
    "Invalid totalResources entry {resource}: each resource needs a name and a type of INTEGER, LONG, DOUBLE "
    "or STRINGSET."
)
FILTER_INVALID = "Invalid filter expression '{expression}'. {detail}"  # unverified
# ecslite's own requests (``ecslite instances add``): the CLI shows these texts.
MAX_VIRTUAL = 100
UNKNOWN_TYPE = "Unknown instance type '{name}'. Known families: {families}."
BAD_ZONE = "Availability zone '{zone}' is not in region {region}; use a zone such as {region}a."
BAD_COUNT = f"count must be between 1 and {MAX_VIRTUAL}."
NOT_A_GROUP_PROVIDER = (
    "Capacity provider '{name}' is not an ACTIVE Auto Scaling group provider; create it with CreateCapacityProvider."
)


class ContainerInstanceOps(EcsBase):
    def register_container_instance(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self._register(ctx, params)
        return {"containerInstance": self._instance_view(doc, ("TAGS",))}

    def add_virtual_instances(
        self,
        ctx: RequestContext,
        cluster: str | None,
        type_name: str,
        zone: str | None,
        count: int,
        capacity_provider: str | None = None,
        attributes: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Virtual EC2 instances joining ``cluster`` as their agents would (§5.1 local model)."""
        found = self.get_cluster(ctx, cluster)
        kind = instance_type(type_name)
        if kind is None:
            families = ", ".join(sorted({n.split(".", 1)[0] for n in INSTANCE_TYPES}))
            raise InvalidParameterException(UNKNOWN_TYPE.format(name=type_name, families=families))
        if not 1 <= count <= MAX_VIRTUAL:
            raise InvalidParameterException(BAD_COUNT)
        zones = self._zones(ctx)
        if zone is not None and not (zone.startswith(ctx.region) and len(zone) == len(ctx.region) + 1):
            raise InvalidParameterException(BAD_ZONE.format(zone=zone, region=ctx.region))
        if capacity_provider is not None:
            provider = cp_store.get(self.db, ctx.account, ctx.region, capacity_provider)
            if provider is None or provider["status"] != "ACTIVE":
                raise InvalidParameterException(NOT_A_GROUP_PROVIDER.format(name=capacity_provider))
        # Without a zone, instances go round-robin over the default VPC's zones (§5.6 local model).
        order = sorted(zones) or [f"{ctx.region}a"]
        docs = []
        for n in range(count):
            chosen = zone or order[n % len(order)]
            docs.append(
                self._register_virtual(ctx, found["clusterName"], kind, chosen, zones, capacity_provider, attributes)
            )
        return [self._instance_view(d, ("TAGS",)) for d in docs]

    def _register_virtual(
        self,
        ctx: RequestContext,
        cluster: str,
        kind: InstanceType,
        zone: str,
        zones: dict[str, tuple[str, str]],
        capacity_provider: str | None,
        attributes: dict[str, str] | None,
    ) -> dict[str, Any]:
        ec2_id = _ec2_instance_id()
        identity = {
            "instanceId": ec2_id,
            "instanceType": kind.name,
            "availabilityZone": zone,
            "region": ctx.region,
            "imageId": DEFAULT_AMI,
            "architecture": kind.architecture,
        }
        subnet, vpc = zones.get(zone, (None, None))
        extra = [("ecs.subnet-id", subnet), ("ecs.vpc-id", vpc)] if subnet else []
        params: Params = {
            "cluster": cluster,
            "instanceIdentityDocument": orjson.dumps(identity).decode(),
            "attributes": [{"name": k, "value": v} for k, v in (attributes or {}).items()],
        }
        return self._register(ctx, params, capacity_provider=capacity_provider, extra=extra, virtual=True)

    def _zones(self, ctx: RequestContext) -> dict[str, tuple[str, str]]:
        """The default VPC's zones, each with its default subnet and the VPC id."""
        vpc = vpc_store.default_vpc(self.db, ctx.account, ctx.region)
        if vpc is None:
            return {}
        out: dict[str, tuple[str, str]] = {}
        for _, subnet in vpc_store.subnets(self.db, ctx.account, ctx.region, str(vpc["VpcId"])):
            out.setdefault(str(subnet["AvailabilityZone"]), (str(subnet["SubnetId"]), str(vpc["VpcId"])))
        return out

    def _register(
        self,
        ctx: RequestContext,
        params: Params,
        *,
        capacity_provider: str | None = None,
        extra: list[tuple[str, str | None]] | None = None,
        virtual: bool = False,
    ) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))
        name = cluster["clusterName"]
        identity = _identity(params.get("instanceIdentityDocument"))
        tags = self.check_tags(params.get("tags"))
        existing = self._registered_instance(ctx, name, params.get("containerInstanceArn"), identity.get("instanceId"))
        ec2_id = identity.get("instanceId") or (existing or {}).get("ec2InstanceId") or _ec2_instance_id()
        instance_id = existing["containerInstanceArn"].rsplit("/", 1)[1] if existing else secrets.token_hex(16)
        arn = container_instance_arn(ctx.region, ctx.account, name, instance_id)
        zone = identity.get("availabilityZone") or _zone(ctx.region, ec2_id)
        doc = {
            "containerInstanceArn": arn,
            "ec2InstanceId": ec2_id,
            "version": int((existing or {}).get("version", 0)) + 1,
            "versionInfo": {**VERSION_INFO, **(params.get("versionInfo") or {})},
            "registeredResources": _resources(
                params.get("totalResources"), instance_type(str(identity.get("instanceType")))
            ),
            "status": "ACTIVE",
            "agentConnected": True,
            "registeredAt": (existing or {}).get("registeredAt", self.now()),
            "attachments": [],
            "healthStatus": {
                "overallStatus": "OK",
                "details": [
                    {
                        "type": "CONTAINER_RUNTIME",
                        "status": "OK",
                        "lastUpdated": self.now(),
                        "lastStatusChange": self.now(),
                    }
                ],
            },
        }
        provider = capacity_provider or (existing or {}).get("capacityProviderName")
        if provider:
            doc["capacityProviderName"] = provider
        if virtual or (existing or {}).get("_virtual"):
            doc["_virtual"] = True
        attributes = _built_in_attributes(identity, zone) + list(extra or ())
        attributes += [(a["name"], a.get("value")) for a in params.get("attributes") or ()]
        with self.db.transaction():
            ci_store.put(self.db, ctx.account, ctx.region, name, doc)
            ci_store.put_attributes(self.db, ctx.account, ctx.region, name, arn, attributes)
            tag_store.put(self.db, arn, tags)
        return doc

    def describe_container_instances(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))
        refs = params["containerInstances"]
        if not refs:
            raise InvalidParameterException(INSTANCES_EMPTY)
        if len(refs) > MAX_DESCRIBE:
            raise InvalidParameterException(f"containerInstances can have at most {MAX_DESCRIBE} items.")
        include = tuple(params.get("include") or ())
        found, failures = [], []
        for ref in refs:
            doc = self._instance_by_ref(ctx, cluster["clusterName"], ref)
            if doc is None:
                failures.append({"arn": self._instance_ref_arn(ctx, cluster["clusterName"], ref), "reason": "MISSING"})
            else:
                found.append(self._instance_view(doc, include))
        return {"containerInstances": found, "failures": failures}

    def list_container_instances(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))
        expression = params.get("filter")
        matcher = None
        if expression:
            try:
                matcher = parse(expression)
            except QueryError as error:
                raise InvalidParameterException(FILTER_INVALID.format(expression=expression, detail=error)) from None
        after, limit = self.page_args(params)
        if after is not None and not isinstance(after, int):
            raise InvalidParameterException("Invalid nextToken.")
        name = cluster["clusterName"]
        if matcher is None:
            rows = ci_store.list_page(self.db, ctx.account, ctx.region, name, params.get("status"), after, limit + 1)
        else:
            # §5.4: the expression sees what placement sees (attributes, counts, task groups).
            every = ci_store.list_page(self.db, ctx.account, ctx.region, name, params.get("status"), after, 1 << 30)
            wanted = placement_store.expression_attributes(matcher.tree)
            facts = self._facts(ctx, name, [arn for _, arn in every], wanted)
            rows = [(rid, arn) for rid, arn in every if matcher.matches(facts[arn])][: limit + 1]
        result: dict[str, Any] = {"containerInstanceArns": [arn for _, arn in rows[:limit]]}
        if len(rows) > limit:
            result["nextToken"] = encode_token(rows[limit - 1][0])
        return result

    def update_container_instances_state(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))
        name = cluster["clusterName"]
        status = params["status"]
        if status not in ("ACTIVE", "DRAINING"):
            raise InvalidParameterException(STATE_NOT_ALLOWED)
        refs = params["containerInstances"]
        if not refs:
            raise InvalidParameterException(INSTANCES_EMPTY)
        if len(refs) > MAX_STATE_UPDATE:
            raise InvalidParameterException(f"containerInstances can have at most {MAX_STATE_UPDATE} items.")
        changed, failures = [], []
        with self.db.transaction():
            for ref in refs:
                doc = self._instance_by_ref(ctx, name, ref)
                if doc is None or doc["status"] not in ("ACTIVE", "DRAINING"):
                    failures.append({"arn": self._instance_ref_arn(ctx, name, ref), "reason": "MISSING"})
                    continue
                if doc["status"] != status:
                    doc["status"] = status
                    doc["version"] = int(doc.get("version", 0)) + 1
                    ci_store.put(self.db, ctx.account, ctx.region, name, doc)
                changed.append(doc)
        return {"containerInstances": [self._instance_view(d, ()) for d in changed], "failures": failures}

    def deregister_container_instance(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        cluster = self.get_cluster(ctx, params.get("cluster"))
        name = cluster["clusterName"]
        doc = self._instance_by_ref(ctx, name, params["containerInstance"])
        if doc is None or doc["status"] == "INACTIVE":
            raise InvalidParameterException(INSTANCE_NOT_FOUND)
        arn = doc["containerInstanceArn"]
        live = [t for t in task_store.on_instance(self.db, arn) if t["desiredStatus"] == "RUNNING"]
        if live and not params.get("force"):
            raise InvalidParameterException(
                f"{RUNNING_TASKS} {len(live)} task(s) still run on it; stop them first or deregister with force."
            )
        now = self.now()
        with self.db.transaction():
            for task in live:
                # §3.6: forced deregistration stops the instance's tasks with this reason.
                task_store.request_stop(
                    self.db,
                    task["taskArn"],
                    task_store.StopRequest(StopCode.USER_INITIATED, FORCED_DEREGISTRATION_REASON, now),
                )
            doc["status"] = "INACTIVE"
            doc["agentConnected"] = False
            doc["version"] = int(doc.get("version", 0)) + 1
            ci_store.put(self.db, ctx.account, ctx.region, name, doc)
        return {"containerInstance": self._instance_view(doc, ())}

    # -- helpers ---------------------------------------------------------------------------------

    def _facts(self, ctx: RequestContext, cluster: str, arns: list[str], names: set[str]) -> dict[str, PlainFacts]:
        view = placement_store.cluster_view(self.db, ctx.account, ctx.region, cluster, names)
        out: dict[str, PlainFacts] = {}
        for arn in arns:
            inst = view.instance(arn)
            if inst is not None:
                out[arn] = PlainFacts(
                    inst.attributes,
                    inst.agent_connected,
                    inst.ec2_instance_id,
                    inst.agent_version,
                    inst.running_tasks_count,
                    inst.registered_at,
                    inst.task_groups,
                )
                continue
            doc = ci_store.get(self.db, ctx.account, ctx.region, cluster, arn.rsplit("/", 1)[1]) or {}
            attributes = {a["name"]: a.get("value") for a in ci_store.attributes(self.db, arn)}
            out[arn] = PlainFacts(
                attributes,
                bool(doc.get("agentConnected")),
                str(doc.get("ec2InstanceId") or ""),
                str((doc.get("versionInfo") or {}).get("agentVersion") or ""),
                0,
                float(doc.get("registeredAt") or 0.0),
                {},
            )
        return out

    def _registered_instance(
        self, ctx: RequestContext, cluster: str, arn: str | None, ec2_id: str | None
    ) -> dict[str, Any] | None:
        """The instance a re-registration refers to (by ARN, or by its EC2 instance id)."""
        if arn:
            doc = self._instance_by_ref(ctx, cluster, arn)
            if doc is None:
                raise InvalidParameterException(INSTANCE_NOT_FOUND)
            if doc["status"] == "INACTIVE":
                raise ClientException(INSTANCE_INACTIVE.format(id=arn.rsplit("/", 1)[-1]))
            return doc
        if ec2_id:
            return ci_store.by_ec2_instance(self.db, ctx.account, ctx.region, cluster, ec2_id)
        return None

    def _instance_by_ref(self, ctx: RequestContext, cluster: str, ref: str) -> dict[str, Any] | None:
        instance_id = self.ref_id(ctx, ref, "container-instance", cluster=cluster, lengths=(1, 2))
        if instance_id is None:
            return None
        return ci_store.get(self.db, ctx.account, ctx.region, cluster, instance_id)

    @staticmethod
    def _instance_ref_arn(ctx: RequestContext, cluster: str, ref: str) -> str:
        return ref if ref.startswith("arn:") else container_instance_arn(ctx.region, ctx.account, cluster, ref)

    def _instance_view(self, doc: dict[str, Any], include: tuple[str, ...]) -> dict[str, Any]:
        """DescribeContainerInstances' shape: remaining resources and counts from the placed tasks."""
        arn = doc["containerInstanceArn"]
        view = {k: v for k, v in doc.items() if k != "healthStatus"}
        usage = ci_store.usage(self.db, arn)
        registered = {r["name"]: r for r in doc.get("registeredResources") or ()}
        remaining = []
        for resource in doc.get("registeredResources") or ():
            item = dict(resource)
            if resource["name"] == "CPU":
                item["integerValue"] = int(resource.get("integerValue", 0)) - usage.cpu
            elif resource["name"] == "MEMORY":
                item["integerValue"] = int(resource.get("integerValue", 0)) - usage.memory
            elif resource["name"] in ("PORTS", "PORTS_UDP"):
                used = usage.tcp_ports if resource["name"] == "PORTS" else usage.udp_ports
                item["stringSetValue"] = list(registered[resource["name"]].get("stringSetValue", ())) + [
                    str(p) for p in sorted(used)
                ]
            remaining.append(item)
        view["remainingResources"] = remaining
        view["runningTasksCount"] = usage.running
        view["pendingTasksCount"] = usage.pending
        view["attributes"] = ci_store.attributes(self.db, arn)
        view["tags"] = self.tags_of(arn) if "TAGS" in include else []
        if "CONTAINER_INSTANCE_HEALTH" in include:
            view["healthStatus"] = doc.get("healthStatus")
        return view


def _identity(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidParameterException(IDENTITY_NOT_JSON) from None
    return data if isinstance(data, dict) else {}


def _ec2_instance_id() -> str:
    return "i-" + secrets.token_hex(9)[:17]


def _zone(region: str, ec2_id: str) -> str:
    """A stable zone for a virtual instance without an identity document (§5.1 local model)."""
    return region + "abc"[int(hashlib.sha256(ec2_id.encode()).hexdigest(), 16) % 3]


def _resources(given: list[dict[str, Any]] | None, kind: InstanceType | None = None) -> list[dict[str, Any]]:
    """``totalResources`` with ECS's defaults for what the agent did not report (§5.1): the instance
    type's CPU, memory and GPUs when the identity document names a known type."""
    defaults: dict[str, dict[str, Any]] = {
        "CPU": {"name": "CPU", "type": "INTEGER", "integerValue": kind.cpu_units if kind else DEFAULT_CPU},
        "MEMORY": {"name": "MEMORY", "type": "INTEGER", "integerValue": kind.task_memory if kind else DEFAULT_MEMORY},
        "PORTS": {"name": "PORTS", "type": "STRINGSET", "stringSetValue": list(RESERVED_TCP_PORTS)},
        "PORTS_UDP": {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
    }
    if kind is not None and kind.gpus:
        gpu_ids = [
            f"GPU-{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}" for _ in range(kind.gpus)
        ]
        defaults["GPU"] = {"name": "GPU", "type": "STRINGSET", "stringSetValue": gpu_ids}
    for item in given or ():
        if not item.get("name") or item.get("type", "INTEGER") not in RESOURCE_TYPES:
            raise InvalidParameterException(RESOURCE_INVALID.format(resource=orjson.dumps(item).decode()))
        defaults[item["name"]] = dict(item)
    out = []
    for item in defaults.values():
        out.append({"doubleValue": 0.0, "longValue": 0, "integerValue": 0, **item})
    return out


def _built_in_attributes(identity: dict[str, Any], zone: str) -> list[tuple[str, str | None]]:
    values: list[tuple[str, str | None]] = [
        ("ecs.ami-id", str(identity.get("imageId") or DEFAULT_AMI)),
        ("ecs.availability-zone", zone),
        ("ecs.instance-type", str(identity.get("instanceType") or DEFAULT_INSTANCE_TYPE)),
        ("ecs.os-type", "linux"),
        ("ecs.os-family", "LINUX"),
        ("ecs.cpu-architecture", "arm64" if str(identity.get("architecture")) == "arm64" else "x86_64"),
    ]
    values += [(name, None) for name in CAPABILITIES]
    return values
