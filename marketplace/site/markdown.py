"""Partner Markdown -> safe HTML: raw HTML neutralised, then an allowlist sanitiser.

Two layers, on purpose. Python-Markdown is told not to pass raw HTML through, so `<script>` in
a description shows as text; nh3 (the Rust `ammonia` sanitiser) then keeps only an allowlist
of tags and attributes and only http(s)/mailto links, whatever Markdown produced.
"""

from __future__ import annotations

import markdown
import nh3

ALLOWED_TAGS = frozenset(
    {
        "p",
        "br",
        "hr",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "strong",
        "em",
        "code",
        "pre",
        "blockquote",
        "ul",
        "ol",
        "li",
        "a",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "del",
    }
)
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})


class _NoRawHtml(markdown.Extension):
    """Escape raw HTML instead of passing it through."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")


def _markdown() -> markdown.Markdown:
    return markdown.Markdown(
        extensions=[_NoRawHtml(), "tables", "sane_lists"], output_format="html"
    )


_converter = _markdown()


def render_partner_markdown(text: str) -> str:
    """Safe HTML for a partner-written Markdown text; headings start at h2 (h1 is the page's)."""
    _converter.reset()
    html = _converter.convert(text).replace("<h1>", "<h2>").replace("</h1>", "</h2>")
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel="nofollow noopener noreferrer ugc",
        strip_comments=True,
    )
