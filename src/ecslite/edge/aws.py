"""The AWS request path: route → parse → validate → provider → serialize, and errors in AWS shape.

Routing follows what the SDKs send: JSON protocols carry ``X-Amz-Target: <prefix>.<Operation>``;
query protocols carry ``Action=<Operation>`` in a form body (or query string) and name their
service only in the SigV4 credential scope. Nothing that reaches this module returns a traceback:
unexpected failures are logged with the request id and answered with the service's internal error.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from botocore.model import OperationModel

from ecslite.edge.auth import AccessKeyResolver, account_for, credential_scope
from ecslite.protocol import cbor, ec2, json_rpc, query, rest_json
from ecslite.protocol.errors import (
    AwsError,
    NotImplementedOperation,
    SerializationError,
    UnknownOperationError,
    internal_error,
)
from ecslite.protocol.models import (
    BY_NAME,
    BY_SIGNING_NAME,
    BY_TARGET_PREFIX,
    SERVICES,
    ServiceSpec,
    error_codes,
    error_type,
    operation_model,
    query_compatible,
    service_model,
)
from ecslite.protocol.validate import validate
from ecslite.providers.base import RequestContext, call_handler, find_handler

log = logging.getLogger(__name__)

Headers = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class AwsResponse:
    status: int
    body: bytes
    headers: Headers = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class EdgeSettings:
    account_id: str = "000000000000"
    region: str = "us-east-1"


class AwsDispatcher:
    """Turns raw AWS HTTP requests into provider calls. ``providers`` maps service name → provider."""

    def __init__(
        self,
        providers: dict[str, object],
        settings: EdgeSettings,
        account_resolver: AccessKeyResolver | None = None,
    ) -> None:
        self.providers = providers
        self.settings = settings
        self.account_resolver = account_resolver

    async def handle(
        self, method: str, headers: dict[str, str], query_string: str, body: bytes, path: str = "/"
    ) -> AwsResponse:
        request_id = str(uuid.uuid4())
        target = headers.get("x-amz-target")
        if target:
            return await self._json(target, headers, query_string, body, request_id)
        if cbor.is_cbor_request(path, headers):
            return await self._cbor(path, headers, query_string, body, request_id)
        rest = self._rest_service(path, headers, query_string)
        if rest is not None:
            return await self._rest(rest, method, path, headers, query_string, body, request_id)
        return await self._query(method, headers, query_string, body, request_id)

    def reject(self, headers: dict[str, str], error: AwsError, path: str = "/") -> AwsResponse:
        """``error`` in the shape of the protocol the request speaks, decided from its headers alone."""
        request_id = str(uuid.uuid4())
        target = headers.get("x-amz-target")
        if not target and cbor.is_cbor_request(path, headers):
            found = cbor.route(path)
            return self._cbor_error(error, request_id, BY_TARGET_PREFIX.get(found[0]) if found else None)
        if not target and self._rest_service(path, headers, "") is not None:
            return self._rest_error(error, request_id)
        if not target:
            return self._xml_error(error, request_id)
        spec = BY_TARGET_PREFIX.get(target.rpartition(".")[0])
        version = str(service_model(spec.name).metadata.get("jsonVersion", "1.1")) if spec else "1.1"
        return self._json_error(error, request_id, version)

    # -- JSON 1.0 / 1.1 ----------------------------------------------------------------------

    async def _json(
        self, target: str, headers: dict[str, str], query_string: str, body: bytes, request_id: str
    ) -> AwsResponse:
        prefix, _, op_name = target.rpartition(".")
        spec = BY_TARGET_PREFIX.get(prefix)
        version = "1.1"
        if spec is None:
            return self._json_error(UnknownTarget(target), request_id, version)
        version = str(service_model(spec.name).metadata.get("jsonVersion", "1.1"))
        op = operation_model(spec.name, op_name)
        if op is None:
            return self._json_error(UnknownTarget(target), request_id, version)
        try:
            params = json_rpc.parse_request(op, body)
            result = await self._invoke(spec, op, params, headers, query_string, request_id)
            payload = json_rpc.serialize_response(op, result)
        except AwsError as error:
            return self._json_error(error, request_id, version, spec)
        except Exception:
            log.exception("request failed", extra={"request_id": request_id, "operation": op_name})
            return self._json_error(self._internal(spec, request_id), request_id, version, spec)
        return AwsResponse(200, payload, self._json_headers(request_id, version))

    def _json_error(
        self, error: AwsError, request_id: str, version: str, spec: ServiceSpec | None = None
    ) -> AwsResponse:
        headers = self._json_headers(request_id, version)
        if spec is not None and query_compatible(spec.name):
            # A service that left the query protocol keeps its codes: botocore reads them from the
            # header, and the body's __type names the error shape (CloudWatch's JSON 1.0).
            headers.append((b"x-amzn-query-error", cbor.query_error_header(error).encode()))
            typed = AwsError(error_type(spec.name, error.code), error.message, error.status)
            return AwsResponse(error.status, json_rpc.serialize_error(typed), headers)
        return AwsResponse(error.status, json_rpc.serialize_error(error), headers)

    @staticmethod
    def _json_headers(request_id: str, version: str) -> Headers:
        return [
            (b"content-type", json_rpc.content_type(version).encode()),
            (b"x-amzn-requestid", request_id.encode()),
        ]

    # -- Smithy RPC v2 CBOR ----------------------------------------------------------------------

    async def _cbor(
        self, path: str, headers: dict[str, str], query_string: str, body: bytes, request_id: str
    ) -> AwsResponse:
        found = cbor.route(path)
        spec = BY_TARGET_PREFIX.get(found[0]) if found else None
        if found is None or spec is None or not spec.speaks("smithy-rpc-v2-cbor"):
            return self._cbor_error(UnknownOperationError(f"Unknown operation path {path}."), request_id, spec)
        op = operation_model(spec.name, found[1])
        if op is None:
            return self._cbor_error(UnknownOperationError(f"Unknown operation {found[1]}."), request_id, spec)
        try:
            params = cbor.parse_request(op, body)
            result = await self._invoke(spec, op, params, headers, query_string, request_id)
            payload = cbor.serialize_response(op, result)
        except AwsError as error:
            return self._cbor_error(error, request_id, spec)
        except Exception:
            log.exception("request failed", extra={"request_id": request_id, "operation": op.name})
            return self._cbor_error(self._internal(spec, request_id), request_id, spec)
        response_headers = self._cbor_headers(request_id)
        if op.output_shape is None:
            response_headers = [h for h in response_headers if h[0] != b"content-type"]
        return AwsResponse(200, payload, response_headers)

    def _cbor_error(self, error: AwsError, request_id: str, spec: ServiceSpec | None) -> AwsResponse:
        headers = self._cbor_headers(request_id)
        type_name = error.code
        if spec is not None:
            type_name = error_type(spec.name, error.code)
            if query_compatible(spec.name):
                headers.append((b"x-amzn-query-error", cbor.query_error_header(error).encode()))
        return AwsResponse(error.status, cbor.serialize_error(error, type_name), headers)

    @staticmethod
    def _cbor_headers(request_id: str) -> Headers:
        return [
            (b"content-type", cbor.CONTENT_TYPE.encode()),
            (cbor.PROTOCOL_HEADER.encode(), cbor.PROTOCOL.encode()),
            (b"x-amzn-requestid", request_id.encode()),
        ]

    # -- REST-JSON -----------------------------------------------------------------------------

    @staticmethod
    def _rest_service(path: str, headers: dict[str, str], query_string: str) -> ServiceSpec | None:
        """The REST-JSON service a request is for: the one its credential scope names, else (unsigned)
        the one with an operation at this path. Query requests (``Action=``) never get here signed for
        a REST service, and unsigned ones post to ``/``, which no REST route takes."""
        scope = credential_scope(headers, query_string)
        if scope is not None:
            spec = BY_SIGNING_NAME.get(scope.service)
            return spec if spec is not None and spec.speaks("rest-json") else None
        if path == "/":
            return None
        for spec in SERVICES:
            if spec.speaks("rest-json") and rest_json.path_known(spec.name, path):
                return spec
        return None

    async def _rest(
        self,
        spec: ServiceSpec,
        method: str,
        path: str,
        headers: dict[str, str],
        query_string: str,
        body: bytes,
        request_id: str,
    ) -> AwsResponse:
        found = rest_json.route(spec.name, method, path)
        if found is None:
            error = UnknownOperationError(f"No operation of {spec.name} takes {method} {path}.")
            error.status = 404
            return self._rest_error(error, request_id)
        op = operation_model(spec.name, found[0])
        assert op is not None  # routes are built from the model's operations
        try:
            params = rest_json.parse_request(op, found[1], query_string, headers, body)
            result = await self._invoke(spec, op, params, headers, query_string, request_id)
            status, payload, extra = rest_json.serialize_response(op, result)
        except AwsError as error:
            return self._rest_error(error, request_id)
        except Exception:
            log.exception("request failed", extra={"request_id": request_id, "operation": op.name})
            internal = self._internal(spec, request_id)
            if "InternalServerException" in error_codes(spec.name):
                internal.code = "InternalServerException"
            return self._rest_error(internal, request_id)
        return AwsResponse(status, payload, [*self._rest_headers(request_id), *extra])

    def _rest_error(self, error: AwsError, request_id: str) -> AwsResponse:
        headers = [*self._rest_headers(request_id), (rest_json.ERROR_TYPE_HEADER.encode(), error.code.encode())]
        return AwsResponse(error.status, rest_json.serialize_error(error), headers)

    @staticmethod
    def _rest_headers(request_id: str) -> Headers:
        return [(b"content-type", rest_json.CONTENT_TYPE.encode()), (b"x-amzn-requestid", request_id.encode())]

    # -- query / XML ---------------------------------------------------------------------------

    async def _query(
        self, method: str, headers: dict[str, str], query_string: str, body: bytes, request_id: str
    ) -> AwsResponse:
        try:
            form = dict(parse_qsl(query_string, keep_blank_values=True))
            if method == "POST":
                form.update(query.parse_form(body))
        except SerializationError as error:
            return self._xml_error(error, request_id)
        action = form.get("Action")
        if not action:
            return self._xml_error(AwsError("MissingAction", "Missing Action"), request_id)
        spec = self._query_service(headers, query_string, action)
        if spec is None:
            message = f"Could not find operation {action} for version {form.get('Version', 'NO_VERSION_SPECIFIED')}"
            return self._xml_error(AwsError("InvalidAction", message), request_id)
        # EC2 speaks its own dialect of the query protocol (names, response and error shapes).
        codec = ec2 if spec.protocol == "ec2" else query
        op = operation_model(spec.name, action)
        if op is None:
            version = form.get("Version", "NO_VERSION_SPECIFIED")
            return self._xml_error(
                AwsError("InvalidAction", f"Could not find operation {action} for version {version}"),
                request_id,
                codec,
            )
        try:
            params = codec.parse_request(op, form)
            result = await self._invoke(spec, op, params, headers, query_string, request_id)
            payload = codec.serialize_response(op, result, request_id)
        except AwsError as error:
            return self._xml_error(error, request_id, codec)
        except Exception:
            log.exception("request failed", extra={"request_id": request_id, "operation": action})
            return self._xml_error(self._internal(spec, request_id), request_id, codec)
        return AwsResponse(200, payload, self._xml_headers(request_id))

    def _query_service(self, headers: dict[str, str], query_string: str, action: str) -> ServiceSpec | None:
        scope = credential_scope(headers, query_string)
        if scope is not None:
            spec = BY_SIGNING_NAME.get(scope.service)
            if spec is not None and (spec.speaks("query") or spec.protocol == "ec2"):
                return spec
        # Unsigned requests name no service: take the query service that has this action.
        for spec in SERVICES:
            if (spec.speaks("query") or spec.protocol == "ec2") and operation_model(spec.name, action) is not None:
                return spec
        return None

    def _xml_error(self, error: AwsError, request_id: str, codec: Any = query) -> AwsResponse:
        return AwsResponse(error.status, codec.serialize_error(error, request_id), self._xml_headers(request_id))

    @staticmethod
    def _xml_headers(request_id: str) -> Headers:
        return [(b"content-type", b"text/xml"), (b"x-amzn-requestid", request_id.encode())]

    # -- shared --------------------------------------------------------------------------------

    async def _invoke(
        self,
        spec: ServiceSpec,
        op: OperationModel,
        params: dict[str, Any],
        headers: dict[str, str],
        query_string: str,
        request_id: str,
    ) -> dict[str, Any] | None:
        provider = self.providers.get(spec.name)
        # A few checks answer before the model's constraints, with the service's own texts (ECR's
        # repository names).
        check_input = getattr(provider, "check_input", None)
        if check_input is not None:
            check_input(op.name, params)
        validate(op.input_shape, params, spec.validation_error)
        handler = find_handler(provider, op.name) if provider is not None else None
        if handler is None:
            raise self._not_implemented(spec, op.name)
        scope = credential_scope(headers, query_string)
        ctx = RequestContext(
            account=account_for(scope.access_key if scope else None, self.settings.account_id, self.account_resolver),
            region=scope.region if scope else self.settings.region,
            request_id=request_id,
            service=spec.name,
            operation=op.name,
            access_key=scope.access_key if scope else None,
        )
        prepare = getattr(provider, "prepare", None)
        if prepare is not None:
            prepare(ctx)
        return await call_handler(handler, ctx, params)

    @staticmethod
    def _not_implemented(spec: ServiceSpec, operation: str) -> AwsError:
        if "UnsupportedFeatureException" in error_codes(spec.name):
            return AwsError(
                "UnsupportedFeatureException",
                f"The {operation} operation is not supported by ecslite yet.",
            )
        return NotImplementedOperation(spec.name, operation)

    @staticmethod
    def _internal(spec: ServiceSpec, request_id: str) -> AwsError:
        error = internal_error(request_id)
        if "ServerException" in error_codes(spec.name):
            error.code = "ServerException"
        return error


class UnknownTarget(AwsError):
    def __init__(self, target: str) -> None:
        super().__init__("UnknownOperationException", f"Unknown operation {target}.")


def known_services() -> list[str]:
    return sorted(BY_NAME)
