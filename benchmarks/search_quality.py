"""Ranking quality of partner search over the judged query set (tests/search/judged.py).

    python -m benchmarks.search_quality [--smoke]

Builds the real whoosh index of the example listings plus the crafted ones, asks every judged
query as the API would (first page of 10, facet counts included), and prints nDCG@5 (graded:
2 for an answer, 1 for a relevant partner) and hits@3 (the share of queries with every answer
in the first three and, for a query naming a partner, that partner first), per kind of query
and overall, then each query that misses. `--smoke` asks the first five queries only (the
tests run it, so the script cannot rot; tests/search/test_judged.py checks the whole set).
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
from pathlib import Path

from marketplace.validate import load_listings
from search.documents import partner_documents
from search.engine import SearchQuery
from search.whoosh_engine import WhooshSearch, build_index
from tests.search.judged import JUDGED, Judged, judged_listings

CUTOFF = 5


def ndcg(judged: Judged, ranked: list[str], cutoff: int = CUTOFF) -> float:
    """Normalised discounted cumulative gain of `ranked` at `cutoff` (1.0: ideal order)."""

    def dcg(grades: list[int]) -> float:
        return sum((2**grade - 1) / math.log2(rank + 2) for rank, grade in enumerate(grades))

    ideal = sorted((judged.grade(slug) for slug in judged.top + judged.also), reverse=True)
    return dcg([judged.grade(slug) for slug in ranked[:cutoff]]) / dcg(ideal[:cutoff])


def run(queries: tuple[Judged, ...]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        catalog, loaded = load_listings(judged_listings(root / "listings"))
        build_index(root / "index", partner_documents(catalog, [item.listing for item in loaded]))
        engine = WhooshSearch(root / "index", warm=False)
        outcomes: list[tuple[Judged, list[str]]] = []
        for judged in queries:
            hits = engine.search(SearchQuery(text=judged.text, language=judged.language)).hits
            outcomes.append((judged, [hit.slug for hit in hits]))
        engine.close()
    print(f"{len(queries)} judged queries over {len(loaded)} listings:")
    print(f"  {'kind':<8} {'n':>3} {f'nDCG@{CUTOFF}':>7} {'hits@3':>7}")
    kinds = list(dict.fromkeys(judged.kind for judged in queries))
    for kind in [*kinds, "all"]:
        chosen = [(j, r) for j, r in outcomes if kind in (j.kind, "all")]
        gains = statistics.fmean(ndcg(j, r) for j, r in chosen)
        hits = sum(j.passes(r) for j, r in chosen) / len(chosen)
        print(f"  {kind:<8} {len(chosen):>3} {gains:>7.3f} {hits:>7.3f}")
    missed = [(j, r) for j, r in outcomes if not j.passes(r)]
    for judged, ranked in missed:
        print(
            f"  missed: {judged.text!r} ({judged.language}): wanted {judged.top}, got {ranked[:3]}"
        )
    if not missed:
        print("  missed: none")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="the first five queries only")
    arguments = parser.parse_args()
    run(JUDGED[:5] if arguments.smoke else JUDGED)
