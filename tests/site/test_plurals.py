"""Counts on the generated pages: the noun agrees with the number in each language (CLDR plural
rules through the catalog's ngettext), numbers carry the language's digit grouping, and the
directory and search scripts get every plural form they need."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from marketplace.catalog import FACETS, Catalog
from marketplace.model import Listing
from marketplace.validate import load_listings
from sitegen.i18n import count_texts
from sitegen.pages import SiteInput, browse_links_html, browse_pages, facet_index_page, partner_page
from tests.browser import static_server, wait_for
from tests.conftest import EXAMPLE_LISTINGS

COUNTS = {
    # count: (English, Russian)
    1: ("1 partner", "1 партнёр"),
    2: ("2 partners", "2 партнёра"),
    5: ("5 partners", "5 партнёров"),
    11: ("11 partners", "11 партнёров"),
    21: ("21 partners", "21 партнёр"),
    111: ("111 partners", "111 партнёров"),
}
TEAMS = FACETS[0]


@pytest.fixture(scope="module")
def examples() -> tuple[Catalog, Listing]:
    catalog, loaded = load_listings(EXAMPLE_LISTINGS)
    contoso = next(item.listing for item in loaded if item.listing.slug == "contoso-cloud")
    return catalog, contoso


def copies(listing: Listing, count: int) -> list[Listing]:
    return [listing.model_copy(update={"slug": f"p{number:04}"}) for number in range(count)]


def text(html: str) -> str:
    """The page's text with tags dropped and white space (not no-break spaces) collapsed."""
    return re.sub(r"[ \t\n]+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


@pytest.mark.parametrize("count", sorted(COUNTS))
@pytest.mark.parametrize("language", ["en", "ru"])
def test_browse_facet_and_home_pages_count_partners(
    examples: tuple[Catalog, Listing], count: int, language: str
) -> None:
    catalog, contoso = examples
    partners = copies(contoso, count)
    site = SiteInput(catalog, partners, language)
    expected = COUNTS[count][language == "ru"]
    browse = browse_pages(site, TEAMS, "teams", partners)[0]
    assert f'<p class="mp-count">{expected}' in browse.body
    index = facet_index_page(site, TEAMS, [("teams", "Teams", count)])
    assert f'<span class="mp-count">{expected}</span>' in index.body
    assert f"({expected})" in browse_links_html(site, 0)


def test_large_counts_are_grouped_the_language_s_way(examples: tuple[Catalog, Listing]) -> None:
    catalog, contoso = examples
    counts = [("teams", "Teams", 1021), ("intune", "Intune", 12345)]
    en = text(facet_index_page(SiteInput(catalog, [contoso], "en"), TEAMS, counts).body)
    ru = text(facet_index_page(SiteInput(catalog, [contoso], "ru"), TEAMS, counts).body)
    assert "1,021 partners" in en and "12,345 partners" in en
    assert "1\N{NO-BREAK SPACE}021 партнёр" in ru and "12\N{NO-BREAK SPACE}345 партнёров" in ru


@pytest.mark.parametrize(
    ("days", "english", "russian"),
    [
        (7, "7-day free trial", "Бесплатно 7 дней"),
        (21, "21-day free trial", "Бесплатно 21 день"),
        (22, "22-day free trial", "Бесплатно 22 дня"),
        (30, "30-day free trial", "Бесплатно 30 дней"),
    ],
)
def test_trial_length_on_the_partner_page(
    examples: tuple[Catalog, Listing], days: int, english: str, russian: str
) -> None:
    catalog, contoso = examples
    offers = [contoso.offers[0].model_copy(update={"trial_days": days}), *contoso.offers[1:]]
    listing = contoso.model_copy(update={"offers": offers})
    for language, expected in (("en", english), ("ru", russian)):
        body = partner_page(SiteInput(catalog, [listing], language), listing).body
        assert expected in text(body), language


@pytest.mark.parametrize(
    ("name", "language", "forms"),
    [
        ("matching", "en", {"one": "{count} partner matches", "other": "{count} partners match"}),
        ("found", "en", {"one": "{count} partner found", "other": "{count} partners found"}),
        (
            "found",
            "ru",
            {
                "one": "Найден {count} партнёр",
                "few": "Найдено {count} партнёра",
                "many": "Найдено {count} партнёров",
            },
        ),
        (
            "matching",
            "ru",
            {
                "one": "{count} подходящий партнёр",
                "few": "{count} подходящих партнёра",
                "many": "{count} подходящих партнёров",
            },
        ),
    ],
)
def test_page_scripts_get_every_plural_form(
    name: str, language: str, forms: dict[str, str]
) -> None:
    assert json.loads(count_texts(name, language)) == forms


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize(
    ("needle", "expected"),
    [
        ("", "15 подходящих партнёров"),
        ("Works", "Найдено 2 партнёра"),
        ("Contoso", "Найден 1 партнёр"),
    ],
)
def test_the_russian_find_page_counts_in_words(
    built_site: Path, browser: Any, needle: str, expected: str
) -> None:
    """The page script picks the form with Intl.PluralRules from the catalog's forms (the
    static server has no search API, so the box filters partner names)."""
    from selenium.webdriver.common.by import By

    data = json.loads((built_site / "ru" / "directory.json").read_text(encoding="utf-8"))
    count = sum(needle.casefold() in partner[1].casefold() for partner in data["partners"])
    assert str(count) in expected.split()
    with static_server(built_site) as base:
        browser.get(base + "ru/find/" + (f"?query={needle}" if needle else ""))
        status = wait_for(browser, 10).until(
            lambda driver: driver.find_element(By.CSS_SELECTOR, "#mp-find [role=status]")
        )
        wait_for(browser, 10).until(lambda driver: status.text)
        assert status.text == expected
