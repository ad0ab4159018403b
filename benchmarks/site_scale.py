"""How long `marketplace build` takes on N generated listings, and what it writes.

    python -m benchmarks.site_scale [N ...] [--rebuild] [--smoke]   (default: 1000 10000)

For each N: wall time, CPU time (user + system, every process of the build) and peak memory
of a fresh process running the build (what `marketplace build` runs: both languages,
validation and search index included); the site step alone, from the build's own
`BuildReport`; the largest partner page; the directory data in gzip bytes per listing; and two
in-process references over the same listings, in CPU time: "pages" is the listings -> pages
function alone (Jinja2 templates, Markdown and the sanitiser, both languages), "bare" renders
one minimal Jinja2 template per partner page and language ("pages/bare" is their ratio,
"site/bare" the site step's wall time over it). `--smoke` runs once on 14 listings (the tests
do, so the script cannot rot). `--rebuild` then edits one listing's summary and builds again
over the previous output, as `marketplace build` does after an edit: its wall and CPU time,
and how many partner pages it kept (`sitegen.reuse`), on a line of its own.

The build runs the site languages and the search index in processes of their own, so "peak MB"
is the largest sum of the proportional memory (Pss) of the build's processes, sampled every
20 ms: memory the forked processes share counts once in all, as the machine holds it once.
"1 proc MB" is the largest single process's resident memory (`ru_maxrss`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import jinja2

from benchmarks.generate import generate_listings
from marketplace.catalog import SITE_LANGUAGES
from marketplace.validate import load_listings
from marketplace_app.build import BuildReport
from sitegen.pages import SiteInput, iter_site_pages

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


def _tree_pss_kb(root: int) -> int:
    """Proportional memory (KB, Pss: a page shared by n processes counts 1/n in each) of
    process `root` and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as stat:
                    parents[int(entry.name)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    tree = {root}
    grown = True
    while grown:
        grown = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grown = True
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
                for line in rollup:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


@dataclass
class BuildRun:
    """What one build in a fresh process took."""

    seconds: float
    cpu_seconds: float
    peak_mb: float
    """The largest sum of the build's processes' proportional memory (Pss)."""
    process_mb: float
    """The largest single process (`ru_maxrss`)."""
    report: BuildReport


def build_once(listings: Path, site: Path, instance: Path) -> BuildRun:
    """One build in a fresh process, its memory sampled while it runs."""
    report_file = instance.parent / "build-report.json"
    command = [sys.executable, "-c", BUILD, str(listings), str(site), str(instance)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, str(report_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    peak_kb = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_kb
        while not done.wait(0.02):
            peak_kb = max(peak_kb, _tree_pss_kb(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _output, errors = process.communicate()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        sys.exit(f"the build failed: {errors.decode(errors='replace')[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ru_maxrss of children is the largest child so far, in KB on Linux.
    report = BuildReport(**json.loads(report_file.read_text(encoding="utf-8")))
    return BuildRun(elapsed, cpu, peak_kb / 1024, after.ru_maxrss / 1024, report)


def pages_and_bare(listings: Path) -> tuple[float, float]:
    """CPU seconds of the listings -> pages function and of the bare render, both languages."""
    catalog, loaded = load_listings(listings)
    listing_models = [item.listing for item in loaded]
    started = time.process_time()
    for language in SITE_LANGUAGES:
        for _page in iter_site_pages(SiteInput(catalog, listing_models, language)):
            pass
    pages_seconds = time.process_time() - started
    started = time.process_time()
    for _language in SITE_LANGUAGES:
        for listing in listing_models:
            BARE.render(l=listing)
    return pages_seconds, time.process_time() - started


def edit_one_listing(listings: Path) -> None:
    """Change the summary of the first listing, as a partner's edit would."""
    first = next(path for path in sorted(listings.glob("*.yaml")) if not path.stem.startswith("_"))
    text = first.read_text(encoding="utf-8")
    first.write_text(text.replace("\nsummary: ", "\nsummary: Edited. ", 1), encoding="utf-8")


def main(counts: list[int], rebuild: bool) -> None:
    print(
        f"{'listings':>8} {'build s':>8} {'CPU s':>6} {'site s':>7} {'peak MB':>8} "
        f"{'1 proc MB':>9} {'pages s':>8} {'bare s':>7} {'pages/bare':>10} {'site/bare':>9} "
        f"{'max page KB':>11} {'dir B/listing':>13} {'files':>7}"
    )
    for count in counts:
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch)
            listings = generate_listings(count, root / "listings")
            run = build_once(listings, root / "site", root / "instance")
            pages_seconds, bare_seconds = pages_and_bare(listings)

            partner_pages = list((root / "site" / "partners").glob("*/index.html"))
            largest = max(page.stat().st_size for page in partner_pages) / 1024
            directory = (root / "site" / "directory.json").read_bytes()
            per_listing = len(gzip.compress(directory)) / count
            files = sum(1 for path in (root / "site").rglob("*") if path.is_file())
            print(
                f"{count:>8} {run.seconds:>8.1f} {run.cpu_seconds:>6.1f} "
                f"{run.report.site_seconds:>7.1f} {run.peak_mb:>8.0f} {run.process_mb:>9.0f} "
                f"{pages_seconds:>8.2f} {bare_seconds:>7.2f} {pages_seconds / bare_seconds:>10.0f} "
                f"{run.report.site_seconds / bare_seconds:>9.0f} "
                f"{largest:>11.1f} {per_listing:>13.0f} {files:>7}",
                flush=True,
            )
            print(f"{'':>8} ({run.report.describe()})", flush=True)
            if rebuild:
                edit_one_listing(listings)
                again = build_once(listings, root / "site", root / "instance")
                print(
                    f"{'':>8} rebuild after one edit: {again.seconds:.1f} s, CPU "
                    f"{again.cpu_seconds:.1f} s, peak {again.peak_mb:.0f} MB "
                    f"({again.report.describe()})",
                    flush=True,
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("counts", nargs="*", type=int, metavar="N", default=[1000, 10000])
    parser.add_argument(
        "--rebuild", action="store_true", help="then edit one listing and build again"
    )
    parser.add_argument(
        "--smoke", action="store_true", help=f"one run on {SMOKE_COUNT} listings, and a rebuild"
    )
    arguments = parser.parse_args()
    if arguments.smoke:
        main([SMOKE_COUNT], rebuild=True)
    else:
        main(arguments.counts, arguments.rebuild)
