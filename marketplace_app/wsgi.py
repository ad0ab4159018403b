"""The WSGI entry point for production servers: `gunicorn -c deploy/gunicorn.conf.py
marketplace_app.wsgi:app`. Everything comes from the environment (`MARKETPLACE_*`); each worker
process delivers mail in its own background thread (started in `post_fork`, see the config)."""

from __future__ import annotations

from marketplace_app.wiring import backend_app

app = backend_app()
