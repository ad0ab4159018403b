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
    settings = ["-c", "protocol.file.allow=always", "-c", "init.defaultBranch=main"]
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull}
    if when:
        env |= {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    return subprocess.run(
        [GIT, "-c", "user.name=Test", "-c", "user.email=test@example.com", *settings, *args],
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


def test_branches_merged_count_every_commit_however_the_builds_fell(
    listings: Path, tmp_path: Path
) -> None:
    """A side branch whose merge changes nothing in the folder (the same change made on both
    sides): git's default history leaves one side out, and which one depends on the commits
    asked for. Every commit counts (`--full-history`), so the times kept at the first merge
    plus those of the commits since are those of the whole history."""
    kept = tmp_path / "listing_dates.json"
    repo = listings.parent
    git(repo, "checkout", "-q", "-b", "side")
    commit(listings, "2024-03-01T10:00:00+00:00", alpha="a: side\n")
    git(repo, "checkout", "-q", "main")
    commit(listings, "2024-02-15T10:00:00+00:00", alpha="a: side\n")
    git(repo, "merge", "-q", "--no-ff", "-m", "first merge", "side")
    at_merge = committed_times(listings, kept)
    assert at_merge["alpha.yaml"] == (JAN, MAR)  # the side branch's commit counts
    git(repo, "checkout", "-q", "side")
    commit(listings, "2024-04-01T10:00:00+00:00", beta="b: side\n")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "second merge", "side")
    history._LAST.clear()
    assert committed_times(listings, kept) == from_scratch(listings)
    assert from_scratch(listings)["alpha.yaml"] == (JAN, MAR)


def test_nothing_is_kept_where_the_same_commit_can_show_another_history(
    listings: Path, tmp_path: Path
) -> None:
    """A shallow clone deepened later, or replace refs, show the same commit with another
    history: nothing is kept there, and each build reads what git shows now."""
    kept = tmp_path / "listing_dates.json"
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{listings.parent}", str(clone))
    shallow = committed_times(clone / "listings", kept)
    assert shallow == {"alpha.yaml": (FEB, FEB), "beta.yaml": (FEB, FEB)}
    assert not kept.exists()
    git(clone, "fetch", "-q", "--unshallow")
    assert committed_times(clone / "listings", kept) == {
        "alpha.yaml": (JAN, FEB),
        "beta.yaml": (JAN, JAN),
    }
    assert kept.exists()  # a whole clone now
    # The last commit grafted onto nothing: its history is itself, every file added in it.
    git(clone, "replace", "--graft", "HEAD")
    assert committed_times(clone / "listings", kept) == shallow
    git(clone, "replace", "-d", git(clone, "rev-parse", "HEAD").strip())
    assert committed_times(clone / "listings", kept)["alpha.yaml"] == (JAN, FEB)


@pytest.mark.parametrize(
    "times",
    [{"alpha.yaml": [10**20, 10**20]}, {"alpha.yaml": [2, 1]}, {"alpha.yaml": [True, 1]}],
)
def test_times_no_commit_could_have_are_not_believed(
    listings: Path, tmp_path: Path, times: dict[str, list[int]]
) -> None:
    kept = tmp_path / "listing_dates.json"
    committed_times(listings, kept)
    data = json.loads(kept.read_text())
    data["times"] = times
    kept.write_text(json.dumps(data))
    history._LAST.clear()
    assert committed_times(listings, kept) == from_scratch(listings)
    history._LAST.clear()
    assert listing_dates(sorted(listings.glob("*.yaml")), kept)  # no OverflowError


def test_a_head_that_is_no_commit_id_is_not_believed(listings: Path, tmp_path: Path) -> None:
    kept = tmp_path / "listing_dates.json"
    committed_times(listings, kept)
    data = json.loads(kept.read_text())
    data["head"] = f"--output={tmp_path / 'written'}"
    kept.write_text(json.dumps(data))
    history._LAST.clear()
    commit(listings, "2024-03-01T10:00:00+00:00", gamma="c: 1\n")
    assert committed_times(listings, kept) == from_scratch(listings)
    assert not (tmp_path / "written").exists()


def test_every_instance_folder_gets_the_times(listings: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "one" / "listing_dates.json", tmp_path / "two" / "listing_dates.json"
    assert committed_times(listings, first) == committed_times(listings, second)
    assert json.loads(first.read_text()) == json.loads(second.read_text())
