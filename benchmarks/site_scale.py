"""How long `marketplace build` takes on N generated listings, and what it writes.

    python -m benchmarks.site_scale [N ...] [--smoke]      (default: 1000 10000)

For each N: wall time and peak resident memory of a fresh process running the build (what
`marketplace build` runs: both languages, validation and search index included); the site step
alone, from the build's own `BuildReport`; the largest partner page; the directory data in gzip
bytes per listing; and two in-process references over the same listings: "pages" is the
listings -> pages function alone (Jinja2 templates, Markdown and the sanitiser, both
languages), "bare" renders one minimal Jinja2 template per partner page and language
("site/bare" is the ratio of the site step to it). `--smoke` runs once on 14 listings (the
tests do, so the script cannot rot).
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jinja2

from benchmarks.generate import generate_listings
from marketplace.catalog import SITE_LANGUAGES
from marketplace.validate import load_listings
from marketplace_app.build import BuildReport
from sitegen.pages import SiteInput, site_pages

BARE = jinja2.Environment(autoescape=True).from_string(
    "<article><h1>{{ l.name }}</h1><p>{{ l.summary }}</p><div>{{ l.description }}</div>"
    "<ul>{% for s in l.services %}<li>{{ s }}</li>{% endfor %}</ul></article>"
)

SMOKE_COUNT = 14
"""One listing per example template: a few seconds, every template rendered."""

BUILD = """
import dataclasses, json, sys
from pathlib import Path
from marketplace_app.build import BuildPaths, build
listings, site, instance, report_file = map(Path, sys.argv[1:])
report = build(BuildPaths(listings, site, instance))
report_file.write_text(json.dumps(dataclasses.asdict(report)))
"""
"""The build in a fresh process; its `BuildReport` comes back as JSON in a file, so the
figures do not depend on the wording of the progress lines the command line prints."""


def build_once(listings: Path, site: Path, instance: Path) -> tuple[float, float, BuildReport]:
    """(whole build s, peak MB, the build's own report) of one build in a fresh process."""
    report_file = instance.parent / "build-report.json"
    command = [sys.executable, "-c", BUILD, str(listings), str(site), str(instance)]
    started = time.perf_counter()
    finished = subprocess.run([*command, str(report_file)], capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if finished.returncode != 0:
        sys.exit(f"the build failed: {finished.stderr.decode(errors='replace')[-2000:]}")
    # ru_maxrss of children is the largest child so far, in KB on Linux.
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    report = BuildReport(**json.loads(report_file.read_text(encoding="utf-8")))
    return elapsed, peak_mb, report


def main(counts: list[int]) -> None:
    print(
        f"{'listings':>8} {'build s':>8} {'site s':>7} {'peak MB':>8} {'pages s':>8} "
        f"{'bare s':>7} {'site/bare':>9} {'max page KB':>11} {'dir B/listing':>13} {'files':>7}"
    )
    for count in counts:
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch)
            listings = generate_listings(count, root / "listings")
            seconds, peak, report = build_once(listings, root / "site", root / "instance")
            site_seconds = report.site_seconds

            catalog, loaded = load_listings(listings)
            listing_models = [item.listing for item in loaded]
            started = time.perf_counter()
            for language in SITE_LANGUAGES:
                site_pages(SiteInput(catalog, listing_models, language))
            pages_seconds = time.perf_counter() - started
            started = time.perf_counter()
            for _language in SITE_LANGUAGES:
                for listing in listing_models:
                    BARE.render(l=listing)
            bare_seconds = time.perf_counter() - started

            partner_pages = list((root / "site" / "partners").glob("*/index.html"))
            largest = max(page.stat().st_size for page in partner_pages) / 1024
            directory = (root / "site" / "directory.json").read_bytes()
            per_listing = len(gzip.compress(directory)) / count
            files = sum(1 for path in (root / "site").rglob("*") if path.is_file())
            print(
                f"{count:>8} {seconds:>8.1f} {site_seconds:>7.1f} {peak:>8.0f} "
                f"{pages_seconds:>8.2f} {bare_seconds:>7.2f} {site_seconds / bare_seconds:>9.0f} "
                f"{largest:>11.1f} {per_listing:>13.0f} {files:>7}",
                flush=True,
            )
            print(f"{'':>8} ({report.describe()})", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("counts", nargs="*", type=int, metavar="N", default=[1000, 10000])
    parser.add_argument("--smoke", action="store_true", help=f"one run on {SMOKE_COUNT} listings")
    arguments = parser.parse_args()
    main([SMOKE_COUNT] if arguments.smoke else arguments.counts)
