"""The backend's settings, read once from the environment (SPEC §6) or a test's config."""

from __future__ import annotations

import os
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


def _switch(raw: str, name: str) -> bool:
    if raw.lower() not in ("on", "off"):
        raise SettingsError(f"{name} must be on or off")
    return raw.lower() == "on"


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
    )
