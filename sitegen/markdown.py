"""Partner Markdown -> safe HTML: raw HTML neutralised, then an allowlist sanitiser.

Two layers, on purpose. markdown-it-py (CommonMark) is told not to pass raw HTML through, so
`<script>` in a description shows as text; nh3 (the Rust `ammonia` sanitiser) then keeps only
an allowlist of tags and attributes and only http(s)/mailto links, whatever Markdown produced.

The parser is markdown-it-py rather than Python-Markdown (which MkDocs uses for our own
pages) because partners write these texts: CommonMark parsers are built to take time linear in
the input, while Python-Markdown's regular expressions took 5.8 s for 5,000 `[`
(site_src/en/benchmarks.md has the figures). Linear is not enough on its own, though: in pure
Python some constructs cost a large factor per character, so three limits keep every valid
description (5,000 characters) near the cost of plain text. Each is far beyond what a real
description uses, and past it nothing is lost: the text is shown as text, not as the construct.

- At most `MAX_TABLE_CELLS` table cells in a description. A row with fewer cells than its
  header is padded, so one-letter rows under a 625-column header made 199,000 tokens and
  666 KB of HTML from 5,000 characters (1.2 s). Rows past the limit are shown as text.
- Block quotes and lists nested at most `MAX_CONTAINER_DEPTH` deep. Each level reads every
  following "lazy" line again: 20 levels of `>` over 2,500 lines took 170 ms. A deeper `>`
  or `-` is text. (Before, block nesting stopped only at 20 levels, and dropped the rest.)
- Inline constructs (brackets within brackets) nested at most `INLINE_NESTING` deep, instead
  of the preset's 20, which block structure keeps: each level re-reads every unclosed `[`.
  A link around an image (`[![logo](…)](…)`) needs 3.

The limits are here, in the renderer, rather than validation rules: a rule would refuse a
partner's description for markup nobody writes on purpose, and would need this parser to say
where; the renderer bounds the cost of any text, valid or not, and shows every word of it.
"""

from __future__ import annotations

from collections.abc import Callable

import nh3
from markdown_it import MarkdownIt
from markdown_it.parser_block import RuleFuncBlockType as BlockRule
from markdown_it.rules_block import StateBlock, blockquote, list_block, table
from markdown_it.rules_core import StateCore

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

MAX_TABLE_CELLS = 1000
"""Table cells (header and padded ones included) in one description; later rows are text."""
MAX_CONTAINER_DEPTH = 4
"""Block quotes and lists within each other; a deeper `>` or `-` is text."""
INLINE_NESTING = 5
"""Inline constructs within each other (the preset allows 20, as block structure still does)."""

_CELLS = "partner_markdown.table_cells"
_DEPTH = "partner_markdown.container_depth"


def _capped_table(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """GFM tables, but no more than the description's remaining `MAX_TABLE_CELLS`."""
    # A paragraph asks this of each of its lines: the rule's own checks reject most at once.
    if not table(state, start, end, True):
        return False
    # The delimiter row (`|---|:-:|`) fixes the number of columns (the rule has checked that
    # the header row has as many); each body row gets exactly that many cells.
    delimiter = state.src[state.bMarks[start + 1] : state.eMarks[start + 1]]
    columns = sum(1 for cell in delimiter.split("|") if cell.strip())
    cells = state.env.get(_CELLS, 0)
    rows = (MAX_TABLE_CELLS - cells) // columns  # the header row included
    if rows < 1:
        return False
    if silent:
        return True
    table(state, start, min(end, start + 1 + rows), False)
    state.env[_CELLS] = cells + columns * (state.line - start - 1)
    return True


def _nested(rule: BlockRule) -> BlockRule:
    """`rule` (block quotes, lists), opening no container deeper than `MAX_CONTAINER_DEPTH`."""

    def capped(state: StateBlock, start: int, end: int, silent: bool) -> bool:
        depth = state.env.get(_DEPTH, 0)
        if depth >= MAX_CONTAINER_DEPTH:
            return False
        if silent:  # a look-ahead opens nothing
            return rule(state, start, end, True)
        state.env[_DEPTH] = depth + 1
        try:
            return rule(state, start, end, False)
        finally:
            state.env[_DEPTH] = depth

    return capped


def _inline_with(parser: MarkdownIt) -> Callable[[StateCore], None]:
    """The core rule that parses each block's inline text, with `parser`'s options."""

    def inline(state: StateCore) -> None:
        for token in state.tokens:
            if token.type == "inline":
                token.children = []
                parser.inline.parse(token.content, parser, state.env, token.children)

    return inline


def _parser(max_nesting: int) -> MarkdownIt:
    # CommonMark plus tables; raw HTML is escaped, not passed through.
    parser = MarkdownIt("commonmark", {"html": False, "maxNesting": max_nesting}).enable("table")
    parser.block.ruler.at("table", _capped_table, {"alt": ["paragraph", "reference"]})
    parser.block.ruler.at(
        "blockquote", _nested(blockquote), {"alt": ["paragraph", "reference", "blockquote", "list"]}
    )
    parser.block.ruler.at(
        "list", _nested(list_block), {"alt": ["paragraph", "reference", "blockquote"]}
    )
    # With raw HTML off these rules match nothing, but each still looks at every line.
    parser.disable(["html_block", "html_inline"])
    return parser


_PARSER = _parser(max_nesting=20)
_PARSER.core.ruler.at("inline", _inline_with(_parser(max_nesting=INLINE_NESTING)))


def render_partner_markdown(text: str) -> str:
    """Safe HTML for a partner-written Markdown text; headings start at h2 (h1 is the page's)."""
    tokens = _PARSER.parse(text, {})
    for token in tokens:
        if token.type in ("heading_open", "heading_close") and token.tag == "h1":
            token.tag = "h2"
    html = _PARSER.renderer.render(tokens, _PARSER.options, {}).rstrip("\n")
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel="nofollow noopener noreferrer ugc",
        strip_comments=True,
    )
