"""Fixtures shared by every test package."""

from __future__ import annotations

import contextlib
import functools
import gc
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from marketplace.catalog import CATALOG_FILE_NAME, Catalog, load_catalog
from marketplace.snapshot import SNAPSHOT_FILE_NAME, encode_snapshot
from marketplace.validate import LoadedListing, load_listings, validate_directory
from tests.browser import start_chromium

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_LISTINGS = PROJECT_ROOT / "listings"

VALID_LISTING = """\
slug: acme
maintainers: [acme-team]
name: Acme Cloud
summary: Cloud mail and Teams for small offices, set up in a day.
description: |
  Acme sets up **mail** and chat.
website: https://acme.example
contact: {email: sales@acme.example, phone: "+1 555 0100"}
headquarters: US
regions: [US, CA]
languages: [en]
programs: [cloud-essentials]
services: [exchange-online, teams]
capabilities: [migration]
industries: [retail]
delegated_admin: true
offers:
  - id: starter
    type: trial
    title: Starter trial
    services: [exchange-online]
    trial_days: 30
    delegated_admin: optional
"""
"""A valid listing whose line numbers the rule tests rely on (offers[0] starts on line 18)."""


class ListingsFolder:
    """A listings folder in tmp_path with the real catalog, and actions on it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        shutil.copy(EXAMPLE_LISTINGS / CATALOG_FILE_NAME, root / CATALOG_FILE_NAME)

    def write(self, slug: str = "acme", text: str = VALID_LISTING, **replace: str) -> Path:
        """Write `text` (with `old=new` replacements applied) as `<slug>.yaml`."""
        for old, new in replace.items():
            assert old in text, f"{old!r} is not in the listing text"
            text = text.replace(old, new)
        path = self.root / f"{slug}.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    def write_variant(self, old: str, new: str, slug: str = "acme") -> Path:
        """Write the valid listing with one piece of text replaced."""
        assert old in VALID_LISTING, f"{old!r} is not in the listing text"
        path = self.root / f"{slug}.yaml"
        path.write_text(VALID_LISTING.replace(old, new), encoding="utf-8")
        return path

    def problems(self) -> list[str]:
        """Every problem as `name.yaml:line:col: field: message`, paths relative to the folder."""
        report = validate_directory(self.root)
        return [
            f"{Path(p.file).name}:{p.line}:{p.column}: "
            + (f"{p.field}: " if p.field else "")
            + p.message
            for p in report.problems
        ]


@pytest.fixture
def listings(tmp_path: Path) -> ListingsFolder:
    """An empty listings folder with the real catalog."""
    return ListingsFolder(tmp_path / "listings")


# The examples are read by fixtures, never at import: collecting the tests costs nothing, and
# a broken example fails the tests that use it instead of the whole collection.
@pytest.fixture(scope="session")
def example_catalog() -> Catalog:
    """The catalog the example listings use, read once per session."""
    return load_catalog(EXAMPLE_LISTINGS / CATALOG_FILE_NAME)


@pytest.fixture(scope="session")
def loaded_examples() -> tuple[Catalog, list[LoadedListing]]:
    """The example listings, validated and loaded once per session."""
    return load_listings(EXAMPLE_LISTINGS)


@functools.cache
def example_snapshot_bytes() -> bytes:
    """The example listings' partner snapshot, as `marketplace build` writes it; made on first
    use, once per session (plain helpers such as `make_app` need it outside fixtures)."""
    catalog, loaded = load_listings(EXAMPLE_LISTINGS)
    return encode_snapshot(catalog, [item.listing for item in loaded], datetime.now(UTC))


def install_example_snapshot(instance_dir: Path) -> Path:
    """Put the example listings' partner snapshot into an instance folder, as a build does
    (creating the folder private, as the backend does)."""
    instance_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = instance_dir / SNAPSHOT_FILE_NAME
    path.write_bytes(example_snapshot_bytes())
    return path


@pytest.fixture(scope="session")
def example_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example listings' partner snapshot file, written once per session."""
    return install_example_snapshot(tmp_path_factory.mktemp("snapshot"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless system Chromium (skips the test where it is not installed)."""
    driver = start_chromium()
    try:
        yield driver
    finally:
        driver.quit()


@dataclass
class CpuTime:
    """The CPU seconds `own_cpu_time` measured."""

    seconds: float = 0.0


@contextlib.contextmanager
def own_cpu_time() -> Iterator[CpuTime]:
    """This thread's CPU time for the block, without collecting garbage other tests left: the
    bounds that use it catch an algorithm gone super-linear (seconds), and neither another
    process's load nor a full collection of a large test-session heap is that."""
    spent = CpuTime()
    gc.collect()
    gc.disable()
    started = time.thread_time()
    try:
        yield spent
    finally:
        spent.seconds = time.thread_time() - started
        gc.enable()
