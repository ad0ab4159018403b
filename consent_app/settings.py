"""The installation's settings: one typed, frozen object, built once at start-up.

Each setting is declared once here, with its variable (`MARKETPLACE_<NAME>`), type, default
and check. Constructing `Settings` reads nothing: the composition root
(`marketplace_app.config`) gathers the values from the environment, the instance folder and
the command line, so it can also say where each one came from (`marketplace config`), and
passes the object to the app and to the commands. Nothing in the backend reads the environment.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from consent_app.db import SQLITE_FILE_NAME, normalized_url
from marketplace.snapshot import SNAPSHOT_FILE_NAME

PREFIX = "MARKETPLACE_"
DEFAULT_BASE_URL = "http://127.0.0.1:8000/"
DEFAULT_INVITATION_DAYS = 30
MAX_INVITATION_DAYS = 365
SIGN_IN_LINK_MINUTES = 30
MIN_AUDIT_KEY_LENGTH = 32
DEFAULT_API_RATE_LIMIT = "600 per minute"
"""Partner API requests per API key, all endpoints together."""
DEFAULT_INVITATION_RATE_LIMIT = "60 per minute; 1000 per day"
"""Invitations and offers created per API key (each one mails a customer)."""
DEFAULT_INITIAL_DOMAIN_SUFFIX = "onmicrosoft.com"
"""The provider's own namespace: a new customer's tenant is `<name>.onmicrosoft.com`."""
_SUFFIX = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")


class SettingsError(ValueError):
    """A setting has a value the Marketplace cannot use; the message names the variable."""


def _variable(name: str, default: Any = ..., **field: Any) -> Any:
    """A field read from `MARKETPLACE_<name>` (and settable by its own name in code)."""
    return Field(default, validation_alias=PREFIX + name, **field)


def _bad(message: str) -> PydanticCustomError:
    return PydanticCustomError("setting", message)


def _whole(value: object, low: int, high: int, what: str = "a whole number") -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or not low <= int(text) <= high:
        raise _bad(f"must be {what} from {low} to {high}")
    return int(text)


def _switch(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() not in ("on", "off"):
        raise _bad("must be on or off")
    return str(value).lower() == "on"


class Settings(BaseSettings):
    """Everything the Marketplace needs to know about its installation."""

    model_config = SettingsConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True
    )

    instance_dir: Path = _variable("INSTANCE", Path("instance"))
    """The installation's state: database, search index, partner snapshot, keys, mail."""
    listings_dir: Path = _variable("LISTINGS", Path("listings"))
    """The listing files `marketplace build` reads (the backend reads the snapshot instead)."""
    site_dir: Path = _variable("SITE_DIR", Path("site"))
    """The built static site the backend serves at `/`."""
    database_url: str = _variable("DATABASE_URL", "", validate_default=True)
    """SQLAlchemy URL; empty means the SQLite file in the instance folder."""
    secret_key: SecretStr = _variable("SECRET_KEY")
    """Signs sessions and forms (else the key file in the instance folder)."""
    audit_key: SecretStr = _variable("AUDIT_KEY")
    """The audit log's HMAC key (else the key file in the instance folder)."""
    base_url: str = _variable("BASE_URL", DEFAULT_BASE_URL)
    """Where the backend is reached; ends with "/"; links in mail start with it."""
    smtp_url: str | None = _variable("SMTP_URL", None)
    """The SMTP server; None: mail goes into `<instance>/mail` as .eml files."""
    mail_from: str = _variable("MAIL_FROM", "Partner Marketplace <marketplace@localhost>")
    mail_delivery: str = _variable("MAIL_DELIVERY", "background")
    """background (a thread per process) | inline (after the commit, in the request) | off"""
    mail_retry_seconds: int = _variable("MAIL_RETRY_SECONDS", 30)
    """The wait after a first failed send; it doubles with each further failure."""
    mail_lease_seconds: int = _variable("MAIL_LEASE_SECONDS", 300)
    """How long a worker's claim on outbox messages lasts."""
    health_mail_age_seconds: int = _variable("HEALTH_MAIL_AGE_SECONDS", 900)
    """`/healthz` answers 503 while an unsent message is older than this."""
    invitation_days: int = _variable("INVITATION_DAYS", DEFAULT_INVITATION_DAYS)
    delegated_admin_max_days: int = _variable("DELEGATED_ADMIN_MAX_DAYS", 730)
    """The longest delegated administration a partner may ask for, in days."""
    delegated_admin_default_days: int = _variable("DELEGATED_ADMIN_DEFAULT_DAYS", 365)
    """How long `delegated_admin: true` asks for (at most the maximum)."""
    support_url: str = _variable("SUPPORT_URL", "https://support.example/contact")
    support_phone: str = _variable("SUPPORT_PHONE", "+1 800 555 0199")
    trusted_proxies: int = _variable("TRUSTED_PROXIES", 0)
    """Reverse proxies in front whose X-Forwarded-* headers are believed."""
    rate_limits: bool = _variable("RATE_LIMITS", True)
    rate_limit_storage_url: str = _variable("RATE_LIMIT_STORAGE_URL", "memory://")
    """Flask-Limiter storage: memory:// (per process), redis://… (shared by workers)."""
    api_rate_limit: str = _variable("API_RATE_LIMIT", DEFAULT_API_RATE_LIMIT)
    invitation_rate_limit: str = _variable("INVITATION_RATE_LIMIT", DEFAULT_INVITATION_RATE_LIMIT)
    initial_domain_suffix: str = _variable("INITIAL_DOMAIN_SUFFIX", DEFAULT_INITIAL_DOMAIN_SUFFIX)
    """New customers' tenants are created only as `<name>.<suffix>`."""
    smtputf8: bool = _variable("SMTPUTF8", False)
    """The SMTP server takes non-ASCII local parts (RFC 6531)."""
    webhook_allow_private: bool = _variable("WEBHOOK_ALLOW_PRIVATE", False)
    """Webhook endpoints may be private, loopback or link-local addresses, and plain http://
    to those (tests and development only: never where partners are strangers)."""
    webhook_timeout_seconds: int = _variable("WEBHOOK_TIMEOUT_SECONDS", 5)
    """How long one webhook delivery may take in all: resolving, connecting, the answer."""
    webhook_retry_seconds: int = _variable("WEBHOOK_RETRY_SECONDS", 60)
    """The wait after a first failed webhook delivery; it doubles with each further failure."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only what the caller passes: `marketplace_app.config` reads the sources itself.
        return (init_settings,)

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> Settings:
        """Settings from values keyed by field or variable name; `SettingsError` naming the
        variable (one line) for any value that does not fit."""
        try:
            return cls(**values)
        except ValidationError as error:
            raise SettingsError(describe_error(error)) from None

    # --- checks (each message follows the variable's name) ---

    @field_validator("instance_dir", "listings_dir", "site_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.absolute()

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str, info: ValidationInfo) -> str:
        if value:
            url = normalized_url(value)
            try:
                backend = make_url(url).get_backend_name()
            except ArgumentError:
                raise ValueError(
                    "must be a database URL such as postgresql://user:password@host:5432/name "
                    "or sqlite:////path/to/file"
                ) from None
            if backend not in ("sqlite", "postgresql"):
                raise ValueError(
                    f"{backend!r} databases are not supported: use PostgreSQL or SQLite"
                )
            return url
        instance = info.data.get("instance_dir")
        return f"sqlite:///{instance / SQLITE_FILE_NAME}" if instance else ""

    @field_validator("audit_key")
    @classmethod
    def _audit_key(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_AUDIT_KEY_LENGTH:
            raise _bad(
                f"must be at least {MIN_AUDIT_KEY_LENGTH} characters "
                '(e.g. python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise _bad("must not be empty")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise _bad("must start with http:// or https://")
        return value.rstrip("/") + "/"

    @field_validator("smtp_url", mode="before")
    @classmethod
    def _smtp_url(cls, value: object) -> str | None:
        if value is None or value == "":
            return None
        from urllib.parse import urlsplit

        text = str(value)
        parts = urlsplit(text)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise _bad("must look like smtp://host:25 or smtps://host")
        return text

    @field_validator("mail_delivery")
    @classmethod
    def _mail_delivery(cls, value: str) -> str:
        if value not in ("background", "inline", "off"):
            raise _bad("must be background, inline or off")
        return value

    @field_validator("invitation_days", mode="before")
    @classmethod
    def _invitation_days(cls, value: object) -> int:
        return _whole(value, 1, MAX_INVITATION_DAYS, "a whole number of days")

    @field_validator("delegated_admin_max_days", mode="before")
    @classmethod
    def _da_max_days(cls, value: object) -> int:
        return _whole(value, 1, 3650, "a whole number of days")

    @field_validator("delegated_admin_default_days", mode="before")
    @classmethod
    def _da_default_days(cls, value: object, info: ValidationInfo) -> int:
        longest = info.data.get("delegated_admin_max_days", 3650)
        return _whole(value, 1, longest, "a whole number of days, at most the maximum")

    @field_validator(
        "mail_retry_seconds", "mail_lease_seconds", "health_mail_age_seconds", mode="before"
    )
    @classmethod
    def _seconds(cls, value: object) -> int:
        return _whole(value, 1, 86_400, "a whole number of seconds")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> int:
        return _whole(value, 0, 10)

    @field_validator("rate_limits", "smtputf8", mode="before")
    @classmethod
    def _on_off(cls, value: object) -> bool:
        return _switch(value)

    @field_validator("api_rate_limit", "invitation_rate_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse_many

        try:
            parsed = parse_many(value)
        except ValueError:
            parsed = []
        if not parsed or any(item.amount < 1 for item in parsed):
            raise _bad(f"must be limits such as '60 per minute; 1000 per day' (got {value[:80]!r})")
        return value

    @field_validator("rate_limit_storage_url")
    @classmethod
    def _rate_limit_storage(cls, value: str) -> str:
        # Checked here so a worker says so in one line instead of dying in Flask-Limiter.
        from importlib.util import find_spec

        if value.partition("://")[0].lower().startswith("redis") and find_spec("redis") is None:
            raise _bad(
                "is a Redis URL, but the Redis client is not installed: install the "
                "Marketplace with its redis extra (pip install -c requirements.lock -e '.[redis]')"
            )
        return value

    @field_validator("initial_domain_suffix")
    @classmethod
    def _domain_suffix(cls, value: str) -> str:
        suffix = value.strip().lower().strip(".")
        if not _SUFFIX.match(suffix):
            raise _bad("must be a domain such as onmicrosoft.com")
        return suffix

    @field_validator("webhook_allow_private", mode="before")
    @classmethod
    def _webhook_allow_private(cls, value: object) -> bool:
        # 1 and 0 too: the guides write MARKETPLACE_WEBHOOK_ALLOW_PRIVATE=1.
        if isinstance(value, bool):
            return value
        if str(value).lower() not in ("on", "off", "1", "0"):
            raise _bad("must be on or off (or 1 or 0)")
        return str(value).lower() in ("on", "1")

    @field_validator("webhook_timeout_seconds", mode="before")
    @classmethod
    def _webhook_timeout(cls, value: object) -> int:
        return _whole(value, 1, 60, "a whole number of seconds")

    @field_validator("webhook_retry_seconds", mode="before")
    @classmethod
    def _webhook_retry(cls, value: object) -> int:
        return _whole(value, 1, 86_400, "a whole number of seconds")

    # --- what the rest of the code asks ---

    @property
    def mail_dir(self) -> Path:
        """Where messages go as .eml files when no SMTP server is configured."""
        return self.instance_dir / "mail"

    @property
    def partners_snapshot(self) -> Path:
        """The partner snapshot `marketplace build` writes and the backend reads."""
        return self.instance_dir / SNAPSHOT_FILE_NAME

    @property
    def invitation_lifetime(self) -> timedelta:
        """How long an invitation's link works."""
        return timedelta(days=self.invitation_days)

    @property
    def sign_in_lifetime(self) -> timedelta:
        """How long a customer's sign-in link works."""
        return timedelta(minutes=SIGN_IN_LINK_MINUTES)

    @property
    def mail_retry_after(self) -> timedelta:
        """The wait after a first failed send."""
        return timedelta(seconds=self.mail_retry_seconds)

    @property
    def mail_lease(self) -> timedelta:
        """How long claimed outbox messages are left to their worker."""
        return timedelta(seconds=self.mail_lease_seconds)

    @property
    def https(self) -> bool:
        """The backend is reached over HTTPS (secure cookies, HSTS)."""
        return self.base_url.startswith("https://")

    def link(self, path: str) -> str:
        """An absolute link for mail: `base_url` + `path` (without its leading slash)."""
        return self.base_url + path.lstrip("/")


def variable(field: str) -> str:
    """The environment variable of a `Settings` field."""
    alias = Settings.model_fields[field].validation_alias
    assert isinstance(alias, str)
    return alias


VARIABLES: dict[str, str] = {variable(name): name for name in Settings.model_fields}
"""Field names by variable name."""


def describe_error(error: ValidationError) -> str:
    """One line naming each variable whose value does not fit, and why."""
    parts = []
    for problem in error.errors():
        where = str(problem["loc"][0]) if problem["loc"] else "settings"
        name = variable(where) if where in Settings.model_fields else where
        if problem["type"] == "setting":
            parts.append(f"{name} {problem['msg']}")
        elif problem["type"] == "missing":
            parts.append(f"{name} is not set")
        elif problem["type"] == "extra_forbidden":
            parts.append(f"{name} is not a setting")
        else:
            parts.append(f"{name}: {problem['msg']}")
    return "; ".join(parts)
