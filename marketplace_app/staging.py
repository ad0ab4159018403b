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
(a visitor gets the old page or the new one, never a missing or half-written one), then
whatever the build neither staged nor kept is removed. A staged file equal to the live one is
dropped rather than moved, so unchanged pages keep their file (and a static host its caches).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection
from pathlib import Path


def publish(
    staging: Path, live: Path, kept: Collection[str], previous: Collection[str] | None = None
) -> set[str]:
    """Move everything in `staging` into `live` and remove from `live` every file that is
    neither staged nor in `kept` (paths relative to `live`, "/"-separated); `staging` is gone
    afterwards. Returns every file of the published site.

    With `previous`, what the last publish returned, only those of its files neither staged
    nor kept now are removed, instead of walking the whole live folder (0.4 s at 10,000
    partners); without it, names starting with a dot at the top of `live` (scratch folders of
    a build, `.well-known` put there by an operator) are all that is left alone."""
    live.mkdir(parents=True, exist_ok=True)
    published = set(_files(staging))
    _merge(staging, live)
    shutil.rmtree(staging, ignore_errors=True)
    published.update(kept)
    if previous is None:
        _sweep(live, live, published)
    else:
        for name in set(previous) - published:
            _remove_file(live, name)
    return published


def _files(folder: Path, prefix: str = "") -> list[str]:
    """Every file under `folder`, relative to it."""
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            name = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                found += _files(Path(entry.path), name + "/")
            else:
                found.append(name)
    return found


def _merge(staging: Path, live: Path) -> None:
    with os.scandir(staging) as entries:
        for entry in entries:
            target = live / entry.name
            if entry.is_dir(follow_symlinks=False):
                if target.is_dir() and not target.is_symlink():
                    _merge(Path(entry.path), target)
                    continue
                _remove(target)
                # A folder the live site does not have yet (a new partner's, or everything on
                # a first build): one rename for the whole folder.
                os.rename(entry.path, target)
            elif _same_content(entry, target):
                # Left as it is: a static host's caches (ETag, Last-Modified) stay valid, and
                # most of a rebuild's browse pages and theme files are unchanged.
                os.unlink(entry.path)
            else:
                if target.is_dir() and not target.is_symlink():
                    _remove(target)
                os.replace(entry.path, target)


def _sweep(folder: Path, live: Path, published: set[str]) -> bool:
    """Remove the files under `folder` not `published`, and folders left empty; True when
    `folder` itself is now empty."""
    empty = True
    prefix = "" if folder == live else folder.relative_to(live).as_posix() + "/"
    with os.scandir(folder) as entries:
        for entry in entries:
            name = prefix + entry.name
            if not prefix and entry.name.startswith("."):
                empty = False
            elif entry.is_dir(follow_symlinks=False):
                if _sweep(Path(entry.path), live, published):
                    os.rmdir(entry.path)
                else:
                    empty = False
            elif name in published:
                empty = False
            else:
                os.unlink(entry.path)
    return empty


def _remove_file(live: Path, name: str) -> None:
    """Remove `name` from `live`, and the folders it leaves empty."""
    path = live / name
    if path.is_dir() and not path.is_symlink():
        return  # a file then, a folder now: something else's
    path.unlink(missing_ok=True)
    for folder in path.parents:
        if folder == live:
            break
        try:
            folder.rmdir()
        except OSError:  # not empty (or gone)
            break


def _same_content(staged: os.DirEntry[str], live: Path) -> bool:
    try:
        if staged.stat().st_size != live.stat(follow_symlinks=False).st_size:
            return False
        with open(staged.path, "rb") as new, open(live, "rb") as old:
            return new.read() == old.read()
    except OSError:  # not a file there, or gone
        return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
