"""The public site's URLs (README: The site), relative to the site root: one definition for the site
generator, the search index and the exports."""

from __future__ import annotations

from marketplace.catalog import Facet


def partner_url(slug: str) -> str:
    """A partner's page (`/partners/<slug>/`)."""
    return f"partners/{slug}/"


def value_url(facet: Facet, value: str) -> str:
    """The browse page of a facet value."""
    return f"{facet.segment}/{value.lower()}/"
