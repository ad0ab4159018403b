"""Listings -> search documents: the text and facet values an engine indexes per partner."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from marketplace.catalog import FACETS, SITE_LANGUAGES, Catalog
from marketplace.model import Listing, facet_values
from marketplace.plaintext import markdown_plain_text
from marketplace.urls import partner_url


@dataclass(frozen=True)
class PartnerDocument:
    """One partner as the index sees it."""

    slug: str
    url: str  # the partner page, relative to a site language's root
    delegated_admin: bool
    facets: dict[str, list[str]]  # facet name -> values
    name: dict[str, str]  # per site language
    summary: dict[str, str]
    description: dict[str, str]  # the plain text a visitor reads, not the Markdown
    catalog_terms: str  # display names of its services, capabilities, industries in all languages
    text_language: dict[str, str]  # per site language: the language its summary is shown in
    logo: str | None  # the logo's URL relative to a site language's root, as the site serves it
    trial: bool  # at least one trial offer
    published: date  # first published (UTC)


def partner_document(
    catalog: Catalog, listing: Listing, logo: str | None = None, published: date | None = None
) -> PartnerDocument:
    """The search document of one listing; `published` None: today (UTC)."""
    texts = {language: listing.text(language) for language in SITE_LANGUAGES}
    plain: dict[str, str] = {}  # an untranslated description is converted once
    for _, _, markdown in texts.values():
        if markdown not in plain:
            plain[markdown] = markdown_plain_text(markdown)
    names: list[str] = []
    for facet in FACETS:
        if facet.in_catalog:
            for value in facet_values(listing, facet):
                names.extend(catalog.name(facet.name, value, lang) for lang in SITE_LANGUAGES)
    return PartnerDocument(
        slug=listing.slug,
        url=partner_url(listing.slug),
        delegated_admin=listing.delegated_admin,
        facets={facet.name: list(facet_values(listing, facet)) for facet in FACETS},
        name={language: text[0] for language, text in texts.items()},
        summary={language: text[1] for language, text in texts.items()},
        description={language: plain[text[2]] for language, text in texts.items()},
        catalog_terms=" ".join(dict.fromkeys(names)),
        # The summary is what a card reads out: shown in English (no translation of it, or
        # one identical to the English), the card is English, as the site marks it.
        text_language={
            language: SITE_LANGUAGES[0] if text[1] == listing.summary else language
            for language, text in texts.items()
        },
        logo=logo,
        trial=any(offer.type == "trial" for offer in listing.offers),
        published=published if published is not None else datetime.now(UTC).date(),
    )


def partner_documents(
    catalog: Catalog,
    listings: Iterable[Listing],
    logos: Mapping[str, str] | None = None,
    published: Mapping[str, datetime] | None = None,
) -> list[PartnerDocument]:
    """Search documents of every listing. `logos` maps a slug to its logo's site URL (from a
    language root); `published` a slug to when the listing was first published. A listing
    `published` does not date is dated by the build: today (UTC)."""
    logos = logos or {}
    published = published or {}
    today = datetime.now(UTC).date()
    documents = []
    for listing in listings:
        when = published.get(listing.slug)
        dated = when.astimezone(UTC).date() if when is not None else today
        documents.append(partner_document(catalog, listing, logos.get(listing.slug), dated))
    return documents
