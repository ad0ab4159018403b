"""Logo files: real raster images, or SVG proven free of script and external references."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from marketplace.logo import svg_problems
from tests.conftest import ListingsFolder

SVG_OPEN = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'


def with_logo(listings: ListingsFolder, name: str, content: bytes) -> list[str]:
    listings.write_variant("industries: [retail]", f"industries: [retail]\nlogo: {name}")
    (listings.root / name).write_bytes(content)
    return listings.problems()


def png_bytes(fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("acme.png", "PNG"), ("acme.jpg", "JPEG"), ("acme.jpeg", "JPEG"), ("acme.webp", "WEBP")],
)
def test_raster_logos_are_accepted(listings: ListingsFolder, name: str, fmt: str) -> None:
    assert with_logo(listings, name, png_bytes(fmt)) == []


def test_content_must_match_the_extension(listings: ListingsFolder) -> None:
    assert with_logo(listings, "acme.png", png_bytes("JPEG")) == [
        "acme.yaml:16:7: logo: logo file name says PNG but the file is JPEG"
    ]


def test_a_text_file_named_png_is_refused(listings: ListingsFolder) -> None:
    (problem,) = with_logo(listings, "acme.png", b"<script>alert(1)</script>")
    assert problem.startswith("acme.yaml:16:7: logo: logo is not a readable PNG image")


def test_logo_size_limit(listings: ListingsFolder) -> None:
    assert with_logo(listings, "acme.png", png_bytes() + b"\0" * 300_000) == [
        "acme.yaml:16:7: logo: logo is 293 KB; at most 256 KB are allowed"
    ]


def test_clean_svg_is_accepted(listings: ListingsFolder) -> None:
    svg = (
        SVG_OPEN + '<defs><linearGradient id="g"/></defs>'
        '<rect width="10" height="10" fill="url(#g)"/><use href="#g"/></svg>'
    )
    assert with_logo(listings, "acme.svg", svg.encode()) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("<script>alert(1)</script>", "a <script> element"),
        ('<rect onload="alert(1)"/>', "an event handler attribute (onload)"),
        (
            '<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject>',
            "a <foreignObject> element",
        ),
        ('<image href="https://tracker.example/p.png"/>', "an external reference (href="),
        ('<a xlink:href="javascript:alert(1)"><rect/></a>', "an external reference (href="),
        ('<rect fill="url(https://evil.example/x)"/>', "an attribute that loads external content"),
        (
            "<style>@import url(https://evil.example/x.css);</style>",
            "a stylesheet that loads external content",
        ),
        (
            '<rect style="background:url(//evil.example/x)"/>',
            "an attribute that loads external content (style)",
        ),
        ('<set attributeName="href" to="javascript:alert(1)"/>', "a <set> element"),
    ],
)
def test_dangerous_svg_is_refused(body: str, reason: str) -> None:
    found = svg_problems((SVG_OPEN + body + "</svg>").encode())
    assert any(reason in problem for problem in found), found


def test_svg_with_entities_or_doctype_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;">]><svg xmlns="http://www.w3.org/2000/svg">&b;</svg>'
    )
    assert svg_problems(bomb) == ["SVG logo must not contain a DOCTYPE or entity declarations"]


def test_svg_stylesheet_processing_instruction_is_refused() -> None:
    svg = b'<?xml-stylesheet href="https://evil.example/x.css"?>' + SVG_OPEN.encode() + b"</svg>"
    assert svg_problems(svg) == [
        "SVG logo must not contain a processing instruction (such as xml-stylesheet)"
    ]


def test_not_svg_at_all() -> None:
    assert svg_problems(b"<html></html>") == ["SVG logo's root element must be <svg>"]
    assert svg_problems(b"\x89PNG")[0].startswith("SVG logo is not well-formed XML")
