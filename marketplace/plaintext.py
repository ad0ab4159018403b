"""Partner Markdown -> the plain text a visitor reads on the partner page, for search.

Search indexes, ranks and quotes this text, so a snippet never shows Markdown syntax
(`**Entra ID**`, `- `, `[text](url)`): emphasis and link markup go, link texts and code stay,
each block (paragraph, heading, list item, table row, code block) becomes one line. Images
give nothing: the page's sanitiser drops `<img>`, so a visitor never sees their alt text.
Raw HTML stays as text, as the page shows it (`sitegen/markdown.py` parses with HTML off).

The parser is markdown-it-py with the page's options (CommonMark, tables, no raw HTML), so
block structure matches the page; what the page's cost limits turn into text (the 1,001st
table cell, a fifth nested quote) is simply text here too. It is imported only by the search
indexer: `marketplace validate` does not load it.
"""

from __future__ import annotations

import functools
import re

from markdown_it import MarkdownIt
from markdown_it.token import Token

_LINE_START = r"^(?:[ \t>]|[-*+][ \t]|\d{1,9}[.)][ \t])*"
"""Where a line's own construct may begin: after indentation, quote and list markers."""

_RULE_TRIGGERS: dict[str, re.Pattern[str]] = {
    # Block rules.
    "table": re.compile(r"\|"),
    "code": re.compile(r" {4}|\t"),
    "fence": re.compile(r"```|~~~"),
    "blockquote": re.compile(r">"),
    "hr": re.compile(_LINE_START + r"[-*_]", re.MULTILINE),
    "list": re.compile(_LINE_START + r"(?:[-*+]|\d{1,9}[.)])", re.MULTILINE),
    "reference": re.compile(r"\["),
    "heading": re.compile(r"#"),
    "lheading": re.compile(_LINE_START + r"[-=]", re.MULTILINE),
    # Inline rules.
    "escape": re.compile(r"\\"),
    "backticks": re.compile(r"`"),
    "emphasis": re.compile(r"[*_]"),
    "link": re.compile(r"\["),
    "image": re.compile(r"!"),
    "autolink": re.compile(r"<"),
    "entity": re.compile(r"&"),
}
"""The parser's rules that only a certain character can start. A rule whose character a text
lacks cannot fire, and skipping it halves the parse of a typical description (each block rule
is otherwise tried on every line)."""


@functools.lru_cache(maxsize=128)
def _parser(unused: frozenset[str]) -> MarkdownIt:
    """The page's parser options (CommonMark, tables, no raw HTML), without `unused` rules."""
    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    parser.disable(["html_block", "html_inline", *unused])
    return parser


_BLOCK_ENDS = frozenset(
    {"paragraph_close", "heading_close", "tr_close", "blockquote_close", "list_item_close"}
)
_CELL_ENDS = frozenset({"th_close", "td_close"})

_MARKUP = re.compile(r"[\\`*_\[\]<>!#|~&\t\r\f\v]|^ {0,3}(?:[-+=]|\d{1,9}[.)])|^ {4}", re.M)
"""Anything that could make Markdown more than paragraphs of text. Without it the text needs
no parser: about half of real descriptions, and the parser costs 0.15-0.25 ms each."""
_BLANK_LINE = re.compile(r"\n[ ]*\n")


def _inline_text(children: list[Token]) -> str:
    # An image token holds its alt text as its own children, so skipping it skips them.
    parts: list[str] = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts)


def markdown_plain_text(text: str) -> str:
    """The words of a partner's Markdown as a visitor reads them: one line per block."""
    if not _MARKUP.search(text):
        paragraphs = (" ".join(paragraph.split()) for paragraph in _BLANK_LINE.split(text))
        return "\n".join(paragraph for paragraph in paragraphs if paragraph)
    return _parsed_text(text)


def _parsed_text(text: str, every_rule: bool = False) -> str:
    """`markdown_plain_text` by the parser, for any text (`every_rule`: no rule skipped)."""
    unused = frozenset(
        ()
        if every_rule
        else (rule for rule, trigger in _RULE_TRIGGERS.items() if not trigger.search(text))
    )
    lines: list[str] = []
    current: list[str] = []

    def end_line() -> None:
        line = " ".join(" ".join(current).split())
        if line:
            lines.append(line)
        current.clear()

    for token in _parser(unused).parse(text):
        if token.type == "inline":
            current.append(_inline_text(token.children or []))
        elif token.type in ("fence", "code_block"):
            end_line()
            lines.extend(line.strip() for line in token.content.splitlines() if line.strip())
        elif token.type in _CELL_ENDS:
            current.append(" ")
        elif token.type in _BLOCK_ENDS or token.type == "hr":
            end_line()
    end_line()
    return "\n".join(lines)
