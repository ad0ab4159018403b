"""`GET /api/v1/search`: the partner search API over the index in the instance folder."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from consent_app.http_errors import ApiError
from search.engine import FILTER_FACETS, QueryError, SearchEngine, SearchQuery

bp = Blueprint("search_api", __name__)

_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


EXTENSION = "marketplace_search"


def init_app(app: Flask, engine: SearchEngine | None) -> None:
    """Answer searches with `engine` (the composition root chooses it; None: 503 until one
    is configured)."""
    app.extensions[EXTENSION] = engine


def search_engine() -> SearchEngine | None:
    """The running app's search engine, if it has one."""
    engine: SearchEngine | None = current_app.extensions.get(EXTENSION)
    return engine


def _integer(name: str, default: int) -> int:
    raw = request.args.get(name, "")
    if raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        raise ApiError(400, "validation_error", f"{name} must be a positive whole number", name)
    return int(raw)


def parse_query() -> SearchQuery:
    """The SearchQuery the request asks for; ApiError 400 naming the parameter otherwise.

    A facet parameter may repeat (`service=teams&service=exchange-online`: either service);
    an empty one (`service=`, what an empty form field sends) asks for nothing.
    """
    filters = {
        facet: tuple(value for value in request.args.getlist(facet) if value)
        for facet in FILTER_FACETS
    }
    raw_da = request.args.get("delegated_admin", "")
    if raw_da and raw_da.lower() not in _BOOLEANS:
        raise ApiError(
            400, "validation_error", "delegated_admin must be true or false", "delegated_admin"
        )
    try:
        return SearchQuery(
            text=request.args.get("q", "").strip(),
            filters=filters,
            delegated_admin=_BOOLEANS[raw_da.lower()] if raw_da else None,
            language=request.args.get("lang", "en"),
            page=_integer("page", 1),
            per_page=_integer("per_page", 10),
            sort=request.args.get("sort") or None,
        )
    except QueryError as error:
        raise ApiError(400, "validation_error", str(error), error.field) from None


@bp.get("/api/v1/search")
def search() -> ResponseReturnValue:
    """Ranked partners, facet counts and a spelling suggestion (README: Search API)."""
    query = parse_query()
    engine = search_engine()
    try:
        if engine is None:
            raise FileNotFoundError("no search engine is configured")
        result = engine.search(query)
    except FileNotFoundError:
        raise ApiError(
            503, "search_unavailable", "The search index has not been built yet."
        ) from None
    body = asdict(result)
    response = jsonify(body)
    # The static site may be served from another origin (a CDN) than the API.
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
