"""Which partners a query names: "contoso", "Fabrikam migrations", "nortwind" (one typo).

A query names a partner when every one of its words is a word of the partner's name (in any
site language), exactly, by the same stem, or with one typo (one letter added, missing,
changed, or two swapped, in words of four letters or more), and the name's first word is one
of them: the first word is what tells partners apart ("Contoso Cloud Services"; "cloud
services" names nobody). A query also names a partner when it has the name's first word
among others ("contso migration") and that word is distinctive: hardly any partner but the
ones so named uses it. Search ranks named partners first: all words, then with typos, then
by a distinctive first word.

A name made only of common words ("Cloud Migration Experts") names nobody: the lift is for
finding a partner by what sets its name apart, and a partner must not buy first place for
the catalog's most common queries by naming itself after them. Such a partner still ranks by
its texts, like every other.

Looked up per query, so it must cost microseconds: names are indexed by their first word and
by that word with any one letter deleted (a typo and the word it was meant to be share such a
deletion), and only the partners found that way are compared word by word.

As a visitor types ("Cont", "Contoso Cl"), the query's last word is often a word cut short: when
no partner's text has it as a whole word, it may be the start of a name's word (three letters
at least). Such a match ranks below typos.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

_WORD = re.compile(r"\w+", re.UNICODE)

MAX_QUERY_WORDS = 6
"""A longer query is a description of a need, not a name."""
DISTINCTIVE = 3
"""A first word used by at most this many partners' texts identifies a partner by itself."""
COMMON = 25
"""A word more partners' texts than this use ("cloud", "migration") tells no partner apart: a
name needs at least one word used less to be named at all."""
MAX_NAMED = 200
"""A query whose words name more partners than this (one common first word) names none."""
TYPO_MIN_LENGTH = 4
"""Shorter words must be typed exactly: one edit away from "it" is half the dictionary."""
PREFIX_MIN_LENGTH = 3
"""A word cut short names partners from this many letters on ("co" starts too many names)."""


def name_words(text: str) -> tuple[str, ...]:
    """The words of a name or query as compared here: case-folded, ё as е."""
    return tuple(_WORD.findall(text.casefold().replace("ё", "е")))


def _deletions(word: str) -> set[str]:
    return {word[:at] + word[at + 1 :] for at in range(len(word))}


def one_edit_apart(a: str, b: str) -> bool:
    """At most one letter added, missing or changed, or two neighbours swapped."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [at for at in range(len(a)) if a[at] != b[at]]
        if len(diffs) == 1:
            return True
        return (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and (a[diffs[0]], a[diffs[1]]) == (b[diffs[1]], b[diffs[0]])
        )
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    return any(longer[:at] + longer[at + 1 :] == shorter for at in range(len(longer)))


def _sets_apart(name: tuple[str, ...], users: Callable[[str], int]) -> bool:
    """Whether some word of `name` is rare enough to tell its partner apart (see COMMON)."""
    return any(users(word) <= COMMON for word in name)


@dataclass
class NameIndex:
    """Partner names by first word, for `named`."""

    stem: Callable[[str], str]  # a word's stem (English or Russian, by its letters)
    names: dict[int, list[tuple[str, ...]]] = field(default_factory=dict)  # docnum -> names
    by_first: dict[str, list[int]] = field(default_factory=dict)  # first word -> docnums
    by_deletion: dict[str, set[str]] = field(default_factory=dict)  # first word minus a letter
    by_stem: dict[str, set[str]] = field(default_factory=dict)  # stem of a first word
    _sorted_firsts: list[str] | None = None  # the first words in order, for prefixes

    def add(self, docnum: int, names: Iterable[str]) -> None:
        """Index a partner's names (one per site language; repeats are fine)."""
        for name in dict.fromkeys(names):
            words = name_words(name)
            if not words:
                continue
            self.names.setdefault(docnum, []).append(words)
            first = words[0]
            members = self.by_first.setdefault(first, [])
            if docnum not in members[-1:]:
                members.append(docnum)
            if len(members) == 1:  # a first word seen for the first time
                self._sorted_firsts = None
                self.by_stem.setdefault(self.stem(first), set()).add(first)
                if len(first) >= TYPO_MIN_LENGTH:
                    for deletion in _deletions(first) | {first}:
                        self.by_deletion.setdefault(deletion, set()).add(first)

    def remove(self, docnum: int) -> None:
        """Forget a partner's names, as if they had never been added (`add`)."""
        for words in self.names.pop(docnum, []):
            first = words[0]
            members = self.by_first.get(first, [])
            if docnum not in members:  # (its other name, with the same first word)
                continue
            members.remove(docnum)
            if members:
                continue
            del self.by_first[first]  # a first word no partner has now
            self._sorted_firsts = None
            keys = [(self.by_stem, self.stem(first))]
            if len(first) >= TYPO_MIN_LENGTH:
                keys += [(self.by_deletion, deletion) for deletion in _deletions(first) | {first}]
            for table, key in keys:
                words_there = table[key]
                words_there.discard(first)
                if not words_there:
                    del table[key]

    def _firsts(self, word: str) -> set[str]:
        """Indexed first words that `word` may stand for."""
        found = {word} if word in self.by_first else set()
        found |= self.by_stem.get(self.stem(word), set())
        if len(word) >= TYPO_MIN_LENGTH:
            for deletion in _deletions(word) | {word}:
                for first in self.by_deletion.get(deletion, ()):
                    if one_edit_apart(word, first):
                        found.add(first)
        return found

    def sorted_firsts(self) -> list[str]:
        """The first words in order (for names being typed); a build calls it before keeping
        the index, so no query pays for the sort."""
        if self._sorted_firsts is None:
            self._sorted_firsts = sorted(self.by_first)
        return self._sorted_firsts

    def _prefixed_firsts(self, start: str) -> list[str]:
        """Indexed first words that begin with `start`, at most MAX_NAMED + 1 of them."""
        firsts = self.sorted_firsts()
        found: list[str] = []
        at = bisect.bisect_left(firsts, start)
        while at < len(firsts) and firsts[at].startswith(start) and len(found) <= MAX_NAMED:
            found.append(firsts[at])
            at += 1
        return found

    def _same(self, word: str, name_word: str, cut_short: bool = False) -> int:
        """3 for the same word or stem, 2 for a typo of it, 1 when `word` is cut short and
        `name_word` begins with it, 0 for another word."""
        if word == name_word or self.stem(word) == self.stem(name_word):
            return 3
        if min(len(word), len(name_word)) >= TYPO_MIN_LENGTH and one_edit_apart(word, name_word):
            return 2
        if cut_short and name_word.startswith(word):
            return 1
        return 0

    def _covers(self, words: Sequence[str], name: tuple[str, ...], cut_short: bool) -> int:
        """0 unless every query word is a different word of `name`, the first among them;
        else 3 when all are exact (or same-stem), 2 with typos, 1 with the last word cut
        short (`cut_short`: it may be the start of a name's word)."""
        used: set[int] = set()
        quality = 3
        for number, word in enumerate(words):
            last = cut_short and number == len(words) - 1
            best, where = 0, -1
            for position, name_word in enumerate(name):
                if position not in used:
                    same = self._same(word, name_word, last)
                    if same > best:
                        best, where = same, position
            if not best:
                return 0
            used.add(where)
            quality = min(quality, best)
        return quality if 0 in used else 0

    def named(self, text: str, users: Callable[[str], int]) -> dict[int, int]:
        """The partners `text` names: 3 by the words of their name, 2 with typos, 1 by a
        distinctive first word among other words or with the last word cut short (see the
        module's docstring). `users(word)` is how many partners' texts have the word."""
        words = name_words(text)
        if not words or len(words) > MAX_QUERY_WORDS:
            return {}
        last = words[-1]
        cut_short = not text[-1:].isspace() and len(last) >= PREFIX_MIN_LENGTH and users(last) == 0
        candidates: dict[int, str] = {}  # docnum -> the first word it was found by
        for word in words:
            for first in self._firsts(word):
                candidates.update(dict.fromkeys(self.by_first[first], first))
                if len(candidates) > MAX_NAMED:
                    return {}
        if cut_short:  # names beginning with the word cut short, unless too many do
            started = {
                docnum: first
                for first in self._prefixed_firsts(last)
                for docnum in self.by_first[first]
            }
            if len(candidates) + len(started) <= MAX_NAMED:
                candidates = started | candidates
        found: dict[int, int] = {}
        for docnum, first in candidates.items():
            names = [name for name in self.names[docnum] if _sets_apart(name, users)]
            if not names:
                continue
            quality = max(self._covers(words, name, cut_short) for name in names)
            if not quality and len(words) > 1 and users(first) <= DISTINCTIVE:
                quality = 1
            if quality:
                found[docnum] = quality
        return found
