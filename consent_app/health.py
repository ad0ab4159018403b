"""Liveness and readiness for load balancers, orchestrators and monitoring (OPERATIONS.md:
Monitoring).

`/livez` says only that the process answers HTTP: a failing one should be restarted.
`/healthz` says whether this worker can do its job right now: 200 only when the database
answers, the search index is there and was built from the partner snapshot this worker
loaded, and no mail has waited in the outbox longer than `MARKETPLACE_HEALTH_MAIL_AGE_SECONDS`;
otherwise 503 with `"status": "degraded"` and a reason (a stable code and a message) for each
problem. Both bodies also carry the figures (outbox backlog, which snapshot is served), so a
deploy can check that every worker took the new one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from consent_app.backend import backend
from consent_app.outbox import OutboxStatus, outbox_status
from consent_app.partners import PartnerDirectory
from consent_app.search_api import search_engine

bp = Blueprint("health", __name__)


@dataclass(frozen=True)
class Reason:
    """Why a worker is not ready: a stable `code` for alerts, a `message` for people."""

    code: str
    message: str


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


def search_reason(available: bool, built_from: str | None, served: str | None) -> Reason | None:
    """Why search cannot answer for the partners this worker serves, if it cannot."""
    if not available:
        return Reason(
            "search_index_missing",
            "there is no search index in the instance folder: run `marketplace build`",
        )
    if served is None or built_from == served:
        return None  # partners made in code (tests) name no snapshot to compare with
    if built_from is None:
        return Reason(
            "search_index_stale",
            "the search index does not say which partner snapshot it was built from (an "
            "older build): run `marketplace build`",
        )
    return Reason(
        "search_index_stale",
        f"the search index was built from the partner snapshot {built_from}, this worker "
        f"serves {served}: restart the workers after a build, or rebuild",
    )


def mail_reason(status: OutboxStatus, limit_seconds: int) -> Reason | None:
    """Why mail is late, if an unsent message has waited longer than `limit_seconds`."""
    oldest = status.oldest_unsent_seconds
    if oldest is None or oldest <= limit_seconds:
        return None
    return Reason(
        "mail_backlog",
        f"{status.unsent} message(s) unsent, the oldest for {oldest:.0f} s (more than "
        f"{limit_seconds} s): see `marketplace mail status` and the workers' log",
    )


@bp.get("/livez")
def livez() -> ResponseReturnValue:
    """200 whenever the process answers; it looks at nothing else."""
    return jsonify(status="alive")


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 when the worker is ready; 503 with the reasons when it is not."""
    found = backend()
    reasons: list[Reason] = []
    engine = search_engine()
    index = engine is not None and engine.available()
    built_from = engine.built_from() if engine is not None and index else None
    snapshot = snapshot_status(found.directory)
    served = snapshot["content_hash"] if snapshot else None
    if (reason := search_reason(index, built_from, served)) is not None:
        reasons.append(reason)
    database = "ok"
    outbox: dict[str, Any] | None = None
    try:
        status = outbox_status(found.database)
    except SQLAlchemyError:
        current_app.logger.exception("health check: the database does not answer")
        database = "unreachable"
        reasons.append(Reason("database_unreachable", "the database does not answer"))
    else:
        outbox = {
            "unsent": status.unsent,
            "failing": status.failing,
            "oldest_unsent_seconds": status.oldest_unsent_seconds,
        }
        if (reason := mail_reason(status, found.settings.health_mail_age_seconds)) is not None:
            reasons.append(reason)
    body = {
        "status": "degraded" if reasons else "ok",
        "reasons": [asdict(reason) for reason in reasons],
        "database": database,
        "search_index": index,
        "search_index_snapshot": built_from,
        "partner_snapshot": snapshot,
        "outbox": outbox,
    }
    return jsonify(body), 503 if reasons else 200
