"""An ECS target of EventBridge Scheduler or an EventBridge rule, as the RunTask request it stands for.

Shared by the ``scheduler`` service's schedules and EventBridge rule targets (``events``): both
carry an ``EcsParameters`` structure beside the target's ``Arn`` (the cluster) and an optional
``Input``, and both start the tasks through ECS's own RunTask. Entry points:

- ``run_task_request(cluster_arn, ecs_parameters, *, started_by, input_text=None) -> dict[str, Any]``
  (pure): the RunTask parameters in ECS's spelling, ready for ``EcsProvider.run_task``.
- ``RunOutcome.of(response)`` / ``RunOutcome.refused(code, message)``: what a RunTask call came to,
  for retry decisions (``ok`` is False when RunTask raised or reported failures).
- ``scheduler_started_by(schedule_name)`` and ``rule_started_by(rule_name)``: the ``startedBy`` each
  service puts on the tasks it starts.

Both services spell ``EcsParameters`` the same way at the top (``TaskDefinitionArn``, ``TaskCount``,
``LaunchType``, ``NetworkConfiguration.awsvpcConfiguration.Subnets`` ...). They differ in ``Tags``:
EventBridge rules take ``[{"Key": k, "Value": v}]``; Scheduler's model declares a list of string
maps, which clients fill as ``[{"key": k, "value": v}]`` (the Terraform provider does); a map of
other keys is read as one tag per entry. All three are accepted here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

# The members of ECS's TaskOverride: an Input holding only these is RunTask's ``overrides``.
# How Scheduler hands ``Input`` to RunTask is not in its API reference; schedules in public
# Terraform code pass ``{"containerOverrides": [...]}`` as the Input of cluster targets for that
# purpose, and EventBridge rules' ECS targets take the same form, so ecslite reads it that way for
# both (unverified beyond that practice).
_OVERRIDE_KEYS = frozenset(
    {
        "containerOverrides",
        "cpu",
        "memory",
        "taskRoleArn",
        "executionRoleArn",
        "ephemeralStorage",
        "inferenceAcceleratorOverrides",
    }
)
# ECS's startedBy alphabet (providers/ecs/tasks.py STARTED_BY); longer values are cut to 128.
_STARTED_BY_OTHER = re.compile(r"[^a-zA-Z0-9_/-]")
_STARTED_BY_MAX = 128

# Scalar members copied under ECS's name when present.
_SCALARS = {
    "LaunchType": "launchType",
    "PlatformVersion": "platformVersion",
    "Group": "group",
    "EnableECSManagedTags": "enableECSManagedTags",
    "EnableExecuteCommand": "enableExecuteCommand",
    "PropagateTags": "propagateTags",
    "ReferenceId": "referenceId",
}


def scheduler_started_by(schedule_name: str) -> str:
    """``startedBy`` of tasks a schedule starts: ``chronos-schedule/<name>``.

    AWS's documentation does not state it; it is what DescribeTasks shows on tasks real schedules
    started, as several independent public notes record it (``chronos-schedule/<schedule name>``).
    A '.' (allowed in schedule names, not in ECS's startedBy) becomes '-': how Scheduler handles
    one is unverified, and ecslite's RunTask would refuse it.
    """
    return _started_by(f"chronos-schedule/{schedule_name}")


def rule_started_by(rule_name: str) -> str:
    """``startedBy`` of tasks an EventBridge rule starts: ``events-rule/<name>`` (unverified)."""
    return _started_by(f"events-rule/{rule_name}")


def _started_by(text: str) -> str:
    return _STARTED_BY_OTHER.sub("-", text)[:_STARTED_BY_MAX]


def run_task_request(
    cluster_arn: str,
    ecs_parameters: Mapping[str, Any],
    *,
    started_by: str,
    input_text: str | None = None,
) -> dict[str, Any]:
    """The RunTask parameters for one invocation of an ECS target (ECS's member names)."""
    request: dict[str, Any] = {
        "cluster": cluster_arn,
        "taskDefinition": ecs_parameters["TaskDefinitionArn"],
        "count": int(ecs_parameters.get("TaskCount") or 1),
        "startedBy": started_by,
    }
    for source, target in _SCALARS.items():
        if ecs_parameters.get(source) is not None:
            request[target] = ecs_parameters[source]
    strategy = ecs_parameters.get("CapacityProviderStrategy")
    if strategy:
        request["capacityProviderStrategy"] = [dict(item) for item in strategy]
    network = _network(ecs_parameters.get("NetworkConfiguration"))
    if network is not None:
        request["networkConfiguration"] = network
    if ecs_parameters.get("PlacementConstraints"):
        request["placementConstraints"] = [dict(c) for c in ecs_parameters["PlacementConstraints"]]
    if ecs_parameters.get("PlacementStrategy"):
        request["placementStrategy"] = [dict(s) for s in ecs_parameters["PlacementStrategy"]]
    tags = _tags(ecs_parameters.get("Tags"))
    if tags:
        request["tags"] = tags
    overrides = overrides_from_input(input_text)
    if overrides is not None:
        request["overrides"] = overrides
    return request


def _network(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    vpc = (config or {}).get("awsvpcConfiguration")
    if not vpc:
        return None
    out: dict[str, Any] = {"subnets": list(vpc.get("Subnets") or [])}
    if vpc.get("SecurityGroups"):
        out["securityGroups"] = list(vpc["SecurityGroups"])
    if vpc.get("AssignPublicIp"):
        out["assignPublicIp"] = vpc["AssignPublicIp"]
    return {"awsvpcConfiguration": out}


def _tags(given: Any) -> list[dict[str, str]]:
    tags: list[dict[str, str]] = []
    for item in given or []:
        if not isinstance(item, Mapping):
            continue
        for key_name, value_name in (("Key", "Value"), ("key", "value")):
            if key_name in item:
                tags.append({"key": str(item[key_name]), "value": str(item.get(value_name, ""))})
                break
        else:
            tags.extend({"key": str(k), "value": str(v)} for k, v in item.items())
    return tags


def overrides_from_input(input_text: str | None) -> dict[str, Any] | None:
    """RunTask ``overrides`` from a target's Input: a JSON object of TaskOverride members, else None.

    Any other Input (plain text, another JSON document) has no place in RunTask and is left out.
    """
    if not input_text:
        return None
    try:
        data = orjson.loads(input_text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not data or not set(data) <= _OVERRIDE_KEYS:
        return None
    return data


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What one RunTask call for a target came to."""

    task_arns: list[str] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    error_code: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_code is None and not self.failures and bool(self.task_arns)

    @property
    def reason(self) -> str:
        """One line saying why the call did not start every task ('' when it did)."""
        if self.error_code is not None:
            return f"{self.error_code}: {self.error_message}"
        if self.failures:
            return "; ".join(f"{f.get('arn', '')} {f.get('reason', '')}".strip() for f in self.failures)
        return "" if self.task_arns else "RunTask started no task"

    @classmethod
    def of(cls, response: Mapping[str, Any]) -> RunOutcome:
        arns = [t["taskArn"] for t in response.get("tasks") or []]
        return cls(arns, list(response.get("failures") or []))

    @classmethod
    def refused(cls, code: str, message: str) -> RunOutcome:
        return cls(error_code=code, error_message=message)
