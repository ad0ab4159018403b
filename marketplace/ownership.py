"""Who may change which listing: `marketplace validate --changed-by USER --base REF`.

A pull request may touch only the listings (and their logos) its author maintains, as the
listing's `maintainers` said *before* the change (at REF), so nobody can add themselves to
someone else's listing in the same pull request. A new listing must name its author among
its maintainers. The catalog and any other file in the listings folder are the marketplace
owners' to change.

Maintainers are compared case-insensitively with the GitHub login, literally: a team name
in `maintainers` does not let its members through (the check runs without GitHub's API), so
a partner who works with a team lists each member's login too.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from marketplace.catalog import CATALOG_FILE_NAME
from marketplace.files import plain_file
from marketplace.model import LOGO_EXTENSIONS
from marketplace.problems import Problem
from marketplace.yamlsource import YamlProblem, parse_document


class GitError(Exception):
    """git could not answer (not a repository, unknown REF); the message says which."""


@dataclass(frozen=True)
class Change:
    """One file changed since the base: git's status letter and the path from the repo root."""

    status: str  # A added, M modified, D deleted (renames are split into D + A)
    path: str


def _git(repository: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args],  # noqa: S607 - git from PATH, as a developer or CI runs it
            cwd=repository,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if done.returncode != 0:
        raise GitError(done.stderr.strip() or f"git {' '.join(args)} failed")
    return done.stdout


def changes_since(listings_dir: Path, base: str) -> tuple[Path, list[Change]]:
    """The repository root and the files under `listings_dir` changed on this branch since it
    left `base` (`git diff base...HEAD`, renames as a deletion plus an addition)."""
    folder = listings_dir.resolve()
    root = Path(_git(folder, "rev-parse", "--show-toplevel").strip())
    relative = folder.relative_to(root).as_posix()
    output = _git(root, "diff", "--name-status", "--no-renames", f"{base}...HEAD", "--", relative)
    found = []
    for line in output.splitlines():
        status, _, path = line.partition("\t")
        if path:
            found.append(Change(status[:1], path))
    return root, found


def _maintainers_at(root: Path, revision: str, path: str) -> set[str] | None:
    """The listing's maintainers at `revision` (lower-case), or None when it did not exist or
    cannot be read there."""
    try:
        text = _git(root, "show", f"{revision}:{path}")
    except GitError:
        return None
    return _maintainers_in(text)


def _maintainers_in(text: str) -> set[str] | None:
    try:
        value = parse_document(text).value
    except YamlProblem:
        return None
    handles = value.get("maintainers") if isinstance(value, dict) else None
    if not isinstance(handles, list):
        return None
    return {handle.lower() for handle in handles if isinstance(handle, str)}


def _maintainers_position(file: Path) -> tuple[int, int]:
    """Where `maintainers` is written in a listing (1, 1 when it cannot be found)."""
    if not plain_file(file):  # a link (to /dev/zero, say): validation refuses it
        return (1, 1)
    try:
        document = parse_document(file.read_text(encoding="utf-8"))
        return document.locate(("maintainers",))
    except (OSError, UnicodeDecodeError, YamlProblem, KeyError, TypeError):
        return (1, 1)


def _listing_path_for(path: str) -> str | None:
    """The listing a changed file belongs to: itself, or the listing a logo is named after."""
    name = Path(path).name
    suffix = Path(name).suffix.lower()
    if suffix in (".yaml", ".yml"):
        return path
    if suffix in LOGO_EXTENSIONS:
        return str(Path(path).with_name(Path(name).stem + ".yaml").as_posix())
    return None


def ownership_problems(listings_dir: Path, user: str, base: str) -> list[Problem]:
    """Every change since `base` that `user` may not make, as located problems."""
    root, changes = changes_since(listings_dir, base)
    login = user.lower()
    problems = []
    for change in changes:
        shown = change.path
        name = Path(change.path).name
        if name == CATALOG_FILE_NAME:
            problems.append(
                Problem(
                    shown,
                    1,
                    1,
                    "",
                    "the catalog is kept by the marketplace owners; "
                    "ask them in an issue instead of changing it in a listing pull request",
                )
            )
            continue
        listing_path = _listing_path_for(change.path)
        if listing_path is None:
            problems.append(
                Problem(
                    shown,
                    1,
                    1,
                    "",
                    "only listings (<slug>.yaml) and their logos belong in the listings folder",
                )
            )
            continue
        before = _maintainers_at(root, base, listing_path)
        if before is not None:
            if login not in before:
                who = ", ".join(sorted(before)) or "nobody"
                where = (
                    _maintainers_position(root / change.path)
                    if change.path == listing_path
                    else (1, 1)
                )
                problems.append(
                    Problem(
                        shown,
                        *where,
                        "maintainers",
                        f"{user} does not maintain this listing "
                        f"(maintainers before this change: {who}); only they may change it",
                    )
                )
            continue
        # A listing that did not exist at the base: its author must maintain it.
        if name.endswith((".yaml", ".yml")) and change.status == "D":
            continue  # added and removed again on the branch: nothing reaches the base
        current = root / listing_path
        after = None
        if plain_file(current):
            after = _maintainers_in(current.read_text(encoding="utf-8"))
        if after is None:
            if change.path == listing_path:
                continue  # the listing itself is broken: validation reports why
            problems.append(
                Problem(shown, 1, 1, "", f"a logo for {listing_path}, which does not exist")
            )
        elif login not in after:
            problems.append(
                Problem(
                    listing_path,
                    *_maintainers_position(current),
                    "maintainers",
                    f"a new listing must name its author: add {user} to maintainers",
                )
            )
    return sorted(set(problems))
