"""ecslite's own HTTP operations where the ECS API has none (the ``ecslite instances`` and
``ecslite spot`` commands call them):

- ``POST /_ecslite/container-instances`` ``{cluster, instanceType, availabilityZone?, count?,
  capacityProvider?, attributes?}`` → ``{containerInstances: [...]}``: virtual EC2 instances join the
  cluster (spec/ecs.md §5.1 local model).
- ``POST /_ecslite/spot/interrupt`` ``{cluster, service?, task?, warningSeconds?}`` →
  ``{interruptions: [{taskArn, warnedAt, interruptAt}]}``: FARGATE_SPOT tasks get their warning and
  are stopped with ``SpotInterruption`` when it runs out (§13.1).

Both act in the server's default account and region unless the body names ``account``/``region``.
Errors come back as ECS's error shape (``{"__type", "message"}``, HTTP 400).
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ecslite.config import Settings
from ecslite.protocol.errors import AwsError
from ecslite.providers.base import RequestContext
from ecslite.providers.ecs.capacity_providers import SPOT_WARNING_SECONDS
from ecslite.providers.ecs.provider import EcsProvider


class _BadRequest(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidParameterException", message)


def internal_routes(ecs: EcsProvider, settings: Settings) -> list[Route]:
    async def add_instances(request: Request) -> Response:
        async def run(ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
            instances = ecs.add_virtual_instances(
                ctx,
                _text(body, "cluster"),
                _text(body, "instanceType") or "",
                _text(body, "availabilityZone"),
                _integer(body, "count", 1),
                _text(body, "capacityProvider"),
                _attributes(body),
            )
            return {"containerInstances": instances}

        return await _call(request, run, "AddVirtualInstances")

    async def interrupt(request: Request) -> Response:
        async def run(ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
            warning = body.get("warningSeconds", SPOT_WARNING_SECONDS)
            if not isinstance(warning, int | float) or isinstance(warning, bool):
                raise _BadRequest("warningSeconds must be a number of seconds.")
            return ecs.interrupt_spot_tasks(
                ctx, _text(body, "cluster"), _text(body, "service"), _text(body, "task"), float(warning)
            )

        return await _call(request, run, "InterruptSpotTasks")

    async def _call(request: Request, run: Any, operation: str) -> Response:
        try:
            body = orjson.loads(await request.body() or b"{}")
            if not isinstance(body, dict):
                raise _BadRequest("The request body must be a JSON object.")
            ctx = RequestContext(
                account=str(body.get("account") or settings.account_id),
                region=str(body.get("region") or settings.region),
                request_id=str(uuid.uuid4()),
                service="ecs",
                operation=operation,
            )
            ecs.prepare(ctx)
            result = await run(ctx, body)
        except orjson.JSONDecodeError:
            return _error(_BadRequest("The request body is not JSON."))
        except AwsError as error:
            return _error(error)
        return Response(orjson.dumps(result), media_type="application/json")

    return [
        Route("/_ecslite/container-instances", add_instances, methods=["POST"]),
        Route("/_ecslite/spot/interrupt", interrupt, methods=["POST"]),
    ]


class ScalingCallbacks:
    """How managed scaling adds and removes a group's instances: through the provider's own operations."""

    def __init__(self, ecs: EcsProvider) -> None:
        self.ecs = ecs

    def _ctx(self, account: str, region: str, operation: str) -> RequestContext:
        ctx = RequestContext(account, region, str(uuid.uuid4()), "ecs", operation)
        self.ecs.prepare(ctx)
        return ctx

    def add(self, account: str, region: str, cluster: str, type_name: str, count: int, provider: str) -> None:
        ctx = self._ctx(account, region, "AddVirtualInstances")
        self.ecs.add_virtual_instances(ctx, cluster, type_name, None, count, provider)

    def remove(self, account: str, region: str, cluster: str, arn: str) -> None:
        ctx = self._ctx(account, region, "DeregisterContainerInstance")
        self.ecs.deregister_container_instance(ctx, {"cluster": cluster, "containerInstance": arn, "force": False})


def _error(error: AwsError) -> Response:
    return JSONResponse({"__type": error.code, "message": error.message}, status_code=error.status)


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _BadRequest(f"{key} must be a string.")
    return value


def _integer(body: dict[str, Any], key: str, default: int) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _BadRequest(f"{key} must be a whole number.")
    return value


def _attributes(body: dict[str, Any]) -> dict[str, str] | None:
    value = body.get("attributes")
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise _BadRequest("attributes must map names to string values.")
    return value
