"""The README's first command on a fresh copy: `./start` creates a new virtualenv, installs the
pinned dependencies, builds the site and index, prepares the database and the demo, and serves;
the pages it prints answer. (Slow: it really installs everything.)"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from tests.smtp import free_port

pytestmark = [pytest.mark.slow]

ANYWHERE = shutil.ignore_patterns(
    "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".hypothesis"
)
AT_THE_TOP = {".venv", "site", "instance", ".git"}  # what a fresh clone does not have


def skip(folder: str, names: list[str]) -> set[str]:
    ignored = set(ANYWHERE(folder, names))
    if Path(folder) == PROJECT_ROOT:
        ignored |= AT_THE_TOP & set(names)
    return ignored


def fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read().decode("utf-8", "replace")


def test_start_takes_a_fresh_copy_to_a_running_demo(tmp_path: Path) -> None:
    copy = tmp_path / "marketplace"
    shutil.copytree(PROJECT_ROOT, copy, ignore=skip)
    port = free_port()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("MARKETPLACE_")
    }
    environment["PYTHON"] = sys.executable
    process = subprocess.Popen(
        ["./start", "--port", str(port)],
        cwd=copy,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 900
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Serving the Marketplace" in line:
                break
        printed = "".join(output)
        assert "Serving the Marketplace" in printed, printed
        # Keep reading what the server prints, so a full pipe never blocks it.
        threading.Thread(target=output.extend, args=(process.stdout,), daemon=True).start()
        assert (copy / ".venv" / "bin" / "marketplace").exists()
        base = f"http://127.0.0.1:{port}/"
        # The line is printed just before the server binds its port.
        for _ in range(100):
            try:
                assert fetch(base)[0] == 200
                break
            except OSError:
                time.sleep(0.2)
        assert fetch(base)[0] == 200
        assert "Contoso Cloud Services" in fetch(base + "partners/contoso-cloud/")[1]
        search = fetch(base + "api/v1/search?q=migration")[1]
        assert '"total"' in search
        invitation = re.search(rf"{re.escape(base)}invitations/\S+", printed)
        assert invitation, printed
        status, page = fetch(invitation.group(0))
        assert status == 200 and "delegated administration" in page.lower()
        sign_in = re.search(rf"{re.escape(base)}signin/\S+", printed)
        assert sign_in and fetch(sign_in.group(0))[0] == 200
        assert re.search(r"Bearer mpk_\w+", printed)
        assert list((copy / "instance" / "mail").glob("*.eml"))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()
