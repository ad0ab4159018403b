"""Listings -> pages: the partner, browse and facet pages of one site language.

A plain function of the listing model; the MkDocs plugin only places its output into the
Material theme. Page bodies link relative to the page (`root` is "../" per URL level), so the
site works from any host path, and the plugin can reuse one rendered theme shell per depth.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

from markupsafe import Markup

from marketplace.catalog import FACETS, WORLDWIDE, Catalog, Facet
from marketplace.i18n import SOURCE_LANGUAGE, format_count, translations
from marketplace.model import Listing, facet_values
from marketplace.urls import partner_url, value_url
from sitegen.i18n import environment, facet_label, shown_in_english
from sitegen.markdown import render_partner_markdown

PER_PAGE = 50
"""Partners per browse page."""

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class GeneratedPage:
    """One page to place in the theme: URL relative to the site root, title, body HTML."""

    url: str
    title: str
    description: str
    body: str
    title_language: str | None = None
    """The title's language where it is not the page's (a partner name without translation)."""

    @property
    def depth(self) -> int:
        """URL levels below the site root: "partners/x/" is 2."""
        return self.url.count("/")


@dataclass(frozen=True)
class SiteInput:
    """Everything the pages of one language are made from."""

    catalog: Catalog
    listings: Sequence[Listing]
    language: str
    logos: dict[str, str] = field(default_factory=dict)  # slug -> logo URL from the site root
    published: dict[str, datetime] = field(default_factory=dict)  # slug -> first listed
    updated: dict[str, datetime] = field(default_factory=dict)  # slug -> last change
    backend_url: str = "/"
    """Where the backend is: "/" when it serves this site, else its full URL (`backend_url`)."""
    counted: dict[str, list[tuple[str, str, int]]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    """`facet_counts` by facet name, once counted: the pages, the page depths and the
    exports all ask for them (~0.1 s per facet and language at 10,000 partners)."""
    members: dict[str, dict[str, list[Listing]]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    """`facet_members` by facet name, once grouped."""
    by_name: list[Listing] = field(default_factory=list, init=False, compare=False, repr=False)
    """The listings in name order (`listings_by_name`), once sorted."""
    links: dict[tuple[str, str, str], Markup] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    """`value_links`' links by (root, facet name, value), once rendered."""
    rows: dict[Hashable, dict[str, str | Listing]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    """An export's rows (`export_rows`) by what names the export, each partner's by slug in
    the export's order; a listing in a row's place: its row is to be made again (set where
    the rows were taken over from the build before, `sitegen.carry`)."""


def export_rows(
    site: SiteInput,
    export: Hashable,
    ordered: Callable[[], Iterable[Listing]],
    row: Callable[[Listing], str],
) -> list[str]:
    """Each partner's `row` of an export, in the `ordered` partners' order: made once per
    `site` and `export` (all else a row depends on), and kept in `site.rows`; rows a build
    took over from the one before are made again only for the partners that changed."""
    rows = site.rows.get(export)
    if rows is None:
        rows = site.rows[export] = {listing.slug: row(listing) for listing in ordered()}
    else:
        for slug, made in rows.items():
            if not isinstance(made, str):
                rows[slug] = row(made)
    return cast(list[str], list(rows.values()))  # (every value is a row now)


def name_order(listing: Listing, language: str) -> tuple[str, str]:
    """Where a listing goes in the site's name order (its name in `language`, then slug)."""
    return listing.text(language)[0].casefold(), listing.slug


def _sorted_by_name(listings: Iterable[Listing], language: str) -> list[Listing]:
    return sorted(listings, key=lambda listing: name_order(listing, language))


def listings_by_name(site: SiteInput) -> list[Listing]:
    """The site's listings by name in its language (sorted once per `site`; shared, not to be
    changed)."""
    if not site.by_name:
        site.by_name.extend(_sorted_by_name(site.listings, site.language))
    return site.by_name


def facet_members(site: SiteInput, facet: Facet) -> dict[str, list[Listing]]:
    """Each value of a facet that some partner has -> those partners, by name (grouped once
    per `site`: the counts and the browse pages ask; shared, not to be changed).

    Every facet is grouped in one pass over the listings, at the first call: a pass per facet
    cost ~75 ms per language at 10,000 partners, one pass ~35 ms (at every build, an edit's
    under `serve` included)."""
    if not site.members:
        groups: list[dict[str, list[Listing]]] = [{} for _facet in FACETS]
        for listing in listings_by_name(site):
            for grouped, each in zip(groups, FACETS, strict=True):
                for value in facet_values(listing, each):
                    members = grouped.get(value)
                    if members is None:
                        grouped[value] = [listing]
                    else:
                        members.append(listing)
        site.members.update(
            (each.name, grouped) for each, grouped in zip(FACETS, groups, strict=True)
        )
    return site.members[facet.name]


def _facet_label(site: SiteInput, facet: Facet) -> str:
    return facet_label(facet.name, site.language)


def _common(site: SiteInput, depth: int) -> dict[str, object]:
    root = "../" * depth
    return {
        "root": root,
        "lang": site.language,
        "catalog": site.catalog,
        "facets": FACETS,
        "facet_values": facet_values,
        "value_links": lambda facet, values: value_links(site, root, facet, values),
    }


def value_links(site: SiteInput, root: str, facet: Facet, values: Iterable[str]) -> Markup:
    """Links to the browse pages of a facet's values, by name, comma-separated, for a page
    whose `root` is given. Each link is rendered once per page depth and kept
    (`SiteInput.links`): a partner page lists ~30 values, the same on every page that lists
    them, and the template's calls and escaping for each were a tenth of its time."""
    links = []
    for value in values:
        key = (root, facet.name, value)
        link = site.links.get(key)
        if link is None:
            link = site.links[key] = Markup('<a href="{}{}">{}</a>').format(
                root, value_url(facet, value), _value_name(site, facet, value)
            )
        links.append(link)
    return Markup(", ").join(links)


SEARCH_API_PATH = "api/v1/search"


def backend_url(search_api: str) -> str:
    """The backend's address, from the search API's the site is built with (the backend's
    full URL when the site is on a static host of its own; "/" when it serves the site)."""
    if search_api.endswith("/" + SEARCH_API_PATH):
        return search_api.removesuffix(SEARCH_API_PATH)
    return "/"


def contact_url(site: SiteInput, slug: str) -> str:
    """The backend's "Contact this partner" form for a partner, in the site's language. An
    address of the backend, not of the site: the form is not a static page."""
    query = "" if site.language == SOURCE_LANGUAGE else f"?lang={site.language}"
    return f"{site.backend_url}partners/{slug}/contact{query}"


def partner_page(site: SiteInput, listing: Listing) -> GeneratedPage:
    """The page of one partner: who they are, what they offer, how to work with them."""
    name, summary, description = listing.text(site.language)
    url = partner_url(listing.slug)
    body = (
        environment(site.language)
        .get_template("partner.html")
        .render(
            **_common(site, url.count("/")),
            listing=listing,
            name=name,
            summary=summary,
            description=description,
            description_html=render_partner_markdown(description),
            logo=site.logos.get(listing.slug),
            updated=site.updated.get(listing.slug),
            contact_url=contact_url(site, listing.slug),
        )
    )
    title_language = (
        SOURCE_LANGUAGE if shown_in_english(name, listing.name, site.language) else None
    )
    return GeneratedPage(url, name, summary, body, title_language)


def _value_name(site: SiteInput, facet: Facet, value: str) -> str:
    return site.catalog.name(facet.name, value, site.language)


def _value_description(site: SiteInput, facet: Facet, value: str) -> str | None:
    if not facet.in_catalog:
        if value == WORLDWIDE:
            return translations(site.language).gettext("Serves customers worldwide")
        return None
    entries = getattr(site.catalog, facet.segment)
    described = entries[value].description
    return described.in_language(site.language) if described else None


_ROOT = Markup("<mp-root>")
"""Where a card's links start with the page's `root`: markup, so that no partner text (which
the template escapes) can contain it."""


class PartnerCards:
    """Each partner's card in one site language, rendered once for every browse page that
    lists the partner (a partner is on a page per service, region, language…: ~10 pages)."""

    def __init__(self, site: SiteInput) -> None:
        self._site = site
        self._macro = environment(site.language).get_template("macros.html").module.partner_card  # type: ignore[attr-defined]
        self._cards: dict[str, list[str]] = {}

    def cards(self, partners: Iterable[Listing], root: str) -> Markup:
        """The cards of `partners`, in order, for a page whose `root` is given."""
        parts = []
        for listing in partners:
            card = self._cards.get(listing.slug)
            if card is None:
                card = str(self._macro(listing, _ROOT, self._site.language)).split(_ROOT)
                self._cards[listing.slug] = card
            parts.append(root.join(card))
        # Cards the autoescaping template rendered, and the page's own "../" prefixes.
        return Markup("".join(parts))  # noqa: S704


def browse_urls(facet: Facet, value: str, partners: int) -> list[str]:
    """The URLs of the browse pages of a facet value with `partners` partners, first first."""
    base = value_url(facet, value)
    pages = max(1, math.ceil(partners / PER_PAGE))
    return [base if number == 1 else f"{base}page/{number}/" for number in range(1, pages + 1)]


def _chunks(
    facet: Facet, value: str, partners: Sequence[Listing]
) -> list[tuple[str, Sequence[Listing]]]:
    """(URL, the partners it lists) of each browse page of a facet value."""
    urls = browse_urls(facet, value, len(partners))
    return [
        (url, partners[number * PER_PAGE : (number + 1) * PER_PAGE])
        for number, url in enumerate(urls)
    ]


def browse_pages(
    site: SiteInput,
    facet: Facet,
    value: str,
    partners: Sequence[Listing],
    cards: PartnerCards | None = None,
    skip: Collection[str] = (),
) -> list[GeneratedPage]:
    """The paginated list of partners with one facet value (`/services/teams/`, `/page/2/`).

    `cards`: the site language's cards, shared by all the browse pages of a build; `skip`:
    URLs of pages not to render (kept from the previous build)."""
    cards = cards or PartnerCards(site)
    words = translations(site.language)
    value_name = _value_name(site, facet, value)
    if facet.name == "program":
        title = words.gettext("Partners in %(value)s") % {"value": value_name}
    else:
        title = words.gettext("Partners for %(value)s") % {"value": value_name}
    chunks = _chunks(facet, value, partners)
    pages = len(chunks)
    base = value_url(facet, value)
    generated = []
    for number, (url, chunk) in enumerate(chunks, start=1):
        if url in skip:
            continue
        depth = url.count("/")
        body = (
            environment(site.language)
            .get_template("browse.html")
            .render(
                **_common(site, depth),
                title=title,
                facet=facet,
                facet_title=_facet_label(site, facet),
                value_description=_value_description(site, facet, value),
                total=len(partners),
                cards=cards.cards(chunk, "../" * depth),
                page=number,
                pages=pages,
                base="../" * depth + base,
            )
        )
        page_n_of = words.gettext("Page %(page)s of %(pages)s") % {
            "page": format_count(number, site.language),
            "pages": format_count(pages, site.language),
        }
        page_title = title if number == 1 else f"{title} — {page_n_of}"
        generated.append(GeneratedPage(url, page_title, title, body))
    return generated


def facet_counts(site: SiteInput, facet: Facet) -> list[tuple[str, str, int]]:
    """(value, display name, partner count) for every value of a facet, by display name.

    Catalog facets list every catalog value (a service nobody offers yet still has a page
    saying so); regions and languages list only the values some partner has. Counted once per
    `site` (`SiteInput.counted`): the list returned is shared, not to be changed.
    """
    counted = site.counted.get(facet.name)
    if counted is None:
        counted = site.counted[facet.name] = _facet_counts(site, facet)
    return counted


def _facet_counts(site: SiteInput, facet: Facet) -> list[tuple[str, str, int]]:
    counts: dict[str, int] = {}
    if facet.in_catalog:
        counts = dict.fromkeys(getattr(site.catalog, facet.segment), 0)
    for value, partners in facet_members(site, facet).items():
        counts[value] = len(partners)
    named = [(value, _value_name(site, facet, value), count) for value, count in counts.items()]
    return sorted(named, key=lambda item: (item[0] != WORLDWIDE, item[1].casefold()))


def facet_index_url(facet: Facet) -> str:
    """The URL of a facet's list of values: "services/"."""
    return f"{facet.segment}/"


def facet_index_page(
    site: SiteInput, facet: Facet, counts: list[tuple[str, str, int]]
) -> GeneratedPage:
    """The list of a facet's values with their partner counts (`/services/`); `counts` is
    `facet_counts(site, facet)`."""
    label = _facet_label(site, facet)
    url = facet_index_url(facet)
    body = (
        environment(site.language)
        .get_template("facet_index.html")
        .render(**_common(site, 1), title=label, facet=facet, values=counts)
    )
    description = translations(site.language).gettext("Browse partners by %(facet)s") % {
        "facet": label
    }
    return GeneratedPage(url, label, description, body)


@dataclass(frozen=True)
class KeptPage:
    """A page not rendered again: the previous build's is still current (`sitegen.reuse`).
    A partner's page (`slug`) or a browse page (`slug` None)."""

    url: str
    slug: str | None = None


BrowseKept = Callable[[str, Sequence[Listing], int], bool]
"""(a browse page's URL, the partners it lists, how many the facet value has in all) -> the
previous build's page is still current."""


def site_pages(site: SiteInput) -> list[GeneratedPage]:
    """Every generated page of one site language."""
    return [page for page in iter_site_pages(site) if isinstance(page, GeneratedPage)]


def iter_site_pages(
    site: SiteInput,
    kept: Callable[[Listing], bool] | None = None,
    browse_kept: BrowseKept | None = None,
) -> Iterator[GeneratedPage | KeptPage]:
    """`site_pages` one page at a time: the plugin writes each page as it comes, so a build
    holds one page's HTML rather than all of them (1.3 GB per language at 50,000 partners).

    A partner for whom `kept` is true, and a browse page for which `browse_kept` is, gets a
    `KeptPage` in its place, not rendered."""
    for listing in listings_by_name(site):
        if kept is not None and kept(listing):
            yield KeptPage(partner_url(listing.slug), listing.slug)
        else:
            yield partner_page(site, listing)
    cards = PartnerCards(site)
    for facet in FACETS:
        counts = facet_counts(site, facet)
        yield facet_index_page(site, facet, counts)
        members = facet_members(site, facet)
        for value, _name, _count in counts:
            partners = members.get(value, [])
            chunks = _chunks(facet, value, partners)
            skip = set()
            if browse_kept is not None:
                skip = {url for url, chunk in chunks if browse_kept(url, chunk, len(partners))}
            rendered = iter(browse_pages(site, facet, value, partners, cards, skip))
            for url, _chunk in chunks:
                yield KeptPage(url) if url in skip else next(rendered)


def page_depths(site: SiteInput) -> set[int]:
    """The URL depths of `site_pages(site)`, without rendering them (the plugin needs one
    theme shell per depth before the pages are made)."""
    depths = {partner_url(listing.slug).count("/") for listing in site.listings}
    for facet in FACETS:
        depths.add(facet_index_url(facet).count("/"))
        for value, _name, count in facet_counts(site, facet):
            depths.update(url.count("/") for url in browse_urls(facet, value, count))
    return depths


def newest_partners_html(site: SiteInput, depth: int, limit: int = 6) -> str:
    """The home page's "newest partners" list, for a page `depth` levels deep."""
    newest = sorted(
        site.listings,
        key=lambda listing: (site.published.get(listing.slug, _NEVER), listing.slug),
        reverse=True,
    )[:limit]
    return (
        environment(site.language)
        .get_template("cards.html")
        .render(**_common(site, depth), partners=newest)
    )


def browse_links_html(site: SiteInput, depth: int) -> str:
    """The home page's "ways to browse" links to every facet index, for a page `depth` deep."""
    return (
        environment(site.language)
        .get_template("browse_links.html")
        .render(
            **_common(site, depth),
            entries=[(facet, _facet_label(site, facet)) for facet in FACETS],
            total=len(site.listings),
        )
    )
