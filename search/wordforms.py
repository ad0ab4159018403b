"""The forms of an English word that count as the word itself, not as a relative of it.

The Porter stemmer (whoosh's English analysis) folds a word's whole family into one stem:
"hospital", "hospitals" and "hospitality" are all `hospit`. That is what lets "migrate" find
"migration", but it also let a "hospitality" partner outrank one serving "clinics and
hospitals". Search therefore checks whether a partner has the query word in one of its own
(inflected) forms and counts a match through the rest of the family for less.
Russian needs no such check: its Snowball stemmer removes endings, not derivations.
"""

from __future__ import annotations

_SIBILANT_PLURALS = ("sses", "xes", "ches", "shes", "zes")


def singular(word: str) -> str:
    """An English noun's singular, by its ending alone ("mailboxes" -> "mailbox")."""
    if len(word) > 4 and word.endswith("ies") and word[-4] not in "aeiou":
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(_SIBILANT_PLURALS):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _bases(word: str) -> set[str]:
    """What `word` may be an inflection of: itself, its singular, a verb before -ed or -ing."""
    bases = {word, singular(word)}
    if len(word) > 5 and word.endswith("ing"):
        bases |= {word[:-3], word[:-3] + "e"}
    if len(word) > 4 and word.endswith("ed"):
        bases |= {word[:-2], word[:-1]}
    if len(word) > 4 and word.endswith("ied"):
        bases.add(word[:-3] + "y")
    return bases


def own_forms(word: str) -> set[str]:
    """`word` (lower case) and its other inflected forms: singular and plural, and a verb's
    -s, -ed and -ing forms ("migrate": "migrated", "migrating"; but not "migration")."""
    forms = {word}
    for base in _bases(word):
        if base.endswith("e"):
            forms |= {base, base + "s", base + "d", base[:-1] + "ing"}
        elif base.endswith("y") and len(base) > 2 and base[-2] not in "aeiou":
            forms |= {base, base[:-1] + "ies", base[:-1] + "ied", base + "ing"}
        else:
            forms |= {base, base + "s", base + "es", base + "ed", base + "ing"}
    return forms
