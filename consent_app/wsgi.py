"""The WSGI entry point for production servers: `gunicorn -c deploy/gunicorn.conf.py
consent_app.wsgi:app`. Everything comes from the environment (`MARKETPLACE_*`); each worker
process delivers mail in its own background thread (started in `post_fork`, see the config)."""

from __future__ import annotations

from consent_app import create_app

app = create_app()
