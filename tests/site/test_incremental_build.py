"""`marketplace build` over its previous output keeps the partner pages nothing changed for
(`sitegen.reuse`), and what it writes equals a build from nothing (issue 18)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import marketplace_app.build
import search.whoosh_engine
import sitegen.plugin
from marketplace.catalog import CATALOG_FILE_NAME, FACETS, SITE_LANGUAGES
from marketplace.urls import partner_url, value_url
from marketplace.validate import listing_files, load_listings
from marketplace_app.build import BuildPaths, BuildReport, build
from search.engine import SearchQuery
from search.whoosh_engine import WhooshSearch, index_root
from tests.conftest import EXAMPLE_LISTINGS
from tests.site.conftest import site_files

EDITED = "adventure-works-it"
REMOVED = "baltic-workplace"


def _language_root(site: Path, language: str) -> Path:
    return site if language == SITE_LANGUAGES[0] else site / language


def _partner_page(site: Path, language: str, slug: str) -> Path:
    return _language_root(site, language) / partner_url(slug) / "index.html"


def _build(listings: Path, root: Path) -> BuildReport:
    return build(BuildPaths(listings, root / "site", root / "instance"))


def _edit(listings: Path, field: str, before: str) -> None:
    """Put `before` in front of the value of `field` in the edited partner's listing."""
    edited = listings / f"{EDITED}.yaml"
    text = edited.read_text(encoding="utf-8")
    edited.write_text(text.replace(f"\n{field}: ", f"\n{field}: {before}", 1), "utf-8")


@pytest.fixture
def listings(tmp_path: Path) -> Path:
    """A copy of the example listings to edit."""
    folder = tmp_path / "listings"
    shutil.copytree(EXAMPLE_LISTINGS, folder)
    return folder


def test_a_rebuild_renders_only_the_edited_partner_and_equals_a_full_build(
    listings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slugs = [path.stem for path in listing_files(listings)]
    first = _build(listings, tmp_path / "incremental")
    assert first.pages_kept == 0
    site = tmp_path / "incremental" / "site"
    # A kept page is moved back, not written again: the same file (inode) as before.
    before = {
        (language, slug): _partner_page(site, language, slug).stat().st_ino
        for language in SITE_LANGUAGES
        for slug in slugs
    }

    _edit(listings, "summary", "Freshly edited. ")
    (listings / f"{REMOVED}.yaml").unlink()
    # Two of fourteen partners changed: more than the share an index update takes.
    monkeypatch.setattr(marketplace_app.build, "INDEX_UPDATE_SHARE", 0.2)
    monkeypatch.setattr(search.whoosh_engine, "build_index", _not_again)
    second = _build(listings, tmp_path / "incremental")
    monkeypatch.undo()

    unchanged = [slug for slug in slugs if slug not in (EDITED, REMOVED)]
    assert second.pages_kept == len(unchanged) * len(SITE_LANGUAGES)
    for language in SITE_LANGUAGES:
        for slug in unchanged:
            assert _partner_page(site, language, slug).stat().st_ino == before[language, slug]
        assert not _partner_page(site, language, REMOVED).exists()
    assert "Freshly edited." in _partner_page(site, "en", EDITED).read_text(encoding="utf-8")
    # The pages that list the partner show the new summary, and no longer the removed one.
    browse = (site / _first_service_page(listings) / "index.html").read_text(encoding="utf-8")
    assert "Freshly edited." in browse
    assert f"/{REMOVED}/" not in browse
    directory = (site / "directory.json").read_text(encoding="utf-8")
    assert "Freshly edited." in directory
    assert REMOVED not in directory

    _build(listings, tmp_path / "full")
    assert site_files(site) == site_files(tmp_path / "full" / "site")
    # The index was updated, not built again, and answers as the full build's does.
    for words in ("Freshly edited", "baltic", "teams", ""):
        incremental = _search(tmp_path / "incremental", words)
        assert incremental == _search(tmp_path / "full", words)
    assert EDITED in _search(tmp_path / "incremental", "Freshly edited")
    assert REMOVED not in _search(tmp_path / "incremental", "")


def test_a_rebuild_writes_only_the_browse_pages_whose_html_changed(
    listings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the browse pages that list the edited partner are rendered and written again;
    the others stay in the live site, as published (`OutputRecord.pages`)."""
    import sitegen.pages
    import sitegen.plugin

    _build(listings, tmp_path / "out")
    site = tmp_path / "out" / "site"
    partners = {partner_url(path.stem) for path in listing_files(listings)}

    def pages() -> dict[str, tuple[int, bytes]]:  # English browse and facet pages
        found = {}
        for facet in FACETS:
            for page in (site / facet.segment).rglob("index.html"):
                url = page.parent.relative_to(site).as_posix() + "/"
                found[url] = (page.stat().st_ino, page.read_bytes())
        return found

    before = pages()
    written: list[str] = []
    write_page = sitegen.plugin.GeneratedPages._write_page

    def recording(plugin: object, site_dir: Path, page: object, text: str | None = None) -> None:
        written.append(page.url)  # type: ignore[attr-defined]
        write_page(plugin, site_dir, page, text)  # type: ignore[arg-type]

    rendered: list[str] = []
    browse_pages = sitegen.pages.browse_pages

    def rendering(*arguments: Any) -> list[sitegen.pages.GeneratedPage]:
        pages = browse_pages(*arguments)
        rendered.extend(page.url for page in pages)
        return pages

    def record_writes_and_renders() -> None:
        written.clear()
        rendered.clear()
        monkeypatch.setattr(sitegen.plugin.GeneratedPages, "_write_page", recording)
        monkeypatch.setattr(sitegen.pages, "browse_pages", rendering)

    record_writes_and_renders()
    _edit(listings, "summary", "Freshly edited. ")
    _build(listings, tmp_path / "out")  # English in this process: its work is recorded
    monkeypatch.undo()

    after = pages()
    changed = {url for url in after if before.get(url, (0, b""))[1] != after[url][1]}
    assert changed, "the edited partner's browse pages show its new summary"
    assert len(changed) < len(after) / 2
    assert {url for url in written if url not in partners} == changed
    assert set(rendered) == changed
    for url in after.keys() - changed:
        assert after[url][0] == before[url][0]  # the same file, not written again
    # And the next build, with nothing changed, renders and writes no browse page at all.
    record_writes_and_renders()
    _build(listings, tmp_path / "out")
    monkeypatch.undo()
    assert written == []
    assert rendered == []
    _build(listings, tmp_path / "full")
    assert site_files(site) == site_files(tmp_path / "full" / "site")


def _not_again(*_arguments: object) -> None:
    raise AssertionError("the index was built again instead of updated")


def _search(root: Path, words: str) -> list[str]:
    """The slugs a search finds in the index of a build under `root`, best first."""
    engine = WhooshSearch(index_root(root / "instance"))
    try:
        return [hit.slug for hit in engine.search(SearchQuery(text=words, per_page=50)).hits]
    finally:
        engine.close()


def _first_service_page(listings: Path) -> str:
    """The browse page of the edited partner's first service, which lists it."""
    _catalog, loaded = load_listings(listings)
    edited = next(item.listing for item in loaded if item.listing.slug == EDITED)
    return value_url(FACETS[0], edited.services[0])


TEAMS = "Teams (chat and meetings)"


def _rename_teams(listings: Path, name: str) -> None:
    catalog = listings / CATALOG_FILE_NAME
    text = catalog.read_text(encoding="utf-8")
    catalog.write_text(text.replace(f"en: {TEAMS}", f"en: {name}", 1), encoding="utf-8")


def test_a_catalog_change_renders_every_partner_page(listings: Path, tmp_path: Path) -> None:
    _build(listings, tmp_path / "out")
    catalog = listings / CATALOG_FILE_NAME
    # A comment changes nothing any page shows: everything is kept.
    catalog.write_text(catalog.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    every = len(list(listing_files(listings))) * len(SITE_LANGUAGES)
    assert _build(listings, tmp_path / "out").pages_kept == every
    _rename_teams(listings, "Teams renamed here")
    assert _build(listings, tmp_path / "out").pages_kept == 0
    teams = tmp_path / "out" / "site" / "services" / "teams" / "index.html"
    assert "Teams renamed here" in teams.read_text(encoding="utf-8")
    # Unchanged again: everything is kept.
    assert _build(listings, tmp_path / "out").pages_kept == every


def test_a_catalog_saved_during_a_build_is_not_taken_for_the_one_it_rendered(
    listings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pages are rendered from the catalog validated at the start; one saved later is the
    next build's, which must not keep pages made with the one before."""
    import sitegen.reuse

    _build(listings, tmp_path / "out")
    fingerprint = sitegen.reuse.catalog_fingerprint

    def saved_meanwhile(*arguments: Any) -> str:
        if TEAMS in (listings / CATALOG_FILE_NAME).read_text(encoding="utf-8"):
            _rename_teams(listings, "Teams saved during the build")
        return fingerprint(*arguments)

    monkeypatch.setattr(sitegen.reuse, "catalog_fingerprint", saved_meanwhile)
    monkeypatch.setattr(sitegen.plugin, "catalog_fingerprint", saved_meanwhile)
    _edit(listings, "summary", "Edited. ")
    _build(listings, tmp_path / "out")
    monkeypatch.undo()
    teams = tmp_path / "out" / "site" / "services" / "teams" / "index.html"
    assert "Teams saved during the build" not in teams.read_text(encoding="utf-8")
    _build(listings, tmp_path / "out")  # the save's build
    assert "Teams saved during the build" in teams.read_text(encoding="utf-8")


def test_a_build_that_fails_leaves_the_live_site_index_and_records_as_they_were(
    listings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step failing after MkDocs wrote every page (the sitemap, here) leaves the site the
    last good build published, file for file: the build wrote into a staging folder, which is
    gone. The index prepared meanwhile is not swapped in, and the records still describe the
    live pages, so the next build keeps them."""
    _build(listings, tmp_path / "out")
    site = tmp_path / "out" / "site"
    before = site_files(site)
    index_before = search.whoosh_engine.current_index(index_root(tmp_path / "out" / "instance"))
    _edit(listings, "summary", "Never published. ")
    import sitegen.plugin

    def broken(*_arguments: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(sitegen.plugin, "sitemap_xml", broken)
    with pytest.raises(OSError, match="disk full"):
        _build(listings, tmp_path / "out")
    monkeypatch.undo()
    assert site_files(site) == before
    assert not list(site.glob(".build-*"))
    instance = tmp_path / "out" / "instance"
    assert search.whoosh_engine.current_index(index_root(instance)) == index_before
    assert not list(index_root(instance).glob("building-*"))
    assert "Never published" not in json.dumps(_search(tmp_path / "out", "Never published"))
    again = _build(listings, tmp_path / "out")
    assert again.pages_kept == (len(list(listing_files(listings))) - 1) * len(SITE_LANGUAGES)
    assert EDITED in _search(tmp_path / "out", "Never published")


def test_a_build_refused_before_writing_keeps_the_live_site(
    listings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MkDocs refusing its configuration (a typo in mkdocs.yml while `serve --watch` runs)
    stops the build: the live site is untouched and no scratch folder is left in it."""
    _build(listings, tmp_path / "out")
    site = tmp_path / "out" / "site"
    before = site_files(site)

    def refused(*_arguments: object, **_options: object) -> tuple[str, int]:
        raise RuntimeError("Aborted with a configuration error!")

    monkeypatch.setattr(marketplace_app.build, "_mkdocs_build", refused)
    with pytest.raises(RuntimeError, match="configuration error"):
        _build(listings, tmp_path / "out")
    monkeypatch.undo()
    assert site_files(site) == before
    assert not list(site.glob(".build-*"))
    kept = _build(listings, tmp_path / "out").pages_kept
    assert kept == len(list(listing_files(listings))) * len(SITE_LANGUAGES)


def test_a_failed_publish_leaves_no_prepared_index(
    listings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _build(listings, tmp_path / "out")
    instance = tmp_path / "out" / "instance"
    index_before = search.whoosh_engine.current_index(index_root(instance))
    _edit(listings, "summary", "Edited. ")
    import marketplace_app.staging

    def full_disk(*_arguments: object, **_options: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(marketplace_app.staging, "_merge", full_disk)
    with pytest.raises(OSError, match="No space"):
        _build(listings, tmp_path / "out")
    monkeypatch.undo()
    assert search.whoosh_engine.current_index(index_root(instance)) == index_before
    assert not list(index_root(instance).glob("building-*"))
    assert not list((tmp_path / "out" / "site").glob(".build-*"))


def test_after_a_build_nothing_is_stale(listings: Path, tmp_path: Path) -> None:
    """`serve` builds at start only when something changed since the last build: a build
    that left index.html as it was (unchanged) still counts as the last build."""
    paths = BuildPaths(listings, tmp_path / "site", tmp_path / "instance")
    build(paths)
    _edit(listings, "website", "https://edited.example\n#")
    assert marketplace_app.build.inputs_newer_than(paths)
    build(paths)
    assert not marketplace_app.build.inputs_newer_than(paths)


@pytest.mark.parametrize("given", [".", "site_src", "listings", "instance", ".."])
def test_a_site_folder_holding_the_project_is_refused(
    given: str, listings: Path, tmp_path: Path
) -> None:
    """`--site-dir .` would publish the site over the project: refused before anything is
    written (MkDocs used to refuse it; it no longer sees the site folder itself)."""
    project = tmp_path / "project"
    shutil.copytree(Path(marketplace_app.build.PROJECT_ROOT) / "site_src", project / "site_src")
    shutil.copy(marketplace_app.build.MKDOCS_CONFIG, project / "mkdocs.yml")
    shutil.copytree(listings, project / "listings")
    before = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*"))
    paths = BuildPaths(
        project / "listings",
        project / given,
        project / "instance",
        mkdocs_config=project / "mkdocs.yml",
    )
    with pytest.raises(marketplace_app.build.UnsafeSiteDir, match="folder of its own"):
        build(paths)
    assert sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*")) == before


def test_two_instance_folders_building_into_one_site_folder_take_turns(
    listings: Path, tmp_path: Path
) -> None:
    """Each build's staging folder is in the site folder, and each removes what the last
    publish listed: built at once, they would remove each other's files. They take turns
    (the site folder's own lock), and the site is whole afterwards."""
    site = tmp_path / "site"
    builds = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "marketplace_app",
                "build",
                "--listings",
                str(listings),
                "--site-dir",
                str(site),
                "--instance",
                str(tmp_path / name),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in ("instance-a", "instance-b")
    ]
    for process in builds:
        _out, errors = process.communicate(timeout=180)
        assert process.returncode == 0, errors
    _build(listings, tmp_path / "alone")
    assert site_files(site).keys() == site_files(tmp_path / "alone" / "site").keys()


def test_a_rebuild_under_another_umask_leaves_every_file_readable(
    listings: Path, tmp_path: Path
) -> None:
    """A build run under a strict umask (077) wrote files only its user may read; the next
    build, under 022, must not keep them so (a static server reading as another user would
    answer 403): kept pages and logos included."""
    previous = os.umask(0o077)
    try:
        _build(listings, tmp_path / "out")
    finally:
        os.umask(previous)
    os.umask(0o022)
    try:
        _build(listings, tmp_path / "out")
    finally:
        os.umask(previous)
    site = tmp_path / "out" / "site"
    unreadable = [
        path.relative_to(site).as_posix()
        for path in site.rglob("*")
        if not path.name.startswith(".") and not path.stat().st_mode & 0o004
    ]
    assert unreadable == []


def test_a_rebuild_keeps_published_logos_and_mends_a_damaged_one(
    listings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A logo the previous build published stays (the same file) without being read again; one
    changed on the live site since is written again, and a changed logo gets a new URL."""
    import sitegen.plugin

    _build(listings, tmp_path / "out")
    site = tmp_path / "out" / "site"
    logos = sorted((site / "logos").iterdir())
    assert len(logos) >= 2
    damaged, replaced = logos[0], logos[1]
    before = {logo.name: logo.stat().st_ino for logo in logos}
    damaged.write_bytes(b"not the logo")
    compared: list[str] = []
    holds_logo = sitegen.plugin._holds_logo

    def counted(path: Path, digest: str, mode: int) -> bool:
        compared.append(path.name)
        return holds_logo(path, digest, mode)

    monkeypatch.setattr(sitegen.plugin, "_holds_logo", counted)
    slug = replaced.name.rsplit("-", 1)[0]
    source = listings / _logo_file(listings, replaced.name)
    source.write_bytes(source.read_bytes() + b"\n")
    _build(listings, tmp_path / "out")

    # Read to compare: the damaged English logo (its stamp changed) and the changed one's new
    # name (no live file), nothing else. (The Russian site compares in a process of its own.)
    new_names = [name for name in compared if name not in before]
    assert sorted(compared) == sorted([damaged.name, *new_names]) and len(new_names) == 1
    assert new_names[0].startswith(slug + "-")
    assert damaged.read_bytes() == (listings / _logo_file(listings, damaged.name)).read_bytes()
    assert not replaced.exists()
    for logo in logos[2:]:
        assert logo.stat().st_ino == before[logo.name]
    _build(listings, tmp_path / "full")
    assert site_files(site) == site_files(tmp_path / "full" / "site")


def _logo_file(listings: Path, published: str) -> str:
    """The listing folder's file a published logo name ("<slug>-<hash>.<ext>") was copied from."""
    slug = published.rsplit("-", 1)[0]
    return next(path.name for path in listings.glob(f"{slug}.*") if path.suffix != ".yaml")


def test_a_logo_swapped_after_validation_is_not_published(
    listings: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The site publishes only the logo bytes validated: one a partner swaps for a scripted
    SVG while the build runs (after its validation) stops the build, and nothing of it is
    published."""
    from mkdocs.exceptions import Abort

    from marketplace.history import listing_dates

    _build(listings, tmp_path / "out")
    site = tmp_path / "out" / "site"
    before = site_files(site)
    logo = listings / _logo_file(listings, sorted((site / "logos").iterdir())[0].name)
    logo.write_bytes(logo.read_bytes() + b"\n")  # a new logo, validated by the next build

    def swapped_after_validation(paths: list[Path], dates_file: Path | None = None) -> object:
        logo.write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
        return listing_dates(paths, dates_file)

    monkeypatch.setattr(marketplace_app.build, "listing_dates", swapped_after_validation)
    with pytest.raises(Abort):  # MkDocs' end of a build a plugin stopped, having logged why
        _build(listings, tmp_path / "out")
    assert f"the logo {logo} changed while the site was built" in caplog.text
    assert site_files(site) == before
    assert not any(b"alert(1)" in content for content in site_files(site).values())
