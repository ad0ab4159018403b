"""Logo files: real raster images, or SVG proven free of script and external references."""

from __future__ import annotations

import io
from pathlib import Path

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
        ('<rect onload="alert(1)"/>', "an event handler attribute (onload, line 1)"),
        (
            '<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject>',
            "a <foreignObject> element",
        ),
        ('<image href="https://tracker.example/p.png"/>', "an <image> element"),
        ('<a xlink:href="javascript:alert(1)"><rect/></a>', "an <a> element"),
        ('<use xlink:href="javascript:alert(1)"/>', "an external reference (xlink:href="),
        ('<rect fill="url(https://evil.example/x)"/>', "an attribute that loads external content"),
        (
            "<style>@import url(https://evil.example/x.css);</style>",
            "a stylesheet that loads external content",
        ),
        (
            '<rect style="background:url(//evil.example/x)"/>',
            "an attribute that loads external content (style: url()",
        ),
        ('<set attributeName="href" to="javascript:alert(1)"/>', "a <set> element"),
    ],
)
def test_dangerous_svg_is_refused(body: str, reason: str) -> None:
    found = svg_problems((SVG_OPEN + body + "</svg>").encode())
    assert any(reason in problem for problem in found), found


XHTML = 'xmlns:h="http://www.w3.org/1999/xhtml"'


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # CSS escapes spell url( and @import without the letters.
        (
            "<style>rect{fill:u\\72 l(https://evil.example/x)}</style>",
            "a stylesheet that loads external content (url(), line 1)",
        ),
        (
            '<rect style="fill:\\75\\72\\6c(//evil.example/x)"/>',
            "an attribute that loads external content (style: url(), line 1)",
        ),
        (
            "<style>@\\69mport 'https://evil.example/x.css';</style>",
            "a stylesheet that loads external content (@import, line 1)",
        ),
        (
            '<style>@import "https://evil.example/x.css";</style>',
            "a stylesheet that loads external content (@import, line 1)",
        ),
        (
            "<style>svg{fill:red}<g/>@import 'https://evil.example/x.css';</style>",
            "a stylesheet that loads external content (@import, line 1)",
        ),
        # image-set() takes plain strings, no url() at all.
        (
            '<style>svg{background:image-set("https://evil.example/x.png" 1x)}</style>',
            "a stylesheet that loads external content (image-set(), line 1)",
        ),
        (
            "<style>svg{background:-webkit-image-set('//evil.example/x.png' 1x)}</style>",
            "a stylesheet that loads external content (image-set(), line 1)",
        ),
        # Elements of another namespace: the browser renders XHTML inside an SVG document.
        (
            f'<h:img {XHTML} srcset="https://evil.example/x.png 1x"/>',
            "an element of another namespace (<h:img>, line 1)",
        ),
        (
            f'\n<h:video {XHTML} poster="https://evil.example/p.png"/>',
            "an element of another namespace (<h:video>, line 2)",
        ),
        (
            f'<h:meta {XHTML} http-equiv="refresh" content="0;url=https://evil.example/"/>',
            "an element of another namespace (<h:meta>, line 1)",
        ),
        # Not in the allowlist of static SVG elements and attributes.
        ('<image href="data:image/png;base64,AAAA"/>', "an <image> element (line 1)"),
        ('<feImage href="#x"/>', "a <feImage> element (line 1)"),
        ('<a href="#x"><rect/></a>', "an <a> element (line 1)"),
        ('<rect requiredFeatures="x" ping="https://evil.example/"/>', "an attribute ping"),
        (
            '<rect xmlns:i="http://www.inkscape.org/namespaces/inkscape" i:label="x"/>',
            "an attribute of another namespace (i:label, line 1)",
        ),
        ('<use href="other.svg#a"/>', "an external reference (href='other.svg#a', line 1)"),
    ],
)
def test_svg_allows_only_static_svg(body: str, reason: str) -> None:
    found = svg_problems((SVG_OPEN + body + "</svg>").encode())
    assert any(reason in problem for problem in found), found


EVIL_FONT = "@font-face{font-family:x;src:url(https://evil.example/f.woff)} text{font-family:x}"


@pytest.mark.parametrize(
    "body",
    [
        # "/*" inside a string opens no comment for a browser...
        pytest.param(
            f'<style>text{{font-family:"/*"}} {EVIL_FONT} g{{font-family:"*/"}}</style>',
            id="in a string",
        ),
        pytest.param(
            f"<style>text{{font-family:'/*'}} {EVIL_FONT} g{{font-family:'*/'}}</style>",
            id="in a single-quoted string",
        ),
        # ...nor does "/" and an escaped "*" (`\\2a`)...
        pytest.param(
            f"<style>/\\2a x{{}} {EVIL_FONT} g{{fill:red}} /* */</style>", id="hex-escaped star"
        ),
        pytest.param(
            f"<style>/\\* x{{}} {EVIL_FONT} g{{fill:red}} /* */</style>", id="escaped star"
        ),
        # ...nor "/*" inside an unquoted url(…), which may point into the file.
        pytest.param(
            f"<style>g{{fill:url(#a/*)}} {EVIL_FONT} h{{fill:url(#b*/)}}</style>", id="in url()"
        ),
        pytest.param(
            "<rect style=\"font-family:'/*';background:url(https://evil.example/x);fill:'*/'\"/>",
            id="in a style attribute",
        ),
    ],
)
def test_css_comments_hide_nothing_a_browser_reads(body: str) -> None:
    """A checker that removes what it takes for comments must tokenise exactly as a browser
    does; this one removes nothing, so text a browser reads is always searched."""
    (problem,) = svg_problems((SVG_OPEN + body + "</svg>").encode())
    assert "loads external content (" in problem and "url(), line 1)" in problem, problem


def test_css_comments_between_tokens_are_space() -> None:
    found = svg_problems((SVG_OPEN + "<style>g{behavior/**/:url(#x)}</style></svg>").encode())
    assert found and "(binding, line 1)" in found[0], found


def test_css_comments_that_mention_no_loader_are_accepted() -> None:
    svg = SVG_OPEN + "<style>/* brand colour, see element (main) */ .a{fill:#06c}</style></svg>"
    assert svg_problems(svg.encode()) == []


NOT_UTF8 = (
    "SVG logo must be saved as UTF-8 "
    '(and an XML declaration, if it has one, must say encoding="UTF-8")'
)
STYLESHEET_PI = '<?xml-stylesheet href="https://evil.example/x.css"?>'


@pytest.mark.parametrize(
    ("codec", "declared"),
    [
        ("utf-16", "UTF-16"),  # with a byte-order mark
        ("utf-16-le", "UTF-16"),  # without: recognised from the first bytes
        ("utf-16-be", "UTF-16"),
        ("latin-1", "ISO-8859-1"),
    ],
)
def test_svg_in_another_encoding_is_refused(codec: str, declared: str) -> None:
    """In UTF-16 a `<?xml-stylesheet?>` is not the bytes `<?xml-stylesheet`: every check
    reads text, and text only one way, so the file must be UTF-8."""
    svg = f'<?xml version="1.0" encoding="{declared}"?>\n{STYLESHEET_PI}{SVG_OPEN}<rect/></svg>'
    assert svg_problems(svg.encode(codec)) == [NOT_UTF8]
    plain = f'<?xml version="1.0" encoding="{declared}"?>\n{SVG_OPEN}<rect/></svg>'
    assert svg_problems(plain.encode(codec)) == [NOT_UTF8]


@pytest.mark.parametrize(
    "declaration", ["", '<?xml version="1.0"?>', "<?xml version='1.0' encoding='utf-8'?>"]
)
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_utf8_svg_is_accepted(declaration: str, bom: bytes) -> None:
    assert svg_problems(bom + f"{declaration}{SVG_OPEN}<text>Café</text></svg>".encode()) == []


def test_svg_problems_say_how_to_fix_foreign_content() -> None:
    svg = SVG_OPEN + f'<h:video {XHTML} poster="https://evil.example/p.png"/></svg>'
    (problem,) = svg_problems(svg.encode())
    assert "plain SVG" in problem


def test_common_static_svg_is_accepted() -> None:
    """What drawing tools export when asked for plain SVG: styles, gradients, text, filters."""
    svg = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'version="1.1" viewBox="0 0 100 40" width="100" height="40" xml:space="preserve">'
        "<title>Acme</title><desc>Logo</desc>"
        "<style>.a{fill:url(#g);font-family:'Segoe UI',sans-serif}"
        "@media (prefers-color-scheme: dark){.a{fill:#fff}}</style>"
        '<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1" '
        'gradientUnits="objectBoundingBox"><stop offset="0" stop-color="#06c"/>'
        '<stop offset="1" style="stop-color:#0a8;stop-opacity:.5"/></linearGradient>'
        '<clipPath id="c"><rect width="100" height="40" rx="4"/></clipPath>'
        '<filter id="f"><feGaussianBlur in="SourceAlpha" stdDeviation="1"/>'
        '<feOffset dx="1" dy="1" result="o"/><feMerge><feMergeNode in="o"/>'
        '<feMergeNode in="SourceGraphic"/></feMerge></filter>'
        '<symbol id="s" viewBox="0 0 10 10"><circle cx="5" cy="5" r="4"/></symbol></defs>'
        '<g clip-path="url(#c)" filter="url( \'#f\' )" data-name="Layer 1" transform="scale(1)">'
        '<path class="a" d="M0 0h10v10z" fill-rule="evenodd"/>'
        '<use xlink:href="#s" x="20" width="10" height="10"/>'
        '<text x="40" y="25" font-size="12" text-anchor="start">Ac<tspan dy="1">me</tspan></text>'
        '<rect fill="u\\72 l(\\23 g)" width="1" height="1"/>'
        "</g></svg>"
    )
    assert svg_problems(svg.encode()) == []


def test_svg_must_be_in_the_svg_namespace() -> None:
    assert svg_problems(b"<svg><rect/></svg>") == [
        'SVG logo\'s root element must be <svg xmlns="http://www.w3.org/2000/svg">'
    ]


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


@pytest.mark.timeout(30)
@pytest.mark.parametrize("target", ["/dev/zero", "elsewhere.png"])
def test_a_logo_that_is_a_link_is_refused_unread(
    listings: ListingsFolder, tmp_path: Path, target: str
) -> None:
    """A pull request can add links: one to /dev/zero made validation read forever (every
    partner's CI hung); one to an image elsewhere on the build machine would be published."""
    listings.write_variant("industries: [retail]", "industries: [retail]\nlogo: acme.png")
    if target == "elsewhere.png":
        (tmp_path / target).write_bytes(png_bytes())
        target = str(tmp_path / target)
    (listings.root / "acme.png").symlink_to(target)
    assert listings.problems() == [
        "acme.yaml:16:7: logo: logo file 'acme.png' must be the image itself, not a link or "
        "a special file"
    ]
