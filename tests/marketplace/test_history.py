"""Listing dates from git (`marketplace.history`): the commit times found are kept with their
commit, and a later build reads only the commits made since; whatever it kept, it dates every
listing as reading the whole history would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from marketplace import history
from marketplace.history import committed_times, listing_dates

GIT = shutil.which("git")
pytestmark = pytest.mark.skipif(GIT is None, reason="needs git")


def git(folder: Path, *args: str, when: str | None = None) -> str:
    assert GIT is not None
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull}
    if when:
        env |= {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    return subprocess.run(
        [GIT, "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def commit(folder: Path, when: str, **files: str) -> None:
    """Write `files` (name without ".yaml" -> text) and commit them at `when`."""
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    git(folder, "add", "--all")
    git(folder, "commit", "-q", "-m", when, when=when)


def from_scratch(folder: Path) -> dict[str, tuple[int, int]]:
    """The times as a process that kept nothing finds them: the whole history."""
    history._LAST.clear()
    return committed_times(folder)


@pytest.fixture(autouse=True)
def nothing_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "_LAST", [])


@pytest.fixture
def listings(tmp_path: Path) -> Path:
    folder = tmp_path / "repo" / "listings"
    folder.mkdir(parents=True)
    git(folder.parent, "init", "-q")
    commit(folder, "2024-01-01T10:00:00+00:00", alpha="a: 1\n", beta="b: 1\n")
    commit(folder, "2024-02-01T10:00:00+00:00", alpha="a: 2\n")
    return folder


JAN, FEB, MAR, APR = 1704103200, 1706781600, 1709287200, 1711965600
"""The commit times used below, as git reports them."""


def test_times_are_each_files_first_and_last_commit(listings: Path) -> None:
    assert committed_times(listings) == {"alpha.yaml": (JAN, FEB), "beta.yaml": (JAN, JAN)}
    outside = listings.parent.parent / "plain"
    outside.mkdir()
    assert committed_times(outside) == {}


def test_later_commits_are_read_on_top_of_what_was_kept(listings: Path, tmp_path: Path) -> None:
    kept = tmp_path / "instance" / "listing_dates.json"
    first = committed_times(listings, kept)
    assert json.loads(kept.read_text())["head"] == git(listings, "rev-parse", "HEAD").strip()
    # Kept for this commit: a name planted in the file shows the next build starts from it.
    data = json.loads(kept.read_text())
    data["times"]["planted.yaml"] = [1, 2]
    kept.write_text(json.dumps(data))
    history._LAST.clear()
    commit(listings, "2024-03-01T10:00:00+00:00", beta="b: 2\n", gamma="c: 1\n")
    commit(listings, "2024-04-01T10:00:00+00:00", gamma="c: 2\n")
    later = committed_times(listings, kept)
    assert later.pop("planted.yaml") == (1, 2)  # merged with what was kept, not read again
    assert committed_times(listings, kept)["planted.yaml"] == (1, 2)  # kept in this process
    assert later == from_scratch(listings)
    history._LAST.clear()
    assert later == {
        "alpha.yaml": first["alpha.yaml"],
        "beta.yaml": (JAN, MAR),
        "gamma.yaml": (MAR, APR),
    }
    # Nothing new since: what the file kept.
    assert committed_times(listings, kept) == {**later, "planted.yaml": (1, 2)}


def test_a_history_rewritten_is_read_again_whole(listings: Path, tmp_path: Path) -> None:
    kept = tmp_path / "listing_dates.json"
    committed_times(listings, kept)
    data = json.loads(kept.read_text())
    data["times"]["planted.yaml"] = [1, 2]
    kept.write_text(json.dumps(data))
    history._LAST.clear()
    # The last commit replaced (amended): the kept commit is no ancestor of the new one.
    (listings / "alpha.yaml").write_text("a: 3\n", encoding="utf-8")
    git(listings, "commit", "-q", "--amend", "-a", "-m", "again", when="2024-03-01T10:00:00+00:00")
    rewritten = committed_times(listings, kept)
    assert "planted.yaml" not in rewritten
    assert (
        rewritten
        == from_scratch(listings)
        == {
            "alpha.yaml": (JAN, MAR),
            "beta.yaml": (JAN, JAN),
        }
    )


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        '{"version": 1, "folder": "elsewhere", "head": "x", "times": {}}',
        '{"version": 99}',
        '{"version": 1, "folder": "FOLDER", "head": "HEAD", "times": {"alpha.yaml": [1]}}',
        '{"version": 1, "folder": "FOLDER", "head": "HEAD", "times": {"alpha.yaml": ["1", 2]}}',
        '{"version": 1, "folder": "FOLDER", "head": "HEAD", "times": []}',
        '{"version": 1, "folder": "FOLDER", "head": 7, "times": {}}',
    ],
)
def test_a_kept_file_not_of_this_folder_or_not_ours_is_not_believed(
    listings: Path, tmp_path: Path, content: str
) -> None:
    kept = tmp_path / "listing_dates.json"
    head = git(listings, "rev-parse", "HEAD").strip()
    folder = str(listings.resolve())
    kept.write_text(content.replace("FOLDER", folder).replace('"HEAD"', f'"{head}"'))
    assert committed_times(listings, kept) == from_scratch(listings)
    assert json.loads(kept.read_text())["head"] == head  # and replaced by a good one


def test_an_edit_not_committed_keeps_its_commit_dates(listings: Path, tmp_path: Path) -> None:
    kept = tmp_path / "listing_dates.json"
    before = listing_dates(sorted(listings.glob("*.yaml")), kept)
    (listings / "alpha.yaml").write_text("a: edited\n", encoding="utf-8")
    (listings / "new.yaml").write_text("n: 1\n", encoding="utf-8")
    after = listing_dates(sorted(listings.glob("*.yaml")), kept)
    assert after[listings / "alpha.yaml"] == before[listings / "alpha.yaml"]
    assert after[listings / "new.yaml"].published.timestamp() == int(
        (listings / "new.yaml").stat().st_mtime
    )


def test_a_kept_file_that_cannot_be_written_only_costs_time(listings: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("", encoding="utf-8")
    assert committed_times(listings, blocked / "listing_dates.json") == from_scratch(listings)
