"""`marketplace validate` and `marketplace schema` as partners and CI run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from marketplace_app.cli import main
from tests.conftest import EXAMPLE_LISTINGS, ListingsFolder


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "marketplace_app", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=60,
    )


def broken(listings: ListingsFolder) -> None:
    listings.write_variant(
        "services: [exchange-online, teams]", "services: [exchang-online, teams]"
    )


def test_examples_pass_with_exit_zero() -> None:
    result = run("validate", str(EXAMPLE_LISTINGS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "14 listing(s) valid." in result.stderr


def test_text_format_and_exit_one(listings: ListingsFolder) -> None:
    broken(listings)
    result = run("validate", "listings", cwd=listings.root.parent)
    assert result.returncode == 1
    assert result.stdout == (
        "listings/acme.yaml:13:12: services[0]: unknown service 'exchang-online'; "
        "did you mean 'exchange-online'?\n"
    )
    assert "Traceback" not in result.stderr


def test_github_format(listings: ListingsFolder) -> None:
    broken(listings)
    result = run("validate", "listings", "--format", "github", cwd=listings.root.parent)
    assert result.returncode == 1
    assert result.stdout == (
        "::error file=listings/acme.yaml,line=13,col=12,title=services[0]::unknown service "
        "'exchang-online'; did you mean 'exchange-online'?\n"
    )


def test_json_format(listings: ListingsFolder) -> None:
    broken(listings)
    result = CliRunner().invoke(main, ["validate", str(listings.root), "--format", "json"])
    assert result.exit_code == 1
    (problem,) = json.loads(result.stdout)
    assert problem["line"] == 13 and problem["column"] == 12
    assert problem["field"] == "services[0]"
    assert problem["file"].endswith("acme.yaml")
    assert problem["message"].startswith("unknown service")


def test_missing_folder_is_a_located_error(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path / "nope"))
    assert result.returncode == 1
    assert result.stdout.endswith("nope:1:1: listings folder not found\n")


def test_schema_command_prints_json() -> None:
    result = run("schema", "--listings", str(EXAMPLE_LISTINGS))
    assert result.returncode == 0
    assert json.loads(result.stdout)["title"] == "Listing"


def test_build_refuses_invalid_listings(listings: ListingsFolder, tmp_path: Path) -> None:
    broken(listings)
    result = run(
        "build",
        "--listings",
        str(listings.root),
        "--site-dir",
        str(tmp_path / "s"),
        "--instance",
        str(tmp_path / "i"),
    )
    assert result.returncode == 1
    assert "unknown service 'exchang-online'" in result.stdout
    assert "Build stopped" in result.stderr
    assert not (tmp_path / "s").exists()
