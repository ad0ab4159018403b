"""The partner API (SPEC §6): invitations, offers and relationships, authenticated by API key.

Every answer is JSON; every error is `{"error": code, "message": …}` (see `api_errors`).
A partner sees and changes only its own invitations and relationships: another partner's
invitation answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from consent_app.api_errors import ApiError
from consent_app.audit import Actor
from consent_app.backend import backend
from consent_app.consent import end_delegated_admin, partner_relationships
from consent_app.errors import Refused
from consent_app.invitations import (
    cancel_invitation,
    create_invitation,
    partner_invitation,
    partner_invitations,
    partner_view,
)
from consent_app.partners import authenticate
from consent_app.tenants import find_tenant, normalized_domain

bp = Blueprint("partner_api", __name__, url_prefix="/api/v1")

MAX_LIST = 100


@dataclass(frozen=True)
class Caller:
    """The authenticated partner."""

    slug: str
    actor: Actor


def _caller() -> Caller:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "unauthorized", "send your API key as Authorization: Bearer <key>")
    found = backend()
    with found.read() as session:
        row = authenticate(session, found.directory, key.strip())
    detail = f"key {row.key_id}"
    return Caller(row.partner_slug, Actor("partner", row.partner_slug, request.remote_addr, detail))


def _json_body() -> Any:
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "validation_error", "the body is not valid JSON")
    return body


@bp.post("/invitations")
def create() -> ResponseReturnValue:
    """Create a trial invitation or purchase offer; the link goes to the customer by mail."""
    caller = _caller()
    body = _json_body()
    found = backend()
    with found.write() as session:
        invitation = create_invitation(
            session, found.settings, found.directory, caller.slug, body, caller.actor
        )
        view = partner_view(invitation)
    answer = {key: view[key] for key in ("id", "status", "expires_at")}
    response = jsonify(answer)
    response.status_code = 201
    response.headers["Location"] = url_for("partner_api.show", invitation_id=view["id"])
    return response


@bp.get("/invitations")
def index() -> ResponseReturnValue:
    """The caller's invitations, newest first: `?limit=` (1-100) and `?before=<id>` to page."""
    caller = _caller()
    raw_limit = request.args.get("limit", "20")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIST:
        raise ApiError(400, "validation_error", f"limit must be 1-{MAX_LIST}", "limit")
    with backend().read() as session:
        invitations = partner_invitations(
            session, caller.slug, int(raw_limit), request.args.get("before") or None
        )
        views = [partner_view(invitation) for invitation in invitations]
    return jsonify({"invitations": views})


@bp.get("/invitations/<invitation_id>")
def show(invitation_id: str) -> ResponseReturnValue:
    """One of the caller's invitations, with the decision once there is one."""
    caller = _caller()
    with backend().read() as session:
        return jsonify(partner_view(partner_invitation(session, caller.slug, invitation_id)))


@bp.post("/invitations/<invitation_id>/cancel")
def cancel(invitation_id: str) -> ResponseReturnValue:
    """Withdraw a pending invitation; its link stops working."""
    caller = _caller()
    with backend().write() as session:
        invitation = cancel_invitation(session, caller.slug, invitation_id, caller.actor)
        return jsonify(partner_view(invitation))


@bp.get("/relationships")
def relationships() -> ResponseReturnValue:
    """Tenants where the caller is the delegated admin partner, partner of record, or both."""
    caller = _caller()
    with backend().read() as session:
        found = partner_relationships(session, caller.slug)
    return jsonify(
        {
            "relationships": [
                {
                    "tenant": item.tenant,
                    "delegated_admin": item.delegated_admin,
                    "partner_of_record": item.partner_of_record,
                    "since": item.since.isoformat(),
                }
                for item in found
            ]
        }
    )


@bp.delete("/relationships/<tenant>/delegated-admin")
def end_own_delegated_admin(tenant: str) -> ResponseReturnValue:
    """End the caller's own delegated administration of a tenant."""
    caller = _caller()
    domain = normalized_domain(tenant)
    found = backend()
    with found.write() as session:
        row = find_tenant(session, domain)
        if row is None:
            raise Refused("not_found", f"you are not the delegated admin of {domain}", 404)
        end_delegated_admin(
            session,
            found.settings,
            found.directory,
            row,
            caller.slug,
            caller.actor,
            "ended_by_partner",
        )
    return "", 204
