"""One-line listing fields (names, summaries, offer titles) refuse every character that
splits a line, and bidi controls: such text ends up in mail headers and page titles."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from marketplace.model import OneLine

SPLITTERS = sorted({ch for ch in map(chr, range(0x110000)) if len(f"a{ch}b".splitlines()) > 1})
BIDI = ["\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2069"]


class Named(BaseModel):
    name: OneLine


def test_every_line_splitter_is_known() -> None:
    assert "\u2028" in SPLITTERS and "\u2029" in SPLITTERS and "\x85" in SPLITTERS
    assert "\v" in SPLITTERS and "\f" in SPLITTERS and "\r" in SPLITTERS


@pytest.mark.parametrize("character", SPLITTERS + BIDI, ids=lambda ch: f"U+{ord(ch):04X}")
def test_one_line_fields_refuse_line_splitters_and_bidi_controls(character: str) -> None:
    with pytest.raises(ValidationError, match="one line"):
        Named(name=f"Contoso{character}Cloud")


def test_ordinary_names_pass() -> None:
    assert Named(name="Contoso Cloud — Облако").name == "Contoso Cloud — Облако"
