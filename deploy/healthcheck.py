"""The container's health check (Dockerfile `HEALTHCHECK`, compose.yaml): GET /healthz on the
address gunicorn binds (`MARKETPLACE_BIND`); exit 0 on 200, 1 otherwise (503 included: see
OPERATIONS.md, section 9), with one line saying why. Standard library only."""

from __future__ import annotations

import os
import sys
import urllib.request

ANY_ADDRESS = ("", "0.0.0.0", "::", "[::]")  # noqa: S104 - what gunicorn binds, not what we ask


def healthz_url(bind: str) -> str:
    """The /healthz URL of a gunicorn `bind` such as 0.0.0.0:8000 or 127.0.0.1:8000."""
    host, _, port = bind.rpartition(":")
    if host in ANY_ADDRESS:
        host = "127.0.0.1"
    return f"http://{host}:{port}/healthz"


def main() -> int:
    url = healthz_url(os.environ.get("MARKETPLACE_BIND", "127.0.0.1:8000"))
    try:
        with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 - our own http URL
            status = response.status
    except OSError as error:  # refused, timed out, or an HTTP error status (503)
        print(f"{url}: {error}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"{url}: {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
