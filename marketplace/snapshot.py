"""The partner snapshot: the validated listings and catalog as `marketplace build` publishes
them to the backend.

The backend and the operator commands read this one JSON file instead of the listing YAML,
so a worker starts without parsing or validating YAML, and a broken listing in the working
tree stops only `build` and `validate`. The file says what it is (`format`, `version`), when it
was built, and a hash of its content; the reader checks all three and rebuilds the same
`Listing` and `Catalog` models the build validated.

The catalog is carried whole, as `_catalog.yaml` defines it (`CatalogFile`), and each listing
as its model dumps it, so a new catalog section or listing field needs no code here. A change
that a reader of the previous version would refuse, or that this reader cannot take from an
older file, raises `VERSION`: `serve` then rebuilds, and a worker says to run the build.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from marketplace.catalog import Catalog, CatalogFile
from marketplace.files import write_whole
from marketplace.model import Listing, ListingContext, listing_json

SNAPSHOT_FILE_NAME = "partners.snapshot.json"
"""The snapshot's name in the instance folder, beside the search index."""
FORMAT = "partner-marketplace/partners"
VERSION = 3
"""The format version this code writes and reads; a reader refuses any other.

2: the catalog's `admin_roles` and offers' `delegated_admin_roles`.
3: purchase offers' default `prices`, `currency` and `billing`.
"""


class SnapshotError(Exception):
    """The snapshot cannot be used; the message names the file and says what to run."""


class SnapshotMissing(SnapshotError):
    """There is no snapshot yet."""


@dataclass(frozen=True)
class SnapshotStamp:
    """Which snapshot this is: what `/healthz` reports."""

    version: int
    content_hash: str
    built_at: datetime


@dataclass(frozen=True)
class PartnerSnapshot:
    """A snapshot read back: the catalog and every listing, by slug."""

    stamp: SnapshotStamp
    catalog: Catalog
    listings: dict[str, Listing]
    parts: dict[str, Catalog | Listing] = field(default_factory=dict, repr=False, compare=False)
    """A digest of each part's JSON as stored (`_part_key`) -> the model read from it: what
    the next read (`decode_snapshot`'s `previous`) takes as validated already."""


def _catalog_json(catalog: Catalog) -> dict[str, Any]:
    return catalog.to_file().model_dump(mode="json")


def _canonical(value: object) -> str:
    # Keys sorted at every level, so re-indenting or reordering the file does not change it.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _hash_of(canonical: str) -> str:
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _content_hash(content: dict[str, Any]) -> str:
    return _hash_of(_canonical(content))


def _content_text(catalog: Catalog, listings: Iterable[Listing], canonical: bool) -> str:
    """`{"catalog": …, "listings": […]}` as JSON text for validated listings, `canonical`
    (keys sorted at every level: `_canonical` of the content, which the hash is over) or in
    the models' own order (what the file holds). Put together from each listing's text
    (`listing_json`, made once per listing) rather than encoding 10,000 listings again."""
    ordered = sorted(listings, key=lambda listing: listing.slug)
    catalog_data = _catalog_json(catalog)
    catalog_text = (
        _canonical(catalog_data)
        if canonical
        else json.dumps(catalog_data, ensure_ascii=False, separators=(",", ":"))
    )
    return (
        f'{{"catalog":{catalog_text},"listings":['
        + ",".join(listing_json(listing, sort_keys=canonical) for listing in ordered)
        + "]}"
    )


def snapshot_content_hash(catalog: Catalog, listings: Iterable[Listing]) -> str:
    """The `content_hash` the snapshot of these listings has, whenever it is built (the search
    index records it, so `/healthz` can tell an index built from other partners)."""
    return _hash_of(_content_text(catalog, listings, canonical=True))


def encode_snapshot(
    catalog: Catalog,
    listings: Iterable[Listing],
    built_at: datetime,
    content_hash: str | None = None,
) -> bytes:
    """The snapshot file's bytes for validated listings (in slug order). `content_hash`:
    their `snapshot_content_hash`, when the caller found it already (None: found here)."""
    listings = list(listings)
    head = {
        "format": FORMAT,
        "version": VERSION,
        "built_at": built_at.astimezone(UTC).isoformat(timespec="seconds"),
        "content_hash": content_hash or snapshot_content_hash(catalog, listings),
    }
    encoded = json.dumps(head, ensure_ascii=False, separators=(",", ":"))
    # One object: the head's members, then the content's ("catalog", "listings").
    content = _content_text(catalog, listings, canonical=False)
    return (encoded[:-1] + "," + content[1:]).encode("utf-8") + b"\n"


def _part_key(kind: str, value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return f"{kind}:{hashlib.sha256(text.encode('utf-8')).hexdigest()}"


def decode_snapshot(
    data: bytes, source: str = "the partner snapshot", previous: PartnerSnapshot | None = None
) -> PartnerSnapshot:
    """Read a snapshot's bytes back into models; `SnapshotError` for anything else.

    With `previous` (the snapshot read before, `serve --watch` reading each build's), a
    listing stored exactly as it was there, under the same catalog, is that listing's model
    again rather than validated anew: validating 10,000 listings takes ~2 s of CPU in the
    serving process, after every edit, where an edit changes one."""
    rebuild = "run `marketplace build` to write it again"
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise SnapshotError(f"{source} is not JSON: {rebuild}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SnapshotError(f"{source} is not a partner snapshot: {rebuild}")
    if document.get("version") != VERSION:
        raise SnapshotError(
            f"{source} has format version {document.get('version')!r}; this version of the "
            f"Marketplace reads version {VERSION}: {rebuild}"
        )
    content = {"catalog": document.get("catalog"), "listings": document.get("listings")}
    content_hash = document.get("content_hash")
    if content_hash != _content_hash(content):
        raise SnapshotError(
            f"{source} was changed after it was built (its hash differs): {rebuild}"
        )
    try:
        built_at = datetime.fromisoformat(str(document.get("built_at")))
        known = previous.parts if previous is not None else {}
        parts: dict[str, Catalog | Listing] = {}
        catalog_key = _part_key("catalog", content["catalog"])
        catalog = known.get(catalog_key)
        if not isinstance(catalog, Catalog):
            catalog = Catalog.from_file(CatalogFile.model_validate(content["catalog"]))
            known = {}  # listings validated under another catalog are validated again
        parts[catalog_key] = catalog
        context = ListingContext(catalog)
        items = content["listings"]
        if not isinstance(items, list):
            raise TypeError("listings is not a list")
        listings = []
        for item in items:
            key = _part_key("listing", item)
            listing = known.get(key)
            if not isinstance(listing, Listing):
                listing = Listing.model_validate(item, context=context)
            parts[key] = listing
            listings.append(listing)
    except (ValueError, TypeError, ValidationError) as error:
        first = str(error).splitlines()[0]
        raise SnapshotError(f"{source} does not hold valid partners ({first}): {rebuild}") from None
    return PartnerSnapshot(
        SnapshotStamp(VERSION, content_hash, built_at),
        catalog,
        {listing.slug: listing for listing in listings},
        parts,
    )


def write_snapshot(
    path: Path,
    catalog: Catalog,
    listings: Iterable[Listing],
    built_at: datetime | None = None,
    content_hash: str | None = None,
) -> None:
    """Write the snapshot atomically: readers see the old file or the new one, never half.
    `content_hash`: as for `encode_snapshot`."""
    data = encode_snapshot(catalog, listings, built_at or datetime.now(UTC), content_hash)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_whole(path, lambda handle: handle.write(data))


def read_snapshot(path: Path, previous: PartnerSnapshot | None = None) -> PartnerSnapshot:
    """The snapshot at `path`; `SnapshotMissing` when there is none yet. `previous`: as for
    `decode_snapshot`."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SnapshotMissing(
            f"no partner snapshot at {path}: run `marketplace build` first"
        ) from None
    except OSError as error:
        raise SnapshotError(f"cannot read the partner snapshot {path}: {error.strerror}") from None
    return decode_snapshot(data, str(path), previous)
