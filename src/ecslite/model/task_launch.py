"""How a task is shaped at launch and what its containers get (spec/ecs.md §2.11, §3.7, §9.1, §13.1).

Pure functions shared by the launchers (the provider at RunTask/StartTask, the service scheduler
for a deployment's tasks), which build the task document once through :class:`LaunchTemplate`
and :func:`launch_request`, and by the task controller, which turns the stored snapshot into
runtime specs. Ids that the runtime will use (``runtimeId``, metadata tokens, ENI ids) are chosen
here at launch, so a retried step of the controller finds the same container instead of creating
a second one.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecslite.model.task_placement import Demand

METADATA_HOST = "169.254.170.2"
# ECS adds these labels to every container it runs (§2.4 dockerLabels).
LABEL_CLUSTER = "com.amazonaws.ecs.cluster"
LABEL_CONTAINER_NAME = "com.amazonaws.ecs.container-name"
LABEL_TASK_ARN = "com.amazonaws.ecs.task-arn"
LABEL_FAMILY = "com.amazonaws.ecs.task-definition-family"
LABEL_REVISION = "com.amazonaws.ecs.task-definition-version"
FARGATE_DEFAULT_STORAGE_GIB = 20
FARGATE_PLATFORM_VERSIONS = {"LATEST": "1.4.0", "1.4.0": "1.4.0", "1.3.0": "1.3.0"}


def new_task_id() -> str:
    return uuid.uuid4().hex


def runtime_id(task_id: str, container: str, *, fargate: bool) -> str:
    """Fargate shows ``<task-id>-<10 digits>``; EC2 shows a 64-hex Docker id (§3.7)."""
    digest = hashlib.sha256(f"{task_id}/{container}".encode()).hexdigest()
    if fargate:
        return f"{task_id}-{int(digest[:12], 16) % 9_000_000_000 + 1_000_000_000}"
    return digest


def metadata_token(runtime: str, *, fargate: bool) -> str:
    """The path token of the metadata endpoint: Fargate uses the runtime id, the EC2 agent a random id."""
    return runtime if fargate else f"{uuid.uuid4().hex}-{secrets.randbelow(9_000_000_000) + 1_000_000_000}"


def eni_id() -> str:
    return "eni-" + secrets.token_hex(9)[:17]


def private_dns_name(region: str, address: str) -> str:
    """EC2's private DNS name of an address.

    ``ip-10-0-1-23.ec2.internal`` in us-east-1, ``ip-10-0-1-23.<region>.compute.internal`` elsewhere.
    """
    host = "ip-" + address.replace(".", "-")
    return f"{host}.ec2.internal" if region == "us-east-1" else f"{host}.{region}.compute.internal"


# -- containers --------------------------------------------------------------------------------


def _env_list_to_dict(items: Sequence[Mapping[str, str]] | None) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in items or () if item.get("name")}


def container_snapshot(definition: Mapping[str, Any], override: Mapping[str, Any] | None) -> dict[str, Any]:
    """One container as it will run: the definition with its override applied (§2.11).

    ``command`` replaces, ``environment`` merges by name (override wins), ``environmentFiles`` and
    cpu/memory values replace. Fields are read defensively with ECS's defaults (``essential`` true,
    ``cpu`` 0); the §2.4/§2.10 settings the runtime applies (``user``, ``workingDirectory``,
    ``hostname``, ``ulimits``, ``initProcessEnabled``, ``readonlyRootFilesystem``) are kept as given.
    """
    override = override or {}
    environment = _env_list_to_dict(definition.get("environment"))
    environment.update(_env_list_to_dict(override.get("environment")))
    snapshot = {
        "name": definition["name"],
        "image": definition.get("image", ""),
        "essential": definition.get("essential", True) is not False,
        "entryPoint": list(definition.get("entryPoint") or ()),
        "command": list(override["command"] if "command" in override else definition.get("command") or ()),
        "environment": environment,
        "environmentFiles": list(override.get("environmentFiles") or definition.get("environmentFiles") or ()),
        "dependsOn": list(definition.get("dependsOn") or ()),
        "healthCheck": definition.get("healthCheck"),
        "stopTimeout": definition.get("stopTimeout"),
        "startTimeout": definition.get("startTimeout"),
        "cpu": int(override.get("cpu", definition.get("cpu") or 0)),
        "memory": override.get("memory", definition.get("memory")),
        "memoryReservation": override.get("memoryReservation", definition.get("memoryReservation")),
        "dockerLabels": dict(definition.get("dockerLabels") or {}),
        "user": definition.get("user"),
        "workingDirectory": definition.get("workingDirectory"),
        "interactive": bool(definition.get("interactive", False)),
        "pseudoTerminal": bool(definition.get("pseudoTerminal", False)),
        "portMappings": list(definition.get("portMappings") or ()),
        "hostname": definition.get("hostname"),
        "ulimits": [dict(u) for u in definition.get("ulimits") or ()],
        "initProcessEnabled": bool((definition.get("linuxParameters") or {}).get("initProcessEnabled", False)),
        "readonlyRootFilesystem": bool(definition.get("readonlyRootFilesystem", False)),
        "extraHosts": [dict(h) for h in definition.get("extraHosts") or ()],
        "logConfiguration": dict(definition.get("logConfiguration") or {}) or None,
        # §2.8: resolved when the container starts (control.task_docs.container_secrets), never stored.
        "secrets": [dict(s) for s in definition.get("secrets") or ()],
    }
    return snapshot


def ecs_labels(task: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, str]:
    """The user's dockerLabels plus the ones ECS adds (theirs cannot be overridden by the user)."""
    labels = {str(k): str(v) for k, v in (container.get("dockerLabels") or {}).items()}
    labels.update(
        {
            LABEL_CLUSTER: task["clusterArn"] if task.get("fargate") else task["clusterName"],
            LABEL_CONTAINER_NAME: container["name"],
            LABEL_TASK_ARN: task["taskArn"],
            LABEL_FAMILY: task["family"],
            LABEL_REVISION: str(task["revision"]),
        }
    )
    return labels


def injected_environment(task: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, str]:
    """The variables ECS puts into every container (§9.1), before the user's own."""
    token = container["metadataToken"]
    env = {
        "ECS_CONTAINER_METADATA_URI_V4": f"http://{METADATA_HOST}/v4/{token}",
        "ECS_CONTAINER_METADATA_URI": f"http://{METADATA_HOST}/v3/{token}",
        "ECS_AGENT_URI": f"http://{METADATA_HOST}/api/{token}",
        "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE" if task.get("fargate") else "AWS_ECS_EC2",
    }
    if task.get("fargate"):
        env["AWS_REGION"] = task["region"]
        env["AWS_DEFAULT_REGION"] = task["region"]
    if task.get("credentialsId"):
        env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = f"/v2/credentials/{task['credentialsId']}"
    if (container.get("logConfiguration") or {}).get("logDriver") == "awsfirelens":
        # §9.1: the task's log router; every container of an ecslite task shares its network namespace.
        env["FLUENT_HOST"] = "127.0.0.1"
        env["FLUENT_PORT"] = "24224"
    return env


def container_environment(task: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, str]:
    """What the process sees: ECS's variables, then the user's (a user value wins, as §2.8 prefers)."""
    env = injected_environment(task, container)
    env.update(container.get("environment") or {})
    return env


# -- resources ---------------------------------------------------------------------------------


def container_memory(container: Mapping[str, Any]) -> int:
    """MiB a container reserves for placement: ``memoryReservation`` when set, else ``memory`` (§5.1)."""
    value = container.get("memoryReservation") or container.get("memory") or 0
    return int(value)


def task_size(
    task_cpu: str | None, task_memory: str | None, containers: Sequence[Mapping[str, Any]]
) -> tuple[int, int]:
    """CPU units and MiB the task reserves: task-level values, else the sums over its containers."""
    cpu = int(task_cpu) if task_cpu and str(task_cpu).isdigit() else sum(int(c.get("cpu") or 0) for c in containers)
    memory = (
        int(task_memory) if task_memory and str(task_memory).isdigit() else sum(container_memory(c) for c in containers)
    )
    return cpu, memory


def _units(value: Any) -> int | None:
    """A task-level cpu or memory value as a number, ``None`` when the definition gives none."""
    return int(value) if value and str(value).isdigit() else None


def port_key(container: str, port: int, protocol: str) -> str:
    return f"{container}:{port}/{protocol}"


def host_ports(
    network_mode: str, containers: Sequence[Mapping[str, Any]]
) -> tuple[list[int], list[int], list[tuple[str, str]]]:
    """Static TCP ports, static UDP ports, and the mappings that need a dynamic host port.

    ``host`` mode binds each container port on the host; ``bridge`` binds ``hostPort`` (0 or
    absent = dynamic); ``awsvpc``/``none`` use no host ports (§2.5). Dynamic mappings come back
    as ``(port_key, protocol)``.
    """
    tcp: list[int] = []
    udp: list[int] = []
    dynamic: list[tuple[str, str]] = []
    if network_mode not in ("bridge", "host"):
        return tcp, udp, dynamic
    for container in containers:
        for mapping in container.get("portMappings") or ():
            if mapping.get("containerPort") is None:
                continue
            protocol = mapping.get("protocol", "tcp")
            port = mapping["containerPort"] if network_mode == "host" else mapping.get("hostPort") or 0
            if port:
                (udp if protocol == "udp" else tcp).append(int(port))
            else:
                dynamic.append((port_key(container["name"], mapping["containerPort"], protocol), protocol))
    return tcp, udp, dynamic


def network_bindings(
    network_mode: str, container: Mapping[str, Any], dynamic: Mapping[str, int]
) -> list[dict[str, Any]]:
    """``networkBindings`` of a bridge/host container; ``dynamic`` maps ``<port>/<protocol>`` to its host port."""
    out: list[dict[str, Any]] = []
    if network_mode not in ("bridge", "host"):
        return out
    for mapping in container.get("portMappings") or ():
        port = mapping.get("containerPort")
        if port is None:
            continue
        protocol = mapping.get("protocol", "tcp")
        if network_mode == "host":
            host = port
        else:
            host = mapping.get("hostPort") or dynamic.get(port_key(container["name"], port, protocol), 0)
        out.append({"bindIP": "0.0.0.0", "containerPort": port, "hostPort": host, "protocol": protocol})
    return out


# -- the task document -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    """Everything a new task is built from, already validated by the provider."""

    account: str
    region: str
    cluster_name: str
    cluster_arn: str
    definition: Mapping[str, Any]
    launch_type: str
    now: float
    task_id: str = field(default_factory=new_task_id)
    capacity_provider: str | None = None
    overrides: Mapping[str, Any] | None = None
    subnet: str | None = None
    security_groups: tuple[str, ...] = ()
    assign_public_ip: str = "DISABLED"
    platform_version: str | None = None
    started_by: str | None = None
    group: str | None = None
    enable_execute_command: bool = False
    container_instance_arn: str | None = None
    availability_zone: str | None = None
    dynamic_ports: Mapping[str, int] = field(default_factory=dict)
    vpc_id: str | None = None
    bridge_pool: str | None = None  # the host's bridge-mode range (bridge network mode only)
    ec2_instance_id: str | None = None
    service_name: str | None = None  # the service that launched the task (ListTasks serviceName)


def override_for(overrides: Mapping[str, Any] | None, name: str) -> Mapping[str, Any] | None:
    for item in (overrides or {}).get("containerOverrides") or ():
        if item.get("name") == name:
            found: Mapping[str, Any] = item
            return found
    return None


def build_task(request: LaunchRequest) -> dict[str, Any]:
    """The stored task document of a new task: the API shape (§3.7) plus ``_spec`` (see store.tasks)."""
    definition = request.definition
    fargate = request.launch_type == "FARGATE"
    network_mode = definition.get("networkMode") or ("awsvpc" if fargate else "bridge")
    task_arn = f"arn:aws:ecs:{request.region}:{request.account}:task/{request.cluster_name}/{request.task_id}"
    overrides = request.overrides or {}
    snapshots = [
        container_snapshot(c, override_for(overrides, c["name"])) for c in definition.get("containerDefinitions") or ()
    ]
    for snapshot in snapshots:
        snapshot["runtimeId"] = runtime_id(request.task_id, snapshot["name"], fargate=fargate)
        snapshot["metadataToken"] = metadata_token(snapshot["runtimeId"], fargate=fargate)
        snapshot["containerId"] = str(uuid.uuid4())
        snapshot["networkBindings"] = network_bindings(network_mode, snapshot, request.dynamic_ports)
    task_cpu = overrides.get("cpu") or definition.get("cpu")
    task_memory = overrides.get("memory") or definition.get("memory")
    cpu, memory = task_size(task_cpu, task_memory, snapshots)
    tcp, udp, _ = host_ports(network_mode, snapshots)
    task_role = overrides.get("taskRoleArn") or definition.get("taskRoleArn")
    spec: dict[str, Any] = {
        "taskId": request.task_id,
        "taskArn": task_arn,
        "account": request.account,
        "region": request.region,
        "clusterName": request.cluster_name,
        "clusterArn": request.cluster_arn,
        "family": definition["family"],
        "revision": definition["revision"],
        "networkMode": network_mode,
        "launchType": request.launch_type,
        "fargate": fargate,
        "subnetId": request.subnet,
        "vpcId": request.vpc_id,
        "bridgePool": request.bridge_pool if network_mode == "bridge" else None,
        "ec2InstanceId": request.ec2_instance_id,
        "serviceName": request.service_name,
        "securityGroups": list(request.security_groups),
        "assignPublicIp": request.assign_public_ip,
        "taskRoleArn": task_role,
        "executionRoleArn": overrides.get("executionRoleArn") or definition.get("executionRoleArn"),
        "credentialsId": str(uuid.uuid4()) if task_role else None,
        # Task-level limits as given (Fargate always has them): the sandbox enforces them (§13.1).
        "limits": {"cpu": _units(task_cpu), "memory": _units(task_memory)},
        "reservation": {
            "cpu": cpu,
            "memory": memory,
            "tcpPorts": tcp + [p for k, p in request.dynamic_ports.items() if k.endswith("/tcp")],
            "udpPorts": udp + [p for k, p in request.dynamic_ports.items() if k.endswith("/udp")],
        },
        "containers": snapshots,
    }
    doc: dict[str, Any] = {
        "taskArn": task_arn,
        "clusterArn": request.cluster_arn,
        "taskDefinitionArn": definition["taskDefinitionArn"],
        "overrides": _echoed_overrides(overrides, snapshots),
        "lastStatus": "PROVISIONING" if network_mode == "awsvpc" else "PENDING",
        "desiredStatus": "RUNNING",
        "cpu": str(task_cpu) if task_cpu else str(cpu),
        "memory": str(task_memory) if task_memory else str(memory),
        "containers": [_container_view(task_arn, request, s) for s in snapshots],
        "version": 1,
        "createdAt": request.now,
        "group": request.group or f"family:{definition['family']}",
        "launchType": request.launch_type,
        "attachments": [],
        "attributes": [{"name": "ecs.cpu-architecture", "value": _architecture(definition)}],
        "enableExecuteCommand": request.enable_execute_command,
        "healthStatus": "UNKNOWN",
        "inferenceAccelerators": [],
        "tags": [],
        "_spec": spec,
    }
    if request.started_by:
        doc["startedBy"] = request.started_by
    if request.availability_zone:
        doc["availabilityZone"] = request.availability_zone
    if request.container_instance_arn:
        doc["containerInstanceArn"] = request.container_instance_arn
    if request.capacity_provider:
        doc["capacityProviderName"] = request.capacity_provider
    if fargate:
        storage = (overrides.get("ephemeralStorage") or definition.get("ephemeralStorage") or {}).get("sizeInGiB")
        doc["platformVersion"] = request.platform_version or FARGATE_PLATFORM_VERSIONS["LATEST"]
        doc["platformFamily"] = "Linux"
        doc["ephemeralStorage"] = {"sizeInGiB": storage or FARGATE_DEFAULT_STORAGE_GIB}
        doc["fargateEphemeralStorage"] = {"sizeInGiB": storage or FARGATE_DEFAULT_STORAGE_GIB}
    if network_mode == "awsvpc":
        spec["attachmentId"] = str(uuid.uuid4())
        spec["eniId"] = eni_id()
        doc["attachments"] = [
            {
                "id": spec["attachmentId"],
                "type": "ElasticNetworkInterface",
                "status": "PRECREATED",
                "details": [{"name": "subnetId", "value": request.subnet or ""}],
            }
        ]
    return doc


def _architecture(definition: Mapping[str, Any]) -> str:
    arch = str((definition.get("runtimePlatform") or {}).get("cpuArchitecture") or "X86_64")
    return "arm64" if arch.upper() == "ARM64" else "x86_64"


def _echoed_overrides(overrides: Mapping[str, Any], snapshots: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``task.overrides``: every container listed, at least with its name (§2.11)."""
    given = {item.get("name"): item for item in overrides.get("containerOverrides") or () if item.get("name")}
    echoed: dict[str, Any] = {
        "containerOverrides": [dict(given.get(s["name"]) or {"name": s["name"]}) for s in snapshots],
        "inferenceAcceleratorOverrides": list(overrides.get("inferenceAcceleratorOverrides") or ()),
    }
    for key in ("cpu", "memory", "executionRoleArn", "taskRoleArn", "ephemeralStorage"):
        if overrides.get(key) is not None:
            echoed[key] = overrides[key]
    return echoed


def _container_view(task_arn: str, request: LaunchRequest, snapshot: Mapping[str, Any]) -> dict[str, Any]:
    arn_prefix = f"arn:aws:ecs:{request.region}:{request.account}:container/{request.cluster_name}"
    view: dict[str, Any] = {
        "containerArn": f"{arn_prefix}/{request.task_id}/{snapshot['containerId']}",
        "taskArn": task_arn,
        "name": snapshot["name"],
        "image": snapshot["image"],
        "lastStatus": "PENDING",
        "networkBindings": [],
        "networkInterfaces": [],
        "healthStatus": "UNKNOWN",
        "cpu": str(snapshot.get("cpu") or 0),
    }
    if snapshot.get("memory"):
        view["memory"] = str(snapshot["memory"])
    if snapshot.get("memoryReservation"):
        view["memoryReservation"] = str(snapshot["memoryReservation"])
    if request.enable_execute_command:
        view["managedAgents"] = [{"name": "ExecuteCommandAgent", "lastStatus": "PENDING"}]
    return view


# -- launchers: what one launch shares, and the tasks it makes -----------------------------------


@dataclass(frozen=True, slots=True)
class LaunchTemplate:
    """What every task of one launch shares (a RunTask/StartTask request, or a service deployment),
    already validated: the definition, its network, overrides, grouping and tags."""

    definition: Mapping[str, Any]
    network_mode: str
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    assign_public_ip: str = "DISABLED"
    overrides: Mapping[str, Any] = field(default_factory=dict)
    started_by: str | None = None
    group: str | None = None
    enable_execute_command: bool = False
    tags: tuple[tuple[str, str], ...] = ()
    subnet_zones: Mapping[str, str] = field(default_factory=dict)  # subnet id → its availability zone
    vpc_id: str | None = None
    service_name: str | None = None


@dataclass(frozen=True, slots=True)
class TaskTarget:
    """Where one task of a launch goes: the cluster, the launch type or capacity provider, and the
    subnet (Fargate) or container instance (EC2) placement chose."""

    account: str
    region: str
    cluster_name: str
    cluster_arn: str
    launch_type: str
    now: float
    capacity_provider: str | None = None
    subnet: str | None = None
    availability_zone: str | None = None
    container_instance_arn: str | None = None
    ec2_instance_id: str | None = None
    dynamic_ports: Mapping[str, int] = field(default_factory=dict)
    platform_version: str | None = None
    bridge_pool: str | None = None


def launch_request(template: LaunchTemplate, target: TaskTarget) -> LaunchRequest:
    return LaunchRequest(
        account=target.account,
        region=target.region,
        cluster_name=target.cluster_name,
        cluster_arn=target.cluster_arn,
        definition=template.definition,
        launch_type=target.launch_type,
        now=target.now,
        capacity_provider=target.capacity_provider,
        overrides=template.overrides,
        subnet=target.subnet,
        security_groups=template.security_groups,
        assign_public_ip=template.assign_public_ip,
        platform_version=target.platform_version,
        started_by=template.started_by,
        group=template.group,
        enable_execute_command=template.enable_execute_command,
        container_instance_arn=target.container_instance_arn,
        availability_zone=target.availability_zone,
        dynamic_ports=target.dynamic_ports,
        vpc_id=template.vpc_id,
        bridge_pool=target.bridge_pool if template.network_mode == "bridge" else None,
        ec2_instance_id=target.ec2_instance_id,
        service_name=template.service_name,
    )


def template_demand(template: LaunchTemplate) -> Demand:
    """CPU units, MiB, static host ports and dynamic port mappings one task of the launch needs."""
    definition = template.definition
    snapshots = [
        container_snapshot(c, override_for(template.overrides, c["name"]))
        for c in definition.get("containerDefinitions") or ()
    ]
    cpu, memory = task_size(
        template.overrides.get("cpu") or definition.get("cpu"),
        template.overrides.get("memory") or definition.get("memory"),
        snapshots,
    )
    tcp, udp, dynamic = host_ports(template.network_mode, snapshots)
    return Demand(cpu, memory, tuple(tcp), tuple(udp), tuple(dynamic))


@dataclass(frozen=True, slots=True)
class TagSources:
    """Where a launched task's tags come from (§1.6): the request (or the service's propagation),
    the definition's tags, and ECS-managed ones."""

    given: Sequence[tuple[str, str]] = ()
    propagate: str | None = None  # TASK_DEFINITION | SERVICE | NONE
    definition_tags: Sequence[tuple[str, str]] = ()
    service_tags: Sequence[tuple[str, str]] = ()
    managed: bool = False
    cluster_name: str = ""
    service_name: str | None = None


def launch_tags(sources: TagSources) -> tuple[tuple[str, str], ...]:
    """The given tags, then the propagated ones where no key clashes, then ``aws:ecs:clusterName``
    (and ``aws:ecs:serviceName`` for service tasks) when ECS-managed tags are on."""
    tags = dict(sources.given)
    if sources.propagate == "TASK_DEFINITION":
        for key, value in sources.definition_tags:
            tags.setdefault(key, value)
    elif sources.propagate == "SERVICE":
        for key, value in sources.service_tags:
            tags.setdefault(key, value)
    if sources.managed:
        tags["aws:ecs:clusterName"] = sources.cluster_name
        if sources.service_name:
            tags["aws:ecs:serviceName"] = sources.service_name
    return tuple(tags.items())
