"""Every partner page links to the backend's "Contact this partner" form, in its language, at
the backend's address (the site's own origin by default, the backend's URL when the site is
built for a static host of its own)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sitegen.pages import backend_url
from tests.conftest import EXAMPLE_LISTINGS, PROJECT_ROOT, VALID_LISTING

LINK = re.compile(
    r'<a class="md-button md-button--primary" href="([^"]*)" rel="nofollow">([^<]*)</a>'
)


def contact_link(page: Path) -> tuple[str, str]:
    found = LINK.findall(page.read_text(encoding="utf-8"))
    assert len(found) == 1, found
    href, label = found[0]
    return href, label


@pytest.mark.slow
def test_every_partner_page_links_to_its_contact_form(built_site: Path) -> None:
    partners = sorted(path.parent.name for path in (built_site / "partners").glob("*/index.html"))
    assert "contoso-cloud" in partners
    for slug in partners:
        assert contact_link(built_site / "partners" / slug / "index.html") == (
            f"/partners/{slug}/contact",
            "Contact this partner",
        )
        assert contact_link(built_site / "ru" / "partners" / slug / "index.html") == (
            f"/partners/{slug}/contact?lang=ru",
            "Связаться с партнёром",
        )


@pytest.mark.parametrize(
    ("search_api", "backend"),
    [
        ("/api/v1/search", "/"),
        ("https://api.partners.example/api/v1/search", "https://api.partners.example/"),
        ("https://partners.example/backend/api/v1/search", "https://partners.example/backend/"),
        ("https://search.example/find", "/"),  # not the backend's search API: this origin
    ],
)
def test_the_backend_is_where_the_search_api_is(search_api: str, backend: str) -> None:
    assert backend_url(search_api) == backend


def test_a_site_for_a_static_host_links_to_the_backend(tmp_path: Path) -> None:
    """A real MkDocs build of one listing, with the backend on another origin."""
    listings = tmp_path / "listings"
    listings.mkdir()
    (listings / "_catalog.yaml").write_bytes((EXAMPLE_LISTINGS / "_catalog.yaml").read_bytes())
    (listings / "acme.yaml").write_text(VALID_LISTING, encoding="utf-8")
    config = tmp_path / "mkdocs.yml"
    config.write_text(
        f"INHERIT: {PROJECT_ROOT / 'mkdocs.yml'}\ndocs_dir: {PROJECT_ROOT / 'site_src/en'}\n"
        f"theme: {{name: material, custom_dir: {PROJECT_ROOT / 'site_src/overrides'}}}\n"
        "plugins:\n  - marketplace:\n      listings: listings\n"
        "      search_api: https://api.partners.example/api/v1/search\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(config), "-d", "s"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    href, _ = contact_link(tmp_path / "s" / "partners" / "acme" / "index.html")
    assert href == "https://api.partners.example/partners/acme/contact"
