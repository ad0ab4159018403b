"""`sitegen.carry.carry_over`: a build takes over the groupings of the build before, for the
partners that changed, exactly as grouping afresh would make them, or takes over nothing."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from benchmarks.generate import generate_listings
from marketplace.catalog import FACETS, Catalog
from marketplace.model import Listing, facet_values
from marketplace.validate import load_listings
from sitegen.carry import MOST_CARRIED, MadePages, carry_over
from sitegen.exports import directory_json, partners_json
from sitegen.pages import SiteInput, browse_urls, facet_counts, facet_members, listings_by_name

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Catalog, list[Listing]]:
    """120 generated listings: enough for facet values with more than one browse page."""
    folder = generate_listings(120, tmp_path_factory.mktemp("carry") / "listings")
    catalog, items = load_listings(folder)
    return catalog, [item.listing for item in items]


def _site(
    loaded: tuple[Catalog, list[Listing]], listings: list[Listing] | None = None, **facts: Any
) -> SiteInput:
    catalog, every = loaded
    listings = every if listings is None else listings
    language = facts.pop("language", "en")
    return SiteInput(
        catalog,
        listings,
        language,
        logos=facts.get("logos", {}),
        published=facts.get("published", {listing.slug: WHEN for listing in listings}),
        updated=facts.get("updated", {listing.slug: WHEN for listing in listings}),
    )


def _made(site: SiteInput) -> MadePages:
    """The build before, having grouped its listings and made its exports as a build does."""
    listings_by_name(site)
    for facet in FACETS:
        facet_counts(site, facet)
    _exports(site)
    return MadePages(site, {}, {})


def _exports(site: SiteInput) -> tuple[str, str]:
    """directory.json and partners.json (without the time it was made)."""
    partners = re.sub(r'"generated":"[^"]*"', "", partners_json(site, "https://x.example/"))
    return directory_json(site), partners


def _groupings(site: SiteInput) -> tuple[object, ...]:
    """The site's groupings, by the identity of the listings in them."""
    members = {
        facet.name: {
            value: [id(m) for m in group] for value, group in facet_members(site, facet).items()
        }
        for facet in FACETS
    }
    counts = {facet.name: facet_counts(site, facet) for facet in FACETS}
    return [id(listing) for listing in listings_by_name(site)], members, counts


def _listing_pages(site: SiteInput, slug: str) -> set[str]:
    """The URLs of the browse pages that list `slug`, found afresh."""
    urls = set()
    for facet in FACETS:
        for value, group in facet_members(site, facet).items():
            pages = browse_urls(facet, value, len(group))
            for position, listing in enumerate(group):
                if listing.slug == slug:
                    urls.add(pages[position // 50])
    return urls


def _edited(listings: list[Listing], position: int, **update: Any) -> list[Listing]:
    edited = list(listings)
    edited[position] = listings[position].model_copy(update=update)
    return edited


def _crowded(loaded: tuple[Catalog, list[Listing]]) -> int:
    """The position of a listing with a facet value on more than one browse page, listed
    on a later page than the first."""
    site = _site(loaded)
    for facet in FACETS:
        for group in facet_members(site, facet).values():
            if len(group) > 50:
                return loaded[1].index(group[-1])
    raise AssertionError("no facet value has more than 50 partners")


def test_an_edit_that_moves_no_partner_is_taken_over_as_grouping_afresh_would(
    loaded: tuple[Catalog, list[Listing]],
) -> None:
    before = _made(_site(loaded))
    kept = _groupings(before.site)
    position = _crowded(loaded)
    listings = _edited(loaded[1], position, summary="Edited.")
    site = _site(loaded, listings)
    carried = carry_over(before, site)
    assert carried is not None
    slug = listings[position].slug
    assert carried.changed == {slug: listings[position]}
    fresh = _site(loaded, listings)
    assert _groupings(site) == _groupings(fresh)
    assert carried.browse_urls == _listing_pages(fresh, slug)
    assert any("/page/" in url for url in carried.browse_urls)
    assert _exports(site) == _exports(fresh)
    assert "Edited." in _exports(site)[0]
    assert _groupings(before.site) == kept, "the build before's groupings stay as they were"


def test_two_edits_on_one_browse_page_are_both_taken_over(
    loaded: tuple[Catalog, list[Listing]],
) -> None:
    before = _made(_site(loaded))
    listings = _edited(_edited(loaded[1], 3, summary="One."), 4, summary="Two.")
    site = _site(loaded, listings)
    carried = carry_over(before, site)
    assert carried is not None and set(carried.changed) == {listings[3].slug, listings[4].slug}
    assert _groupings(site) == _groupings(_site(loaded, listings))


def test_a_changed_logo_or_date_changes_the_partner_without_moving_it(
    loaded: tuple[Catalog, list[Listing]],
) -> None:
    first, second, third = (listing.slug for listing in loaded[1][:3])
    before = _made(_site(loaded))
    every = {listing.slug: WHEN for listing in loaded[1]}
    site = _site(
        loaded,
        logos={first: "logos/new.png"},
        published=every | {second: WHEN + timedelta(days=1)},
        # The same time at another offset: shown as another text.
        updated=every | {third: WHEN.astimezone(timezone(timedelta(hours=3)))},
    )
    carried = carry_over(before, site)
    assert carried is not None
    assert set(carried.changed) == {first, second, third}
    assert carried.browse_urls == set().union(*(_listing_pages(site, s) for s in carried.changed))
    assert _groupings(site) == _groupings(before.site)
    fresh = _site(loaded, logos=site.logos, published=site.published, updated=site.updated)
    assert _exports(site) == _exports(fresh)
    assert _exports(site) != _exports(before.site)
    assert "+03:00" in _exports(site)[1]


def _renamed_elsewhere(listings: list[Listing]) -> list[Listing]:
    return _edited(listings, 0, name="Zzz " + listings[0].name)


def _given_another_value(listings: list[Listing]) -> list[Listing]:
    listing = listings[0]
    other = next(
        service
        for service in ("teams", "intune", "exchange-online")
        if service not in listing.services
    )
    return _edited(listings, 0, services=[*listing.services, other])


def _one_removed(listings: list[Listing]) -> list[Listing]:
    return listings[1:]


def _one_swapped_for_another(listings: list[Listing]) -> list[Listing]:
    return [listings[1], listings[0], *listings[2:]]


def _too_many_edited(listings: list[Listing]) -> list[Listing]:
    return [listing.model_copy() for listing in listings[: MOST_CARRIED + 1]] + listings[
        MOST_CARRIED + 1 :
    ]


@pytest.mark.parametrize(
    "change",
    [_renamed_elsewhere, _given_another_value, _one_removed, _one_swapped_for_another],
)
def test_an_edit_that_moves_a_partner_takes_over_nothing(
    loaded: tuple[Catalog, list[Listing]], change: Any
) -> None:
    before = _made(_site(loaded))
    site = _site(loaded, change(loaded[1]))
    assert carry_over(before, site) is None
    assert site.by_name == [] and site.members == {} and site.counted == {}


def test_more_changes_than_are_worth_patching_take_over_nothing(tmp_path: Path) -> None:
    many = generate_listings(MOST_CARRIED + 10, tmp_path / "listings")
    catalog, items = load_listings(many)
    listings = [item.listing for item in items]
    before = _made(_site((catalog, listings)))
    assert carry_over(before, _site((catalog, _too_many_edited(listings)))) is None
    assert carry_over(before, _site((catalog, [*listings]))) is not None


def test_another_language_or_catalog_takes_over_nothing(
    loaded: tuple[Catalog, list[Listing]],
) -> None:
    before = _made(_site(loaded))
    assert carry_over(before, _site(loaded, language="ru")) is None
    catalog, listings = loaded
    same = dataclasses.replace(catalog, services=dict(catalog.services))
    assert carry_over(before, _site((same, listings))) is not None
    reordered = dataclasses.replace(catalog, services=dict(reversed(catalog.services.items())))
    assert carry_over(before, _site((reordered, listings))) is None
    teams = catalog.services["teams"]
    name = teams.name.model_copy(update={"en": "Renamed"})
    renamed = dataclasses.replace(
        catalog, services=catalog.services | {"teams": teams.model_copy(update={"name": name})}
    )
    assert carry_over(before, _site((renamed, listings))) is None


def test_a_partners_values_are_where_it_is_listed(loaded: tuple[Catalog, list[Listing]]) -> None:
    """(The premise of the browse pages found by the value's group: every value is a page.)"""
    site = _site(loaded)
    listing = loaded[1][0]
    for facet in FACETS:
        for value in facet_values(listing, facet):
            assert listing in facet_members(site, facet)[value]
