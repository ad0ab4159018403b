"""Every `marketplace` command answers a mistake with one line and the documented exit status
(README: Command line): 1 for a problem found or a mistake refused (`Error: …`), 2 for a usage
error (click's `Usage:` lines and one `Error: …`); never a traceback. Each command is run with
bad arguments through CliRunner, and a few in a process of their own."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from marketplace_app.cli import main
from tests.conftest import EXAMPLE_LISTINGS, PROJECT_ROOT, install_example_snapshot

TENANT = "fabrikam.onmicrosoft.com"


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An installation with a tenant, and the wrong places a mistaken command names."""
    root = tmp_path_factory.mktemp("mistakes")
    instance = root / "instance"
    install_example_snapshot(instance)
    corrupt = root / "corrupt"
    corrupt.mkdir()
    (corrupt / "marketplace.sqlite3").write_text("not a database")
    (root / "afile").write_text("neither a folder, an anchor nor a receipt\n")
    (root / "backup.sqlite3").write_text("already here")
    (root / "empty").mkdir()
    install_example_snapshot(root / "empty-with-snapshot")
    environment = clean_environment()
    for setup in (
        ["db", "upgrade"],
        ["tenants", "add", TENANT, "--name", "Fabrikam", "--admin", "it@fabrikam.example"],
    ):
        result = CliRunner().invoke(main, [*setup, "--instance", str(instance)], env=environment)
        assert result.exit_code == 0, result.output
    return {
        "instance": str(instance),
        "corrupt": str(corrupt),
        "tmp": str(root),
        "listings": str(EXAMPLE_LISTINGS),
    }


def clean_environment() -> dict[str, str | None]:
    """No `MARKETPLACE_*` variable of the machine running the tests."""
    return {name: None for name in os.environ if name.startswith("MARKETPLACE_")}


USAGE, MISTAKE = 2, 1

# (arguments, exit status, what the one line says); {instance} etc. are filled from `places`.
# Commands given --instance get the installation's unless they name their own.
CASES: list[tuple[list[str], int, str]] = [
    ([], USAGE, "Usage:"),
    (["nope"], USAGE, "No such command 'nope'"),
    # validate
    (["validate", "{tmp}/afile"], USAGE, "is a file"),
    (["validate", "--format", "xml", "{listings}"], USAGE, "'xml' is not one of"),
    (["validate", "--changed-by", "someone", "{listings}"], USAGE, "go together"),
    (["validate", "{tmp}/nowhere"], MISTAKE, "listings folder not found"),
    (
        ["validate", "--changed-by", "someone", "--base", "no-such-ref", "{tmp}/empty"],
        MISTAKE,
        "Error: cannot compare with no-such-ref",
    ),
    # schema
    (["schema", "--listings", "{tmp}/nowhere"], MISTAKE, "catalog file not found"),
    (["schema", "--listings", "{tmp}/afile"], USAGE, "is a file"),
    # build
    (["build", "--listings", "{tmp}/nowhere", "--site-dir", "{tmp}/site"], MISTAKE, "not found"),
    (["build", "--site-dir", "{tmp}/afile"], USAGE, "is a file"),
    (["build", "--instance", "{tmp}/afile"], USAGE, "is a file"),
    (["build", "--colour"], USAGE, "No such option"),
    # serve --watch's build process (hidden): the same folder options as build.
    (["build-worker", "--site-dir", "{tmp}/afile"], USAGE, "is a file"),
    (["build-worker", "--colour"], USAGE, "No such option"),
    # serve (a port in use: test_serve_on_a_port_in_use)
    (["serve", "--port", "0"], USAGE, "not in the range"),
    (["serve", "--port", "http"], USAGE, "'http' is not a valid integer"),
    (["serve", "--threads", "0"], USAGE, "not in the range"),
    (["serve", "--listings", "{tmp}/afile"], USAGE, "is a file"),
    # config
    (["config", "--instance", "{tmp}/afile"], USAGE, "is a file"),
    (["config", "--instance", "{tmp}/afile/sub"], MISTAKE, "cannot use the folder"),
    (["config", "--jsn"], USAGE, "No such option"),
    # db
    (["db"], USAGE, "Usage:"),
    (["db", "downgrade"], USAGE, "No such command"),
    (["db", "upgrade", "--instance", "{tmp}/afile/sub"], MISTAKE, "cannot use the folder"),
    (["db", "upgrade", "--instance", "{corrupt}"], MISTAKE, "cannot use the database"),
    (["db", "backup"], USAGE, "Missing argument 'TARGET'"),
    (["db", "backup", "{tmp}"], USAGE, "is a directory"),
    (["db", "backup", "{tmp}/nowhere/copy.sqlite3"], MISTAKE, "is not a folder"),
    (["db", "backup", "{tmp}/backup.sqlite3"], MISTAKE, "exists already"),
    (["db", "backup", "/proc/copy.sqlite3"], MISTAKE, "cannot create /proc/copy.sqlite3"),
    (["db", "backup", "{tmp}/b.sqlite3", "--instance", "{tmp}/empty"], MISTAKE, "no installation"),
    (["db", "backup", "{tmp}/b.sqlite3", "--instance", "{corrupt}"], MISTAKE, "cannot use the da"),
    # tenants
    (["tenants", "add", "bad..domain", "--name", "X", "--admin", "a@b.example"], MISTAKE, "DOMAIN"),
    (["tenants", "add", "x.onmicrosoft.com", "--admin", "a@b.example"], USAGE, "'--name'"),
    (["tenants", "add", "x.onmicrosoft.com", "--name", "X", "--admin", "nope"], MISTAKE, "ADMIN"),
    (
        ["tenants", "add", "x.onmicrosoft.com", "--name", "", "--admin", "a@b.example"],
        MISTAKE,
        "name",
    ),
    (
        [
            "tenants",
            "add",
            "x.onmicrosoft.com",
            "--name",
            "X",
            "--admin",
            "a@b.example",
            "--cloud",
            "mars",
        ],
        USAGE,
        "'mars' is not one of",
    ),
    (
        ["tenants", "add", TENANT, "--name", "X", "--admin", "a@b.example"],
        MISTAKE,
        "exists already",
    ),
    (
        ["tenants", "add-admin", "nobody.example", "a@b.example"],
        MISTAKE,
        "no tenant nobody.example",
    ),
    (["tenants", "add-admin", TENANT, "not-an-address"], MISTAKE, "EMAIL"),
    (["tenants", "add-admin", TENANT], USAGE, "Missing argument 'EMAIL'"),
    (["tenants", "remove", "nobody.onmicrosoft.com", "--yes"], MISTAKE, "no tenant or invitation"),
    (["tenants", "remove", "bad..domain", "--yes"], MISTAKE, "DOMAIN"),
    (["tenants", "remove"], USAGE, "Missing argument 'DOMAIN'"),
    (["tenants", "remove", TENANT], MISTAKE, "Aborted"),  # not confirmed: nothing removed
    (["tenants", "remove-admin", TENANT, "nobody@fabrikam.example", "--yes"], MISTAKE, "not an"),
    (["tenants", "remove-admin", TENANT, "it@fabrikam.example", "--yes"], MISTAKE, "only admin"),
    (["tenants", "remove-admin", TENANT, "not-an-address", "--yes"], MISTAKE, "EMAIL"),
    (["tenants", "remove-admin", TENANT], USAGE, "Missing argument 'EMAIL'"),
    (["tenants", "list", "--instance", "{tmp}/empty"], MISTAKE, "there is no installation"),
    (["tenants", "list", "--instance", "{corrupt}"], MISTAKE, "cannot use the database"),
    # keys
    (["keys", "issue"], USAGE, "Missing argument 'SLUG'"),
    (["keys", "issue", "nobody"], MISTAKE, "no listing has the slug 'nobody'"),
    (["keys", "issue", "contoso-cloud", "--instance", "{tmp}/fresh"], MISTAKE, "no partner snap"),
    (["keys", "list", "--instance", "{tmp}/empty-with-snapshot"], MISTAKE, "no installation"),
    (["keys", "revoke", "no-such-key"], MISTAKE, "no key has the id 'no-such-key'"),
    # partners
    (["partners", "add-user", "contoso-cloud"], USAGE, "Missing argument 'EMAIL'"),
    (["partners", "add-user", "nobody", "a@b.example"], MISTAKE, "no listing has the slug"),
    (["partners", "add-user", "contoso-cloud", "not-an-address"], MISTAKE, "not an e-mail"),
    (["partners", "list-users", "--instance", "{tmp}/empty"], MISTAKE, "there is no installation"),
    (["partners", "remove-user", "contoso-cloud", "x@b.example"], MISTAKE, "is not a user of"),
    (["partners", "list-users", "nobody"], MISTAKE, "no listing has the slug 'nobody'"),
    # leads
    (["leads", "remove"], USAGE, "Missing argument 'EMAIL'"),
    (["leads", "remove", "not-an-address", "--yes"], MISTAKE, "EMAIL: An email address must"),
    (
        ["leads", "remove", "a@b.example", "--yes", "--instance", "{tmp}/leads-instance"],
        MISTAKE,
        "no partner snapshot",
    ),
    # audit
    (["audit", "verify", "--anchors", "{tmp}/nowhere"], MISTAKE, "cannot read the anchor file"),
    (["audit", "verify", "--anchors", "{tmp}/afile"], MISTAKE, "holds no anchor"),
    (["audit", "verify", "--instance", "{tmp}/empty"], MISTAKE, "there is no installation"),
    (["audit", "anchor", "--to", "{tmp}/nowhere/anchors.jsonl"], MISTAKE, "cannot append to"),
    (["audit", "anchor", "--to", "{tmp}"], USAGE, "is a directory"),
    (["audit", "check-receipt"], USAGE, "Missing argument 'RECEIPT_FILE'"),
    (["audit", "check-receipt", "{tmp}/nowhere.json"], MISTAKE, "cannot read the receipt"),
    (["audit", "check-receipt", "{tmp}/afile"], MISTAKE, "is not a consent receipt"),
    # mail
    (["mail", "status", "--instance", "{tmp}/empty"], MISTAKE, "there is no installation"),
    (["mail", "send", "--instance", "{tmp}/afile/sub"], MISTAKE, "cannot use the folder"),
    (["mail", "send", "--instance", "{corrupt}"], MISTAKE, "cannot use the database"),
    (["mail", "bounce"], USAGE, "No such command"),
    # csp
    (["csp", "--site-dir", "{tmp}/nowhere"], USAGE, "does not exist"),
    (["csp", "--site-dir", "{tmp}", "--api-origin", "api.example"], USAGE, "is not an origin"),
    (
        ["csp", "--site-dir", "{tmp}", "--api-origin", "https://api.example; script-src *"],
        USAGE,
        "is not an origin",
    ),
]

OPERATOR_COMMANDS_WITH_INSTANCE = ("db", "tenants", "keys", "partners", "leads", "audit", "mail")


def filled(arguments: list[str], places: dict[str, str]) -> list[str]:
    """The arguments with the places filled in, and the installation for an operator command
    that names none."""
    arguments = [argument.format(**places) for argument in arguments]
    if (
        arguments[:1]
        and arguments[0] in OPERATOR_COMMANDS_WITH_INSTANCE
        and len(arguments) > 1
        and "--instance" not in arguments
    ):
        arguments += ["--instance", places["instance"]]
    return arguments


def leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if isinstance(command, click.Group):
            yield from leaf_commands(command, (*prefix, name))
        else:
            yield (*prefix, name)


def test_every_command_has_a_mistake_here() -> None:
    """A new command gets its bad arguments added here."""
    covered = set()
    for arguments, _, _ in CASES:
        words = [word for word in arguments if not word.startswith("-")]
        covered.add(tuple(words[:2]))
        covered.add(tuple(words[:1]))
    missing = [" ".join(command) for command in leaf_commands(main) if command not in covered]
    assert not missing, f"no bad-argument case for: {missing}"


@pytest.mark.parametrize(
    ("arguments", "status", "says"), CASES, ids=[" ".join(case[0]) or "(none)" for case in CASES]
)
def test_a_mistake_gets_one_line(
    arguments: list[str], status: int, says: str, places: dict[str, str]
) -> None:
    result = CliRunner().invoke(main, filled(arguments, places), env=clean_environment())
    # An exception other than SystemExit is what a user would have seen as a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output + result.stderr
    assert result.exit_code == status, result.output + result.stderr
    assert says in result.output  # stdout and stderr: the validator reports on stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) <= 1, result.stderr
    if status == USAGE:
        assert result.stderr.startswith("Usage:") and not result.stdout


def run(*arguments: str) -> subprocess.CompletedProcess[str]:
    """`marketplace` in a process of its own, as an operator runs it."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MARKETPLACE_")}
    return subprocess.run(
        [sys.executable, "-m", "marketplace_app", *arguments],
        capture_output=True,
        text=True,
        env=environment,
        cwd=PROJECT_ROOT,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("arguments", "status", "says"),
    [
        (["db", "backup", "{tmp}/nowhere/copy.sqlite3"], MISTAKE, "is not a folder"),
        (["tenants", "list", "--instance", "{corrupt}"], MISTAKE, "cannot use the database"),
        (["keys", "issue", "nobody"], MISTAKE, "no listing has the slug"),
        (["csp", "--site-dir", "{tmp}", "--api-origin", "x;y"], USAGE, "is not an origin"),
        (["tenants", "add", "x.onmicrosoft.com"], USAGE, "Missing option '--name'"),
    ],
)
def test_a_mistake_in_a_process_of_its_own(
    arguments: list[str], status: int, says: str, places: dict[str, str]
) -> None:
    result = run(*filled(arguments, places))
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == status, result.stderr
    assert result.stderr.splitlines()[-1].startswith("Error:") and says in result.stderr


def _serve_stopped(listings: Path, site: Path, instance: Path, port: int) -> str:
    """`marketplace serve` run until it stops by itself (it must): what it said, once it is
    known to have said so without a traceback and with the status of a mistake."""
    result = run(
        "serve",
        "--listings",
        str(listings),
        "--site-dir",
        str(site),
        "--instance",
        str(instance),
        "--port",
        str(port),
    )
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == MISTAKE, result.stderr
    return result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_serve_on_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        said = _serve_stopped(EXAMPLE_LISTINGS, tmp_path / "site", tmp_path / "instance", port)
    assert said.splitlines()[-1] == "Error: Address already in use", said


def test_serve_with_a_broken_listing_and_nothing_built_says_why_and_stops(
    tmp_path: Path,
) -> None:
    """With nothing built before, a broken listing stops `serve` (whose build at start runs in
    its build process) with the listing's problem, as `marketplace build` would."""
    listings = tmp_path / "listings"
    shutil.copytree(EXAMPLE_LISTINGS, listings)
    (listings / "contoso-cloud.yaml").write_text("slug: [unclosed\n", encoding="utf-8")
    said = _serve_stopped(listings, tmp_path / "site", tmp_path / "instance", _free_port())
    assert "contoso-cloud.yaml" in said and "1 problem(s) in 1 file(s)" in said
    assert said.splitlines()[-1] == "Build stopped: fix the listings above first."
    assert "Serving" not in said


def test_serve_refuses_a_site_folder_holding_the_instance_folder(tmp_path: Path) -> None:
    """A site folder that would publish the instance folder (its secret key, its database)
    stops `serve`, though a partner snapshot from an earlier build is there to serve."""
    install_example_snapshot(tmp_path / "instance")
    said = _serve_stopped(EXAMPLE_LISTINGS, tmp_path, tmp_path / "instance", _free_port())
    assert "holds the instance folder" in said
    assert "Serving" not in said


@pytest.mark.slow
def test_serve_on_an_address_that_does_not_exist(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "serve",
            "--listings",
            str(EXAMPLE_LISTINGS),
            "--site-dir",
            str(tmp_path / "site"),
            "--instance",
            str(tmp_path / "instance"),
            "--host",
            "no.such.host.invalid",
        ],
        env=clean_environment(),
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code in (MISTAKE, USAGE) and "Error:" in result.stderr
