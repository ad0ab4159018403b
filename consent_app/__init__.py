"""The Marketplace backend: one Flask app serving the static site, the APIs and customer pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from consent_app.instance import ensure_instance, secret_key


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the app; settings come from `test_config`, else from the environment."""
    config = dict(test_config or {})
    instance_dir = Path(config.pop("INSTANCE_DIR", None) or "instance").absolute()
    ensure_instance(instance_dir)
    app = Flask(__name__, instance_path=str(instance_dir))
    app.config.from_mapping(
        SECRET_KEY=secret_key(instance_dir),
        SITE_DIR=str(Path("site").absolute()),
    )
    app.config.from_mapping(config)

    from consent_app import api_errors, health, search_api, site

    api_errors.init_app(app)
    search_api.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(search_api.bp)
    app.register_blueprint(site.bp)
    return app
