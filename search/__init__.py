"""Partner search: listings -> index, query -> results. No web code here.

Callers use the engine-neutral types and `SearchEngine` protocol of `search.engine`; the whoosh
implementation lives in `search.whoosh_engine` and is the only module that imports whoosh.
"""
