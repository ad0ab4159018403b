"""How long `marketplace build` takes on N generated listings, and what it writes.

    python -m benchmarks.site_scale [N ...]      (default: 1000 10000)

For each N: wall time and peak resident memory of a fresh `marketplace build` process (both
languages, validation and search index included); the site step alone as the build reports it;
the largest partner page; the directory data in gzip bytes per listing; and two in-process
references over the same listings: "pages" is the listings -> pages function alone (Jinja2
templates, Markdown and the sanitiser, both languages), "bare" renders one minimal Jinja2
template per partner page and language ("site/bare" is the ratio of the site step to it).
"""

from __future__ import annotations

import gzip
import re
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
from sitegen.pages import SiteInput, site_pages

BARE = jinja2.Environment(autoescape=True).from_string(
    "<article><h1>{{ l.name }}</h1><p>{{ l.summary }}</p><div>{{ l.description }}</div>"
    "<ul>{% for s in l.services %}<li>{{ s }}</li>{% endfor %}</ul></article>"
)


def build_once(listings: Path, site: Path, instance: Path) -> tuple[float, float, float, str]:
    """(whole build s, site step s, peak MB, the build's own report line) of one build."""
    command = [sys.executable, "-m", "marketplace_app", "build", "--listings", str(listings)]
    command += ["--site-dir", str(site), "--instance", str(instance)]
    started = time.perf_counter()
    finished = subprocess.run(command, check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    line = next(line for line in finished.stderr.splitlines() if "site in" in line)
    site_seconds = re.search(r"site in ([0-9.]+) s", line)
    assert site_seconds is not None
    return elapsed, float(site_seconds.group(1)), peak_mb, line


def main(counts: list[int]) -> None:
    print(
        f"{'listings':>8} {'build s':>8} {'site s':>7} {'peak MB':>8} {'pages s':>8} "
        f"{'bare s':>7} {'site/bare':>9} {'max page KB':>11} {'dir B/listing':>13} {'files':>7}"
    )
    for count in counts:
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch)
            listings = generate_listings(count, root / "listings")
            seconds, site_seconds, peak, report = build_once(
                listings, root / "site", root / "instance"
            )

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
            print(f"{'':>8} ({report})", flush=True)


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [1000, 10000])
