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
from marketplace.files import write_aside, write_whole
from marketplace.model import Listing, ListingContext, listing_digest, listing_json

SNAPSHOT_FILE_NAME = "partners.snapshot.json"
"""The snapshot's name in the instance folder, beside the search index."""
FORMAT = "partner-marketplace/partners"
VERSION = 4
"""The format version this code writes and reads; a reader refuses any other.

2: the catalog's `admin_roles` and offers' `delegated_admin_roles`.
3: purchase offers' default `prices`, `currency` and `billing`.
4: one listing per line; the content hash is over each part's digest (`_hash_of_parts`).
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
    parts: dict[str, tuple[Catalog | Listing, str]] = field(
        default_factory=dict, repr=False, compare=False
    )
    """A digest of each part's JSON as stored (`_part_key`) -> the model read from it and the
    digest of the part's canonical text (what the content hash is over, `_hash_of_parts`):
    what the next read (`decode_snapshot`'s `previous`) takes as validated and hashed
    already."""


def _catalog_json(catalog: Catalog) -> dict[str, Any]:
    return catalog.to_file().model_dump(mode="json")


def _canonical(value: object) -> str:
    # Keys sorted at every level, so re-indenting or reordering the file does not change it.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _digest(canonical: str) -> str:
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _hash_of_parts(catalog: str, listings: Iterable[str]) -> str:
    """The content hash: over the digests (`_digest`) of the parts' canonical texts
    (`_canonical`), the catalog's and each listing's in order. Of digests rather than of the
    whole text, so that the build finds it from each listing's digest, made once per listing
    (`listing_digest`), and a reader from those of the lines it decodes (`_decode_lines`):
    hashing 10,000 listings' text at every edit took 0.14 s of the build."""
    text = "\n".join([f"catalog {catalog}", *listings])
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _part_digests(content: dict[str, Any]) -> tuple[str, list[str]] | None:
    """The digests of the canonical texts of the catalog and of each listing of
    `{"catalog": …, "listings": […]}` as decoded; None when the listings are not a list or a
    text holds a lone surrogate ("\\ud800"): no build writes either."""
    listings = content["listings"]
    if not isinstance(listings, list):
        return None
    try:
        catalog = _digest(_canonical(content["catalog"]))
        return catalog, [_digest(_canonical(item)) for item in listings]
    except UnicodeEncodeError:
        return None


def _content_hash(content: dict[str, Any]) -> str | None:
    """The content hash of `{"catalog": …, "listings": […]}` as decoded (None where
    `_part_digests` is)."""
    digests = _part_digests(content)
    return None if digests is None else _hash_of_parts(*digests)


_LISTINGS_START = ',"listings":['
"""The file's first line ends with this; then come the listings, one per line (a comma after
each but the last), then a line `]}`. It is one JSON object all the same, and a reader that
has the previous snapshot decodes only the lines that differ from it (`_decode_lines`)."""


def _content_text(catalog: Catalog, listings: Iterable[Listing]) -> str:
    """`{"catalog": …, "listings": […]}` as the file holds it: in the models' own order, one
    listing per line (`_LISTINGS_START`). Put together from each listing's text
    (`listing_json`, made once per listing) rather than encoding 10,000 listings again."""
    ordered = sorted(listings, key=lambda listing: listing.slug)
    catalog_text = json.dumps(_catalog_json(catalog), ensure_ascii=False, separators=(",", ":"))
    lines = ",\n".join(listing_json(listing) for listing in ordered)
    return f'{{"catalog":{catalog_text}{_LISTINGS_START}\n' + (lines + "\n" if lines else "") + "]}"


def snapshot_content_hash(catalog: Catalog, listings: Iterable[Listing]) -> str:
    """The `content_hash` the snapshot of these listings has, whenever it is built (the search
    index records it, so `/healthz` can tell an index built from other partners)."""
    ordered = sorted(listings, key=lambda listing: listing.slug)
    return _hash_of_parts(
        _digest(_canonical(_catalog_json(catalog))), [listing_digest(item) for item in ordered]
    )


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
    content = _content_text(catalog, listings)
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
    serving process, after every edit, where an edit changes one. In a file laid out as the
    build writes it (`_LISTINGS_START`), such a listing's line is not even decoded or hashed
    again (`_decode_lines`): decoding the whole file took another 0.6 s there, during which
    the server's request threads waited for the interpreter."""
    if previous is not None:
        decoded = _decode_lines(data, previous)
        if decoded is not None:
            return decoded
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
    digests = _part_digests(content)
    if content_hash is None or digests is None or content_hash != _hash_of_parts(*digests):
        raise SnapshotError(
            f"{source} was changed after it was built (its hash differs): {rebuild}"
        )
    catalog_digest, listing_digests = digests
    items = content["listings"]
    assert isinstance(items, list)  # (else no digests)
    try:
        built_at = datetime.fromisoformat(str(document.get("built_at")))
        known = previous.parts if previous is not None else {}
        catalog_key = _part_key("catalog", content["catalog"])
        catalog = known.get(catalog_key, (None, ""))[0]
        if not isinstance(catalog, Catalog):
            catalog = Catalog.from_file(CatalogFile.model_validate(content["catalog"]))
            known = {}  # listings validated under another catalog are validated again
        parts: dict[str, tuple[Catalog | Listing, str]] = {catalog_key: (catalog, catalog_digest)}
        context = ListingContext(catalog)
        listings = []
        for item, digest in zip(items, listing_digests, strict=True):
            key = _part_key("listing", item)
            listing = known.get(key, (None, ""))[0]
            if not isinstance(listing, Listing):
                listing = Listing.model_validate(item, context=context)
            parts[key] = (listing, digest)
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


def _decode_lines(data: bytes, previous: PartnerSnapshot) -> PartnerSnapshot | None:
    """`decode_snapshot` of a file laid out as the build writes it, under the catalog that
    `previous` was read with: a listing's line that is byte for byte one read then is that
    listing's model and the digest of its canonical text again, without decoding, validating
    or hashing it anew (the digest of such a line is its `_part_key`: the build writes each
    listing as that compact JSON). None for anything else (another layout or catalog, a line
    that is not one valid listing, a hash that differs): the whole file is decoded then, and
    says what is wrong."""
    lines = data.split(b"\n")
    if len(lines) < 3 or lines[-1] or lines[-2] != b"]}":
        return None
    if not lines[0].endswith(_LISTINGS_START.encode()):
        return None
    try:
        head = json.loads(lines[0] + b"]}")
        built_at = datetime.fromisoformat(str(head.get("built_at")))
    except (ValueError, AttributeError):  # not JSON, not an object, no date
        return None
    if (head.get("format"), head.get("version"), head.get("listings")) != (FORMAT, VERSION, []):
        return None
    try:
        catalog_key = _part_key("catalog", head.get("catalog"))
    except ValueError:  # a lone surrogate
        return None
    catalog, catalog_digest = previous.parts.get(catalog_key, (None, ""))
    if not isinstance(catalog, Catalog):
        return None
    parts: dict[str, tuple[Catalog | Listing, str]] = {catalog_key: (catalog, catalog_digest)}
    listings: list[Listing] = []
    digests: list[str] = []
    items = lines[1:-2]
    for number, line in enumerate(items, 1):
        if number < len(items):
            if not line.endswith(b","):
                return None
            line = line[:-1]
        key = "listing:" + hashlib.sha256(line).hexdigest()
        listing, digest = previous.parts.get(key, (None, ""))
        if not isinstance(listing, Listing):
            try:
                item = json.loads(line)
                listing = Listing.model_validate(item, context=ListingContext(catalog))
                digest = _digest(_canonical(item))
            except ValueError:  # not JSON, not a valid listing, a lone surrogate: all are
                return None
        parts[key] = (listing, digest)
        listings.append(listing)
        digests.append(digest)
    content_hash = head.get("content_hash")
    if content_hash != _hash_of_parts(catalog_digest, digests):
        return None
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


def write_snapshot_aside(
    path: Path, catalog: Catalog, listings: Iterable[Listing], content_hash: str | None = None
) -> Path:
    """`write_snapshot` up to the rename: the new snapshot in a temporary file beside `path`,
    for the caller to rename over it when the site and index of the same listings are live."""
    data = encode_snapshot(catalog, listings, datetime.now(UTC), content_hash)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_aside(path, lambda handle: handle.write(data))


def discard_snapshots_aside(path: Path) -> None:
    """Remove the snapshots written aside beside `path` (`write_snapshot_aside`) that were
    never put in place: a build killed before it published (Ctrl+C, SIGTERM, a crash) leaves
    its own. Only for a caller that knows no other build is writing one (the build's lock)."""
    for aside in path.parent.glob(f".{path.name}.*"):
        aside.unlink(missing_ok=True)


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
