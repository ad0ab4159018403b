"""Every benchmark script runs once in its smoke mode (tiny N, a few seconds), exactly as a person
would start it, so none can rot unnoticed. The figures come from full runs, never from the tests
(site_src/en/benchmarks.md)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.browser import CHROMEDRIVER, CHROMIUM
from tests.conftest import PROJECT_ROOT

BENCHMARKS = PROJECT_ROOT / "benchmarks"
SLOW = pytest.mark.slow
BROWSER = pytest.mark.browser

SMOKE_RUNS = [
    pytest.param("markdown_cost", "worst:", id="markdown_cost"),
    pytest.param("validate_scale", "       14 ", id="validate_scale"),
    pytest.param("search_latency", "14 listings: index build", id="search_latency"),
    pytest.param("search_quality", "  all ", id="search_quality"),
    # Real MkDocs builds of both languages.
    pytest.param("site_scale", "(14 listings: validated in", id="site_scale", marks=SLOW),
    # `marketplace serve` on 14 listings and the find page in headless Chromium.
    pytest.param("find_page", "static  first cards", id="find_page", marks=[SLOW, BROWSER]),
    # The change events of eight kinds of write to 14 listings in a git checkout.
    pytest.param("watch_bursts", "rm -r", id="watch_bursts"),
    # `marketplace serve` on 14 listings, one listing edited twice while it serves.
    pytest.param("watch_latency", "median of the later edits", id="watch_latency", marks=SLOW),
    # Builds the site, seeds a database, starts `marketplace serve` and the floor app.
    pytest.param("consent_load", "invariants: all hold", id="consent_load", marks=SLOW),
]
"""(script, a line fragment its smoke run prints when it worked)."""

RUN_ELSEWHERE = {
    "consent_faults": "tests/consent_app/test_faults.py runs it short (two kills in 16 s)",
    "floor_app": "the WSGI app the consent_load smoke run serves and measures",
    "generate": "writes the listings of every smoke run that takes a number of listings",
}
"""Modules in benchmarks/ without a smoke run here, and what runs them instead."""


def test_every_benchmark_is_run_by_the_tests() -> None:
    scripts = {path.stem for path in BENCHMARKS.glob("*.py")} - {"__init__"}
    smoke = {param.values[0] for param in SMOKE_RUNS}
    assert scripts == smoke | set(RUN_ELSEWHERE), "give a new benchmark a --smoke run above"


@pytest.mark.parametrize(("script", "expected"), SMOKE_RUNS)
def test_smoke_run(script: str, expected: str, request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("browser") and not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("Chromium and chromedriver are not installed (chromium, chromium-driver)")
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{script}", "--smoke"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert expected in result.stdout, result.stdout
