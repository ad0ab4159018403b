"""One-line listing fields (names, summaries, offer titles) refuse every character that
splits a line, and bidi controls: such text ends up in mail headers and page titles."""

from __future__ import annotations

import unicodedata

import pytest
from pydantic import BaseModel, ValidationError

from marketplace.model import ASSIGNED_PLANES, OneLine

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


def test_the_characters_refused_are_looked_for_where_unicode_has_them() -> None:
    """The refused characters are collected from `ASSIGNED_PLANES` only (a scan of every code
    point made each command start 0.3 s slower): every other code point is unassigned or
    private use, so a Python whose Unicode assigns one there fails this test, not a listing."""
    scanned = {code for plane in ASSIGNED_PLANES for code in plane}
    elsewhere = {unicodedata.category(chr(code)) for code in range(0x110000) if code not in scanned}
    assert elsewhere == {"Cn", "Co"}
    every = {chr(code) for code in range(0x110000)}
    refused = {ch for ch in every if unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"}}
    for character in sorted(refused):
        with pytest.raises(ValidationError, match="one line"):
            Named(name=f"Contoso{character}Cloud")
