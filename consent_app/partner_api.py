"""The partner API (README: Partner API): invitations, offers and relationships, by API key.

Every answer is JSON; every error is `{"error": code, "message": …}` (see `http_errors`).
A partner sees and changes only its own invitations and relationships: another partner's
invitation answers 404, exactly like one that does not exist.

Every request is authenticated before anything else, and counted against rate limits of its
API key (`MARKETPLACE_API_RATE_LIMIT` for the whole API, `MARKETPLACE_INVITATION_RATE_LIMIT`
for creating invitations): the key, not the client address, since one partner system may call
from many addresses and many partners from one. Requests without a valid key count for no one.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from consent_app import webhooks
from consent_app.addresses import normalized_domain
from consent_app.audit import Actor
from consent_app.backend import backend
from consent_app.consent import end_delegated_admin, partner_relationships
from consent_app.http_errors import ApiError, json_body
from consent_app.ids import is_public_id
from consent_app.invitations import (
    cancel_invitation,
    create_invitation,
    partner_invitation,
    partner_invitations,
    partner_view,
    resend_invitation,
)
from consent_app.leads import lead_view, partner_leads, set_lead_status
from consent_app.partners import authenticate
from consent_app.refusals import NotFound
from consent_app.security import limiter, test_event_limit
from consent_app.tenants import find_tenant
from consent_app.work import UnitOfWork

bp = Blueprint("partner_api", __name__, url_prefix="/api/v1")

MAX_LIST = 100


@dataclass(frozen=True)
class Caller:
    """The authenticated partner."""

    slug: str
    key_id: str
    actor: Actor


@bp.before_request
def _authenticate() -> None:
    """Every partner API request carries a valid key (before rate limits count it)."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "unauthorized", "send your API key as Authorization: Bearer <key>")
    found = backend()
    with found.read() as session:
        row = authenticate(session, found.directory, key.strip())
    actor = Actor("partner", row.partner_slug, request.remote_addr, f"key {row.key_id}")
    g.partner_caller = Caller(row.partner_slug, row.key_id, actor)


def _caller() -> Caller:
    caller: Caller = g.partner_caller
    return caller


def _key_id() -> str:
    return _caller().key_id


per_key = limiter.shared_limit(
    lambda: backend().settings.api_rate_limit, scope="partner-api", key_func=_key_id
)
"""The whole partner API's limit, counted per API key across every endpoint."""


@bp.post("/invitations")
@per_key
@limiter.limit(lambda: backend().settings.invitation_rate_limit, key_func=_key_id)
def create() -> ResponseReturnValue:
    """Create a trial invitation or purchase offer; the link goes to the customer by mail."""
    caller = _caller()
    body = json_body()
    view = backend().run(
        lambda uow: partner_view(
            create_invitation(uow, caller.slug, body, caller.actor, caller.key_id), uow.now()
        )
    )
    answer = {key: view[key] for key in ("id", "status", "expires_at")}
    response = jsonify(answer)
    response.status_code = 201
    response.headers["Location"] = url_for("partner_api.show", invitation_id=view["id"])
    return response


def _limit(default: int) -> int:
    """`?limit=`: how many to list, 1 to MAX_LIST (ASCII digits only: `int()` takes "²" and
    other digits `isdigit()` lets through, and refuses numbers of thousands of digits)."""
    raw = request.args.get("limit", str(default))
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= MAX_LIST):
        raise ApiError(400, "validation_error", f"limit must be 1-{MAX_LIST}", "limit")
    return int(raw)


@bp.get("/invitations")
@per_key
def index() -> ResponseReturnValue:
    """The caller's invitations, newest first: `?limit=` (1-100) and `?before=<id>` to page."""
    caller = _caller()
    limit = _limit(20)
    before = request.args.get("before") or None
    if before is not None and not is_public_id(before):
        raise ApiError(
            400, "validation_error", "before must be one of your invitation ids", "before"
        )
    with backend().reading() as uow:
        invitations = partner_invitations(uow.session, caller.slug, limit, before)
        views = [partner_view(invitation, uow.now()) for invitation in invitations]
    return jsonify({"invitations": views})


@bp.get("/invitations/<public_id:invitation_id>")
@per_key
def show(invitation_id: str) -> ResponseReturnValue:
    """One of the caller's invitations, with the decision once there is one."""
    caller = _caller()
    with backend().reading() as uow:
        invitation = partner_invitation(uow.session, caller.slug, invitation_id)
        return jsonify(partner_view(invitation, uow.now()))


@bp.post("/invitations/<public_id:invitation_id>/cancel")
@per_key
def cancel(invitation_id: str) -> ResponseReturnValue:
    """Withdraw a pending invitation; its link stops working."""
    caller = _caller()
    view = backend().run(
        lambda uow: partner_view(
            cancel_invitation(uow, caller.slug, invitation_id, caller.actor), uow.now()
        )
    )
    return jsonify(view)


@bp.post("/invitations/<public_id:invitation_id>/resend")
@per_key
@limiter.limit(lambda: backend().settings.invitation_rate_limit, key_func=_key_id)
def resend(invitation_id: str) -> ResponseReturnValue:
    """Mail a pending invitation again, with new links to the same recipients; the old links
    stop working."""
    caller = _caller()
    view = backend().run(
        lambda uow: partner_view(
            resend_invitation(uow, caller.slug, invitation_id, caller.actor).invitation,
            uow.now(),
        )
    )
    return jsonify(view)


@bp.get("/relationships")
@per_key
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
                    "roles": item.roles,
                    "expires_at": item.expires_at.isoformat() if item.expires_at else None,
                }
                for item in found
            ]
        }
    )


@bp.delete("/relationships/<tenant>/delegated-admin")
@per_key
def end_own_delegated_admin(tenant: str) -> ResponseReturnValue:
    """End the caller's own delegated administration of a tenant."""
    caller = _caller()
    domain = normalized_domain(tenant)

    def end(uow: UnitOfWork) -> None:
        row = find_tenant(uow.session, domain)
        if row is None:
            raise NotFound(f"you are not the delegated admin of {domain}")
        end_delegated_admin(uow, row, caller.slug, caller.actor, "ended_by_partner")

    backend().run(end)
    return "", 204


# --- leads (README: Leads) -----------------------------------------------------------------------


@bp.get("/leads")
@per_key
def leads_index() -> ResponseReturnValue:
    """The caller's leads, newest first: `?limit=` (1-100) and `?before=<id>` to page. A lead
    the visitor withdrew shows status "withdrawn" and no personal data."""
    caller = _caller()
    limit = _limit(20)
    before = request.args.get("before") or None
    if before is not None and not is_public_id(before):
        raise ApiError(400, "validation_error", "before must be one of your lead ids", "before")
    with backend().read() as session:
        found = partner_leads(session, caller.slug, limit, before)
        return jsonify({"leads": [lead_view(lead) for lead in found]})


@bp.patch("/leads/<public_id:lead_id>")
@per_key
def lead_update(lead_id: str) -> ResponseReturnValue:
    """Record how a lead is going: `{"status": "new" | "contacted" | "won" | "lost"}`."""
    caller = _caller()
    body = json_body()
    if not isinstance(body, dict) or set(body) != {"status"}:
        raise ApiError(400, "validation_error", 'send {"status": "<status>"} only', "status")
    lead = backend().run(
        lambda uow: set_lead_status(uow, caller.slug, lead_id, body["status"], caller.actor)
    )
    return jsonify(lead_view(lead))


# --- webhooks (README: Webhooks) ------------------------------------------------------------------


@bp.post("/webhooks")
@per_key
def create_webhook() -> ResponseReturnValue:
    """Register an endpoint; the answer carries its signing secret, shown this once."""
    caller = _caller()
    wanted = webhooks.parse_endpoint_request(json_body())
    found = backend()
    # Checked before the transaction: resolving the host may take a while.
    new = webhooks.checked_endpoint(wanted.url, wanted.events, found.settings)
    endpoint, secret = found.run(
        lambda uow: webhooks.register_endpoint(uow, caller.slug, new, caller.actor)
    )
    response = jsonify({**webhooks.endpoint_view(endpoint), "secret": secret})
    response.status_code = 201
    response.headers["Location"] = url_for(
        "partner_api.show_webhook", webhook_id=endpoint.public_id
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/webhooks")
@per_key
def webhooks_index() -> ResponseReturnValue:
    """The caller's endpoints (never their secrets)."""
    caller = _caller()
    with backend().read() as session:
        found = webhooks.partner_endpoints(session, caller.slug)
        return jsonify({"webhooks": [webhooks.endpoint_view(item) for item in found]})


@bp.get("/webhooks/<public_id:webhook_id>")
@per_key
def show_webhook(webhook_id: str) -> ResponseReturnValue:
    """One of the caller's endpoints."""
    caller = _caller()
    with backend().read() as session:
        endpoint = webhooks.partner_endpoint(session, caller.slug, webhook_id)
        return jsonify(webhooks.endpoint_view(endpoint))


@bp.delete("/webhooks/<public_id:webhook_id>")
@per_key
def delete_webhook(webhook_id: str) -> ResponseReturnValue:
    """Delete an endpoint: nothing more is sent to it."""
    caller = _caller()
    backend().run(lambda uow: webhooks.delete_endpoint(uow, caller.slug, webhook_id, caller.actor))
    return "", 204


@bp.get("/webhooks/<public_id:webhook_id>/deliveries")
@per_key
def webhook_deliveries(webhook_id: str) -> ResponseReturnValue:
    """The endpoint's delivery log, newest first (`?limit=` 1-100)."""
    caller = _caller()
    limit = _limit(50)
    with backend().read() as session:
        log = webhooks.delivery_log(session, caller.slug, webhook_id, limit)
    return jsonify({"deliveries": [entry.view() for entry in log]})


@bp.post("/webhooks/<public_id:webhook_id>/test")
@per_key
@test_event_limit
def test_webhook(webhook_id: str) -> ResponseReturnValue:
    """Send a `test` event to the endpoint (it shows in the delivery log)."""
    caller = _caller()
    event_id = backend().run(lambda uow: webhooks.send_test_event(uow, caller.slug, webhook_id))
    response = jsonify({"id": event_id, "type": webhooks.TEST_EVENT})
    response.status_code = 202
    return response
