"""Snippets show the text a visitor reads, cut between words, with "…" where text was cut."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.plaintext import _parsed_text, markdown_plain_text
from search.engine import SearchQuery
from search.snippets import ELLIPSIS, snippet
from search.whoosh_engine import ANALYZERS, WhooshSearch
from tests.search.judged import JUDGED

MARKDOWN_SYNTAX = re.compile(r"\*\*|__|\]\(|`|^#|^\s*[-*+] |^\s*\d+\. |^\s*>|\|", re.MULTILINE)


def test_markdown_becomes_the_text_a_visitor_reads() -> None:
    text = markdown_plain_text(
        "## What we do\n\nSign-in with **Entra ID** and *Purview*; see our\n"
        "[case study](https://x.example/case) and `policy.json`.\n\n"
        "- Nurses' rosters\n- > On call, day & night\n\n"
        "1. Assessment\n\n| Course | Length |\n|---|---|\n| Teams | 2 hours |\n\n"
        "![logo](logo.png)\n\n```\nSet-Mailbox -Identity x\n```\n\n<b>raw &amp; kept</b>"
    )
    assert text.splitlines() == [
        "What we do",
        "Sign-in with Entra ID and Purview; see our case study and policy.json.",
        "Nurses' rosters",
        "On call, day & night",
        "Assessment",
        "Course Length",
        "Teams 2 hours",
        "Set-Mailbox -Identity x",
        "<b>raw & kept</b>",  # the page shows raw HTML as text; it is escaped in snippets
    ]


def _visible(fragment: str) -> str:
    return html.unescape(re.sub(r"</?mark>", "", fragment))


def test_snippets_never_show_markdown(judged_engine: WhooshSearch) -> None:
    for judged in JUDGED:
        hits = judged_engine.search(SearchQuery(text=judged.text, language=judged.language)).hits
        for hit in hits:
            for fragment in hit.highlights.values():
                assert not MARKDOWN_SYNTAX.search(_visible(fragment)), (judged.text, fragment)
    entra = judged_engine.search(SearchQuery(text="Entra ID regional hospitals")).hits[0]
    assert entra.slug == "clinicare-cloud"
    assert "<mark>Entra</mark> <mark>ID</mark> replaces" in entra.highlights["description"]
    assert "**" not in entra.highlights["description"]


def test_a_long_description_is_cut_between_words_on_both_sides(
    judged_engine: WhooshSearch,
) -> None:
    hit = judged_engine.search(SearchQuery(text="nurses")).hits[0]
    fragment = hit.highlights["description"]
    assert fragment.startswith(ELLIPSIS) and fragment.endswith(ELLIPSIS)
    assert fragment.startswith("…<mark>Nurses</mark>' shift rosters"), "from the item's start"
    name = judged_engine.search(SearchQuery(text="clinicare")).hits[0].highlights["name"]
    assert name == "<mark>Clinicare</mark> Cloud", "a short text is shown whole"


WORDS = st.sampled_from(
    ["cloud", "mail", "hospitals", "migration", "e-mail,", "(Teams)", "24/7", "ward.", "and"]
)


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(WORDS, min_size=1, max_size=120),
    separators=st.lists(st.sampled_from([" ", " ", "\n", "  "]), min_size=120, max_size=120),
    max_chars=st.integers(min_value=20, max_value=200),
)
def test_any_snippet_is_whole_words_of_the_text(
    words: list[str], separators: list[str], max_chars: int
) -> None:
    text = "".join(word + separator for word, separator in zip(words, separators, strict=False))
    text = text.strip()
    fragment = snippet(text, ANALYZERS["en"], {"hospit", "migrat"}, max_chars)
    if not any(word in ("hospitals", "migration") for word in words):
        assert fragment == ""
        return
    assert "<mark>" in fragment
    visible = _visible(fragment)
    inner = visible.removeprefix(ELLIPSIS).removesuffix(ELLIPSIS)
    at = text.find(inner)
    assert at >= 0, (text, visible)
    end = at + len(inner)
    assert visible.startswith(ELLIPSIS) == (at > 0)
    assert at == 0 or text[at - 1].isspace(), "starts at a word"
    assert end == len(text) or text[end].isspace() or text[end] in ",.;:)", "ends after a word"
    assert visible.endswith(ELLIPSIS) == (text[end:].strip() != "")
    longest = max(len(word) for word in words)
    assert len(inner) <= max(max_chars, longest), "within the budget unless one word is longer"


def test_a_long_run_without_spaces_is_cut_inside_it() -> None:
    """A partner cannot stretch its snippet over the results page with one endless "word"."""
    run = "x" * 500 + "-hospitals-" + "y" * 500
    fragment = snippet(f"Intro. {run} outro", ANALYZERS["en"], {"hospit"}, 100)
    visible = _visible(fragment)
    assert "<mark>hospitals</mark>" in fragment
    assert visible.startswith(ELLIPSIS) and visible.endswith(ELLIPSIS)
    assert len(visible) <= 100 + 2 * len(ELLIPSIS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Care for <hospitals> & clinics", "Care for &lt;<mark>hospitals</mark>&gt; &amp; clinics"),
        ("hospitals", "<mark>hospitals</mark>"),
    ],
)
def test_snippets_escape_partner_text(text: str, expected: str) -> None:
    assert snippet(text, ANALYZERS["en"], {"hospit"}, 200) == expected


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ab1 \n.,:;?()'\"/-+=%@é\u00a0", max_size=80))
def test_text_without_markup_needs_no_parser(text: str) -> None:
    """The shortcut for Markdown that can only be paragraphs gives what the parser gives."""
    assert markdown_plain_text(text) == _parsed_text(text)


MARKDOWN_PIECES = st.sampled_from(
    [
        "a",
        "b c",
        " ",
        "  ",
        "    ",
        "\n",
        "\n\n",
        "- ",
        "* ",
        "+ ",
        "1. ",
        "2) ",
        "> ",
        "#",
        "***",
        "---",
        "===",
        "___",
        "_",
        "*",
        "`",
        "```",
        "~~~",
        "[",
        "]",
        "(",
        ")",
        "![",
        "<",
        ">",
        "&amp;",
        "\\",
        "|",
        "|---|",
        "\t",
        "x:",
    ]
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(MARKDOWN_PIECES, max_size=40).map("".join))
def test_skipping_rules_a_text_cannot_use_changes_nothing(text: str) -> None:
    """Rules whose start character a text lacks are skipped: the text is the same as with
    every rule tried."""
    assert markdown_plain_text(text) == _parsed_text(text, every_rule=True)
