"""Trial invitations and purchase offers: what a partner may send, and to whom
(README: Consent backend).

The acceptance link is mailed to the customer only. For a tenant that exists it goes to the
tenant's verified administrators and never to an address the partner chose; each recipient
gets a link of their own, so the audit log knows who decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from consent_app import webhooks
from consent_app.addresses import normalized_domain, normalized_email, tenant_name
from consent_app.audit import Actor, record
from consent_app.consent import (
    active_delegated_admin,
    check_tenant_is_theirs,
    invitation_asks,
)
from consent_app.db import run
from consent_app.grants import (
    DelegatedAdminRequest,
    GrantTerms,
    check_renewal,
    grant_end,
    grant_terms,
)
from consent_app.models import AuditEvent, Invitation, InvitationLink, Tenant
from consent_app.partners import PartnerDirectory
from consent_app.personal import subject_ref
from consent_app.pricing import PriceTerms, requested_terms
from consent_app.refusals import (
    CustomerRequired,
    InvalidInput,
    InvalidState,
    NotEligibleForDelegatedAdmin,
    NotFound,
)
from consent_app.rules import (
    By,
    State,
    Status,
    check_cloud,
    check_customer_not_partner,
    check_new_tenant_domain,
    check_services,
    check_transition,
    delegated_admin_refusal,
    find_offer,
    status,
)
from consent_app.settings import Settings
from consent_app.tenants import admin_emails, find_tenant
from consent_app.tokens import new_public_id, new_token, token_hash
from consent_app.work import UnitOfWork
from marketplace.catalog import Catalog
from marketplace.model import MAX_LICENSES_PER_SERVICE, Listing, Offer

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class NewCustomer(BaseModel):
    """Who to invite when the tenant does not exist yet."""

    model_config = ConfigDict(extra="forbid", strict=True)
    email: Annotated[str, StringConstraints(max_length=254)]
    company: Text


class InvitationRequest(BaseModel):
    """The body of `POST /api/v1/invitations` (README: Partner API)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    type: Literal["trial", "purchase"]
    tenant: Annotated[str, StringConstraints(max_length=253)]
    customer: NewCustomer | None = None
    offer_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    licenses: dict[str, Annotated[int, Field(ge=1, le=MAX_LICENSES_PER_SERVICE)]] | None = None
    # true (the offer's roles, for the default days) or {"roles": [...], "duration_days": N}
    delegated_admin: bool | DelegatedAdminRequest = False
    # A priced purchase offer: per licensed service a price per license per month, as a
    # decimal string ("12.50"; strict: a JSON number is refused), the ISO 4217 currency and
    # the billing period. The amounts and the rules across fields are `consent_app.pricing`'s.
    prices: dict[str, Annotated[str, StringConstraints(max_length=32)]] | None = Field(
        default=None,
        description="Purchase offers: the price per license per month of every licensed "
        'service, as a decimal string ("12.50") with at most the currency\'s minor units '
        "(JPY 0, EUR 2, BHD 3); needs currency and billing. Left out with currency and "
        "billing, a purchase naming an offer_id takes that offer's default prices, if any.",
    )
    currency: Annotated[str, StringConstraints(max_length=16)] | None = Field(
        default=None, description="With prices: the ISO 4217 currency code (EUR, USD, JPY)."
    )
    billing: Literal["monthly", "annual"] | None = Field(
        default=None,
        description="With prices: how the customer is billed, monthly or annually (12 months).",
    )


def parse_request(body: Any) -> InvitationRequest:
    """The request, or `InvalidInput` naming the first offending field."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    try:
        return InvitationRequest.model_validate(body)
    except ValidationError as error:
        errors = error.errors()
        first = errors[0]
        if isinstance(body.get("delegated_admin"), dict):  # the object form's own mistake
            first = next((e for e in errors if len(e["loc"]) > 2), first)
        location = [str(part) for part in first["loc"]]
        if location[:1] == ["delegated_admin"]:
            # A union: pydantic names the branch tried (bool, DelegatedAdminRequest).
            location = ["delegated_admin", *location[2:]]
        field = ".".join(location) or None
        message = first["msg"]
        if field == "delegated_admin":
            message = 'must be true, false or {"roles": [admin role ids], "duration_days": N}'
        if first["type"] == "extra_forbidden":
            message = "is not a field of an invitation"
            if field and field.startswith("delegated_admin."):
                message = "is not a field of delegated_admin (roles, duration_days)"
        if field and field.startswith("licenses."):
            message = f"{message} (a license count is a whole number from 1 to "
            message += f"{MAX_LICENSES_PER_SERVICE:,})"
        if field and field.startswith("prices."):
            message = 'a price per license per month is a decimal string such as "12.50", '
            message += "never a JSON number"
        raise InvalidInput(f"{field}: {message}", field) from None


@dataclass(frozen=True)
class InvitationTerms:
    """What an invitation offers, checked against the partner's listing."""

    kind: str
    offer_id: str | None
    services: list[str]
    licenses: dict[str, int] | None
    trial_days: int | None
    delegated_admin: GrantTerms | None  # None: no DA asked
    price_terms: PriceTerms | None  # None: an unpriced offer (and every trial)

    @property
    def delegated_admin_requested(self) -> bool:
        """True when the invitation asks for delegated administration."""
        return self.delegated_admin is not None


def terms_for(
    catalog: Catalog, listing: Listing, request: InvitationRequest, settings: Settings
) -> InvitationTerms:
    """The terms a partner may offer, or `Refused` saying which rule the request breaks."""
    offer: Offer | None = None
    licenses: dict[str, int] | None = None
    if request.type == "trial":
        if request.licenses is not None:
            raise InvalidInput("a trial carries no licenses", "licenses")
        requested_terms("trial", None, request.prices, request.currency, request.billing, None)
        if request.offer_id is None:
            raise InvalidInput("a trial names its offer_id", "offer_id")
        offer = find_offer(listing, request.offer_id, "trial")
        services = list(offer.services)
    else:
        if not request.licenses:
            raise InvalidInput("a purchase offer needs licenses: {service: count}", "licenses")
        if request.offer_id is not None:
            offer = find_offer(listing, request.offer_id, "purchase")
        check_services(listing, offer, list(request.licenses))
        licenses = dict(sorted(request.licenses.items()))
        services = list(licenses)
    prices = requested_terms(
        request.type, licenses, request.prices, request.currency, request.billing, offer
    )
    grant = None
    if request.delegated_admin is not False:
        refusal = delegated_admin_refusal(catalog, listing, offer)
        if refusal:
            raise NotEligibleForDelegatedAdmin(refusal, "delegated_admin")
        grant = grant_terms(
            catalog,
            offer,
            request.delegated_admin,
            settings.delegated_admin_default_days,
            settings.delegated_admin_max_days,
        )
    return InvitationTerms(
        kind=request.type,
        offer_id=offer.id if offer else None,
        services=services,
        licenses=licenses,
        trial_days=offer.trial_days if request.type == "trial" and offer else None,
        delegated_admin=grant,
        price_terms=prices,
    )


def create_invitation(
    uow: UnitOfWork,
    partner_slug: str,
    body: Any,
    actor: Actor,
    key_id: str | None = None,
    *,
    invitation_id: str | None = None,
) -> Invitation:
    """Check a partner's request, store the invitation and mail each recipient their link.
    `key_id` is the API key it came with: revoking that key ends the invitation too.
    `invitation_id` (the Partner overview's, derived from its form) makes a second submit of
    the same form meet the primary key instead of creating a second invitation."""
    session, settings, directory = uow.session, uow.settings, uow.directory
    listing = directory.get(partner_slug)
    assert listing is not None, "authenticate() admits listed partners only"
    request = parse_request(body)
    domain = normalized_domain(request.tenant)
    terms = terms_for(directory.catalog, listing, request, settings)
    # Held until commit: a removal of this domain runs wholly before or after this invitation
    # (`consent_app.removal`), never reading the tenant while the invitation is half made.
    subject_ref(session, domain, uow.now(), lock=True)
    tenant = find_tenant(session, domain)
    customer_email = customer_company = None
    if tenant is not None:
        check_cloud(tenant.cloud)
        held = active_delegated_admin(session, tenant.id)
        if terms.delegated_admin and held is not None and held.partner_slug == partner_slug:
            check_renewal(held.roles, terms.delegated_admin)
        # Mail goes to the verified admins only, whatever address the partner gave.
        recipients = admin_emails(session, tenant.id)
        company = tenant.name
    else:
        if request.customer is not None:  # malformed input first (400), then the rules (422)
            customer_email = normalized_email(
                request.customer.email, "customer.email", smtputf8=settings.smtputf8
            )
            customer_company = tenant_name(request.customer.company, "customer.company")
        check_new_tenant_domain(domain, settings.initial_domain_suffix)
        if customer_email is None or customer_company is None:
            raise CustomerRequired(
                f"{domain} is not a customer yet: give customer.email and customer.company "
                "to invite a new customer",
                "customer",
            )
        check_customer_not_partner(listing, customer_email, "customer.email")
        recipients = [customer_email]
        company = customer_company
    now = uow.now()
    invitation = Invitation(
        id=invitation_id or new_public_id("inv"),
        partner_slug=partner_slug,
        key_id=key_id,
        kind=terms.kind,
        offer_id=terms.offer_id,
        services=terms.services,
        licenses=terms.licenses,
        trial_days=terms.trial_days,
        delegated_admin_requested=terms.delegated_admin_requested,
        delegated_admin_roles=list(terms.delegated_admin.roles) if terms.delegated_admin else None,
        delegated_admin_days=terms.delegated_admin.days if terms.delegated_admin else None,
        prices=terms.price_terms.prices() if terms.price_terms else None,
        currency=terms.price_terms.currency if terms.price_terms else None,
        billing=terms.price_terms.billing if terms.price_terms else None,
        tenant_domain=domain,
        customer_email=customer_email,
        customer_company=customer_company,
        state=State.PENDING,
        created_at=now,
        expires_at=now + settings.invitation_lifetime,
    )
    session.add(invitation)
    session.flush()
    for email in recipients:
        token = new_token()
        session.add(
            InvitationLink(invitation_id=invitation.id, email=email, token_hash=token_hash(token))
        )
        _mail_link(uow, invitation, listing, company, terms.price_terms, email, token)
    record(
        session,
        actor,
        "invitation.created",
        tenant_domain=domain,
        partner_slug=partner_slug,
        invitation_id=invitation.id,
        details={
            "type": terms.kind,
            "offer_id": terms.offer_id,
            "services": terms.services,
            "licenses": terms.licenses,
            "trial_days": terms.trial_days,
            "delegated_admin_requested": terms.delegated_admin_requested,
            "delegated_admin_roles": (
                list(terms.delegated_admin.roles) if terms.delegated_admin else None
            ),
            "delegated_admin_days": terms.delegated_admin.days if terms.delegated_admin else None,
            "price_terms": terms.price_terms.record() if terms.price_terms else None,
            "new_customer": tenant is None,
            "recipients": len(recipients),
        },
    )
    return invitation


@dataclass(frozen=True)
class OfferLine:
    """One service of an invitation as the customer reads it (the mail, the page)."""

    name: str  # the service's display name
    licenses: int | None  # None: a trial
    unit_price: Decimal | None = None  # per license per month; None: unpriced
    total: Decimal | None = None  # per month


def offer_lines(
    directory: PartnerDirectory,
    invitation: Invitation,
    terms: PriceTerms | None,
    language: str,
) -> list[OfferLine]:
    """Each service offered, in the invitation's order, with its license count and, for a
    priced offer, its price per license per month and its total per month."""
    priced = {line.service: line for line in terms.lines} if terms else {}
    lines = []
    for service in invitation.services:
        price = priced.get(service)
        lines.append(
            OfferLine(
                directory.service_name(service, language),
                (invitation.licenses or {}).get(service),
                price.unit_price if price else None,
                price.total if price else None,
            )
        )
    return lines


def status_of(invitation: Invitation, now: datetime) -> Status:
    """The invitation's status now (`rules.status`: expiry is computed, never stored)."""
    return status(invitation.state, invitation.expires_at, now)


def partner_view(invitation: Invitation, now: datetime) -> dict[str, Any]:
    """The invitation as its partner sees it (never its links)."""
    view: dict[str, Any] = {
        "id": invitation.id,
        "type": invitation.kind,
        "status": status_of(invitation, now),
        "tenant": invitation.tenant_domain,
        "offer_id": invitation.offer_id,
        "services": invitation.services,
        "licenses": invitation.licenses,
        "trial_days": invitation.trial_days,
        "delegated_admin_requested": invitation.delegated_admin_requested,
        "delegated_admin_roles": invitation.delegated_admin_roles,
        "delegated_admin_days": invitation.delegated_admin_days,
        "prices": invitation.prices,
        "currency": invitation.currency,
        "billing": invitation.billing,
        "created_at": invitation.created_at.isoformat(),
        "expires_at": invitation.expires_at.isoformat(),
    }
    if invitation.state in (State.ACCEPTED, State.DECLINED):
        assert invitation.decided_at is not None
        view["decided_at"] = invitation.decided_at.isoformat()
        view["delegated_admin_granted"] = bool(invitation.delegated_admin_granted)
        view["partner_of_record"] = bool(invitation.partner_of_record)
        days = invitation.delegated_admin_days
        if invitation.delegated_admin_granted and days:  # as granted then (now: relationships)
            view["delegated_admin_granted_roles"] = invitation.delegated_admin_roles
            view["delegated_admin_granted_until"] = grant_end(
                invitation.decided_at, days
            ).isoformat()
    return view


def partner_invitation(session: Session, partner_slug: str, invitation_id: str) -> Invitation:
    """One of the partner's own invitations; another partner's is `not_found`, like none."""
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.partner_slug != partner_slug:
        raise NotFound(f"you have no invitation {invitation_id[:40]!r}")
    return invitation


def _claim_pending(session: Session, invitation: Invitation, now: datetime, **values: Any) -> bool:
    """Set `values` on the invitation if it is still pending (an atomic claim: `UPDATE …
    WHERE state = 'pending' AND expires_at > now`); whether it was. The object is refreshed."""
    claimed = session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.state == State.PENDING,
            Invitation.expires_at > now,
        )
        .values(**values)
    )
    session.refresh(invitation)
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]


def cancel_invitation(
    uow: UnitOfWork, partner_slug: str, invitation_id: str, actor: Actor
) -> Invitation:
    """Cancel a pending invitation: an atomic claim, so it cannot race an acceptance."""
    session, now = uow.session, uow.now()
    invitation = partner_invitation(session, partner_slug, invitation_id)
    if not _claim_pending(session, invitation, now, state=State.CANCELED, decided_at=now):
        current = status_of(invitation, now)
        check_transition(current, Status.CANCELED, By.PARTNER)  # says why it is not allowed
        raise InvalidState(f"the invitation is {current} and can no longer be canceled")
    record(
        session,
        actor,
        "invitation.canceled",
        tenant_domain=invitation.tenant_domain,
        partner_slug=partner_slug,
        invitation_id=invitation.id,
    )
    webhooks.invitation_changed(uow, invitation)
    return invitation


def partner_invitations(
    session: Session,
    partner_slug: str,
    limit: int,
    before: str | None = None,
    *,
    only: Status | None = None,
    now: datetime | None = None,
) -> list[Invitation]:
    """The partner's invitations, newest first (`only`: those with this status at `now`)."""
    query = select(Invitation).where(Invitation.partner_slug == partner_slug)
    if only is not None:
        assert now is not None, "a status is a status at some moment"
        query = query.where(*status_is(only, now))
    if before:
        anchor = session.get(Invitation, before)
        if anchor is None or anchor.partner_slug != partner_slug:
            raise InvalidInput("before must be one of your invitation ids", "before")
        query = query.where(
            (Invitation.created_at < anchor.created_at)
            | ((Invitation.created_at == anchor.created_at) & (Invitation.id < anchor.id))
        )
    query = query.order_by(Invitation.created_at.desc(), Invitation.id.desc()).limit(limit)
    return list(session.execute(query).scalars())


_LINKED = (
    select(Invitation, InvitationLink)
    .join(InvitationLink, InvitationLink.invitation_id == Invitation.id)
    .where(InvitationLink.token_hash == bindparam("token_hash"))
)


def link_invitation(session: Session, token: str) -> tuple[Invitation, InvitationLink] | None:
    """The invitation a secret link opens, or None for an unknown link."""
    row = session.execute(_LINKED, {"token_hash": token_hash(token)}).one_or_none()
    return (row[0], row[1]) if row else None


_RECIPIENT = select(InvitationLink.invitation_id, InvitationLink.email).where(
    InvitationLink.token_hash == bindparam("token_hash")
)


def link_recipient(session: Session, token: str) -> tuple[str, str] | None:
    """The id of the invitation a secret link opens and the address it was mailed to (who
    decides), or None for an unknown link: what a decision reads of its link, without
    loading either object (the claim returns the invitation)."""
    row = run(session, _RECIPIENT, {"token_hash": token_hash(token)}).one_or_none()
    return (row.invitation_id, row.email) if row else None


def tenant_for(session: Session, invitation: Invitation) -> Tenant | None:
    """The tenant an invitation is for, if it exists (now)."""
    return find_tenant(session, invitation.tenant_domain)


EXPIRY_ACTOR = Actor("system", "expiry")


EXPIRY_GRACE = timedelta(minutes=1)
"""An expiry is recorded this long after the link ran out: a decision that began just before
(its claim says `expires_at > now`) has long committed, so no invitation is logged both
accepted and expired."""
EXPIRY_WINDOW = timedelta(days=7)
"""The sweep looks this far back; older expiries were recorded by earlier sweeps (every worker
sweeps every minute), so its cost stays that of a week's invitations, not of all history."""


def expire_invitations(uow: UnitOfWork, limit: int = 500) -> int:
    """Record `invitation.expired` in the audit log for each invitation whose link has run
    out since the last sweep. The status itself is computed (`rules.status`), so this only
    keeps the log complete; it is safe to run on every worker at once."""
    session, now = uow.session, uow.now()
    announced = select(AuditEvent.id).where(
        AuditEvent.invitation_id == Invitation.id, AuditEvent.action == "invitation.expired"
    )
    due = (
        Invitation.state == State.PENDING,
        Invitation.expires_at <= now - EXPIRY_GRACE,
        Invitation.expires_at > now - EXPIRY_WINDOW,
        ~announced.exists(),
    )
    overdue = list(
        session.execute(
            select(Invitation)
            .where(*due)
            .order_by(Invitation.expires_at)
            .limit(limit)
            # Another worker's sweep holds its rows: skip them rather than wait.
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    recorded = 0
    for invitation in overdue:
        # Locked now: look again, in case another sweep recorded it just before.
        again = select(AuditEvent.id).where(
            AuditEvent.invitation_id == invitation.id, AuditEvent.action == "invitation.expired"
        )
        if session.execute(again.limit(1)).first() is not None:
            continue
        record(
            session,
            EXPIRY_ACTOR,
            "invitation.expired",
            tenant_domain=invitation.tenant_domain,
            partner_slug=invitation.partner_slug,
            invitation_id=invitation.id,
        )
        webhooks.invitation_changed(uow, invitation)
        recorded += 1
    return recorded


def _mail_link(
    uow: UnitOfWork,
    invitation: Invitation,
    listing: Listing,
    company: str,
    terms: PriceTerms | None,
    email: str,
    token: str,
) -> None:
    """Mail one recipient their own link to the invitation (in the caller's transaction)."""
    directory = uow.directory
    uow.mail(
        email,
        "invitation",
        {
            "invitation": invitation,
            "partner": listing,
            "company": company,
            "terms": terms,
            "lines": offer_lines(directory, invitation, terms, "en"),
            "lines_ru": offer_lines(directory, invitation, terms, "ru"),
            "link": uow.settings.link(f"invitations/{token}"),
        },
        about=invitation.tenant_domain,
    )


def status_is(wanted: Status, now: datetime) -> tuple[Any, ...]:
    """SQL conditions for invitations whose status at `now` is `wanted` (`rules.status`:
    a pending invitation past `expires_at` is expired)."""
    if wanted == Status.PENDING:
        return (Invitation.state == State.PENDING, Invitation.expires_at > now)
    if wanted == Status.EXPIRED:
        return (Invitation.state == State.PENDING, Invitation.expires_at <= now)
    return (Invitation.state == str(wanted),)


MAX_RESENDS = 5
"""How often one invitation may be sent again: each resend mails the tenant's admins, so a
partner cannot turn it into a way of flooding their mailboxes."""


@dataclass(frozen=True)
class Resent:
    """An invitation sent again: to how many recipients (each with a new link)."""

    invitation: Invitation
    recipients: int


def resend_invitation(
    uow: UnitOfWork, partner_slug: str, invitation_id: str, actor: Actor
) -> Resent:
    """Send a pending invitation again: each recipient it was mailed to (the tenant's verified
    admins then, minus any removed since; or the new customer's address) gets a new link, and
    the old links stop working. It expires when it did before. Refused (`InvalidState`) once
    it is no longer pending, and with the refusal that would stop the customer from accepting
    it (its offer withdrawn, the tenant taken by someone else, ...)."""
    session, now = uow.session, uow.now()
    invitation = partner_invitation(session, partner_slug, invitation_id)
    # A claim that changes nothing: it holds the row against a decision or a cancellation
    # running at the same moment, and says whether the invitation is still pending.
    if not _claim_pending(session, invitation, now, state=State.PENDING):
        current = status_of(invitation, now)
        raise InvalidState(f"the invitation is {current} and can no longer be resent")
    resent_before = session.execute(
        select(func.count(AuditEvent.id)).where(
            AuditEvent.invitation_id == invitation.id, AuditEvent.action == "invitation.resent"
        )
    ).scalar_one()
    if resent_before >= MAX_RESENDS:
        raise InvalidState(
            f"the invitation was sent again {MAX_RESENDS} times already; cancel it and send a "
            "new one"
        )
    listing = uow.directory.get(partner_slug)
    assert listing is not None, "only listed partners act"
    tenant = tenant_for(session, invitation)
    if tenant is not None:
        check_cloud(tenant.cloud)
    asks = invitation_asks(uow, invitation, tenant)
    if asks.acceptance_refusal is not None:
        raise asks.acceptance_refusal
    links = list(
        session.execute(
            select(InvitationLink)
            .where(InvitationLink.invitation_id == invitation.id)
            .order_by(InvitationLink.id)
        ).scalars()
    )
    if not links:
        raise InvalidState(
            "nobody is left to send it to (the administrators it was sent to were removed); "
            "cancel it and send a new one"
        )
    company = tenant.name if tenant else invitation.customer_company
    assert company is not None, "a new customer's invitation names its company"
    for link in links:
        check_tenant_is_theirs(session, invitation, tenant, link.email)
        token = new_token()
        link.token_hash = token_hash(token)  # the old link finds nothing from now on
        _mail_link(uow, invitation, listing, company, asks.terms, link.email, token)
    record(
        session,
        actor,
        "invitation.resent",
        tenant_domain=invitation.tenant_domain,
        partner_slug=partner_slug,
        invitation_id=invitation.id,
        details={"recipients": len(links), "resend": resent_before + 1},
    )
    return Resent(invitation, len(links))
