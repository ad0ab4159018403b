"""Publishing a staged site over the live one (`marketplace_app.staging`): staged files replace
live ones, kept files stay, everything else goes, and the live folder itself is never
replaced (it may be a mount point)."""

from __future__ import annotations

from pathlib import Path

from marketplace_app.staging import publish


def _tree(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")


def test_staged_files_replace_kept_files_stay_and_the_rest_goes(tmp_path: Path) -> None:
    live, staging = tmp_path / "site", tmp_path / "site" / ".build-next"
    _write(
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
            ".well-known/security.txt": "operator's",
        },
    )
    live_folder = live.stat().st_ino
    kept_inode = (live / "partners/kept/index.html").stat().st_ino
    _write(
        staging,
        {
            "index.html": "new home",
            "partners/edited/index.html": "new edit",
            "partners/new/index.html": "new partner",
            "was-a-file/index.html": "now a folder",
            "was-a-folder": "now a file",
        },
    )

    publish(staging, live, {"partners/kept/index.html", "logos/kept-1234.png"})

    assert _tree(live) == {
        ".well-known/security.txt": "operator's",
        "index.html": "new home",
        "logos/kept-1234.png": "logo",
        "partners/edited/index.html": "new edit",
        "partners/kept/index.html": "kept page",
        "partners/new/index.html": "new partner",
        "was-a-file/index.html": "now a folder",
        "was-a-folder": "now a file",
    }
    assert not staging.exists()
    assert not (live / "partners" / "removed").exists()  # emptied folders go too
    assert live.stat().st_ino == live_folder
    assert (live / "partners/kept/index.html").stat().st_ino == kept_inode


def test_a_first_publish_moves_whole_folders(tmp_path: Path) -> None:
    live, staging = tmp_path / "site", tmp_path / "staging"
    _write(staging, {"a/b/c.html": "c", "d.html": "d"})
    folder = (staging / "a").stat().st_ino
    publish(staging, live, set())
    assert _tree(live) == {"a/b/c.html": "c", "d.html": "d"}
    assert (live / "a").stat().st_ino == folder  # renamed, not copied
