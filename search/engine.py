"""The engine-neutral search interface: what a query asks and what it answers
(README: Search API)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from marketplace.catalog import FACETS, SITE_LANGUAGES, WORLDWIDE
from marketplace.model import SLUG_PATTERN

FILTER_FACETS: tuple[str, ...] = tuple(facet.name for facet in FACETS)
"""Facets a query can filter on and the answer counts (plus `delegated_admin`)."""

SORTS: tuple[str, ...] = ("relevance", "name", "newest")
"""Orders a query can ask for; without one, relevance when there is text, else name."""

MAX_FILTER_VALUES = 50
"""Values one facet filter may name (each costs a bitset OR per count)."""

FACET_VALUE_FORMS: dict[str, tuple[str, str]] = {
    facet: (SLUG_PATTERN, "a catalog id like exchange-online") for facet in FILTER_FACETS
} | {
    "region": (
        rf"^(?:[A-Z]{{2}}|{WORLDWIDE})$",
        f"an ISO 3166-1 alpha-2 country code like DE, or {WORLDWIDE}",
    ),
    "language": (r"^[a-z]{2}$", "an ISO 639-1 language code like de"),
}
"""Facet -> (the pattern its values match, what that is in words). Only the form is checked:
a well-formed value no partner has finds nothing, as someone following an old link should
see. The OpenAPI document publishes the patterns."""

_VALUE_FORMS = {
    facet: (re.compile(pattern), words) for facet, (pattern, words) in FACET_VALUE_FORMS.items()
}

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
    """A customer's search: free text, facet filters, language, order and page.

    `filters` maps a facet (see FILTER_FACETS) to the values asked for: a partner passes a
    facet's filter with any one of its values (OR), and must pass every facet's (AND). A
    facet with no values does not filter. The values are kept deduplicated, in order.
    """

    text: str = ""
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    delegated_admin: bool | None = None
    language: str = "en"
    page: int = 1
    per_page: int = 10
    sort: str | None = None  # one of SORTS; None: the default (`order`)

    def __post_init__(self) -> None:
        if len(self.text) > MAX_QUERY_LENGTH:
            raise QueryError("q", f"the query is longer than {MAX_QUERY_LENGTH} characters")
        if "\0" in self.text:
            raise QueryError("q", "the query contains a NUL character")
        unknown = set(self.filters) - set(FILTER_FACETS)
        if unknown:
            raise QueryError(sorted(unknown)[0], "not a facet that can be filtered on")
        filters: dict[str, tuple[str, ...]] = {}
        for facet, values in self.filters.items():
            if isinstance(values, str):  # a caller's slip that would filter by its letters
                raise TypeError(f"filters[{facet!r}] must be a tuple of values, not a string")
            unique = tuple(dict.fromkeys(values))
            if len(unique) > MAX_FILTER_VALUES:
                raise QueryError(facet, f"at most {MAX_FILTER_VALUES} values can be asked for")
            form, hint = _VALUE_FORMS[facet]
            for value in unique:
                if not form.fullmatch(value):
                    raise QueryError(facet, f"{value[:60]!r} is not {hint}")
            if unique:
                filters[facet] = unique
        # Frozen: the normalised filters replace the given ones once, here.
        object.__setattr__(self, "filters", filters)
        if self.sort is not None and self.sort not in SORTS:
            raise QueryError("sort", f"sort must be one of {', '.join(SORTS)}")
        if self.language not in SITE_LANGUAGES:
            raise QueryError("lang", f"language must be one of {', '.join(SITE_LANGUAGES)}")
        if not 1 <= self.page <= MAX_PAGE:
            raise QueryError("page", f"page must be between 1 and {MAX_PAGE}")
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise QueryError("per_page", f"per_page must be between 1 and {MAX_PER_PAGE}")

    @property
    def order(self) -> str:
        """The order asked for, or the default: relevance when there is text, else name."""
        if self.sort is not None:
            return self.sort
        return "relevance" if self.text.strip() else "name"


@dataclass(frozen=True)
class Hit:
    """One ranked partner. `highlights` maps a field (name, summary, description) to an HTML
    fragment: partner text escaped, matched words in <mark> elements, nothing else. The text
    is what a visitor reads (a description's Markdown as plain text, one line per block),
    cut between words, with "…" where text was left out.

    `url` and `logo` are URL paths on the site in the query's language; `lang` is the language
    of the `summary` (and so of the card): "en" where the listing has no text in the query's
    language and its English shows instead."""

    slug: str
    name: str
    summary: str
    url: str
    score: float
    highlights: dict[str, str]
    logo: str | None
    regions: list[str]  # ISO 3166-1 alpha-2 codes, or "worldwide"
    programs: list[str]  # catalog program ids
    delegated_admin: bool  # the partner offers delegated administration
    trial: bool  # the listing has at least one trial offer
    published: str  # first published, "YYYY-MM-DD" (UTC)
    lang: str


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
