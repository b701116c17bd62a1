"""EC2's own query dialect: form-encoded requests like the query protocol, but its own names and XML.

How it differs from :mod:`ecslite.protocol.query` (botocore's ``EC2Serializer`` and
``EC2QueryParser`` are the reference):

- Request names: a member's ``queryName`` if the model gives one, else its ``locationName`` with
  the first letter capitalised, else the member name. Lists are always flattened: ``Name.N``
  (``Filter.1.Value.2``), never ``.member.N``.
- Responses have no ``<OpResult>`` wrapper: ``<OpResponse xmlns="http://ec2.amazonaws.com/doc/
  2016-11-15/">`` holds ``<requestId>`` first, then the output members under their
  ``locationName``s, lists as ``<tag><item>…</item></tag>``.
- Errors are ``<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>``.
"""

from __future__ import annotations

from typing import Any

from botocore.model import OperationModel, Shape

from ecslite.protocol.errors import AwsError
from ecslite.protocol.query import _scalar, _write_members, xml_text

NAMESPACE = "http://ec2.amazonaws.com/doc/2016-11-15/"


def parse_request(operation: OperationModel, form: dict[str, str]) -> dict[str, Any]:
    shape = operation.input_shape
    if shape is None:
        return {}
    return _read_structure(shape, form, "") or {}


def wire_name(member: Shape, name: str) -> str:
    """The name botocore's EC2 serializer sends a member under."""
    serialization = member.serialization
    if "queryName" in serialization:
        return str(serialization["queryName"])
    if "name" in serialization:
        located = str(serialization["name"])
        return located[:1].upper() + located[1:]
    return name


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
        value = _read(member, form, prefix + wire_name(member, name))
        if value is not None:
            out[name] = value
    if not out and prefix and not any(k.startswith(prefix) for k in form):
        return None
    return out


def _read_list(shape: Shape, form: dict[str, str], prefix: str) -> list[Any] | None:
    member = shape.member  # type: ignore[attr-defined]
    items = []
    i = 1
    while True:
        value = _read(member, form, f"{prefix}.{i}")
        if value is None:
            break
        items.append(value)
        i += 1
    return items or None


def _read_map(shape: Shape, form: dict[str, str], prefix: str) -> dict[str, Any] | None:
    key_name = shape.key.serialization.get("name", "key")  # type: ignore[attr-defined]
    value_name = shape.value.serialization.get("name", "value")  # type: ignore[attr-defined]
    out: dict[str, Any] = {}
    i = 1
    while (key := form.get(f"{prefix}.{i}.{key_name}")) is not None:
        out[key] = _read(shape.value, form, f"{prefix}.{i}.{value_name}")  # type: ignore[attr-defined]
        i += 1
    return out or None


def serialize_response(operation: OperationModel, data: dict[str, Any] | None, request_id: str) -> bytes:
    name = operation.name
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<{name}Response xmlns="{NAMESPACE}">']
    parts.append(f"<requestId>{xml_text(request_id)}</requestId>")
    shape = operation.output_shape
    if shape is not None:
        _write_members(shape, data or {}, parts)
    parts.append(f"</{name}Response>")
    return "".join(parts).encode("utf-8")


def serialize_error(error: AwsError, request_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{xml_text(error.code)}</Code>"
        f"<Message>{xml_text(error.message)}</Message></Error></Errors>"
        f"<RequestID>{xml_text(request_id)}</RequestID></Response>"
    ).encode()
