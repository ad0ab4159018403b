"""How the changes `marketplace serve` is told of come: per kind of write, how many events and
the longest pause between two of them (what `SourceWatcher`'s quiet times must outlast).

    python -m benchmarks.watch_bursts [N] [--smoke]     (default: 10000 listings)

Generates N listings in a git checkout, watches the folder exactly as `serve` does (watchdog,
the same event kinds: `SourceWatcher.observe`), then runs, one after the other: an editor's
save (a new file renamed over the listing), a plain write into the listing, `sed -i`, `git
checkout` of a branch where a fifth of the listings changed and back, `git merge` of it, `cp
-r` of every listing into a new folder in it and `rm -r` of that folder. For each: the events,
their spread, and the longest and the 99th-percentile pause between two. A pause longer than
the quiet time that applies would split that write into two builds (`SourceWatcher.changed`:
`QUIET_SECONDS` after at most `FEW_CHANGES` events, else `BURST_QUIET_SECONDS`).

`--smoke` runs on 14 listings (the tests do, so the script cannot rot).
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.generate import generate_listings
from benchmarks.watch_latency import _commit_all, git_in
from marketplace.validate import listing_files
from marketplace_app.build import BuildPaths
from marketplace_app.cli import SourceWatcher

SMOKE_COUNT = 14
SETTLE_SECONDS = 1.0
"""After a write, how long to wait for its last events (far above any quiet time)."""


class _Stamps:
    """The arrival time of every change event `watcher` reports, as `serve` filters them."""

    def __init__(self, watcher: SourceWatcher) -> None:
        self.times: list[float] = []
        self._lock = threading.Lock()
        watcher.on_change = self._stamp

    def _stamp(self) -> None:
        with self._lock:
            self.times.append(time.monotonic())

    def take(self) -> list[float]:
        with self._lock:
            taken, self.times = self.times, []
        return taken


def _writes(listings: Path, scratch: Path) -> list[tuple[str, Callable[[], None]]]:
    """(what, how) for each kind of write, in the order they run."""
    files = list(listing_files(listings))
    middle = len(files) // 2
    edited = files[middle + 1 if middle % 5 == 0 else middle]  # one the branch leaves alone

    def editor_save() -> None:
        temporary = edited.with_name(f".{edited.name}.swp")
        temporary.write_text(edited.read_text(encoding="utf-8") + "# saved\n", encoding="utf-8")
        temporary.replace(edited)

    def plain_write() -> None:
        edited.write_text(edited.read_text(encoding="utf-8") + "# written\n", encoding="utf-8")

    def sed() -> None:
        program = shutil.which("sed") or "sed"
        subprocess.run([program, "-i", "s/^summary: /summary: Sed /", str(edited)], check=True)

    source, copy = scratch / "source", listings / "copied"  # (a folder in the one watched)
    return [
        ("editor's save (rename)", editor_save),
        ("plain write", plain_write),
        ("sed -i", sed),
        (
            f"git checkout, {len(files) // 5} changed",
            lambda: git_in(listings, "checkout", "-q", "other"),
        ),
        ("git checkout back", lambda: git_in(listings, "checkout", "-q", "main")),
        ("git merge", lambda: git_in(listings, "merge", "-q", "--no-edit", "other")),
        (f"cp -r, {len(files)} listings", lambda: shutil.copytree(source, copy)),
        ("rm -r", lambda: shutil.rmtree(copy)),
    ]


def _branch_changing_a_fifth(listings: Path) -> None:
    """A branch `other` where every fifth listing has one more line; `main` checked out."""
    git_in(listings, "branch", "-M", "main")
    git_in(listings, "checkout", "-q", "-b", "other")
    for path in list(listing_files(listings))[::5]:
        with path.open("a", encoding="utf-8") as handle:
            handle.write("# changed on the branch\n")
    git_in(listings, "commit", "-q", "-a", "-m", "a fifth changed")
    git_in(listings, "checkout", "-q", "main")


def main(count: int) -> None:
    quiet, few, burst = (
        SourceWatcher.QUIET_SECONDS,
        SourceWatcher.FEW_CHANGES,
        SourceWatcher.BURST_QUIET_SECONDS,
    )
    print(f"quiet times: {quiet} s after at most {few} events, else {burst} s")
    print(f"{'write':<28}{'events':>8}{'spread':>10}{'longest pause':>15}{'p99 pause':>11}")
    with tempfile.TemporaryDirectory(prefix="watch-bursts-", ignore_cleanup_errors=True) as name:
        scratch = Path(name)
        listings = generate_listings(count, scratch / "listings")
        _commit_all(listings)
        _branch_changing_a_fifth(listings)
        shutil.copytree(listings, scratch / "source", ignore=shutil.ignore_patterns(".git"))
        watcher = SourceWatcher(BuildPaths(listings, scratch / "site", scratch / "instance"))
        stamps = _Stamps(watcher)
        watcher.observe()
        try:
            time.sleep(SETTLE_SECONDS)
            stamps.take()
            for what, write in _writes(listings, scratch):
                write()
                time.sleep(SETTLE_SECONDS)
                times = stamps.take()
                pauses = sorted(later - earlier for earlier, later in itertools.pairwise(times))
                longest = f"{pauses[-1] * 1000:.1f} ms" if pauses else "-"
                p99 = f"{pauses[int(len(pauses) * 0.99)] * 1000:.1f} ms" if pauses else "-"
                spread = f"{(times[-1] - times[0]) * 1000:.0f} ms" if times else "-"
                print(f"{what:<28}{len(times):>8}{spread:>10}{longest:>15}{p99:>11}", flush=True)
        finally:
            watcher.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("count", nargs="?", type=int, default=10000, metavar="N")
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_COUNT} listings")
    arguments = parser.parse_args()
    main(SMOKE_COUNT if arguments.smoke else max(1, arguments.count))
