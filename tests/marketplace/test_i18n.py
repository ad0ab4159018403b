"""The message catalogs: complete, in step with the code, and Russian plurals by CLDR rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from marketplace.catalog import SITE_LANGUAGES
from marketplace.i18n import (
    SOURCE_LANGUAGE,
    format_count,
    format_day,
    format_moment,
    read_catalog,
    translations,
)
from tests.conftest import PROJECT_ROOT

TRANSLATED = [language for language in SITE_LANGUAGES if language != SOURCE_LANGUAGE]
FIX = (
    "run `pybabel extract` and `pybabel update` as CONTRIBUTING.md says, then translate "
    "(`msgstr`) every new message"
)


def extracted_messages() -> set[str | tuple[str, ...]]:
    """Every msgid the code and templates use, found as `pybabel extract -F babel.cfg` would."""
    with (PROJECT_ROOT / "babel.cfg").open() as mapping:
        method_map, options_map = parse_mapping_cfg(mapping)
    return {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            PROJECT_ROOT, method_map, options_map
        )
    }


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_has_a_translation(language: str) -> None:
    catalog = read_catalog(language)
    missing = [
        message.id
        for message in catalog
        if message.id
        and (
            message.fuzzy
            or not message.string
            or (isinstance(message.string, tuple) and not all(message.string))
        )
    ]
    assert missing == [], f"untranslated or fuzzy in {language}: {missing}; {FIX}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_the_placeholders(language: str) -> None:
    """Babel's checks: every `%(name)s` of the msgid, and the right number of plural forms."""
    problems = [
        (message.id, [str(error) for error in errors])
        for message, errors in read_catalog(language).check()
    ]
    assert problems == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_catalog_is_in_step_with_the_code(language: str) -> None:
    used = extracted_messages()
    catalog = read_catalog(language)
    known = {message.id for message in catalog if message.id}
    assert sorted(map(str, used - known)) == [], f"not in the {language} catalog; {FIX}"
    assert sorted(map(str, known - used)) == [], f"no longer used; {FIX}"
    assert not catalog.obsolete, "obsolete (#~) entries: run `pybabel update --ignore-obsolete`"


@pytest.mark.parametrize(
    ("count", "russian"),
    [
        (1, "1 партнёр"),
        (2, "2 партнёра"),
        (5, "5 партнёров"),
        (11, "11 партнёров"),
        (21, "21 партнёр"),
        (22, "22 партнёра"),
        (111, "111 партнёров"),
        (1001, "1\N{NO-BREAK SPACE}001 партнёр"),
    ],
)
def test_russian_plural_forms_follow_cldr(count: int, russian: str) -> None:
    def partners(language: str) -> str:
        forms = translations(language).ngettext("%(num)s partner", "%(num)s partners", count)
        return forms % {"num": format_count(count, language)}

    assert partners("ru") == russian
    assert partners("en") == f"{format_count(count, 'en')} partner" + ("s" if count != 1 else "")


def test_dates_and_numbers_in_the_language() -> None:
    moment = datetime(2026, 3, 12, 14, 5, tzinfo=UTC)
    assert format_day(moment, "en") == "March 12, 2026"
    assert format_day(moment, "ru") == "12 марта 2026\N{NARROW NO-BREAK SPACE}г."
    assert format_moment(moment, "en") == "March 12, 2026, 2:05\N{NARROW NO-BREAK SPACE}PM UTC"
    assert format_moment(moment, "ru") == "12 марта 2026\N{NARROW NO-BREAK SPACE}г., 14:05 UTC"
    assert format_count(12345, "en") == "12,345"
    assert format_count(12345, "ru") == "12\N{NO-BREAK SPACE}345"


def test_english_needs_no_catalog_and_unknown_languages_are_refused() -> None:
    assert translations("en").gettext("Offers") == "Offers"
    assert translations("ru").gettext("Offers") == "Предложения"
    with pytest.raises(LookupError):
        translations("de")
