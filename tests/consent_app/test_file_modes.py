"""Secrets at rest (issue 12 item 4): the SQLite database, its WAL and shared-memory files,
backups, the secret key and the audit key are readable by their owner only, whatever the
umask; and `db backup` answers mistakes with one line."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from consent_app.db import Database, upgrade
from consent_app.instance import audit_key, secret_key
from marketplace_app.cli import main
from tests.conftest import EXAMPLE_LISTINGS


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Run the test under a given umask (restored afterwards)."""
    monkeypatch.delenv("MARKETPLACE_SECRET_KEY", raising=False)
    monkeypatch.delenv("MARKETPLACE_AUDIT_KEY", raising=False)
    monkeypatch.delenv("MARKETPLACE_DATABASE_URL", raising=False)
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run(instance: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main, [*args, "--instance", str(instance), "--listings", str(EXAMPLE_LISTINGS)]
    )


def test_the_database_and_its_wal_are_private(umask: int, tmp_path: Path) -> None:
    path = tmp_path / "marketplace.sqlite3"
    database = Database(f"sqlite:///{path}")
    try:
        upgrade(database)
        with database.write() as session:
            session.execute(text("CREATE TABLE scratch (x INTEGER)"))
            session.execute(text("INSERT INTO scratch VALUES (1)"))
        # the pool keeps a connection open, so the WAL and its index are still there
        companions = [Path(f"{path}-wal"), Path(f"{path}-shm")]
        assert all(p.exists() for p in companions)
        for created in (path, *companions):
            assert mode(created) == 0o600, created.name
    finally:
        database.dispose()


def test_the_keys_are_private(umask: int, tmp_path: Path) -> None:
    secret_key(tmp_path)
    audit_key(tmp_path)
    assert mode(tmp_path / "secret_key") == 0o600
    assert mode(tmp_path / "audit_key") == 0o600


def test_an_installation_made_by_the_cli_is_private(umask: int, tmp_path: Path) -> None:
    instance = tmp_path / "i"
    added = run(
        instance, "tenants", "add", "a.onmicrosoft.com", "--name", "A", "--admin", "a@a.example"
    )
    assert added.exit_code == 0, added.output
    assert mode(instance) == 0o700
    for name in ("marketplace.sqlite3", "audit_key"):
        assert mode(instance / name) == 0o600, name


def test_a_backup_is_private(umask: int, tmp_path: Path) -> None:
    instance = tmp_path / "i"
    assert run(instance, "db", "upgrade").exit_code == 0
    target = tmp_path / "backup.sqlite3"
    result = run(instance, "db", "backup", str(target))
    assert result.exit_code == 0, result.output
    assert mode(target) == 0o600
    assert not Path(f"{target}-journal").exists()


def test_a_backup_into_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    instance = tmp_path / "i"
    assert run(instance, "db", "upgrade").exit_code == 0
    result = run(instance, "db", "backup", str(tmp_path / "no" / "such" / "backup.sqlite3"))
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception
    [line] = result.output.strip().splitlines()
    assert "no" in line and "Traceback" not in result.output


def test_a_backup_never_overwrites(tmp_path: Path) -> None:
    instance = tmp_path / "i"
    assert run(instance, "db", "upgrade").exit_code == 0
    target = tmp_path / "backup.sqlite3"
    target.write_text("precious")
    result = run(instance, "db", "backup", str(target))
    assert result.exit_code == 1 and "exists already" in result.output
    assert target.read_text() == "precious"


@pytest.mark.parametrize("make_key", [secret_key, audit_key])
def test_workers_starting_together_get_one_key(make_key: Any, tmp_path: Path) -> None:
    """Several workers creating the key at once: one key for all, and none reads it half
    written."""
    for attempt in range(20):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        start = threading.Barrier(8)

        def worker(folder: Path = folder, start: threading.Barrier = start) -> Any:
            start.wait()
            return make_key(folder)

        with ThreadPoolExecutor(8) as pool:
            keys = {future.result() for future in [pool.submit(worker) for _ in range(8)]}
        assert len(keys) == 1
        assert [p.name for p in folder.iterdir()] in (["secret_key"], ["audit_key"])
