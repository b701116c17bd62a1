"""The task scale-in protection endpoint: ``$ECS_AGENT_URI/task-protection/v1/state`` (spec/ecs.md §4.11).

``GET`` reads and ``PUT {"ProtectionEnabled": bool, "ExpiresInMinutes": n}`` sets the calling task's
protection. As the ECS agent does, the endpoint calls the ECS operations ``GetTaskProtection`` /
``UpdateTaskProtection`` for the task (here in-process, through the same provider methods), so the
state, the defaults and the failures are the API's. The answers are the agent's
(``ecs-agent/tmds/handlers/taskprotection/v1``): ``{"protection": {"ExpirationDate",
"ProtectionEnabled", "TaskArn"}}``, ``{"failure": {"Arn", "Detail", "Reason"}}`` or
``{"error": {"Arn", "Code", "Message"}, "requestID"}``; a task without a task role is refused with
403, since the agent calls ECS with the task role's credentials.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ecslite.agent.metadata import rfc3339
from ecslite.protocol.errors import AwsError
from ecslite.providers.base import RequestContext

DECODE_FAILED = "UpdateTaskProtection: failed to decode request"
NO_FIELD = "Invalid request: does not contain 'ProtectionEnabled' field"
NO_ROLE = "Invalid Request: no task IAM role credentials available for task"
PATH_SUFFIX = "/task-protection/v1/state"


class ProtectionOps(Protocol):
    def update_task_protection(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]: ...

    def get_task_protection(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class ProtectionAnswer:
    status: int
    body: dict[str, Any]


def _error(status: int, arn: str, code: str, message: str, request_id: str | None = None) -> ProtectionAnswer:
    body: dict[str, Any] = {"error": {**({"Arn": arn} if arn else {}), "Code": code, "Message": message}}
    if request_id:
        body["requestID"] = request_id
    return ProtectionAnswer(status, body)


def handle_protection(ecs: ProtectionOps, doc: dict[str, Any], method: str, body: bytes) -> ProtectionAnswer:
    """Answer the calling task's ``GET``/``PUT`` of its protection state."""
    spec = doc["_spec"]
    arn = doc["taskArn"]
    params: dict[str, Any] = {"cluster": spec["clusterArn"], "tasks": [arn]}
    if method == "PUT":
        try:
            request = orjson.loads(body or b"{}")
            if not isinstance(request, dict) or set(request) - {"ProtectionEnabled", "ExpiresInMinutes"}:
                raise ValueError("unknown fields")
        except (orjson.JSONDecodeError, ValueError):
            return _error(400, "", "InvalidParameterException", DECODE_FAILED)
        if request.get("ProtectionEnabled") is None:
            return _error(400, arn, "InvalidParameterException", NO_FIELD)
        params["protectionEnabled"] = bool(request["ProtectionEnabled"])
        if request.get("ExpiresInMinutes") is not None:
            params["expiresInMinutes"] = int(request["ExpiresInMinutes"])
    elif method != "GET":
        return _error(405, arn, "InvalidParameterException", f"{method} is not supported; use GET or PUT")
    if not spec.get("taskRoleArn"):
        return _error(403, arn, "AccessDeniedException", NO_ROLE)
    operation = "UpdateTaskProtection" if method == "PUT" else "GetTaskProtection"
    request_id = str(uuid.uuid4())
    ctx = RequestContext(spec["account"], spec["region"], request_id, "ecs", operation)
    try:
        call = ecs.update_task_protection if method == "PUT" else ecs.get_task_protection
        result = call(ctx, params)
    except AwsError as failed:
        return _error(failed.status, arn, failed.code, failed.message, request_id)
    if result["failures"]:
        failure = result["failures"][0]
        shown = {"Arn": failure.get("arn"), "Detail": failure.get("detail"), "Reason": failure.get("reason")}
        return ProtectionAnswer(200, {"failure": {k: v for k, v in shown.items() if v is not None}})
    protected = result["protectedTasks"][0]
    protection: dict[str, Any] = {"ProtectionEnabled": protected["protectionEnabled"], "TaskArn": protected["taskArn"]}
    if protected.get("expirationDate") is not None:
        protection = {"ExpirationDate": rfc3339(float(protected["expirationDate"])), **protection}
    return ProtectionAnswer(200, {"protection": protection})
