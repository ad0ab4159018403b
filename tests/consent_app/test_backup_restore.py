"""A backup restores (OPERATIONS.md: Backups): `marketplace db backup` of a SQLite database in
use, put with the kept files (`audit_key`, `secret_key`, the partner snapshot) into a fresh
instance folder, passes `marketplace audit verify` and lets a customer sign in; without the
audit key it cannot be verified. A PostgreSQL database dumped and restored with the commands
OPERATIONS.md gives does the same."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, make_url, text

from consent_app.backend import backend_of
from consent_app.db import SQLITE_FILE_NAME
from consent_app.instance import AUDIT_KEY_FILE, SECRET_KEY_FILE
from marketplace.snapshot import SNAPSHOT_FILE_NAME
from marketplace_app.cli import main
from marketplace_app.config import settings_for
from marketplace_app.wiring import backend_app
from tests.conftest import install_example_snapshot
from tests.consent_app.conftest import (
    ADMIN,
    CHECKED,
    DA_OFFERS,
    POSTGRESQL_URL,
    TENANT,
    Marketplace,
)

KEPT = (AUDIT_KEY_FILE, SECRET_KEY_FILE, SNAPSHOT_FILE_NAME)
"""What OPERATIONS.md says to keep beside the database backups."""


def marketplace(*arguments: str, instance: Path, database_url: str | None = None) -> Result:
    return CliRunner().invoke(
        main,
        [*arguments, "--instance", str(instance)],
        env={"MARKETPLACE_DATABASE_URL": database_url},
    )


def open_market(instance: Path, database_url: str = "") -> Marketplace:
    settings = settings_for(
        instance,
        MARKETPLACE_DATABASE_URL=database_url,
        MARKETPLACE_MAIL_DELIVERY="inline",
        MARKETPLACE_BASE_URL="http://restored.test/",
    )
    return Marketplace(backend_app(settings, test_config={"TESTING": True}))


def restore(backup: Path, instance: Path, kept_from: Path, kept: tuple[str, ...] = KEPT) -> None:
    """A fresh instance folder with the backup as its database and the kept files."""
    instance.mkdir(mode=0o700)
    for name in kept:
        shutil.copy2(kept_from / name, instance / name)
    shutil.copy2(backup, instance / SQLITE_FILE_NAME)


def test_a_backup_restores_into_a_fresh_instance(tmp_path: Path) -> None:
    original = tmp_path / "original"
    install_example_snapshot(original)
    market = open_market(original)
    try:
        # A tenant, a partner's key, an invitation accepted: roles and audit chains to keep.
        market.add_tenant()
        partner = "contoso-cloud"
        key = market.key(partner)
        invited = market.invite(key, offer_id=DA_OFFERS[partner], delegated_admin=True)
        assert invited.status_code == 201, invited.get_data(as_text=True)
        market.decide(market.link(), authorize_delegated_admin=CHECKED)
        backup = tmp_path / "backups" / "marketplace.sqlite3"
        backup.parent.mkdir()
        made = marketplace("db", "backup", str(backup), instance=original)  # while the app runs
        assert made.exit_code == 0, made.output
        assert backup.stat().st_mode & 0o077 == 0
    finally:
        backend_of(market.app).close()

    restored = tmp_path / "restored"
    restore(backup, restored, kept_from=original)
    verified = marketplace("audit", "verify", instance=restored)
    assert verified.exit_code == 0, verified.output
    assert "Audit log intact" in verified.output
    listed = marketplace("tenants", "list", "--json", instance=restored)
    assert listed.exit_code == 0 and f'"delegated_admin": "{partner}"' in listed.output

    market = open_market(restored)
    try:
        customer = market.sign_in(ADMIN)
        page = customer.get("/account/")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert TENANT in text and "Contoso" in text
    finally:
        backend_of(market.app).close()


def test_without_its_audit_key_a_restore_cannot_be_verified(tmp_path: Path) -> None:
    original = tmp_path / "original"
    install_example_snapshot(original)
    assert marketplace("db", "upgrade", instance=original).exit_code == 0
    added = marketplace(
        "tenants", "add", TENANT, "--name", "Fabrikam", "--admin", ADMIN, instance=original
    )
    assert added.exit_code == 0, added.output
    backup = tmp_path / "marketplace.sqlite3.bak"
    assert marketplace("db", "backup", str(backup), instance=original).exit_code == 0

    restored = tmp_path / "restored"
    restore(backup, restored, kept_from=original, kept=(SECRET_KEY_FILE, SNAPSHOT_FILE_NAME))
    verified = marketplace("audit", "verify", instance=restored)  # a new audit key is made
    assert verified.exit_code == 1
    assert "Audit log BROKEN" in verified.output


@contextmanager
def postgresql_databases(count: int) -> Iterator[list[str]]:
    """URLs of `count` new, empty PostgreSQL databases (dropped afterwards)."""
    if not POSTGRESQL_URL:
        pytest.skip("set MARKETPLACE_TEST_POSTGRESQL_URL to run the PostgreSQL tests")
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump and pg_restore are not installed")
    names = [f"restore_{secrets.token_hex(6)}" for _ in range(count)]
    admin = create_engine(
        make_url(POSTGRESQL_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(POSTGRESQL_URL)
        yield [url.set(database=name).render_as_string(hide_password=False) for name in names]
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgresql
def test_a_postgresql_dump_restores(tmp_path: Path) -> None:
    with postgresql_databases(2) as (source, target):
        original = tmp_path / "original"
        install_example_snapshot(original)
        assert marketplace("db", "upgrade", instance=original, database_url=source).exit_code == 0
        added = marketplace(
            "tenants", "add", TENANT, "--name", "Fabrikam", "--admin", ADMIN,
            instance=original, database_url=source,
        )  # fmt: skip
        assert added.exit_code == 0, added.output
        dump = tmp_path / "marketplace.dump"
        # The commands of OPERATIONS.md, section 8 (the URL for the database name).
        pg_dump, pg_restore = shutil.which("pg_dump"), shutil.which("pg_restore")
        assert pg_dump and pg_restore
        subprocess.run(
            [pg_dump, "--format=custom", "--dbname", source, "--file", str(dump)], check=True
        )
        subprocess.run(
            [pg_restore, "--clean", "--if-exists", "--no-owner", "--dbname", target, str(dump)],
            check=True,
        )
        restored = tmp_path / "restored"
        restored.mkdir(mode=0o700)
        for name in KEPT:
            shutil.copy2(original / name, restored / name)
        verified = marketplace("audit", "verify", instance=restored, database_url=target)
        assert verified.exit_code == 0, verified.output
        market = open_market(restored, database_url=target)
        try:
            page = market.sign_in(ADMIN).get("/account/")
            assert page.status_code == 200 and TENANT in page.get_data(as_text=True)
        finally:
            backend_of(market.app).close()
