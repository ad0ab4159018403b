"""Removing a tenant's or an admin's personal data on request (README: Data removal).

Removal is one unit of work: it ends what the tenant's data held up (roles, pending
invitations, sessions), records that in the tenant's audit chain, deletes the rows that hold
personal data, erases the personal data the audit log refers to (`consent_app.personal`), and
tells the partners concerned. The audit events stay, hashed and chained as they were, so
`audit verify` passes afterwards; they now show "[erased]" where an address or a name was.

Partners keep what they were sent (their own records); the marketplace keeps no copy: mail
to the removed addresses is deleted, and stored headers that name the tenant are blanked
(the bodies of delivered mail are dropped at delivery already).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from email import message_from_string, policy
from typing import Any

from sqlalchemy import case, delete, false, func, or_, select, update
from sqlalchemy.orm import Session

from consent_app import webhooks
from consent_app.audit import TENANT_CHAIN, Actor, forget_head, record
from consent_app.consent import (
    active_delegated_admin,
    active_partner_of_record,
    end_lapsed_grant,
    end_role,
    lock_tenant,
)
from consent_app.invitations import status_of
from consent_app.mail import PARTNER_LANGUAGES
from consent_app.models import (
    AuditChainHead,
    AuditEvent,
    CustomerSession,
    DelegatedAdminGrant,
    Invitation,
    InvitationLink,
    OutboxMessage,
    PartnerOfRecord,
    SignInToken,
    Tenant,
    TenantAdmin,
)
from consent_app.outbox import ERASED_MESSAGE, ERASED_SUBJECT
from consent_app.personal import Personal, erase_admin, erase_subject, live_subject
from consent_app.refusals import InvalidInput, NotFound
from consent_app.rules import Status
from consent_app.tenants import admin_emails, find_tenant
from consent_app.work import UnitOfWork

REASON = "tenant_removed"
"""Why roles and invitations ended, in their events."""


@dataclass
class Removal:
    """What a removal did, for the operator."""

    domain: str
    admins: int = 0
    invitations: int = 0
    ended: list[str] = field(default_factory=list)  # "delegated_admin: contoso-cloud"
    canceled: list[str] = field(default_factory=list)  # pending invitation ids
    messages_deleted: int = 0
    headers_blanked: int = 0
    data_erased: int = 0
    partners_told: list[str] = field(default_factory=list)
    partners_not_told: list[str] = field(default_factory=list)  # no longer listed


def remove_tenant(uow: UnitOfWork, domain: str, actor: Actor) -> Removal:
    """Remove a tenant and everything that names it: its admins, sessions, invitations and
    roles (ended first, with their events and mail to the partners), and the personal data
    its audit events refer to. The domain can be added again afterwards, as a new subject.
    Also works for a domain that only new-customer invitations name."""
    session, now = uow.session, uow.now()
    # Lock first, read after: a new invitation to the domain, or a customer's decision, runs
    # wholly before this removal (and is seen) or after it (and finds nothing).
    subject = live_subject(session, domain, lock=True)
    tenant = find_tenant(session, domain)
    if tenant is not None:
        lock_tenant(session, tenant)
    invitations = list(
        session.execute(
            select(Invitation).where(Invitation.tenant_domain == domain).order_by(Invitation.id)
        ).scalars()
    )
    legacy = _legacy_events(session, domain)
    if tenant is None and not invitations and subject is None and not legacy:
        raise NotFound(f"no tenant or invitation names {domain}")
    done = Removal(domain, invitations=len(invitations))
    admins: list[str] = []
    concerned: dict[str, list[str]] = {}  # partner -> what ended for it
    if tenant is not None:
        end_lapsed_grant(uow, tenant)  # a grant past its end date: its own end first
        admins = admin_emails(session, tenant.id)
        for model, role, holder in (
            (DelegatedAdminGrant, "delegated_admin", active_delegated_admin(session, tenant.id)),
            (PartnerOfRecord, "partner_of_record", active_partner_of_record(session, tenant.id)),
        ):
            if holder is None:
                continue
            end_role(session, model, tenant.id, holder.partner_slug, actor, REASON, now)
            record(
                session,
                actor,
                f"{role}.ended",
                tenant_domain=domain,
                partner_slug=holder.partner_slug,
                details={"reason": REASON},
            )
            done.ended.append(f"{role}: {holder.partner_slug}")
            concerned.setdefault(holder.partner_slug, []).append(role)
    for invitation in invitations:
        if status_of(invitation, now) is Status.PENDING:
            record(
                session,
                actor,
                "invitation.canceled",
                tenant_domain=domain,
                partner_slug=invitation.partner_slug,
                invitation_id=invitation.id,
                details={"reason": REASON},
            )
            done.canceled.append(invitation.id)
            concerned.setdefault(invitation.partner_slug, []).append(f"invitation {invitation.id}")
    record(
        session,
        actor,
        "tenant.removed",
        tenant_domain=domain,
        details={
            "admins": len(admins),
            "invitations": len(invitations),
            "ended": done.ended,
            "canceled": done.canceled,
            # A chain still named by the domain: written before migration 0006, which could
            # not rewrite it because it was broken already. Its events name personal data in
            # their hashed content, so they go, and this event says how many.
            "broken_legacy_events_deleted": legacy,
        },
    )
    _delete_legacy_chain(session, domain)
    done.admins = len(admins)
    subject = live_subject(session, domain)  # the events above made one if there was none
    customers = [i.customer_email for i in invitations if i.customer_email]
    done.messages_deleted, done.headers_blanked = _erase_mail(
        session, subject, [*admins, *customers], _names_of(domain)
    )
    _delete_rows(session, tenant, [invitation.id for invitation in invitations])
    if subject is not None:
        webhooks.forget(session, subject)  # events about the tenant lose their bodies
        done.data_erased = erase_subject(session, subject, now)
    # Told after the mail was erased, so that these notices are not blanked; their subject
    # line does not name the tenant, and their body is dropped once delivered.
    name = tenant.name if tenant is not None else None
    for partner, what in sorted(concerned.items()):
        if _tell_partner(uow, partner, domain, name, what):
            done.partners_told.append(partner)
        else:
            done.partners_not_told.append(partner)
    return done


def _legacy_chain(domain: str) -> str:
    return f"{TENANT_CHAIN}{domain}"


def _legacy_events(session: Session, domain: str) -> int:
    """How many events a chain still named by the domain holds (see `remove_tenant`)."""
    query = select(func.count(AuditEvent.id)).where(AuditEvent.chain == _legacy_chain(domain))
    return int(session.execute(query).scalar_one())


def _delete_legacy_chain(session: Session, domain: str) -> None:
    session.execute(delete(AuditEvent).where(AuditEvent.chain == _legacy_chain(domain)))
    session.execute(delete(AuditChainHead).where(AuditChainHead.chain == _legacy_chain(domain)))
    forget_head(session, _legacy_chain(domain))


def _names_of(domain: str) -> list[str]:
    """The texts that name a tenant in stored mail headers: its domain as stored (IDNA ASCII)
    and as people read it."""
    names = {domain}
    with contextlib.suppress(UnicodeError):
        names.add(domain.encode("ascii").decode("idna"))
    return sorted(names)


def _erase_mail(
    session: Session, subject: str | None, recipients: list[str], mentions: list[str]
) -> tuple[int, int]:
    """Delete the mail to the removed addresses, and blank every other message about the
    tenant: a delivered one entirely, one still waiting in its stored subject (its body is
    the notice a partner is owed; delivery then keeps nothing of it: `outbox._kept`).

    Messages carry their tenant's subject (`tenant_ref`); one without (a sign-in link, or
    mail written before migration 0006) counts when it is to a removed address, or names
    the tenant in its subject or raw text."""
    unscoped = OutboxMessage.tenant_ref.is_(None)
    ours = OutboxMessage.tenant_ref == subject if subject else false()
    deleted = 0
    if recipients:
        gone = session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.recipient.in_(sorted(set(recipients))), or_(ours, unscoped)
            )
        )
        deleted = int(gone.rowcount)  # type: ignore[attr-defined]
    naming = or_(
        *(
            column.contains(text, autoescape=True)
            for text in mentions
            for column in (OutboxMessage.subject, OutboxMessage.raw, OutboxMessage.payload)
        )
    )
    return deleted, _blank(session, or_(ours, unscoped & naming))


def _blank(session: Session, which: Any) -> int:
    done = or_(OutboxMessage.sent_at.is_not(None), OutboxMessage.failed_at.is_not(None))
    blanked = session.execute(
        update(OutboxMessage)
        .where(which)
        .values(
            subject=ERASED_SUBJECT,
            raw=case((done, ERASED_MESSAGE), else_=OutboxMessage.raw),
            payload=case((done, None), else_=OutboxMessage.payload),
        )
    )
    return int(blanked.rowcount)  # type: ignore[attr-defined]


def _erase_admin_mail(session: Session, subject: str | None, email: str) -> tuple[int, int]:
    """Delete the mail to a removed admin about their tenant (and their sign-in links, which
    name no tenant); blank the tenant's other messages that name them (a co-admin's notice
    "accepted by <them>"), reading each waiting message's decoded text, not its transfer
    encoding."""
    ours = OutboxMessage.tenant_ref == subject if subject else false()
    gone = session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.recipient == email, or_(ours, OutboxMessage.tenant_ref.is_(None))
        )
    )
    naming = [
        row_id
        for row_id, title, raw, payload in session.execute(
            select(
                OutboxMessage.id, OutboxMessage.subject, OutboxMessage.raw, OutboxMessage.payload
            ).where(ours)
        )
        if email in title or email in _readable(raw) or email in (payload or "")
    ]
    blanked = _blank(session, OutboxMessage.id.in_(naming)) if naming else 0
    return int(gone.rowcount), blanked  # type: ignore[attr-defined]


def _readable(raw: str) -> str:
    """A stored message's headers and text parts, decoded (base64, quoted-printable)."""
    message = message_from_string(raw, policy=policy.default)
    texts = [str(value) for value in message.values()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            with contextlib.suppress(LookupError, ValueError):
                texts.append(str(part.get_content()))
    return "\n".join(texts)


def _delete_rows(session: Session, tenant: Tenant | None, invitation_ids: list[str]) -> None:
    """Delete every row that holds the tenant's personal data, children first."""
    if tenant is not None:
        for model in (DelegatedAdminGrant, PartnerOfRecord):  # they name invitations
            session.execute(delete(model).where(model.tenant_id == tenant.id))
        for owned in (SignInToken, CustomerSession, TenantAdmin):
            session.execute(delete(owned).where(owned.tenant_id == tenant.id))
    if invitation_ids:
        session.execute(
            delete(InvitationLink).where(InvitationLink.invitation_id.in_(invitation_ids))
        )
        session.execute(delete(Invitation).where(Invitation.id.in_(invitation_ids)))
    if tenant is not None:
        session.execute(delete(Tenant).where(Tenant.id == tenant.id))


def _tell_partner(
    uow: UnitOfWork, partner_slug: str, domain: str, name: str | None, what: list[str]
) -> bool:
    listing = uow.directory.get(partner_slug)
    if listing is None:
        return False  # no longer listed: nobody to tell
    uow.mail(
        str(listing.contact.email),
        "tenant_removed_partner",
        {
            "partner_name": listing.name,
            "domain": domain,
            "name": name,
            "delegated_admin": "delegated_admin" in what,
            "partner_of_record": "partner_of_record" in what,
            "invitations": [item.removeprefix("invitation ") for item in what if " " in item],
        },
        PARTNER_LANGUAGES,
    )
    return True


@dataclass
class AdminRemoval:
    """What removing one admin did, for the operator."""

    domain: str
    email: str
    messages_deleted: int = 0
    messages_blanked: int = 0
    data_erased: int = 0


def remove_admin(uow: UnitOfWork, domain: str, email: str, actor: Actor) -> AdminRemoval:
    """Remove one admin of a tenant and erase their personal data: their address wherever it
    is kept, the addresses they acted from, their sessions and links. The tenant keeps its
    other admins, roles and history (which shows "[erased]" for them)."""
    session, now = uow.session, uow.now()
    subject = live_subject(session, domain, lock=True)
    tenant = find_tenant(session, domain)
    if tenant is None:
        raise NotFound(f"no tenant {domain}")
    lock_tenant(session, tenant)
    if _legacy_events(session, domain):
        raise InvalidInput(
            f"the audit log still holds a chain for {domain} from before the upgrade to "
            "migration 0006, which could not rewrite it because it was already broken "
            "(`marketplace audit verify` names it); an admin's address in it cannot be erased "
            "alone: remove the whole tenant (`marketplace tenants remove`)",
            "DOMAIN",
        )
    admins = admin_emails(session, tenant.id)
    if email not in admins:
        raise NotFound(f"{email} is not an admin of {domain}")
    if admins == [email]:
        raise InvalidInput(
            f"{email} is the only admin of {domain}: a tenant needs one; remove the tenant "
            "instead (`marketplace tenants remove`), or add another admin first",
            "EMAIL",
        )
    done = AdminRemoval(domain, email)
    details = {"email": Personal.admin_address(email)}
    record(session, actor, "tenant.admin_removed", tenant_domain=domain, details=details)
    for owned in (SignInToken, CustomerSession, TenantAdmin):
        session.execute(delete(owned).where(owned.tenant_id == tenant.id, owned.email == email))
    of_tenant = select(Invitation.id).where(Invitation.tenant_domain == domain)
    session.execute(
        delete(InvitationLink).where(
            InvitationLink.invitation_id.in_(of_tenant), InvitationLink.email == email
        )
    )
    for column in (Invitation.decided_by, Invitation.customer_email):
        session.execute(
            update(Invitation)
            .where(Invitation.tenant_domain == domain, column == email)
            .values({column.key: None})
        )
    label, erased = Actor("customer", email).label, Actor("customer", "[erased]").label
    for model in (DelegatedAdminGrant, PartnerOfRecord):
        for column in (model.started_by, model.ended_by):
            session.execute(
                update(model)
                .where(model.tenant_id == tenant.id, column == label)
                .values({column.key: erased})
            )
    done.messages_deleted, done.messages_blanked = _erase_admin_mail(session, subject, email)
    if subject is not None:
        done.data_erased = erase_admin(session, subject, email, now)
    return done
