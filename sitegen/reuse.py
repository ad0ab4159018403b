"""Partner pages a build can keep from the previous build of the same site language.

`marketplace build` over a previous build's output re-renders only the partner pages whose
listing changed (issue 18): a partner page is a function of the listing, its logo URL and
last-changed date, the backend's address, the language, and of everything else only through
the code, the templates, the translations, the catalog and the theme page around it. So a
build records, per partner, a key over the first group (`page_key`) and, once, a
fingerprint of the second (`code_fingerprint`, the catalog, and the digest of the theme shell
the pages were filled into), and the file it wrote (inode, size, time: another writer's page
is not taken for this build's). The next build, which writes into a staging folder, leaves
each live page whose key, file and the fingerprint are unchanged where it is instead of
rendering it again, and publishes the rest over it (`marketplace_app.staging`). Anything else
(a change to the catalog, a template, the code, the library versions, mkdocs.yml or a
hand-written page that changes the theme shell) renders every partner page, as does a missing
or unreadable record.

Browse pages are kept the same way, by a key over what they show that the fingerprint does
not cover: their URL, how many partners the value has, and the page keys of the partners they
list, in order (`browse_key`); one edit changes a few dozen of the ~3,000 browse pages per
language at 10,000 partners. A browse or facet page rendered all the same (a new fingerprint,
a changed count) whose HTML came out the same as the live one (same digest) is not written
again either. `OutputRecord.pages` holds both, with the live file's stamp, and the logos
(named by a hash of their content, so kept while the live file is the one published). The
exports and the sitemap are always made again.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import version
from pathlib import Path

from marketplace.catalog import Catalog
from marketplace.files import stamp as stamp_of
from marketplace.model import Listing, derived, listing_digest
from sitegen.pages import SiteInput, contact_url

RECORD_VERSION = 2
"""Bumped when the record's shape or the meaning of a key changes."""

PAGE_LIBRARIES = (
    "jinja2",
    "markdown-it-py",
    "nh3",
    "markupsafe",
    "mkdocs",
    "mkdocs-material",
    "babel",  # dates and numbers in each language
    "pycountry",  # the regions' names in Russian
)
"""Libraries whose version can change a page's HTML."""

PAGE_PACKAGES = ("sitegen", "marketplace")
"""Our packages whose code, templates and translations make the pages."""


@cache
def code_fingerprint(
    packages: tuple[str, ...] = PAGE_PACKAGES, libraries: tuple[str, ...] = PAGE_LIBRARIES
) -> str:
    """A digest of the code that shapes an output: our `packages`' files (code, templates,
    message catalogs) and the versions of the `libraries` that render it."""
    digest = hashlib.sha256(f"record {RECORD_VERSION}\n".encode())
    for library in libraries:
        digest.update(f"{library} {version(library)}\n".encode())
    root = Path(__file__).resolve().parent.parent
    for package in packages:
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".html", ".po", ".yaml", ".yml", ".json"):
                digest.update(path.relative_to(root).as_posix().encode() + b"\n")
                digest.update(path.read_bytes())
    return digest.hexdigest()


def catalog_fingerprint(code: str, catalog: Catalog, *more: str) -> str:
    """A `code_fingerprint` with the catalog (its names are on every page and in every search
    document) and any `more` (the site language, a theme shell's digest). The catalog as the
    build loaded it, not the file as it is now: a catalog saved during a build must not stand
    for the pages rendered from the one before."""
    digest = hashlib.sha256(code.encode())
    loaded = catalog.to_file().model_dump(mode="json")
    # Keys in catalog order: the order of its values is shown (a partner's services, say).
    digest.update(json.dumps(loaded, ensure_ascii=False).encode())
    for part in more:
        digest.update(b"\n" + part.encode())
    return digest.hexdigest()


def partner_key(listing: Listing, *more: str | None) -> str:
    """The key of one partner's output: a digest of the listing's digest (`listing_digest`)
    and `more` (its logo URL, dates, what else the output shows of it). Made once per listing
    and `more` (`marketplace.model.derived`)."""

    def make() -> str:
        digest = hashlib.sha256(listing_digest(listing).encode())
        digest.update(json.dumps(more, ensure_ascii=False, separators=(",", ":")).encode())
        return digest.hexdigest()

    return derived(listing, ("partner key", more), make)


def page_key(site: SiteInput, listing: Listing) -> str:
    """A digest of what one partner's page shows that is not in the record's fingerprint."""
    logo, updated = site.logos.get(listing.slug), site.updated.get(listing.slug)

    def make() -> str:
        when = updated.isoformat() if updated else None
        return partner_key(listing, logo, when, contact_url(site, listing.slug))

    # Kept by what it is made from (`derived`): the date's text and the contact address made
    # for every partner in each language were half of a build's 20,000 keys (~60 ms). The
    # offset too: equal times at other offsets have other texts.
    offset = updated.utcoffset() if updated else None
    key = ("page key", site.language, site.backend_url, logo, updated, offset)
    return derived(listing, key, make)


@dataclass
class OutputRecord:
    """What a build wrote an output from (a language's partner pages, the search index): a
    fingerprint of everything all partners share, and each partner's key."""

    fingerprint: str
    keys: dict[str, str] = field(default_factory=dict)  # slug -> key
    files: dict[str, str] = field(default_factory=dict)
    """What identifies the files written (`file_stamp`), to notice another writer's."""
    pages: dict[str, str] = field(default_factory=dict)
    """Path of a browse or facet page -> "<browse_key or -> <page_digest> <file_stamp>"; of a
    logo -> "- logo <file_stamp>"."""

    @staticmethod
    def read(path: Path) -> OutputRecord | None:
        """The record at `path`; None when there is none or it cannot be read."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != RECORD_VERSION:
                return None
            return OutputRecord(
                str(data["fingerprint"]),
                dict(data["keys"]),
                dict(data.get("files", {})),
                dict(data.get("pages", {})),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def changed(self, keys: dict[str, str]) -> tuple[list[str], list[str]]:
        """(slugs whose key is new or differs, slugs no longer there) against `keys`."""
        changed = [slug for slug, key in keys.items() if self.keys.get(slug) != key]
        return changed, [slug for slug in self.keys if slug not in keys]

    def write(self, path: Path) -> None:
        """Save the record, replacing any previous one atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        document = {"version": RECORD_VERSION, **self.__dict__}
        partial.write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")
        partial.replace(path)


def new_file_mode() -> int:
    """The permissions a file written now gets: a kept file must have them too (a site built
    under a stricter umask would otherwise stay unreadable to a static server)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def browse_key(url: str, partner_keys: list[str], total: int) -> str:
    """A digest of what a browse page shows that is not in the record's fingerprint: its URL,
    the value's partner count (pagination, headings) and the keys of the partners it lists."""
    return hashlib.sha256(f"{url}\n{total}\n{' '.join(partner_keys)}".encode()).hexdigest()


def page_digest(html: str) -> str:
    """A digest of a page's HTML: the same digest, the same bytes on disk."""
    return hashlib.sha256(html.encode()).hexdigest()


def file_stamp(path: str | Path) -> str | None:
    """The `marketplace.files.stamp` of a file (None when it is missing): a build records
    those of the pages it publishes, to notice another writer's later."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return stamp_of(status)


def still_file(path: str | Path, stamp: str | None, mode: int) -> bool:
    """True when the file at `path` is still the one `file_stamp` gave `stamp`, with the
    permissions `mode`: one look at the file (a build asks for every kept page's: 20,000 at
    10,000 partners, so callers may pass the path as a string, without building a `Path`)."""
    try:
        status = os.stat(path)
    except OSError:
        return False
    return stamp_of(status) == stamp and stat.S_IMODE(status.st_mode) == mode


@dataclass
class PageReuse:
    """Where one site language's build finds the previous partner pages and their record,
    and what it kept of them.

    Set on the plugin by `marketplace_app.build`, which builds into a staging folder and
    then publishes it over the live site (`marketplace_app.staging`). A partner page whose
    key, file and fingerprint are unchanged stays in the live site untouched: the plugin
    names it in `kept_paths` rather than writing it, and leaves the new `record` for the
    build to write once the site is published (a build that fails leaves the live pages
    and their record as they were)."""

    record_file: Path
    live_root: Path | None
    """The language's live site folder (None: nothing to keep, every page is rendered)."""
    previous: OutputRecord | None
    kept: int = 0
    """Partner pages kept from the previous build (set by the plugin)."""
    kept_paths: set[str] = field(default_factory=set)
    """Files of the live site this build keeps, relative to `live_root`: partner pages and
    logos (set by the plugin)."""
    written: dict[str, str] = field(default_factory=dict)
    """Slug -> the partner page this build wrote, relative to the language's folder; stamped
    into `record` once published (set by the plugin)."""
    written_pages: dict[str, str] = field(default_factory=dict)
    """Path of a browse or facet page (or logo) this build wrote -> "<browse_key or ->
    <page_digest>" ("- logo"); stamped into `record.pages` once published (set by the plugin)."""
    record: OutputRecord | None = None
    """What this build's partner pages were written from (set by the plugin)."""

    def live_page(self, path: str, mode: int) -> tuple[str, str] | None:
        """(browse key or "-", page digest) of the live site's page at `path` as the previous
        build published it; None when it is not that file any more (or has not the
        permissions `mode` a new file would get)."""
        if self.previous is None or self.live_root is None:
            return None
        recorded = self.previous.pages.get(path, "").split(" ")
        if len(recorded) != 3:
            return None
        if not still_file(f"{self.live_root}/{path}", recorded[2], mode):
            return None
        return recorded[0], recorded[1]

    def stamp_written(self, published_root: Path) -> None:
        """Record the files of the pages written, as published under `published_root`."""
        if self.record is not None:
            for slug, page in self.written.items():
                self.record.files[slug] = file_stamp(published_root / page) or ""
            for path, written in self.written_pages.items():
                self.record.pages[path] = f"{written} {file_stamp(published_root / path)}"
