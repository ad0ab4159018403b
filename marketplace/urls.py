"""The public site's URLs (README: The site), relative to the site root: one definition for the site
generator, the search index and the exports."""

from __future__ import annotations

import hashlib
from pathlib import Path

from marketplace.catalog import Facet


def partner_url(slug: str) -> str:
    """A partner's page (`/partners/<slug>/`)."""
    return f"partners/{slug}/"


def value_url(facet: Facet, value: str) -> str:
    """The browse page of a facet value."""
    return f"{facet.segment}/{value.lower()}/"


def logo_digest(content: bytes) -> str:
    """The SHA-256 (hex) of a logo's bytes: what `logo_url` names it by."""
    return hashlib.sha256(content).hexdigest()


def logo_url(slug: str, source: Path, digest: str) -> str:
    """A partner's logo as the site publishes it: named by the `logo_digest` of its content
    (the bytes validated, `LoadedListing.logo_digest`), so a changed logo gets a new URL past
    every cache."""
    return f"logos/{slug}-{digest[:12]}{source.suffix.lower()}"
