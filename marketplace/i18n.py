"""The Marketplace's one set of message catalogs, and dates and numbers in a site language.

Every word the project writes for people (site pages, customer pages, mail) is a gettext
message whose msgid is the English text; `locale/<language>/LC_MESSAGES/messages.po` holds
the translations (CONTRIBUTING.md: extract, update). The site generator and the consent backend
both translate through `translations()`, so a message has one translation everywhere.

The `.po` files are read at run time and compiled in memory, once per process (~15 ms for
the Russian catalog): no binary `.mo` is committed or built, so none can be stale after an
edit. Fuzzy entries are left out, as `msgfmt` would: a guess is never shown to a customer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from io import BytesIO
from pathlib import Path

from babel.dates import format_date, format_time
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import NullTranslations, Translations

from marketplace.catalog import SITE_LANGUAGES

SOURCE_LANGUAGE = SITE_LANGUAGES[0]
"""The language of the msgids: English needs no catalog."""
LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "messages"


def catalog_path(language: str) -> Path:
    """The `.po` file of a translated site language."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(language: str) -> Catalog:
    """The parsed `.po` catalog of a translated site language."""
    with catalog_path(language).open("rb") as po:
        return read_po(po, locale=language, domain=DOMAIN)


@cache
def translations(language: str) -> NullTranslations:
    """gettext translations for a site language (the msgids themselves for English)."""
    if language not in SITE_LANGUAGES:
        raise LookupError(f"{language!r} is not a site language")
    if language == SOURCE_LANGUAGE:
        return NullTranslations()
    compiled = BytesIO()
    write_mo(compiled, read_catalog(language))
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


# Babel spends ~20 µs a call looking up the locale's patterns; the site writes the same counts
# and days on thousands of pages, so both are cached (a few thousand short strings at most).
@lru_cache(maxsize=4096)
def format_count(number: int, language: str) -> str:
    """A whole number with the language's digit grouping ("12,345", "12 345")."""
    return format_decimal(number, locale=language)


def format_money(amount: Decimal, currency: str, language: str) -> str:
    """An amount in the language's currency format ("€1,234.50", "1 234,50 €", "¥1,200").
    Amounts never have more decimals than the currency (`marketplace.money`), so nothing is
    rounded."""
    return format_currency(amount, currency, locale=language)


def format_day(moment: date, language: str) -> str:
    """A date written out in the language ("March 12, 2026", "12 марта 2026 г.")."""
    if isinstance(moment, datetime):
        moment = _utc(moment).date()
    return _format_day(moment, language)


@lru_cache(maxsize=4096)
def _format_day(day: date, language: str) -> str:
    return format_date(day, format="long", locale=language)


def format_moment(moment: datetime, language: str) -> str:
    """A date and time in UTC, said so ("March 12, 2026, 2:05 PM UTC")."""
    moment = _utc(moment)
    clock = format_time(moment, format="short", tzinfo=UTC, locale=language)
    return f"{format_day(moment, language)}, {clock} UTC"


def _utc(moment: datetime) -> datetime:
    # A time without a zone is taken as UTC, the only kind the project stores.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
