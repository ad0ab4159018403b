"""Partner Markdown -> safe HTML: raw HTML neutralised, then an allowlist sanitiser.

Two layers, on purpose. markdown-it-py (CommonMark) is told not to pass raw HTML through, so
`<script>` in a description shows as text; nh3 (the Rust `ammonia` sanitiser) then keeps only
an allowlist of tags and attributes and only http(s)/mailto links, whatever Markdown produced.

The parser is markdown-it-py rather than Python-Markdown (which MkDocs uses for our own
pages) because partners write these texts: CommonMark parsers are built to take time linear in
the input, while Python-Markdown's regular expressions took 5.8 s for 5,000 `[`
(site_src/en/benchmarks.md has the figures).
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

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

# CommonMark plus tables; raw HTML is escaped, not passed through. The preset's nesting limit
# (20) stays: each nested level of brackets costs every character once more.
_parser = MarkdownIt("commonmark", {"html": False}).enable("table")


def render_partner_markdown(text: str) -> str:
    """Safe HTML for a partner-written Markdown text; headings start at h2 (h1 is the page's)."""
    tokens = _parser.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close") and token.tag == "h1":
            token.tag = "h2"
    html = _parser.renderer.render(tokens, _parser.options, {}).rstrip("\n")
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel="nofollow noopener noreferrer ugc",
        strip_comments=True,
    )
