"""Files written whole or not at all (the partner snapshot, the search index's own files), the
one rule for files read from a partner's pull request (`plain_file`), and the files of a built
folder (`files_under`)."""

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
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


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
