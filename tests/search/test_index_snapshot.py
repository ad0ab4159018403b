"""The index records which partner snapshot it was built from (`/healthz` compares it with the
snapshot the backend serves), in its own generation folder, so it swaps in with the index."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from marketplace.catalog import Catalog
from marketplace.snapshot import decode_snapshot, encode_snapshot, snapshot_content_hash
from marketplace.validate import LoadedListing
from search.documents import partner_documents
from search.whoosh_engine import WhooshSearch, build_index


def test_built_from_names_the_snapshot_of_the_same_listings(
    tmp_path: Path, loaded_examples: tuple[Catalog, list[LoadedListing]]
) -> None:
    catalog, loaded = loaded_examples
    listings = [item.listing for item in loaded]
    engine = WhooshSearch(tmp_path, warm=False)
    assert engine.built_from() is None  # no index yet
    documents = partner_documents(catalog, listings)
    build_index(tmp_path, documents, snapshot_content_hash(catalog, listings))
    snapshot = decode_snapshot(encode_snapshot(catalog, listings, datetime.now(UTC)))
    assert engine.built_from() == snapshot.stamp.content_hash
    build_index(tmp_path, partner_documents(catalog, listings[:-1]))  # a build that says nothing
    assert engine.available() and engine.built_from() is None
    engine.close()
