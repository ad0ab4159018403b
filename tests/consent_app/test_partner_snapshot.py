"""The backend reads the build's partner snapshot, not the listing YAML: an invalid listing in
the working tree stops only `build`/`validate`; workers and operator commands carry on; the
commands that need partners say when there is no snapshot yet; /healthz names the snapshot."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from consent_app.backend import backend_of
from marketplace.snapshot import SNAPSHOT_FILE_NAME, VERSION, read_snapshot
from marketplace_app.build import BuildPaths, inputs_newer_than
from marketplace_app.cli import main
from marketplace_app.config import settings_for
from marketplace_app.staging import MANIFEST
from marketplace_app.wiring import backend_app
from search.documents import partner_documents
from search.whoosh_engine import build_index, index_root
from tests.conftest import EXAMPLE_LISTINGS, PROJECT_ROOT, install_example_snapshot

BROKEN_LISTING = "slug: broken\nname: [not, a, name]\nservices: exchang-online\n"


@pytest.fixture
def broken_listings(tmp_path: Path) -> Path:
    """The example listings plus one that does not validate."""
    listings = tmp_path / "listings"
    shutil.copytree(EXAMPLE_LISTINGS, listings)
    (listings / "broken.yaml").write_text(BROKEN_LISTING, encoding="utf-8")
    return listings


@pytest.fixture
def installation(tmp_path: Path, broken_listings: Path) -> Iterator[Path]:
    """An instance folder with the snapshot of a good build, while the working tree's
    listings no longer validate."""
    instance = tmp_path / "instance"
    install_example_snapshot(instance)
    yield instance


def cli(instance: Path, listings: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main,
        [*args, "--instance", str(instance)],
        env={"MARKETPLACE_LISTINGS": str(listings), "MARKETPLACE_DATABASE_URL": None},
    )


def test_validate_and_build_stop_at_the_broken_listing(
    installation: Path, broken_listings: Path, tmp_path: Path
) -> None:
    assert CliRunner().invoke(main, ["validate", str(broken_listings)]).exit_code == 1
    built = CliRunner().invoke(
        main,
        ["build", "--listings", str(broken_listings), "--site-dir", str(tmp_path / "site")],
    )
    assert built.exit_code == 1 and "Build stopped" in built.output
    assert read_snapshot(installation / SNAPSHOT_FILE_NAME).listings  # the last good one stays


def test_operator_commands_run_with_a_broken_listing(
    installation: Path, broken_listings: Path, tmp_path: Path
) -> None:
    def ok(*args: str) -> Result:
        result = cli(installation, broken_listings, *args)
        assert result.exit_code == 0, result.output
        return result

    ok("db", "upgrade")
    ok("tenants", "add", "fabrikam.onmicrosoft.com", "--name", "Fabrikam", "--admin", "a@f.example")
    assert "fabrikam.onmicrosoft.com" in ok("tenants", "list").output
    secret = ok("keys", "issue", "contoso-cloud").stdout.strip().splitlines()[-1]
    assert secret.startswith("mpk_")
    assert "contoso-cloud" in ok("keys", "list").output
    assert "Audit log intact" in ok("audit", "verify").output
    ok("mail", "status")
    ok("mail", "send")
    ok("db", "backup", str(tmp_path / "backup.sqlite3"))
    # Old scripts still pass --listings; partners come from the snapshot all the same.
    legacy = cli(
        installation,
        broken_listings,
        "keys",
        "issue",
        "cape-collaboration",
        "--listings",
        str(broken_listings),
    )
    assert legacy.exit_code == 0, legacy.output


def test_commands_that_need_partners_say_to_build_first(tmp_path: Path) -> None:
    instance = tmp_path / "fresh"
    assert cli(instance, EXAMPLE_LISTINGS, "db", "upgrade").exit_code == 0
    assert cli(instance, EXAMPLE_LISTINGS, "tenants", "list").exit_code == 0  # no partners needed
    issued = cli(instance, EXAMPLE_LISTINGS, "keys", "issue", "contoso-cloud")
    assert issued.exit_code == 1
    assert issued.output == (
        f"Error: no partner snapshot at {instance.absolute() / SNAPSHOT_FILE_NAME}: "
        "run `marketplace build` first\n"
    )


def test_the_backend_starts_from_the_snapshot_with_a_broken_listing(
    installation: Path, broken_listings: Path
) -> None:
    settings = settings_for(installation, listings_dir=broken_listings)
    app = backend_app(settings, test_config={"TESTING": True})
    try:
        assert backend_of(app).directory.get("contoso-cloud") is not None
        assert backend_of(app).directory.get("broken") is None
    finally:
        backend_of(app).close()


def test_healthz_names_the_snapshot(installation: Path) -> None:
    app = backend_app(settings_for(installation), test_config={"TESTING": True})
    try:
        health = app.test_client().get("/healthz")
    finally:
        backend_of(app).close()
    snapshot = read_snapshot(installation / SNAPSHOT_FILE_NAME)
    assert health.json is not None  # 503 until a search index is built (test_health.py)
    assert health.json["partner_snapshot"] == {
        "version": VERSION,
        "content_hash": snapshot.stamp.content_hash,
        "built_at": snapshot.stamp.built_at.isoformat(),
        "partners": len(snapshot.listings),
    }


def _worker(instance: Path, listings: Path) -> subprocess.CompletedProcess[str]:
    """Start a WSGI worker (import the entry point, as gunicorn does) in a fresh process; it
    prints whether it loaded the listing validator."""
    script = (
        "import sys\nimport marketplace_app.wsgi\nprint('marketplace.validate' in sys.modules)\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("MARKETPLACE_")}
    env.update(MARKETPLACE_INSTANCE=str(instance), MARKETPLACE_LISTINGS=str(listings))
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_worker_starts_without_the_validator(installation: Path, broken_listings: Path) -> None:
    started = _worker(installation, broken_listings)
    assert started.returncode == 0, started.stderr
    assert started.stdout == "False\n"  # the listing validator was never imported


def test_a_worker_without_a_snapshot_stops_with_one_line(tmp_path: Path) -> None:
    stopped = _worker(tmp_path / "empty", EXAMPLE_LISTINGS)
    assert stopped.returncode == 3  # gunicorn's "worker failed to boot": the master stops
    assert stopped.stderr == (
        f"marketplace: no partner snapshot at {tmp_path / 'empty' / SNAPSHOT_FILE_NAME}: "
        "run `marketplace build` first\n"
    )


def test_serve_rebuilds_when_the_snapshot_is_missing_or_old(tmp_path: Path) -> None:
    instance, site = tmp_path / "instance", tmp_path / "site"
    paths = BuildPaths(EXAMPLE_LISTINGS, site, instance)
    site.mkdir()
    (site / "index.html").write_text("<h1>Partner Marketplace</h1>")
    (site / MANIFEST).write_text('{"files": ["index.html"]}')  # what a build's publish leaves
    snapshot = install_example_snapshot(instance)
    partners = read_snapshot(snapshot)
    build_index(
        index_root(instance), partner_documents(partners.catalog, list(partners.listings.values()))
    )
    os.utime(site / MANIFEST)
    assert not inputs_newer_than(paths)
    document = json.loads(snapshot.read_text(encoding="utf-8"))
    snapshot.write_text(json.dumps({**document, "version": 0}), encoding="utf-8")
    assert inputs_newer_than(paths)  # another format version: build it again
    snapshot.unlink()
    assert inputs_newer_than(paths)
