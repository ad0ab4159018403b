"""Names that look alike: the confusable skeleton of Unicode's UTS #39.

Two partner names must not be mistaken for each other by a customer reading them, so a
Cyrillic "Асme" may not sit beside a Latin "Acme". UTS #39 defines when two strings are
confusable: their *skeletons* are equal, where a skeleton is the text decomposed (NFD), with
every default-ignorable code point removed (they draw nothing: "Cont\\u034foso" reads
"Contoso"), each character replaced by its prototype from Unicode's confusables.txt, and
decomposed again. A name's key for comparison also folds case and collapses white space
("Contoso  Cloud" reads "Contoso Cloud").

The mapping comes from the `confusables` package, which ships confusables.txt unchanged; only
that data file is used (the package's own matching functions enumerate every spelling and grow
exponentially with the length of a name).

`NameRegister` keeps the partner names seen so far, in every language a listing is shown in:
a translated name is shown on that language's pages and in that language's mail, so it may
not copy or imitate any other partner's name in any language either.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_DATA_PACKAGE = "confusables"

DEFAULT_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
"""Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt, Unicode 15): what a
renderer shows as nothing, such as U+034F COMBINING GRAPHEME JOINER, U+3164 HANGUL FILLER,
variation selectors and most format characters (Cf). `unicodedata` has no such property."""

_BLANK_FILLERS = str.maketrans(dict.fromkeys("\u115f\u1160\u3164\uffa0", " "))


def skeleton(text: str) -> str:
    """The UTS #39 skeleton of `text`: equal skeletons mean the texts are confusable."""
    prototypes = _prototypes()
    visible = DEFAULT_IGNORABLE.sub("", unicodedata.normalize("NFD", text))
    mapped = "".join(prototypes.get(character, character) for character in visible)
    return unicodedata.normalize("NFD", mapped)


KEYS_KEPT = 1 << 16
"""Names whose keys a process keeps: `marketplace serve`'s build process compares all
partners' names at every build (10,000 listings: ~20,000 names, each key asked twice)."""


@functools.lru_cache(maxsize=KEYS_KEPT)
def name_key(name: str) -> str:
    """What two partner names share when a reader could take one for the other.

    The skeleton alone is case-sensitive ("ACME" and "Acme" differ), and case folding alone
    misses "I" for "l", so the name is mapped, case-folded, then mapped again; runs of white
    space count as one space. The Hangul fillers, default-ignorable but drawn as a blank as
    wide as a letter by common fonts, count as spaces.
    """
    spaced = name.translate(_BLANK_FILLERS)
    folded = skeleton(unicodedata.normalize("NFKC", spaced)).casefold()
    return " ".join(skeleton(folded).split())


@functools.lru_cache(maxsize=KEYS_KEPT)
def written_key(name: str) -> str:
    """What two partner names share when they are the same name, case and compatibility forms
    (full-width letters, ligatures) aside."""
    return unicodedata.normalize("NFKC", name).casefold()


def look_alike_characters(name: str, other: str) -> list[str]:
    """What in `name` makes it look like `other` without being it, described: characters that
    stand in for others (absent from `other`), invisible characters, and extra spaces."""
    prototypes = _prototypes()
    decomposed = unicodedata.normalize("NFD", name)
    look_alikes = [
        f"{character!r} (U+{ord(character):04X} {unicodedata.name(character, 'unnamed')})"
        for character in dict.fromkeys(decomposed)
        if not character.isascii()
        and character in prototypes
        and character not in other
        and not DEFAULT_IGNORABLE.match(character)
    ]
    invisible = [
        f"U+{ord(character):04X} {unicodedata.name(character, '(unassigned)')}"
        for character in dict.fromkeys(DEFAULT_IGNORABLE.findall(decomposed))
    ]
    found = []
    if look_alikes:
        found.append("the look-alike characters " + ", ".join(look_alikes))
    if invisible:
        found.append("the invisible characters " + ", ".join(invisible))
    if " ".join(name.split()) != name and " ".join(other.split()) == other:
        found.append("extra or unusual spaces")
    return found


@dataclass(frozen=True)
class NameUse:
    """One partner name as a listing file writes it: its own name or a translated one."""

    file: str
    field: str
    """`name`, or `translations.<language>.name`."""
    line: int
    column: int
    name: str

    @property
    def where(self) -> str:
        """The file and line, and the field when it is not the partner's own name."""
        field = f"{self.field}, " if self.field != "name" else ""
        return f"{self.file} ({field}line {self.line})"


class NameRegister:
    """The partner names accepted so far, each by how it is written and by how it looks."""

    def __init__(self) -> None:
        self._written: dict[str, NameUse] = {}
        self._looks: dict[str, NameUse] = {}

    def conflicts(self, uses: Iterable[NameUse]) -> list[tuple[NameUse, str]]:
        """Each of `uses` (one listing's names) that copies or imitates another listing's name
        accepted before, with the message saying whose."""
        found = []
        for use in uses:
            same = self._written.get(written_key(use.name))
            similar = self._looks.get(name_key(use.name))
            if same is not None and same.file != use.file:
                found.append((use, f"the name {use.name!r} is already used by {same.where}"))
            elif similar is not None and similar.file != use.file:
                found.append((use, _look_alike_message(use, similar)))
        return found

    def add(self, uses: Iterable[NameUse]) -> None:
        """Accept one listing's names (a listing may repeat its own name in translations)."""
        for use in uses:
            self._written.setdefault(written_key(use.name), use)
            self._looks.setdefault(name_key(use.name), use)


def _look_alike_message(use: NameUse, other: NameUse) -> str:
    characters = look_alike_characters(use.name, other.name)
    return (
        f"the name {use.name!r} looks like {other.name!r}, already used by {other.where}"
        + (f"; it uses {' and '.join(characters)}" if characters else "")
        + "; choose a name customers cannot mistake for another partner's"
    )


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
