"""`marketplace build`: validate the listings, then write the static site, the search index
and the partner snapshot the backend reads (`marketplace.snapshot`)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from marketplace.catalog import SITE_LANGUAGES, Catalog
from marketplace.snapshot import SNAPSHOT_FILE_NAME, SnapshotError, read_snapshot, write_snapshot
from marketplace.validate import InvalidListings, LoadedListing, ValidationReport, load_listings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LANGUAGE_NAMES = {"en": "English", "ru": "Russian"}
MKDOCS_CONFIG = PROJECT_ROOT / "mkdocs.yml"
"""The English site's MkDocs configuration; each other language has `mkdocs.<lang>.yml`."""


@dataclass(frozen=True)
class BuildPaths:
    """Where a build reads from and writes to."""

    listings_dir: Path
    site_dir: Path
    instance_dir: Path
    mkdocs_config: Path = MKDOCS_CONFIG

    @property
    def snapshot_file(self) -> Path:
        """The partner snapshot, in the instance folder beside the search index."""
        return self.instance_dir / SNAPSHOT_FILE_NAME


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
    build_site(paths, loaded, progress)
    built = time.perf_counter()
    progress(f"Indexing {len(loaded[1])} partners for search…")
    build_search_index(paths, loaded)
    # Last: a backend that sees this snapshot finds the site and index of the same build.
    catalog, listings = loaded
    write_snapshot(paths.snapshot_file, catalog, [item.listing for item in listings])
    indexed = time.perf_counter()
    return BuildReport(len(loaded[1]), validated - started, built - validated, indexed - built)


def build_search_index(paths: BuildPaths, loaded: tuple[Catalog, list[LoadedListing]]) -> None:
    """Index the listings for partner search, swapping the new index in atomically."""
    from search.documents import partner_documents
    from search.whoosh_engine import build_index, index_root

    catalog, listings = loaded
    documents = partner_documents(catalog, [item.listing for item in listings])
    build_index(index_root(paths.instance_dir), documents)


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
) -> None:
    """Run MkDocs (Material theme) for every site language into `paths.site_dir`."""
    # Material 9.7+ prints a notice about its end of life on every build; it says nothing
    # about this site, so keep build output to what the operator needs.
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    from mkdocs.commands.build import build as mkdocs_build
    from mkdocs.config import load_config

    from sitegen.plugin import MarketplacePlugin

    for (config_file, site_dir), language in zip(site_configs(paths), SITE_LANGUAGES, strict=True):
        progress(f"Building the {LANGUAGE_NAMES.get(language, language)} site into {site_dir}…")
        config = load_config(str(config_file), site_dir=str(site_dir.absolute()))
        plugin = config.plugins["marketplace"]
        assert isinstance(plugin, MarketplacePlugin)
        plugin.listings_dir = paths.listings_dir
        plugin.preloaded = loaded
        try:
            mkdocs_build(config)
        finally:
            config.plugins.on_shutdown()


def inputs_newer_than(paths: BuildPaths) -> bool:
    """True when the site, index or partner snapshot is missing (or the snapshot is of another
    format version) or any listing or page changed since they were built."""
    from search.whoosh_engine import current_index, index_root

    marker = paths.site_dir / "index.html"
    if not marker.exists() or current_index(index_root(paths.instance_dir)) is None:
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
