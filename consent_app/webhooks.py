"""Webhooks (README: Webhooks): a partner's endpoints, the events they receive, and the events
written in the transaction of the change they tell of.

`emit` writes an event and one delivery per endpoint of the partner that subscribed to it, in
the caller's unit of work: the event exists if and only if the change committed, and is sent
afterwards by `consent_app.webhook_delivery` (at least once, signed, retried). The functions
below `emit` build each event's data from what the change knows; a payload says nothing about
the customer that the partner could not already read through its API (the invitation as
`GET /api/v1/invitations/<id>` shows it, the tenant's domain as `GET /api/v1/relationships`
does, the lead as `GET /api/v1/leads` does).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from consent_app.audit import Actor, record
from consent_app.db import session_now
from consent_app.models import (
    Invitation,
    Lead,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from consent_app.personal import subject_ref
from consent_app.refusals import InvalidInput, NotFound, Refused
from consent_app.rules import Outcome, Roles
from consent_app.settings import Settings
from consent_app.tokens import new_public_id
from consent_app.webhook_delivery import (
    MAX_URL_LENGTH,
    Resolver,
    Target,
    checked_target,
    secret_check,
    signing_secret,
    system_resolver,
)
from consent_app.work import UnitOfWork

EVENT_TYPES = (
    "invitation.accepted",
    "invitation.declined",
    "invitation.expired",
    "invitation.canceled",
    "delegated_admin.granted",
    "delegated_admin.ended",
    "partner_of_record.changed",
    "lead.created",
)
"""The events an endpoint may subscribe to."""
TEST_EVENT = "test"
"""Sent on request to one endpoint, whatever it subscribed to ("send a test event")."""
MAX_ENDPOINTS = 10
"""Live endpoints per partner."""
WEBHOOKS_ENQUEUED = "webhooks_enqueued"
"""`Session.info` key: the transaction wrote deliveries (the backend sends them after it)."""


class TooManyEndpoints(Refused):
    """The partner has as many endpoints as it may."""

    code = "too_many_webhooks"


# --- endpoints ----------------------------------------------------------------------------------


class EndpointRequest(BaseModel):
    """The body of `POST /api/v1/webhooks`."""

    model_config = ConfigDict(extra="forbid", strict=True)
    url: Annotated[str, StringConstraints(max_length=MAX_URL_LENGTH)] = Field(
        description="https:// and a public address; signed POSTs go there."
    )
    events: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        min_length=1,
        max_length=len(EVENT_TYPES),
        description="The events to receive: " + ", ".join(EVENT_TYPES) + ".",
    )


@dataclass(frozen=True)
class NewEndpoint:
    """An endpoint as registration accepts it: its URL checked, its events known."""

    target: Target
    events: tuple[str, ...]


def checked_events(raw: list[str]) -> tuple[str, ...]:
    """The events in the order of `EVENT_TYPES`; `InvalidInput` naming `events` for an unknown
    or repeated one, or none."""
    unknown = [name for name in raw if name not in EVENT_TYPES]
    if unknown:
        raise InvalidInput(
            f"events: {unknown[0][:64]!r} is not an event; choose from {', '.join(EVENT_TYPES)}",
            "events",
        )
    if len(set(raw)) != len(raw):
        raise InvalidInput("events: each event may be named once", "events")
    if not raw:
        raise InvalidInput("events: choose at least one event", "events")
    return tuple(name for name in EVENT_TYPES if name in raw)


def parse_endpoint_request(body: Any) -> EndpointRequest:
    """The request, or `InvalidInput` naming the first offending field."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object with url and events")
    try:
        return EndpointRequest.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        location = [str(part) for part in first["loc"]]
        field = location[0] if location else None
        kind = first["type"]
        message = {
            "missing": "is required",
            "extra_forbidden": "is not a field of a webhook (url, events)",
            "string_too_long": f"must be a URL of 1 to {MAX_URL_LENGTH} characters",
            "too_short": "choose at least one event",
        }.get(kind, first["msg"])
        if field == "events" and kind not in ("missing", "too_short"):
            message = 'must be a list of events, such as ["invitation.accepted"]'
        elif field == "url" and kind not in ("missing", "string_too_long"):
            message = "must be a string such as https://example.com/webhooks"
        raise InvalidInput(f"{field}: {message}", field) from None


def checked_endpoint(
    url: object,
    events: list[str],
    settings: Settings,
    resolve: Resolver = system_resolver,
) -> NewEndpoint:
    """An endpoint to register, checked before any transaction (resolving its host may take a
    while): `InvalidInput` naming the field, `WebhookTargetNotAllowed` for a private target."""
    chosen = checked_events(events)
    target = checked_target(
        url, settings.webhook_allow_private, resolve, settings.webhook_timeout_seconds
    )
    return NewEndpoint(target, chosen)


def register_endpoint(
    uow: UnitOfWork, partner_slug: str, new: NewEndpoint, actor: Actor
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint (audited); returns it and its signing secret, which is shown
    once: only a salt to derive it again is stored."""
    session = uow.session
    live = session.execute(
        select(func.count(WebhookEndpoint.id)).where(
            WebhookEndpoint.partner_slug == partner_slug, WebhookEndpoint.deleted_at.is_(None)
        )
    ).scalar_one()
    if live >= MAX_ENDPOINTS:
        raise TooManyEndpoints(
            f"you have {MAX_ENDPOINTS} webhook endpoints already: delete one first"
        )
    salt = secrets.token_hex(32)
    secret = signing_secret(uow.settings.secret_key.get_secret_value(), salt)
    endpoint = WebhookEndpoint(
        public_id=new_public_id("wh"),
        partner_slug=partner_slug,
        url=new.target.url,
        events=list(new.events),
        secret_salt=salt,
        secret_check=secret_check(secret),
        created_at=uow.now(),
    )
    session.add(endpoint)
    session.info.pop(_LIVE_ENDPOINTS, None)
    # The host only: a URL's path or query may carry a token of the partner's, and the audit
    # log keeps what it records for ever.
    record(
        session,
        actor,
        "webhook.endpoint_added",
        partner_slug=partner_slug,
        details={
            "webhook_id": endpoint.public_id,
            "host": new.target.host,
            "events": endpoint.events,
        },
    )
    session.flush()
    return endpoint, secret


_PARTNER_ENDPOINTS = (
    select(WebhookEndpoint)
    .where(
        WebhookEndpoint.partner_slug == bindparam("partner_slug"),
        WebhookEndpoint.deleted_at.is_(None),
    )
    .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
)


def partner_endpoints(session: Session, partner_slug: str) -> list[WebhookEndpoint]:
    """The partner's live endpoints, oldest first."""
    return list(session.execute(_PARTNER_ENDPOINTS, {"partner_slug": partner_slug}).scalars())


_LIVE_ENDPOINTS = "webhook_endpoints"
"""`Session.info` key: each partner's live endpoints as `emit` read them in this transaction
(one decision emits up to five events to the same partner); adding or deleting an endpoint
forgets them."""


def _live_endpoints(session: Session, partner_slug: str) -> list[WebhookEndpoint]:
    """`partner_endpoints`, read once per transaction and partner."""
    known: dict[str, list[WebhookEndpoint]] = session.info.setdefault(_LIVE_ENDPOINTS, {})
    if partner_slug not in known:
        known[partner_slug] = partner_endpoints(session, partner_slug)
    return known[partner_slug]


def partner_endpoint(session: Session, partner_slug: str, public_id: str) -> WebhookEndpoint:
    """One of the partner's live endpoints; another partner's, or a deleted one, is
    `NotFound`, like none."""
    endpoint = session.execute(
        select(WebhookEndpoint).where(WebhookEndpoint.public_id == public_id)
    ).scalar_one_or_none()
    if endpoint is None or endpoint.partner_slug != partner_slug or endpoint.deleted_at:
        raise NotFound(f"you have no webhook endpoint {public_id[:40]!r}")
    return endpoint


def delete_endpoint(uow: UnitOfWork, partner_slug: str, public_id: str, actor: Actor) -> None:
    """Delete an endpoint (audited): nothing more is sent to it, what waited is given up, and
    its secret cannot be derived again (the salt goes)."""
    session, now = uow.session, uow.now()
    endpoint = partner_endpoint(session, partner_slug, public_id)
    session.info.pop(_LIVE_ENDPOINTS, None)
    deleted = session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint.id, WebhookEndpoint.deleted_at.is_(None))
        .values(deleted_at=now, secret_salt="")
    )
    if deleted.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound(f"you have no webhook endpoint {public_id[:40]!r}")
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.delivered_at.is_(None),
            WebhookDelivery.failed_at.is_(None),
        )
        .values(failed_at=now, last_error="the endpoint was deleted")
    )
    record(
        session,
        actor,
        "webhook.endpoint_deleted",
        partner_slug=partner_slug,
        details={"webhook_id": endpoint.public_id},
    )


def endpoint_view(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """An endpoint as its partner sees it (never its secret)."""
    return {
        "id": endpoint.public_id,
        "url": endpoint.url,
        "events": endpoint.events,
        "created_at": endpoint.created_at.isoformat(),
    }


@dataclass(frozen=True)
class DeliveryEntry:
    """One line of an endpoint's delivery log."""

    event_id: str
    type: str
    created_at: datetime
    attempts: int
    status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None  # None once delivered or given up
    delivered_at: datetime | None
    failed_at: datetime | None

    @property
    def state(self) -> str:
        """delivered | failed (given up) | pending."""
        if self.delivered_at is not None:
            return "delivered"
        return "failed" if self.failed_at is not None else "pending"

    def view(self) -> dict[str, Any]:
        """The entry as the API shows it."""

        def when(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "event_id": self.event_id,
            "type": self.type,
            "state": self.state,
            "created_at": self.created_at.isoformat(),
            "attempts": self.attempts,
            "status_code": self.status_code,
            "last_error": self.last_error,
            "last_attempt_at": when(self.last_attempt_at),
            "next_attempt_at": when(self.next_attempt_at),
            "delivered_at": when(self.delivered_at),
            "failed_at": when(self.failed_at),
        }


def delivery_log(
    session: Session, partner_slug: str, public_id: str, limit: int = 50
) -> list[DeliveryEntry]:
    """The newest deliveries to one of the partner's endpoints, newest first."""
    endpoint = partner_endpoint(session, partner_slug, public_id)
    rows = session.execute(
        select(WebhookDelivery, WebhookEvent.public_id, WebhookEvent.type)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
    )
    return [
        DeliveryEntry(
            event_id=event_id,
            type=kind,
            created_at=delivery.created_at,
            attempts=delivery.attempts,
            status_code=delivery.last_status,
            last_error=delivery.last_error,
            last_attempt_at=delivery.last_attempt_at,
            next_attempt_at=(
                delivery.next_attempt_at
                if delivery.delivered_at is None and delivery.failed_at is None
                else None
            ),
            delivered_at=delivery.delivered_at,
            failed_at=delivery.failed_at,
        )
        for delivery, event_id, kind in rows
    ]


# --- events -------------------------------------------------------------------------------------


def _body(public_id: str, kind: str, created: datetime, data: dict[str, Any]) -> str:
    """The exact JSON every attempt sends."""
    envelope = {"id": public_id, "type": kind, "created": int(created.timestamp()), "data": data}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))


def _write_event(
    session: Session,
    partner_slug: str,
    kind: str,
    data: dict[str, Any],
    endpoints: list[WebhookEndpoint],
    subject: str | None,
) -> str:
    now = session_now(session)
    public_id = new_public_id("evt")
    event = WebhookEvent(
        public_id=public_id,
        partner_slug=partner_slug,
        type=kind,
        created_at=now,
        body=_body(public_id, kind, now, data),
        subject=subject,
    )
    session.add(event)
    session.flush()  # gives the event its id
    for endpoint in endpoints:
        session.add(
            WebhookDelivery(
                endpoint_id=endpoint.id,
                event_id=event.id,
                created_at=now,
                attempts=0,
                next_attempt_at=now,
            )
        )
    session.info[WEBHOOKS_ENQUEUED] = True
    return public_id


def emit(
    uow: UnitOfWork,
    partner_slug: str,
    event: str,
    data: dict[str, Any],
    *,
    subject: str | None = None,
) -> str | None:
    """Write `event` for the partner and one delivery per live endpoint subscribed to it, in
    the caller's transaction; its id (`evt_…`), or None when no endpoint wants it (then
    nothing is written) or the partner is no longer listed. `subject` names what the data is
    about ("tenant:<domain>", "lead:<id>"), for `forget`."""
    assert event in EVENT_TYPES, event
    if uow.directory.get(partner_slug) is None:
        return None
    subscribed = [
        endpoint
        for endpoint in _live_endpoints(uow.session, partner_slug)
        if event in endpoint.events
    ]
    if not subscribed:
        return None
    return _write_event(uow.session, partner_slug, event, data, subscribed, subject)


def send_test_event(uow: UnitOfWork, partner_slug: str, public_id: str) -> str:
    """A `test` event to one of the partner's endpoints, whatever it subscribed to; its id."""
    endpoint = partner_endpoint(uow.session, partner_slug, public_id)
    data = {
        "webhook_id": endpoint.public_id,
        "message": "A test event from the Partner Marketplace: your endpoint is reachable.",
    }
    return _write_event(uow.session, partner_slug, TEST_EVENT, data, [endpoint], None)


def forget(session: Session, subject: str) -> int:
    """Erase the data of every event about `subject` (a removed tenant, a withdrawn lead):
    its body goes, and its deliveries still waiting are given up. How many events it was."""
    now = session_now(session)
    ids = list(
        session.execute(select(WebhookEvent.id).where(WebhookEvent.subject == subject)).scalars()
    )
    if not ids:
        return 0
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.event_id.in_(ids),
            WebhookDelivery.delivered_at.is_(None),
            WebhookDelivery.failed_at.is_(None),
        )
        .values(failed_at=now, last_error="the event's data was erased on request")
    )
    session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(ids)).values(body=None))
    return len(ids)


def tenant_subject(uow: UnitOfWork, domain: str) -> str:
    """The subject of events about a tenant: its opaque audit subject (the one its mail in
    the outbox is filed under), never the domain, so that removing the tenant leaves no row
    here that names it (`forget`)."""
    return subject_ref(uow.session, domain, uow.now())


# --- what each change sends ---------------------------------------------------------------------


def invitation_changed(uow: UnitOfWork, invitation: Invitation) -> None:
    """`invitation.<status>` for an invitation canceled, expired or decided: the invitation
    as the partner's API shows it."""
    # Imported here: `invitations` imports `consent`, which sends its events through this module.
    from consent_app.invitations import partner_view

    view = partner_view(invitation, uow.now())
    emit(
        uow,
        invitation.partner_slug,
        f"invitation.{view['status']}",
        {"invitation": view},
        subject=tenant_subject(uow, invitation.tenant_domain),
    )


def decision_made(
    uow: UnitOfWork,
    invitation: Invitation,
    outcome: Outcome,
    before: Roles,
    grant: dict[str, Any],
) -> None:
    """The events of a customer's decision: `invitation.accepted|declined` to the inviting
    partner; `delegated_admin.granted` and `partner_of_record.changed` when it gained them;
    `delegated_admin.ended` and `partner_of_record.changed` to the partners it replaced."""
    invitation_changed(uow, invitation)
    partner, domain = invitation.partner_slug, invitation.tenant_domain
    if outcome.delegated_admin_granted and grant:
        emit(
            uow,
            partner,
            "delegated_admin.granted",
            {
                "tenant": domain,
                "invitation_id": invitation.id,
                "roles": grant["roles"],
                "expires_at": grant["expires_at"].isoformat(),
                "renewal": before.delegated_admin == partner,
            },
            subject=tenant_subject(uow, domain),
        )
    if outcome.partner_of_record and before.partner_of_record != partner:
        _partner_of_record(uow, domain, partner, True, "accepted_invitation", invitation.id)
    if outcome.replaced_delegated_admin:
        delegated_admin_ended(uow, domain, outcome.replaced_delegated_admin, "replaced")
    if outcome.replaced_partner_of_record:
        _partner_of_record(uow, domain, outcome.replaced_partner_of_record, False, "replaced")


def delegated_admin_ended(uow: UnitOfWork, domain: str, partner_slug: str, reason: str) -> None:
    """`delegated_admin.ended`: the tenant, and why (`revoked_by_customer`,
    `ended_by_partner`, `expired`, `replaced`)."""
    emit(
        uow,
        partner_slug,
        "delegated_admin.ended",
        {"tenant": domain, "reason": reason},
        subject=tenant_subject(uow, domain),
    )


def partner_of_record_changed(
    uow: UnitOfWork, domain: str, previous: str | None, new: str | None
) -> None:
    """`partner_of_record.changed` to the partner the customer named, and to the one it no
    longer is (`changed` for another, `cleared` for none)."""
    if new is not None:
        _partner_of_record(uow, domain, new, True, "named_by_customer")
    if previous is not None and previous != new:
        _partner_of_record(uow, domain, previous, False, "changed" if new else "cleared")


def _partner_of_record(
    uow: UnitOfWork,
    domain: str,
    partner_slug: str,
    now_partner: bool,
    reason: str,
    invitation_id: str | None = None,
) -> None:
    data: dict[str, Any] = {"tenant": domain, "partner_of_record": now_partner, "reason": reason}
    if invitation_id is not None:
        data["invitation_id"] = invitation_id
    emit(uow, partner_slug, "partner_of_record.changed", data, subject=tenant_subject(uow, domain))


def lead_created(uow: UnitOfWork, lead: Lead) -> None:
    """`lead.created`: the lead's id and when it was confirmed, no more. The partner reads the
    visitor's details with `GET /api/v1/leads`, so a withdrawal, which deletes them, leaves no
    copy in a webhook's body."""
    assert lead.confirmed_at is not None, "a lead is a confirmed request"
    data = {"lead": {"id": lead.id, "created_at": lead.confirmed_at.isoformat()}}
    emit(uow, lead.partner_slug, "lead.created", data, subject=f"lead:{lead.id}")
