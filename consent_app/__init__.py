"""The Marketplace backend: one Flask app serving the static site, the APIs and customer pages."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask_wtf import CSRFProtect

from consent_app.backend import EXTENSION, Backend
from consent_app.db import Database, current_revision, head_revision, upgrade
from consent_app.instance import ensure_instance, secret_key
from consent_app.settings import load_settings
from search.engine import SearchEngine

csrf = CSRFProtect()

SESSION_HOURS = 8
"""A customer's sign-in lasts this long at most."""
MAX_BODY_BYTES = 256 * 1024
"""The largest request body accepted (Flask refuses bigger ones, `serve`'s waitress too)."""


class DatabaseNotReady(RuntimeError):
    """The database schema is older than the code; the message says what to run."""


def prepare_database(database: Database, instance_dir: Path) -> None:
    """Bring an embedded SQLite database up to date; check that any other one is.

    SQLite lives in the instance folder, so it is migrated on start (under a file lock, so
    several workers starting together migrate once). A server database is migrated only by
    `marketplace db upgrade`, a deliberate step an operator takes before starting new code.
    """
    head = head_revision()
    if database.is_sqlite:
        with open(instance_dir / "migrate.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if current_revision(database) != head:
                upgrade(database)
        return
    found = current_revision(database)
    if found != head:
        raise DatabaseNotReady(
            f"the database is at revision {found or 'none (empty)'}, this code needs {head}: "
            "run `marketplace db upgrade` first"
        )


def create_app(
    test_config: dict[str, Any] | None = None,
    search: Callable[[Path], SearchEngine] | None = None,
) -> Flask:
    """Create the app; settings come from `test_config`, else from the environment.

    `search` opens the search engine over the instance folder (the composition root,
    `marketplace_app`, passes the whoosh one); without it the search API answers 503.

    `test_config` may hold `INSTANCE_DIR`, `LISTINGS_DIR`, `SITE_DIR` (else the variables
    `MARKETPLACE_INSTANCE`, `MARKETPLACE_LISTINGS`, `MARKETPLACE_SITE_DIR`, else ./instance,
    ./listings, ./site), any Flask setting, and any `MARKETPLACE_*` setting of
    `consent_app.settings` (which otherwise comes from the environment).
    """
    config = dict(test_config or {})
    instance_dir = Path(
        config.pop("INSTANCE_DIR", None) or os.environ.get("MARKETPLACE_INSTANCE") or "instance"
    ).absolute()
    listings_dir = Path(
        config.pop("LISTINGS_DIR", None) or os.environ.get("MARKETPLACE_LISTINGS") or "listings"
    ).absolute()
    site_dir = Path(os.environ.get("MARKETPLACE_SITE_DIR") or "site").absolute()
    ensure_instance(instance_dir)
    overrides = {
        key.removeprefix("MARKETPLACE_"): config.pop(key)
        for key in list(config)
        if key.startswith("MARKETPLACE_")
    }
    settings = load_settings(instance_dir, listings_dir, overrides)
    app = Flask(__name__, instance_path=str(instance_dir), static_url_path="/_consent/static")
    app.config.from_mapping(
        SECRET_KEY=secret_key(instance_dir),
        SITE_DIR=str(site_dir),
        SESSION_COOKIE_NAME="mp_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        # A customer may read an invitation for a while before deciding.
        WTF_CSRF_TIME_LIMIT=SESSION_HOURS * 3600,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        RATELIMIT_STORAGE_URI=settings.rate_limit_storage,
        RATELIMIT_HEADERS_ENABLED=True,
    )
    app.config.from_mapping(config)

    found = Backend.open(settings)
    prepare_database(found.database, instance_dir)
    app.extensions[EXTENSION] = found

    from consent_app import (
        account,
        api_errors,
        health,
        i18n,
        ids,
        invitation_pages,
        openapi,
        pages,
        partner_api,
        search_api,
        security,
        site,
    )

    csrf.init_app(app)
    security.init_app(
        app,
        trusted_proxies=settings.trusted_proxies,
        https=settings.base_url.startswith("https://"),
        rate_limits=settings.rate_limits,
    )
    i18n.init_app(app)
    ids.init_app(app)
    api_errors.init_app(app)
    pages.init_app(app)
    search_api.init_app(app, search(instance_dir) if search else None)
    app.register_blueprint(health.bp)
    app.register_blueprint(search_api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(partner_api.bp)
    csrf.exempt(partner_api.bp)  # a bearer key, not a cookie, authenticates the partner API
    app.register_blueprint(invitation_pages.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(site.bp)
    return app
