"""The task metadata endpoint's documents, v4 and v3 (spec/ecs.md §9.2), built from the stored task.

Pure functions: the listener (:mod:`ecslite.agent.listener`) finds the task and container a path
token names and passes what it read; nothing here touches the store or the runtime.

Shapes follow the ECS agent's responses (``ecs-agent/tmds/handlers/v4/state``, v2 beneath them):

- container: ``DockerId``, ``Name``, ``DockerName``, ``Image``, ``ImageID``, ``Ports``, ``Labels``,
  ``DesiredStatus``, ``KnownStatus``, ``ExitCode``, ``Limits {CPU, Memory}``, ``CreatedAt``,
  ``StartedAt``, ``FinishedAt``, ``Type``, ``Networks``, ``Health``; v4 adds ``LogDriver``,
  ``LogOptions``, ``ContainerARN``, ``Snapshotter`` and the network interface's properties
  (``AttachmentIndex``, ``MACAddress``, ``IPv4SubnetCIDRBlock``, ``DomainNameServers``,
  ``DomainNameSearchList``, ``PrivateDNSName``, ``SubnetGatewayIpv4Address``);
- task: ``Cluster`` (the ARN on Fargate, the name on EC2), ``TaskARN``, ``Family``, ``Revision``
  (a string), ``DesiredStatus``, ``KnownStatus``, ``Limits`` (CPU in vCPUs, Memory in MiB),
  ``PullStartedAt``, ``PullStoppedAt``, ``ExecutionStoppedAt``, ``AvailabilityZone``,
  ``Containers``; v4 adds ``ServiceName``, ``VPCID`` (EC2), ``LaunchType``, ``ClockDrift``,
  ``EphemeralStorageMetrics`` (Fargate), ``FaultInjectionEnabled``; ``/taskWithTags`` adds
  ``TaskTags`` and, on EC2, ``ContainerInstanceTags``.

Timestamps are RFC 3339 in UTC with nanoseconds, as Go prints them; absent values are left out
(``omitempty``), never sent as ``null``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ecslite.control import task_network
from ecslite.model.task_launch import ecs_labels, private_dns_name

Doc = dict[str, Any]

# The agent's known statuses (apitaskstatus / apicontainerstatus), by ECS lastStatus (§3.1).
_TASK_KNOWN = {
    "PROVISIONING": "NONE",
    "PENDING": "NONE",
    "ACTIVATING": "RUNNING",
    "RUNNING": "RUNNING",
    "DEACTIVATING": "RUNNING",
    "STOPPING": "RUNNING",
    "DEPROVISIONING": "STOPPED",
    "STOPPED": "STOPPED",
}
FARGATE_SNAPSHOTTER = "overlayfs"


def rfc3339(epoch: float | None) -> str | None:
    """``2024-11-24T06:30:02.410218817Z``: UTC, nine fractional digits (Go's ``time.Time`` in JSON)."""
    if epoch is None:
        return None
    seconds = int(epoch)
    nanos = round((epoch - seconds) * 1e9)
    if nanos >= 1_000_000_000:
        seconds, nanos = seconds + 1, nanos - 1_000_000_000
    base = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}Z" if nanos else f"{base}Z"


@dataclass(frozen=True, slots=True)
class ClockDrift:
    error_bound_ms: float
    reference: float
    synchronized: bool

    def document(self) -> dict[str, Any]:
        return {
            "ClockErrorBound": self.error_bound_ms,
            "ReferenceTimestamp": rfc3339(float(int(self.reference))),
            "ClockSynchronizationStatus": "SYNCHRONIZED" if self.synchronized else "NOT_SYNCHRONIZED",
        }


@dataclass(frozen=True, slots=True)
class TaskExtras:
    """What the document needs beyond the stored task: read by the listener when asked."""

    clock_drift: ClockDrift | None = None
    storage_utilized_mib: int | None = None
    task_tags: Mapping[str, str] | None = None
    instance_tags: Mapping[str, str] | None = None


def _compact(doc: dict[str, Any]) -> dict[str, Any]:
    """Go's ``omitempty``: drop unset values (``None``, empty strings, maps and lists)."""
    return {k: v for k, v in doc.items() if v is not None and v != "" and v != [] and v != {}}


def _spec_container(doc: Doc, name: str) -> Doc:
    return next(c for c in doc["_spec"]["containers"] if c["name"] == name)


def _api_container(doc: Doc, name: str) -> Doc:
    return next(c for c in doc["containers"] if c["name"] == name)


def docker_id(doc: Doc, name: str) -> str:
    return str(_api_container(doc, name).get("runtimeId") or _spec_container(doc, name)["runtimeId"])


def docker_name(doc: Doc, name: str) -> str:
    """Fargate shows the container name; the EC2 agent names Docker containers ``ecs-<family>-<rev>-<name>-<id>``."""
    spec = doc["_spec"]
    if spec.get("fargate"):
        return name
    return f"ecs-{spec['family']}-{spec['revision']}-{name}-{docker_id(doc, name)[:20]}"


def container_known_status(doc: Doc, name: str) -> str:
    status = _api_container(doc, name)["lastStatus"]
    if status == "PENDING":
        return "PULLED" if doc.get("pullStoppedAt") is not None else "NONE"
    return str(status)


def _ports(doc: Doc, name: str) -> list[dict[str, Any]]:
    mode = doc["_spec"].get("networkMode")
    container = _api_container(doc, name)
    if mode in ("bridge", "host"):
        return [
            {
                "ContainerPort": b["containerPort"],
                "Protocol": b.get("protocol", "tcp"),
                "HostPort": b.get("hostPort"),
                "HostIp": b.get("bindIP", "0.0.0.0"),
            }
            for b in container.get("networkBindings") or ()
        ]
    if mode == "awsvpc":
        # awsvpc: the agent reports the container port as the host port (v2 response).
        return [
            {"ContainerPort": m["containerPort"], "Protocol": m.get("protocol", "tcp"), "HostPort": m["containerPort"]}
            for m in _spec_container(doc, name).get("portMappings") or ()
            if m.get("containerPort") is not None
        ]
    return []


def _networks(doc: Doc, version: int) -> list[dict[str, Any]]:
    spec = doc["_spec"]
    mode = spec.get("networkMode") or "awsvpc"
    record = task_network.allocated(doc)
    sandbox = (doc.get("_run") or {}).get("sandbox") or {}
    address = (record or {}).get("ipv4") or sandbox.get("privateIpv4")
    if mode == "none":
        return [{"NetworkMode": "none", "IPv4Addresses": []}]
    if mode == "host":
        return [{"NetworkMode": "host", "IPv4Addresses": []}]
    network: dict[str, Any] = {"NetworkMode": mode, "IPv4Addresses": [address] if address else []}
    if version < 4 or mode != "awsvpc" or record is None:
        return [network]
    # v4 adds the interface's properties, for awsvpc only (NetworkInterfaceProperties).
    network.update(
        AttachmentIndex=0,
        MACAddress=record.get("mac"),
        IPv4SubnetCIDRBlock=record.get("subnetCidr"),
        DomainNameServers=list(record.get("dnsServers") or ()),
        DomainNameSearchList=list(record.get("dnsSearch") or ()),
        PrivateDNSName=private_dns_name(spec["region"], address) if address else None,
        SubnetGatewayIpv4Address=f"{record['gateway']}/{record['prefixLength']}" if record.get("gateway") else None,
    )
    return [_compact(network)]


def container_document(doc: Doc, name: str, *, version: int = 4) -> dict[str, Any]:
    """``${ECS_CONTAINER_METADATA_URI_V4}`` (or v3): one container of the task."""
    task = doc["_spec"]
    spec = _spec_container(doc, name)
    api = _api_container(doc, name)
    run = ((doc.get("_run") or {}).get("containers") or {}).get(name) or {}
    memory = spec.get("memory") or 0
    response: dict[str, Any] = {
        "DockerId": docker_id(doc, name),
        "Name": name,
        "DockerName": docker_name(doc, name),
        "Image": spec.get("image", ""),
        "ImageID": api.get("imageDigest", ""),
        "Ports": _ports(doc, name) or None,
        "Labels": ecs_labels(task, spec),
        "DesiredStatus": doc["desiredStatus"],
        "KnownStatus": container_known_status(doc, name),
        "ExitCode": api.get("exitCode"),
        "Limits": {"CPU": float(spec.get("cpu") or 0), "Memory": int(memory)},
        "CreatedAt": rfc3339(run.get("startedAt")),
        "StartedAt": rfc3339(run.get("startedAt")),
        "FinishedAt": rfc3339(run.get("finishedAt")),
        "Type": "NORMAL",
        "Networks": _networks(doc, version),
        "Health": {"status": api.get("healthStatus", "UNKNOWN")} if spec.get("healthCheck") else None,
    }
    if version >= 4:
        log_config = spec.get("logConfiguration") or {}
        response.update(
            LogDriver=log_config.get("logDriver"),
            LogOptions=dict(log_config.get("options") or {}) or None,
            ContainerARN=api.get("containerArn"),
            Snapshotter=FARGATE_SNAPSHOTTER if task.get("fargate") else None,
        )
    required = {"DockerId", "Name", "DockerName", "Image", "ImageID", "DesiredStatus", "KnownStatus", "Limits", "Type"}
    return {k: v for k, v in response.items() if k in required or (v is not None and v != [] and v != {})}


def task_limits(doc: Doc) -> dict[str, Any] | None:
    """Task-level limits: CPU in vCPUs (256 units → 0.25), Memory in MiB; absent when none are set."""
    limits = doc["_spec"].get("limits") or {}
    cpu, memory = limits.get("cpu"), limits.get("memory")
    out: dict[str, Any] = {}
    if cpu:
        out["CPU"] = int(cpu) / 1024
    if memory:
        out["Memory"] = int(memory)
    return out or None


def task_document(
    doc: Doc, *, version: int = 4, extras: TaskExtras | None = None, with_tags: bool = False
) -> dict[str, Any]:
    """``${URI}/task`` (and ``/taskWithTags``): the task and every container."""
    spec = doc["_spec"]
    extras = extras or TaskExtras()
    fargate = bool(spec.get("fargate"))
    response: dict[str, Any] = {
        "Cluster": spec["clusterArn"] if fargate else spec["clusterName"],
        "TaskARN": doc["taskArn"],
        "Family": spec["family"],
        "Revision": str(spec["revision"]),
        "DesiredStatus": doc["desiredStatus"],
        "KnownStatus": _TASK_KNOWN.get(doc["lastStatus"], "NONE"),
        "Containers": [container_document(doc, c["name"], version=version) for c in spec["containers"]],
        "Limits": task_limits(doc),
        "PullStartedAt": rfc3339(doc.get("pullStartedAt")),
        "PullStoppedAt": rfc3339(doc.get("pullStoppedAt")),
        "ExecutionStoppedAt": rfc3339(doc.get("executionStoppedAt")),
        "AvailabilityZone": doc.get("availabilityZone"),
    }
    if with_tags:
        response["TaskTags"] = dict(extras.task_tags or {})
        if not fargate and extras.instance_tags is not None:
            response["ContainerInstanceTags"] = dict(extras.instance_tags)
    if version >= 4:
        response.update(
            ServiceName=spec.get("serviceName"),
            VPCID=None if fargate else spec.get("vpcId"),
            LaunchType=spec.get("launchType"),
            ClockDrift=extras.clock_drift.document() if extras.clock_drift else None,
            EphemeralStorageMetrics=_storage(doc, extras) if fargate else None,
        )
    compact = _compact(response)
    if with_tags:
        compact.setdefault("TaskTags", {})
    for key in ("Cluster", "TaskARN", "Family", "Revision", "KnownStatus"):
        compact.setdefault(key, response[key])
    if version >= 4:
        compact["FaultInjectionEnabled"] = bool(spec.get("enableFaultInjection"))
    return compact


def _storage(doc: Doc, extras: TaskExtras) -> dict[str, int] | None:
    size = (doc.get("ephemeralStorage") or {}).get("sizeInGiB")
    if size is None or extras.storage_utilized_mib is None:
        return None
    return {"Utilized": int(extras.storage_utilized_mib), "Reserved": int(size) * 1024}


def container_names(doc: Doc) -> Sequence[str]:
    return [c["name"] for c in doc["_spec"]["containers"]]
