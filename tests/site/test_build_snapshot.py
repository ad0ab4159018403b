"""`marketplace build` hands the backend its partners: the snapshot in the instance folder
holds every listing the build validated, and the catalog."""

from __future__ import annotations

from pathlib import Path

from marketplace.catalog import Catalog
from marketplace.snapshot import SNAPSHOT_FILE_NAME, read_snapshot
from marketplace.validate import LoadedListing


def test_build_writes_the_partner_snapshot(
    built_site: Path, loaded_examples: tuple[Catalog, list[LoadedListing]]
) -> None:
    catalog, loaded = loaded_examples
    snapshot = read_snapshot(built_site.parent / "instance" / SNAPSHOT_FILE_NAME)
    assert set(snapshot.listings) == {item.listing.slug for item in loaded} | {"zz-hostile"}
    assert snapshot.catalog == catalog
    for item in loaded:
        assert snapshot.listings[item.listing.slug] == item.listing
