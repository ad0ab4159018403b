"""Checks on a partner's logo file: a real PNG/JPEG/WebP, or an SVG proven inert.

An SVG is a document, not a picture: it can run script, embed HTML (which can redirect the
page or fetch images), and load stylesheets, fonts and images from anywhere, in ways a
denylist keeps missing (CSS escapes such as `u\\72 l(`, `image-set("…")` with no `url(` at
all). So an SVG logo is accepted only when every element and attribute is on an allowlist of
static SVG drawing, all in the SVG namespace, and nothing in it points outside the file once
CSS escapes are decoded: references are `#fragments` only. Served logos also carry a policy
that forbids loading anything and sandboxes them (`consent_app.security.LOGO_HEADERS`): the
second layer, for whatever a browser does that this check does not foresee.

The checks read what a browser reads. The file must be UTF-8 (the only encoding a browser and
this check cannot disagree on: a UTF-16 `<?xml-stylesheet?>` is invisible to a byte search).
CSS is searched with its escapes decoded but nothing removed: a CSS comment hides text from a
browser only where the browser's tokenizer is outside a string or an unquoted `url(…)` and not
inside an escape, and a checker that strips "comments" by any simpler rule hides what the
browser reads (`"/*"` in a string, `/\2a` after decoding). Keeping comment text costs only
that a comment mentioning `url(…)` is refused too.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser
from PIL import Image

from marketplace.files import plain_file

MAX_LOGO_BYTES = 256 * 1024
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
_XLINK_NAMESPACE = "http://www.w3.org/1999/xlink"
_XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"
_RASTER_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}

SVG_ELEMENTS = frozenset(
    {
        # structure and text
        *("svg", "g", "defs", "symbol", "use", "title", "desc", "metadata", "style"),
        *("text", "tspan", "textPath"),
        # shapes
        *("path", "rect", "circle", "ellipse", "line", "polyline", "polygon"),
        # paint servers, clipping, masking, markers
        *("linearGradient", "radialGradient", "stop", "pattern", "clipPath", "mask", "marker"),
        # filters (not feImage, which loads an image)
        *("filter", "feBlend", "feColorMatrix", "feComponentTransfer", "feComposite"),
        *("feConvolveMatrix", "feDiffuseLighting", "feDisplacementMap", "feDistantLight"),
        *("feDropShadow", "feFlood", "feFuncA", "feFuncB", "feFuncG", "feFuncR"),
        *("feGaussianBlur", "feMerge", "feMergeNode", "feMorphology", "feOffset"),
        *("fePointLight", "feSpecularLighting", "feSpotLight", "feTile", "feTurbulence"),
    }
)
"""Static drawing only: no script, animation, links, images, foreignObject or HTML."""

SVG_ATTRIBUTES = frozenset(
    {
        # core, document and geometry
        *("id", "class", "style", "lang", "version", "baseProfile", "viewBox"),
        *("preserveAspectRatio", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry"),
        *("fx", "fy", "fr", "d", "points", "width", "height", "pathLength", "transform", "href"),
        *("role", "focusable", "type", "media", "enable-background"),
        # paint servers, clipping, masking, markers
        *("gradientUnits", "gradientTransform", "spreadMethod", "offset", "patternUnits"),
        *("patternContentUnits", "patternTransform", "clipPathUnits", "maskUnits"),
        *("maskContentUnits", "markerUnits", "markerWidth", "markerHeight", "refX", "refY"),
        "orient",
        # text
        *("dx", "dy", "rotate", "textLength", "lengthAdjust", "startOffset", "method"),
        *("spacing", "side"),
        # filters
        *("filterUnits", "primitiveUnits", "in", "in2", "result", "stdDeviation", "mode"),
        *("values", "operator", "k1", "k2", "k3", "k4", "scale", "xChannelSelector"),
        *("yChannelSelector", "baseFrequency", "numOctaves", "seed", "stitchTiles", "radius"),
        *("kernelMatrix", "order", "divisor", "bias", "targetX", "targetY", "edgeMode"),
        *("preserveAlpha", "surfaceScale", "diffuseConstant", "specularConstant"),
        *("specularExponent", "kernelUnitLength", "azimuth", "elevation", "z", "pointsAtX"),
        *("pointsAtY", "pointsAtZ", "limitingConeAngle", "tableValues", "slope", "intercept"),
        *("amplitude", "exponent"),
        # presentation attributes (CSS properties written as attributes)
        *("fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-linecap"),
        *("stroke-linejoin", "stroke-miterlimit", "stroke-dasharray", "stroke-dashoffset"),
        *("stroke-opacity", "opacity", "color", "display", "visibility", "clip-path"),
        *("clip-rule", "mask", "filter", "marker-start", "marker-mid", "marker-end"),
        *("stop-color", "stop-opacity", "flood-color", "flood-opacity", "lighting-color"),
        *("font-family", "font-size", "font-style", "font-weight", "font-variant"),
        *("font-stretch", "font-size-adjust", "text-anchor", "text-decoration"),
        *("letter-spacing", "word-spacing", "writing-mode", "dominant-baseline"),
        *("alignment-baseline", "baseline-shift", "direction", "unicode-bidi", "overflow"),
        *("color-interpolation", "color-interpolation-filters", "color-rendering"),
        *("shape-rendering", "text-rendering", "image-rendering", "vector-effect"),
        *("paint-order", "mix-blend-mode", "isolation", "transform-origin"),
    }
)
"""Attributes without a namespace that an allowed element may carry (`data-*` and `aria-*`
are inert and allowed too)."""

_NAMESPACED_ATTRIBUTES = {
    f"{{{_XLINK_NAMESPACE}}}href": "xlink:href",
    f"{{{_XML_NAMESPACE}}}space": "xml:space",
    f"{{{_XML_NAMESPACE}}}lang": "xml:lang",
}
_REFERENCES = {"href", f"{{{_XLINK_NAMESPACE}}}href"}
_PROCESSING_INSTRUCTION = re.compile(r"<\?(?!xml[\s?])", re.IGNORECASE)
_DECLARED_ENCODING = re.compile(
    r"""<\?xml\s[^>]*?\bencoding\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE
)

# CSS escapes (CSS Syntax 3, 4.3.7): `\` + 1-6 hex digits + one optional white space, an
# escaped line break (a string's line continuation), or `\` + any other character.
_CSS_ESCAPE = re.compile(
    r"\\(?:([0-9a-fA-F]{1,6})(?:\r\n|[ \t\r\n\f])?|(\r\n|[\r\n\f])|(.)|$)", re.S
)
# A CSS function is its name followed at once by `(` (`url (` is no function), so comment
# text that merely mentions an image is not refused. Between tokens, comments count as space.
_CSS_SPACE = r"(?:\s|/\*.*?\*/)*"
_CSS_LOADERS = (
    ("@import", re.compile(r"@import", re.I)),
    ("image-set()", re.compile(r"image-set\(", re.I)),
    # url()/src() are fine when they point into the file itself: url(#gradient).
    ("url()", re.compile(r"url\(\s*+(?!['\"]?\s*#)", re.I)),
    ("src()", re.compile(r"(?<![\w-])src\(\s*+(?!['\"]?\s*#)", re.I)),
    ("image()", re.compile(r"(?<![\w-])(?:-[a-z]+-)?(?:image|cross-fade|element)\(", re.I)),
    ("expression()", re.compile(r"expression\s*\(", re.I)),  # old IE allowed the space
    ("binding", re.compile(rf"-moz-binding|behavior{_CSS_SPACE}:", re.I | re.S)),
)


def logo_problems(path: Path, checked: list[bytes] | None = None) -> list[str]:
    """Everything wrong with the logo file at `path` (an empty list when it is fine); the
    bytes checked are appended to `checked` (what a verdict is about, for whoever keeps it)."""
    try:
        size = path.lstat().st_size
    except FileNotFoundError:
        return [f"logo file {path.name!r} not found beside the listing"]
    if not plain_file(path):
        return [f"logo file {path.name!r} must be the image itself, not a link or a special file"]
    if size > MAX_LOGO_BYTES:
        return [f"logo is {size // 1024} KB; at most {MAX_LOGO_BYTES // 1024} KB are allowed"]
    content = path.read_bytes()
    if checked is not None:
        checked.append(content)
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


def css_loads(css: str) -> str | None:
    """What in a stylesheet or CSS value would load something from outside the SVG (`url()`,
    `@import`, `image-set()`…), after decoding CSS escapes; None when nothing would.

    Strings and comments are searched like the rest: removing neither can hide anything a
    browser reads (see the module's docstring).
    """
    decoded = _CSS_ESCAPE.sub(_unescape, css)
    for construct, pattern in _CSS_LOADERS:
        if pattern.search(decoded):
            return construct
    return None


def _unescape(match: re.Match[str]) -> str:
    hex_digits, line_break, character = match.groups()
    if hex_digits:
        code = int(hex_digits, 16)
        return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
    if line_break:
        return ""
    return character or "\ufffd"


_FIXES = {
    "foreign": "a logo may use SVG elements and attributes only: save it as plain SVG, "
    "without editor data or HTML",
    "element": "a logo may use static SVG drawing elements only",
    "attribute": "a logo may use static SVG drawing attributes only",
    "loads": "a logo may refer only to its own parts (url(#id))",
}


@dataclass
class _Findings:
    """What is wrong, each thing once, with the lines where it happens."""

    lines: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def add(self, kind: str, what: str, line: int) -> None:
        self.lines.setdefault((kind, what), []).append(line)

    def messages(self) -> list[str]:
        found = []
        for (kind, what), lines in self.lines.items():
            more = f", and {len(lines) - 1} more" if len(lines) > 1 else ""
            where = what.replace("{line}", f"line {lines[0]}{more}")
            fix = f"; {_FIXES[kind]}" if kind in _FIXES else ""
            found.append(f"SVG logo must not contain {where}{fix}")
        return sorted(found)


class _LocatingBuilder(ElementTree.TreeBuilder):
    """A tree builder that remembers each element's line and the prefixes the file uses."""

    def __init__(self) -> None:
        super().__init__(insert_pis=True, insert_comments=False)
        self.parser: DefusedXMLParser | None = None
        self.lines: dict[ElementTree.Element, int] = {}
        self.prefixes: dict[str, str] = {_XML_NAMESPACE: "xml"}

    def start(self, tag: str, attrs: dict[str, str]) -> ElementTree.Element:
        element = super().start(tag, attrs)
        self.lines[element] = self.parser.parser.CurrentLineNumber if self.parser else 0
        return element

    def start_ns(self, prefix: str, uri: str) -> None:
        self.prefixes.setdefault(uri, prefix)


def svg_problems(content: bytes) -> list[str]:
    """Why an SVG could run script or load something from elsewhere; empty when it cannot."""
    builder = _LocatingBuilder()
    parser = DefusedXMLParser(
        target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    builder.parser = parser
    try:
        parser.feed(content)
        root = parser.close()
    except DefusedXmlException:
        return ["SVG logo must not contain a DOCTYPE or entity declarations"]
    except ElementTree.ParseError as error:
        return [f"SVG logo is not well-formed XML ({error})"]
    text = _utf8_text(content)
    if text is None:
        return [
            "SVG logo must be saved as UTF-8 (and an XML declaration, if it has one, must say "
            'encoding="UTF-8")'
        ]
    # Processing instructions outside the root element never reach the tree, so look at the
    # text: anything but the XML declaration (`<?xml version…?>`) is refused.
    if _PROCESSING_INSTRUCTION.search(text):
        return ["SVG logo must not contain a processing instruction (such as xml-stylesheet)"]
    if _local(root.tag) != "svg":
        return ["SVG logo's root element must be <svg>"]
    if root.tag != f"{{{SVG_NAMESPACE}}}svg":
        return [f'SVG logo\'s root element must be <svg xmlns="{SVG_NAMESPACE}">']
    findings = _Findings()
    for element in root.iter():
        _check_element(element, builder, findings)
    return findings.messages()


def _utf8_text(content: bytes) -> str | None:
    """The document's text when it is UTF-8 for every reader, else None.

    A browser (and expat) take the encoding from a byte-order mark, then from the XML
    declaration, and recognise UTF-16 and UTF-32 from the first bytes even without either;
    such text is still valid UTF-8 when it is ASCII with NUL bytes in between. So: UTF-8 bytes
    (an optional UTF-8 byte-order mark), no NUL (never allowed in XML), and no other encoding
    declared.
    """
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if "\0" in text:
        return None
    declared = _DECLARED_ENCODING.match(text)
    if declared and (declared[1] or declared[2] or "").strip().lower() != "utf-8":
        return None
    return text


def _check_element(
    element: ElementTree.Element, builder: _LocatingBuilder, findings: _Findings
) -> None:
    line = builder.lines.get(element, 0)
    if not isinstance(element.tag, str):  # a processing instruction inside the root
        findings.add("", "a processing instruction (such as xml-stylesheet, {line})", line)
        return
    namespace, name = _split(element.tag)
    if namespace != SVG_NAMESPACE:
        shown = _qualified(namespace, name, builder)
        findings.add("foreign", f"an element of another namespace (<{shown}>, {{line}})", line)
        return  # its attributes and content mean nothing to an SVG renderer: one message
    if name not in SVG_ELEMENTS:
        article = "an" if name[:1].lower() in "aeiou" else "a"
        findings.add("element", f"{article} <{name}> element ({{line}})", line)
        return
    # The whole text of the stylesheet, including any after a child element.
    if name == "style" and (construct := css_loads("".join(element.itertext()))):
        findings.add(
            "loads", f"a stylesheet that loads external content ({construct}, {{line}})", line
        )
    for attribute, value in element.attrib.items():
        attribute_namespace, attribute_name = _split(attribute)
        shown = _NAMESPACED_ATTRIBUTES.get(attribute) or _qualified(
            attribute_namespace, attribute_name, builder
        )
        if attribute_name.lower().startswith("on"):
            findings.add("", f"an event handler attribute ({shown}, {{line}})", line)
        elif attribute_namespace and attribute not in _NAMESPACED_ATTRIBUTES:
            findings.add("foreign", f"an attribute of another namespace ({shown}, {{line}})", line)
        elif not attribute_namespace and not _allowed_attribute(attribute_name):
            findings.add("attribute", f"an attribute {shown} on <{name}> ({{line}})", line)
        elif attribute in _REFERENCES and not value.strip().startswith("#"):
            findings.add("loads", f"an external reference ({shown}={value[:40]!r}, {{line}})", line)
        elif construct := css_loads(value):
            findings.add(
                "loads",
                f"an attribute that loads external content ({shown}: {construct}, {{line}})",
                line,
            )


def _allowed_attribute(name: str) -> bool:
    return name in SVG_ATTRIBUTES or name.startswith(("data-", "aria-"))


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


def _qualified(namespace: str, name: str, builder: _LocatingBuilder) -> str:
    prefix = builder.prefixes.get(namespace, "")
    return f"{prefix}:{name}" if prefix else name


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
