"""Checks on a partner's logo file: a real PNG/JPEG/WebP, or an SVG proven script-free."""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path
from xml.etree import ElementTree

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser
from PIL import Image

MAX_LOGO_BYTES = 256 * 1024
_RASTER_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
# Anything that makes an SVG load or run something: a URL in CSS, an import, a non-fragment href.
_CSS_EXTERNAL = re.compile(r"url\s*\(\s*['\"]?\s*(?!#)|@import|expression\s*\(", re.IGNORECASE)
_FORBIDDEN_ELEMENTS = {
    "script",
    "foreignobject",
    "iframe",
    "embed",
    "object",
    "handler",
    "listener",
    "set",
    "animate",
}
_PROCESSING_INSTRUCTION = re.compile(rb"<\?(?!xml[\s?])", re.IGNORECASE)
_HREF_ATTRIBUTES = {"href", "src", "action", "formaction", "data"}


def logo_problems(path: Path) -> list[str]:
    """Everything wrong with the logo file at `path` (an empty list when it is fine)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return [f"logo file {path.name!r} not found beside the listing"]
    if size > MAX_LOGO_BYTES:
        return [f"logo is {size // 1024} KB; at most {MAX_LOGO_BYTES // 1024} KB are allowed"]
    content = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix == ".svg":
        return svg_problems(content)
    return _raster_problems(content, _RASTER_FORMATS[suffix])


def _raster_problems(content: bytes, expected: str) -> list[str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as image:
                found = image.format
                image.verify()
    except (
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as error:
        return [f"logo is not a readable {expected} image ({error})"]
    if found != expected:
        return [f"logo file name says {expected} but the file is {found}"]
    return []


def svg_problems(content: bytes) -> list[str]:
    """Why an SVG could run script or load something from elsewhere; empty when it cannot."""
    # Processing instructions outside the root element never reach the tree, so look at the
    # bytes: anything but the XML declaration (`<?xml version…?>`) is refused.
    if _PROCESSING_INSTRUCTION.search(content):
        return ["SVG logo must not contain a processing instruction (such as xml-stylesheet)"]
    builder = ElementTree.TreeBuilder(insert_pis=True, insert_comments=False)
    parser = DefusedXMLParser(
        target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        parser.feed(content)
        root = parser.close()
    except DefusedXmlException:
        return ["SVG logo must not contain a DOCTYPE or entity declarations"]
    except ElementTree.ParseError as error:
        return [f"SVG logo is not well-formed XML ({error})"]
    if _local(root.tag) != "svg":
        return ["SVG logo's root element must be <svg>"]
    found: set[str] = set()
    for element in root.iter():
        if not isinstance(element.tag, str):  # a processing instruction
            found.add("a processing instruction (such as xml-stylesheet)")
            continue
        name = _local(element.tag).lower()
        if name in _FORBIDDEN_ELEMENTS:
            found.add(f"a <{_local(element.tag)}> element")
        if name == "style" and _CSS_EXTERNAL.search(element.text or ""):
            found.add("a stylesheet that loads external content")
        for attribute, value in element.attrib.items():
            attribute_name = _local(attribute).lower()
            if attribute_name.startswith("on"):
                found.add(f"an event handler attribute ({_local(attribute)})")
            elif attribute_name in _HREF_ATTRIBUTES and not value.strip().startswith("#"):
                found.add(f"an external reference ({_local(attribute)}={value[:40]!r})")
            elif _CSS_EXTERNAL.search(value):
                # fill="url(https://…)" loads as surely as a style attribute does.
                found.add(f"an attribute that loads external content ({_local(attribute)})")
    return [f"SVG logo must not contain {what}" for what in sorted(found)]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
