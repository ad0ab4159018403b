"""The engine-neutral search interface: what a query asks and what it answers
(README: Search API)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from marketplace.catalog import FACETS, SITE_LANGUAGES

FILTER_FACETS: tuple[str, ...] = tuple(facet.name for facet in FACETS)
"""Facets a query can filter on and the answer counts (plus `delegated_admin`)."""

MAX_QUERY_LENGTH = 500
"""Longer query texts are refused: nobody types more, and they only cost time."""

MAX_PER_PAGE = 50
MAX_PAGE = 1000


class QueryError(ValueError):
    """A query that cannot be run as asked; `field` names the offending parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SearchQuery:
    """A customer's search: free text, facet filters, language and page."""

    text: str = ""
    filters: dict[str, str] = field(default_factory=dict)  # facet -> value (see FILTER_FACETS)
    delegated_admin: bool | None = None
    language: str = "en"
    page: int = 1
    per_page: int = 10

    def __post_init__(self) -> None:
        if len(self.text) > MAX_QUERY_LENGTH:
            raise QueryError("q", f"the query is longer than {MAX_QUERY_LENGTH} characters")
        if "\0" in self.text:
            raise QueryError("q", "the query contains a NUL character")
        unknown = set(self.filters) - set(FILTER_FACETS)
        if unknown:
            raise QueryError(sorted(unknown)[0], "not a facet that can be filtered on")
        if self.language not in SITE_LANGUAGES:
            raise QueryError("lang", f"language must be one of {', '.join(SITE_LANGUAGES)}")
        if not 1 <= self.page <= MAX_PAGE:
            raise QueryError("page", f"page must be between 1 and {MAX_PAGE}")
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise QueryError("per_page", f"per_page must be between 1 and {MAX_PER_PAGE}")


@dataclass(frozen=True)
class Hit:
    """One ranked partner. `highlights` maps a field (name, summary, description) to an HTML
    fragment: partner text escaped, matched words in <mark> elements, nothing else. The text
    is what a visitor reads (a description's Markdown as plain text, one line per block),
    cut between words, with "…" where text was left out."""

    slug: str
    name: str
    summary: str
    url: str
    score: float
    highlights: dict[str, str]


@dataclass(frozen=True)
class SearchResult:
    """Ranked hits of one page, the total, counts per facet value, and a spelling suggestion."""

    total: int
    hits: list[Hit]
    facets: dict[str, dict[str, int]]
    suggestion: str | None


class SearchEngine(Protocol):
    """What callers need from a search engine; whoosh is one implementation."""

    def search(self, query: SearchQuery) -> SearchResult:
        """Answer one query; `FileNotFoundError` when there is no index yet."""
        ...

    def available(self) -> bool:
        """True when there is an index to answer from."""
        ...

    def built_from(self) -> str | None:
        """The `content_hash` of the partner snapshot the index was built from (None when
        there is no index or it does not say), so the backend can tell a stale index."""
        ...

    def close(self) -> None:
        """Release what the engine holds open."""
        ...
