"""`marketplace build` hands the backend its partners: the snapshot in the instance folder
holds every listing the build validated, and the catalog."""

from __future__ import annotations

from pathlib import Path

from marketplace.catalog import Catalog
from marketplace.snapshot import SNAPSHOT_FILE_NAME, read_snapshot
from marketplace.validate import LoadedListing
from marketplace_app.build import BuildPaths, build
from tests.conftest import EXAMPLE_LISTINGS


def test_build_writes_the_partner_snapshot(
    built_site: Path, loaded_examples: tuple[Catalog, list[LoadedListing]]
) -> None:
    catalog, loaded = loaded_examples
    snapshot = read_snapshot(built_site.parent / "instance" / SNAPSHOT_FILE_NAME)
    assert set(snapshot.listings) == {item.listing.slug for item in loaded} | {"zz-hostile"}
    assert snapshot.catalog == catalog
    for item in loaded:
        assert snapshot.listings[item.listing.slug] == item.listing


def test_a_build_removes_the_snapshot_a_killed_build_left_aside(tmp_path: Path) -> None:
    """The index step writes the snapshot aside for the build to rename in last: a build
    killed before that (Ctrl+C, SIGTERM) leaves it, and the next build removes it."""
    instance = tmp_path / "instance"
    instance.mkdir()
    left = instance / f".{SNAPSHOT_FILE_NAME}.x1y2z3"
    left.write_text('{"format": "half written', encoding="utf-8")
    build(BuildPaths(EXAMPLE_LISTINGS, tmp_path / "site", instance))
    assert not left.exists()
    assert [path.name for path in instance.glob(f"*{SNAPSHOT_FILE_NAME}*")] == [SNAPSHOT_FILE_NAME]
    assert read_snapshot(instance / SNAPSHOT_FILE_NAME).listings
