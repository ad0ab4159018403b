"""How soon an edited listing shows everywhere under `marketplace serve` (it watches the listings).

    python -m benchmarks.watch_latency [N ...] [--edits K] [--git [--history K]] [--smoke]
                                       (default: 10000, 4 edits)

For each N: generate N listings, start `marketplace serve` on them (it builds first), then edit
one listing's summary K times, one edit after the previous one is visible everywhere and the
server has been idle for a second. For each edit: the seconds from writing the file until the
new summary is in the partner's English page, its Russian page, a browse page that lists it,
`directory.json` (the find page's data) and the search API's answer for the new word (the
partner's hit with the new summary), and the last of those ("all"); "build" is how long the
build took by its own account (`serve`'s log): the rest of "all" is noticing the change (0.3 s
of quiet first), the backend taking up the new snapshot, and the polling. Every address is
asked every 0.1 s; "not 200" counts the answers that were anything but 200 meanwhile (a site
published whole should have none). The first edit after the start is reported apart: `serve`'s
build process may still be getting ready.

`--git` makes the listings folder a git checkout with every listing committed, as the
Marketplace's own listings folder is (partners send pull requests): a listing is then dated by
its commits (`marketplace.history`), so an edit not yet committed leaves its first-published
date as it was. In a plain folder (the default) the dates are the files' modification times:
the edited listing becomes the newest partner at every edit, which changes the home page's
"newest partners" and so needs the hand-written pages made again (MkDocs) at every build.

`--history K` (with `--git`) adds K commits after the first, each changing one listing (a
comment appended), one after the other (no merges): `git log` over a folder of 10,000 listings costs
about 13 ms per commit, which every build paid before the commit times were kept
(`marketplace.history`).

`--smoke` runs on 14 listings with 2 edits, in a plain folder and in a git checkout with a
short history (the tests do, so the script cannot rot).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from benchmarks.find_page import serving
from benchmarks.generate import generate_listings
from marketplace.catalog import FACETS
from marketplace.urls import partner_url
from marketplace.validate import listing_files

SMOKE_COUNT = 14
POLL_SECONDS = 0.1
TIMEOUT_SECONDS = 600


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (loopback)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError:
        return 0, ""


def _browse_page(site: Path, slug: str) -> str:
    """The URL (from the site root) of a browse page that lists `slug`."""
    link = f"/{partner_url(slug)}"
    for facet in FACETS:
        for page in sorted((site / facet.segment).rglob("index.html")):
            if link in page.read_text(encoding="utf-8"):
                return page.parent.relative_to(site).as_posix() + "/"
    raise SystemExit(f"no browse page lists {slug}")


def _untranslated(listings: Path, start: int) -> Path:
    """A listing without translations from the `start`-th on: its Russian page shows the
    English summary, so the edit shows on both."""
    files = sorted(listings.glob("[!_]*.yaml"))
    for listing in files[start:] + files[:start]:
        if "\ntranslations:" not in listing.read_text(encoding="utf-8"):
            return listing
    raise SystemExit("every listing has translations: nothing to edit in both languages")


def _edit(listing: Path, word: str) -> None:
    """Put `word` first in the listing's summary, instead of the previous edit's word."""
    text = listing.read_text(encoding="utf-8")
    start = text.index("\nsummary: ") + len("\nsummary: ")
    end = text.index("\n", start)
    summary = text[start:end]
    if summary.startswith("Zq"):
        summary = summary.split(" ", 1)[1]
    listing.write_text(f"{text[:start]}{word} {summary}{text[end:]}", encoding="utf-8")


def _builds(log: Path) -> list[float]:
    """Every build's "built in N s" so far, from `serve`'s log."""
    return [float(s) for s in re.findall(r"; built in ([0-9.]+) s", log.read_text("utf-8"))]


def _next_build_seconds(log: Path, before: int) -> float:
    """The seconds of the first build after the `before` first ones, once it is logged (the
    edit shows before the build has written its last file and said so)."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while len(builds := _builds(log)) <= before:
        if time.monotonic() > deadline:
            return math.nan
        time.sleep(POLL_SECONDS)
    return builds[before]


def measure_edit(base: str, listing: Path, slug: str, browse: str, word: str) -> dict[str, float]:
    """Edit `listing` and wait until `word` shows everywhere: seconds per place, and "not 200"."""
    places = {
        "page en": (base + partner_url(slug), lambda body: word in body),
        "page ru": (f"{base}ru/{partner_url(slug)}", lambda body: word in body),
        "browse": (base + browse, lambda body: word in body),
        "directory.json": (base + "directory.json", lambda body: word in body),
        "search": (
            f"{base}api/v1/search?q={word}",
            lambda body: any(
                hit["slug"] == slug and word in hit["summary"] for hit in json.loads(body)["hits"]
            ),
        ),
    }
    seen: dict[str, float] = {}
    failures = 0
    started = time.monotonic()
    _edit(listing, word)
    while len(seen) < len(places):
        for place, (url, shows) in places.items():
            if place in seen:
                continue
            status, body = _get(url)
            if status != 200:
                failures += 1
            elif shows(body):
                seen[place] = time.monotonic() - started
        if time.monotonic() - started > TIMEOUT_SECONDS:
            raise SystemExit(f"the edit was not visible after {TIMEOUT_SECONDS} s: {seen}")
        time.sleep(POLL_SECONDS)
    return {**seen, "all": max(seen.values()), "not 200": failures}


def git_in(folder: Path, *command: str) -> None:
    """Run `git command` in `folder` as the benchmarks' own committer, whatever the user's git
    configuration says of signing and hooks."""
    git = shutil.which("git")
    if git is None:
        raise SystemExit("--git needs git on the PATH")
    identity = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid"}
    identity |= {"GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"}
    settings = ["-c", "commit.gpgsign=false", "-c", f"core.hooksPath={os.devnull}"]
    subprocess.run(
        [git, *settings, *command],
        cwd=folder,
        check=True,
        env={**os.environ, **identity},
        timeout=600,
    )


def _commit_all(folder: Path, history: int = 0, keep: Path | None = None) -> None:
    """Make `folder` a git repository with every file in it committed, then `history` more
    commits, each appending a comment to another listing than `keep`."""
    git_in(folder, "init", "-q")
    git_in(folder, "add", "-A")
    git_in(folder, "commit", "-q", "-m", "listings")
    changed = [path for path in listing_files(folder) if path != keep]
    for number in range(history):
        listing = changed[number * 7 % len(changed)]
        with listing.open("a", encoding="utf-8") as handle:
            handle.write(f"# change {number}\n")
        git_in(folder, "commit", "-q", "-m", f"change {number}", "--", listing.name)


def main(counts: list[int], edits: int, git: bool = False, history: int = 0) -> None:
    columns = ["page en", "page ru", "browse", "directory.json", "search", "all", "build"]
    columns.append("not 200")
    print(f"{'listings':>8}  {'edit':<8}" + "".join(f"{name:>15}" for name in columns))
    for count in counts:
        with tempfile.TemporaryDirectory(
            prefix="watch-latency-", ignore_cleanup_errors=True
        ) as scratch:
            root = Path(scratch)
            listings = generate_listings(count, root / "listings")
            listing = _untranslated(listings, count // 2)
            if git:
                _commit_all(listings, history, keep=listing)
            slug = listing.stem
            started = time.monotonic()
            with serving(listings, root) as base:
                folder = f"a git checkout of {history + 1} commits" if git else "a plain folder"
                print(f"{count} listings in {folder}: serve ready (build included) in "
                      f"{time.monotonic() - started:.1f} s")  # fmt: skip
                browse = _browse_page(root / "site", slug)
                later = []
                for number in range(edits):
                    time.sleep(1.0)  # the server idle, as between a person's edits
                    before = len(_builds(root / "serve.log"))
                    row = measure_edit(base, listing, slug, browse, f"Zq{number}x{count}")
                    row["build"] = _next_build_seconds(root / "serve.log", before)
                    label = "first" if number == 0 else f"{number + 1}"
                    cells = "".join(
                        f"{row[name]:>15.0f}" if name == "not 200" else f"{row[name]:>14.2f}s"
                        for name in columns
                    )
                    print(f"{count:>8}  {label:<8}{cells}", flush=True)
                    if number:
                        later.append(row["all"])
                if later:
                    median = statistics.median(later)
                    print(f"{count:>8}  median of the later edits: all {median:.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("counts", nargs="*", type=int, metavar="N")
    parser.add_argument("--edits", type=int, default=4, metavar="K")
    parser.add_argument("--git", action="store_true", help="the listings in a git checkout")
    parser.add_argument(
        "--history", type=int, default=0, metavar="K", help="with --git: K more commits"
    )
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_COUNT} listings, 2 edits")
    arguments = parser.parse_args()
    if arguments.history and not arguments.git:
        parser.error("--history needs --git")
    if arguments.smoke:
        main([SMOKE_COUNT], 2)
        main([SMOKE_COUNT], 2, git=True, history=3)
    else:
        main(
            arguments.counts or [10000],
            max(1, arguments.edits),
            arguments.git,
            max(0, arguments.history),
        )
