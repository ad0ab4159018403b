"""The Marketplace backend: one Flask app serving the static site, the APIs and customer pages."""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask_wtf import CSRFProtect

from consent_app.backend import EXTENSION, Backend
from consent_app.db import Database, current_revision, head_revision, upgrade
from consent_app.instance import ensure_instance
from consent_app.partners import load_partner_directory
from consent_app.settings import Settings
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
    settings: Settings,
    search: Callable[[Path], SearchEngine] | None = None,
    test_config: Mapping[str, Any] | None = None,
) -> Flask:
    """Create the app for `settings`, which the composition root (`marketplace_app.config`)
    builds from the environment and the instance folder.

    Partners come from the snapshot `marketplace build` wrote into the instance folder: without
    one the app does not start (`SnapshotError`, whose message says to run the build). `search`
    opens the search engine over the instance folder (the composition root passes the whoosh
    one); without it the search API answers 503. `test_config` holds Flask settings a test
    wants (e.g. `TESTING`).
    """
    ensure_instance(settings.instance_dir)
    directory = load_partner_directory(settings.partners_snapshot)
    app = Flask(
        __name__, instance_path=str(settings.instance_dir), static_url_path="/_consent/static"
    )
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key.get_secret_value(),
        SITE_DIR=str(settings.site_dir),
        SESSION_COOKIE_NAME="mp_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.https,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        # A customer may read an invitation for a while before deciding.
        WTF_CSRF_TIME_LIMIT=SESSION_HOURS * 3600,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        RATELIMIT_STORAGE_URI=settings.rate_limit_storage_url,
        RATELIMIT_HEADERS_ENABLED=True,
    )
    app.config.from_mapping(test_config or {})

    found = Backend.open(settings, directory)
    try:
        prepare_database(found.database, settings.instance_dir)
    except BaseException:
        found.close()
        raise
    app.extensions[EXTENSION] = found

    from consent_app import (
        customer_pages,
        health,
        http_errors,
        i18n,
        ids,
        invitation_pages,
        lead_pages,
        openapi,
        pages,
        partner_api,
        partner_invitation_pages,
        partner_pages,
        search_api,
        security,
        site,
        webhook_pages,
    )

    csrf.init_app(app)
    security.init_app(
        app,
        trusted_proxies=settings.trusted_proxies,
        https=settings.https,
        rate_limits=settings.rate_limits,
    )
    i18n.init_app(app)
    ids.init_app(app)
    http_errors.init_app(app)
    pages.init_app(app)
    search_api.init_app(app, search(settings.instance_dir) if search else None)
    app.register_blueprint(health.bp)
    app.register_blueprint(search_api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(partner_api.bp)
    csrf.exempt(partner_api.bp)  # a bearer key, not a cookie, authenticates the partner API
    app.register_blueprint(invitation_pages.bp)
    app.register_blueprint(customer_pages.bp)
    app.register_blueprint(lead_pages.bp)
    app.register_blueprint(partner_pages.bp)
    app.register_blueprint(partner_invitation_pages.bp)
    app.register_blueprint(webhook_pages.bp)
    app.register_blueprint(site.bp)
    return app
