"""Money as partners write it: an ISO 4217 currency in use, and an amount as a decimal string
with no more decimals than the currency has minor units (Babel's CLDR data: JPY 0, EUR 2,
BHD 3).

An amount is never a float: it arrives as text, is checked as text, and becomes a `Decimal`,
so "12.50" is exactly 12.50 and every line total and period total is exact too (licenses
and months are whole numbers). The listing model and the consent backend both check prices
here, so a default price a listing may carry is a price the API takes.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cache

from babel.core import get_global
from babel.numbers import get_currency_precision, get_territory_currencies

from marketplace.suggest import did_you_mean

MAX_WHOLE_DIGITS = 9
"""A price per license per month has at most this many digits before the point (below one
billion in any currency): room for currencies with small units (VND, IDR), none for a typo
that adds zeros, and every total stays exact far inside `Decimal`'s 28 digits."""

_AMOUNT = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?", re.ASCII)
"""Digits, optionally a point and more digits: no sign, exponent, spaces, grouping, comma,
NaN or Infinity, and no leading zeros (one way to write each amount)."""


class AmountError(ValueError):
    """A price or currency that cannot be taken; the message says why and how to write it."""


@cache
def currencies_in_use() -> frozenset[str]:
    """ISO 4217 codes that are legal tender in some country today (Babel's CLDR data): no
    withdrawn currencies (DEM), funds or metals (CLF, XAU)."""
    territories = get_global("territory_currencies")
    return frozenset(
        code
        for territory in territories
        for code in get_territory_currencies(territory, tender=True, non_tender=False)
    )


def check_currency(code: str) -> str:
    """The currency code when it is one in use; `AmountError` (with a suggestion) otherwise."""
    if code in currencies_in_use():
        return code
    shown = code[:12]
    raise AmountError(
        f"{shown!r} is not an ISO 4217 currency code in use, such as EUR, USD or JPY"
        + did_you_mean(shown, sorted(currencies_in_use()))
    )


def minor_units(currency: str) -> int:
    """How many decimals an amount in `currency` may have (JPY 0, EUR 2, BHD 3)."""
    return int(get_currency_precision(currency))


def parse_amount(text: str, currency: str | None = None) -> Decimal:
    """A price per license per month from its text; `AmountError` saying what is wrong. With
    `currency` (a code `check_currency` accepted), the decimals are checked against its
    minor units too."""
    if text.startswith("-") and _AMOUNT.fullmatch(text[1:]):
        raise AmountError(f"{text[:20]!r} is negative; a price is 0 or more")
    if not _AMOUNT.fullmatch(text):
        raise AmountError(
            f"{text[:20]!r} is not a decimal amount: write digits with a point for decimals, "
            'such as "12.50" (no spaces, signs, grouping, commas or exponents)'
        )
    whole, _, decimals = text.partition(".")
    if len(whole) > MAX_WHOLE_DIGITS:
        raise AmountError(
            f"{text[:20]!r} is too large: a price per license per month is below "
            f"{10**MAX_WHOLE_DIGITS:,}"
        )
    if currency is not None:
        allowed = minor_units(currency)
        if len(decimals) > allowed:
            places = {0: "no decimals", 1: "at most 1 decimal"}.get(
                allowed, f"at most {allowed} decimals"
            )
            raise AmountError(f"{text!r} has too many decimals: {currency} amounts have {places}")
    return Decimal(text)


def amount_text(amount: Decimal, currency: str) -> str:
    """An amount written with exactly the currency's minor units ("12.50", "1200", "4.500"),
    as it is stored and recorded. Exact: amounts never have more decimals than that."""
    quantum = Decimal(1).scaleb(-minor_units(currency))
    return str(amount.quantize(quantum))
