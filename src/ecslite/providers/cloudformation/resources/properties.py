"""CloudFormation properties → an operation's parameters, through the operation's botocore model.

CloudFormation spells ECS's and Logs' members in PascalCase (``ContainerDefinitions[].PortMappings
[].ContainerPort``) where the API spells them in camelCase (``containerDefinitions[].portMappings[]
.containerPort``), and templates often give numbers and booleans as strings (``"256"``, ``"true"``).
Members are matched without regard to case, scalars are coerced to the model's type, map keys are
kept as they are (``LogConfiguration.Options``, ``DockerLabels``), and properties the operation does
not take are left out (a handler reads those itself).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from ecslite.protocol.errors import SerializationError
from ecslite.protocol.models import operation_model
from ecslite.protocol.values import parse_timestamp
from ecslite.providers.cloudformation.resources.base import ResourceFailed

Doc = dict[str, Any]


def api_params(service: str, operation: str, props: Doc, *, exclude: Collection[str] = ()) -> Doc:
    """``props`` as ``service``'s ``operation`` takes them (top-level names in ``exclude`` left out)."""
    model = operation_model(service, operation)
    if model is None or model.input_shape is None:  # a wiring mistake, not a template's
        raise RuntimeError(f"{service} has no {operation}")
    skipped = {name.lower() for name in exclude}
    top = {key: value for key, value in props.items() if key.lower() not in skipped}
    converted = convert(model.input_shape, top, path="")
    return converted if isinstance(converted, dict) else {}


def convert_for(service: str, operation: str, member: str, value: Any) -> Any:
    """``value`` shaped like the ``member`` parameter of ``service``'s ``operation``."""
    model = operation_model(service, operation)
    if model is None or model.input_shape is None or member not in model.input_shape.members:
        raise RuntimeError(f"{service} has no {operation} taking {member}")  # a wiring mistake
    return convert(model.input_shape.members[member], value, path=member)


def convert(shape: Shape, value: Any, path: str) -> Any:
    """``value`` shaped like ``shape``: structures by case-insensitive member names, scalars coerced."""
    if value is None:
        return None
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            raise ResourceFailed(f"Property {path or 'Properties'} must be an object")
        members = {name.lower(): (name, member) for name, member in shape.members.items()}
        out: Doc = {}
        for key, item in value.items():
            found = members.get(str(key).lower())
            if found is not None:
                out[found[0]] = convert(found[1], item, f"{path}.{key}" if path else str(key))
        return out
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            raise ResourceFailed(f"Property {path} must be a list")
        return [convert(shape.member, item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            raise ResourceFailed(f"Property {path} must be an object")
        return {str(key): convert(shape.value, item, f"{path}.{key}") for key, item in value.items()}
    return _scalar(shape.type_name, value, path)


def _scalar(type_name: str, value: Any, path: str) -> Any:
    try:
        if type_name in ("integer", "long"):
            return int(value)
        if type_name in ("double", "float"):
            return float(value)
        if type_name == "boolean":
            if isinstance(value, str):
                if value.lower() not in ("true", "false"):
                    raise ValueError(value)
                return value.lower() == "true"
            return bool(value)
        if type_name == "timestamp":
            # Providers take epoch seconds, as the edge hands them over; templates write ISO 8601.
            return parse_timestamp(value, path)
    except (TypeError, ValueError, SerializationError):
        raise ResourceFailed(f"Property {path} has an invalid value: {value!r}") from None
    if type_name == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if type_name == "string" and isinstance(value, bool):
        return "true" if value else "false"
    return value
