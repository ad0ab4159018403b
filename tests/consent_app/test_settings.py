"""One configuration: `Settings` built once at the edge from defaults, the instance folder's
key files and `MARKETPLACE_*` variables; a bad value stops start-up with one line naming the
variable; `marketplace config` shows every value, where it came from, and no secret."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from consent_app.models import OutboxMessage
from consent_app.settings import Settings, SettingsError
from marketplace_app.cli import main
from marketplace_app.config import (
    COMMAND_LINE,
    DEFAULT,
    ENVIRONMENT,
    INSTANCE_FILE,
    load_configuration,
    masked_url,
    settings_for,
)
from tests.conftest import PROJECT_ROOT
from tests.consent_app.conftest import Marketplace

PACKAGES = ("marketplace", "sitegen", "search", "consent_app", "marketplace_app")
ENVIRONMENT_READERS = {
    # The folder options' defaults, resolved by click before any setting exists.
    "marketplace_app/options.py": [
        "MARKETPLACE_INSTANCE",
        "MARKETPLACE_LISTINGS",
        "MARKETPLACE_SITE_DIR",
    ],
    # MkDocs' own switch, set for the MkDocs run the build starts.
    "marketplace_app/build.py": ["NO_MKDOCS_2_WARNING"],
}
"""The only places outside `marketplace_app.config` that may touch the environment, and why."""


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No MARKETPLACE_* variable but those a test sets."""
    for name in list(os.environ):
        if name.startswith("MARKETPLACE_"):
            monkeypatch.delenv(name)
    return monkeypatch


# --- defaults, environment, instance files ------------------------------------------------------


def test_defaults(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "instance")
    assert settings.instance_dir == (tmp_path / "instance").absolute()
    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'marketplace.sqlite3'}"
    assert settings.base_url == "http://127.0.0.1:8000/"
    assert settings.smtp_url is None and settings.mail_dir == tmp_path / "instance" / "mail"
    assert settings.mail_from == "Partner Marketplace <marketplace@localhost>"
    assert settings.mail_delivery == "background"
    assert settings.invitation_lifetime == timedelta(days=30)
    assert settings.trusted_proxies == 0 and settings.rate_limits and not settings.smtputf8
    assert settings.rate_limit_storage_url == "memory://"
    assert settings.api_rate_limit == "600 per minute"
    assert settings.invitation_rate_limit == "60 per minute; 1000 per day"
    assert settings.initial_domain_suffix == "onmicrosoft.com"
    assert (settings.mail_retry_after, settings.mail_lease) == (
        timedelta(seconds=30),
        timedelta(seconds=300),
    )
    assert settings.listings_dir == Path("listings").absolute()
    assert settings.site_dir == Path("site").absolute()
    assert settings.partners_snapshot == tmp_path / "instance" / "partners.snapshot.json"


def test_the_environment_sets_and_the_command_line_wins(
    tmp_path: Path, environment: pytest.MonkeyPatch
) -> None:
    environment.setenv("MARKETPLACE_INSTANCE", str(tmp_path / "from-env"))
    environment.setenv("MARKETPLACE_BASE_URL", "https://marketplace.example")
    environment.setenv("MARKETPLACE_DATABASE_URL", "postgresql://app@db.example/marketplace")
    environment.setenv("MARKETPLACE_INVITATION_DAYS", "7")
    environment.setenv("MARKETPLACE_RATE_LIMITS", "OFF")
    environment.setenv("MARKETPLACE_SMTP_URL", "")  # empty: not configured
    loaded = load_configuration(
        overrides={"invitation_days": 3}, fallbacks={"base_url": "http://127.0.0.1:9000/"}
    )
    settings = loaded.settings
    assert settings.instance_dir == tmp_path / "from-env"
    assert settings.base_url == "https://marketplace.example/"  # the environment beats a fallback
    assert settings.database_url == "postgresql+psycopg://app@db.example/marketplace"
    assert settings.invitation_days == 3  # the command line beats the environment
    assert not settings.rate_limits and settings.smtp_url is None
    assert loaded.origins["base_url"] == ENVIRONMENT
    assert loaded.origins["invitation_days"] == COMMAND_LINE
    assert loaded.origins["mail_from"] == DEFAULT


def test_the_keys_come_from_the_instance_folder_unless_set(
    tmp_path: Path, environment: pytest.MonkeyPatch
) -> None:
    instance = tmp_path / "instance"
    first = load_configuration(instance)
    assert first.origins["secret_key"] == first.origins["audit_key"] == INSTANCE_FILE
    secret = first.settings.secret_key.get_secret_value()
    assert secret == (instance / "secret_key").read_text().strip()
    assert first.settings.audit_key.get_secret_value() == (instance / "audit_key").read_text()
    for name in ("secret_key", "audit_key"):
        assert (instance / name).stat().st_mode & 0o777 == 0o600
    assert load_configuration(instance).settings.secret_key.get_secret_value() == secret  # kept

    environment.setenv("MARKETPLACE_SECRET_KEY", "s" * 40)
    environment.setenv("MARKETPLACE_AUDIT_KEY", "a" * 40)
    from_environment = load_configuration(instance)
    assert from_environment.settings.secret_key.get_secret_value() == "s" * 40
    assert from_environment.settings.audit_key.get_secret_value() == "a" * 40
    assert from_environment.origins["audit_key"] == ENVIRONMENT

    environment.setenv("MARKETPLACE_SECRET_KEY", "")  # empty means unset, as it always did
    assert load_configuration(instance).settings.secret_key.get_secret_value() == secret


def test_an_unusable_key_file_is_one_line(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "secret_key").write_text("\n")
    with pytest.raises(SettingsError, match=r"^MARKETPLACE_SECRET_KEY is not set and .*empty"):
        settings_for(instance)


# --- bad values ---------------------------------------------------------------------------------

BAD_VALUES = [
    ("MARKETPLACE_BASE_URL", "marketplace.example", "must start with http"),
    ("MARKETPLACE_INVITATION_DAYS", "0", "from 1 to 365"),
    ("MARKETPLACE_INVITATION_DAYS", "many", "from 1 to 365"),
    ("MARKETPLACE_TRUSTED_PROXIES", "-1", "from 0 to 10"),
    ("MARKETPLACE_RATE_LIMITS", "yes", "on or off"),
    ("MARKETPLACE_SMTPUTF8", "1", "on or off"),
    ("MARKETPLACE_MAIL_DELIVERY", "later", "background, inline or off"),
    ("MARKETPLACE_MAIL_RETRY_SECONDS", "soon", "whole number of seconds"),
    ("MARKETPLACE_MAIL_LEASE_SECONDS", "0", "whole number of seconds"),
    ("MARKETPLACE_API_RATE_LIMIT", "lots", "limits such as"),
    ("MARKETPLACE_INVITATION_RATE_LIMIT", "0 per day", "limits such as"),
    ("MARKETPLACE_INITIAL_DOMAIN_SUFFIX", "not a domain", "a domain such as"),
    ("MARKETPLACE_SMTP_URL", "mail.example:25", "smtp://host"),
    ("MARKETPLACE_AUDIT_KEY", "short", "at least 32 characters"),
]


@pytest.mark.parametrize(("variable", "value", "message"), BAD_VALUES)
def test_a_bad_value_is_one_line_naming_the_variable(
    tmp_path: Path, environment: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    environment.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        load_configuration(tmp_path / "instance")
    text = str(refused.value)
    assert text.startswith(variable) and message in text and "\n" not in text
    with pytest.raises(SettingsError, match=f"^{variable}"):
        settings_for(tmp_path / "instance", **{variable: value})  # the same check in code


@pytest.mark.parametrize(
    "command", [["config"], ["tenants", "list"], ["audit", "verify"], ["keys", "list"]]
)
def test_commands_stop_at_a_bad_value_with_one_line(
    tmp_path: Path, environment: pytest.MonkeyPatch, command: list[str]
) -> None:
    environment.setenv("MARKETPLACE_TRUSTED_PROXIES", "lots")
    result = CliRunner().invoke(main, [*command, "--instance", str(tmp_path / "i")])
    assert result.exit_code == 1
    assert (
        result.output.strip()
        == "Error: MARKETPLACE_TRUSTED_PROXIES must be a whole number from 0 to 10"
    )


def test_the_wsgi_worker_stops_with_one_line(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MARKETPLACE_")}
    env.update(MARKETPLACE_INSTANCE=str(tmp_path / "i"), MARKETPLACE_BASE_URL="ftp://x")
    worker = subprocess.run(
        [sys.executable, "-c", "import marketplace_app.wsgi"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode == 3  # gunicorn's "worker failed to boot": the master stops
    assert (
        worker.stderr == "marketplace: MARKETPLACE_BASE_URL must start with http:// or https://\n"
    )


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    with pytest.raises(ValueError, match="frozen"):
        settings.base_url = "http://elsewhere/"  # type: ignore[misc]
    assert isinstance(settings, Settings)


# --- nothing else reads the environment -----------------------------------------------------------

_READS = re.compile(r"\bos\.environ\b|\bgetenv\b|\benviron\[|EnvSettingsSource|pydantic_settings")


def test_nothing_else_reads_the_environment() -> None:
    found: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            name = path.relative_to(PROJECT_ROOT).as_posix()
            lines = [line.strip() for line in path.read_text().splitlines() if _READS.search(line)]
            if lines and name not in ("marketplace_app/config.py", "consent_app/settings.py"):
                found[name] = lines
    assert set(found) == set(ENVIRONMENT_READERS), found
    for name, lines in found.items():
        assert all(
            any(allowed in line for allowed in ENVIRONMENT_READERS[name]) for line in lines
        ), (name, lines)
    settings_module = (PROJECT_ROOT / "consent_app" / "settings.py").read_text()
    assert "os.environ" not in settings_module and "EnvSettingsSource" not in settings_module


def test_the_outbox_takes_its_timing_from_the_settings(
    app_factory: Callable[..., Flask],
) -> None:
    class Broken:
        def send(self, message_id: str, recipient: str, raw: bytes) -> None:
            raise OSError("the server is down")

    market = Marketplace(
        app_factory(MARKETPLACE_MAIL_DELIVERY="off", MARKETPLACE_MAIL_RETRY_SECONDS="7")
    )
    market.add_tenant()
    assert market.invite(market.key()).status_code == 201
    backend = market.backend
    backend.transport = Broken()
    started = backend.clock()
    assert backend.deliver_now().failed == 1
    with backend.read() as session:
        message = session.execute(select(OutboxMessage)).scalars().one()
    assert timedelta(seconds=6) < message.next_attempt_at - started < timedelta(seconds=9)


# --- marketplace config -------------------------------------------------------------------------

SECRETS = {
    "MARKETPLACE_SECRET_KEY": "session-signing-secret-1234567890",
    "MARKETPLACE_AUDIT_KEY": "audit-chain-secret-abcdefghijklmnopqrstuvwxyz",
    "MARKETPLACE_DATABASE_URL": "postgresql://app:db-password-1@db.example:5432/marketplace",
    "MARKETPLACE_SMTP_URL": "smtp://mailer:smtp-password-2@mail.example:587?starttls=true",
    "MARKETPLACE_RATE_LIMIT_STORAGE_URL": "redis://:redis-password-3@cache.example:6379/0",
}
HIDDEN = ["session-signing-secret", "audit-chain-secret", "db-password-1", "smtp-password-2"]


def test_config_prints_every_setting_with_its_origin_and_no_secret(
    tmp_path: Path, environment: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        environment.setenv(name, value)
    environment.setenv("MARKETPLACE_BASE_URL", "https://marketplace.example/")
    result = CliRunner().invoke(main, ["config", "--instance", str(tmp_path / "i")])
    assert result.exit_code == 0, result.output
    for secret in [*HIDDEN, "redis-password-3"]:
        assert secret not in result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert set(lines) == {field.validation_alias for field in Settings.model_fields.values()}
    assert lines["MARKETPLACE_SECRET_KEY"].split()[1] == "********"
    assert "app:********@db.example:5432" in lines["MARKETPLACE_DATABASE_URL"]
    assert "mailer:********@mail.example:587" in lines["MARKETPLACE_SMTP_URL"]
    assert ":********@cache.example" in lines["MARKETPLACE_RATE_LIMIT_STORAGE_URL"]
    assert lines["MARKETPLACE_BASE_URL"].endswith("(environment)")
    assert lines["MARKETPLACE_MAIL_FROM"].endswith("(default)")
    assert lines["MARKETPLACE_INSTANCE"].endswith("(command line)")
    assert lines["MARKETPLACE_RATE_LIMITS"].split()[1] == "on"


def test_config_names_the_key_files_and_answers_json(
    tmp_path: Path, environment: pytest.MonkeyPatch
) -> None:
    environment.setenv("MARKETPLACE_INSTANCE", str(tmp_path / "i"))
    result = CliRunner().invoke(main, ["config", "--json"])
    assert result.exit_code == 0, result.output
    shown = {row["variable"]: row for row in json.loads(result.output)}
    key = shown["MARKETPLACE_AUDIT_KEY"]
    assert key["value"] == "********"
    assert key["origin"] == f"instance file {tmp_path / 'i' / 'audit_key'}"
    assert (tmp_path / "i" / "audit_key").read_text() not in result.output
    assert shown["MARKETPLACE_INSTANCE"]["origin"] == "environment"
    assert shown["MARKETPLACE_SMTP_URL"]["value"] == "(unset)"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://u:p%40ss@h:5432/d", "postgresql+psycopg://u:********@h:5432/d"),
        (
            "postgresql+psycopg://u@h/d?password=x&sslmode=require",
            "postgresql+psycopg://u@h/d?password=********&sslmode=require",
        ),
        ("redis://:pw@[::1]:6379/0", "redis://:********@[::1]:6379/0"),
        ("memory://", "memory://"),
        (
            "sqlite:////srv/marketplace/instance/marketplace.sqlite3",
            "sqlite:////srv/marketplace/instance/marketplace.sqlite3",
        ),
    ],
)
def test_masked_urls(url: str, shown: str) -> None:
    assert masked_url(url) == shown
