"""Partner search: listings -> index, query -> results. No web code here.

Callers use the engine-neutral types and `SearchEngine` protocol of `search.engine`; the whoosh
implementation lives in `search.whoosh_engine`, with `search.whoosh_scores` (every term's
scores, computed by the build); they are the only modules that import whoosh.
"""
