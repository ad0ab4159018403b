"""Listings -> search documents: the text and facet values an engine indexes per partner."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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


def partner_document(catalog: Catalog, listing: Listing) -> PartnerDocument:
    """The search document of one listing."""
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
    )


def partner_documents(catalog: Catalog, listings: Iterable[Listing]) -> list[PartnerDocument]:
    """Search documents of every listing."""
    return [partner_document(catalog, listing) for listing in listings]
