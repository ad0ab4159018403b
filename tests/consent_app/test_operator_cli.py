"""The operator commands of `marketplace`: each does one thing, says what it did, and answers
mistakes with one line and exit status 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from consent_app.db import head_revision
from marketplace_app.cli import main
from tests.conftest import EXAMPLE_LISTINGS, install_example_snapshot


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    install_example_snapshot(tmp_path / "i")  # what `marketplace build` leaves for `keys issue`

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, [*args, "--instance", str(tmp_path / "i")])

    return run


def test_db_upgrade_creates_the_database(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert f"is at revision {head_revision()}" in result.output
    assert (tmp_path / "i" / "marketplace.sqlite3").exists()
    assert run("db", "upgrade").exit_code == 0  # twice is fine


def test_tenants_add_and_list(run) -> None:  # type: ignore[no-untyped-def]
    added = run(
        "tenants",
        "add",
        "Fabrikam.OnMicrosoft.com",
        "--name",
        "Fabrikam",
        "--admin",
        "Admin@Fabrikam.example",
        "--admin",
        "it@fabrikam.example",
    )
    assert added.exit_code == 0, added.output
    assert "fabrikam.onmicrosoft.com" in added.output
    china = run(
        "tenants",
        "add",
        "contoso.cn",
        "--name",
        "Contoso CN",
        "--admin",
        "a@b.cn",
        "--cloud",
        "21vianet",
    )
    assert china.exit_code == 0
    listed = json.loads(run("tenants", "list", "--json").output)
    assert [t["domain"] for t in listed] == ["contoso.cn", "fabrikam.onmicrosoft.com"]
    assert listed[1]["admins"] == ["admin@fabrikam.example", "it@fabrikam.example"]
    assert listed[0]["cloud"] == "21vianet"
    assert (
        run("tenants", "add-admin", "fabrikam.onmicrosoft.com", "third@fabrikam.example").exit_code
        == 0
    )
    assert "third@fabrikam.example" in run("tenants", "list").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not_a_domain", "--name", "X", "--admin", "a@b.example"], "not a tenant domain"),
        (["x.example", "--name", "X", "--admin", "nope"], "ADMIN"),
        (["x.example", "--name", "", "--admin", "a@b.example"], "printable characters"),
        (["x.example", "--name", "X", "--admin", "a@b.example", "--cloud", "mars"], "mars"),
    ],
)
def test_tenants_add_mistakes(run, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    result = run("tenants", "add", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_tenant_exists_already(run) -> None:  # type: ignore[no-untyped-def]
    args = ("tenants", "add", "x.example", "--name", "X", "--admin", "a@b.example")
    assert run(*args).exit_code == 0
    again = run(*args)
    assert again.exit_code == 1 and "exists already" in again.output


def test_keys_issue_list_revoke(run) -> None:  # type: ignore[no-untyped-def]
    issued = run("keys", "issue", "contoso-cloud")
    assert issued.exit_code == 0
    secret = issued.stdout.strip().splitlines()[-1]
    assert secret.startswith("mpk_")
    key_id = secret.split("_")[1]
    listed = run("keys", "list")
    assert key_id in listed.output and "active" in listed.output
    assert secret.split("_", 2)[2] not in listed.output  # never the secret
    assert run("keys", "revoke", key_id).exit_code == 0
    assert "revoked" in run("keys", "list", "contoso-cloud").output
    again = run("keys", "revoke", key_id)
    assert again.exit_code == 1 and "revoked already" in again.output
    unknown = run("keys", "issue", "no-such-partner")
    assert unknown.exit_code == 1 and "no listing" in unknown.output


def test_mail_send_and_status(run) -> None:  # type: ignore[no-untyped-def]
    assert "no installation" in run("mail", "status").output  # nothing there yet
    assert run("db", "upgrade").exit_code == 0
    assert "unsent: 0" in run("mail", "status").output
    result = run("mail", "send")
    assert result.exit_code == 0 and "Sent 0" in result.output


@pytest.mark.postgresql
def test_postgresql_database_must_be_upgraded_first(tmp_path: Path) -> None:
    from tests.consent_app.conftest import postgresql_schema

    with postgresql_schema() as url:
        env = {"MARKETPLACE_DATABASE_URL": url}
        args = ["--instance", str(tmp_path / "i"), "--listings", str(EXAMPLE_LISTINGS)]
        before = CliRunner().invoke(main, ["tenants", "list", *args], env=env)
        assert before.exit_code == 1 and "marketplace db upgrade" in before.output
        assert CliRunner().invoke(main, ["db", "upgrade", *args], env=env).exit_code == 0
        after = CliRunner().invoke(main, ["tenants", "list", *args], env=env)
        assert after.exit_code == 0 and "No tenants yet" in after.output
