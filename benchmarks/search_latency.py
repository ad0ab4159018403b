"""Index build time and query latency of partner search on N generated listings.

    python -m benchmarks.search_latency [N ...]      (default: 1000 10000)

One warm searcher answers a few hundred mixed queries (plain words, several words, Russian,
typos, filters, no text); every query computes the facet counts, as the API does. Figures are
the median and p95 latency per kind and overall, measured in process (no HTTP).
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.generate import generate_listings
from marketplace.validate import load_listings
from search.documents import partner_documents
from search.engine import SearchQuery
from search.whoosh_engine import WhooshSearch, build_index

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
}
FILTERS = [
    {"service": "teams"},
    {"region": "DE"},
    {"program": "cloud-essentials"},
    {"service": "exchange-online", "region": "US"},
]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(count: int, rounds: int = 300) -> None:
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        catalog, loaded = load_listings(generate_listings(count, root / "listings"))
        documents = partner_documents(catalog, [item.listing for item in loaded])
        started = time.perf_counter()
        build_index(root / "index", documents)
        build_seconds = time.perf_counter() - started
        engine = WhooshSearch(root / "index")
        engine.search(SearchQuery(text="warm up"))
        timings: dict[str, list[float]] = {kind: [] for kind in QUERIES}
        for _ in range(rounds):
            kind = rng.choice(list(QUERIES))
            text = rng.choice(QUERIES[kind])
            filters = rng.choice(FILTERS) if kind in ("filtered", "browse") else {}
            language = "ru" if kind == "russian" else "en"
            query = SearchQuery(
                text=text, filters=filters, language=language, page=rng.choice([1, 1, 2])
            )
            started = time.perf_counter()
            engine.search(query)
            timings[kind].append((time.perf_counter() - started) * 1000)
        engine.close()
    every = [t for values in timings.values() for t in values]
    print(
        f"{count} listings: index build {build_seconds:.1f} s; "
        f"{len(every)} queries with facet counts:"
    )
    print(f"  {'kind':<9} {'n':>4} {'median ms':>10} {'p95 ms':>8}")
    for kind, values in [*timings.items(), ("all", every)]:
        if values:
            print(
                f"  {kind:<9} {len(values):>4} {statistics.median(values):>10.1f} "
                f"{percentile(values, 0.95):>8.1f}"
            )


if __name__ == "__main__":
    for n in [int(arg) for arg in sys.argv[1:]] or [1000, 10000]:
        run(n)
