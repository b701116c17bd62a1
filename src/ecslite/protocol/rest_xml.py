"""The AWS REST-XML protocol as S3 speaks it (path-style addressing): operations found from the botocore
model's ``http`` traits, input spread over the path, query string, headers and an XML or raw body;
output as headers and an XML (or raw) body; errors as ``<Error><Code>…</Code>…</Error>``.

Matching: an operation's ``requestUri`` gives its method, its path form (``/``, ``/{Bucket}``,
``/{Bucket}/{Key+}``) and the query keys it needs (``?uploads``, ``?list-type=2``). Several share all
three (PutObject, CopyObject, UploadPart and UploadPartCopy are ``PUT /{Bucket}/{Key+}``), so among
the operations whose every *required* query and header member is present the one needing the most
wins: ``x-amz-copy-source`` makes a PUT a copy, ``uploadId`` and ``partNumber`` make it a part.
Operations a newer one replaces on the same request (``GetBucketLifecycle``) are never chosen.

A streaming blob payload (PutObject's ``Body``) is not read here: the edge streams it. Anything that
does not fit the model raises an :class:`~ecslite.protocol.errors.AwsError` with S3's codes.
"""

from __future__ import annotations

import email.utils
import functools
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree as ET

from botocore.model import OperationModel, Shape

from ecslite.protocol.errors import AwsError
from ecslite.protocol.models import service_model
from ecslite.protocol.values import parse_timestamp, to_epoch
from ecslite.protocol.xml_shapes import (
    S3_NAMESPACE,
    document,
    fill,
    parse_document,
    read_scalar,
    read_shape,
    xml_text,
)

SERVICE = "s3"
CONTENT_TYPE = "application/xml"
# Operations that answer the same request as a newer one and are never chosen for it.
_SHADOWED = frozenset(
    {
        "ListDirectoryBuckets",
        "GetBucketLifecycle",
        "PutBucketLifecycle",
        "GetBucketNotification",
        "PutBucketNotification",
    }
)
# Root elements of outputs without a payload member, as S3 names them (botocore reads any name).
_ROOTS = {
    "ListBuckets": "ListAllMyBucketsResult",
    "ListObjects": "ListBucketResult",
    "ListObjectsV2": "ListBucketResult",
    "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CompleteMultipartUpload": "CompleteMultipartUploadResult",
    "ListParts": "ListPartsResult",
    "ListMultipartUploads": "ListMultipartUploadsResult",
    "DeleteObjects": "DeleteResult",
    "GetBucketVersioning": "VersioningConfiguration",
    "GetObjectTagging": "Tagging",
    "GetBucketTagging": "Tagging",
    "GetBucketLifecycleConfiguration": "LifecycleConfiguration",
}


class InvalidArgument(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidArgument", message)


class MethodNotAllowed(AwsError):
    def __init__(self) -> None:
        super().__init__("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)


@dataclass(frozen=True, slots=True)
class _Route:
    operation: str
    method: str
    form: str  # "service" | "bucket" | "object"
    query: tuple[tuple[str, str | None], ...]
    required: tuple[tuple[str, str], ...]  # (location, lower-case wire name) of required members


@dataclass(frozen=True, slots=True)
class Target:
    """Where a path-style request points: no bucket (the service), a bucket, or an object."""

    bucket: str | None
    key: str | None

    @property
    def form(self) -> str:
        return "service" if self.bucket is None else "bucket" if self.key is None else "object"


def split_path(raw_path: str) -> Target:
    """``/bucket/key`` (still percent-encoded, as sent) → bucket and key, decoded."""
    path = raw_path.split("?", 1)[0]
    if not path.startswith("/"):
        raise InvalidArgument("The request path must start with '/'.")
    bucket, _, key = path[1:].partition("/")
    if not bucket:
        return Target(None, None)
    return Target(unquote(bucket), unquote(key) if key else None)


@functools.cache
def _routes() -> dict[tuple[str, str], tuple[_Route, ...]]:
    """The operations by (method, path form), each group in the model's order (the first of equal
    scores wins), so that a request only scores the few that can answer it."""
    model = service_model(SERVICE)
    routes: dict[tuple[str, str], list[_Route]] = {}
    for name in model.operation_names:
        if name in _SHADOWED:
            continue
        op = model.operation_model(name)
        uri = str(op.http.get("requestUri", "/"))
        path, _, query_text = uri.partition("?")
        form = "object" if "{Key+}" in path else "bucket" if "{Bucket}" in path else "service"
        if form == "service" and path != "/":
            continue  # WriteGetObjectResponse: an S3 Object Lambda endpoint, not path-style S3
        query: list[tuple[str, str | None]] = []
        for item in filter(None, query_text.split("&")):
            key, sep, value = item.partition("=")
            query.append((key, value if sep else None))
        required: list[tuple[str, str]] = []
        shape = op.input_shape
        if shape is not None:
            for member_name in shape.required_members:
                member = shape.members[member_name]
                location = str(member.serialization.get("location", ""))
                if location in ("querystring", "header"):
                    required.append((location, str(member.serialization.get("name", member_name)).lower()))
        method = str(op.http.get("method", "GET"))
        routes.setdefault((method, form), []).append(_Route(name, method, form, tuple(query), tuple(required)))
    return {key: tuple(group) for key, group in routes.items()}


def route(method: str, target: Target, query: dict[str, list[str]], headers: dict[str, str]) -> str:
    """The operation a request names; :class:`MethodNotAllowed` when none does."""
    lowered_query = {k.lower() for k in query}
    best: tuple[int, str] | None = None
    for candidate in _routes().get((method, target.form), ()):
        if any(k not in query or (v is not None and query[k][0] != v) for k, v in candidate.query):
            continue
        if any(
            (wire not in lowered_query) if location == "querystring" else (wire not in headers)
            for location, wire in candidate.required
        ):
            continue
        score = len(candidate.query) * 100 + len(candidate.required)
        if best is None or score > best[0]:
            best = (score, candidate.operation)
    if best is None:
        raise MethodNotAllowed()
    return best[1]


def streaming_payload(operation: OperationModel) -> str | None:
    """The input member that is a streaming blob body (PutObject's ``Body``), if any."""
    shape = operation.input_shape
    payload = shape.serialization.get("payload") if shape is not None else None
    if payload and shape is not None:
        member = shape.members[payload]
        if member.type_name == "blob":
            return str(payload)
    return None


def parse_request(
    operation: OperationModel, target: Target, query: dict[str, list[str]], headers: dict[str, str], body: bytes
) -> dict[str, Any]:
    """The operation's input from a request; a streaming payload member is left for the caller."""
    shape = operation.input_shape
    if shape is None:
        return {}
    members: dict[str, Shape] = shape.members
    params: dict[str, Any] = {}
    lowered = {k.lower(): v for k, v in query.items()}
    for name, member in members.items():
        location = str(member.serialization.get("location", ""))
        wire = str(member.serialization.get("name", name))
        if location == "uri":
            value = target.bucket if wire == "Bucket" else target.key
            if value is not None:
                params[name] = value
        elif location == "querystring" and wire.lower() in lowered:
            values = lowered[wire.lower()]
            if member.type_name == "list":
                params[name] = [_scalar(member.member, v, wire) for v in values]  # type: ignore[attr-defined]
            elif member.type_name != "map":
                params[name] = _scalar(member, values[0], wire)
        elif location == "header" and wire.lower() in headers:
            text = headers[wire.lower()]
            if member.type_name == "list":
                params[name] = [_scalar(member.member, v.strip(), wire) for v in text.split(",")]  # type: ignore[attr-defined]
            else:
                params[name] = _scalar(member, text, wire)
        elif location == "headers":
            prefix = wire.lower()
            found = {k[len(prefix) :]: v for k, v in headers.items() if k.startswith(prefix) and len(k) > len(prefix)}
            if found:
                params[name] = found
    payload = shape.serialization.get("payload")
    if payload and payload != streaming_payload(operation) and body.strip():
        member = members[payload]
        if member.type_name == "structure":
            params[payload] = read_shape(member, parse_document(body))
        else:
            params[payload] = body.decode("utf-8", errors="replace")
    return params


def _scalar(shape: Shape, text: str, wire: str) -> Any:
    if shape.type_name == "timestamp":
        return _header_time(text, wire)
    try:
        return read_scalar(shape, text)
    except AwsError:
        raise InvalidArgument(f"The value '{text}' of {wire} is not valid.") from None


def _header_time(text: str, wire: str) -> float:
    try:
        return email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        pass
    try:
        return parse_timestamp(text, wire)
    except AwsError:
        raise InvalidArgument(f"The value '{text}' of {wire} is not a date.") from None


def http_date(value: Any) -> str:
    return email.utils.formatdate(to_epoch(value), usegmt=True)


Headers = list[tuple[bytes, bytes]]


def serialize_response(operation: OperationModel, data: dict[str, Any] | None) -> tuple[int, Headers, Any]:
    """The status, headers and body of a successful response. The body is ``bytes``, or the provider's
    own object for a streaming payload (which the edge sends)."""
    status = int(operation.http.get("responseCode", 200))
    shape = operation.output_shape
    data = data or {}
    if shape is None:
        return status, [], b""
    members: dict[str, Shape] = shape.members
    headers: Headers = []
    for name, member in members.items():
        value = data.get(name)
        if value is None:
            continue
        location = str(member.serialization.get("location", ""))
        wire = str(member.serialization.get("name", name))
        if location == "header":
            headers.append((wire.lower().encode(), _header_text(member, value).encode("utf-8")))
        elif location == "headers":
            headers.extend(((wire + k).lower().encode(), str(v).encode("utf-8")) for k, v in value.items())
        elif location == "statusCode":
            status = int(value)
    payload = shape.serialization.get("payload")
    if payload:
        return status, headers, _payload_body(members[payload], payload, data.get(payload))
    if operation.name == "GetBucketLocation":
        # botocore reads the region as the root element's text (its customization, not the model).
        root = ET.Element("LocationConstraint", xmlns=S3_NAMESPACE)
        root.text = data.get("LocationConstraint") or None
        return status, headers, document(root)
    body = {k: v for k, v in data.items() if k in members and not members[k].serialization.get("location")}
    if not body and operation.name not in _ROOTS:
        return status, headers, b""
    root = ET.Element(_ROOTS.get(operation.name, shape.name.removesuffix("Output")), xmlns=S3_NAMESPACE)
    fill(root, shape, body)
    return status, headers, document(root)


def _payload_body(member: Shape, name: str, value: Any) -> Any:
    if value is None:
        return b""
    if member.type_name == "structure":
        root = ET.Element(str(member.serialization.get("name", member.name)), xmlns=S3_NAMESPACE)
        fill(root, member, value)
        return document(root)
    if isinstance(value, str):
        return value.encode("utf-8")
    return value  # bytes, or a stream the edge sends


def _header_text(member: Shape, value: Any) -> str:
    kind = member.type_name
    if kind == "timestamp":
        return http_date(value)
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "list":
        return ",".join(str(v) for v in value)
    return str(value)


def serialize_error(error: AwsError, request_id: str) -> bytes:
    root = ET.Element("Error")
    ET.SubElement(root, "Code").text = error.code
    ET.SubElement(root, "Message").text = xml_text(error.message)
    for name, value in error.fields.items():
        ET.SubElement(root, name).text = xml_text(str(value))
    ET.SubElement(root, "RequestId").text = request_id
    return document(root)
