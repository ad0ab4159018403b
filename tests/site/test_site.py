"""The built site: every page in both languages, safe partner text, exports, generated HTML."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from marketplace.catalog import FACETS, SITE_LANGUAGES, Catalog
from marketplace.model import facet_values
from marketplace.validate import LoadedListing
from sitegen.exports import DA, DIRECTORY_JSON_VERSION, NAME_IN_ENGLISH, TRIAL
from sitegen.pages import PER_PAGE, SiteInput, browse_pages, partner_page
from tests.conftest import EXAMPLE_LISTINGS, PROJECT_ROOT

pytestmark = pytest.mark.slow

LANGUAGE_ROOTS = {"en": "", "ru": "ru/"}
SNAPSHOTS = Path(__file__).parent / "snapshots"


def page(site: Path, url: str) -> str:
    return (site / url / "index.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def slugs(loaded_examples: tuple[Catalog, list[LoadedListing]]) -> list[str]:
    """The example listings' slugs (the built site also has the hostile listing)."""
    return sorted(item.listing.slug for item in loaded_examples[1])


@pytest.mark.parametrize("language", SITE_LANGUAGES)
def test_every_page_exists_in_every_language(
    built_site: Path, slugs: list[str], language: str
) -> None:
    root = LANGUAGE_ROOTS[language]
    for url in ["", "find/", "directory/", "search/", "browse/", "delegated-admin/", "get-listed/"]:
        assert (site_page := page(built_site, root + url))
        assert f'<html lang="{language}"' in site_page
    for slug in slugs:
        assert "mp-partner" in page(built_site, f"{root}partners/{slug}/")
    for facet in FACETS:
        assert "mp-facet-index" in page(built_site, f"{root}{facet.segment}/")
    assert "Teams" in page(built_site, f"{root}services/teams/")
    assert page(built_site, f"{root}regions/de/")
    assert page(built_site, f"{root}programs/cloud-essentials/")
    assert not (built_site / root / "mpshell").exists(), "theme shells must be removed"


def test_russian_pages_use_translations_and_catalog_names(built_site: Path) -> None:
    ru = page(built_site, "ru/partners/contoso-cloud/")
    assert "Миграция и управляемые услуги" in ru
    assert "Exchange Online (корпоративная почта)" in ru
    assert "Соединённые штаты" in ru or "Соединенные Штаты" in ru or "Соединённые Штаты" in ru
    assert 'href="../../../partners/contoso-cloud/" hreflang="en"' in ru, "switcher keeps the page"
    en = page(built_site, "partners/contoso-cloud/")
    assert 'href="../../ru/partners/contoso-cloud/" hreflang="ru"' in en


def test_partner_page_shows_everything_a_customer_needs(built_site: Path) -> None:
    html = page(built_site, "partners/contoso-cloud/")
    for expected in [
        "<h1>Contoso Cloud Services</h1>",
        "Delegated administration",
        "30-day free trial",
        "Collaboration starter trial",
        "mailto:partners@contoso.example",
        "https://contoso.example",
        "Working with this partner",
        "../../delegated-admin/",
        "Cloud Essentials",
        "../../services/exchange-online/",
    ]:
        assert expected in html, expected
    assert len(html.encode()) <= 40_000


def test_logos_are_copied_under_content_hashed_names(built_site: Path) -> None:
    html = page(built_site, "partners/contoso-cloud/")
    logos = sorted((built_site / "logos").iterdir())
    contoso = [logo for logo in logos if logo.name.startswith("contoso-cloud-")]
    assert len(contoso) == 1 and contoso[0].suffix == ".png"
    assert contoso[0].read_bytes() == (EXAMPLE_LISTINGS / "contoso-cloud.png").read_bytes()
    assert f'src="../../logos/{contoso[0].name}"' in html


class _Elements(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.tags


def scripts(html: str) -> list[dict[str, str | None]]:
    return [attrs for tag, attrs in elements(html) if tag == "script"]


def hostile_pages(site: Path) -> list[str]:
    urls = ["partners/zz-hostile/", "services/teams/", "regions/worldwide/", "", "capabilities/"]
    return [page(site, root + url) for root in LANGUAGE_ROOTS.values() for url in urls]


def test_partner_text_cannot_run_script(built_site: Path) -> None:
    for html in hostile_pages(built_site):
        # The theme's own scripts and styles sit outside the content area (Material ends the
        # content with one inline script of its own, which is where the area ends here).
        start = html.index('<article class="md-content__inner')
        content = html[start : html.index("<script>var target=", start)]
        for tag, attrs in elements(content):
            assert tag not in {"script", "iframe", "object", "embed", "style", "form", "svg"}
            for name, value in attrs.items():
                assert not name.startswith("on"), f"<{tag} {name}=…> event handler"
                if name in {"href", "src", "action", "formaction", "xlink:href"} and value:
                    scheme = value.strip().split(":", 1)[0].lower() if ":" in value else ""
                    assert scheme in {"", "http", "https", "mailto"}, f"<{tag} {name}={value!r}>"
        assert len(scripts(html)) == len(scripts(page(built_site, "partners/contoso-cloud/")))
    hostile = page(built_site, "partners/zz-hostile/")
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in hostile, "shown as text"
    assert 'href="https://safe.example/"' in hostile, "ordinary links survive"


def test_exports_carry_partner_text_as_data(built_site: Path, slugs: list[str]) -> None:
    partners = json.loads((built_site / "partners.json").read_text(encoding="utf-8"))
    assert partners["version"] == 1
    by_slug = {record["slug"]: record for record in partners["partners"]}
    assert set(by_slug) == {*slugs, "zz-hostile"}
    contoso = by_slug["contoso-cloud"]
    assert contoso["url"] == "http://127.0.0.1:8000/partners/contoso-cloud/"
    assert contoso["logo_url"].startswith("http://127.0.0.1:8000/logos/contoso-cloud-")
    assert contoso["offers"][0]["trial_days"] == 30
    assert contoso["translations"]["ru"]["summary"].startswith("Миграция")
    for root in LANGUAGE_ROOTS.values():
        feed = ET.parse(built_site / root / "feed.xml").getroot()
        entries = feed.findall("{http://www.w3.org/2005/Atom}entry")
        assert len(entries) == len(slugs) + 1
        titles = [entry.findtext("{http://www.w3.org/2005/Atom}title") for entry in entries]
        assert any(title and "<script>" in title for title in titles), "escaped, parsed back"
        sitemap = ET.fromstring(
            gzip.decompress((built_site / root / "sitemap.xml.gz").read_bytes())
        )
        locations = {
            loc.text for loc in sitemap.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")
        }
        base = "http://127.0.0.1:8000/" + root
        assert base + "partners/contoso-cloud/" in locations
        assert base + "delegated-admin/" in locations
        assert not any("mpshell" in location for location in locations if location)


@pytest.mark.parametrize("language", SITE_LANGUAGES)
def test_directory_data_is_compact_and_complete(
    built_site: Path, loaded_examples: tuple[Catalog, list[LoadedListing]], language: str
) -> None:
    """directory.json carries what the find page shows and filters by without the API, and
    stays within its budget: 300 bytes gzip per listing beyond the facet names (issue 14)."""
    raw = (built_site / LANGUAGE_ROOTS[language] / "directory.json").read_bytes()
    data = json.loads(raw)
    assert data["version"] == DIRECTORY_JSON_VERSION
    assert [facet["name"] for facet in data["facets"]] == [facet.name for facet in FACETS]
    region = data["facets"][3]
    assert region["values"][region["everywhere"]][0] == "worldwide"
    head = json.dumps({**data, "partners": []}, ensure_ascii=False, separators=(",", ":"))
    per_listing = (len(gzip.compress(raw)) - len(gzip.compress(head.encode()))) / len(
        data["partners"]
    )
    assert per_listing <= 300

    partners = {partner[0]: partner for partner in data["partners"]}
    assert [partner[1] for partner in data["partners"]] == sorted(
        (partner[1] for partner in data["partners"]), key=str.casefold
    )
    for item in loaded_examples[1]:
        listing = item.listing
        _, name, summary, published, logo, flags, values = partners[listing.slug]
        assert (name, summary) == listing.text(language)[:2]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", published)
        assert (logo is None) == (listing.logo is None)
        assert logo is None or (built_site / LANGUAGE_ROOTS[language] / logo).is_file()
        assert bool(flags & DA) == listing.delegated_admin
        assert bool(flags & TRIAL) == any(offer.type == "trial" for offer in listing.offers)
        untranslated = language != "en" and name == listing.name
        assert bool(flags & NAME_IN_ENGLISH) == untranslated
        for number, facet in enumerate(FACETS):
            names = [data["facets"][number]["values"][index][0] for index in values[number]]
            assert names == facet_values(listing, facet)


def test_find_page_and_the_old_addresses(built_site: Path) -> None:
    for root, words in [("", "Find a partner"), ("ru/", "Найти партнёра")]:
        find = page(built_site, root + "find/")
        facets = json.loads(unescape(re.search(r'data-facets="([^"]+)"', find)[1]))
        assert [facet["name"] for facet in facets] == [facet.name for facet in FACETS]
        data = json.loads((built_site / root / "directory.json").read_text(encoding="utf-8"))
        assert facets == data["facets"], "the page and its static data name values alike"
        assert 'data-api="/api/v1/search"' in find and "MARKETPLACE_" not in find
        assert "<noscript><p>" in find and 'href="../browse/"' in find
        assert f">{words}</a>" in page(built_site, root), "the home page leads to it"
        for old in ("directory/", "search/"):
            moved = page(built_site, root + old)
            assert 'id="mp-moved" data-to="../find/"' in moved
            assert '<a href="../find/">' in moved, "a plain link where no script runs"
        sitemap = (built_site / root / "sitemap.xml").read_text(encoding="utf-8")
        assert f"/{root}find/</loc>" in sitemap
        assert "/directory/<" not in sitemap and "/search/<" not in sitemap
        index = json.loads((built_site / root / "search" / "search_index.json").read_text("utf-8"))
        assert not any(
            doc["location"].startswith(("directory/", "search/")) for doc in index["docs"]
        )


def test_the_search_index_of_the_theme_leaves_partner_pages_out(built_site: Path) -> None:
    index = json.loads((built_site / "search" / "search_index.json").read_text(encoding="utf-8"))
    locations = {doc["location"] for doc in index["docs"]}
    assert any(location.startswith("delegated-admin/") for location in locations)
    assert not any(location.startswith(("partners/", "mpshell")) for location in locations)


def test_browse_pages_paginate(loaded_examples: tuple[Catalog, list[LoadedListing]]) -> None:
    catalog, loaded = loaded_examples
    listing = loaded[0].listing
    many = [
        listing.model_copy(update={"slug": f"p{number:03}"}) for number in range(PER_PAGE * 2 + 1)
    ]
    pages = browse_pages(SiteInput(catalog, many, "en"), FACETS[0], "teams", many)
    assert [p.url for p in pages] == [
        "services/teams/",
        "services/teams/page/2/",
        "services/teams/page/3/",
    ]
    assert 'rel="next" href="../../../../services/teams/page/3/"' in pages[1].body
    assert 'rel="prev" href="../../../../services/teams/"' in pages[1].body
    assert pages[2].body.count('class="mp-card"') == 1


@pytest.mark.parametrize("language", SITE_LANGUAGES)
def test_partner_page_body_snapshot(
    loaded_examples: tuple[Catalog, list[LoadedListing]], language: str
) -> None:
    """Regenerate with: UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/site -k snapshot"""
    catalog, loaded = loaded_examples
    listing = next(item.listing for item in loaded if item.listing.slug == "contoso-cloud")
    site = SiteInput(catalog, [listing], language, logos={"contoso-cloud": "logos/contoso.png"})
    body = partner_page(site, listing).body
    snapshot = SNAPSHOTS / f"contoso-cloud.{language}.html"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        snapshot.write_text(body, encoding="utf-8")
    assert body == snapshot.read_text(encoding="utf-8")


def test_plain_mkdocs_build_works_too(tmp_path: Path) -> None:
    """`mkdocs build` (and so `mkdocs serve`) runs the plugin without the marketplace CLI."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "-q",
            "-f",
            "mkdocs.yml",
            "-d",
            str(tmp_path / "s"),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "s" / "partners" / "contoso-cloud" / "index.html").exists()


def test_plain_mkdocs_build_reports_invalid_listings(tmp_path: Path) -> None:
    config = tmp_path / "mkdocs.yml"
    listings = tmp_path / "listings"
    listings.mkdir()
    (listings / "_catalog.yaml").write_bytes((EXAMPLE_LISTINGS / "_catalog.yaml").read_bytes())
    (listings / "broken.yaml").write_text("slug: [\n", encoding="utf-8")
    config.write_text(
        f"INHERIT: {PROJECT_ROOT / 'mkdocs.yml'}\ndocs_dir: {PROJECT_ROOT / 'site_src/en'}\n"
        f"theme: {{name: material, custom_dir: {PROJECT_ROOT / 'site_src/overrides'}}}\n"
        f"plugins:\n  - marketplace:\n      listings: listings\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "-q",
            "-f",
            str(config),
            "-d",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert result.returncode == 1
    assert "broken.yaml:2:1:" in result.stderr or "broken.yaml:1:" in result.stderr
    assert "Traceback" not in result.stderr
