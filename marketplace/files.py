"""Files written whole or not at all (the partner snapshot, the search index's own files), the
one rule for files read from a partner's pull request (`plain_file`), what tells a file
rewritten since (`stamp`), and the files of a built folder (`files_under`)."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def write_whole(path: Path, write: Callable[[IO[bytes]], object], mode: int = 0o644) -> None:
    """Write `path` through `write` into a temporary file beside it, flushed to disk, then
    renamed over it: readers see the old file or the new one, never half of one, and a
    reader that has the old one mapped keeps its pages (it is replaced, not rewritten).
    `mode`: readable by all by default (mkstemp's 0600 would hide public data)."""
    aside = write_aside(path, write, mode)
    try:
        os.replace(aside, path)
    except BaseException:
        aside.unlink(missing_ok=True)
        raise


def write_aside(path: Path, write: Callable[[IO[bytes]], object], mode: int = 0o644) -> Path:
    """`write_whole` up to the rename: the temporary file beside `path`, on disk, for the
    caller to rename over `path` (or remove) when it is time."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Path(temporary)


def plain_file(path: Path) -> bool:
    """True when `path` is a regular file itself, not a link nor a device, pipe or folder.

    A pull request can add symbolic links: a "logo" linking to /dev/zero made validation read
    forever (and hang every partner's CI); one linking to a file elsewhere on the build
    machine would be published as that partner's logo. Partners add files, so only files
    are read."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def stamp(status: os.stat_result) -> str:
    """What identifies one version of a file: its inode, size, modification and change time.
    Writing the file anew, or into it, changes them; the change time cannot be set back
    (unlike the modification time), but two writes within one tick of the file system's clock
    share it (see `marketplace.validate.RememberedListings` for how that is ruled out)."""
    return f"{status.st_ino}:{status.st_size}:{status.st_mtime_ns}:{status.st_ctime_ns}"


def current_stamp(path: Path | str) -> str | None:
    """The `stamp` of the plain file at `path` now (None for a link, a folder or no file)."""
    try:
        status = os.lstat(path)
    except OSError:
        return None
    return stamp(status) if stat.S_ISREG(status.st_mode) else None


def files_under(folder: Path, prefix: str = "") -> list[str]:
    """Every file under `folder`, relative to it ("/"-separated, after `prefix`): a symbolic
    link is listed as a file, never followed."""
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            name = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                found += files_under(Path(entry.path), name + "/")
            else:
                found.append(name)
    return found
