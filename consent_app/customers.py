"""Customer sign-in by a one-time e-mailed link, and what the customer page shows.

Asking for a link answers the same way whether or not the address is known, so the page
cannot be used to find out who administers which tenant. A link is single-use (claimed with
`UPDATE … WHERE used_at IS NULL`) and expires after `Settings.sign_in_lifetime`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from consent_app.addresses import normalized_email
from consent_app.audit import Actor, record, tenant_chain
from consent_app.db import session_now
from consent_app.models import (
    AuditEvent,
    Invitation,
    InvitationLink,
    SignInToken,
    Tenant,
    TenantAdmin,
)
from consent_app.refusals import InvalidInput
from consent_app.rules import State
from consent_app.tokens import new_token, token_hash
from consent_app.work import UnitOfWork


def request_sign_in(uow: UnitOfWork, email: str) -> int:
    """Mail sign-in links to `email` (as typed) for each tenant it administers; returns how
    many (the caller must not show it)."""
    session, settings = uow.session, uow.settings
    try:
        email = normalized_email(email, smtputf8=settings.smtputf8)
    except InvalidInput:
        return 0  # no admin can have an address that does not pass the rule
    tenants = (
        session.execute(
            select(Tenant)
            .join(TenantAdmin, TenantAdmin.tenant_id == Tenant.id)
            .where(TenantAdmin.email == email)
            .order_by(Tenant.domain)
        )
        .scalars()
        .all()
    )
    if not tenants:
        return 0
    now = uow.now()
    links = []
    for tenant in tenants:
        token = new_token()
        session.add(
            SignInToken(
                token_hash=token_hash(token),
                tenant_id=tenant.id,
                email=email,
                created_at=now,
                expires_at=now + settings.sign_in_lifetime,
            )
        )
        links.append((tenant.name, tenant.domain, settings.link(f"signin/{token}")))
    minutes = int(settings.sign_in_lifetime.total_seconds() // 60)
    uow.mail(email, "sign_in", {"email": email, "links": links, "minutes": minutes})
    return len(tenants)


@dataclass(frozen=True)
class SignInLink:
    """What a sign-in link is for, and whether it can still be used."""

    tenant: Tenant
    email: str
    usable: bool


def sign_in_link(session: Session, token: str) -> SignInLink | None:
    """The tenant and address a link signs in, or None for an unknown link."""
    row = session.execute(
        select(SignInToken, Tenant)
        .join(Tenant, Tenant.id == SignInToken.tenant_id)
        .where(SignInToken.token_hash == token_hash(token))
    ).one_or_none()
    if row is None:
        return None
    link, tenant = row
    return SignInLink(
        tenant, link.email, link.used_at is None and link.expires_at > session_now(session)
    )


def claim_sign_in(session: Session, token: str, actor_addr: str | None) -> SignInLink | None:
    """Use a sign-in link once: the tenant and address, or None when it cannot be used."""
    now = session_now(session)
    claimed = session.execute(
        update(SignInToken)
        .where(
            SignInToken.token_hash == token_hash(token),
            SignInToken.used_at.is_(None),
            SignInToken.expires_at > now,
        )
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    link = sign_in_link(session, token)
    assert link is not None
    actor = Actor("customer", link.email, actor_addr)
    record(session, actor, "customer.signed_in", tenant_domain=link.tenant.domain)
    return SignInLink(link.tenant, link.email, usable=False)


def pending_for(session: Session, tenant: Tenant, email: str, now: datetime) -> list[Invitation]:
    """The invitations to the tenant still waiting for a decision that were sent to this
    admin (each admin was mailed a link of their own), soonest to expire first."""
    query = (
        select(Invitation)
        .join(InvitationLink, InvitationLink.invitation_id == Invitation.id)
        .where(
            Invitation.tenant_domain == tenant.domain,
            Invitation.state == State.PENDING,
            Invitation.expires_at > now,
            InvitationLink.email == email,
        )
        .order_by(Invitation.expires_at)
    )
    return list(session.execute(query).scalars())


def history(session: Session, tenant: Tenant, limit: int = 500) -> list[AuditEvent]:
    """The tenant's consent history, newest first."""
    chain = tenant_chain(session, tenant.domain)
    if chain is None:
        return []
    query = (
        select(AuditEvent)
        .where(AuditEvent.chain == chain)
        .order_by(AuditEvent.seq.desc())
        .limit(limit)
    )
    return list(session.execute(query).scalars())
