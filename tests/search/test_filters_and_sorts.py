"""Several values per facet, the three orders with paging, and what a hit says about a
partner, on a real index of the example and crafted listings (tests/search/judged.py) plus
two crafted here, with first-published dates chosen by the test."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from marketplace.catalog import FACETS, WORLDWIDE, Catalog
from marketplace.model import Listing, facet_values
from marketplace.validate import LoadedListing, load_listings
from marketplace_app.build import site_logos
from search.documents import partner_documents
from search.engine import FILTER_FACETS, MAX_FILTER_VALUES, SORTS, QueryError, SearchQuery
from search.whoosh_engine import (
    INDEX_VERSION,
    INDEX_VERSION_FILE,
    WhooshSearch,
    build_index,
    current_index,
    index_is_current,
)
from tests.search.judged import judged_listings

Loaded = tuple[Catalog, list[LoadedListing]]

LOWER_CASE_NAME = """\
slug: edge-of-town-it
maintainers: [edge-of-town]
name: edge of town IT
summary: Help desk and device setup for village shops, schools and surgeries.
description: |
  A two-person help desk for small places: laptops, tablets and the shared printer.
website: https://edge-of-town.example
contact: {email: desk@edge-of-town.example}
headquarters: GB
regions: [GB]
languages: [en]
programs: [cloud-essentials]
services: [intune]
capabilities: [support, device-management]
industries: [education]
"""
"""A name that starts in lower case: a case-sensitive sort would put it after every other."""

NAME_ONLY_TRANSLATED = """\
slug: elbrus-cloud
maintainers: [elbrus-cloud]
name: Elbrus Cloud
summary: Teams rollouts and mailbox moves for engineering firms in the Caucasus.
description: |
  Elbrus Cloud moves engineering firms to Exchange Online and sets up Teams for site crews.
website: https://elbrus-cloud.example
contact: {email: hello@elbrus-cloud.example}
headquarters: GE
regions: [GE, AM]
languages: [ru, en]
programs: [cloud-essentials]
services: [teams, exchange-online]
capabilities: [migration, deployment]
industries: [manufacturing]
translations:
  ru:
    name: Эльбрус Клауд
"""
"""Only the name is translated: the Russian site shows the English summary."""


def published_dates(slugs: list[str]) -> dict[str, datetime]:
    """Three partners a day, at different hours, so same-day ties are ordered by name even
    where the times differ, and one partner left undated (dated by the build)."""
    start = datetime(2024, 3, 1, tzinfo=UTC)
    return {
        slug: start + timedelta(days=index // 3, hours=(7 * index) % 24)
        for index, slug in enumerate(sorted(slugs)[1:])
    }


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    folder = judged_listings(tmp_path_factory.mktemp("sorted") / "listings")
    (folder / "edge-of-town-it.yaml").write_text(LOWER_CASE_NAME, encoding="utf-8")
    (folder / "elbrus-cloud.yaml").write_text(NAME_ONLY_TRANSLATED, encoding="utf-8")
    return load_listings(folder)


@pytest.fixture(scope="module")
def corpus(loaded: Loaded) -> dict[str, Listing]:
    return {item.listing.slug: item.listing for item in loaded[1]}


@pytest.fixture(scope="module")
def dates(corpus: dict[str, Listing]) -> dict[str, datetime]:
    return published_dates(list(corpus))


@pytest.fixture(scope="module")
def logos(loaded: Loaded) -> dict[str, str]:
    return site_logos(loaded[1])


@pytest.fixture(scope="module")
def engine(
    tmp_path_factory: pytest.TempPathFactory,
    loaded: Loaded,
    dates: dict[str, datetime],
    logos: dict[str, str],
) -> Iterator[WhooshSearch]:
    """This module's index (in place of the examples' index of conftest.py)."""
    root = tmp_path_factory.mktemp("sorted-index")
    catalog, items = loaded
    documents = partner_documents(catalog, [item.listing for item in items], logos, dates)
    build_index(root, documents)
    search = WhooshSearch(root, warm=False)
    yield search
    search.close()


FACET_OF = {facet.name: facet for facet in FACETS}


def passes(listing: Listing, filters: Mapping[str, tuple[str, ...]]) -> bool:
    """The rule, said plainly: any value of a facet, every facet; worldwide is every region."""
    for name, values in filters.items():
        has = set(facet_values(listing, FACET_OF[name]))
        if name == "region" and WORLDWIDE in has:
            continue
        if not has & set(values):
            return False
    return True


def everything(engine: WhooshSearch, **asked: object) -> list[str]:
    """Every hit of a query, page by page (three a page), in order."""
    slugs: list[str] = []
    page = 1
    while True:
        result = engine.search(SearchQuery(page=page, per_page=3, **asked))  # type: ignore[arg-type]
        if not result.hits:
            break
        assert len(result.hits) <= 3
        slugs += [hit.slug for hit in result.hits]
        page += 1
    assert len(slugs) == result.total, "the pages hold exactly the total"
    return slugs


FILTER_CASES = [
    {"service": ("teams", "exchange-online")},
    {"service": ("teams", "exchange-online"), "region": ("DE", "GB")},
    {"region": ("NZ", "JP")},  # worldwide partners too
    {"region": (WORLDWIDE,)},
    {"program": ("cloud-referral", "learning-partner"), "language": ("fr", "ru")},
    {"capability": ("migration",), "industry": ("legal", "healthcare", "finance")},
    {"service": ("no-such-service", "intune")},
]


@pytest.mark.parametrize("filters", FILTER_CASES)
@pytest.mark.parametrize("text", ["", "migration", "cloud"])
def test_any_value_of_a_facet_and_every_facet(
    engine: WhooshSearch, corpus: dict[str, Listing], filters: dict[str, tuple[str, ...]], text: str
) -> None:
    matched = set(everything(engine, text=text))
    found = engine.search(SearchQuery(text=text, filters=filters, per_page=50))
    expected = {slug for slug in matched if passes(corpus[slug], filters)}
    assert {hit.slug for hit in found.hits} == expected and found.total == len(expected)
    if not text:
        assert expected, "every case selects someone"


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"service": ("teams", "exchange-online")},
        {"service": ("teams", "exchange-online"), "region": ("DE", "GB", "KZ")},
        {"program": ("cloud-essentials", "cloud-accelerate"), "language": ("en",)},
    ],
)
@pytest.mark.parametrize("delegated_admin", [None, True])
@pytest.mark.parametrize("text", ["", "teams"])
def test_counts_are_what_each_value_would_give_with_the_other_filters(
    engine: WhooshSearch,
    filters: dict[str, tuple[str, ...]],
    delegated_admin: bool | None,
    text: str,
) -> None:
    result = engine.search(SearchQuery(text, filters, delegated_admin))
    for facet in FILTER_FACETS:
        others = {name: values for name, values in filters.items() if name != facet}
        without = engine.search(SearchQuery(text, others, delegated_admin))
        assert result.facets[facet] == without.facets[facet], "a facet's own filter aside"
        assert result.facets[facet] or facet == "industry"
        for value, count in result.facets[facet].items():
            alone = engine.search(SearchQuery(text, {**others, facet: (value,)}, delegated_admin))
            assert alone.total == count, (facet, value)
    for flag in (True, False):
        alone = engine.search(SearchQuery(text, filters, flag))
        assert result.facets["delegated_admin"][str(flag).lower()] == alone.total


@pytest.mark.parametrize("language", ["en", "ru"])
def test_name_order_is_the_shown_name_without_regard_to_case(
    engine: WhooshSearch, language: str
) -> None:
    hits = engine.search(SearchQuery(sort="name", language=language, per_page=50)).hits
    names = [hit.name for hit in hits]
    assert names == sorted(names, key=str.casefold)
    assert names != sorted(names), "a lower-case name is among them"
    if language == "ru":
        assert "Эльбрус Клауд" in names


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("text", ["", "migration"])
def test_newest_first_then_by_name(
    engine: WhooshSearch, dates: dict[str, datetime], language: str, text: str
) -> None:
    hits = engine.search(SearchQuery(text, sort="newest", language=language, per_page=50)).hits
    assert len(hits) > 3
    keys = [(hit.published, hit.name.casefold()) for hit in hits]
    days = [published for published, _ in keys]
    assert days == sorted(days, reverse=True)
    for (day, name), (next_day, next_name) in pairwise(keys):
        assert day > next_day or name <= next_name, "same day: by name"
    for hit in hits:
        if hit.slug in dates:
            assert hit.published == dates[hit.slug].date().isoformat()


def test_an_undated_partner_is_dated_by_the_build(
    engine: WhooshSearch, dates: dict[str, datetime], corpus: dict[str, Listing]
) -> None:
    (undated,) = set(corpus) - set(dates)
    hits = engine.search(SearchQuery(sort="newest", per_page=50)).hits
    assert hits[0].slug == undated, "built today: newer than every dated partner"
    assert hits[0].published == datetime.now(UTC).date().isoformat()


def test_relevance_is_the_default_with_text_and_name_without(engine: WhooshSearch) -> None:
    ranked = engine.search(SearchQuery("teams training", per_page=50)).hits
    assert (
        ranked == engine.search(SearchQuery("teams training", per_page=50, sort="relevance")).hits
    )
    scores = [hit.score for hit in ranked]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    by_name = engine.search(SearchQuery(per_page=50)).hits
    assert by_name == engine.search(SearchQuery(per_page=50, sort="name")).hits
    assert by_name == engine.search(SearchQuery(per_page=50, sort="relevance")).hits


def test_another_order_keeps_scores_and_highlights(engine: WhooshSearch) -> None:
    ranked = {hit.slug: hit for hit in engine.search(SearchQuery("mailbox", per_page=50)).hits}
    for sort in ("name", "newest"):
        ordered = engine.search(SearchQuery("mailbox", per_page=50, sort=sort)).hits
        assert {hit.slug: hit for hit in ordered} == ranked
        assert [hit.slug for hit in ordered] != list(ranked), f"{sort} is another order"


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize(
    ("text", "filters"),
    [
        ("", {}),
        ("cloud", {}),
        ("", {"service": ("teams", "exchange-online"), "region": ("GB", "KZ")}),
        ("migration", {"capability": ("migration", "deployment")}),
    ],
)
@pytest.mark.parametrize("language", ["en", "ru"])
def test_paging_returns_every_selected_partner_once(
    engine: WhooshSearch, sort: str, text: str, filters: dict[str, tuple[str, ...]], language: str
) -> None:
    asked = {"text": text, "filters": filters, "language": language, "sort": sort}
    paged = everything(engine, **asked)
    whole = [hit.slug for hit in engine.search(SearchQuery(per_page=50, **asked)).hits]  # type: ignore[arg-type]
    assert len(paged) == len(set(paged)), "no partner twice"
    assert paged == whole, "pages of three are the one long page cut up"
    assert len(whole) > 3


def test_a_hit_says_what_the_site_shows_of_the_partner(
    engine: WhooshSearch,
    corpus: dict[str, Listing],
    dates: dict[str, datetime],
    logos: dict[str, str],
) -> None:
    for language, root in (("en", "/"), ("ru", "/ru/")):
        hits = engine.search(SearchQuery(language=language, per_page=50)).hits
        assert {hit.slug for hit in hits} == set(corpus)
        for hit in hits:
            listing = corpus[hit.slug]
            assert hit.url == f"{root}partners/{hit.slug}/"
            assert hit.logo == (root + logos[hit.slug] if hit.slug in logos else None)
            assert hit.regions == listing.regions and hit.programs == listing.programs
            assert hit.delegated_admin is listing.delegated_admin
            assert hit.trial is any(offer.type == "trial" for offer in listing.offers)
            assert date.fromisoformat(hit.published)
    assert any(hit.logo for hit in hits) and not all(hit.logo for hit in hits)
    assert {hit.trial for hit in hits} == {True, False}


@pytest.mark.parametrize(
    ("slug", "language", "expected"),
    [
        ("kanto-device-works", "en", "en"),
        ("kanto-device-works", "ru", "en"),  # no translation: the English shows
        ("taiga-cloud", "ru", "ru"),
        ("fabrikam-migrations", "ru", "ru"),  # only the summary translated: it is the card
        ("contoso-cloud", "ru", "ru"),  # the name the same in both: a brand, not English text
        ("elbrus-cloud", "ru", "en"),  # only the name translated: the summary is English
    ],
)
def test_lang_is_the_language_of_the_text_shown(
    engine: WhooshSearch, slug: str, language: str, expected: str
) -> None:
    hits = engine.search(SearchQuery(language=language, per_page=50)).hits
    assert [hit.lang for hit in hits if hit.slug == slug] == [expected]


@pytest.mark.parametrize(
    ("asked", "field", "words"),
    [
        ({"sort": "popular"}, "sort", "relevance, name, newest"),
        ({"sort": "Name"}, "sort", "relevance"),
        ({"filters": {"region": ("de",)}}, "region", "like DE"),
        ({"filters": {"region": ("DEU",)}}, "region", "ISO 3166-1"),
        ({"filters": {"region": ("DE", "Worldwide")}}, "region", "worldwide"),
        ({"filters": {"language": ("EN",)}}, "language", "ISO 639-1"),
        ({"filters": {"service": ("Teams",)}}, "service", "catalog id"),
        ({"filters": {"service": ("teams", "<script>")}}, "service", "catalog id"),
        ({"filters": {"program": ("cloud essentials",)}}, "program", "catalog id"),
        ({"filters": {"industry": ("",)}}, "industry", "catalog id"),
        ({"filters": {"capability": ("migration\n",)}}, "capability", "catalog id"),
        (
            {"filters": {"service": tuple(f"s{n}" for n in range(MAX_FILTER_VALUES + 1))}},
            "service",
            f"at most {MAX_FILTER_VALUES}",
        ),
    ],
)
def test_bad_orders_and_facet_values_are_refused_by_name(
    asked: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(QueryError) as raised:
        SearchQuery(**asked)  # type: ignore[arg-type]
    assert raised.value.field == field and words in str(raised.value)


def test_filters_are_kept_without_repeats_and_empty_facets() -> None:
    query = SearchQuery(filters={"service": ("teams", "teams", "intune"), "region": ()})
    assert query.filters == {"service": ("teams", "intune")}
    with pytest.raises(TypeError):
        SearchQuery(filters={"service": "teams"})  # type: ignore[dict-item]
    many = tuple(f"s{n}" for n in range(MAX_FILTER_VALUES))
    assert SearchQuery(filters={"service": many}).filters["service"] == many


def test_an_index_says_which_version_wrote_it(tmp_path: Path) -> None:
    assert not index_is_current(tmp_path)
    build_index(tmp_path, [])
    assert index_is_current(tmp_path)
    folder = current_index(tmp_path)
    assert folder is not None
    (folder / INDEX_VERSION_FILE).write_text(f"{INDEX_VERSION - 1}\n", encoding="utf-8")
    assert not index_is_current(tmp_path), "an older index is rebuilt by serve"
    (folder / INDEX_VERSION_FILE).unlink()
    assert not index_is_current(tmp_path), "so is one from before versions were written"
