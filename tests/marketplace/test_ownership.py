"""`marketplace validate --changed-by USER --base REF` on a real temporary git repository:
a pull request may change only the listings its author maintains (as they were at REF)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from marketplace_app.cli import main
from tests.conftest import EXAMPLE_LISTINGS, VALID_LISTING


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.org", *args],  # noqa: S607
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """main: acme (maintained by acme-team and alice) and globex (bob); then a PR branch."""
    repo = tmp_path / "repo"
    listings = repo / "listings"
    listings.mkdir(parents=True)
    shutil.copy(EXAMPLE_LISTINGS / "_catalog.yaml", listings / "_catalog.yaml")
    (listings / "acme.yaml").write_text(
        VALID_LISTING.replace("maintainers: [acme-team]", "maintainers: [acme-team, alice]")
    )
    (listings / "globex.yaml").write_text(
        VALID_LISTING.replace("slug: acme", "slug: globex")
        .replace("maintainers: [acme-team]", "maintainers: [bob]")
        .replace("name: Acme Cloud", "name: Globex Cloud")
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", "pr")
    monkeypatch.chdir(repo)
    return repo


def commit(repo: Path) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "change")


def check(user: str, output: str = "json") -> Result:
    return CliRunner().invoke(
        main, ["validate", "listings", "--format", output, "--changed-by", user, "--base", "main"]
    )


def problems(result: Result) -> list[dict[str, object]]:
    found: list[dict[str, object]] = json.loads(result.stdout)
    return found


def test_a_maintainer_may_change_their_listing(repo: Path) -> None:
    listing = repo / "listings" / "acme.yaml"
    listing.write_text(listing.read_text().replace("Acme Cloud", "Acme Cloud Group"))
    commit(repo)
    result = check("Alice")  # GitHub logins are case-insensitive
    assert result.exit_code == 0, result.output
    assert problems(result) == []


def test_another_partners_listing_is_refused_on_its_maintainers_line(repo: Path) -> None:
    listing = repo / "listings" / "globex.yaml"
    # even adding oneself to the maintainers in the same change does not help
    listing.write_text(
        listing.read_text().replace("maintainers: [bob]", "maintainers: [bob, alice]")
    )
    commit(repo)
    result = check("alice")
    assert result.exit_code == 1
    [problem] = problems(result)
    assert problem["file"] == "listings/globex.yaml"
    assert problem["line"] == 2 and problem["field"] == "maintainers"
    assert "alice does not maintain this listing" in str(problem["message"])
    assert "bob" in str(problem["message"])


def test_github_annotations_for_ownership_problems(repo: Path) -> None:
    (repo / "listings" / "globex.yaml").unlink()
    commit(repo)
    result = check("alice", "github")
    assert result.exit_code == 1
    assert result.stdout.startswith("::error file=listings/globex.yaml,line=1,col=1")


def test_new_listings_must_name_their_author(repo: Path) -> None:
    new = repo / "listings" / "initech.yaml"
    new.write_text(
        VALID_LISTING.replace("slug: acme", "slug: initech").replace("Acme Cloud", "Initech Cloud")
    )
    commit(repo)
    [problem] = problems(check("alice"))
    assert problem["file"] == "listings/initech.yaml" and problem["line"] == 2
    assert "add alice to maintainers" in str(problem["message"])
    new.write_text(new.read_text().replace("maintainers: [acme-team]", "maintainers: [alice]"))
    commit(repo)
    assert check("alice").exit_code == 0


def test_logos_belong_to_their_listing(repo: Path) -> None:
    from tests.marketplace.test_logo import png_bytes

    (repo / "listings" / "globex.png").write_bytes(png_bytes())
    (repo / "listings" / "acme.png").write_bytes(png_bytes())
    commit(repo)
    found = problems(check("alice"))
    assert [p["file"] for p in found] == ["listings/globex.png"]


def test_catalog_and_other_files_are_for_the_owners(repo: Path) -> None:
    catalog = repo / "listings" / "_catalog.yaml"
    catalog.write_text(catalog.read_text() + "\n")
    (repo / "listings" / "notes.txt").write_text("hello")
    commit(repo)
    messages = [str(p["message"]) for p in problems(check("alice"))]
    assert any("marketplace owners" in m for m in messages)
    assert any("only listings" in m for m in messages)


def test_a_base_git_does_not_know_is_a_clear_error(repo: Path) -> None:
    result = CliRunner().invoke(
        main, ["validate", "listings", "--changed-by", "alice", "--base", "no-such-branch"]
    )
    assert result.exit_code == 1
    assert "cannot compare with no-such-branch" in result.output
    assert "Traceback" not in result.output


def test_both_options_or_neither(repo: Path) -> None:
    result = CliRunner().invoke(main, ["validate", "listings", "--changed-by", "alice"])
    assert result.exit_code == 2 and "go together" in result.output


@pytest.mark.timeout(60)
def test_a_listing_replaced_by_a_link_is_refused_not_read(repo: Path) -> None:
    """A pull request replacing a listing with a link to /dev/zero: CI answers, it does not
    read forever (the link itself is refused by validation)."""
    listing = repo / "listings" / "acme.yaml"
    listing.unlink()
    listing.symlink_to("/dev/zero")
    commit(repo)
    result = check("alice")
    assert result.exit_code == 1
    messages = [str(problem["message"]) for problem in problems(result)]
    assert "a listing must be a file itself, not a link or a special file" in messages
