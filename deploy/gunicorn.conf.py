"""gunicorn settings for the Marketplace backend (see README "Production").

    gunicorn -c deploy/gunicorn.conf.py marketplace_app.wsgi:app

Settings can be overridden on the command line or with GUNICORN_* style variables as gunicorn
allows; the ones here are what the backend needs to be correct, not just fast.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

from gunicorn.glogging import Logger


def _count(variable: str, default: int) -> int:
    """A whole number from the environment; a bad value stops gunicorn with one line."""
    raw = os.environ.get(variable, str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= 256:
        raise SystemExit(f"marketplace: {variable} must be a whole number from 1 to 256")
    return int(raw)


bind = os.environ.get("MARKETPLACE_BIND", "127.0.0.1:8000")
workers = _count("MARKETPLACE_WORKERS", multiprocessing.cpu_count() * 2)
worker_class = "gthread"
threads = _count("MARKETPLACE_THREADS", 4)
timeout = 30
graceful_timeout = 20
# gunicorn bounds the request line and headers (its defaults, kept on purpose) but not bodies:
# the app refuses a body over consent_app.MAX_BODY_BYTES by its Content-Length before reading
# it (Flask's MAX_CONTENT_LENGTH); the proxy in front should refuse it first (see OPERATIONS).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = "-"
errorlog = "-"
# No gunicornc control socket (gunicorn 25+ makes one in $HOME): two servers on a host would
# share its path, and a container's home need not be writable. Reload with kill -HUP.
control_socket_disable = True
# Client addresses come from the proxy in front; trust only it (set MARKETPLACE_TRUSTED_PROXIES
# for the app, and list the proxy's address here).
forwarded_allow_ips = os.environ.get("MARKETPLACE_PROXY_IPS", "127.0.0.1")


class RedactingLogger(Logger):  # type: ignore[misc]
    """Access log lines without the secret of /invitations/<token> and /signin/<token> links."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        from consent_app.security import redacted

        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "{raw_uri}e"):
            if isinstance(atoms.get(key), str):
                method, _, rest = atoms[key].partition(" ") if key == "r" else ("", "", atoms[key])
                atoms[key] = f"{method} {redacted(rest)}" if key == "r" else redacted(rest)
        return atoms


logger_class = RedactingLogger


def post_fork(server: Any, worker: Any) -> None:
    """Each worker records expired invitations and, unless MARKETPLACE_MAIL_DELIVERY=off (then
    `marketplace mail send --every` does), delivers mail and webhooks in background threads of
    its own (threads do not survive fork, so this runs after it). Outbox claims keep workers
    from sending one message twice."""
    from consent_app.backend import backend_of
    from marketplace_app.wsgi import app

    backend_of(app).start_background()
