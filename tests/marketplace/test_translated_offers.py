"""`translations.<language>.offers.<offer id>.title`: an offer's title in another language."""

from __future__ import annotations

import json

from marketplace.validate import validate_directory
from tests.conftest import PROJECT_ROOT, VALID_LISTING, ListingsFolder

TRANSLATED = """\
translations:
  ru:
    name: Акме Клауд
    offers:
      {offer_id}: {{title: Стартовая пробная версия}}
"""


def test_a_translated_offer_title_is_used_in_its_language(listings: ListingsFolder) -> None:
    listings.write(text=VALID_LISTING + TRANSLATED.format(offer_id="starter"))
    [loaded] = validate_directory(listings.root).listings
    assert loaded.listing.offer_title("starter", "ru") == "Стартовая пробная версия"
    assert loaded.listing.offer_title("starter", "en") == "Starter trial"
    assert loaded.listing.offer_title("gone", "ru") is None


def test_an_unknown_offer_id_is_refused_where_it_is_written(listings: ListingsFolder) -> None:
    listings.write(text=VALID_LISTING + TRANSLATED.format(offer_id="startr"))
    assert listings.problems() == [
        "acme.yaml:28:7: translations.ru.offers.startr: no offer has the id 'startr'; "
        "did you mean 'starter'?"
    ]


def test_an_offer_id_nothing_resembles_lists_the_offers(listings: ListingsFolder) -> None:
    listings.write(text=VALID_LISTING + TRANSLATED.format(offer_id="migration-plan"))
    assert listings.problems() == [
        "acme.yaml:28:7: translations.ru.offers.migration-plan: no offer has the id "
        "'migration-plan'; the listing's offers are starter"
    ]


def test_a_translated_offer_needs_a_title(listings: ListingsFolder) -> None:
    listings.write(
        text=VALID_LISTING + TRANSLATED.format(offer_id="starter").replace("title", "titel")
    )
    problems = listings.problems()
    assert any(
        "translations.ru.offers.starter.title: missing required field" in p for p in problems
    )
    assert any("unknown field 'titel'; did you mean 'title'?" in p for p in problems)


def test_the_published_schema_describes_translated_offers() -> None:
    """Editors complete `translations.ru.offers.<id>.title` (test_schema: the file is current)."""
    schema = json.loads((PROJECT_ROOT / "site_src/schema/listing.json").read_text("utf-8"))
    offers = schema["$defs"]["Translation"]["properties"]["offers"]
    assert list(offers["patternProperties"].values()) == [{"$ref": "#/$defs/OfferTranslation"}]
    assert schema["$defs"]["OfferTranslation"]["required"] == ["title"]
