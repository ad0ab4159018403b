"""The backend's settings, read once from the environment (SPEC §6) or a test's config."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from consent_app.db import database_url, normalized_url

DEFAULT_BASE_URL = "http://127.0.0.1:8000/"
DEFAULT_INVITATION_DAYS = 30
MAX_INVITATION_DAYS = 365
SIGN_IN_LINK_MINUTES = 30
DEFAULT_API_RATE_LIMIT = "600 per minute"
"""Partner API requests per API key, all endpoints together."""
DEFAULT_INVITATION_RATE_LIMIT = "60 per minute; 1000 per day"
"""Invitations and offers created per API key (each one mails a customer)."""
DEFAULT_INITIAL_DOMAIN_SUFFIX = "onmicrosoft.com"
"""The provider's own namespace: a new customer's tenant is `<name>.onmicrosoft.com`."""
_SUFFIX = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")


class SettingsError(ValueError):
    """A setting has a value the backend cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Everything the consent backend needs to know about its installation."""

    instance_dir: Path
    listings_dir: Path
    database_url: str
    base_url: str  # ends with "/"; links in mail start with it
    smtp_url: str | None
    mail_from: str
    mail_delivery: str  # background | inline | off
    invitation_lifetime: timedelta
    sign_in_lifetime: timedelta
    support_url: str
    support_phone: str
    trusted_proxies: int  # reverse proxies in front whose X-Forwarded-* headers are believed
    rate_limits: bool
    rate_limit_storage: str  # Flask-Limiter storage URI: memory:// (per process), redis://…
    api_rate_limit: str  # Flask-Limiter limits, per partner API key
    invitation_rate_limit: str
    initial_domain_suffix: str  # new customers' tenants are created only as <name>.<suffix>
    smtputf8: bool  # the SMTP server takes non-ASCII local parts (RFC 6531)

    @property
    def mail_dir(self) -> Path:
        """Where messages go as .eml files when no SMTP server is configured."""
        return self.instance_dir / "mail"

    def link(self, path: str) -> str:
        """An absolute link for mail: `base_url` + `path` (without its leading slash)."""
        return self.base_url + path.lstrip("/")


def _days(raw: str, name: str) -> timedelta:
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_INVITATION_DAYS:
        raise SettingsError(
            f"{name} must be a whole number of days from 1 to {MAX_INVITATION_DAYS}"
        )
    return timedelta(days=int(raw))


def _whole(raw: str, name: str) -> int:
    if not raw.isdigit() or int(raw) > 10:
        raise SettingsError(f"{name} must be a whole number from 0 to 10")
    return int(raw)


def _domain_suffix(raw: str) -> str:
    suffix = raw.strip().lower().strip(".")
    if not _SUFFIX.match(suffix):
        raise SettingsError(
            "MARKETPLACE_INITIAL_DOMAIN_SUFFIX must be a domain such as onmicrosoft.com"
        )
    return suffix


def _switch(raw: str, name: str) -> bool:
    if raw.lower() not in ("on", "off"):
        raise SettingsError(f"{name} must be on or off")
    return raw.lower() == "on"


def _rate_limit(raw: str, name: str) -> str:
    from limits import parse_many

    try:
        parsed = parse_many(raw)
    except ValueError:
        parsed = []
    if not parsed or any(item.amount < 1 for item in parsed):
        raise SettingsError(
            f"{name} must be limits such as '60 per minute; 1000 per day' (got {raw[:80]!r})"
        )
    return raw


def load_settings(
    instance_dir: Path, listings_dir: Path, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Settings from `overrides` (tests), else `MARKETPLACE_*` variables, else defaults."""
    given = dict(overrides or {})

    def setting(key: str, default: str) -> str:
        value = given.get(key, os.environ.get(f"MARKETPLACE_{key}", default))
        return str(value)

    base_url = setting("BASE_URL", DEFAULT_BASE_URL)
    if not base_url.startswith(("http://", "https://")):
        raise SettingsError("MARKETPLACE_BASE_URL must start with http:// or https://")
    delivery = setting("MAIL_DELIVERY", "background")
    if delivery not in ("background", "inline", "off"):
        raise SettingsError("MARKETPLACE_MAIL_DELIVERY must be background, inline or off")
    url = given.get("DATABASE_URL")
    return Settings(
        instance_dir=instance_dir,
        listings_dir=listings_dir,
        database_url=normalized_url(url) if url else database_url(instance_dir),
        base_url=base_url.rstrip("/") + "/",
        smtp_url=setting("SMTP_URL", "") or None,
        mail_from=setting("MAIL_FROM", "Partner Marketplace <marketplace@localhost>"),
        mail_delivery=delivery,
        invitation_lifetime=_days(
            setting("INVITATION_DAYS", str(DEFAULT_INVITATION_DAYS)),
            "MARKETPLACE_INVITATION_DAYS",
        ),
        sign_in_lifetime=timedelta(minutes=SIGN_IN_LINK_MINUTES),
        support_url=setting("SUPPORT_URL", "https://support.example/contact"),
        support_phone=setting("SUPPORT_PHONE", "+1 800 555 0199"),
        trusted_proxies=_whole(setting("TRUSTED_PROXIES", "0"), "MARKETPLACE_TRUSTED_PROXIES"),
        rate_limits=_switch(setting("RATE_LIMITS", "on"), "MARKETPLACE_RATE_LIMITS"),
        rate_limit_storage=setting("RATE_LIMIT_STORAGE_URL", "memory://"),
        api_rate_limit=_rate_limit(
            setting("API_RATE_LIMIT", DEFAULT_API_RATE_LIMIT), "MARKETPLACE_API_RATE_LIMIT"
        ),
        invitation_rate_limit=_rate_limit(
            setting("INVITATION_RATE_LIMIT", DEFAULT_INVITATION_RATE_LIMIT),
            "MARKETPLACE_INVITATION_RATE_LIMIT",
        ),
        initial_domain_suffix=_domain_suffix(
            setting("INITIAL_DOMAIN_SUFFIX", DEFAULT_INITIAL_DOMAIN_SUFFIX)
        ),
        smtputf8=_switch(setting("SMTPUTF8", "off"), "MARKETPLACE_SMTPUTF8"),
    )
