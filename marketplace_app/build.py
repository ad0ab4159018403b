"""`marketplace build`: validate the listings, then write the static site, the search index
and the partner snapshot the backend reads (`marketplace.snapshot`)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from marketplace.catalog import SITE_LANGUAGES, Catalog
from marketplace.snapshot import SNAPSHOT_FILE_NAME, SnapshotError, read_snapshot, write_snapshot
from marketplace.urls import logo_url
from marketplace.validate import InvalidListings, LoadedListing, ValidationReport, load_listings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LANGUAGE_NAMES = {"en": "English", "ru": "Russian"}
MKDOCS_CONFIG = PROJECT_ROOT / "mkdocs.yml"
"""The English site's MkDocs configuration; each other language has `mkdocs.<lang>.yml`."""
SITE_BUILD_FILE_NAME = "site_build.json"
"""In the instance folder: the site URL the last build wrote the site's absolute links for."""


@dataclass(frozen=True)
class BuildPaths:
    """Where a build reads from and writes to, and the address the site is published at."""

    listings_dir: Path
    site_dir: Path
    instance_dir: Path
    mkdocs_config: Path = MKDOCS_CONFIG
    site_url: str | None = None
    """The start of every absolute link (feeds, sitemap, canonical links, partners.json);
    None: what `mkdocs.yml` says (`$MARKETPLACE_SITE_URL` or its default)."""

    @property
    def snapshot_file(self) -> Path:
        """The partner snapshot, in the instance folder beside the search index."""
        return self.instance_dir / SNAPSHOT_FILE_NAME

    @property
    def site_build_file(self) -> Path:
        """The record of the site URL the last build used, beside the snapshot."""
        return self.instance_dir / SITE_BUILD_FILE_NAME


def site_url_of(url: str) -> str:
    """`url` as the site's address: http(s), a host, ending in a slash (as MkDocs keeps it,
    so a recorded URL compares equal to the one asked for). `ValueError` when it is not one."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an address starting with http:// or https://")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query (?…) or fragment (#…)")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return f"{parts.scheme}://{parts.netloc}{path}"


class BuildFailed(Exception):
    """The listings did not validate; `report` holds every problem."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__("the listings did not validate")
        self.report = report


@dataclass(frozen=True)
class BuildReport:
    """What a build did and how long each step took (seconds)."""

    listings: int
    validate_seconds: float
    site_seconds: float
    index_seconds: float

    def describe(self) -> str:
        """One line for the operator."""
        return (
            f"{self.listings} listings: validated in {self.validate_seconds:.1f} s, site in "
            f"{self.site_seconds:.1f} s, search index in {self.index_seconds:.1f} s"
        )


Progress = Callable[[str], None]
"""Told what a long build is doing now (the CLI prints it)."""


def _quiet(step: str) -> None:
    pass


def build(paths: BuildPaths, progress: Progress = _quiet) -> BuildReport:
    """Validate the listings and, only if they are all valid, build the site and index."""
    started = time.perf_counter()
    progress(f"Validating the listings in {paths.listings_dir}…")
    try:
        loaded = load_listings(paths.listings_dir)
    except InvalidListings as error:
        raise BuildFailed(error.report) from None
    validated = time.perf_counter()
    site_url = build_site(paths, loaded, progress)
    _record_site_url(paths, site_url)
    built = time.perf_counter()
    progress(f"Indexing {len(loaded[1])} partners for search…")
    build_search_index(paths, loaded)
    # Last: a backend that sees this snapshot finds the site and index of the same build.
    catalog, listings = loaded
    write_snapshot(paths.snapshot_file, catalog, [item.listing for item in listings])
    indexed = time.perf_counter()
    return BuildReport(len(loaded[1]), validated - started, built - validated, indexed - built)


def build_search_index(paths: BuildPaths, loaded: tuple[Catalog, list[LoadedListing]]) -> None:
    """Index the listings for partner search, swapping the new index in atomically; the index
    records the content hash of the partner snapshot of the same listings (`/healthz` compares
    it with the snapshot the backend loaded).

    A hit shows what the site shows: the logo at the URL the site publishes it under
    (`site_logos`) and the first-published date the site gives the partner, from the listing
    file's history (`marketplace.history`: git, else the file's modification time).
    """
    from marketplace.history import listing_dates
    from marketplace.snapshot import snapshot_content_hash
    from search.documents import partner_documents
    from search.whoosh_engine import build_index, index_root

    catalog, listings = loaded
    partners = [item.listing for item in listings]
    dates = listing_dates([item.path for item in listings])
    published = {item.listing.slug: dates[item.path].published for item in listings}
    documents = partner_documents(catalog, partners, site_logos(listings), published)
    build_index(index_root(paths.instance_dir), documents, snapshot_content_hash(catalog, partners))


def site_logos(listings: Iterable[LoadedListing]) -> dict[str, str]:
    """Slug -> the URL of the partner's logo relative to a site language's root, as the site
    generator publishes it (`marketplace.urls.logo_url`). Partners without a logo are left out."""
    logos = {}
    for item in listings:
        source = item.logo_path
        if source is not None:
            logos[item.listing.slug] = logo_url(item.listing.slug, source)
    return logos


def site_configs(paths: BuildPaths) -> list[tuple[Path, Path]]:
    """(MkDocs config, output folder) per site language, English (the root) first.

    English first: MkDocs empties its output folder, which holds the other languages.
    """
    configs = [(paths.mkdocs_config, paths.site_dir)]
    for language in SITE_LANGUAGES[1:]:
        config = paths.mkdocs_config.with_name(f"mkdocs.{language}.yml")
        configs.append((config, paths.site_dir / language))
    return configs


def build_site(
    paths: BuildPaths, loaded: tuple[Catalog, list[LoadedListing]], progress: Progress = _quiet
) -> str:
    """Run MkDocs (Material theme) for every site language into `paths.site_dir`; the site
    URL its absolute links start with."""
    # Material 9.7+ prints a notice about its end of life on every build; it says nothing
    # about this site, so keep build output to what the operator needs.
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    from mkdocs.commands.build import build as mkdocs_build
    from mkdocs.config import load_config

    from sitegen.plugin import MarketplacePlugin

    # Given, it overrides mkdocs.yml's; the plugin adds each other language's folder to it.
    given = {} if paths.site_url is None else {"site_url": paths.site_url}
    site_url = ""
    for (config_file, site_dir), language in zip(site_configs(paths), SITE_LANGUAGES, strict=True):
        progress(f"Building the {LANGUAGE_NAMES.get(language, language)} site into {site_dir}…")
        config = load_config(str(config_file), site_dir=str(site_dir.absolute()), **given)
        site_url = site_url or config.site_url or ""
        plugin = config.plugins["marketplace"]
        assert isinstance(plugin, MarketplacePlugin)
        plugin.listings_dir = paths.listings_dir
        plugin.preloaded = loaded
        try:
            mkdocs_build(config)
        finally:
            config.plugins.on_shutdown()
    return site_url


def _record_site_url(paths: BuildPaths, site_url: str) -> None:
    """Note which site URL the site was built for (replaced atomically, like the snapshot)."""
    paths.instance_dir.mkdir(parents=True, exist_ok=True)
    partial = paths.site_build_file.with_name(paths.site_build_file.name + ".partial")
    partial.write_text(json.dumps({"site_url": site_url}) + "\n", encoding="utf-8")
    partial.replace(paths.site_build_file)


def built_site_url(paths: BuildPaths) -> str | None:
    """The site URL the last build into `paths.instance_dir` used; None when not known."""
    try:
        record = json.loads(paths.site_build_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    site_url = record.get("site_url") if isinstance(record, dict) else None
    return site_url if isinstance(site_url, str) else None


def inputs_newer_than(paths: BuildPaths) -> bool:
    """True when the site, index or partner snapshot is missing (or the index or snapshot is of
    another format version), the site was built for another site URL than `paths.site_url`
    (when given), or any listing or page changed since they were built."""
    from search.whoosh_engine import index_is_current, index_root

    marker = paths.site_dir / "index.html"
    if not marker.exists() or not index_is_current(index_root(paths.instance_dir)):
        return True
    if paths.site_url is not None and built_site_url(paths) != paths.site_url:
        return True
    try:
        read_snapshot(paths.snapshot_file)
    except SnapshotError:
        return True
    built = min(marker.stat().st_mtime, paths.snapshot_file.stat().st_mtime)
    sources = [config for config, _ in site_configs(paths)]
    for folder in (paths.listings_dir, paths.mkdocs_config.parent / "site_src"):
        sources.extend(p for p in folder.rglob("*") if p.is_file())
    return any(source.stat().st_mtime > built for source in sources)
