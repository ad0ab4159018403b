"""Index build time and query latency of partner search on N generated listings.

    python -m benchmarks.search_latency [N ...] [--smoke]      (default: 1000 10000)

One warm searcher answers a few hundred mixed queries (plain words, several words, Russian,
typos, filters of one or several values per facet, no text, sorted by name or newest); every
query computes the facet counts, as the API does. Figures are
the median and p95 latency per kind and overall, measured in process (no HTTP); "documents"
is the time to turn the listings into search documents (descriptions' Markdown into text).

The build analyses the scored fields, writes every term's BM25F scores
(search/whoosh_scores.py) and the partners' records, facet bitsets and orders into the index's
folder (`precompute`); "precomputing" is `precompute` run again on the built index, in one
process (the build analyses the text beside whoosh's writer processes, so this is more than
the step adds to a build), "precomputed" the size of what it writes. "Cold" is the first
time each distinct query is asked on a freshly opened index (opening it, timed apart as
"open", is what a server does when it starts or finds a new index): the worst a query sees
right after a rebuild or a restart.
Last, one partner's summary is changed and the index updated in place (`update_index`, for
`marketplace serve` to call when a listing is edited).
`--smoke` asks 30 queries of 14 listings (the tests do, so the script cannot rot).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.generate import generate_listings
from marketplace.validate import load_listings
from search.documents import partner_documents
from search.engine import SearchQuery
from search.whoosh_engine import PARTNERS_FILE, WhooshSearch, build_index, precompute, update_index
from search.whoosh_scores import ANALYSED_FILE, SCORE_FILES

QUERIES = {
    "plain": ["migration", "Teams", "security", "training", "dashboards", "hospital", "mail"],
    "words": [
        "migrate our mailboxes",
        "Teams training for staff",
        "device management kiosk",
        "licensing advice for nonprofits",
        "identity security banks",
    ],
    "russian": ["обучение сотрудников", "миграция почты", "защита от угроз", "партнёры"],
    "typo": ["migraton", "secruity", "trainig", "dashbords", "licencing"],
    "filtered": ["migration", "Teams", ""],
    "browse": [""],
    "sorted": ["migration", "Teams", ""],
}
FILTERS: list[dict[str, tuple[str, ...]]] = [
    {"service": ("teams",)},
    {"region": ("DE",)},
    {"program": ("cloud-essentials",)},
    {"service": ("exchange-online",), "region": ("US",)},
    {"service": ("teams", "exchange-online"), "region": ("DE", "GB", "FR")},
]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary(values: list[float], fraction: float) -> tuple[float, float]:
    """(median, the value at `fraction`), or NaNs for a kind no query of the run had."""
    if not values:
        return float("nan"), float("nan")
    return statistics.median(values), percentile(values, fraction)


def run(count: int, rounds: int = 300) -> None:
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        catalog, loaded = load_listings(generate_listings(count, root / "listings"))
        started = time.perf_counter()
        documents = partner_documents(catalog, [item.listing for item in loaded])
        documents_seconds = time.perf_counter() - started
        started = time.perf_counter()
        folder = build_index(root / "index", documents)
        build_seconds = time.perf_counter() - started
        precomputed = [folder / name for name in (*SCORE_FILES, PARTNERS_FILE, ANALYSED_FILE)]
        megabytes = sum(path.stat().st_size for path in folder.iterdir()) / 2**20
        scores_megabytes = sum(path.stat().st_size for path in precomputed) / 2**20
        started = time.perf_counter()
        precompute(folder, documents)
        scores_seconds = time.perf_counter() - started
        queries = []
        for _ in range(rounds):
            kind = rng.choice(list(QUERIES))
            text = rng.choice(QUERIES[kind])
            filters = rng.choice(FILTERS) if kind in ("filtered", "browse", "sorted") else {}
            language = "ru" if kind == "russian" else "en"
            page = rng.choice([1, 1, 2])
            sort = None
            if kind == "sorted":  # both sites' orders: each language has its own
                sort, language = rng.choice(["name", "newest"]), rng.choice(["en", "ru"])
            queries.append((kind, SearchQuery(text, filters, None, language, page, sort=sort)))

        open_ms, first_seen = cold_run(root / "index", queries)

        engine = WhooshSearch(root / "index")
        engine.wait_until_warm()
        timings: dict[str, list[float]] = {kind: [] for kind in QUERIES}
        for kind, query in queries:
            timings[kind].append(timed(engine, query))
        # One listing edited while the server runs: a new generation from the current one.
        edited = replace(documents[0], summary={"en": "Zyxwvut", "ru": "Зыксвут"})
        started = time.perf_counter()
        update_index(root / "index", [edited])
        update_seconds = time.perf_counter() - started
        after_update_ms = timed(engine, SearchQuery("zyxwvut"))  # opens the new generation
        engine.close()
    print(
        f"{count} listings: index build {build_seconds:.1f} s, of which precomputing "
        f"{scores_seconds:.2f} s (documents before it {documents_seconds:.1f} s); index "
        f"{megabytes:.1f} MB, of which precomputed {scores_megabytes:.1f} MB; open "
        f"{open_ms:.0f} ms; "
        f"{rounds} queries with facet counts:"
    )
    header = f"  {'kind':<9} {'n':>4} {'median ms':>10} {'p95 ms':>8}"
    print(header + f"   cold: {'n':>3} {'median':>7} {'max':>7}")
    for kind in [*QUERIES, "all"]:
        warm = [t for k, v in timings.items() for t in v if kind in (k, "all")]
        first = [t for k, v in first_seen.items() for t, _ in v if kind in (k, "all")]
        warm_median, warm_p95 = summary(warm, 0.95)
        cold_median, cold_max = summary(first, 1.0)
        print(
            f"  {kind:<9} {len(warm):>4} {warm_median:>10.1f} {warm_p95:>8.1f}   "
            f"cold: {len(first):>3} {cold_median:>7.1f} {cold_max:>7.1f}"
        )
    slowest = max((entry for v in first_seen.values() for entry in v), default=(0.0, ""))
    print(f"  slowest cold query: {slowest[1]!r} {slowest[0]:.1f} ms")
    print(
        f"  one partner changed (update_index): {update_seconds:.2f} s; the first query "
        f"after it, opening the new generation: {after_update_ms:.0f} ms"
    )


def cold_run(
    index: Path, queries: list[tuple[str, SearchQuery]]
) -> tuple[float, dict[str, list[tuple[float, str]]]]:
    """(ms to open the index, kind -> (ms, text) of each distinct query's first asking) on a
    freshly opened index without warm-up."""
    cold = WhooshSearch(index, warm=False)
    started = time.perf_counter()
    cold.wait_until_warm(timeout=0)  # opens the index
    open_ms = (time.perf_counter() - started) * 1000
    first_seen: dict[str, list[tuple[float, str]]] = {kind: [] for kind in QUERIES}
    asked = set()
    for kind, query in queries:
        if (query.text, query.language) not in asked:
            asked.add((query.text, query.language))
            first_seen[kind].append((timed(cold, query), query.text))
    cold.close()
    return open_ms, first_seen


def timed(engine: WhooshSearch, query: SearchQuery) -> float:
    """Milliseconds one search takes."""
    started = time.perf_counter()
    engine.search(query)
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("counts", nargs="*", type=int, metavar="N", default=[1000, 10000])
    parser.add_argument("--smoke", action="store_true", help="30 queries of 14 listings")
    arguments = parser.parse_args()
    if arguments.smoke:
        run(14, rounds=30)
    else:
        for count in arguments.counts:
            run(count)
