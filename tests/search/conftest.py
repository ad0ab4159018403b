"""Real whoosh indexes, built once per test session: the example listings, and the judged
query set's listings (tests/search/judged.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from marketplace.validate import load_listings
from search.documents import partner_documents
from search.whoosh_engine import WhooshSearch, build_index
from tests.conftest import EXAMPLE_LISTINGS
from tests.search.judged import judged_listings


@pytest.fixture(scope="session")
def index_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("search")
    catalog, loaded = load_listings(EXAMPLE_LISTINGS)
    build_index(root, partner_documents(catalog, [item.listing for item in loaded]))
    return root


@pytest.fixture(scope="session")
def engine(index_root: Path) -> Iterator[WhooshSearch]:
    search = WhooshSearch(index_root)
    yield search
    search.close()


@pytest.fixture(scope="session")
def judged_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WhooshSearch]:
    """A real index of the judged query set's listings: the examples plus the crafted ones."""
    root = tmp_path_factory.mktemp("judged")
    catalog, loaded = load_listings(judged_listings(root / "listings"))
    build_index(root / "index", partner_documents(catalog, [item.listing for item in loaded]))
    search = WhooshSearch(root / "index", warm=False)
    yield search
    search.close()
