"""When each listing was first published and last changed: from git, else the file's mtime.

One `git log` over the listings folder gives every listing's dates at once (per-file git calls
would cost a process per partner), and the times found are kept with the commit they are of,
so the next build reads only the commits made since (`committed_times`). Files git does not
know, or a folder outside a repository, fall back to the file's modification time. A committed
file edited but not yet committed keeps its commit dates: a checkout resets every mtime, so
mtimes of tracked files mean nothing.

The site (partner pages, feeds, "newest") and the search index (sort by newest) both date
listings with this module, so the two never disagree on when a partner was first published.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from marketplace.files import write_whole


@dataclass(frozen=True)
class ListingDates:
    """First-published and last-updated times of one listing."""

    published: datetime
    updated: datetime


GitTimes = dict[str, tuple[int, int]]
"""File name -> (first commit time, last commit time), for the files of one folder."""

DATES_FILE_VERSION = 1
_COMMIT = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
"""A commit id as git prints it (SHA-1, or SHA-256)."""
_TIMES = range(-(2**35), 2**35)
"""Commit times believed from a kept file (seconds: beyond, `datetime` cannot hold them)."""


def _git(folder: Path, *arguments: str, timeout: float = 60) -> str | None:
    """What git prints for `arguments`, run in `folder`; None when it fails or is absent."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        return subprocess.run(
            [git, *arguments],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
            timeout=timeout,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def _git_times(folder: Path, revisions: str) -> GitTimes | None:
    """The commit times of the files in `folder` over the commits of `revisions` (a commit:
    its whole history; "A..B": the commits after A up to B); None when git cannot tell.

    `--full-history`: every commit that changed a file counts, on whichever branch. git's
    default leaves out a side branch whose merge changed nothing in the folder (the same
    change made on both), and which side it leaves out depends on the commits asked for, so
    the times of A, then of A..B, would not add up to those of B."""
    output = _git(
        folder,
        "log",
        "--full-history",
        "--format=%x00%ct",
        "--name-only",
        "--relative",
        revisions,
        "--",
        ".",
        # The whole history of a large folder takes long (~13 ms a commit at 10,000 files);
        # past this the listings are dated by their files instead.
        timeout=600,
    )
    if output is None:
        return None
    times: GitTimes = {}
    when = 0
    for line in output.splitlines():
        if line.startswith("\0"):
            when = int(line[1:])
        elif line and "/" not in line:
            first, last = times.get(line, (when, when))
            times[line] = (min(first, when), max(last, when))
    return times


def _merged(older: GitTimes, newer: GitTimes) -> GitTimes:
    """The times over both sets of commits: the earliest first, the latest last."""
    merged = dict(older)
    for name, (first, last) in newer.items():
        before = merged.get(name)
        merged[name] = (
            (first, last) if before is None else (min(before[0], first), max(before[1], last))
        )
    return merged


@dataclass(frozen=True)
class _Known:
    folder: str
    head: str
    times: GitTimes


_LAST: list[tuple[_Known, set[Path]]] = []
"""The times this process found last, and the files it kept them in (a build process that
stays asks at every edit)."""


def committed_times(folder: Path, dates_file: Path | None = None) -> GitTimes:
    """The commit times of the files in `folder` at the checkout's current commit (empty
    outside a git checkout or before its first commit).

    Why kept, and where: `git log --name-only` compares each commit's tree with its parent's,
    and the listings are one folder of 10,000+ files, so its cost grows with every merged pull
    request (~13 ms a commit; 4.4 s for 301 commits over 10,000 listings, at every build and
    every edit under `serve`). Found once, the times are kept with the commit they are of, in
    this process and in `dates_file` (the instance folder's): the next build asks git only for
    the commits made since (none, at an edit), and the whole history again when the
    checkout's commit is not a descendant of that one (a rebase, another branch). Nothing is
    kept for a shallow clone, nor where grafts or replace refs rewrite the history: the same
    commit can show another history there once the clone is deepened or the refs change (and
    a shallow clone's history is short)."""
    view = _history_view(folder)
    if view is None:
        return {}
    head, keepable = view
    if not keepable:
        return _git_times(folder, head) or {}
    where = str(folder.resolve())
    last = next((item for item in _LAST if item[0].folder == where), None)
    known, written = last if last is not None else (None, set())
    if (known is None or known.head != head) and dates_file is not None:
        known = _read_dates_file(dates_file, where) or known
        written = {dates_file} if known is not None and known.head == head else set()
    if known is None or known.head != head:
        found = _times_at(folder, head, known)
        if found is None:
            return {}
        known, written = _Known(where, head, found), set()
    if dates_file is not None and dates_file not in written:
        _write_dates_file(dates_file, known)
        written.add(dates_file)
    _LAST[:] = [(known, written)]
    return dict(known.times)  # the caller's to change, not what is kept


def _history_view(folder: Path) -> tuple[str, bool] | None:
    """The checkout's commit, and whether its history is the same whenever it is asked for
    (not a shallow clone, no grafts, no replace refs); None outside a checkout or before
    its first commit."""
    shown = _git(
        folder, "rev-parse", "--is-shallow-repository", "--git-path", "info/grafts", "HEAD^{commit}"
    )
    if shown is None or len(lines := shown.splitlines()) != 3 or not _COMMIT.fullmatch(lines[2]):
        return None
    shallow, grafts, head = lines
    replaced = _git(folder, "for-each-ref", "--count=1", "--format=x", "refs/replace/")
    keepable = shallow == "false" and not (folder / grafts).exists() and replaced == ""
    return head, keepable


def _times_at(folder: Path, head: str, known: _Known | None) -> GitTimes | None:
    """The times at commit `head`: those `known` (of an earlier commit) merged with those of
    the commits since when `head` descends from it, else from the whole history."""
    if known is not None and _descends(folder, known.head, head):
        since = _git_times(folder, f"{known.head}..{head}")
        if since is not None:
            return _merged(known.times, since)
    return _git_times(folder, head)


def _descends(folder: Path, older: str, newer: str) -> bool:
    """True when commit `older` is an ancestor of `newer` (or the same)."""
    return _git(folder, "merge-base", "--is-ancestor", older, newer) is not None


def _read_dates_file(dates_file: Path, folder: str) -> _Known | None:
    """What `dates_file` holds for `folder`; None when it is missing, of another folder or
    format, or not what this module writes."""
    try:
        data = json.loads(dates_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != DATES_FILE_VERSION:
        return None
    head, times = data.get("head"), data.get("times")
    if data.get("folder") != folder or not isinstance(head, str) or not _COMMIT.fullmatch(head):
        return None
    if not isinstance(times, dict):
        return None
    known: GitTimes = {}
    for name, pair in times.items():
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and all(type(value) is int and value in _TIMES for value in pair)
            and pair[0] <= pair[1]
        ):
            return None
        known[name] = (pair[0], pair[1])
    return _Known(folder, head, known)


def _write_dates_file(dates_file: Path, known: _Known) -> None:
    """Keep `known` in `dates_file` (a file that cannot be written is only a slower next
    build)."""
    data = {
        "version": DATES_FILE_VERSION,
        "folder": known.folder,
        "head": known.head,
        "times": known.times,
    }
    text = json.dumps(data, separators=(",", ":")).encode()
    try:
        dates_file.parent.mkdir(parents=True, exist_ok=True)
        write_whole(dates_file, lambda handle: handle.write(text), mode=0o600)
    except OSError:
        pass


def listing_dates(paths: list[Path], dates_file: Path | None = None) -> dict[Path, ListingDates]:
    """Dates for each listing file (all in one folder); `dates_file`: where the commit times
    found are kept for the next build (`committed_times`)."""
    if not paths:
        return {}
    committed = committed_times(paths[0].parent, dates_file)
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
