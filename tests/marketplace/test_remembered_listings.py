"""Validating again with `RememberedListings` checks only what changed, and reports exactly
what validating from nothing reports (`serve --watch`'s build process relies on it)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

import marketplace.files
import marketplace.validate
from marketplace.catalog import CATALOG_FILE_NAME
from marketplace.validate import (
    LoadedListing,
    RememberedListings,
    ValidationReport,
    listing_files,
    validate_directory,
)
from tests.conftest import EXAMPLE_LISTINGS

SCRIPTED_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><script>alert(1)</script></svg>'
)


def _outcome(report: ValidationReport) -> tuple[list[str], list[str]]:
    return [item.listing.slug for item in report.listings], [str(p) for p in report.problems]


@pytest.fixture
def listings(tmp_path: Path) -> Path:
    folder = tmp_path / "listings"
    shutil.copytree(EXAMPLE_LISTINGS, folder)
    return folder


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_each_change_is_checked_again_and_reported_as_from_nothing(listings: Path) -> None:
    remembered = RememberedListings()
    files = len(list(listings.glob("*.yaml"))) - 1  # the catalog aside

    def check(expected_again: int | None) -> tuple[list[str], list[str]]:
        again = validate_directory(listings, remembered)
        if expected_again is not None:
            assert remembered.checked_again == expected_again
        assert _outcome(again) == _outcome(validate_directory(listings))
        return _outcome(again)

    assert check(files) == check(0)
    # An edit: that file only.
    _edit(listings / "contoso-cloud.yaml", "\nsummary: ", "\nsummary: Edited. ")
    check(1)
    check(0)
    # Broken, then mended: a listing with a problem is checked every time.
    _edit(listings / "contoso-cloud.yaml", "\nslug: contoso-cloud", "\nslug: Contoso")
    slugs, problems = check(1)
    assert "contoso-cloud" not in slugs and problems
    check(1)
    _edit(listings / "contoso-cloud.yaml", "\nslug: Contoso", "\nslug: contoso-cloud")
    assert check(1)[1] == []
    # A logo that changed is checked again with its listing, though the listing did not change.
    logo = "adventure-works-it.svg"
    (listings / logo).write_bytes(SCRIPTED_SVG)
    slugs, problems = check(1)
    assert "adventure-works-it" not in slugs
    assert any("script" in problem for problem in problems), problems
    shutil.copyfile(EXAMPLE_LISTINGS / logo, listings / logo)
    assert check(1)[1] == []
    # A listing copying another's name: the cross-file rules see every listing, remembered
    # or not.
    copy = (listings / "baltic-workplace.yaml").read_text(encoding="utf-8")
    (listings / "baltic-copy.yaml").write_text(
        copy.replace("slug: baltic-workplace", "slug: baltic-copy"), encoding="utf-8"
    )
    assert check(1)[1]
    (listings / "baltic-copy.yaml").unlink()
    (listings / "taiga-cloud.yaml").unlink()
    (listings / "taiga-cloud.png").unlink()
    assert "taiga-cloud" not in check(0)[0]
    # The catalog is what every listing is checked against: all of them again.
    catalog = listings / CATALOG_FILE_NAME
    catalog.write_text(catalog.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    check(files - 1)


def test_the_listing_files_are_the_folders_own_and_kept_between_validations(
    listings: Path, tmp_path: Path
) -> None:
    remembered = RememberedListings()
    first = remembered.listing_files(listings)
    assert first == list(listing_files(listings))
    again = remembered.listing_files(listings)
    assert all(before is now for before, now in zip(first, again, strict=True))
    (listings / "taiga-cloud.yaml").unlink()
    (listings / "new-partner.yaml").write_text("slug: new-partner\n", encoding="utf-8")
    assert remembered.listing_files(listings) == list(listing_files(listings))
    other = tmp_path / "other"
    shutil.copytree(listings, other)
    assert remembered.listing_files(other) == list(listing_files(other))
    assert validate_directory(other, remembered).problems[0].file == str(other / "new-partner.yaml")


def test_what_is_remembered_is_the_verdict_on_the_bytes_validated(
    listings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A logo swapped for a scripted one right after it was validated (written during the
    validation) is checked again next time, not taken as valid."""
    remembered = RememberedListings()
    validate_file = marketplace.validate.validate_file
    logo = listings / "adventure-works-it.svg"

    def swapped_after(path: Path, catalog: object) -> object:
        outcome = validate_file(path, catalog)  # type: ignore[arg-type]
        if path.name == "adventure-works-it.yaml":
            logo.write_bytes(SCRIPTED_SVG)
        return outcome

    monkeypatch.setattr(marketplace.validate, "validate_file", swapped_after)
    assert validate_directory(listings, remembered).ok
    monkeypatch.undo()
    again = validate_directory(listings, remembered)
    assert remembered.checked_again == 1
    assert not again.ok and any("script" in str(problem) for problem in again.problems)


def _rewrite_in_place(path: Path, old: bytes, new: bytes) -> None:
    """Change `path`'s bytes through the same inode, to the same size, and set its
    modification time back: only its change time tells."""
    assert len(old) == len(new)
    before = path.stat()
    time.sleep(0.05)  # past a tick of the kernel's file clock
    content = path.read_bytes()
    assert old in content
    with path.open("r+b") as handle:
        handle.write(content.replace(old, new, 1))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )


def _counting_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The listings whose bytes the validations from now on read to compare them."""
    reads: list[Path] = []
    current_digest = marketplace.validate._current_digest

    def counted(loaded: LoadedListing) -> str | None:
        reads.append(loaded.path)
        return current_digest(loaded)

    monkeypatch.setattr(marketplace.validate, "_current_digest", counted)
    return reads


def test_files_found_the_same_a_while_after_their_validation_are_known_by_their_stamps(
    listings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a file's bytes were found the same, far enough apart, as when they were
    validated, under the stamp the file had then, the next validation looks at its stamp
    instead of reading it; a write in place that keeps its size and modification time is
    still noticed (its change time), and so are a logo removed and a link put in a listing's
    place."""
    # "Far enough apart": any time, here, so that the test need not wait.
    monkeypatch.setattr(RememberedListings, "TRUSTED_AFTER_SECONDS", 1e-6)
    remembered = RememberedListings()
    reads = _counting_reads(monkeypatch)

    def check(expected_again: int) -> tuple[list[str], list[str]]:
        reads.clear()
        again = validate_directory(listings, remembered)
        assert remembered.checked_again == expected_again
        assert _outcome(again) == _outcome(validate_directory(listings))
        return _outcome(again)

    files = len(list(listings.glob("*.yaml"))) - 1  # the catalog aside
    check(files)
    assert not remembered.settled()  # validated, their stamps taken
    check(0)  # the bytes compared, under the same stamps: they stand for the bytes from now on
    assert len(reads) == files
    assert remembered.settled()
    check(0)
    assert reads == []  # known by their stamps alone
    listing = listings / "contoso-cloud.yaml"
    _rewrite_in_place(listing, b"\nslug: contoso-cloud", b"\nslug: Contoso-cloud")
    slugs, problems = check(1)
    assert "contoso-cloud" not in slugs and problems
    _rewrite_in_place(listing, b"\nslug: Contoso-cloud", b"\nslug: contoso-cloud")
    assert check(1)[1] == []
    assert not remembered.settled()  # validated again: not known by its stamp yet
    logo = listings / "adventure-works-it.svg"
    original = logo.read_bytes()
    check(0)
    check(0)
    _rewrite_in_place(logo, b"<svg", b"<SVG")
    assert "adventure-works-it" not in check(1)[0]
    logo.write_bytes(original)
    assert check(1)[1] == []
    check(0)
    check(0)
    logo.unlink()
    slugs, problems = check(1)
    assert "adventure-works-it" not in slugs and problems
    logo.write_bytes(original)
    check(1)
    check(0)
    check(0)
    copy = listings.parent / "elsewhere.yaml"
    shutil.copyfile(listing, copy)
    listing.unlink()
    listing.symlink_to(copy)
    slugs, problems = check(1)
    assert "contoso-cloud" not in slugs
    assert any("link" in problem for problem in problems), problems


def test_a_write_between_the_validation_and_its_stamp_is_noticed(
    listings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stamp a file gets when validated is taken after its bytes were read: a write in
    between gives the stamp of other bytes than those validated, which the next validation
    reads and compares, and so validates the file again instead of trusting the stamp."""
    monkeypatch.setattr(RememberedListings, "TRUSTED_AFTER_SECONDS", 1e-6)
    remembered = RememberedListings()
    listing = listings / "contoso-cloud.yaml"
    stamps_now = marketplace.validate._stamps_now
    written: list[Path] = []

    def written_first(loaded: LoadedListing) -> str | None:
        if loaded.path == listing and not written:  # after its bytes were read
            _rewrite_in_place(listing, b"\nslug: contoso-cloud", b"\nslug: Contoso-cloud")
            written.append(listing)
        return stamps_now(loaded)

    monkeypatch.setattr(marketplace.validate, "_stamps_now", written_first)
    assert validate_directory(listings, remembered).ok  # the bytes before the write
    assert written
    monkeypatch.setattr(marketplace.validate, "_stamps_now", stamps_now)
    slugs, problems = _outcome(validate_directory(listings, remembered))
    assert remembered.checked_again == 1
    assert "contoso-cloud" not in slugs and problems


def test_a_stamp_stands_for_the_bytes_only_seconds_after_they_were_first_found_the_same(
    listings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within `TRUSTED_AFTER_SECONDS`, a write could carry the change time of the one before
    (the file system's clock ticks): the bytes are read and compared at every validation."""
    remembered = RememberedListings()
    reads = _counting_reads(monkeypatch)
    files = len(list(listings.glob("*.yaml"))) - 1
    started = time.monotonic()
    for _ in range(4):
        reads.clear()
        assert validate_directory(listings, remembered).ok
    assert time.monotonic() - started < RememberedListings.TRUSTED_AFTER_SECONDS
    assert len(reads) == files


def test_the_cross_file_rules_run_again_only_when_a_name_or_file_changed(
    listings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Their verdict depends on each listing's file, slug and names only: unchanged since they
    last found no problem, it stands; any change to them, or a problem found last time, and
    they run again. The outcome is always what validating from nothing gives."""
    runs: list[int] = []
    rules = marketplace.validate._distinct_partners

    def counted(valid: list[LoadedListing], problems: list[object]) -> list[LoadedListing]:
        runs.append(len(valid))
        return rules(valid, problems)  # type: ignore[arg-type]

    remembered = RememberedListings()

    def check(rules_run: bool) -> list[str]:
        runs.clear()
        again = validate_directory(listings, remembered)
        assert bool(runs) == rules_run
        assert _outcome(again) == _outcome(validate_directory(listings))
        return _outcome(again)[1]

    monkeypatch.setattr(marketplace.validate, "_distinct_partners", counted)
    assert check(True) == []
    assert check(False) == []
    _edit(listings / "contoso-cloud.yaml", "\nsummary: ", "\nsummary: Edited. ")
    assert check(False) == []  # a summary is not what the rules read
    # A name that looks like another partner's (Cyrillic "а" in "Fabrikam"): reported, and
    # again at the next validation, nothing having changed.
    contoso = listings / "contoso-cloud.yaml"
    _edit(contoso, "\nname: Contoso Cloud Services", "\nname: F\u0430brikam Migration Partners")
    assert check(True) and check(True)
    _edit(contoso, "\nname: F\u0430brikam Migration Partners", "\nname: Contoso Cloud Services")
    assert check(True) == []
    assert check(False) == []
    # A translated name copying another partner's own name.
    _edit(contoso, "    name: Contoso Cloud Services", "    name: Fabrikam Migration Partners")
    assert check(True)
    _edit(contoso, "    name: Fabrikam Migration Partners", "    name: Contoso Cloud Services")
    assert check(True) == [] and check(False) == []
    # A file renamed: its listing no longer validates (its slug is not its file's name), and
    # the rules run again over the others.
    contoso.rename(listings / "zz-contoso-cloud.yaml")
    assert check(True)
