"""How long `marketplace build` takes on N generated listings, and what it writes.

    python -m benchmarks.site_scale [N ...]      (default: 1000 10000)

For each N: wall time and peak resident memory of a fresh `marketplace build` process (both
languages, validation included), the largest partner page, the directory data in gzip bytes
per listing, and two in-process references over the same listings: "pages" is the
listings -> pages function alone (Jinja2 templates, Markdown and the sanitiser, both
languages), "bare Jinja2" renders one minimal template per partner page and language.
"""

from __future__ import annotations

import gzip
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jinja2

from benchmarks.generate import generate_listings
from marketplace.catalog import SITE_LANGUAGES
from marketplace.site.pages import SiteInput, site_pages
from marketplace.validate import load_listings

BARE = jinja2.Environment(autoescape=True).from_string(
    "<article><h1>{{ l.name }}</h1><p>{{ l.summary }}</p><div>{{ l.description }}</div>"
    "<ul>{% for s in l.services %}<li>{{ s }}</li>{% endfor %}</ul></article>"
)


def build_once(listings: Path, site: Path, instance: Path) -> tuple[float, float]:
    """(seconds, peak MB) of one `marketplace build` in a fresh process."""
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "marketplace",
            "build",
            "--listings",
            str(listings),
            "--site-dir",
            str(site),
            "--instance",
            str(instance),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return elapsed, peak_mb


def main(counts: list[int]) -> None:
    print(
        f"{'listings':>8} {'build s':>8} {'peak MB':>8} {'pages s':>8} {'bare s':>7} "
        f"{'ratio':>6} {'max page KB':>11} {'dir B/listing':>13} {'files':>7}"
    )
    for count in counts:
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch)
            listings = generate_listings(count, root / "listings")
            seconds, peak = build_once(listings, root / "site", root / "instance")

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
                f"{count:>8} {seconds:>8.1f} {peak:>8.0f} {pages_seconds:>8.2f} "
                f"{bare_seconds:>7.2f} {seconds / bare_seconds:>6.0f} {largest:>11.1f} "
                f"{per_listing:>13.0f} {files:>7}",
                flush=True,
            )


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [1000, 10000])
