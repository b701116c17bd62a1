"""The ASGI entry point: AWS requests go straight to the dispatcher, everything else to Starlette.

Requests signed for S3 go to the S3 edge first, whatever their path (a bucket may be named ``ui``),
and stream their bodies; unsigned requests never reach S3, so they cannot shadow ecslite's routes.
Unsigned requests under ``/v2/`` are ECR's registry (``docker push``/``pull``), which streams too.

AWS calls are the hot path, so they skip Starlette's request objects and routing; ecslite's own
API (``/_ecslite/...``) and later the UI are ordinary Starlette routes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ecslite.edge.asgi import Receive, Scope, Send, read_body, respond
from ecslite.edge.aws import AwsDispatcher
from ecslite.edge.s3 import S3Edge, is_s3_request
from ecslite.protocol.errors import AwsError
from ecslite.providers.ecr.registry import Registry, is_registry_path

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Paths served by ecslite's own routes instead of the AWS dispatcher; the query APIs' mount points
# (telemetry.query.routes.PREFIXES) are among them.
_OWN_PREFIXES = ("/_ecslite", "/ui", "/favicon.ico", "/prometheus", "/loki", "/tempo", "/jaeger", "/ready")
# Request bodies larger than this are refused before they are read in full (AWS caps most at 1 MB+).
MAX_BODY = 16 * 1024 * 1024


class EdgeApp:
    def __init__(
        self, dispatcher: AwsDispatcher, own: ASGIApp, s3: S3Edge | None = None, registry: Registry | None = None
    ) -> None:
        self.dispatcher = dispatcher
        self.own = own
        self.s3 = s3
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.own(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.s3 is not None and is_s3_request(headers, scope.get("query_string", b"").decode("latin-1")):
            await self.s3.handle(scope, receive, send, headers)
            return
        # ECR's registry (docker push/pull): the OCI Distribution API under /v2/, unsigned.
        if self.registry is not None and is_registry_path(scope["path"]):
            await self.registry.handle(scope, receive, send, headers)
            return
        if scope["path"].startswith(_OWN_PREFIXES):
            await self.own(scope, receive, send)
            return
        if (
            scope["method"] == "GET"
            and scope["path"] == "/"
            and not scope.get("query_string")
            and not headers.get("x-amz-target")
        ):
            await self.own(scope, receive, send)
            return
        body = await read_body(receive, MAX_BODY)
        if body is None:
            response = self.dispatcher.reject(headers, _too_large(), scope["path"])
        else:
            response = await self.dispatcher.handle(
                scope["method"], headers, scope.get("query_string", b"").decode("latin-1"), body, scope["path"]
            )
        await respond(send, response.status, response.headers, response.body)


def _too_large() -> AwsError:
    return AwsError("RequestEntityTooLarge", f"The request body is larger than {MAX_BODY // 2**20} MiB.", 413)
