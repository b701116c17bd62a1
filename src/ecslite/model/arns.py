"""ECS ARNs in the long format, and parsing of the references users pass (name, id or ARN)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str  # everything after the fifth colon, e.g. "task/cluster/0123…"

    @property
    def resource_type(self) -> str:
        return self.resource.split("/", 1)[0].split(":", 1)[0]

    @property
    def resource_path(self) -> list[str]:
        """The parts after the resource type: ``task/c/id`` → ``["c", "id"]``."""
        rest = self.resource.split("/", 1)
        return rest[1].split("/") if len(rest) == 2 else []


def parse_arn(text: str) -> Arn | None:
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[5]:
        return None
    return Arn(parts[1], parts[2], parts[3], parts[4], parts[5])


def _ecs(region: str, account: str, resource: str) -> str:
    return f"arn:aws:ecs:{region}:{account}:{resource}"


def cluster_arn(region: str, account: str, name: str) -> str:
    return _ecs(region, account, f"cluster/{name}")


def service_arn(region: str, account: str, cluster: str, name: str) -> str:
    return _ecs(region, account, f"service/{cluster}/{name}")


def task_arn(region: str, account: str, cluster: str, task_id: str) -> str:
    return _ecs(region, account, f"task/{cluster}/{task_id}")


def container_arn(region: str, account: str, cluster: str, task_id: str, container_id: str) -> str:
    return _ecs(region, account, f"container/{cluster}/{task_id}/{container_id}")


def container_instance_arn(region: str, account: str, cluster: str, instance_id: str) -> str:
    return _ecs(region, account, f"container-instance/{cluster}/{instance_id}")


def task_definition_arn(region: str, account: str, family: str, revision: int) -> str:
    return _ecs(region, account, f"task-definition/{family}:{revision}")


def capacity_provider_arn(region: str, account: str, name: str) -> str:
    return _ecs(region, account, f"capacity-provider/{name}")
