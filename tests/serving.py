"""`marketplace serve` run as a process of its own, for the tests that need a real server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def serve(listings: Path, tmp_path: Path, port: int, seconds: float = 60) -> subprocess.Popen[str]:
    """`marketplace serve` over `listings` in a process of its own (site and instance in
    `tmp_path`), once it answers /healthz; fails when it exits or `seconds` pass first."""
    command = [
        sys.executable,
        "-m",
        "marketplace_app",
        "serve",
        "--listings",
        str(listings),
        "--site-dir",
        str(tmp_path / "site"),
        "--instance",
        str(tmp_path / "instance"),
        "--port",
        str(port),
    ]
    env = {**os.environ, "MARKETPLACE_SECRET_KEY": ""}
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                assert r.status == 200
                return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                output = server.stdout.read() if server.stdout else ""
                raise AssertionError(f"server did not start: {output}") from None
            time.sleep(0.2)


def stop(server: subprocess.Popen[str]) -> str:
    """Stop a `serve` process; what it printed."""
    server.terminate()
    output, _ = server.communicate(timeout=10)
    return output
