"""When each listing was first published and last changed: from git, else the file's mtime.

One `git log` over the listings folder gives every listing's dates at once (per-file git calls
would cost a process per partner). Files git does not know, or a folder outside a repository,
fall back to the file's modification time. A committed file edited but not yet committed keeps
its commit dates: a checkout resets every mtime, so mtimes of tracked files mean nothing.

The site (partner pages, feeds, "newest") and the search index (sort by newest) both date
listings with this module, so the two never disagree on when a partner was first published.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class ListingDates:
    """First-published and last-updated times of one listing."""

    published: datetime
    updated: datetime


def _git_times(folder: Path) -> dict[str, tuple[int, int]]:
    """file name -> (first commit time, last commit time) for files in `folder`."""
    git = shutil.which("git")
    if git is None:
        return {}
    try:
        output = subprocess.run(
            [git, "log", "--format=%x00%ct", "--name-only", "--relative", "--", "."],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    times: dict[str, tuple[int, int]] = {}
    when = 0
    for line in output.splitlines():
        if line.startswith("\0"):
            when = int(line[1:])
        elif line and "/" not in line:
            first, last = times.get(line, (when, when))
            # git log runs newest first: the last time seen is the oldest commit.
            times[line] = (min(first, when), max(last, when))
    return times


def listing_dates(paths: list[Path]) -> dict[Path, ListingDates]:
    """Dates for each listing file (all in one folder)."""
    if not paths:
        return {}
    committed = _git_times(paths[0].parent)
    dates: dict[Path, ListingDates] = {}
    for path in paths:
        times = committed.get(path.name)
        if times is None:  # not committed (or not a git checkout): its modification time
            mtime = int(path.stat().st_mtime)
            times = (mtime, mtime)
        dates[path] = ListingDates(_utc(times[0]), _utc(times[1]))
    return dates


def _utc(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)
