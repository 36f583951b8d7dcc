"""Helpers for the pure vendor parsers: safe XML and JSON loading, typed field access.

Every helper raises :class:`VendorPayloadError` (naming the vendor, quoting a short snippet)
rather than a library exception, so a payload that does not parse is never a traceback
from deep inside lxml or json, and never a success.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime
from typing import Any

from lxml import etree

from airflow_import_status.errors import VendorPayloadError, snippet

MAX_PAYLOAD_BYTES = 5 * 1024 * 1024

_INTEGER = re.compile(r"-?[0-9]{1,18}")
"""A counter as text: ASCII digits only, at most 18 of them (no '²', no 4,300-digit numbers)."""
_LEADING_DIGITS = re.compile(r"[0-9]+")


def _check_size(vendor: str, payload: bytes | str) -> None:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise VendorPayloadError(
            f"response of {len(payload)} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte cap", vendor=vendor
        )


def load_json(vendor: str, payload: bytes | str) -> Any:
    """Decode a JSON document or raise a :class:`VendorPayloadError`."""
    _check_size(vendor, payload)
    try:
        return json.loads(payload)
    except RecursionError:
        raise VendorPayloadError("response JSON is nested too deeply", vendor=vendor) from None
    except (ValueError, UnicodeDecodeError) as err:
        raise VendorPayloadError(f"response is not valid JSON ({err}): {snippet(payload)!r}", vendor=vendor) from None


def load_json_object(vendor: str, payload: bytes | str) -> dict[str, Any]:
    data = load_json(vendor, payload)
    if not isinstance(data, dict):
        raise VendorPayloadError(f"expected a JSON object, got: {snippet(payload)!r}", vendor=vendor)
    return data


class _SafeParsers(threading.local):
    """One safe parser per thread (lxml parsers are reusable, not shareable across threads)."""

    def __init__(self) -> None:
        self.parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
        )


_PARSERS = _SafeParsers()
_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def load_xml(vendor: str, payload: bytes | str) -> etree._Element:
    """Parse XML with DTDs, entities and network access refused (no XXE, no billion laughs)."""
    _check_size(vendor, payload)
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    if _DECLARATION.search(data):
        raise VendorPayloadError("XML with a DTD or entity declaration is refused", vendor=vendor)
    try:
        root = etree.fromstring(data, parser=_PARSERS.parser)
    except (etree.XMLSyntaxError, ValueError) as err:
        raise VendorPayloadError(f"response is not valid XML ({err}): {snippet(payload)!r}", vendor=vendor) from None
    if root is None:
        raise VendorPayloadError(f"response holds no XML element: {snippet(payload)!r}", vendor=vendor)
    return root


def local_name(element: etree._Element) -> str:
    """Tag without its namespace."""
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else etree.QName(element).localname


def xml_children_text(element: etree._Element) -> dict[str, str | None]:
    """Map of child local name to its text, namespaces dropped (last one wins)."""
    fields: dict[str, str | None] = {}
    for child in element:  # one pass, each tag read once (a status poll maps a dozen children)
        tag = child.tag
        if isinstance(tag, str):
            fields[tag.rpartition("}")[2]] = child.text
    return fields


def optional_int(vendor: str, fields: dict[str, Any], name: str) -> int | None:
    """A non-negative integer counter, ``None`` when absent or empty; anything else is an error."""
    value = fields.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        if not _INTEGER.fullmatch(text):
            raise VendorPayloadError(f"field {name!r} is not an integer: {snippet(value)!r}", vendor=vendor)
        value = int(text)
    elif isinstance(value, bool):
        raise VendorPayloadError(f"field {name!r} is not an integer: {value!r}", vendor=vendor)
    elif not isinstance(value, int):
        raise VendorPayloadError(f"field {name!r} is not an integer: {snippet(str(value))!r}", vendor=vendor)
    if value < 0:
        raise VendorPayloadError(f"field {name!r} is negative: {value}", vendor=vendor)
    return value


def required(vendor: str, fields: dict[str, Any], name: str) -> Any:
    value = fields.get(name)
    if value is None or value == "":
        raise VendorPayloadError(f"required field {name!r} is missing", vendor=vendor)
    return value


def optional_str(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    return str(value)


def parse_iso_datetime(vendor: str, value: str | None, name: str) -> datetime | None:
    """ISO 8601 with up to 7 fractional digits (.NET writes 7; Python reads 6)."""
    if value is None or value == "":
        return None
    text = value.strip().replace("Z", "+00:00")
    head, dot, tail = text.partition(".")
    if dot:
        digits = _LEADING_DIGITS.match(tail)
        fraction = digits.group() if digits else ""
        text = f"{head}.{fraction[:6].ljust(6, '0')}{tail[len(fraction) :]}" if fraction else f"{head}{tail}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise VendorPayloadError(f"field {name!r} is not an ISO 8601 date: {snippet(value)!r}", vendor=vendor) from None
