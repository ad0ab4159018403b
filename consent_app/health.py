"""`/healthz`: what load balancers and monitoring need: is the process up, does the database
answer, how far behind is mail (the outbox backlog), is the search index there, and which
partner snapshot the process serves (so a deploy can check every worker took the new one)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from consent_app.backend import backend
from consent_app.outbox import outbox_status
from consent_app.partners import PartnerDirectory
from consent_app.search_api import search_engine

bp = Blueprint("health", __name__)


def snapshot_status(directory: PartnerDirectory) -> dict[str, Any] | None:
    """The loaded partner snapshot: format version, content hash, build time, partners."""
    stamp = directory.snapshot
    if stamp is None:
        return None
    return {
        "version": stamp.version,
        "content_hash": stamp.content_hash,
        "built_at": stamp.built_at.isoformat(),
        "partners": len(directory.listings),
    }


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 with the figures when the database answers; 503 when it does not."""
    engine = search_engine()
    index = engine is not None and engine.available()
    snapshot = snapshot_status(backend().directory)
    try:
        status = outbox_status(backend().database)
    except SQLAlchemyError:
        current_app.logger.exception("health check: the database does not answer")
        return jsonify(
            status="error", database="unreachable", search_index=index, partner_snapshot=snapshot
        ), 503
    return jsonify(
        status="ok",
        database="ok",
        search_index=index,
        partner_snapshot=snapshot,
        outbox={
            "unsent": status.unsent,
            "failing": status.failing,
            "oldest_unsent_seconds": status.oldest_unsent_seconds,
        },
    )
