"""A real whoosh index of the example listings, built once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from marketplace.validate import load_listings
from search.documents import partner_documents
from search.whoosh_engine import WhooshSearch, build_index
from tests.conftest import EXAMPLE_LISTINGS


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
