"""The task definition document ECS stores and returns for a registration (spec/ecs.md §2.2, §2.4, §2.5).

ECS echoes the request with its defaults filled in and a few members computed:

- containers: ``cpu: 0``, ``essential: true``, empty ``portMappings``/``environment``/
  ``mountPoints``/``volumesFrom``/``systemControls``; port mappings get ``protocol: tcp`` and, for
  awsvpc/host, ``hostPort`` equal to ``containerPort``; health checks get their default
  interval/timeout/retries;
- task: ``cpu``/``memory`` as integer strings, ``volumes``/``placementConstraints`` lists (a
  volume with no configuration becomes a task-scoped ``host: {}`` volume), ``compatibilities``
  and ``requiresAttributes`` computed from what the definition uses.

Members appear in the botocore model's order at every level, so the same request always yields
byte-identical output (tools diff definitions). ``networkMode`` is shown only when given, as ECS does.
"""

from __future__ import annotations

import functools
from typing import Any

from botocore.model import Shape

from ecslite.model.task_definitions import COMPATIBILITY_ORDER, Compatibility, NetworkMode
from ecslite.protocol.models import service_model
from ecslite.providers.ecs.task_definition_launch_types import external_problems, fargate_problems
from ecslite.providers.ecs.task_definition_rules import TaskSize, network_mode, required_compatibilities

CONTAINER_LIST_DEFAULTS = ("portMappings", "environment", "mountPoints", "volumesFrom", "systemControls")
HEALTH_CHECK_DEFAULTS = {"interval": 30, "timeout": 5, "retries": 3}
VOLUME_CONFIGURATIONS = (
    "host",
    "dockerVolumeConfiguration",
    "efsVolumeConfiguration",
    "s3filesVolumeConfiguration",
    "fsxWindowsFileServerVolumeConfiguration",
)


def build_document(td: dict[str, Any], size: TaskSize) -> dict[str, Any]:
    """The stored definition for request ``td`` (without tags); the caller adds ARN, revision and status."""
    doc = dict(td)
    doc.pop("tags", None)
    if size.cpu is not None:
        doc["cpu"] = str(size.cpu)
    if size.memory is not None:
        doc["memory"] = str(size.memory)
    mode = network_mode(td)
    doc["containerDefinitions"] = [_container(c, mode) for c in td["containerDefinitions"]]
    doc["volumes"] = [_volume(v) for v in td.get("volumes") or ()]
    doc["placementConstraints"] = list(td.get("placementConstraints") or ())
    doc["compatibilities"] = compatibilities(td, size)
    doc["requiresAttributes"] = [{"name": name} for name in required_attributes(td)]
    return doc


def _container(container: dict[str, Any], mode: str) -> dict[str, Any]:
    out = dict(container)
    out.setdefault("cpu", 0)
    out.setdefault("essential", True)
    for member in CONTAINER_LIST_DEFAULTS:
        out.setdefault(member, [])
    out["portMappings"] = [_port_mapping(m, mode) for m in out["portMappings"]]
    if out.get("healthCheck") is not None:
        out["healthCheck"] = {**HEALTH_CHECK_DEFAULTS, **out["healthCheck"]}
    return out


def _port_mapping(mapping: dict[str, Any], mode: str) -> dict[str, Any]:
    out = dict(mapping)
    out.setdefault("protocol", "tcp")
    if mode in (NetworkMode.AWSVPC, NetworkMode.HOST) and out.get("containerPort") is not None:
        out.setdefault("hostPort", out["containerPort"])
    return out


def _volume(volume: dict[str, Any]) -> dict[str, Any]:
    out = dict(volume)
    if not any(out.get(key) is not None for key in VOLUME_CONFIGURATIONS) and not out.get("configuredAtLaunch"):
        out["host"] = {}  # an empty task-scoped directory shared by the containers that mount it (§2.9)
    return out


def compatibilities(td: dict[str, Any], size: TaskSize) -> list[str]:
    """The launch types ``td`` can run on: EC2 always, the others when their rules hold (§2.2)."""
    found = {Compatibility.EC2}
    if not external_problems(td):
        found.add(Compatibility.EXTERNAL)
    if not fargate_problems(td, size.cpu, size.memory):
        found.add(Compatibility.FARGATE)
    if Compatibility.MANAGED_INSTANCES in required_compatibilities(td):
        found.add(Compatibility.MANAGED_INSTANCES)
    return [str(c) for c in COMPATIBILITY_ORDER if c in found]


# -- requiresAttributes ----------------------------------------------------------------------------------

_ECS = "ecs.capability."
_COM = "com.amazonaws.ecs.capability."


def required_attributes(td: dict[str, Any]) -> list[str]:
    """Container-instance capabilities the definition needs for EC2 placement, sorted by name.

    ecslite's virtual instances advertise every capability, so these matter for fidelity of the
    output and for real agents registered with ecslite, not for local placement.
    """
    names: set[str] = set()
    mode = network_mode(td)
    execution_role = bool(td.get("executionRoleArn"))
    if mode == NetworkMode.AWSVPC:
        names.add(_ECS + "task-eni")
    if td.get("taskRoleArn"):
        names.add(_COM + "task-iam-role")
        if mode == NetworkMode.HOST:
            names.add(_COM + "task-iam-role-network-host")
    if td.get("proxyConfiguration"):
        names.add(_ECS + "aws-appmesh")
    for container in td["containerDefinitions"]:
        names |= _container_attributes(container, execution_role)
    for volume in td.get("volumes") or ():
        if volume.get("efsVolumeConfiguration"):
            names.add(_ECS + "efsAuth")
    return sorted(names)


def _container_attributes(container: dict[str, Any], execution_role: bool) -> set[str]:
    names: set[str] = set()
    if _is_ecr_image(container["image"]):
        names.add(_COM + "ecr-auth")
        if execution_role:
            names.add(_ECS + "execution-role-ecr-pull")
    log = container.get("logConfiguration") or {}
    driver = log.get("logDriver")
    if driver:
        names.add(f"{_COM}logging-driver.{driver}")
        names.add(_COM + ("docker-remote-api.1.19" if driver == "awslogs" else "docker-remote-api.1.18"))
        if driver == "awslogs" and execution_role:
            names.add(_ECS + "execution-role-awslogs")
    if container.get("healthCheck"):
        names.add(_ECS + "container-health-check")
    if container.get("dependsOn") or container.get("startTimeout") is not None or container.get("stopTimeout"):
        names.add(_ECS + "container-ordering")
    names |= _firelens_attributes(container.get("firelensConfiguration"))
    names |= _secret_attributes(container)
    if container.get("repositoryCredentials"):
        names.add(_COM + "private-registry-authentication.secretsmanager")
    if container.get("environmentFiles"):
        names.add(_ECS + "env-files.s3")
    if container.get("dockerLabels"):
        names.add(_COM + "docker-remote-api.1.18")
    return names


def _is_ecr_image(image: str) -> bool:
    registry = image.split("/", 1)[0] if "/" in image else ""
    return ".dkr.ecr." in registry and ".amazonaws.com" in registry


def _firelens_attributes(config: dict[str, Any] | None) -> set[str]:
    if not config:
        return set()
    names = {f"{_ECS}firelens.{config['type']}"}
    file_type = (config.get("options") or {}).get("config-file-type")
    if file_type in ("file", "s3"):
        names.add(f"{_ECS}firelens.options.config.{file_type}")
    return names


def _secret_attributes(container: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for secret in container.get("secrets") or ():
        store = "asm" if ":secretsmanager:" in secret.get("valueFrom", "") else "ssm"
        names.add(f"{_ECS}secrets.{store}.environment-variables")
    for secret in (container.get("logConfiguration") or {}).get("secretOptions") or ():
        store = "asm" if ":secretsmanager:" in secret.get("valueFrom", "") else "ssm"
        names.add(f"{_ECS}secrets.{store}.bootstrap.log-driver")
    return names


# -- member order ------------------------------------------------------------------------------------------


@functools.cache
def _task_definition_shape() -> Shape:
    return service_model("ecs").shape_for("TaskDefinition")


def in_model_order(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with the members of every nested structure in the order the model declares them."""
    ordered: dict[str, Any] = _ordered(_task_definition_shape(), doc)
    return ordered


def _ordered(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = shape.members  # type: ignore[attr-defined]
        out = {key: _ordered(members[key], value[key]) for key in members if key in value}
        out.update((key, item) for key, item in value.items() if key not in members)
        return out
    if kind == "list" and isinstance(value, list):
        member = shape.member  # type: ignore[attr-defined]
        return [_ordered(member, item) for item in value]
    return value
