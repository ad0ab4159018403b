"""Publishing a staged site over the live one (`marketplace_app.staging`): staged files replace
live ones, kept files stay, what the last publish left and this one does not make goes, and
nothing else is ever removed; the live folder itself is never replaced (it may be a mount
point)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from marketplace_app.staging import MANIFEST, publish, read_manifest


def _tree(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")


def _publish(live: Path, files: dict[str, str], kept: frozenset[str] = frozenset()) -> None:
    staging = live / ".build-next"
    _write(staging, files)
    publish(staging, live, kept)
    assert not staging.exists()


def test_staged_files_replace_kept_files_stay_and_the_rest_goes(tmp_path: Path) -> None:
    live = tmp_path / "site"
    _publish(
        live,
        {
            "index.html": "old home",
            "partners/kept/index.html": "kept page",
            "partners/edited/index.html": "old edit",
            "partners/removed/index.html": "removed partner",
            "logos/kept-1234.png": "logo",
            "logos/removed-5678.png": "old logo",
            "was-a-file": "file",
            "was-a-folder/index.html": "folder",
        },
    )
    _write(live, {".well-known/security.txt": "operator's", "robots.txt": "operator's"})
    live_folder = live.stat().st_ino
    kept_inode = (live / "partners/kept/index.html").stat().st_ino
    home_inode = (live / "index.html").stat().st_ino

    _publish(
        live,
        {
            "index.html": "new home",
            "partners/edited/index.html": "new edit",
            "partners/new/index.html": "new partner",
            "was-a-file/index.html": "now a folder",
            "was-a-folder": "now a file",
        },
        frozenset({"partners/kept/index.html", "logos/kept-1234.png"}),
    )

    assert _tree(live) == {
        ".well-known/security.txt": "operator's",
        "robots.txt": "operator's",  # never published by a build: never removed by one
        "index.html": "new home",
        "logos/kept-1234.png": "logo",
        "partners/edited/index.html": "new edit",
        "partners/kept/index.html": "kept page",
        "partners/new/index.html": "new partner",
        "was-a-file/index.html": "now a folder",
        "was-a-folder": "now a file",
    }
    assert not (live / "partners" / "removed").exists()  # emptied folders go too
    assert live.stat().st_ino == live_folder
    assert (live / "partners/kept/index.html").stat().st_ino == kept_inode
    assert (live / "index.html").stat().st_ino != home_inode
    assert read_manifest(live) == set(_tree(live)) - {".well-known/security.txt", "robots.txt"}


def test_an_unchanged_file_is_left_as_it_is_unless_its_permissions_differ(tmp_path: Path) -> None:
    live = tmp_path / "site"
    _publish(live, {"same.html": "same", "mode.html": "same", "folder/page.html": "page"})
    os.chmod(live / "mode.html", 0o600)
    os.chmod(live / "folder", 0o700)
    same = (live / "same.html").stat()
    _publish(live, {"same.html": "same", "mode.html": "same", "folder/page.html": "page"})
    assert (live / "same.html").stat().st_ino == same.st_ino
    assert (live / "same.html").stat().st_mtime_ns == same.st_mtime_ns
    # What a static server running as another user needs, as the staged copy has it.
    umask = os.umask(0)
    os.umask(umask)
    assert (live / "mode.html").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (live / "folder").stat().st_mode & 0o777 == 0o777 & ~umask


def test_without_a_manifest_nothing_is_removed(tmp_path: Path) -> None:
    """A folder no build published into (given by mistake, a volume's lost+found, a site of
    an earlier version): its files are replaced where the build makes them, never removed."""
    live = tmp_path / "site"
    _write(live, {"notes.txt": "mine", "lost+found/x": "fsck's", "index.html": "old"})
    _publish(live, {"index.html": "new"})
    assert _tree(live) == {"notes.txt": "mine", "lost+found/x": "fsck's", "index.html": "new"}


def test_a_manifest_cannot_name_a_file_outside_the_site(tmp_path: Path) -> None:
    live, outside = tmp_path / "site", tmp_path / "outside.txt"
    outside.write_text("keep", encoding="utf-8")
    live.mkdir()
    (live / MANIFEST).write_text('{"files": ["../outside.txt", "/etc/hostname"]}', "utf-8")
    _publish(live, {"index.html": "new"})
    assert outside.read_text(encoding="utf-8") == "keep"


def test_a_file_that_cannot_be_removed_is_tried_again_next_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = tmp_path / "site"
    _publish(live, {"index.html": "home", "stale/page.html": "stale", "downloads/a.pdf": "a"})
    real_unlink = Path.unlink

    def refused(path: Path, missing_ok: bool = False) -> None:
        if path.name == "page.html":
            raise PermissionError(13, "Permission denied", str(path))
        real_unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", refused)
    # "downloads" is a file now: the old file in it is gone without an error.
    _publish(live, {"index.html": "home", "downloads": "a file now"})
    assert (live / "stale/page.html").exists()
    assert "stale/page.html" in read_manifest(live)
    monkeypatch.undo()
    _publish(live, {"index.html": "home", "downloads": "a file now"})
    assert _tree(live) == {"index.html": "home", "downloads": "a file now"}


def test_a_first_publish_moves_whole_folders(tmp_path: Path) -> None:
    live, staging = tmp_path / "site", tmp_path / "staging"
    _write(staging, {"a/b/c.html": "c", "d.html": "d"})
    folder = (staging / "a").stat().st_ino
    publish(staging, live, set())
    assert _tree(live) == {"a/b/c.html": "c", "d.html": "d"}
    assert (live / "a").stat().st_ino == folder  # renamed, not copied


def test_pages_go_live_after_the_files_they_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = tmp_path / "site"
    _publish(live, {"index.html": "old", "assets/old.css": "old", "partners/a/index.html": "a"})
    moved: list[str] = []
    real_replace, real_rename = os.replace, os.rename

    def recorded(real: Callable[[str, Path], None]) -> Callable[[str, Path], None]:
        def move(source: str, target: Path) -> None:
            moved.append(Path(target).relative_to(live).as_posix())
            real(source, target)

        return move

    monkeypatch.setattr(os, "replace", recorded(real_replace))
    monkeypatch.setattr(os, "rename", recorded(real_rename))
    _publish(
        live,
        {
            "index.html": "new",
            "partners/a/index.html": "a2",
            "partners/b/index.html": "a new partner",  # a new folder holding a page
            "assets/new.css": "new",
            "zassets/more.css": "a new folder of assets",
        },
    )
    moved = [name for name in moved if name != MANIFEST]
    assert sorted(moved[:2]) == ["assets/new.css", "zassets"]
    assert sorted(moved[2:]) == ["index.html", "partners/a/index.html", "partners/b"]


def test_the_manifest_is_rewritten_only_when_the_files_change_and_dated_every_time(
    tmp_path: Path,
) -> None:
    """Its time is when the site was last published (`inputs_newer_than` compares the
    listings with it); after an edit it names the same files, so it is not written again."""
    live = tmp_path / "site"
    _publish(live, {"index.html": "home", "partners/a/index.html": "a"})
    manifest = live / MANIFEST
    os.utime(manifest, (1_000_000, 1_000_000))
    with manifest.open("rb") as before:  # replaced, its file would have no name left
        _publish(live, {"partners/a/index.html": "a, edited"}, kept=frozenset({"index.html"}))
        assert os.fstat(before.fileno()).st_nlink == 1  # the same names: not written again
        assert manifest.stat().st_mtime > 1_000_000  # but dated now
        _publish(live, {"partners/b/index.html": "b"}, kept=frozenset({"index.html"}))
        assert os.fstat(before.fileno()).st_nlink == 0
    assert read_manifest(live) == {"index.html", "partners/b/index.html"}
    manifest.unlink()
    _publish(live, {"partners/b/index.html": "b"}, kept=frozenset({"index.html"}))
    assert read_manifest(live) == {"index.html", "partners/b/index.html"}
