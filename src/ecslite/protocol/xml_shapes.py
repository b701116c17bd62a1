"""Reading and writing XML documents by a botocore shape, as the REST-XML protocol (S3) lays them out.

An element's name is the member's ``locationName``, else the member name. A list is wrapped (its
items are ``<member>`` or the item shape's ``locationName``) unless ``flattened``, when its items
repeat under the list's own name, as botocore's XML parser expects. Timestamps in bodies are ISO
8601 with milliseconds; booleans are ``true``/``false``; blobs are base64. Namespaces on input are
ignored; a document with a DOCTYPE is refused (no entity expansion, ever).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from xml.etree import ElementTree as ET

from botocore.model import Shape

from ecslite.protocol.errors import AwsError
from ecslite.protocol.values import parse_timestamp, to_iso

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
# Characters XML 1.0 cannot carry at all (a key may hold them; clients ask for url encoding to see them):
# the complement of its Char production, spelled out because the negated class takes ~3 ms to compile.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: str) -> str:
    """``value`` with what XML cannot carry replaced by U+FFFD, so every answer stays well-formed."""
    return _NOT_XML.sub("\ufffd", value)


class MalformedXML(AwsError):
    def __init__(self) -> None:
        super().__init__(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
        )


def parse_document(body: bytes) -> ET.Element:
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise MalformedXML()
    try:
        return ET.fromstring(body)
    except ET.ParseError:
        raise MalformedXML() from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def member_element_name(member: Shape, member_name: str) -> str:
    if member.type_name == "list" and member.serialization.get("flattened"):
        inner = member.member.serialization.get("name")  # type: ignore[attr-defined]
        if inner:
            return str(inner)
    return str(member.serialization.get("name", member_name))


def read_shape(shape: Shape, element: ET.Element) -> Any:
    """The value of ``element`` as ``shape`` says; :class:`MalformedXML` when it does not fit."""
    kind = shape.type_name
    if kind == "structure":
        children: dict[str, list[ET.Element]] = {}
        for child in element:
            children.setdefault(_local(child.tag), []).append(child)
        result: dict[str, Any] = {}
        for name, member in shape.members.items():  # type: ignore[attr-defined]
            if member.serialization.get("location"):
                continue
            found = children.get(member_element_name(member, name))
            if not found:
                continue
            if member.type_name == "list" and member.serialization.get("flattened"):
                result[name] = [read_shape(member.member, item) for item in found]
            else:
                result[name] = read_shape(member, found[0])
        return result
    if kind == "list":
        item_name = str(shape.member.serialization.get("name", "member"))  # type: ignore[attr-defined]
        return [read_shape(shape.member, item) for item in element if _local(item.tag) == item_name]  # type: ignore[attr-defined]
    if kind == "map":
        raise MalformedXML()
    return read_scalar(shape, (element.text or "").strip() if kind != "string" else element.text or "")


def read_scalar(shape: Shape, text: str) -> Any:
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
        if kind == "boolean":
            if text not in ("true", "false"):
                raise MalformedXML()
            return text == "true"
        if kind == "timestamp":
            return parse_timestamp(text, shape.name)
        if kind == "blob":
            return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error, AwsError):
        raise MalformedXML() from None
    return text


def write_shape(parent: ET.Element, name: str, shape: Shape, value: Any) -> None:
    """Appends ``value`` under ``parent`` as element(s) named ``name``."""
    kind = shape.type_name
    if kind == "list":
        if shape.serialization.get("flattened"):
            for item in value:
                write_shape(parent, name, shape.member, item)  # type: ignore[attr-defined]
            return
        wrapper = ET.SubElement(parent, name)
        item_name = str(shape.member.serialization.get("name", "member"))  # type: ignore[attr-defined]
        for item in value:
            write_shape(wrapper, item_name, shape.member, item)  # type: ignore[attr-defined]
        return
    element = ET.SubElement(parent, name)
    fill(element, shape, value)


def fill(element: ET.Element, shape: Shape, value: Any) -> None:
    """Writes a structure's members (or a scalar's text) into ``element``."""
    if shape.type_name == "structure":
        for member_name, member in shape.members.items():  # type: ignore[attr-defined]
            item = value.get(member_name)
            if item is None or member.serialization.get("location") or member.serialization.get("xmlAttribute"):
                continue
            write_shape(element, member_element_name(member, member_name), member, item)
        return
    if shape.type_name == "map":
        return
    element.text = xml_text(write_scalar(shape, value))


def write_scalar(shape: Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        return to_iso(value)
    if kind == "blob":
        return base64.b64encode(value).decode()
    return str(value)


def document(root: ET.Element) -> bytes:
    text: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + text
