"""GeoReport v2 XML documents, built with ElementTree, which escapes the text."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

MEDIA_TYPE = "application/xml; charset=utf-8"
# XML 1.0 cannot carry these even escaped, and ElementTree writes them as they are,
# which would make the document unparseable; ticket text may hold them (only NUL is
# refused at intake), so they are replaced.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# A list's element name and its items' (the specification's plural/singular pairs).
_ITEMS = {"attributes": "attribute", "values": "value"}


def _text(value: Any) -> str | None:
    if value is None:
        return None  # an empty element: the specification's "no value"
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("\ufffd", str(value))


def _fill(parent: ET.Element, data: Mapping[str, Any]) -> None:
    for name, value in data.items():
        child = ET.SubElement(parent, name)
        if isinstance(value, Mapping):
            _fill(child, value)
        elif isinstance(value, list):
            for item in value:
                element = ET.SubElement(child, _ITEMS.get(name, "item"))
                if isinstance(item, Mapping):
                    _fill(element, item)
                else:
                    element.text = _text(item)
        else:
            child.text = _text(value)


def _document(root: ET.Element) -> bytes:
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def listing(root: str, item: str, rows: Sequence[Mapping[str, Any]]) -> bytes:
    """``<root><item>...</item>...</root>``, as services and service_requests are."""
    top = ET.Element(root)
    for row in rows:
        _fill(ET.SubElement(top, item), row)
    return _document(top)


def single(root: str, data: Mapping[str, Any]) -> bytes:
    """``<root>...</root>``, as a service_definition is."""
    top = ET.Element(root)
    _fill(top, data)
    return _document(top)


def errors(status: int, description: str) -> bytes:
    return listing("errors", "error", [{"code": status, "description": description}])
