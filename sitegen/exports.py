"""Machine-readable files of the site: partners.json, the Atom feed, directory.json, sitemap.

All are pure functions of the listings returning text; the plugin writes them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from marketplace.catalog import FACETS, WORLDWIDE
from marketplace.i18n import SOURCE_LANGUAGE
from marketplace.model import Listing, derived, facet_values, listing_json
from marketplace.urls import partner_url
from sitegen.i18n import facet_label, shown_in_english
from sitegen.pages import SiteInput, export_rows, facet_counts, listings_by_name

PARTNERS_JSON_VERSION = 1
"""Bumped when a field of partners.json changes meaning or disappears (additions keep it)."""

FEED_SIZE = 50
"""Entries in the Atom feed: the most recently updated listings."""


_EPOCH = datetime.fromtimestamp(0, tz=UTC)
"""The date of a listing the build knows no date of."""


def partners_json(site: SiteInput, site_url: str) -> str:
    """Every public field of every listing, plus its page, logo URL and dates.

    Shape: {"version": 1, "generated": ISO time, "partners": [listing fields as in the YAML
    format, plus "url", "logo_url" (or null), "published", "updated"]}, sorted by slug.
    """

    def row(listing: Listing, logo: str | None, published: datetime, updated: datetime) -> str:
        added = {
            "url": site_url + partner_url(listing.slug),
            "logo_url": site_url + logo if logo else None,
            "published": published.isoformat(),
            "updated": updated.isoformat(),
        }
        # The fields added here follow the listing's own in the same object.
        return listing_json(listing)[:-1] + "," + _compact(added)[1:]

    def made(listing: Listing) -> str:
        more = (
            site.logos.get(listing.slug),
            site.published.get(listing.slug, _EPOCH),
            site.updated.get(listing.slug, _EPOCH),
        )
        # Made once per listing and what else it shows (`derived`): 10,000 rows, each build.
        # The dates' offsets too: equal times at other offsets have other texts.
        key = ("partners.json", site_url, *more, more[1].utcoffset(), more[2].utcoffset())
        return derived(listing, key, lambda: row(listing, *more))

    partners = export_rows(
        site,
        ("partners.json", site_url),
        lambda: sorted(site.listings, key=lambda item: item.slug),
        made,
    )
    head = {
        "version": PARTNERS_JSON_VERSION,
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    # Not indented: Python's encoder is several times slower indenting (1 s at 10,000).
    return _compact(head)[:-1] + ',"partners":[' + ",".join(partners) + "]}"


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def atom_feed(site: SiteInput, site_url: str, title: str) -> str:
    """An Atom feed of the most recently added or updated listings, in the site's language."""
    recent = sorted(
        site.listings,
        key=lambda listing: (site.updated.get(listing.slug, _EPOCH), listing.slug),
        reverse=True,
    )[:FEED_SIZE]
    newest = site.updated.get(recent[0].slug, _EPOCH) if recent else _EPOCH
    entries = []
    for listing in recent:
        name, summary, _ = listing.text(site.language)
        url = site_url + partner_url(listing.slug)
        # Untranslated text says it is English, as on the pages (the feed's xml:lang is the site's).
        name_lang, summary_lang = (
            f' xml:lang="{SOURCE_LANGUAGE}"'
            if shown_in_english(shown, english, site.language)
            else ""
            for shown, english in ((name, listing.name), (summary, listing.summary))
        )
        entries.append(
            "<entry>"
            f"<title{name_lang}>{escape(name)}</title>"
            f"<link href={quoteattr(url)}/>"
            f"<id>{escape(url)}</id>"
            f"<published>{site.published.get(listing.slug, _EPOCH).isoformat()}</published>"
            f"<updated>{site.updated.get(listing.slug, _EPOCH).isoformat()}</updated>"
            f"<summary{summary_lang}>{escape(summary)}</summary>"
            "</entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{site.language}">'
        f"<title>{escape(title)}</title>"
        f'<link rel="self" href={quoteattr(site_url + "feed.xml")}/>'
        f"<link href={quoteattr(site_url)}/>"
        f"<id>{escape(site_url)}</id>"
        f"<updated>{newest.isoformat()}</updated>" + "".join(entries) + "</feed>\n"
    )


DIRECTORY_JSON_VERSION = 2
"""Bumped when a field of directory.json changes meaning or place (2: card fields, issue 14)."""

DA, TRIAL, NAME_IN_ENGLISH, SUMMARY_IN_ENGLISH = 1, 2, 4, 8
"""The bits of a directory.json partner's flags: offers delegated administration, has a trial
offer, and (on a site in another language) name or summary shown in English, untranslated."""


def find_facets(site: SiteInput) -> list[dict[str, Any]]:
    """The facets the find page filters by, as its script reads them (in the page, and at the
    head of directory.json): [{"name", "label", "values": [[value, display name], ...]}, ...]
    in `FACETS` order, each with the values some partner has (worldwide first, then by name);
    a facet with a value that matches every filter value says which ("everywhere": its index).
    """
    facets = []
    for facet in FACETS:
        values = [[value, name] for value, name, count in facet_counts(site, facet) if count]
        entry: dict[str, Any] = {
            "name": facet.name,
            "label": facet_label(facet.name, site.language),
            "values": values,
        }
        positions = [value for value, _ in values]
        if WORLDWIDE in positions:
            entry["everywhere"] = positions.index(WORLDWIDE)
        facets.append(entry)
    return facets


def find_facets_json(site: SiteInput) -> str:
    """`find_facets` as compact JSON, for the find page's `data-facets`."""
    return json.dumps(find_facets(site), ensure_ascii=False, separators=(",", ":"))


def directory_json(site: SiteInput) -> str:
    """Every partner with what the find page shows and filters by, for its static fallback
    (a site without the search API) and the header search's names.

    {"version": 2, "facets": find_facets(site),
     "partners": [[slug, name, summary, published "YYYY-MM-DD" or "", logo URL or null,
                   flags, [[value index per facet], ...]], ...]}
    by name. Name and summary are in the site's language (English where untranslated, which
    the flags say); the logo URL is relative to the language root; flags are the sum of DA,
    TRIAL, NAME_IN_ENGLISH and SUMMARY_IN_ENGLISH. [0] and [1] stay slug and name: the header
    search matches names in them. Value indices into the facets' lists instead of repeated ids
    keep the facet part small; the summary is most of what remains.
    """
    facets = find_facets(site)
    facets_text = _compact(facets)
    index_of = [
        {value: position for position, (value, _) in enumerate(facet["values"])} for facet in facets
    ]

    def row(listing: Listing, published: datetime | None, logo: str | None) -> str:
        name, summary, _ = listing.text(site.language)
        flags = (
            DA * listing.delegated_admin
            + TRIAL * any(offer.type == "trial" for offer in listing.offers)
            + NAME_IN_ENGLISH * shown_in_english(name, listing.name, site.language)
            + SUMMARY_IN_ENGLISH * shown_in_english(summary, listing.summary, site.language)
        )
        return _compact(
            [
                listing.slug,
                name,
                summary,
                published.astimezone(UTC).date().isoformat() if published else "",
                logo,
                flags,
                [
                    [index_of[number][value] for value in facet_values(listing, facet)]
                    for number, facet in enumerate(FACETS)
                ],
            ]
        )

    # A row is made once per listing and what else it depends on (`derived`); its value
    # indices depend on the facets' values, named by a digest of them.
    facets_digest = hashlib.sha256(facets_text.encode()).hexdigest()

    def made(listing: Listing) -> str:
        published = site.published.get(listing.slug)
        logo = site.logos.get(listing.slug)
        key = ("directory.json", site.language, facets_digest, published, logo)
        return derived(listing, key, lambda: row(listing, published, logo))

    partners = export_rows(
        site, ("directory.json", facets_digest), lambda: listings_by_name(site), made
    )
    # What json.dumps makes of {"version": …, "facets": …, "partners": […]}, compact.
    return (
        f'{{"version":{DIRECTORY_JSON_VERSION},"facets":{facets_text},'
        f'"partners":[{",".join(partners)}]}}'
    )


def sitemap_xml(site_url: str, urls: Sequence[str], dates: dict[str, datetime]) -> str:
    """A sitemap of every page (URLs relative to the site root), with lastmod where known."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
    ]
    for url in urls:
        when = dates.get(url)
        lastmod = f"<lastmod>{when.date().isoformat()}</lastmod>" if when else ""
        lines.append(f"<url><loc>{escape(site_url + url)}</loc>{lastmod}</url>")
    lines.append("</urlset>")
    return "\n".join(lines) + "\n"
