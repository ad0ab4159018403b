"""Names that look alike: the confusable skeleton of Unicode's UTS #39.

Two partner names must not be mistaken for each other by a customer reading them, so a
Cyrillic "Асme" may not sit beside a Latin "Acme". UTS #39 defines when two strings are
confusable: their *skeletons* are equal, where a skeleton is the text decomposed (NFD), each
character replaced by its prototype from Unicode's confusables.txt, and decomposed again.

The mapping comes from the `confusables` package, which ships confusables.txt unchanged; only
that data file is used (the package's own matching functions enumerate every spelling and grow
exponentially with the length of a name).
"""

from __future__ import annotations

import functools
import importlib.util
import unicodedata
from pathlib import Path

_DATA_PACKAGE = "confusables"


def skeleton(text: str) -> str:
    """The UTS #39 skeleton of `text`: equal skeletons mean the texts are confusable."""
    prototypes = _prototypes()
    decomposed = unicodedata.normalize("NFD", text)
    mapped = "".join(prototypes.get(character, character) for character in decomposed)
    return unicodedata.normalize("NFD", mapped)


def name_key(name: str) -> str:
    """What two partner names share when a reader could take one for the other.

    The skeleton alone is case-sensitive ("ACME" and "Acme" differ), and case folding alone
    misses "I" for "l", so the name is mapped, case-folded, then mapped again.
    """
    folded = skeleton(unicodedata.normalize("NFKC", name)).casefold()
    return skeleton(folded)


def look_alike_characters(name: str, other: str) -> list[str]:
    """The characters of `name` that stand in for others (absent from `other`), described."""
    prototypes = _prototypes()
    found = dict.fromkeys(
        character
        for character in unicodedata.normalize("NFD", name)
        if not character.isascii() and character in prototypes and character not in other
    )
    return [
        f"{character!r} (U+{ord(character):04X} {unicodedata.name(character, 'unnamed')})"
        for character in found
    ]


@functools.cache
def _prototypes() -> dict[str, str]:
    """confusables.txt as {character: prototype}."""
    mapping: dict[str, str] = {}
    for line in _data_file().read_text(encoding="utf-8-sig").splitlines():
        data = line.split("#", 1)[0].strip()
        if not data:
            continue
        source, target, _kind = (field.strip() for field in data.split(";"))
        mapping[chr(int(source, 16))] = "".join(chr(int(code, 16)) for code in target.split())
    return mapping


def _data_file() -> Path:
    # The spec finds the installed package without importing it: its import loads a 2.7 MB
    # JSON file of spellings this module does not need.
    spec = importlib.util.find_spec(_DATA_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the {_DATA_PACKAGE!r} package (confusables.txt) is missing")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / "confusables.txt"
