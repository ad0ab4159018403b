"""The WSGI entry point for production servers: `gunicorn -c deploy/gunicorn.conf.py
marketplace_app.wsgi:app`. The settings come from `MARKETPLACE_*` variables and the instance
folder (`marketplace_app.config`), the partners from the snapshot `marketplace build` wrote;
each worker process delivers mail in its own background thread (started in `post_fork`, see
the config). A setting that does not fit, a missing snapshot or an old database stops the
worker with one line naming the problem."""

from __future__ import annotations

import sys

from sqlalchemy.exc import DatabaseError

from consent_app import DatabaseNotReady
from consent_app.settings import SettingsError
from marketplace.snapshot import SnapshotError
from marketplace_app.config import load_settings
from marketplace_app.wiring import backend_app

WORKER_BOOT_ERROR = 3
"""The exit status that tells gunicorn's master a worker cannot start: it stops, instead of
starting the worker again and again (systemd or the container runtime restarts it later)."""


def _stop(message: str) -> None:
    print(f"marketplace: {message}", file=sys.stderr, flush=True)
    sys.exit(WORKER_BOOT_ERROR)


try:
    app = backend_app(load_settings())
except (SettingsError, SnapshotError, DatabaseNotReady) as error:
    _stop(str(error))
except DatabaseError as error:  # the database server is down, refuses us, or is no database
    _stop(f"cannot use the database: {error.orig or error}")
except OSError as error:  # the instance folder cannot be created or read
    _stop(str(error))
