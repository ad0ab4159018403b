"""A process that builds again and again (`serve --watch`'s) writes an edit's pages without
MkDocs while nothing MkDocs makes would change (`marketplace_app.build.RememberedSite`), and
what it publishes equals a build from nothing; anything MkDocs would make differently runs
MkDocs again."""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

import marketplace_app.build
from marketplace.catalog import SITE_LANGUAGES
from marketplace.validate import load_listings
from marketplace_app.build import BuildPaths, RememberedBuild, build, remember_every_language
from tests.conftest import EXAMPLE_LISTINGS
from tests.site.conftest import site_files

EDITED = "adventure-works-it"
BOTH = sorted(["mkdocs.yml", "mkdocs.ru.yml"])
"""What a build that runs MkDocs runs it for: every language."""


@pytest.fixture
def paths(tmp_path: Path) -> BuildPaths:
    """A copy of the project's site sources and example listings, built into `tmp_path`."""
    project = tmp_path / "project"
    root = Path(marketplace_app.build.PROJECT_ROOT)
    shutil.copytree(root / "site_src", project / "site_src")
    for config in ("mkdocs.yml", "mkdocs.ru.yml"):
        shutil.copy(root / config, project / config)
    shutil.copytree(EXAMPLE_LISTINGS, project / "listings")
    return BuildPaths(
        project / "listings",
        tmp_path / "site",
        tmp_path / "instance",
        mkdocs_config=project / "mkdocs.yml",
    )


def _edit(paths: BuildPaths, words: str, keep_dates: bool = True) -> None:
    """Put `words` in front of the edited partner's summary; with `keep_dates`, the file keeps
    its modification time, so the listing keeps its dates (as a git checkout's uncommitted
    edit does: the listings folder here is no repository)."""
    edited = paths.listings_dir / f"{EDITED}.yaml"
    before = edited.stat()
    text = edited.read_text(encoding="utf-8")
    edited.write_text(text.replace("\nsummary: ", f"\nsummary: {words} ", 1), "utf-8")
    if keep_dates:
        os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))


def _full_build(paths: BuildPaths, tmp_path: Path) -> dict[str, bytes]:
    """The files of a build of the same sources from nothing."""
    full = BuildPaths(
        paths.listings_dir,
        tmp_path / "full" / "site",
        tmp_path / "full" / "instance",
        mkdocs_config=paths.mkdocs_config,
    )
    build(full)
    return site_files(full.site_dir)


@pytest.fixture
def mkdocs_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The languages MkDocs builds from now on (in this process or a forked one)."""
    runs: list[str] = []
    mkdocs_build = marketplace_app.build._mkdocs_build

    def counted(
        paths: BuildPaths, loaded: Any, config_file: Path, *more: Any, **options: Any
    ) -> Any:
        runs.append(config_file.name)
        return mkdocs_build(paths, loaded, config_file, *more, **options)

    # Counted before a language's process forks: it runs in build_site's own process.
    monkeypatch.setattr(marketplace_app.build, "_Child", _InProcess)
    monkeypatch.setattr(marketplace_app.build, "_mkdocs_build", counted)
    return runs


@pytest.fixture
def carried_over(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Call it to start noting whether each `sitegen.carry.carry_over` took anything over;
    it returns the list it notes into (a build asks once per language, English first)."""
    import sitegen.carry

    carry_over = sitegen.carry.carry_over

    def noting() -> list[bool]:
        outcomes: list[bool] = []

        def counted(*arguments: Any) -> Any:
            carried = carry_over(*arguments)
            outcomes.append(carried is not None)
            return carried

        monkeypatch.setattr(sitegen.carry, "carry_over", counted)
        return outcomes

    return noting


class _InProcess:
    """`_Child` run at once in this process (so the test sees what it calls)."""

    def __init__(self, function: Any, *arguments: object) -> None:
        try:
            self._value = (True, function(*arguments))
        except BaseException as error:
            self._value = (False, error)

    def result(self) -> Any:
        succeeded, value = self._value
        if not succeeded:
            raise value
        return value


def test_an_edit_is_written_without_mkdocs_and_equals_a_full_build(
    paths: BuildPaths, tmp_path: Path, mkdocs_runs: list[str]
) -> None:
    remembered = RememberedBuild()
    build(paths, remembered=remembered)
    assert sorted(mkdocs_runs) == BOTH
    assert remembered.site is not None

    for number in range(2):
        _edit(paths, f"Edit{number}.")
        report = build(paths, remembered=remembered)
        assert sorted(mkdocs_runs) == BOTH, "MkDocs ran again"
        assert report.pages_kept == 13 * len(SITE_LANGUAGES)
        assert remembered.site is not None
        page = paths.site_dir / "partners" / EDITED / "index.html"
        assert f"Edit{number}." in page.read_text(encoding="utf-8")
    assert site_files(paths.site_dir) == _full_build(paths, tmp_path)


def _newest_changes(paths: BuildPaths) -> None:
    # A new modification time: the listing is the newest now, which the home page shows.
    _edit(paths, "Newest.", keep_dates=False)


def _page_changes(paths: BuildPaths) -> None:
    page = paths.mkdocs_config.parent / "site_src" / "en" / "get-listed.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nA new paragraph.\n", "utf-8")
    _edit(paths, "Page.")


def _live_theme_file_changes(paths: BuildPaths) -> None:
    (paths.site_dir / "404.html").write_text("replaced on the live site", "utf-8")
    _edit(paths, "Theme.")


def _live_theme_file_goes(paths: BuildPaths) -> None:
    (paths.site_dir / "ru" / "404.html").unlink()
    _edit(paths, "Gone.")


def _live_page_written_into(paths: BuildPaths) -> None:
    # The same size and modification time: only the change time tells.
    page = paths.site_dir / "find" / "index.html"
    before = page.stat()
    text = page.read_text(encoding="utf-8")
    page.write_text(text.replace("<body", "<BODY", 1), "utf-8")
    os.utime(page, ns=(before.st_atime_ns, before.st_mtime_ns))
    _edit(paths, "Written into.")


def _live_folder_closed(paths: BuildPaths) -> None:
    (paths.site_dir / "assets").chmod(0o700)
    _edit(paths, "Closed.")


@pytest.mark.parametrize(
    "change",
    [
        _newest_changes,
        _page_changes,
        _live_theme_file_changes,
        _live_theme_file_goes,
        _live_page_written_into,
        _live_folder_closed,
    ],
)
def test_what_mkdocs_would_make_differently_runs_mkdocs(
    change: Any, paths: BuildPaths, tmp_path: Path, mkdocs_runs: list[str]
) -> None:
    """A hand-written page that shows the listings differently (the newest partners), a
    changed hand-written page, or a file MkDocs wrote changed or removed on the live site
    since: MkDocs runs again, and the site equals a full build."""
    remembered = RememberedBuild()
    build(paths, remembered=remembered)
    change(paths)
    build(paths, remembered=remembered)
    assert sorted(mkdocs_runs) == sorted(BOTH * 2)
    assert site_files(paths.site_dir) == _full_build(paths, tmp_path)
    assert stat.S_IMODE((paths.site_dir / "assets").stat().st_mode) == 0o777 & ~_umask()


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def test_a_plugin_after_the_marketplace_plugin_makes_every_build_run_mkdocs(
    paths: BuildPaths, tmp_path: Path, mkdocs_runs: list[str]
) -> None:
    """A plugin whose post-build step runs after ours may write or change files the build
    process does not know of: such a site is always made with MkDocs (here Material's search
    plugin, listed last, writes the search index of the hand-written pages)."""
    for name in ("mkdocs.yml", "mkdocs.ru.yml"):
        config = paths.mkdocs_config.with_name(name)
        text = config.read_text(encoding="utf-8")
        search = text[text.index("  - search") : text.index("  - marketplace:")]
        text = text.replace(search, "", 1)
        config.write_text(
            text.replace("\nmarkdown_extensions:", f"\n{search}markdown_extensions:", 1)
        )
    remembered = RememberedBuild()
    build(paths, remembered=remembered)
    assert remembered.site is None
    _edit(paths, "Searched.")
    build(paths, remembered=remembered)
    assert sorted(mkdocs_runs) == sorted(BOTH * 2)
    assert (paths.site_dir / "search" / "search_index.json").is_file()
    assert site_files(paths.site_dir) == _full_build(paths, tmp_path)


def test_a_page_behind_a_symbolic_link_is_watched_too(
    paths: BuildPaths, tmp_path: Path, mkdocs_runs: list[str]
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "note.md").write_text("# A shared note\n\nFirst words.\n", "utf-8")
    (paths.mkdocs_config.parent / "site_src" / "en" / "shared").symlink_to(shared)
    remembered = RememberedBuild()
    build(paths, remembered=remembered)
    (shared / "note.md").write_text("# A shared note\n\nOther words.\n", "utf-8")
    _edit(paths, "Linked.")
    build(paths, remembered=remembered)
    assert sorted(mkdocs_runs) == sorted(BOTH * 2)
    note = paths.site_dir / "shared" / "note" / "index.html"
    assert "Other words." in note.read_text(encoding="utf-8")


def test_another_site_address_runs_mkdocs(
    paths: BuildPaths, tmp_path: Path, mkdocs_runs: list[str]
) -> None:
    """What the build process remembers holds for the folders and address it built with."""
    remembered = RememberedBuild()
    build(paths, remembered=remembered)
    _edit(paths, "Moved.")
    elsewhere = dataclasses.replace(paths, site_url="https://partners.example/")
    build(elsewhere, remembered=remembered)
    assert sorted(mkdocs_runs) == sorted(BOTH * 2)
    assert "https://partners.example/" in (paths.site_dir / "feed.xml").read_text("utf-8")


def test_a_failed_build_forgets_the_site(
    paths: BuildPaths, tmp_path: Path, mkdocs_runs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build that fails after the site was written (the index, here) publishes nothing and
    forgets what it knew of the site: the next build runs MkDocs."""
    remembered = RememberedBuild()
    build(paths, remembered=remembered)
    _edit(paths, "Failed.")

    def broken(*_arguments: object) -> None:
        raise OSError("no space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(marketplace_app.build, "prepare_search_index", broken)
        with pytest.raises(OSError, match="no space"):
            build(paths, remembered=remembered)
    assert remembered.site is None
    page = paths.site_dir / "partners" / EDITED / "index.html"
    assert "Failed." not in page.read_text(encoding="utf-8")

    build(paths, remembered=remembered)
    assert sorted(mkdocs_runs) == sorted(BOTH * 2)
    assert site_files(paths.site_dir) == _full_build(paths, tmp_path)


def _listing_edited(paths: BuildPaths, old: str, new: str) -> None:
    """Replace `old` with `new` in the edited partner's listing, keeping its dates."""
    edited = paths.listings_dir / f"{EDITED}.yaml"
    before = edited.stat()
    text = edited.read_text(encoding="utf-8")
    assert old in text
    edited.write_text(text.replace(old, new, 1), "utf-8")
    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))


def _summary_again(paths: BuildPaths) -> None:
    _edit(paths, "Second.")


def _renamed_elsewhere(paths: BuildPaths) -> None:
    _listing_edited(paths, "\nname: Adventure Works IT", "\nname: Zenith Adventure Works IT")


def _given_a_service(paths: BuildPaths) -> None:
    _listing_edited(paths, "services: [intune, ", "services: [teams, intune, ")


def _renamed_in_russian(paths: BuildPaths) -> None:
    _listing_edited(paths, "\noffers:", "\ntranslations:\n  ru: {name: Эдвенчер Воркс}\noffers:")


def _logo_changed(paths: BuildPaths) -> None:
    logo = paths.listings_dir / f"{EDITED}.svg"
    logo.write_text(logo.read_text(encoding="utf-8").replace("#fbbf24", "#22c55e"), "utf-8")


def _another_removed(paths: BuildPaths) -> None:
    (paths.listings_dir / "baltic-workplace.yaml").unlink()


@pytest.mark.parametrize(
    ("change", "taken_over"),
    [
        (_summary_again, [True, True]),
        (_logo_changed, [True, True]),
        (_renamed_in_russian, [True, False]),
        (_renamed_elsewhere, [False, False]),
        (_given_a_service, [False, False]),
        (_another_removed, [False]),  # (the home page's count changes: MkDocs runs)
    ],
)
def test_what_did_not_change_is_taken_over_from_the_build_before(
    change: Any,
    taken_over: list[bool],
    paths: BuildPaths,
    tmp_path: Path,
    mkdocs_runs: list[str],
    carried_over: Any,
) -> None:
    """After an edit made without MkDocs, the next edit's build takes over the groupings and
    keys of the partners that did not change (`sitegen.carry`) where no partner moved, per
    language, and the site equals a full build either way."""
    remembered = RememberedBuild()
    build(paths, remembered=remembered)
    outcomes = carried_over()
    _edit(paths, "First.")
    build(paths, remembered=remembered)  # made in this process: the next build takes over
    assert outcomes == [True]  # English only: MkDocs made the Russian pages in its process
    outcomes.clear()
    change(paths)
    build(paths, remembered=remembered)
    assert outcomes == taken_over  # English, then Russian
    assert site_files(paths.site_dir) == _full_build(paths, tmp_path)


def test_an_edit_to_a_partner_on_a_later_browse_page_equals_a_full_build(
    paths: BuildPaths, tmp_path: Path, mkdocs_runs: list[str], carried_over: Any
) -> None:
    """With values on more than one browse page (120 partners), two edits to a partner
    listed on a second page: the first takes the English pages over from the build that ran
    MkDocs, the second both languages from the first (`sitegen.carry`), and the site equals a
    full build after each."""
    import re

    from benchmarks.generate import generate_listings

    shutil.rmtree(paths.listings_dir)
    generate_listings(120, paths.listings_dir)
    remembered = RememberedBuild()
    build(paths, remembered=remembered)
    home = (paths.site_dir / "index.html").read_text(encoding="utf-8")
    # A partner on a second page, not one of the newest partners the home page shows
    # (MkDocs would run: the home page shows them).
    slug, second_page = next(
        (slug, page)
        for page in sorted(paths.site_dir.glob("*/*/page/2/index.html"))
        for slug in re.findall(r'href="(?:\.\./)+partners/([a-z0-9-]+)/"', page.read_text("utf-8"))
        if f"partners/{slug}/" not in home
    )
    edited = paths.listings_dir / f"{slug}.yaml"
    outcomes = carried_over()
    for number in range(2):
        before = edited.stat()
        text = edited.read_text(encoding="utf-8")
        edited.write_text(text.replace("\nsummary: ", f"\nsummary: Later{number}. ", 1), "utf-8")
        os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))
        ran = len(mkdocs_runs)
        build(paths, remembered=remembered)
        assert len(mkdocs_runs) == ran, "MkDocs ran again"
        assert f"Later{number}." in second_page.read_text(encoding="utf-8")
        assert site_files(paths.site_dir) == _full_build(paths, tmp_path)
    # The first edit's build took over English only: the Russian pages made with MkDocs are
    # made in a process of their own, which keeps what they were made from.
    assert outcomes == [True, True, True]


@pytest.mark.parametrize("edited_meanwhile", [False, True])
def test_while_idle_the_languages_made_apart_are_made_for_the_next_build(
    edited_meanwhile: bool,
    paths: BuildPaths,
    tmp_path: Path,
    mkdocs_runs: list[str],
    carried_over: Any,
) -> None:
    """After a build that ran MkDocs, whose Russian pages were made apart (in a process of
    their own), `remember_every_language` makes what they were made from, from the listings
    that build published (`serve`'s build process does while idle): the next edit's build
    takes both languages over, and the site equals a full build, also when a listing changed
    and was validated again before it ran. It leaves the live site as it was."""
    remembered = RememberedBuild()
    build(paths, remembered=remembered)
    assert remembered.site is not None and remembered.site.made[1:] == [None]
    published = site_files(paths.site_dir)
    records = {path: path.read_bytes() for path in paths.instance_dir.glob("site_pages.*.json")}
    if edited_meanwhile:
        _edit(paths, "Meanwhile.")
        load_listings(paths.listings_dir, remembered.listings)  # (as a look while idle does)
    assert remember_every_language(paths, remembered)
    assert all(made is not None for made in remembered.site.made)
    assert not remember_every_language(paths, remembered), "once per build"
    assert site_files(paths.site_dir) == published
    assert {path: path.read_bytes() for path in records} == records
    assert not [name for name in os.listdir(paths.site_dir) if name.startswith(".build-")]
    outcomes = carried_over()
    _edit(paths, "First.")
    build(paths, remembered=remembered)
    assert outcomes == [True, True]  # English, then Russian
    assert sorted(mkdocs_runs) == BOTH, "MkDocs ran again"
    assert site_files(paths.site_dir) == _full_build(paths, tmp_path)


def test_after_two_builds_that_ran_mkdocs_nothing_is_left_for_later(
    paths: BuildPaths, mkdocs_runs: list[str]
) -> None:
    """When the build before ran MkDocs too (in a folder that is no git checkout every edit
    does: the edited listing becomes the newest partner), the other languages' groupings are
    not made while idle: the next build would most likely run MkDocs again."""
    remembered = RememberedBuild()
    build(paths, remembered=remembered)
    assert remembered.site is not None and remembered.site.built_from is not None
    _another_removed(paths)  # (the home page's count changes: MkDocs runs)
    build(paths, remembered=remembered)
    assert sorted(mkdocs_runs) == sorted(BOTH * 2)
    assert remembered.site is not None and remembered.site.built_from is None
