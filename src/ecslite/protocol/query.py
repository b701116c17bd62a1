"""The AWS query protocol: form-encoded requests (``Action=…&Version=…``) and XML responses.

Lists arrive as ``Name.member.N`` (or ``Name.N`` when flattened), maps as ``Name.entry.N.key`` /
``.value``, structures as ``Name.Field``. Responses wrap the output in ``<OpResponse><OpResult>``
with ``ResponseMetadata``; errors are ``<ErrorResponse><Error>…</Error><RequestId/></ErrorResponse>``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from botocore.model import OperationModel, ServiceModel, Shape

from ecslite.protocol.errors import AwsError, SerializationError
from ecslite.protocol.values import blob_text, parse_blob, parse_timestamp, to_iso

# Characters XML 1.0 cannot carry, even escaped. Values echoed from a request (an unknown Action, a
# rejected member) may hold them; left in, they make the whole response unreadable to the client.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: str) -> str:
    """``value`` escaped for XML character data, with characters XML cannot carry replaced by U+FFFD."""
    return escape(_NOT_XML.sub("\ufffd", value))


def parse_form(body: bytes) -> dict[str, str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SerializationError("The request body is not valid UTF-8.") from None
    return dict(parse_qsl(text, keep_blank_values=True))


def parse_request(operation: OperationModel, form: dict[str, str]) -> dict[str, Any]:
    shape = operation.input_shape
    if shape is None:
        return {}
    result = _read_structure(shape, form, "")
    return result or {}


def _name(member: Shape, name: str) -> str:
    return str(member.serialization.get("name", name))


def _read(shape: Shape, form: dict[str, str], prefix: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return _read_structure(shape, form, prefix + ".")
    if kind == "list":
        return _read_list(shape, form, prefix)
    if kind == "map":
        return _read_map(shape, form, prefix)
    raw = form.get(prefix)
    if raw is None:
        return None
    return _scalar(kind, raw, prefix)


def _read_structure(shape: Shape, form: dict[str, str], prefix: str) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for name, member in shape.members.items():  # type: ignore[attr-defined]
        value = _read(member, form, prefix + _name(member, name))
        if value is not None:
            out[name] = value
    if not out and prefix and not any(k.startswith(prefix) for k in form):
        return None
    return out


def _read_list(shape: Shape, form: dict[str, str], prefix: str) -> list[Any] | None:
    member = shape.member  # type: ignore[attr-defined]
    base = prefix if shape.serialization.get("flattened") else f"{prefix}.{member.serialization.get('name', 'member')}"
    if form.get(prefix) == "" and not any(k.startswith(base + ".") for k in form):
        return []  # "Name=" is how the query protocol sends an empty list
    items = []
    i = 1
    while True:
        value = _read(member, form, f"{base}.{i}")
        if value is None:
            break
        items.append(value)
        i += 1
    return items or None


def _read_map(shape: Shape, form: dict[str, str], prefix: str) -> dict[str, Any] | None:
    key_name = shape.key.serialization.get("name", "key")  # type: ignore[attr-defined]
    value_name = shape.value.serialization.get("name", "value")  # type: ignore[attr-defined]
    base = prefix if shape.serialization.get("flattened") else f"{prefix}.entry"
    out: dict[str, Any] = {}
    i = 1
    while (key := form.get(f"{base}.{i}.{key_name}")) is not None:
        out[key] = _read(shape.value, form, f"{base}.{i}.{value_name}")  # type: ignore[attr-defined]
        i += 1
    return out or None


def _scalar(kind: str, raw: str, path: str) -> Any:
    try:
        if kind in ("integer", "long"):
            return int(raw)
        if kind in ("float", "double"):
            return float(raw)
    except ValueError:
        raise SerializationError(f"Unable to parse '{raw}' at '{path}' as a number.") from None
    if kind == "boolean":
        if raw.lower() not in ("true", "false"):
            raise SerializationError(f"Unable to parse '{raw}' at '{path}' as a boolean.")
        return raw.lower() == "true"
    if kind == "timestamp":
        return parse_timestamp(raw, path)
    if kind == "blob":
        return parse_blob(raw, path)
    return raw


def xml_namespace(service: ServiceModel) -> str:
    ns = service.metadata.get("xmlNamespace")
    if isinstance(ns, dict):
        ns = ns.get("uri")
    return str(ns or f"https://{service.endpoint_prefix}.amazonaws.com/doc/{service.api_version}/")


def serialize_response(operation: OperationModel, data: dict[str, Any] | None, request_id: str) -> bytes:
    name = operation.name
    ns = xml_namespace(operation.service_model)
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<{name}Response xmlns="{ns}">']
    shape = operation.output_shape
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper", f"{name}Result")
        parts.append(f"<{wrapper}>")
        _write_members(shape, data or {}, parts)
        parts.append(f"</{wrapper}>")
    parts.append(f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{name}Response>")
    return "".join(parts).encode("utf-8")


def _write_members(shape: Shape, value: dict[str, Any], parts: list[str]) -> None:
    for name, member in shape.members.items():  # type: ignore[attr-defined]
        item = value.get(name)
        if item is not None:
            _write(member, _name(member, name), item, parts)


def _write(shape: Shape, tag: str, value: Any, parts: list[str]) -> None:
    kind = shape.type_name
    if kind == "list":
        member = shape.member  # type: ignore[attr-defined]
        if shape.serialization.get("flattened"):
            for item in value:
                _write(member, tag, item, parts)
            return
        inner = member.serialization.get("name", "member")
        parts.append(f"<{tag}>")
        for item in value:
            _write(member, inner, item, parts)
        parts.append(f"</{tag}>")
        return
    if kind == "map":
        parts.append(f"<{tag}>")
        for k, v in value.items():
            parts.append(f"<entry><key>{xml_text(str(k))}</key>")
            _write(shape.value, "value", v, parts)  # type: ignore[attr-defined]
            parts.append("</entry>")
        parts.append(f"</{tag}>")
        return
    if kind == "structure":
        parts.append(f"<{tag}>")
        _write_members(shape, value, parts)
        parts.append(f"</{tag}>")
        return
    parts.append(f"<{tag}>{xml_text(_scalar_text(kind, value))}</{tag}>")


def _scalar_text(kind: str, value: Any) -> str:
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        return to_iso(value)
    if kind == "blob":
        return blob_text(value)
    return str(value)


def serialize_error(error: AwsError, request_id: str) -> bytes:
    kind = "Sender" if error.sender_fault else "Receiver"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<ErrorResponse><Error><Type>{kind}</Type><Code>{xml_text(error.code)}</Code>"
        f"<Message>{xml_text(error.message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
