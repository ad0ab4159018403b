"""Highlighted snippets: the stretch of a text around its matched words, cut between words.

whoosh's own fragmenters cut a fixed number of characters around a match, so a snippet began
and ended mid-word with nothing to say it had been cut. Here one window is chosen (the one
that shows the most different matched words), widened to the start of its sentence when that
is near, cut only at spaces (inside a word only where one is longer than the snippet), and
marked with "…" on each side where text was left out.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from html import escape

from whoosh.analysis import Analyzer

ELLIPSIS = "…"
LEAD = 60
"""At most this many characters of context before the first matched word."""

_SENTENCE_START = re.compile(r"(?:^|\n|[.!?;:]\s)\s*", re.MULTILINE)
_TRAILING = " \t\n,;:-–—(«\"'"


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    term: str


def _matched(text: str, analyzer: Analyzer, terms: Collection[str]) -> list[_Span]:
    # The analyser yields one Token object again and again: copy what is needed at once.
    return [
        _Span(token.startchar, token.endchar, token.text)
        for token in analyzer(text, chars=True, mode="query", removestops=False)
        if token.text in terms
    ]


def _window(spans: list[_Span], max_chars: int) -> tuple[int, int]:
    """(first, last) index of the spans to show: the most different terms within max_chars,
    then the most matches, then the earliest."""
    best = (0, 0)
    best_key = (0, 0)
    for first in range(len(spans)):
        last = first
        while last + 1 < len(spans) and spans[last + 1].end - spans[first].start <= max_chars:
            last += 1
        key = (len({span.term for span in spans[first : last + 1]}), last - first + 1)
        if key > best_key:
            best, best_key = (first, last), key
    return best


def _cut(text: str, spans: list[_Span], max_chars: int) -> tuple[int, int]:
    """Start and end offsets of the excerpt: whole words, the chosen matches inside."""
    if len(text) <= max_chars:
        return 0, len(text)
    first, last = _window(spans, max_chars)
    matched_start, matched_end = spans[first].start, spans[last].end
    room = max_chars - (matched_end - matched_start)
    start = max(0, matched_start - min(LEAD, room // 2))
    # Begin at the sentence (or line) the first match is in, when its start is within reach.
    sentences = _SENTENCE_START.finditer(text, max(0, matched_start - room), matched_start + 1)
    sentence_start = max((found.end() for found in sentences), default=-1)
    if 0 <= sentence_start <= matched_start:
        start = sentence_start
    if start > 0 and not text[start - 1].isspace():
        space = _next_space(text, start, matched_start)
        # With no space in reach (a long run without one: an address, a code), cut inside it.
        start = space + 1 if space >= 0 else max(start, _word_start(text, matched_start))
    end = min(len(text), start + max_chars)
    if end < len(text) and not text[end].isspace():
        space = _last_space(text, matched_end, end)
        end = space if space >= 0 else max(end, matched_end)
    return start, end


def _next_space(text: str, start: int, end: int) -> int:
    found = [at for at in (text.find(" ", start, end), text.find("\n", start, end)) if at >= 0]
    return min(found, default=-1)


def _last_space(text: str, start: int, end: int) -> int:
    return max(text.rfind(" ", start, end), text.rfind("\n", start, end))


def _word_start(text: str, offset: int) -> int:
    while offset > 0 and not text[offset - 1].isspace():
        offset -= 1
    return offset


def snippet(text: str, analyzer: Analyzer, terms: Collection[str], max_chars: int) -> str:
    """`text` around its words whose analysed form is in `terms`, as an HTML fragment: at most
    about `max_chars` characters cut between words, "…" where text was cut, matched words in
    <mark> elements, everything else escaped. "" when no word matches."""
    spans = _matched(text, analyzer, terms)
    if not spans:
        return ""
    start, end = _cut(text, spans, max_chars)
    # Leading and trailing spaces and dangling punctuation go; matched words always stay.
    inside = [span for span in spans if start <= span.start and span.end <= end]
    while start < end and text[start].isspace():
        start += 1
    floor = inside[-1].end if inside else start
    cut_end = end < len(text) and text[end:].strip() != ""
    while end > floor and (text[end - 1].isspace() or (cut_end and text[end - 1] in _TRAILING)):
        end -= 1
    parts = [ELLIPSIS] if start > 0 else []
    position = start
    for span in inside:
        parts += [escape(text[position : span.start], quote=False), "<mark>"]
        parts += [escape(text[span.start : span.end], quote=False), "</mark>"]
        position = span.end
    parts.append(escape(text[position:end], quote=False))
    if text[end:].strip():
        parts.append(ELLIPSIS)
    return "".join(parts)
