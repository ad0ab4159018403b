"""Load and validate every listing in a folder, reporting every problem at once."""

from __future__ import annotations

import functools
import hashlib
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from marketplace import lookalike
from marketplace.catalog import CATALOG_FILE_NAME, WORLDWIDE, Catalog, CatalogError, load_catalog
from marketplace.errors import describe_validation_error
from marketplace.files import current_stamp, plain_file
from marketplace.logo import logo_problems
from marketplace.model import LOGO_EXTENSIONS, Listing, ListingContext
from marketplace.money import AmountError, currencies_in_use, parse_amount
from marketplace.problems import Problem
from marketplace.suggest import did_you_mean
from marketplace.urls import logo_digest, logo_url
from marketplace.yamlsource import YamlProblem, offset_position, parse_document

MAX_LISTING_BYTES = 128 * 1024
"""A listing file larger than this is refused before it is parsed."""


@dataclass(frozen=True)
class LoadedListing:
    """A valid listing and where it came from."""

    listing: Listing
    path: Path
    name_position: tuple[int, int] = (1, 1)
    translated_name_positions: tuple[tuple[str, tuple[int, int]], ...] = ()
    """(language, position) of each `translations.<language>.name`."""
    source_digest: str = ""
    """A digest of the bytes validated: the listing file's and its logo's (`source_digest`)."""
    logo_digest: str | None = None
    """The SHA-256 of the logo's bytes validated (`marketplace.urls.logo_digest`): found once,
    here, rather than by reading every logo again in each of a build's processes (the site's
    languages, the search index); the site publishes only those bytes under it."""

    # Cached: a build asks each language's and the index's process, and `serve --watch`'s
    # build process keeps its loaded listings from one build to the next.
    @functools.cached_property
    def logo_path(self) -> Path | None:
        """The logo file beside the listing, if it names one."""
        return self.path.with_name(self.listing.logo) if self.listing.logo else None

    @functools.cached_property
    def logo_url(self) -> str | None:
        """Where the site publishes the logo validated (`marketplace.urls.logo_url`)."""
        source = self.logo_path
        if source is None or self.logo_digest is None:
            return None
        return logo_url(self.listing.slug, source, self.logo_digest)


@dataclass
class ValidationReport:
    """The outcome of validating a listings folder."""

    catalog: Catalog | None
    listings: list[LoadedListing] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files_checked: int = 0

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


class InvalidListings(Exception):
    """Raised by `load_listings` when the folder does not validate."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(f"{len(report.problems)} problem(s) in the listings")
        self.report = report


def display_path(path: Path) -> str:
    """`path` relative to the working directory when it is inside it (as CI annotations need)."""
    return _display_path(path, os.getcwd())


@functools.lru_cache(maxsize=1 << 16)  # every listing's, at every build of `serve`
def _display_path(path: Path, working_directory: str) -> str:
    try:
        return str(path.absolute().relative_to(working_directory))
    except ValueError:
        return str(path)


def listing_files(directory: Path) -> Iterator[Path]:
    """The files in `directory` that are meant to be listings, in name order."""
    for name in _listing_names(directory):
        yield directory / name


def _listing_names(directory: Path) -> list[str]:
    # scandir: the entry says what it is without a stat per file (14,000 entries at 10,000
    # listings with their logos: 0.4 s through Path.iterdir and is_file). Links and special
    # files are listed, for `validate_file` to refuse: skipped, they would pass unseen.
    with os.scandir(directory) as entries:
        return sorted(
            entry.name
            for entry in entries
            if not entry.name.startswith((".", "_"))
            and entry.name.endswith((".yaml", ".yml"))
            and not entry.is_dir(follow_symlinks=False)
        )


def source_digest(listing_bytes: bytes, logo_bytes: bytes | None) -> str:
    """What a listing's validity was decided on: its file's bytes and its logo's."""
    digest = hashlib.sha256(listing_bytes)
    if logo_bytes is not None:
        digest.update(b"\0logo\0" + logo_bytes)
    return digest.hexdigest()


class RememberedListings:
    """The valid listings of one folder's last validation, for the next one to check again
    only the files that changed since (`marketplace serve --watch`'s build process: validating
    10,000 listings costs ~5 s of CPU; after one edit, reading the others to compare their
    bytes and the cross-file rules take ~0.4 s).

    A listing is taken as validated when its file and its logo hold the bytes that were
    validated (`LoadedListing.source_digest`, a digest of what `validate_file` read, not of a
    second read that a write or a re-pointed link in between could make different; nor a
    modification time, which two writes within one clock tick share) and the catalog file is
    the same. A listing that had a problem is always checked again. The cross-file rules
    (unique slugs and names) are checked over every listing again unless every listing's
    file, slug and names are what they were when the rules last found no problem
    (`names_unchanged`): their verdict depends on nothing else.

    Reading 14,000 files to compare their bytes was a quarter of a build after one edit at
    10,000 listings, so a file's `stamp` stands for its bytes once it has earned it: the
    stamp it had once its bytes were validated (`remember`, or a later validation that found
    them the same, with the same stamp before and after the read) is still its stamp, before
    and after the read, at a validation at least `TRUSTED_AFTER_SECONDS` later that finds the
    same bytes. From then on one `lstat` tells that it did not change. Why that is enough: a
    write after that read would have to carry the change time the file had seconds earlier,
    which no file system's clock gives (their ticks are two seconds at the coarsest); a write
    between the first read and the stamp taken after it shows in the bytes the later read
    compares. This compares no file time with this machine's clock, which a network file
    system's may differ from.
    """

    TRUSTED_AFTER_SECONDS = 3.0

    def __init__(self) -> None:
        self._catalog_bytes: bytes | None = None
        self._valid: dict[Path, LoadedListing] = {}
        self._stamps: dict[Path, tuple[str, float, bool]] = {}
        """Listing file -> the stamps of it and its logo when its bytes were found the same,
        since when (`time.monotonic()`), and whether they now stand for its bytes."""
        self.checked_again = 0
        """How many listing files the last validation had to check (the others were known)."""
        self.validated_at = time.monotonic()
        """When the last validation found its files (`time.monotonic()`)."""
        self._names_clear: list[_Names] | None = None
        """`_names` of the listings the cross-file rules last found no problem with."""
        self._paths_of: Path | None = None
        self._paths: dict[str, Path] = {}
        """The last validation's listing files in `_paths_of`, by name (`listing_files`)."""

    def listing_files(self, directory: Path) -> list[Path]:
        """`listing_files(directory)`, each file the `Path` the last validation had for it:
        every look-up by path then finds its hash made and the path itself (new `Path`s,
        made, hashed and compared at each validation, were 0.07 s of the 0.15 s a validation
        of 10,000 known listings takes)."""
        before = self._paths if self._paths_of == directory else {}
        self._paths_of = directory
        self._paths = {
            name: before.get(name) or directory / name for name in _listing_names(directory)
        }
        return list(self._paths.values())

    def split(
        self, catalog_bytes: bytes, paths: list[Path]
    ) -> tuple[dict[Path, LoadedListing], list[Path]]:
        """The listings among `paths` known valid as they are, and the files to check; the
        catalog's bytes are those read before it was loaded for this validation."""
        if catalog_bytes != self._catalog_bytes:
            self._catalog_bytes, self._valid, self._stamps = catalog_bytes, {}, {}
        known: dict[Path, LoadedListing] = {}
        again: list[Path] = []
        stamps: dict[Path, tuple[str, float, bool]] = {}
        for path in paths:
            loaded = self._valid.get(path)
            if loaded is None:
                again.append(path)
                continue
            recorded, since, trusted = self._stamps.get(path, ("", 0.0, False))
            before = _stamps_now(loaded)
            if trusted and before == recorded:
                known[path], stamps[path] = loaded, (recorded, since, True)
                continue
            reading = time.monotonic()
            if _current_digest(loaded) != loaded.source_digest:
                again.append(path)
                continue
            known[path] = loaded
            if before is not None and _stamps_now(loaded) == before:  # unchanged while read
                if before != recorded:
                    since = reading
                trusted = reading - since >= self.TRUSTED_AFTER_SECONDS
                stamps[path] = (before, since, trusted)
        # Files gone, changed or now invalid: forgotten.
        self._valid, self._stamps = dict(known), stamps
        self.checked_again = len(again)
        return known, again

    def settled(self) -> bool:
        """True when every listing remembered is known by its stamp: the next validation
        reads none of their bytes (unless their stamps changed)."""
        return len(self._stamps) == len(self._valid) and all(
            trusted for _stamp, _since, trusted in self._stamps.values()
        )

    def remember(self, valid: dict[Path, LoadedListing]) -> None:
        """Keep listings just validated (until their bytes change), with the stamps their
        files have now: the next validation `TRUSTED_AFTER_SECONDS` later that finds the same
        bytes under them makes them stand for the bytes (after a long first build, the first
        look while idle does: `marketplace_app.rebuilds`)."""
        self._valid.update(valid)
        seen = [(path, _stamps_now(loaded)) for path, loaded in valid.items()]
        now = time.monotonic()  # after every stamp was seen: "since" is never earlier
        for path, stamps in seen:
            if stamps is None:
                self._stamps.pop(path, None)
            else:
                self._stamps[path] = (stamps, now, False)
        self.validated_at = now

    def names_unchanged(self, names: list[_Names]) -> bool:
        """True when the cross-file rules found no problem with listings of these `names`."""
        return names == self._names_clear

    def names_checked(self, names: list[_Names], clear: bool) -> None:
        """Note what the cross-file rules found of listings of these `names`."""
        self._names_clear = names if clear else None


_Names = tuple[Path, str, str, tuple[tuple[str, str | None], ...]]
"""What the cross-file rules read of a listing: its file, slug, name and translated names."""


def _names(valid: list[LoadedListing]) -> list[_Names]:
    return [
        (
            loaded.path,
            loaded.listing.slug,
            loaded.listing.name,
            tuple((language, text.name) for language, text in loaded.listing.translations.items()),
        )
        for loaded in valid
    ]


def _stamps_now(loaded: LoadedListing) -> str | None:
    """The `stamp`s of a listing's file and its logo (None when either is not a plain file)."""
    listing_stamp = current_stamp(loaded.path)
    logo = loaded.logo_path
    if listing_stamp is None or logo is None:
        return listing_stamp
    logo_stamp = current_stamp(logo)
    return None if logo_stamp is None else f"{listing_stamp} {logo_stamp}"


def _current_digest(loaded: LoadedListing) -> str | None:
    listing_bytes = _bytes_of(loaded.path)
    logo = loaded.logo_path
    logo_bytes = None if logo is None else _bytes_of(logo)
    if listing_bytes is None or (logo is not None and logo_bytes is None):
        return None
    return source_digest(listing_bytes, logo_bytes)


def _bytes_of(path: Path) -> bytes | None:
    if not plain_file(path):  # a link now: checked again, and refused, by `validate_file`
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None


def validate_directory(
    directory: Path, remembered: RememberedListings | None = None
) -> ValidationReport:
    """Validate the catalog and every listing in `directory`, then the cross-file rules.
    With `remembered`, listings validated before and unchanged since are not checked again."""
    catalog_path = directory / CATALOG_FILE_NAME
    if not directory.is_dir():
        return ValidationReport(
            None, problems=[Problem(display_path(directory), 1, 1, "", "listings folder not found")]
        )
    catalog_bytes = _bytes_of(catalog_path)  # before it is read: what the listings meet
    try:
        catalog = load_catalog(catalog_path)
    except CatalogError as error:
        return ValidationReport(
            None,
            problems=[
                Problem(display_path(Path(f)), line, col, "", message)
                for f, line, col, message in error.problems
            ],
        )
    report = ValidationReport(catalog)
    if remembered is not None:
        paths = remembered.listing_files(directory)
    else:
        paths = list(listing_files(directory))
    report.files_checked = len(paths)
    known: dict[Path, LoadedListing] = {}
    again = paths
    if remembered is not None:
        known, again = remembered.split(catalog_bytes or b"", paths)
    checked: dict[Path, LoadedListing] = {}
    for path, (loaded, problems) in zip(again, _validate_files(again, catalog), strict=True):
        report.problems.extend(problems)
        if loaded is not None:
            checked[path] = loaded
    if remembered is not None:
        remembered.remember(checked)
    valid = [item for path in paths if (item := known.get(path) or checked.get(path))]
    names = _names(valid) if remembered is not None else []
    if remembered is not None and remembered.names_unchanged(names):
        report.listings = valid  # 10,000 listings: ~25 ms for their names, ~125 ms for the rules
    else:
        found = len(report.problems)
        report.listings = _distinct_partners(valid, report.problems)
        if remembered is not None:
            remembered.names_checked(names, clear=len(report.problems) == found)
    report.problems.sort()
    return report


def _distinct_partners(valid: list[LoadedListing], problems: list[Problem]) -> list[LoadedListing]:
    """The listings whose slug and names no earlier listing has; a problem for each other one.

    Names compare in every language, each under two keys: as written (case and compatibility
    forms aside), and as it looks (UTS #39 skeleton), so a Cyrillic "Асme" cannot sit beside a
    Latin "Acme", nor a partner's Russian name copy another partner's name.
    """
    names = lookalike.NameRegister()
    slugs: dict[str, str] = {}
    distinct: list[LoadedListing] = []
    for loaded in valid:
        listing, shown = loaded.listing, display_path(loaded.path)
        own = [lookalike.NameUse(shown, "name", *loaded.name_position, listing.name)]
        if conflicts := names.conflicts(own):
            problems.extend(_name_problem(use, message) for use, message in conflicts)
        elif listing.slug in slugs:
            problems.append(
                Problem(
                    shown,
                    1,
                    1,
                    "slug",
                    f"the slug {listing.slug!r} is already used by {slugs[listing.slug]}",
                )
            )
        else:
            names.add(own)
            slugs[listing.slug] = shown
            distinct.append(loaded)
    # Translated names after every partner's own name: a translation copying another partner's
    # name is the one reported, whichever file comes first.
    accepted: list[LoadedListing] = []
    for loaded in distinct:
        translated = _translated_names(loaded)
        if conflicts := names.conflicts(translated):
            problems.extend(_name_problem(use, message) for use, message in conflicts)
        else:
            names.add(translated)
            accepted.append(loaded)
    return accepted


def _translated_names(loaded: LoadedListing) -> list[lookalike.NameUse]:
    shown, positions = display_path(loaded.path), dict(loaded.translated_name_positions)
    return [
        lookalike.NameUse(
            shown,
            f"translations.{language}.name",
            *positions.get(language, loaded.name_position),
            translation.name,
        )
        for language, translation in loaded.listing.translations.items()
        if translation.name is not None
    ]


def _name_problem(use: lookalike.NameUse, message: str) -> Problem:
    return Problem(use.file, use.line, use.column, use.field, message)


PARALLEL_THRESHOLD = 1000
"""From this many files on, listings are validated in one process per core."""


def _validate_files(
    paths: list[Path], catalog: Catalog
) -> Iterator[tuple[LoadedListing | None, list[Problem]]]:
    """validate_file over `paths`, in order; spread over the cores for large folders."""
    cores = os.cpu_count() or 1
    if len(paths) < PARALLEL_THRESHOLD or cores < 2 or not _can_fork():
        for path in paths:
            yield validate_file(path, catalog)
        return
    # Each file is independent, so the work splits cleanly; fork keeps the imported model
    # and catalog, and the catalog is sent once per chunk, not once per file.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=cores, mp_context=context) as pool:
        check = functools.partial(validate_file, catalog=catalog)
        yield from pool.map(check, paths, chunksize=max(64, len(paths) // (cores * 8)))


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def load_listings(
    directory: Path, remembered: RememberedListings | None = None
) -> tuple[Catalog, list[LoadedListing]]:
    """The catalog and all listings of a folder; raise InvalidListings if anything is wrong.
    `remembered`: as for `validate_directory`."""
    report = validate_directory(directory, remembered)
    if not report.ok or report.catalog is None:
        raise InvalidListings(report)
    return report.catalog, report.listings


def validate_file(path: Path, catalog: Catalog) -> tuple[LoadedListing | None, list[Problem]]:
    """Validate one listing file; never raises for anything the file contains."""
    shown = display_path(path)

    def at(where: tuple[int, int], message: str, field_name: str = "") -> Problem:
        return Problem(shown, where[0], where[1], field_name, message)

    if path.suffix != ".yaml":
        return None, [at((1, 1), f"listing files must end in .yaml; rename to {path.stem}.yaml")]
    if not plain_file(path):
        return None, [at((1, 1), "a listing must be a file itself, not a link or a special file")]
    size = path.lstat().st_size
    if size > MAX_LISTING_BYTES:
        return None, [
            at(
                (1, 1),
                f"the file is {size // 1024} KB; a listing may be at most "
                f"{MAX_LISTING_BYTES // 1024} KB",
            )
        ]
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        before = raw[: error.start].decode("utf-8", errors="replace")
        return None, [
            at(
                offset_position(before, len(before)),
                f"the file is not UTF-8 text (byte 0x{raw[error.start]:02x})",
            )
        ]
    try:
        document = parse_document(text)
    except YamlProblem as problem:
        return None, [at(problem.position, problem.message)]
    if not isinstance(document.value, dict):
        found = "a list" if isinstance(document.value, list) else "a single value"
        return None, [
            at((1, 1), f"a listing must be a mapping of fields (slug: …, name: …), found {found}")
        ]
    problems = [at(where, message, _field_label(loc)) for loc, where, message in document.problems]
    listing: Listing | None = None
    try:
        listing = Listing.model_validate(document.value, context=ListingContext(catalog))
    except ValidationError as error:
        for loc, message, as_key in describe_validation_error(error, Listing):
            problems.append(at(document.locate(loc, key=as_key), message, _field_label(loc)))
    logo_checked: list[bytes] = []
    for loc, message in _relational_problems(document.value, path, catalog, logo_checked):
        problems.append(at(document.locate(loc), message, _field_label(loc)))
    for loc, message in _translated_offer_problems(document.value):
        problems.append(at(document.locate(loc, key=True), message, _field_label(loc)))
    if problems or listing is None:
        return None, sorted(problems)
    translated_names = tuple(
        (language, document.locate(("translations", language, "name")))
        for language, translation in listing.translations.items()
        if translation.name is not None
    )
    logo_bytes = logo_checked[0] if logo_checked else None
    return LoadedListing(
        listing,
        path,
        document.locate(("name",)),
        translated_names,
        source_digest(raw, logo_bytes),
        None if logo_bytes is None else logo_digest(logo_bytes),
    ), []


def _field_label(loc: tuple[Any, ...]) -> str:
    label = ""
    for step in loc:
        label += f"[{step}]" if isinstance(step, int) else (f".{step}" if label else str(step))
    return label


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _relational_problems(
    data: dict[str, Any], path: Path, catalog: Catalog, logo_checked: list[bytes]
) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Rules that relate fields to each other or to files; tolerant of badly typed fields.
    The logo's bytes, once checked, are appended to `logo_checked`."""
    slug = data.get("slug")
    if isinstance(slug, str) and slug != path.stem:
        yield (
            ("slug",),
            f"must equal the file name {path.stem!r} (or rename the file to {slug}.yaml)",
        )

    eligible = catalog.delegated_admin_programs
    programs = set(_strings(data.get("programs")))
    has_eligible_program = bool(programs & eligible)
    eligible_text = ", ".join(sorted(eligible))
    if data.get("delegated_admin") is True and not has_eligible_program:
        yield (
            ("delegated_admin",),
            f"delegated administration needs one of the programs {eligible_text}",
        )

    regions = _strings(data.get("regions"))
    if WORLDWIDE in regions and len(regions) > 1:
        yield ("regions",), f"{WORLDWIDE!r} already covers every country; list it alone"

    logo = data.get("logo")
    if isinstance(logo, str):
        problems = _logo_name_problems(logo, path, logo_checked)
        yield from ((("logo",), message) for message in problems)

    services = set(_strings(data.get("services")))
    offers = data.get("offers")
    seen_ids: dict[str, int] = {}
    for index, offer in enumerate(offers if isinstance(offers, list) else []):
        if not isinstance(offer, dict):
            continue
        here = ("offers", index)
        offer_id = offer.get("id")
        if isinstance(offer_id, str):
            if offer_id in seen_ids:
                first = seen_ids[offer_id]
                yield (*here, "id"), f"offer id {offer_id!r} is already used by offers[{first}]"
            else:
                seen_ids[offer_id] = index
        for service_index, service in enumerate(offer.get("services") or []):
            # Only once the listing's own services are all known: a typo there would
            # otherwise be reported a second time on every offer that names the service.
            listing_services_known = services <= catalog.services.keys()
            if listing_services_known and isinstance(service, str) and service not in services:
                yield (
                    (*here, "services", service_index),
                    f"{service!r} is not among the listing's services; add it there first",
                )
        kind, days = offer.get("type"), offer.get("trial_days")
        if kind == "trial" and days is None:
            yield here, "a trial offer needs trial_days"
        elif kind == "purchase" and days is not None:
            yield (*here, "trial_days"), "only trial offers have trial_days"
        if offer.get("delegated_admin") == "optional":
            if not has_eligible_program:
                yield (
                    (*here, "delegated_admin"),
                    f"delegated administration needs one of the programs {eligible_text}",
                )
            elif data.get("delegated_admin") is not True:
                yield (
                    (*here, "delegated_admin"),
                    "set delegated_admin: true on the listing to offer it here",
                )
        yield from _role_problems(offer, here, catalog)
        yield from _price_problems(offer, here, catalog)


def _role_problems(
    offer: dict[str, Any], here: tuple[Any, ...], catalog: Catalog
) -> Iterator[tuple[tuple[Any, ...], str]]:
    """An offer's `delegated_admin_roles`: only where it may ask for DA, full access alone."""
    roles = offer.get("delegated_admin_roles")
    if roles is None:
        return  # None named: the backend asks for full access (global-admin)
    where = (*here, "delegated_admin_roles")
    if offer.get("delegated_admin") != "optional":
        yield (
            where,
            "admin roles need delegated_admin: optional on this offer; add it, or remove "
            "delegated_admin_roles",
        )
    full = [
        role
        for role in _strings(roles)
        if role in catalog.admin_roles and catalog.admin_roles[role].full_access
    ]
    if full and len(roles) > 1:
        yield where, f"{full[0]!r} already allows everything; list it alone"


def _price_problems(
    offer: dict[str, Any], here: tuple[Any, ...], catalog: Catalog
) -> Iterator[tuple[tuple[Any, ...], str]]:
    """An offer's default prices: purchase offers only, with a currency and a billing period,
    one price for each of the offer's services, each within the currency's minor units."""
    terms = [field for field in ("prices", "currency", "billing") if field in offer]
    if not terms:
        return
    if offer.get("type") == "trial":
        yield (*here, terms[0]), "a trial is free: only purchase offers have prices"
        return
    prices = offer.get("prices")
    if "prices" not in offer:
        for field in terms:
            yield (*here, field), f"{field} goes with prices; add prices, or remove {field}"
        return
    for field, example in (("currency", "currency: EUR"), ("billing", "billing: monthly")):
        if field not in offer:
            yield here, f"an offer with prices needs {field} (such as {example})"
    if not isinstance(prices, dict):
        return  # the model reports its type
    services = _strings(offer.get("services"))
    for service in prices:
        # A service the catalog does not know is the model's to report, once.
        known = isinstance(service, str) and service in catalog.services
        if known and services and service not in services:
            yield (
                (*here, "prices", service),
                f"{service!r} is not among this offer's services ({', '.join(services)})",
            )
    for service in services:
        if service not in prices:
            yield (
                (*here, "prices"),
                f"no price for {service!r}: an offer with prices has one for each of its services",
            )
    currency = offer.get("currency")
    if not isinstance(currency, str) or currency not in currencies_in_use():
        return  # the model reports an unknown currency
    for service, price in prices.items():
        if not isinstance(service, str) or not isinstance(price, str):
            continue
        try:
            parse_amount(price)
        except AmountError:
            continue  # the model reports it
        try:
            parse_amount(price, currency)
        except AmountError as error:
            yield (*here, "prices", service), str(error)


def _translated_offer_problems(data: dict[str, Any]) -> Iterator[tuple[tuple[Any, ...], str]]:
    """`translations.<language>.offers` may only name the listing's own offers."""
    offers = data.get("offers")
    ids = [
        offer["id"]
        for offer in (offers if isinstance(offers, list) else [])
        if isinstance(offer, dict) and isinstance(offer.get("id"), str)
    ]
    translations = data.get("translations")
    for language, translation in (translations if isinstance(translations, dict) else {}).items():
        translated = translation.get("offers") if isinstance(translation, dict) else None
        for offer_id in translated if isinstance(translated, dict) else {}:
            if isinstance(offer_id, str) and offer_id not in ids:
                known = (
                    f"; the listing's offers are {', '.join(ids)}"
                    if ids
                    else "; the listing has no offers"
                )
                yield (
                    ("translations", language, "offers", offer_id),
                    f"no offer has the id {offer_id!r}" + (did_you_mean(offer_id, ids) or known),
                )


def _logo_name_problems(logo: str, listing_path: Path, checked: list[bytes]) -> list[str]:
    stem, dot, extension = logo.rpartition(".")
    expected = listing_path.stem
    if not dot or f".{extension.lower()}" not in LOGO_EXTENSIONS or "/" in logo or "\\" in logo:
        return [
            f"logo must be a file beside the listing named {expected}.png, .jpg, .jpeg, "
            ".webp or .svg"
        ]
    if stem != expected:
        return [f"logo must be named {expected}.{extension} (after the slug)"]
    return logo_problems(listing_path.with_name(logo), checked)
