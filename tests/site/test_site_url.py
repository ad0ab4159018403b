"""`marketplace build --site-url`: every absolute link of the site starts with the address the
site is published at, and the build remembers it (so `serve` on another address rebuilds)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from marketplace_app.build import BuildPaths, inputs_newer_than, site_url_of
from marketplace_app.cli import main, served_url
from tests.conftest import EXAMPLE_LISTINGS

SITE_URL = "https://partners.example/"
PARTNER = "partners/contoso-cloud/"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuildPaths:
    """The example listings built for SITE_URL (given without its final slash)."""
    root = tmp_path_factory.mktemp("site-url")
    paths = BuildPaths(EXAMPLE_LISTINGS, root / "site", root / "instance", site_url=SITE_URL)
    arguments = ["build", "--listings", str(EXAMPLE_LISTINGS), "--site-dir", str(paths.site_dir)]
    arguments += ["--instance", str(paths.instance_dir), "--site-url", SITE_URL.rstrip("/")]
    result = CliRunner().invoke(main, arguments, env={"MARKETPLACE_SITE_URL": None})
    assert result.exit_code == 0, result.output
    return paths


def canonical(page: Path) -> str:
    found = re.search(r'<link rel="canonical" href="([^"]+)"', page.read_text(encoding="utf-8"))
    assert found, page
    return found[1]


@pytest.mark.slow
def test_feeds_sitemaps_and_canonical_links_start_with_the_site_url(built: BuildPaths) -> None:
    site = built.site_dir
    for folder, root in ((site, SITE_URL), (site / "ru", SITE_URL + "ru/")):
        feed = (folder / "feed.xml").read_text(encoding="utf-8")
        assert f"<id>{root}</id>" in feed
        assert f'<link rel="self" href="{root}feed.xml"/>' in feed
        assert f'<link href="{root}{PARTNER}"/>' in feed
        sitemap = (folder / "sitemap.xml").read_text(encoding="utf-8")
        locations = re.findall(r"<loc>([^<]+)</loc>", sitemap)
        assert root + PARTNER in locations
        assert all(location.startswith(root) for location in locations)
        assert canonical(folder / "index.html") == root
        assert canonical(folder / PARTNER / "index.html") == root + PARTNER


@pytest.mark.slow
def test_partners_json_urls_and_logo_urls_start_with_the_site_url(built: BuildPaths) -> None:
    document = json.loads((built.site_dir / "partners.json").read_text(encoding="utf-8"))
    partners = {partner["slug"]: partner for partner in document["partners"]}
    assert partners["contoso-cloud"]["url"] == SITE_URL + PARTNER
    assert partners["contoso-cloud"]["logo_url"].startswith(SITE_URL + "logos/contoso-cloud-")
    assert all(partner["url"].startswith(SITE_URL) for partner in partners.values())


@pytest.mark.slow
def test_no_page_links_to_the_default_address(built: BuildPaths) -> None:
    for path in built.site_dir.rglob("*"):
        if path.suffix in (".html", ".xml", ".json"):
            assert "127.0.0.1:8000" not in path.read_text(encoding="utf-8"), path


@pytest.mark.slow
def test_a_build_for_another_site_url_is_stale(built: BuildPaths) -> None:
    assert not inputs_newer_than(built)
    assert not inputs_newer_than(replace(built, site_url=None))  # any address will do
    assert inputs_newer_than(replace(built, site_url="http://127.0.0.1:8733/"))


@pytest.mark.parametrize(
    ("given", "site_url"),
    [
        ("https://partners.example", "https://partners.example/"),
        ("http://127.0.0.1:8733/", "http://127.0.0.1:8733/"),
        (" https://example.org/market ", "https://example.org/market/"),
    ],
)
def test_a_site_url_ends_with_a_slash(given: str, site_url: str) -> None:
    assert site_url_of(given) == site_url


@pytest.mark.parametrize("from_environment", [False, True])
@pytest.mark.parametrize(
    "given", ["partners.example", "ftp://partners.example/", "https://", "https://x.example/?a=1"]
)
def test_a_site_url_that_is_not_an_address_stops_the_build_with_one_line(
    given: str, from_environment: bool, tmp_path: Path
) -> None:
    arguments = ["build", "--site-dir", str(tmp_path / "site"), "--instance", str(tmp_path / "i")]
    if not from_environment:
        arguments += ["--site-url", given]
    environment = {"MARKETPLACE_SITE_URL": given if from_environment else None}
    result = CliRunner().invoke(main, arguments, env=environment)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # no traceback
    error = result.output.strip().splitlines()[-1]
    assert error.startswith("Error: Invalid value for '--site-url': ")
    assert "MARKETPLACE_SITE_URL" in error
    assert not (tmp_path / "site").exists()


@pytest.mark.parametrize(
    ("host", "port", "address"),
    [
        ("127.0.0.1", 8733, "http://127.0.0.1:8733/"),
        ("0.0.0.0", 8000, "http://127.0.0.1:8000/"),  # noqa: S104
        ("::", 9000, "http://127.0.0.1:9000/"),
        ("::1", 9000, "http://[::1]:9000/"),
        ("marketplace.local", 80, "http://marketplace.local:80/"),
    ],
)
def test_the_served_address_is_what_a_browser_here_opens(
    host: str, port: int, address: str
) -> None:
    assert served_url(host, port) == address
