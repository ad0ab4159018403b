"""A word's own forms (search/wordforms.py): inflections count as the word, derivations not."""

from __future__ import annotations

import pytest

from search.wordforms import own_forms, singular


@pytest.mark.parametrize(
    ("word", "own", "relatives"),
    [
        ("hospital", {"hospitals"}, {"hospitality"}),
        ("hospitals", {"hospital"}, {"hospitality"}),
        ("migrate", {"migrates", "migrated", "migrating"}, {"migration", "migrations"}),
        ("training", {"train", "trained", "trains"}, {"trainee", "trainees"}),
        ("companies", {"company"}, {"companion"}),
        ("mailboxes", {"mailbox"}, set()),
        ("secure", {"secured"}, {"security"}),
    ],
)
def test_own_forms(word: str, own: set[str], relatives: set[str]) -> None:
    forms = own_forms(word)
    assert word in forms and own <= forms and not relatives & forms


@pytest.mark.parametrize(
    ("plural", "one"),
    [("hospitals", "hospital"), ("classes", "class"), ("business", "business"), ("bus", "bus")],
)
def test_singular(plural: str, one: str) -> None:
    assert singular(plural) == one
