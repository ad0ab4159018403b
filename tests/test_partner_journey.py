"""What a partner relies on to get listed: the documented example listings validate, the pull
request workflow is a valid GitHub Actions workflow that runs the right checks, and the
pre-commit hook is declared."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from marketplace.validate import validate_directory
from tests.conftest import EXAMPLE_LISTINGS, PROJECT_ROOT

GUIDES = [
    PROJECT_ROOT / "CONTRIBUTING.md",
    PROJECT_ROOT / "site_src" / "en" / "get-listed.md",
    PROJECT_ROOT / "site_src" / "ru" / "get-listed.md",
]
WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "listings.yml"


@pytest.mark.parametrize(
    "guide", GUIDES, ids=lambda path: path.relative_to(PROJECT_ROOT).as_posix()
)
def test_the_example_listing_in_each_guide_validates(guide: Path, tmp_path: Path) -> None:
    example = re.search(r"```yaml\n(# yaml-language-server.*?)```", guide.read_text(), re.S)
    assert example, f"{guide} shows no complete example listing"
    listings = tmp_path / "listings"
    listings.mkdir()
    shutil.copy(EXAMPLE_LISTINGS / "_catalog.yaml", listings)
    shutil.copy(EXAMPLE_LISTINGS / "contoso-cloud.png", listings)
    (listings / "contoso-cloud.yaml").write_text(example.group(1), encoding="utf-8")
    report = validate_directory(listings)
    assert report.ok, [problem.as_text() for problem in report.problems]


def test_the_workflow_is_a_valid_github_actions_workflow() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    for schema in ("vendor.github-workflows", "custom.github-workflows-require-timeout"):
        result = subprocess.run(
            [str(checker), "--builtin-schema", schema, str(WORKFLOW)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflow_runs_the_partner_checks() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow[True]["pull_request"]["paths"] == ["listings/**"]  # YAML 1.1 reads "on" as True
    steps = workflow["jobs"]["check"]["steps"]
    runs = " ".join(step.get("run", "") for step in steps)
    assert "--format github" in runs and "--changed-by" in runs and "--base" in runs
    assert "marketplace build" in runs
    assert any(step.get("uses", "").startswith("actions/upload-artifact") for step in steps)
    checkout = next(step for step in steps if step.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0  # the base branch is needed for --base


def test_the_pre_commit_hook_and_the_pull_request_template() -> None:
    [hook] = yaml.safe_load((PROJECT_ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "marketplace-validate" and hook["language"] == "python"
    assert hook["entry"].startswith("marketplace validate") and hook["files"] == "^listings/"
    template = (PROJECT_ROOT / ".github" / "pull_request_template.md").read_text()
    assert "maintainers" in template and "- [ ]" in template
