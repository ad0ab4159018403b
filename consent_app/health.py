"""`/healthz`: a cheap answer for load balancers and monitoring."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Report that the process is up and answering."""
    return jsonify(status="ok")
