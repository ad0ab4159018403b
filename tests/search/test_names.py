"""Which partners a query names (search/names.py), without an index: the rules in small."""

from __future__ import annotations

import pytest

from search.names import MAX_NAMED, NameIndex, one_edit_apart
from search.whoosh_engine import word_stem


def _index(*names: str) -> NameIndex:
    index = NameIndex(stem=word_stem)
    for docnum, name in enumerate(names):
        index.add(docnum, [name])
    return index


NAMES = _index(
    "Contoso Cloud Services", "Cloud Nine Migration", "Тайга Облачные Партнёры", "IT Ops"
)


def _users(word: str) -> int:
    """How many partners' texts use a word: names are rare, "cloud" is everywhere, "nine" is
    not common either."""
    return 1 if word in ("contoso", "тайга", "nine", "ops") else 50


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("Contoso", {0: 3}),
        ("contoso cloud services", {0: 3}),
        ("Contoso-Cloud", {0: 3}),  # the slug
        ("contso", {0: 2}),  # a letter missing
        ("cnotoso clouds", {0: 2}),  # two swapped; a plural is the same word
        ("contoso migration", {0: 1}),  # a distinctive first word among other words
        ("cloud nine", {1: 3}),
        ("cloud", {1: 3}),
        ("cloud services", {}),  # not the first word: a topic, not a name
        ("clod", {1: 2}),
        ("тайга", {2: 3}),
        ("тайга облачные партнеры", {2: 3}),  # е for ё
        ("it", {3: 3}),
        ("ot", {}),  # short words must be exact
        ("", {}),
    ],
)
def test_named(query: str, named: dict[int, int]) -> None:
    assert NAMES.named(query, users=_users) == named


def test_a_common_first_word_names_only_by_the_whole_name() -> None:
    assert NAMES.named("contoso migration", users=lambda word: 20) == {}
    assert NAMES.named("contoso cloud", users=lambda word: 20) == {0: 3}


def test_a_name_of_common_words_names_nobody() -> None:
    """A partner cannot buy first place for "cloud migration" by naming itself after it."""
    generic = _index("Cloud Migration Experts", "Contoso Cloud Services")
    common = lambda word: 1 if word == "contoso" else 500  # noqa: E731
    assert generic.named("cloud migration", users=common) == {}
    assert generic.named("cloud migration experts", users=common) == {}
    assert generic.named("contoso cloud", users=common) == {1: 3}
    # in a small catalog every word is rare: the name is found as before
    assert generic.named("cloud migration", users=lambda word: 2) == {0: 3}


def test_a_word_that_names_a_crowd_names_nobody() -> None:
    crowd = _index(*(f"North Star {number}" for number in range(MAX_NAMED + 1)))
    assert crowd.named("north", users=lambda word: 1) == {}
    assert crowd.named("north star 7", users=lambda word: 1) == {}


@pytest.mark.parametrize(
    ("a", "b", "close"),
    [
        ("contoso", "contoso", True),
        ("contoso", "contso", True),
        ("contoso", "contosoo", True),
        ("contoso", "contaso", True),
        ("contoso", "cotnoso", True),
        ("contoso", "cotnsoo", False),
        ("contoso", "cont", False),
        ("ab", "ba", True),
    ],
)
def test_one_edit_apart(a: str, b: str, close: bool) -> None:
    assert one_edit_apart(a, b) is close
    assert one_edit_apart(b, a) is close


def test_a_name_typed_so_far_names_the_partner() -> None:
    index = NameIndex(stem=lambda word: word)
    index.add(1, ["Contoso Cloud Services"])
    index.add(2, ["Fabrikam Consulting"])
    nobody = lambda word: 0  # noqa: E731 - no partner's text has the words cut short
    assert index.named("Cont", nobody) == {1: 1}
    assert index.named("contoso cl", nobody) == {1: 1}
    assert index.named("Контос", nobody) == {}
    # a whole word some partner uses is a word, not the start of a name
    assert index.named("con", lambda word: 1) == {}
    # two letters start too many names; a finished word (a space after it) is not cut short
    assert index.named("co", nobody) == {}
    assert index.named("cont ", nobody) == {}
    # exact names still rank above names typed so far
    assert index.named("contoso", nobody) == {1: 3}
