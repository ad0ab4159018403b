"""The partner snapshot: what `marketplace build` hands the backend, read back as the same
models, and refused (with what to run) when it is missing, old, edited or not a snapshot."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from marketplace.catalog import Catalog
from marketplace.snapshot import (
    VERSION,
    SnapshotError,
    SnapshotMissing,
    decode_snapshot,
    encode_snapshot,
    read_snapshot,
    snapshot_content_hash,
    write_snapshot,
)
from marketplace.validate import LoadedListing

BUILT_AT = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)


@pytest.fixture
def written(tmp_path: Path, loaded_examples: tuple[Catalog, list[LoadedListing]]) -> Path:
    catalog, loaded = loaded_examples
    path = tmp_path / "instance" / "partners.snapshot.json"
    write_snapshot(path, catalog, [item.listing for item in loaded], BUILT_AT)
    return path


def test_round_trip_gives_the_same_listings_and_catalog(
    written: Path, loaded_examples: tuple[Catalog, list[LoadedListing]]
) -> None:
    catalog, loaded = loaded_examples
    snapshot = read_snapshot(written)
    assert snapshot.catalog == catalog
    assert list(snapshot.catalog.services) == list(catalog.services)  # catalog order kept
    assert snapshot.listings == {item.listing.slug: item.listing for item in loaded}
    assert snapshot.stamp.version == VERSION
    assert snapshot.stamp.built_at == BUILT_AT
    assert snapshot.stamp.content_hash.startswith("sha256:")
    # What the backend decides with survives the trip: eligibility, offers, contact, text.
    contoso = snapshot.listings["contoso-cloud"]
    assert contoso.delegated_admin and contoso.programs and contoso.offers
    assert contoso.contact.email
    assert snapshot.catalog.delegated_admin_programs == catalog.delegated_admin_programs


def test_admin_roles_and_the_roles_offers_name_survive_the_trip(
    written: Path, loaded_examples: tuple[Catalog, list[LoadedListing]]
) -> None:
    catalog, _ = loaded_examples
    snapshot = read_snapshot(written)
    roles = snapshot.catalog.admin_roles
    assert roles == catalog.admin_roles
    assert list(roles) == list(catalog.admin_roles)  # catalog order kept
    assert roles["global-admin"].full_access and not roles["user-admin"].full_access
    assert roles["exchange-admin"].name.ru == "Администратор Exchange"
    assert roles["security-reader"].description.en.startswith("Can only look")
    offers = {
        (slug, offer.id): offer.delegated_admin_roles
        for slug, listing in snapshot.listings.items()
        for offer in listing.offers
    }
    assert offers["taiga-cloud", "teams-start"] == ["teams-admin", "user-admin"]
    # The backend's default DA trials name no roles: they ask for global-admin.
    assert offers["contoso-cloud", "trial-collab"] is None
    assert offers["cape-collaboration", "intranet-trial"] is None


def test_the_file_carries_the_roles_as_json(written: Path) -> None:
    document = json.loads(written.read_text(encoding="utf-8"))
    global_admin = document["catalog"]["admin_roles"]["global-admin"]
    assert global_admin["name"] == {"en": "Global administrator", "ru": "Глобальный администратор"}
    assert set(global_admin["description"]) == {"en", "ru"}
    assert global_admin["full_access"] is True
    taiga = next(item for item in document["listings"] if item["slug"] == "taiga-cloud")
    assert taiga["offers"][0]["delegated_admin_roles"] == ["teams-admin", "user-admin"]


def test_the_file_says_what_it_is(written: Path) -> None:
    document = json.loads(written.read_text(encoding="utf-8"))
    assert document["format"] == "partner-marketplace/partners"
    assert document["version"] == VERSION
    assert document["built_at"] == "2025-03-01T12:30:00+00:00"
    assert [item["slug"] for item in document["listings"]] == sorted(
        item["slug"] for item in document["listings"]
    )


def test_the_hash_names_the_content_not_the_build_time(
    loaded_examples: tuple[Catalog, list[LoadedListing]],
) -> None:
    catalog, loaded = loaded_examples
    listings = [item.listing for item in loaded]
    first = decode_snapshot(encode_snapshot(catalog, listings, BUILT_AT))
    later = decode_snapshot(encode_snapshot(catalog, reversed(listings), datetime.now(UTC)))
    fewer = decode_snapshot(encode_snapshot(catalog, listings[1:], BUILT_AT))
    assert first.stamp.content_hash == later.stamp.content_hash
    assert first.stamp.content_hash != fewer.stamp.content_hash
    # The hash is over the digests of the canonical JSON of the catalog and of each listing
    # as the models dump them (the writer takes each listing's from `listing_digest`).

    def digest(value: object) -> str:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    parts = [f"catalog {digest(catalog.to_file().model_dump(mode='json'))}"]
    parts += [
        digest(listing.model_dump(mode="json"))
        for listing in sorted(listings, key=lambda listing: listing.slug)
    ]
    expected = "sha256:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()
    assert snapshot_content_hash(catalog, listings) == first.stamp.content_hash == expected


def test_rewriting_replaces_the_file_atomically(
    written: Path, loaded_examples: tuple[Catalog, list[LoadedListing]]
) -> None:
    catalog, loaded = loaded_examples
    write_snapshot(written, catalog, [item.listing for item in loaded[:2]])
    assert len(read_snapshot(written).listings) == 2
    assert [path.name for path in written.parent.iterdir()] == [written.name]  # no temp files


def test_a_missing_snapshot_says_to_build(tmp_path: Path) -> None:
    with pytest.raises(SnapshotMissing, match=r"run `marketplace build`"):
        read_snapshot(tmp_path / "partners.snapshot.json")


def test_a_reindented_snapshot_still_reads(written: Path) -> None:
    document = json.loads(written.read_text(encoding="utf-8"))
    written.write_text(json.dumps(document, indent=4, ensure_ascii=True), encoding="utf-8")
    assert read_snapshot(written).listings


Change = Callable[[dict[str, Any]], object]


def _edit(path: Path, change: Change) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document), encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["listings"][0].update(name="Someone Else"), "changed after it was built"),
        (lambda d: d.update(version=VERSION + 1), f"reads version {VERSION}"),
        (lambda d: d.update(format="something-else"), "not a partner snapshot"),
        (lambda d: d.update(built_at="yesterday"), "does not hold valid partners"),
    ],
)
def test_a_snapshot_that_cannot_be_trusted_is_refused(
    written: Path, change: Change, message: str
) -> None:
    _edit(written, change)
    with pytest.raises(SnapshotError, match=message) as refused:
        read_snapshot(written)
    assert "marketplace build" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_listing_the_model_refuses_is_not_loaded(written: Path) -> None:
    """An invalid listing with a recomputed hash (a hand-made file) still fails the model."""
    from marketplace.snapshot import _content_hash

    document = json.loads(written.read_text(encoding="utf-8"))
    document["listings"][0]["services"] = ["no-such-service"]
    content = {"catalog": document["catalog"], "listings": document["listings"]}
    document["content_hash"] = _content_hash(content)
    written.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(SnapshotError, match="does not hold valid partners"):
        read_snapshot(written)


def test_a_snapshot_without_admin_roles_is_refused(written: Path) -> None:
    """A version-1 file relabelled as the current version (hash recomputed) lacks the roles."""
    from marketplace.snapshot import _content_hash

    document = json.loads(written.read_text(encoding="utf-8"))
    del document["catalog"]["admin_roles"]
    content = {"catalog": document["catalog"], "listings": document["listings"]}
    document["content_hash"] = _content_hash(content)
    written.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(SnapshotError, match="does not hold valid partners"):
        read_snapshot(written)


def test_garbage_is_not_a_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "partners.snapshot.json"
    for data in (b"", b"\xff\xfe", b"[1, 2]", b"{"):
        path.write_bytes(data)
        with pytest.raises(SnapshotError, match="marketplace build"):
            read_snapshot(path)


def _rehashed(path: Path, change: Change) -> None:
    """`change` the file's content and give it the hash of the new content (a new build)."""
    from marketplace.snapshot import _content_hash

    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    content = {"catalog": document["catalog"], "listings": document["listings"]}
    document["content_hash"] = _content_hash(content)
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


def test_reading_again_takes_the_unchanged_listings_as_they_were(written: Path) -> None:
    """`serve --watch` reads each build's snapshot: a listing stored as before is the same
    model, a changed one is validated again (and refused when invalid), and a changed catalog
    has every listing validated again."""
    first = read_snapshot(written)
    slugs = list(first.listings)
    edited, other = slugs[0], slugs[1]

    def edit_summary(document: dict[str, Any]) -> None:
        document["listings"][0]["summary"] = "Edited since the first build."

    _rehashed(written, edit_summary)
    second = read_snapshot(written, first)
    assert second.listings[edited] is not first.listings[edited]
    assert second.listings[edited].summary == "Edited since the first build."
    assert all(second.listings[slug] is first.listings[slug] for slug in slugs[1:])
    assert second.catalog is first.catalog
    assert second == read_snapshot(written)  # the same as read from nothing

    def invalid(document: dict[str, Any]) -> None:
        document["listings"][1]["services"] = ["no-such-service"]

    _rehashed(written, invalid)
    with pytest.raises(SnapshotError, match="does not hold valid partners"):
        read_snapshot(written, second)

    def catalog_changed(document: dict[str, Any]) -> None:
        document["listings"][1]["services"] = first.listings[other].services
        services = document["catalog"]["services"]  # in another order: another catalog
        document["catalog"]["services"] = dict(reversed(list(services.items())))

    _rehashed(written, catalog_changed)
    third = read_snapshot(written, second)
    assert third.catalog is not second.catalog
    assert all(third.listings[slug] is not second.listings[slug] for slug in slugs)
    assert third == read_snapshot(written)


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _lines_rehashed(path: Path, change: Change, rehash: bool = True) -> None:
    """`change` the content of a snapshot and write it laid out as the build writes it (one
    listing per line), with the hash of the new content unless not `rehash`."""
    from marketplace.snapshot import _content_hash

    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    content = {"catalog": document["catalog"], "listings": document["listings"]}
    if rehash:
        document["content_hash"] = _content_hash(content)
    head = {key: document[key] for key in ("format", "version", "built_at", "content_hash")}
    lines = ",\n".join(_compact(item) for item in document["listings"])
    path.write_text(
        f'{_compact(head)[:-1]},"catalog":{_compact(document["catalog"])},"listings":[\n'
        f"{lines}\n]}}\n",
        encoding="utf-8",
    )


def test_reading_again_decodes_only_the_lines_that_changed(
    written: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build writes one listing per line: reading it again after an edit decodes, checks
    and hashes that listing's line alone, and gives what reading from nothing gives; a line
    changed, moved or dropped without a new hash is refused all the same."""
    import marketplace.snapshot

    first = read_snapshot(written)
    assert written.read_bytes().count(b"\n") == len(first.listings) + 2
    canonical = marketplace.snapshot._canonical
    decoded: list[object] = []

    def counted(value: object) -> str:
        decoded.append(value)
        return canonical(value)

    monkeypatch.setattr(marketplace.snapshot, "_canonical", counted)
    slugs = list(first.listings)

    def edit_summary(document: dict[str, Any]) -> None:
        document["listings"][0]["summary"] = "Edited since the first build."

    _lines_rehashed(written, edit_summary)
    decoded.clear()  # (the helper's own hashing)
    second = read_snapshot(written, first)
    assert [item["slug"] for item in decoded] == [slugs[0]]  # type: ignore[index]
    assert second.listings[slugs[0]].summary == "Edited since the first build."
    assert all(second.listings[slug] is first.listings[slug] for slug in slugs[1:])
    assert second.catalog is first.catalog
    assert second == read_snapshot(written) and second.stamp == read_snapshot(written).stamp

    original = written.read_bytes()
    lines = original.split(b"\n")
    tampered = [
        original.replace(b"Edited since the first build.", b"Edited since the first build!"),
        b"\n".join([lines[0], lines[2], lines[1], *lines[3:]]),  # two listings swapped
        b"\n".join([lines[0], *lines[2:]]),  # one dropped
        original.replace(b"Edited since the first build.", b"Edited since the \\ud800 build."),
        original.replace(b'"catalog":{', b'"catalog":{"x":"\\ud800",', 1),
    ]
    for data in tampered:
        written.write_bytes(data)
        with pytest.raises(SnapshotError, match="changed after it was built"):
            read_snapshot(written, second)

    def invalid(document: dict[str, Any]) -> None:
        document["listings"][1]["services"] = ["no-such-service"]

    written.write_bytes(original)
    _lines_rehashed(written, invalid)
    with pytest.raises(SnapshotError, match="does not hold valid partners"):
        read_snapshot(written, second)
    # Another layout of the same content (a single line) reads as well, from the whole.
    written.write_bytes(original)
    _rehashed(written, lambda document: None)
    assert read_snapshot(written, second) == second
