"""`marketplace build`: validate the listings, then write the static site, the search index
and the partner snapshot the backend reads (`marketplace.snapshot`)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import pickle
import shutil
import stat
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from marketplace.catalog import SITE_LANGUAGES, Catalog
from marketplace.history import ListingDates, listing_dates
from marketplace.model import Listing, derived
from marketplace.snapshot import (
    SNAPSHOT_FILE_NAME,
    SnapshotError,
    discard_snapshots_aside,
    read_snapshot,
    write_snapshot_aside,
)
from marketplace.urls import partner_url
from marketplace.validate import (
    InvalidListings,
    LoadedListing,
    RememberedListings,
    ValidationReport,
    load_listings,
)

if TYPE_CHECKING:
    from search.whoosh_engine import PreparedIndex
    from sitegen.carry import MadePages
    from sitegen.plugin import GeneratedPages, LanguageShell, ListingFacts
    from sitegen.reuse import OutputRecord, PageReuse

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LANGUAGE_NAMES = {"en": "English", "ru": "Russian"}
MKDOCS_CONFIG = PROJECT_ROOT / "mkdocs.yml"
"""The English site's MkDocs configuration; each other language has `mkdocs.<lang>.yml`."""
PARTNERS_FOLDER = partner_url("x").split("/")[0]
"""The site's folder of partner pages ("partners")."""
SITE_BUILD_FILE_NAME = "site_build.json"
"""In the instance folder: the site URL the last build wrote the site's absolute links for."""
LISTING_DATES_FILE_NAME = "listing_dates.json"
"""In the instance folder: the listings' commit times at the commit the last build found, so
the next one asks git only for the commits made since (`marketplace.history`)."""


@dataclass(frozen=True)
class BuildPaths:
    """Where a build reads from and writes to, and the address the site is published at."""

    listings_dir: Path
    site_dir: Path
    instance_dir: Path
    mkdocs_config: Path = MKDOCS_CONFIG
    site_url: str | None = None
    """The start of every absolute link (feeds, sitemap, canonical links, partners.json);
    None: what `mkdocs.yml` says (`$MARKETPLACE_SITE_URL` or its default)."""

    @property
    def snapshot_file(self) -> Path:
        """The partner snapshot, in the instance folder beside the search index."""
        return self.instance_dir / SNAPSHOT_FILE_NAME

    @property
    def site_build_file(self) -> Path:
        """The record of the site URL the last build used, beside the snapshot."""
        return self.instance_dir / SITE_BUILD_FILE_NAME

    @property
    def listing_dates_file(self) -> Path:
        """The listings' commit times the last build found (`marketplace.history`)."""
        return self.instance_dir / LISTING_DATES_FILE_NAME


def site_url_of(url: str) -> str:
    """`url` as the site's address: http(s), a host, ending in a slash (as MkDocs keeps it,
    so a recorded URL compares equal to the one asked for). `ValueError` when it is not one."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an address starting with http:// or https://")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query (?…) or fragment (#…)")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return f"{parts.scheme}://{parts.netloc}{path}"


class BuildFailed(Exception):
    """The listings did not validate; `report` holds every problem."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__("the listings did not validate")
        self.report = report


@dataclass(frozen=True)
class BuildReport:
    """What a build did and how long each step took (seconds)."""

    listings: int
    validate_seconds: float
    site_seconds: float
    index_seconds: float
    pages_kept: int = 0
    """Partner pages (all languages) kept from the previous build: nothing they show changed."""
    total_seconds: float = 0.0
    """The whole build, publishing included (the steps above overlap)."""

    def describe(self) -> str:
        """One line for the operator."""
        kept = f" ({self.pages_kept} unchanged partner pages kept)" if self.pages_kept else ""
        return (
            f"{self.listings} listings: validated in {self.validate_seconds:.1f} s, site in "
            f"{self.site_seconds:.1f} s{kept}, search index in {self.index_seconds:.1f} s; "
            f"built in {self.total_seconds:.1f} s"
        )


Progress = Callable[[str], None]
"""Told what a long build is doing now (the CLI prints it)."""


def _quiet(step: str) -> None:
    pass


BuiltFrom = tuple[tuple[Catalog, list[LoadedListing]], Mapping[Path, ListingDates]]
"""The validated listings a build made a site from, and their dates."""


@dataclass
class RememberedSite:
    """The site the last build published, as a process that builds again and again keeps it:
    what each language's MkDocs run made (`sitegen.plugin.LanguageShell`), a digest of what
    MkDocs read besides the listings (`site_sources`) and the stamp of every file it wrote, as
    published. While MkDocs would read the same, its files are still live (`still_live`) and
    would be made the same for the new listings (`LanguageShell.current_for`), a build after
    an edit to the listings writes only the generated pages and exports again, without MkDocs
    (`_generated_pages_again`)."""

    sources: str
    shells: list[LanguageShell]
    """Per site language, the root first."""
    stamps: dict[str, str]
    """Each file MkDocs wrote (relative to the site folder) -> its `file_stamp` once published."""
    folder_modes: dict[str, int]
    """Each folder holding them (relative) -> its permissions once published (publishing sets
    a staged folder's; a folder of MkDocs's files alone is not staged again)."""
    made: list[MadePages | None] = field(default_factory=list)
    """Per site language, what its generated pages were last made from, when they were made
    in this process (`sitegen.carry`: the next build takes over what did not change)."""
    built_from: BuiltFrom | None = None
    """The listings and dates the site was built from, while a language's `made` is still to
    be made from them (`remember_every_language`)."""
    by_mkdocs: bool = False
    """Built by MkDocs runs (not `_generated_pages_again`)."""

    def still_live(self, site_dir: Path) -> bool:
        """True when every file MkDocs wrote is still the one published, and the folders
        holding them have their permissions (nothing changed them on the live site since)."""
        from sitegen.reuse import new_file_mode, still_file

        mode = new_file_mode()
        if not all(still_file(site_dir / path, stamp, mode) for path, stamp in self.stamps.items()):
            return False
        try:
            return all(
                stat.S_IMODE(os.stat(site_dir / folder).st_mode) == folder_mode
                for folder, folder_mode in self.folder_modes.items()
            )
        except OSError:
            return False


@dataclass
class RememberedBuild:
    """What a process that builds again and again (`marketplace_app.rebuilds`) knows from
    its builds before: the valid listings (`marketplace.validate.RememberedListings`) and the
    site last published."""

    listings: RememberedListings = field(default_factory=RememberedListings)
    site: RememberedSite | None = None


def build(
    paths: BuildPaths, progress: Progress = _quiet, remembered: RememberedBuild | None = None
) -> BuildReport:
    """Validate the listings and, only if they are all valid, build the site and index.
    `remembered`: what a process that builds again and again knows from its builds before
    (`RememberedBuild`); this build's site replaces what it knows of the site once published.

    The search index is built in a process of its own while the site languages are built
    (`build_site`), so the steps overlap on a machine with more than one core; their seconds
    in the report are each step's own, which is why they may add up to more than the build.
    """
    check_site_dir(paths)
    with _one_build_at_a_time(paths):
        return _build(paths, progress, remembered)


class UnsafeSiteDir(ValueError):
    """The site folder holds what the build reads or keeps (the project, the listings, the
    instance folder): publishing into it would replace or mix up their files."""


def check_site_dir(paths: BuildPaths) -> None:
    """`UnsafeSiteDir` when the site folder is, or holds, the listings, the instance folder,
    the hand-written pages or the folder of the MkDocs configuration (`--site-dir .`)."""
    site = paths.site_dir.resolve()
    project = paths.mkdocs_config.parent
    for name, folder in (
        ("the listings", paths.listings_dir),
        ("the instance folder", paths.instance_dir),
        ("the hand-written pages", project / "site_src"),
        ("the MkDocs configuration", project),
    ):
        held = folder.resolve()
        if held == site or site in held.parents:
            raise UnsafeSiteDir(
                f"the site folder {paths.site_dir} holds {name} ({folder}); give the site a "
                "folder of its own, such as ./site"
            )


BUILD_LOCK_FILE_NAME = "build.lock"
"""In the instance folder: held by the build running over it (see `_one_build_at_a_time`)."""
SITE_LOCK_FILE_NAME = ".build.lock"
"""In the site folder: held by the build publishing into it."""


@contextlib.contextmanager
def _one_build_at_a_time(paths: BuildPaths) -> Iterator[None]:
    """Hold the instance folder's build lock: a second build over the same output (an
    operator's `marketplace build` while `serve --watch` builds) waits for the first, instead
    of both moving the same scratch folders and pages about."""
    import fcntl

    paths.instance_dir.mkdir(parents=True, exist_ok=True)
    with open(paths.instance_dir / BUILD_LOCK_FILE_NAME, "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def _site_folder_locked(paths: BuildPaths) -> Iterator[None]:
    """Hold the site folder's lock too: two instance folders building into one site folder
    take turns. Taken once the listings are valid, so a refused build creates no site folder."""
    import fcntl

    paths.site_dir.mkdir(parents=True, exist_ok=True)
    with open(paths.site_dir / SITE_LOCK_FILE_NAME, "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        yield


def _build(
    paths: BuildPaths, progress: Progress, remembered: RememberedBuild | None
) -> BuildReport:
    started = time.perf_counter()
    discard_snapshots_aside(paths.snapshot_file)  # a killed build's (we hold the build lock)
    progress(f"Validating the listings in {paths.listings_dir}…")
    try:
        loaded = load_listings(
            paths.listings_dir, remembered.listings if remembered is not None else None
        )
    except InvalidListings as error:
        raise BuildFailed(error.report) from None
    validated = time.perf_counter()
    # Found once, before the steps fork, so the site and the index date partners alike.
    dates = listing_dates([item.path for item in loaded[1]], paths.listing_dates_file)
    keys = index_keys(loaded[1], dates)  # made here, kept with the listings for later builds
    with _site_folder_locked(paths):
        progress(f"Indexing {len(loaded[1])} partners for search…")
        indexing = _Child(_timed, _index_and_snapshot, paths, loaded, dates, keys)
        try:
            site = build_site(paths, loaded, progress, dates, remembered)
            site_seconds = time.perf_counter() - validated
        except BaseException:
            with contextlib.suppress(BaseException):
                _discard(indexing.result()[1])
            raise
        try:
            index_seconds, index = indexing.result()
        except BaseException:
            site.discard()
            raise
        # Published only now that every step succeeded: a build that failed before here
        # leaves the site, the index and the snapshot as the last good build left them. The
        # site first, then the index, then the snapshot: a backend that sees this snapshot
        # finds the site and index of the same build.
        progress(f"Publishing the site into {paths.site_dir}…")
        try:
            site.publish()
        except BaseException:
            _discard(index)
            site.discard()
            raise
        if remembered is not None:
            remembered.site = site.remembered()
        assert index.snapshot_aside is not None
        try:
            publish_search_index(paths, index)
            _record_site_url(paths, site.site_url)
            os.replace(index.snapshot_aside, paths.snapshot_file)
        finally:
            index.snapshot_aside.unlink(missing_ok=True)  # (gone once renamed)
        return BuildReport(
            len(loaded[1]),
            validated - started,
            site_seconds,
            index_seconds,
            site.pages_kept,
            time.perf_counter() - started,
        )


def _timed(step: Callable[..., Any], *arguments: object) -> tuple[float, Any]:
    """Run `step`: how long it took (s), and what it returned."""
    started = time.perf_counter()
    value = step(*arguments)
    return time.perf_counter() - started, value


class _Child:
    """`function(*arguments)` in a forked process; `result()` waits and returns its value or
    raises its exception.

    Fork, not spawn: the child starts with the validated listings in memory (copy on write),
    where spawn would import everything again and pickle 10,000 listings over a pipe. No
    thread of ours runs when it forks: `serve` builds before it starts serving, and later
    builds in a process of its own (`marketplace_app.rebuilds`), which runs no thread.
    """

    def __init__(self, function: Callable[..., Any], *arguments: object) -> None:
        context = multiprocessing.get_context("fork")
        self._receiver, sender = context.Pipe(duplex=False)
        self._process = context.Process(
            # Not a daemon: whoosh's index writer starts processes of its own.
            target=self._run,
            args=(sender, function, arguments),
        )
        self._process.start()
        sender.close()

    @staticmethod
    def _run(sender: Connection, function: Callable[..., Any], arguments: tuple[object]) -> None:
        try:
            outcome: tuple[bool, object] = (True, function(*arguments))
        except BaseException as error:
            try:
                pickle.dumps(error)
                outcome = (False, error)
            except Exception:
                outcome = (False, RuntimeError("".join(traceback.format_exception(error))))
        sender.send(outcome)
        sender.close()

    def result(self) -> Any:
        """The function's return value, once the child has finished."""
        try:
            succeeded, value = self._receiver.recv()
        except EOFError:
            self._process.join()
            raise RuntimeError(
                f"a build process ended without an answer (exit code {self._process.exitcode})"
            ) from None
        finally:
            self._receiver.close()
        self._process.join()
        if not succeeded:
            assert isinstance(value, BaseException)
            raise value
        return value


INDEX_CODE = (("search", "marketplace"), ("whoosh-reloaded",))
"""The packages and libraries whose code makes the search index (`code_fingerprint`)."""
INDEX_RECORD_FILE_NAME = "index_partners.json"
"""In the instance folder: what the search index was last built or updated from, per partner."""
INDEX_UPDATE_SHARE = 0.1
"""Above this share of partners changed or removed, the index is built afresh rather than
updated (an update adds a segment and rewrites the precomputed scores anyway)."""


@dataclass
class IndexStep:
    """The search index a build prepared (None: the current one already answers for these
    listings), and the record to leave once it is published."""

    prepared: PreparedIndex | None
    record: OutputRecord
    snapshot_hash: str
    """The content hash of the partner snapshot of the same listings (the index records it):
    the snapshot the build writes need not find it again."""
    snapshot_aside: Path | None = None
    """That snapshot, written beside the live one for the build to put in place last
    (`_index_and_snapshot`); None when the step made none."""


def build_search_index(paths: BuildPaths, loaded: tuple[Catalog, list[LoadedListing]]) -> None:
    """Index the listings for partner search and swap the new index in (`prepare_search_index`
    then `publish_search_index`)."""
    publish_search_index(paths, prepare_search_index(paths, loaded))


def prepare_search_index(
    paths: BuildPaths,
    loaded: tuple[Catalog, list[LoadedListing]],
    dates: Mapping[Path, ListingDates] | None = None,
    keys: dict[str, str] | None = None,
) -> IndexStep:
    """Write the search index of the listings beside the current one, not in use yet; the
    index records the content hash of the partner snapshot of the same listings (`/healthz`
    compares it with the snapshot the backend loaded).

    A hit shows what the site shows: the logo at the URL the site publishes it under
    (`site_logos`) and the first-published date the site gives the partner, from the listing
    file's history (`marketplace.history`: git, else the file's modification time); `dates`:
    those the build found for the site too (None: found here); `keys`: their `index_keys`,
    when made already.

    When the previous build's record (`INDEX_RECORD_FILE_NAME`) says only a few partners
    changed, and nothing all partners share did (the catalog, the search code, library
    versions), the current index is updated with just those (`prepare_update`) instead.
    """
    from marketplace.snapshot import snapshot_content_hash
    from search.documents import partner_documents
    from search.whoosh_engine import (
        SNAPSHOT_HASH_FILE,
        current_index,
        index_is_current,
        index_needs_rebuild,
        index_root,
        prepare_index,
        prepare_update,
        recorded_with_index,
    )
    from sitegen.reuse import OutputRecord, catalog_fingerprint, code_fingerprint

    catalog, listings = loaded
    partners = [item.listing for item in listings]
    if dates is None:
        dates = listing_dates([item.path for item in listings], paths.listing_dates_file)
    published = {item.listing.slug: dates[item.path].published for item in listings}
    logos = site_logos(listings)
    snapshot_hash = snapshot_content_hash(catalog, partners)
    root = index_root(paths.instance_dir)

    previous = OutputRecord.read(paths.instance_dir / INDEX_RECORD_FILE_NAME)
    code = code_fingerprint(*INDEX_CODE)
    record = OutputRecord(catalog_fingerprint(code, catalog))
    record.keys = keys if keys is not None else index_keys(listings, dates)
    changed, removed = previous.changed(record.keys) if previous else ([], [])
    current = current_index(root)
    if (
        previous is not None
        and previous.fingerprint == record.fingerprint
        and current is not None
        and previous.files.get("") == current.name
        and index_is_current(root)
        and len(changed) + len(removed) <= INDEX_UPDATE_SHARE * max(len(partners), 1)
        # Updates leave replaced partners deleted in whoosh's segments (counted in every
        # word's statistics): past a share of them, the index is written afresh.
        and not index_needs_rebuild(root)
    ):
        record.files[""] = current.name
        unchanged = recorded_with_index(root, SNAPSHOT_HASH_FILE) == snapshot_hash
        if not changed and not removed and unchanged:
            return IndexStep(None, record, snapshot_hash)
        by_slug = {listing.slug: listing for listing in partners}
        documents = partner_documents(
            catalog, [by_slug[slug] for slug in changed], logos, published
        )
        return IndexStep(
            prepare_update(root, documents, removed, snapshot_hash), record, snapshot_hash
        )
    documents = partner_documents(catalog, partners, logos, published)
    return IndexStep(prepare_index(root, documents, snapshot_hash), record, snapshot_hash)


def _index_and_snapshot(
    paths: BuildPaths,
    loaded: tuple[Catalog, list[LoadedListing]],
    dates: Mapping[Path, ListingDates],
    keys: dict[str, str],
) -> IndexStep:
    """A build's step beside the site: the search index (`prepare_search_index`) and the
    partner snapshot of the same listings, written aside (`IndexStep.snapshot_aside`). The
    snapshot is made here rather than in the site's process, which is the longer one after an
    edit under `serve` (encoding 10,000 listings' snapshot: ~0.1 s of its ~1.5 s)."""
    step = prepare_search_index(paths, loaded, dates, keys)
    catalog, listings = loaded
    partners = [item.listing for item in listings]
    try:
        step.snapshot_aside = write_snapshot_aside(
            paths.snapshot_file, catalog, partners, content_hash=step.snapshot_hash
        )
    except BaseException:
        _discard(step)
        raise
    return step


def index_keys(
    listings: Sequence[LoadedListing], dates: Mapping[Path, ListingDates]
) -> dict[str, str]:
    """Slug -> the key of what the search index holds of the partner (`partner_key`: its
    listing, logo URL and first-published date). Made once per listing object and kept with
    it (`derived`): a build makes them before it forks its index step and hands them over, so
    that they are made in the process that stays between builds (`serve`'s build process),
    not again in one whose own values die with it."""
    from sitegen.reuse import partner_key

    def key(listing: Listing, logo: str | None, published: datetime) -> str:
        def make() -> str:
            return partner_key(listing, logo, published.isoformat())

        # Kept by the date itself (and its offset, which its text shows): the text, made for
        # each of 10,000 partners at every build, was a third of the time of their keys.
        return derived(listing, ("index key", logo, published, published.utcoffset()), make)

    logos = site_logos(listings)
    return {
        item.listing.slug: key(
            item.listing, logos.get(item.listing.slug), dates[item.path].published
        )
        for item in listings
    }


def publish_search_index(paths: BuildPaths, step: IndexStep) -> None:
    """Swap a prepared index in and leave the record of what it was built from."""
    from search.whoosh_engine import index_root, publish_index

    record_file = paths.instance_dir / INDEX_RECORD_FILE_NAME
    if step.prepared is not None:
        # Gone before the index changes: a swap that stops half-way leaves no record to trust.
        record_file.unlink(missing_ok=True)
        # The record describes this index: one another command built or updated is not.
        step.record.files[""] = publish_index(index_root(paths.instance_dir), step.prepared).name
    step.record.write(record_file)


def _discard(step: IndexStep) -> None:
    from search.whoosh_engine import discard_index

    if step.prepared is not None:
        discard_index(step.prepared)
    if step.snapshot_aside is not None:
        step.snapshot_aside.unlink(missing_ok=True)


def site_logos(listings: Iterable[LoadedListing]) -> dict[str, str]:
    """Slug -> the URL of the partner's logo relative to a site language's root, as the site
    generator publishes it (`LoadedListing.logo_url`). Partners without a logo are left out."""
    return {item.listing.slug: item.logo_url for item in listings if item.logo_url is not None}


def site_configs(paths: BuildPaths) -> list[tuple[Path, Path]]:
    """(MkDocs config, output folder) per site language, English (the root) first.

    English first: MkDocs empties its output folder, which holds the other languages.
    """
    configs = [(paths.mkdocs_config, paths.site_dir)]
    for language in SITE_LANGUAGES[1:]:
        config = paths.mkdocs_config.with_name(f"mkdocs.{language}.yml")
        configs.append((config, paths.site_dir / language))
    return configs


@dataclass
class StagedSite:
    """Every language of a site, built into a staging folder inside the site folder and not
    yet live (`build_site`): `publish` puts it in place, `discard` drops it."""

    paths: BuildPaths
    staging: Path
    site_url: str
    """The site URL its absolute links start with."""
    reuses: list[tuple[Path, PageReuse]]
    """Per language (the root first): its folder relative to the site's, and what it kept."""
    sources: str | None
    """`site_sources` when the build started (None: not asked for, or unknown)."""
    shells: list[LanguageShell] | None
    """Per language (the root first): what its MkDocs run made (`RememberedSite`); None when
    a language's cannot be made again without MkDocs."""
    made: list[MadePages | None] = field(default_factory=list)
    """Per language, what its generated pages were made from (`RememberedSite.made`)."""
    built_from: BuiltFrom | None = None
    """What the site was built from, when a language's `made` is missing
    (`RememberedSite.built_from`)."""
    by_mkdocs: bool = False
    """Built by MkDocs runs (`RememberedSite.by_mkdocs`)."""

    @property
    def pages_kept(self) -> int:
        """Partner pages, all languages, kept from the previous build (`sitegen.reuse`)."""
        return sum(reuse.kept for _folder, reuse in self.reuses)

    def publish(self) -> None:
        """Merge the staged site into the live one (`marketplace_app.staging`) and leave the
        records of the partner pages it now holds."""
        from marketplace_app.staging import publish

        kept: set[str] = set()
        for folder, reuse in self.reuses:
            prefix = "" if folder == Path(".") else folder.as_posix() + "/"
            kept.update(prefix + path for path in reuse.kept_paths)
        # Gone before the pages change: a publish that stops half-way (a full disk) leaves no
        # record to trust, and the next build renders every page.
        for _folder, reuse in self.reuses:
            reuse.record_file.unlink(missing_ok=True)
        publish(self.staging, self.paths.site_dir, kept)
        for folder, reuse in self.reuses:
            reuse.stamp_written(self.paths.site_dir / folder)
            if reuse.record is not None:
                reuse.record.write(reuse.record_file)

    def remembered(self) -> RememberedSite | None:
        """What a process that builds again keeps of this site, once published (None: a file
        MkDocs wrote is missing from the live site)."""
        from sitegen.reuse import file_stamp

        if self.sources is None or self.shells is None:
            return None
        stamps = {}
        folder_modes = {}
        for (folder, _reuse), shell in zip(self.reuses, self.shells, strict=True):
            for name in shell.theme_files:
                path = (folder / name).as_posix()
                stamp = file_stamp(self.paths.site_dir / path)
                if stamp is None:
                    return None
                stamps[path] = stamp
                for parent in (folder / name).parents[:-1]:
                    if parent.as_posix() not in folder_modes:
                        try:
                            status = os.stat(self.paths.site_dir / parent)
                        except OSError:
                            return None
                        folder_modes[parent.as_posix()] = stat.S_IMODE(status.st_mode)
        return RememberedSite(
            self.sources,
            self.shells,
            stamps,
            folder_modes,
            self.made,
            self.built_from,
            self.by_mkdocs,
        )

    def discard(self) -> None:
        """Remove the staged site (a later step of the build failed)."""
        shutil.rmtree(self.staging, ignore_errors=True)


def build_site(
    paths: BuildPaths,
    loaded: tuple[Catalog, list[LoadedListing]],
    progress: Progress = _quiet,
    dates: Mapping[Path, ListingDates] | None = None,
    remembered: RememberedBuild | None = None,
) -> StagedSite:
    """Run MkDocs (Material theme) for every site language into a staging folder inside
    `paths.site_dir`, keeping the live site's partner pages that are still current
    (`sitegen.reuse`); the live site is not touched until `StagedSite.publish`.

    English in this process, each other language at the same time in a process of its own,
    into a scratch folder (`_scratch`) of its own: MkDocs empties its output folder first, and
    the English one holds the other languages, so they are moved into it when English is done.

    With `remembered` (a process that builds again and again), the site it last published is
    made again without MkDocs when only the listings changed (`_generated_pages_again`).
    """
    configs = site_configs(paths)
    for leftover in paths.site_dir.glob(".build-*"):  # of a build that was killed
        shutil.rmtree(leftover, ignore_errors=True)
    staging = _scratch(paths, "next")
    reuses = [
        _previous_pages(paths, language, site_dir)
        for (_config, site_dir), language in zip(configs, SITE_LANGUAGES, strict=True)
    ]
    (root_config, root_dir), *others = configs
    folders = [site_dir.relative_to(root_dir) for _config, site_dir in configs]
    # Before MkDocs reads them: were they to change during the build, the next one sees it.
    sources = site_sources(paths) if remembered is not None else None
    last = None
    if remembered is not None:
        # Forgotten until this build is published: a build that fails knows nothing after.
        last, remembered.site = remembered.site, None
        if (
            last is not None
            and sources is not None
            and last.sources == sources
            and last.still_live(paths.site_dir)
        ):
            try:
                replayed = _generated_pages_again(last, loaded, dates, staging, folders, reuses)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            if replayed is not None:
                return StagedSite(
                    paths,
                    staging,
                    last.shells[0].site_url,
                    list(zip(folders, reuses, strict=True)),
                    sources,
                    last.shells,
                    replayed,
                )
    children = []
    shells: list[LanguageShell | None] = []
    try:
        for (config_file, site_dir), language, reuse in zip(
            others, SITE_LANGUAGES[1:], reuses[1:], strict=True
        ):
            partial = _scratch(paths, f"{language}.partial")
            progress(f"Building the {LANGUAGE_NAMES.get(language, language)} site…")
            child = _Child(_mkdocs_build, paths, loaded, config_file, partial, reuse, dates)
            children.append((partial, site_dir, child))
        progress(f"Building the {LANGUAGE_NAMES[SITE_LANGUAGES[0]]} site…")
        try:
            # What the English pages were made from is kept (the next build takes over what
            # did not change); each other language's is made in its own process, which keeps
            # it: `remember_every_language` makes it here while idle after this build.
            site_url, reuses[0], shell, made = _mkdocs_build(
                paths,
                loaded,
                root_config,
                staging,
                reuses[0],
                dates,
                keep_made=remembered is not None,
            )
            shells.append(shell)
        finally:
            outcomes: list[
                tuple[str, PageReuse, LanguageShell | None, MadePages | None] | BaseException
            ] = []
            for _partial, _site_dir, child in children:
                try:
                    outcomes.append(child.result())
                except BaseException as error:
                    outcomes.append(error)
        for number, ((partial, site_dir, _child), outcome) in enumerate(
            zip(children, outcomes, strict=True), start=1
        ):
            if isinstance(outcome, BaseException):
                raise outcome
            _site_url, reuses[number], shell, _made = outcome  # what the process kept
            shells.append(shell)
            target = staging / site_dir.relative_to(root_dir)
            shutil.rmtree(target, ignore_errors=True)
            partial.replace(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        for partial, _site_dir, _child in children:  # not moved into place: a step failed
            shutil.rmtree(partial, ignore_errors=True)
    replayable = [shell for shell in shells if shell is not None]
    return StagedSite(
        paths,
        staging,
        site_url,
        list(zip(folders, reuses, strict=True)),
        sources,
        replayable if len(replayable) == len(shells) else None,
        [made, *[None] * len(children)],
        # The other languages' `made` is made while idle (`remember_every_language`), unless
        # the build before ran MkDocs too: edits in a folder that is no git checkout make the
        # edited listing the newest partner, which the home page shows, so every build does.
        (loaded, dates)
        if remembered is not None
        and dates is not None
        and children
        and (last is None or not last.by_mkdocs)
        else None,
        by_mkdocs=True,
    )


def site_sources(paths: BuildPaths) -> str | None:
    """A digest of what the MkDocs runs read besides the listings: the build's folders and
    address, the configurations, the hand-written pages and the theme overrides (`site_src`,
    through symbolic links too). With the code and libraries (a process that builds again and
    again starts anew when they change) and the environment the configurations read (`!ENV`:
    the process's own, set when it starts), that is all that shapes what MkDocs writes. None
    when a file cannot be read (unknown)."""
    digest = hashlib.sha256(f"{paths!r}\n".encode())
    files = [config for config, _site_dir in site_configs(paths)]
    for folder, _folders, names in sorted(
        os.walk(paths.mkdocs_config.parent / "site_src", followlinks=True)
    ):
        files += [Path(folder, name) for name in sorted(names)]
    try:
        for path in files:
            digest.update(f"{path}\n".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    except OSError:  # gone since (an editor's temporary file), unreadable: unknown
        return None
    return digest.hexdigest()


def _generated_pages_again(
    last: RememberedSite,
    loaded: tuple[Catalog, list[LoadedListing]],
    dates: Mapping[Path, ListingDates] | None,
    staging: Path,
    folders: list[Path],
    reuses: list[PageReuse],
) -> list[MadePages | None] | None:
    """Write every language's generated pages, logos and exports into `staging` without
    MkDocs, filled into the theme shells of the site `last` remembers, whose hand-written
    pages and theme files stay as published (named as kept), taking over what did not change
    from the pages `last` made (`sitegen.carry`); what each language's pages were made from.
    None, having written nothing, when MkDocs would make something else for these listings
    (a hand-written page shows the newest partners, say, or the browse pages go a level
    deeper).

    Why: under `serve --watch` an edit to one listing changes no file MkDocs writes, and
    MkDocs's run (its configuration, the theme's files, the hand-written pages and the shells)
    was about a third of each language's build at 10,000 partners. Both languages are written
    here, in this process, so what the process keeps between builds (each listing's page key
    and JSON) serves both."""
    from sitegen.plugin import listing_facts

    if dates is None:
        dates = listing_dates([item.path for item in loaded[1]])
    facts = listing_facts(loaded, dates)
    made_before = last.made or [None] * len(last.shells)
    pages = []
    for shell, before, reuse in zip(last.shells, made_before, reuses, strict=True):
        generated = _language_pages(shell, loaded, dates, facts, reuse, before)
        if generated is None:
            return None
        pages.append(generated)
    for generated, folder in zip(pages, folders, strict=True):
        _write_pages(generated, staging / folder)
        assert generated.reuse is not None
        generated.reuse.kept_paths.update(generated.shell.theme_files)
    return [generated.made for generated in pages]


def _language_pages(
    shell: LanguageShell,
    loaded: tuple[Catalog, list[LoadedListing]],
    dates: Mapping[Path, ListingDates],
    facts: ListingFacts,
    reuse: PageReuse,
    before: MadePages | None,
) -> GeneratedPages | None:
    """One language's generated pages for these listings, filled into `shell`, taking over
    from `before` what did not change (`sitegen.carry`); None when MkDocs would make something
    else for them (`LanguageShell.current_for`)."""
    from sitegen.carry import carry_over
    from sitegen.plugin import GeneratedPages, site_input

    site, logos = site_input(loaded, shell.language, dates, shell.search_api, facts)
    # Before `current_for`, which groups the partners unless taken over.
    carried = carry_over(before, site) if before is not None else None
    if not shell.current_for(site):
        return None
    return GeneratedPages(shell, site, logos, reuse, carried)


def _write_pages(generated: GeneratedPages, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    generated.write(target)


def remember_every_language(paths: BuildPaths, remembered: RememberedBuild) -> bool:
    """Make what the last build's forked MkDocs runs made of their languages' generated pages
    and kept to themselves (`MadePages`: the groupings, the page and browse keys), from the
    listings that build published, for a process that builds again and again to do while it
    is idle: its next build then takes every language over (`sitegen.carry`) instead of
    making the others afresh (~0.7 s at 10,000 listings on a slow machine, at the first edit
    after `serve` starts). True when there was something to make (once per such build).

    It makes them as a build without MkDocs does (`GeneratedPages`), into a scratch folder
    removed after: what is made depends on the listings, their dates and the theme shells, not
    on what the live site holds (each build checks the files it keeps, as always)."""
    from sitegen.plugin import listing_facts

    last = remembered.site
    if last is None or last.built_from is None:
        return False
    (loaded, dates), last.built_from = last.built_from, None
    if site_sources(paths) != last.sources or not last.still_live(paths.site_dir):
        return True  # the next build runs MkDocs again anyway
    made = list(last.made) + [None] * (len(last.shells) - len(last.made))
    configs = site_configs(paths)
    facts = listing_facts(loaded, dates)
    scratch = _scratch(paths, "made")
    try:
        for number, ((_config, site_dir), shell) in enumerate(
            zip(configs, last.shells, strict=True)
        ):
            if made[number] is not None:
                continue
            reuse = _previous_pages(paths, shell.language, site_dir)
            if reuse.previous is None or reuse.live_root is None:
                continue  # without the record of its pages, a build renders them all anyway
            generated = _language_pages(shell, loaded, dates, facts, reuse, None)
            if generated is None:
                return True
            _write_pages(generated, scratch / site_dir.relative_to(configs[0][1]))
            made[number] = generated.made
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    last.made = made
    return True


def _scratch(paths: BuildPaths, purpose: str) -> Path:
    """An empty scratch folder inside the site folder, e.g. `.build-ru.partial`: on the same
    file system as the site (which may be a volume of its own), so moving between them is a
    rename; publishing leaves names starting with a dot alone, and the backend never serves
    them (`consent_app.site`)."""
    folder = paths.site_dir.absolute() / f".build-{purpose}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    return folder


def page_record_file(paths: BuildPaths, language: str) -> Path:
    """In the instance folder: what the last build wrote a language's partner pages from."""
    return paths.instance_dir / f"site_pages.{language}.json"


def _previous_pages(paths: BuildPaths, language: str, site_dir: Path) -> PageReuse:
    """Where a language's build may keep live partner pages from: the live folder, when the
    last build's record of them is there."""
    from sitegen.reuse import OutputRecord, PageReuse

    record_file = page_record_file(paths, language)
    previous = OutputRecord.read(record_file)
    if previous is None or not (site_dir / PARTNERS_FOLDER).is_dir():
        return PageReuse(record_file, None, None)
    return PageReuse(record_file, site_dir.absolute(), previous)


def _mkdocs_build(
    paths: BuildPaths,
    loaded: tuple[Catalog, list[LoadedListing]],
    config_file: Path,
    site_dir: Path,
    reuse: PageReuse,
    dates: Mapping[Path, ListingDates] | None = None,
    keep_made: bool = False,
) -> tuple[str, PageReuse, LanguageShell | None, MadePages | None]:
    """One language's MkDocs build into `site_dir`: the site URL its absolute links start
    with, `reuse` with what the build kept of the live site (returned: from a process of its
    own, the changes the plugin made to it come back only so), what MkDocs made
    (`RememberedSite`; None when it cannot be made again without MkDocs) and, with
    `keep_made`, what the generated pages were made from (`RememberedSite.made`; None
    without: it is every listing's model, which a language's process would send back in
    about as long as it took to make)."""
    # Material 9.7+ prints a notice about its end of life on every build; it says nothing
    # about this site, so keep build output to what the operator needs.
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    from mkdocs.commands.build import build as mkdocs_build
    from mkdocs.config import load_config

    from sitegen.plugin import MarketplacePlugin

    # Given, it overrides mkdocs.yml's; the plugin adds each other language's folder to it.
    given = {} if paths.site_url is None else {"site_url": paths.site_url}
    config = load_config(str(config_file), site_dir=str(site_dir.absolute()), **given)
    plugin = config.plugins["marketplace"]
    assert isinstance(plugin, MarketplacePlugin)
    plugin.listings_dir = paths.listings_dir
    plugin.preloaded = loaded
    plugin.dates = dates
    plugin.reuse = reuse
    try:
        mkdocs_build(config)
    finally:
        config.plugins.on_shutdown()
    return str(config.site_url or ""), reuse, plugin.shell, plugin.made if keep_made else None


def _record_site_url(paths: BuildPaths, site_url: str) -> None:
    """Note which site URL the site was built for (replaced atomically, like the snapshot)."""
    paths.instance_dir.mkdir(parents=True, exist_ok=True)
    partial = paths.site_build_file.with_name(paths.site_build_file.name + ".partial")
    partial.write_text(json.dumps({"site_url": site_url}) + "\n", encoding="utf-8")
    partial.replace(paths.site_build_file)


def built_site_url(paths: BuildPaths) -> str | None:
    """The site URL the last build into `paths.instance_dir` used; None when not known."""
    try:
        record = json.loads(paths.site_build_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    site_url = record.get("site_url") if isinstance(record, dict) else None
    return site_url if isinstance(site_url, str) else None


def inputs_newer_than(paths: BuildPaths) -> bool:
    """True when the site, index or partner snapshot is missing (or the index or snapshot is of
    another format version), the site was built for another site URL than `paths.site_url`
    (when given), or any listing or page changed since they were built."""
    from marketplace_app.staging import MANIFEST
    from search.whoosh_engine import index_is_current, index_root

    # Written by every publish (an unchanged index.html is left as it was).
    marker = paths.site_dir / MANIFEST
    if not marker.exists() or not index_is_current(index_root(paths.instance_dir)):
        return True
    if paths.site_url is not None and built_site_url(paths) != paths.site_url:
        return True
    try:
        read_snapshot(paths.snapshot_file)
    except SnapshotError:
        return True
    built = min(marker.stat().st_mtime, paths.snapshot_file.stat().st_mtime)
    sources = [config for config, _ in site_configs(paths)]
    for folder in (paths.listings_dir, paths.mkdocs_config.parent / "site_src"):
        sources.extend(p for p in folder.rglob("*") if p.is_file())
    return any(source.stat().st_mtime > built for source in sources)
