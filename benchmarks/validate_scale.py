"""How long `marketplace validate` takes on N listings, against a bare libyaml load.

    python -m benchmarks.validate_scale [N ...] [--smoke]      (default: 1000 10000)

Both are run as fresh processes over the same generated files; the figures are wall time
(median of 3) and the peak resident memory of the largest process (the validator's parent;
from 1,000 files on it also forks one worker per core). "1 core" runs the same validation
with the process pool switched off, to show the single-core cost. `--smoke` runs each command
once on 14 listings (the tests do, so the script cannot rot).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.generate import generate_listings

SMOKE_COUNT = 14
"""One listing per example template."""

SINGLE_CORE = """
import sys
from pathlib import Path
import marketplace.validate as validate
if not hasattr(validate, "PARALLEL_THRESHOLD"):
    sys.exit("marketplace.validate has no PARALLEL_THRESHOLD to switch the process pool off")
validate.PARALLEL_THRESHOLD = 10**9
sys.exit(0 if validate.validate_directory(Path(sys.argv[1])).ok else 1)
"""

BARE_LOAD = """
import sys, yaml
from pathlib import Path
for path in sorted(Path(sys.argv[1]).glob("*.yaml")):
    if not path.name.startswith("_"):
        yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
"""


def measure(command: list[str], repeats: int = 3) -> tuple[float, float]:
    """Median seconds and peak MB of RSS over `repeats` runs of `command`."""
    times, peaks = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
        if result.returncode not in (0,):
            sys.exit(f"{command} failed: {result.stderr.decode()[-2000:]}")
        # ru_maxrss of children is the largest child so far, in KB on Linux.
        peaks.append(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    return statistics.median(times), max(peaks)


def main(counts: list[int], repeats: int = 3) -> None:
    print(
        f"{'listings':>9} {'validate s':>11} {'1 core s':>9} {'bare load s':>12} "
        f"{'ratio':>6} {'1-core ratio':>13} {'peak MB':>8}"
    )
    for count in counts:
        with tempfile.TemporaryDirectory() as folder:
            listings = generate_listings(count, Path(folder) / "listings")
            bare, _ = measure([sys.executable, "-c", BARE_LOAD, str(listings)], repeats)
            single, _ = measure([sys.executable, "-c", SINGLE_CORE, str(listings)], repeats)
            validate, peak = measure(
                [sys.executable, "-m", "marketplace_app", "validate", str(listings)], repeats
            )
        print(
            f"{count:>9} {validate:>11.2f} {single:>9.2f} {bare:>12.2f} "
            f"{validate / bare:>6.2f} {single / bare:>13.2f} {peak:>8.0f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("counts", nargs="*", type=int, metavar="N", default=[1000, 10000])
    parser.add_argument("--smoke", action="store_true", help=f"one run on {SMOKE_COUNT} listings")
    arguments = parser.parse_args()
    if arguments.smoke:
        main([SMOKE_COUNT], repeats=1)
    else:
        main(arguments.counts)
