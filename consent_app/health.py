"""`/healthz`: what load balancers and monitoring need: is the process up, does the database
answer, how far behind is mail (the outbox backlog), is the search index there."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from consent_app.backend import backend
from consent_app.outbox import outbox_status
from consent_app.search_api import search_engine

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 with the figures when the database answers; 503 when it does not."""
    engine = search_engine()
    index = engine is not None and engine.available()
    try:
        status = outbox_status(backend().database)
    except SQLAlchemyError:
        current_app.logger.exception("health check: the database does not answer")
        return jsonify(status="error", database="unreachable", search_index=index), 503
    return jsonify(
        status="ok",
        database="ok",
        search_index=index,
        outbox={
            "unsent": status.unsent,
            "failing": status.failing,
            "oldest_unsent_seconds": status.oldest_unsent_seconds,
        },
    )
