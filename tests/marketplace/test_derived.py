"""What is derived from a listing is made once per listing object and key, bounded, and
forgotten with the listing (`marketplace.model.derived`)."""

from __future__ import annotations

import gc

from marketplace.catalog import Catalog
from marketplace.model import _DERIVED, DERIVED_PER_LISTING, derived, listing_json
from marketplace.validate import LoadedListing


def test_a_value_is_made_once_per_listing_and_key(
    loaded_examples: tuple[Catalog, list[LoadedListing]],
) -> None:
    first, second = (item.listing for item in loaded_examples[1][:2])
    made: list[str] = []

    def make(name: str) -> str:
        made.append(name)
        return name

    assert derived(first, "key", lambda: make("a")) == "a"
    assert derived(first, "key", lambda: make("b")) == "a"
    assert derived(first, "other key", lambda: make("c")) == "c"
    assert derived(second, "key", lambda: make("d")) == "d"
    assert made == ["a", "c", "d"]


def test_at_most_so_many_values_are_kept_per_listing_least_recently_used_first(
    loaded_examples: tuple[Catalog, list[LoadedListing]],
) -> None:
    listing = loaded_examples[1][2].listing
    for number in range(DERIVED_PER_LISTING + 3):
        derived(listing, ("bounded", number), lambda: number)  # noqa: B023
    kept = _DERIVED[id(listing)]
    assert len(kept) == DERIVED_PER_LISTING
    assert ("bounded", 0) not in kept
    assert ("bounded", DERIVED_PER_LISTING + 2) in kept
    # Asked for again, the oldest left is kept; the next oldest goes instead.
    assert derived(listing, ("bounded", 3), lambda: -1) == 3
    derived(listing, "one more", lambda: 0)
    assert ("bounded", 3) in kept
    assert ("bounded", 4) not in kept
    assert len(kept) == DERIVED_PER_LISTING


def test_a_listing_copy_is_another_listing_and_a_gone_one_is_forgotten(
    loaded_examples: tuple[Catalog, list[LoadedListing]],
) -> None:
    listing = loaded_examples[1][3].listing
    text = listing_json(listing)
    copy = listing.model_copy(update={"summary": "Another summary, same slug."})
    assert "Another summary" in listing_json(copy)
    assert listing_json(listing) == text
    key = id(copy)
    assert key in _DERIVED
    del copy
    gc.collect()
    assert key not in _DERIVED


def test_keys_kept_by_a_date_tell_its_offset(
    loaded_examples: tuple[Catalog, list[LoadedListing]],
) -> None:
    """The page and index keys are kept by the date (not its text, made again for every
    partner): the same instant at another offset is another text, so another key."""
    from datetime import UTC, datetime, timedelta, timezone

    from marketplace.history import ListingDates
    from marketplace_app.build import index_keys
    from sitegen.pages import SiteInput
    from sitegen.reuse import page_key

    catalog, loaded = loaded_examples
    item = loaded[0]
    instant = datetime(2024, 1, 1, 12, tzinfo=UTC)
    shifted = instant.astimezone(timezone(timedelta(hours=2)))
    assert instant == shifted and instant.isoformat() != shifted.isoformat()
    pages = [
        page_key(
            SiteInput(catalog, [item.listing], "en", updated={item.listing.slug: when}),
            item.listing,
        )
        for when in (instant, shifted)
    ]
    indexes = [
        index_keys([item], {item.path: ListingDates(when, when)})[item.listing.slug]
        for when in (instant, shifted)
    ]
    assert pages[0] != pages[1] and indexes[0] != indexes[1]
