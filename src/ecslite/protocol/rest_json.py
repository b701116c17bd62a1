"""The AWS REST-JSON protocol: operations found by HTTP method and path, input spread over the path,
the query string, headers and a JSON body; output as a JSON body; errors named in a header.

Routes come from each operation's ``http.requestUri`` (``/schedules/{Name}``; a ``{Label+}`` takes
the rest of the path, slashes included). A member's ``location`` says where it travels: ``uri``,
``querystring``, ``header``, or the body by default. Body values are type-checked by the JSON
protocol's readers (:mod:`ecslite.protocol.json_rpc`); values from the path, query and headers are
strings converted to the member's type here. Errors carry their code in ``x-amzn-errortype`` and
``{"Message": ...}`` in the body, as the REST-JSON services answer them.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson
from botocore.model import OperationModel, Shape

from ecslite.protocol.errors import AwsError, SerializationError
from ecslite.protocol.json_rpc import read_value, write_value
from ecslite.protocol.models import service_model
from ecslite.protocol.values import parse_timestamp, to_iso

CONTENT_TYPE = "application/json"
ERROR_TYPE_HEADER = "x-amzn-errortype"


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    # The same with every label greedy: the edge sees paths already percent-decoded, so a label
    # the client encoded as one segment (``/tags/{ResourceArn}``, an ARN with '/') arrives as several.
    loose: re.Pattern[str]
    labels: tuple[str, ...]
    operation: str
    literal: int  # characters outside labels: more literal text wins over a label at the same place


@functools.cache
def _routes(service: str) -> tuple[_Route, ...]:
    model = service_model(service)
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        path = str(http.get("requestUri", "/")).split("?", 1)[0]
        regex, loose, labels, literal = "", "", [], 0
        for part in re.split(r"(\{[^}]+\})", path):
            if part.startswith("{") and part.endswith("}"):
                label = part[1:-1]
                greedy = label.endswith("+")
                labels.append(label.rstrip("+"))
                regex += "(.+)" if greedy else "([^/]+)"
                loose += "(.+)"
            else:
                regex += re.escape(part)
                loose += re.escape(part)
                literal += len(part)
        method = str(http.get("method", "POST"))
        routes.append(_Route(method, re.compile(regex + "/?"), re.compile(loose), tuple(labels), name, literal))
    return tuple(sorted(routes, key=lambda r: -r.literal))


def route(service: str, method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """The operation ``method path`` names in ``service``, with its path labels (decoded)."""
    candidates = [r for r in _routes(service) if r.method == method]
    for attempt in ("pattern", "loose"):
        for candidate in candidates:
            match = getattr(candidate, attempt).fullmatch(path)
            if match:
                labels = {k: unquote(v) for k, v in zip(candidate.labels, match.groups(), strict=True)}
                return candidate.operation, labels
    return None


def path_known(service: str, path: str) -> bool:
    """Whether some operation of ``service`` has this path (under another method, perhaps)."""
    return any(r.pattern.fullmatch(path) or r.loose.fullmatch(path) for r in _routes(service))


def parse_request(
    operation: OperationModel, labels: dict[str, str], query_string: str, headers: dict[str, str], body: bytes
) -> dict[str, Any]:
    shape = operation.input_shape
    if shape is None:
        return {}
    members: dict[str, Shape] = shape.members
    payload = shape.serialization.get("payload")
    params: dict[str, Any] = {}
    # An operation whose input has no body members (GET, DELETE) ignores a body it was sent.
    if body.strip() and (payload or any(_location(m) == "" for m in members.values())):
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise SerializationError("Unable to parse the request body as JSON.") from None
        if payload:
            params[payload] = read_value(members[payload], data, payload)
        else:
            if not isinstance(data, dict):
                raise SerializationError("The request body must be a JSON object.")
            body_members = {k: v for k, v in data.items() if members.get(k) is not None and _location(members[k]) == ""}
            params.update(read_value(shape, body_members, ""))
    query = parse_qs(query_string, keep_blank_values=True)
    for name, member in members.items():
        location, wire = _location(member), member.serialization.get("name", name)
        if location == "uri" and wire in labels:
            params[name] = _scalar(member, labels[wire], name)
        elif location == "querystring" and wire in query:
            values = query[wire]
            if member.type_name == "list":
                params[name] = [_scalar(member.member, v, name) for v in values]  # type: ignore[attr-defined]
            else:
                params[name] = _scalar(member, values[0], name)
        elif location == "header" and wire.lower() in headers:
            params[name] = _scalar(member, headers[wire.lower()], name)
    return params


def _location(member: Shape) -> str:
    return str(member.serialization.get("location", ""))


def _scalar(shape: Shape, text: str, name: str) -> Any:
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
    except ValueError:
        raise SerializationError(f"Unable to read '{text}' as a number for {name}.") from None
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise SerializationError(f"Unable to read '{text}' as a boolean for {name}.")
        return text.lower() == "true"
    if kind == "timestamp":
        return parse_timestamp(text, name)
    return text


def serialize_response(
    operation: OperationModel, data: dict[str, Any] | None
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """The status, body and extra headers of a successful response."""
    status = int(operation.http.get("responseCode", 200))
    shape = operation.output_shape
    if shape is None or not data:
        return status, b"{}", []
    members: dict[str, Shape] = shape.members
    headers: list[tuple[bytes, bytes]] = []
    body: dict[str, Any] = {}
    for name, value in data.items():
        member = members.get(name)
        if member is None or value is None:
            continue
        location = _location(member)
        if location == "header":
            text = to_iso(value) if member.type_name == "timestamp" else str(value)
            headers.append((member.serialization.get("name", name).lower().encode(), text.encode()))
        elif location == "statusCode":
            status = int(value)
        else:
            body[name] = value
    payload = shape.serialization.get("payload")
    if payload:
        value = body.get(payload)
        return status, orjson.dumps(write_value(members[payload], value) if value is not None else {}), headers
    return status, orjson.dumps(write_value(shape, body)), headers


def serialize_error(error: AwsError) -> bytes:
    body: dict[str, Any] = {"Message": error.message}
    body.update(error.fields)
    return orjson.dumps(body)
