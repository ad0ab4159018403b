"""A site is built into a staging folder and only then published over the live one.

Why: `marketplace serve` answers from the site folder while `serve --watch` rebuilds it, and
MkDocs empties its output folder before it writes. Built in place, every page answered 404 for
the length of a build (17-40 s at 10,000 partners), and a build that failed half-way left half a
site. Built aside, a failed build leaves the live site as it was, and publishing takes
milliseconds for an edit.

Why not swap the whole folder with one rename: the site folder may be a mount point (a volume
a static server reads), which cannot be renamed, and an unchanged partner page is not copied
into the staging folder at all (10,000 of them per language): the build names it as kept
instead. So publishing merges: every staged file replaces its live counterpart with one rename
(a visitor gets the old page or the new one, never a missing or half-written one). A staged
file equal to the live one (bytes and permissions) is dropped rather than moved, so unchanged
pages keep their file (and a static host its caches).

What the build no longer makes (a removed partner's pages, an old logo) is removed using the
list of files the previous publish left, kept in the site folder itself (`MANIFEST`), never by
guessing: a file the build did not publish (an operator's `robots.txt`, `lost+found` on a
volume, anything in a folder given by mistake) is never deleted.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Collection
from pathlib import Path

from marketplace.files import files_under, write_whole

MANIFEST = ".marketplace-site.json"
"""In the site folder: every file the last publish left there (the backend never serves names
starting with a dot; static hosts should not either). Its modification time is when the site
was last published."""


def publish(staging: Path, live: Path, kept: Collection[str]) -> None:
    """Move everything in `staging` into `live`, and remove from `live` the files the last
    publish left that are neither staged nor in `kept` (paths relative to `live`,
    "/"-separated); `staging` is gone afterwards. A file that cannot be removed stays listed
    in the manifest, so the next publish tries again."""
    live.mkdir(parents=True, exist_ok=True)
    manifest = live / MANIFEST
    previous = read_manifest(live)
    staged = files_under(staging)
    published = set(staged) | set(kept)
    published.discard(MANIFEST)
    # Before anything moves, the manifest names every file that may be there once this
    # publish stops, wherever it stops: the next one then removes what it does not make.
    # (After an edit it names them already: written again only when that changes, as each
    # write sorts, encodes and syncs ~35,000 names at 10,000 partners.)
    if published | previous != previous:
        _write_manifest(manifest, published | previous)
    # Pages last: a page never goes live before a new stylesheet, script or image it names.
    with_pages = {
        "/".join(name.split("/")[:depth])
        for name in staged
        if name.endswith(".html")
        for depth in range(1, name.count("/") + 1)
    }
    _merge(staging, live, with_pages, pages=False)
    _merge(staging, live, with_pages, pages=True)
    shutil.rmtree(staging, ignore_errors=True)
    left = {name for name in previous - published if not _remove_file(live, name)}
    if published | left != previous or not _touched(manifest):
        _write_manifest(manifest, published | left)


def _touched(manifest: Path) -> bool:
    """Give the manifest the time of this publish (`inputs_newer_than` reads it as the time of
    the last); False when there is none."""
    try:
        os.utime(manifest)
    except FileNotFoundError:
        return False
    return True


def read_manifest(live: Path) -> set[str]:
    """The files the last publish left in `live` (empty when it has no readable manifest)."""
    try:
        files = json.loads((live / MANIFEST).read_text(encoding="utf-8"))["files"]
        return {name for name in files if isinstance(name, str) and _relative(name)}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def _relative(name: str) -> bool:
    """A path inside the folder: a manifest edited to name `../x` or `/x` removes nothing."""
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and ".." not in parts and "" not in parts


def _write_manifest(manifest: Path, files: set[str]) -> None:
    encoded = json.dumps({"files": sorted(files)}, separators=(",", ":")).encode()
    write_whole(manifest, lambda handle: handle.write(encoded))


def _merge(staging: Path, live: Path, with_pages: set[str], pages: bool, prefix: str = "") -> None:
    """Move the files of `staging` into `live`: the HTML pages (`pages`) or all others.
    `with_pages`: the staged folders (relative) that hold a page, however deep."""
    with os.scandir(staging) as entries:
        for entry in entries:
            target = live / entry.name
            if entry.is_dir(follow_symlinks=False):
                if target.is_dir() and not target.is_symlink():
                    mode = stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode)
                    if stat.S_IMODE(target.stat().st_mode) != mode:
                        os.chmod(target, mode)  # a static server may read as another user
                    name = prefix + entry.name
                    _merge(Path(entry.path), target, with_pages, pages, name + "/")
                    continue
                if (prefix + entry.name in with_pages) != pages:
                    continue  # a new folder moves whole: with the pages if it holds one
                _remove(target)
                # A folder the live site does not have yet (a new partner's, or everything on
                # a first build): one rename for the whole folder.
                os.rename(entry.path, target)
            elif entry.name.endswith(".html") != pages:
                continue
            elif _same_file(entry, target):
                # Left as it is: a static host's caches (ETag, Last-Modified) stay valid, and
                # most of a rebuild's browse pages and theme files are unchanged.
                os.unlink(entry.path)
            else:
                if target.is_dir() and not target.is_symlink():
                    _remove(target)
                os.replace(entry.path, target)


def _remove_file(live: Path, name: str) -> bool:
    """Remove `name` from `live`, and the folders it leaves empty; False when it is still
    there (it could not be removed)."""
    path = live / name
    try:
        if path.is_dir() and not path.is_symlink():
            return True  # a file then, a folder now: not this file any more
        path.unlink(missing_ok=True)
    except NotADirectoryError:  # a folder on its way is a file now
        return True
    except OSError:
        return False
    for folder in path.parents:
        if folder == live:
            break
        try:
            folder.rmdir()
        except OSError:  # not empty (or gone)
            break
    return True


def _same_file(staged: os.DirEntry[str], live: Path) -> bool:
    """True when `live` is a file with the bytes and permissions of `staged`."""
    try:
        new, old = staged.stat(follow_symlinks=False), live.stat(follow_symlinks=False)
        if not stat.S_ISREG(old.st_mode) or new.st_size != old.st_size:
            return False
        if stat.S_IMODE(new.st_mode) != stat.S_IMODE(old.st_mode):
            return False
        with open(staged.path, "rb") as new_file, open(live, "rb") as old_file:
            return new_file.read() == old_file.read()
    except OSError:  # gone meanwhile
        return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
