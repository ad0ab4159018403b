"""The example listings validate and, together, use every catalog value and every field."""

from __future__ import annotations

from marketplace.catalog import WORLDWIDE
from marketplace.model import Listing, Offer
from marketplace.validate import load_listings
from tests.conftest import EXAMPLE_LISTINGS


def test_examples_validate_and_cover_everything() -> None:
    catalog, loaded = load_listings(EXAMPLE_LISTINGS)
    listings = [item.listing for item in loaded]
    assert len(listings) >= 12

    for facet in ("services", "programs", "capabilities", "industries"):
        used = {value for listing in listings for value in getattr(listing, facet)}
        assert used == set(getattr(catalog, facet)), f"{facet} not all used"

    used_fields = {name for listing in listings for name in listing.model_fields_set}
    assert used_fields == set(Listing.model_fields)
    used_offer_fields = {
        n for listing in listings for o in listing.offers for n in o.model_fields_set
    }
    assert used_offer_fields == set(Offer.model_fields)
    assert any(listing.contact.phone for listing in listings)
    assert any(listing.regions == [WORLDWIDE] for listing in listings)

    assert sum("ru" in listing.translations for listing in listings) >= 3
    with_da_trials = [
        item
        for item in listings
        if item.delegated_admin
        and any(
            offer.type == "trial" and offer.delegated_admin == "optional" for offer in item.offers
        )
    ]
    assert len(with_da_trials) >= 3
    assert sum(not listing.delegated_admin for listing in listings) >= 3
    assert len({listing.headquarters for listing in listings}) >= 8
    assert len({lang for listing in listings for lang in listing.languages}) >= 10
    logo_types = {item.logo_path.suffix for item in loaded if item.logo_path}
    assert logo_types == {".png", ".jpg", ".webp", ".svg"}
