"""The fault benchmark, short: the server is SIGKILLed twice during load and the SMTP server
goes down once; the script exits 0 only when nothing was half-applied or lost."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = [pytest.mark.slow]


def test_kills_and_mail_outage_lose_nothing() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.consent_faults",
            "--seconds",
            "16",
            "--kills",
            "2",
            "--clients",
            "4",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every check passed" in result.stdout
    assert result.stdout.count("SIGKILL") == 2
