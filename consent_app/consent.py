"""Customer decisions: accepting or declining an invitation, delegated admin, partner of record.

`decide` is the rule book as a plain function: the roles a tenant has, the decision the
customer made, and what changes (or why it is refused). The functions below it apply an
outcome in one transaction: the invitation is claimed with `UPDATE … WHERE state =
'pending'`, roles are ended with `UPDATE … WHERE ended_at IS NULL`, and the partial unique
indexes (one active DA partner, one active partner of record per tenant) are the guarantee
that no concurrent request can leave two. A caller that hits `IntegrityError` rolls back and
asks the customer to look again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from consent_app.audit import Actor, record
from consent_app.db import utcnow
from consent_app.eligibility import standing
from consent_app.errors import Refused
from consent_app.invitations import status_of
from consent_app.mail import PARTNER_LANGUAGES, enqueue
from consent_app.models import (
    SOVEREIGN_CLOUD,
    DelegatedAdminGrant,
    Invitation,
    PartnerOfRecord,
    Tenant,
)
from consent_app.partners import PartnerDirectory
from consent_app.settings import Settings
from consent_app.tenants import NewTenant, add_tenant, admin_emails, find_tenant

# --- the rules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Roles:
    """Who holds each role for a tenant (partner slugs)."""

    delegated_admin: str | None = None
    partner_of_record: str | None = None


@dataclass(frozen=True)
class Decision:
    """What the customer submitted on the invitation page."""

    accept: bool
    authorize_delegated_admin: bool = False
    make_partner_of_record: bool = False
    confirm_replace_delegated_admin: bool = False
    seen_delegated_admin: str | None = None  # the DA partner the page showed them


@dataclass(frozen=True)
class Asked:
    """What the invitation asks for, and whether the partner's listing, as it is now, still
    allows it (`consent_app.eligibility.standing`)."""

    delegated_admin_requested: bool
    acceptance_refusal: Refused | None = None  # the invitation can no longer be accepted
    delegated_admin_refusal: str | None = None  # DA can no longer be granted


@dataclass(frozen=True)
class Outcome:
    """What a decision changes."""

    state: str  # accepted | declined
    roles: Roles  # after the decision
    delegated_admin_granted: bool
    partner_of_record: bool
    replaced_delegated_admin: str | None = None
    replaced_partner_of_record: str | None = None


def decide(partner: str, asked: Asked, cloud: str, before: Roles, decision: Decision) -> Outcome:
    """Apply SPEC §1 and §8 to one decision; `Refused` when it cannot be carried out as
    submitted. Declining is always possible; accepting needs every rule that allowed the
    invitation to hold still."""
    if cloud == SOVEREIGN_CLOUD:
        raise Refused(
            "cloud_not_supported",
            "Partner features are not available to tenants in the sovereign cloud operated by "
            "21Vianet. Nothing was changed.",
        )
    if not decision.accept:
        return Outcome("declined", before, delegated_admin_granted=False, partner_of_record=False)
    if asked.acceptance_refusal is not None:
        raise asked.acceptance_refusal
    grant = decision.authorize_delegated_admin
    if grant and not asked.delegated_admin_requested:
        raise Refused(
            "delegated_admin_not_requested",
            "This invitation does not ask for delegated administration, so it cannot be granted.",
            status=400,
        )
    if grant and asked.delegated_admin_refusal is not None:
        raise Refused(
            "not_eligible_for_delegated_admin",
            "Delegated administration can no longer be granted to this partner: "
            f"{asked.delegated_admin_refusal}. You can accept without it, or decline.",
            status=403,
        )
    replaced_da = None
    if grant and before.delegated_admin not in (None, partner):
        if not decision.confirm_replace_delegated_admin:
            raise Refused(
                "replacement_needs_confirmation",
                "Another partner administers your tenant. To authorize this partner instead, "
                "confirm that it replaces the current one.",
                status=409,
            )
        if decision.seen_delegated_admin != before.delegated_admin:
            raise Refused(
                "delegated_admin_changed",
                "Your delegated admin partner changed since you opened this page. "
                "Review the page again before you confirm.",
                status=409,
            )
        replaced_da = before.delegated_admin
    por = decision.make_partner_of_record
    replaced_por = None
    if por and before.partner_of_record not in (None, partner):
        replaced_por = before.partner_of_record
    after = Roles(
        delegated_admin=partner if grant else before.delegated_admin,
        partner_of_record=partner if por else before.partner_of_record,
    )
    return Outcome("accepted", after, grant, por, replaced_da, replaced_por)


# --- reading the roles -------------------------------------------------------------------------


def active_delegated_admin(session: Session, tenant_id: int) -> DelegatedAdminGrant | None:
    """The tenant's delegated-admin grant in force, if any."""
    query = select(DelegatedAdminGrant).where(
        DelegatedAdminGrant.tenant_id == tenant_id, DelegatedAdminGrant.ended_at.is_(None)
    )
    return session.execute(query).scalar_one_or_none()


def active_partner_of_record(session: Session, tenant_id: int) -> PartnerOfRecord | None:
    """The tenant's partner of record, if any."""
    query = select(PartnerOfRecord).where(
        PartnerOfRecord.tenant_id == tenant_id, PartnerOfRecord.ended_at.is_(None)
    )
    return session.execute(query).scalar_one_or_none()


def current_roles(session: Session, tenant: Tenant | None) -> Roles:
    """Who holds DA and POR for a tenant (nobody for a tenant not created yet)."""
    if tenant is None:
        return Roles()
    da = active_delegated_admin(session, tenant.id)
    por = active_partner_of_record(session, tenant.id)
    return Roles(da.partner_slug if da else None, por.partner_slug if por else None)


def _lock_tenant(session: Session, tenant: Tenant) -> None:
    """Hold the tenant's row until commit: consent changes for one tenant happen one at a time
    on PostgreSQL (SQLite's write transaction already holds the whole database)."""
    session.execute(select(Tenant.id).where(Tenant.id == tenant.id).with_for_update())


# --- changing the roles ------------------------------------------------------------------------


class Conflict(Exception):
    """A role changed between reading and writing; nothing was applied."""


def _end(
    session: Session,
    model: type[DelegatedAdminGrant] | type[PartnerOfRecord],
    tenant_id: int,
    partner: str,
    actor: Actor,
    reason: str,
    now: datetime,
) -> None:
    ended = session.execute(
        update(model)
        .where(
            model.tenant_id == tenant_id,
            model.partner_slug == partner,
            model.ended_at.is_(None),
        )
        .values(ended_at=now, ended_by=actor.label, end_reason=reason)
    )
    if ended.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"{model.__tablename__}: {partner} no longer holds the role")


def _start(
    session: Session,
    model: type[DelegatedAdminGrant] | type[PartnerOfRecord],
    tenant_id: int,
    partner: str,
    invitation_id: str | None,
    actor: Actor,
    now: datetime,
) -> None:
    session.add(
        model(
            tenant_id=tenant_id,
            partner_slug=partner,
            invitation_id=invitation_id,
            started_at=now,
            started_by=actor.label,
        )
    )
    session.flush()  # the partial unique index speaks here, inside the transaction


@dataclass(frozen=True)
class Applied:
    """A decision as carried out."""

    invitation: Invitation
    tenant: Tenant | None  # None after a new customer declined
    outcome: Outcome
    receipt_event_id: int


def _tenant_for_decision(
    session: Session, invitation: Invitation, tenant: Tenant | None, decider: str, actor: Actor
) -> Tenant:
    """The invitation's tenant (`tenant`, as found); a new customer's is created by accepting
    (with the decider as its verified admin, proven by the link mailed to them)."""
    if tenant is not None:
        if invitation.customer_email and decider not in admin_emails(session, tenant.id):
            raise Refused(
                "tenant_exists",
                f"The tenant {tenant.domain} was created after this invitation was sent. Ask "
                "the partner to send a new invitation; it will go to the tenant's administrators.",
                status=409,
            )
        return tenant
    assert invitation.customer_email and invitation.customer_company
    return add_tenant(
        session,
        NewTenant(
            invitation.tenant_domain, invitation.customer_company, (decider,), invitation=invitation
        ),
        actor,
    )


def asked_of(directory: PartnerDirectory, invitation: Invitation) -> Asked:
    """What an invitation asks for, with the rules that allowed it checked again against the
    partner's listing as it is now (the page shows the same thing the decision enforces)."""
    found = standing(
        directory.catalog,
        directory.get(invitation.partner_slug),
        invitation.kind,
        invitation.offer_id,
        invitation.services,
        invitation.customer_email,
    )
    return Asked(
        invitation.delegated_admin_requested,
        found.acceptance_refusal,
        found.delegated_admin_refusal,
    )


def apply_decision(
    session: Session,
    settings: Settings,
    directory: PartnerDirectory,
    invitation_id: str,
    decider: str,
    decision: Decision,
    actor: Actor,
) -> Applied:
    """Carry out a customer's decision on an invitation, all or nothing."""
    now = utcnow()
    state = "accepted" if decision.accept else "declined"
    claimed = session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation_id,
            Invitation.state == "pending",
            Invitation.expires_at > now,
        )
        .values(state=state, decided_at=now, decided_by=decider)
    )
    invitation = session.get(Invitation, invitation_id)
    assert invitation is not None
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(invitation)
        raise Refused("invalid_state", f"This invitation is {status_of(invitation, now)}.", 409)
    partner = invitation.partner_slug
    existing = find_tenant(session, invitation.tenant_domain)
    cloud = existing.cloud if existing else "global"
    if existing is not None:
        _lock_tenant(session, existing)
    before = current_roles(session, existing)
    outcome = decide(partner, asked_of(directory, invitation), cloud, before, decision)
    invitation.delegated_admin_granted = outcome.delegated_admin_granted
    invitation.partner_of_record = outcome.partner_of_record
    audit: dict[str, Any] = {
        "tenant_domain": invitation.tenant_domain,
        "invitation_id": invitation.id,
    }
    # Declining never creates a tenant; accepting a new customer's invitation does.
    tenant = (
        _tenant_for_decision(session, invitation, existing, decider, actor)
        if decision.accept
        else existing
    )
    if tenant is not None:
        # Each role the decision gives the partner: end whoever held it, then start it.
        changes = (
            (
                DelegatedAdminGrant,
                "delegated_admin",
                "granted",
                outcome.delegated_admin_granted,
                before.delegated_admin,
                outcome.replaced_delegated_admin,
            ),
            (
                PartnerOfRecord,
                "partner_of_record",
                "set",
                outcome.partner_of_record,
                before.partner_of_record,
                outcome.replaced_partner_of_record,
            ),
        )
        for model, role, started, given, holder, replaced in changes:
            if not given or holder == partner:
                continue
            if replaced:
                _end(session, model, tenant.id, replaced, actor, "replaced", now)
                record(
                    session,
                    actor,
                    f"{role}.ended",
                    partner_slug=replaced,
                    details={"reason": "replaced", "by": partner},
                    **audit,
                )
            _start(session, model, tenant.id, partner, invitation.id, actor, now)
            record(session, actor, f"{role}.{started}", partner_slug=partner, **audit)
    event = record(
        session,
        actor,
        f"invitation.{outcome.state}",
        partner_slug=partner,
        details={
            "type": invitation.kind,
            "services": invitation.services,
            "licenses": invitation.licenses,
            "trial_days": invitation.trial_days,
            "delegated_admin_requested": invitation.delegated_admin_requested,
            "delegated_admin_granted": outcome.delegated_admin_granted,
            "partner_of_record": outcome.partner_of_record,
            "replaced_delegated_admin": outcome.replaced_delegated_admin,
            "replaced_partner_of_record": outcome.replaced_partner_of_record,
        },
        **audit,
    )
    _mail_decision(session, settings, directory, invitation, tenant, decider, outcome)
    session.flush()  # gives the event its id
    return Applied(invitation, tenant, outcome, event.id)


def _mail_decision(
    session: Session,
    settings: Settings,
    directory: PartnerDirectory,
    invitation: Invitation,
    tenant: Tenant | None,
    decider: str,
    outcome: Outcome,
) -> None:
    partner = directory.get(invitation.partner_slug)
    context = {
        "invitation": invitation,
        "company": tenant.name if tenant else invitation.customer_company,
        "outcome": outcome,
        "partner_name": directory.display_name(invitation.partner_slug),
        "replaced_da_name": directory.display_name(outcome.replaced_delegated_admin or ""),
        "replaced_por_name": directory.display_name(outcome.replaced_partner_of_record or ""),
    }
    recipients = admin_emails(session, tenant.id) if tenant else [decider]
    for email in recipients:
        enqueue(session, settings, email, "decision_customer", context)
    if partner is not None:
        enqueue(
            session,
            settings,
            str(partner.contact.email),
            "decision_partner",
            context,
            PARTNER_LANGUAGES,
        )
    if tenant is None:
        return
    for replaced, role in (
        (outcome.replaced_delegated_admin, "delegated_admin"),
        (outcome.replaced_partner_of_record, "partner_of_record"),
    ):
        _notify_role_ended(session, settings, directory, replaced, tenant, role, "replaced")


def _notify_role_ended(
    session: Session,
    settings: Settings,
    directory: PartnerDirectory,
    partner_slug: str | None,
    tenant: Tenant,
    role: str,
    reason: str,
) -> None:
    listing = directory.get(partner_slug) if partner_slug else None
    if listing is None:
        return  # no longer listed: nobody to tell
    enqueue(
        session,
        settings,
        str(listing.contact.email),
        "role_ended_partner",
        {"tenant": tenant, "role": role, "reason": reason, "partner_name": listing.name},
        PARTNER_LANGUAGES,
    )


def end_delegated_admin(
    session: Session,
    settings: Settings,
    directory: PartnerDirectory,
    tenant: Tenant,
    partner_slug: str,
    actor: Actor,
    reason: str,
) -> int:
    """End a partner's DA of a tenant (revoked by the customer, or ended by the partner);
    returns the audit event's id. `Refused` (404) when the partner does not hold it."""
    _lock_tenant(session, tenant)
    now = utcnow()
    try:
        _end(session, DelegatedAdminGrant, tenant.id, partner_slug, actor, reason, now)
    except Conflict:
        raise Refused(
            "not_found", f"{partner_slug} is not the delegated admin of {tenant.domain}", 404
        ) from None
    event = record(
        session,
        actor,
        "delegated_admin.ended",
        tenant_domain=tenant.domain,
        partner_slug=partner_slug,
        details={"reason": reason},
    )
    context = {
        "tenant": tenant,
        "reason": reason,
        "partner_name": directory.display_name(partner_slug),
    }
    for email in admin_emails(session, tenant.id):
        enqueue(session, settings, email, "delegated_admin_ended_customer", context)
    if reason != "ended_by_partner":
        _notify_role_ended(
            session, settings, directory, partner_slug, tenant, "delegated_admin", reason
        )
    session.flush()  # gives the event its id
    return event.id


def set_partner_of_record(
    session: Session,
    settings: Settings,
    directory: PartnerDirectory,
    tenant: Tenant,
    partner_slug: str | None,
    actor: Actor,
) -> int:
    """Name a new partner of record, or none; returns the audit event's id."""
    _lock_tenant(session, tenant)
    now = utcnow()
    current = active_partner_of_record(session, tenant.id)
    previous = current.partner_slug if current else None
    if previous == partner_slug:
        raise Refused("unchanged", "That is your partner of record already.", 409)
    if partner_slug is not None and partner_slug not in eligible_partners_of_record(
        session, tenant
    ):
        raise Refused(
            "validation_error",
            "Choose a partner whose invitation or offer you accepted.",
            400,
            "partner",
        )
    if previous is not None:
        reason = "changed" if partner_slug else "cleared"
        _end(session, PartnerOfRecord, tenant.id, previous, actor, reason, now)
        _notify_role_ended(
            session, settings, directory, previous, tenant, "partner_of_record", reason
        )
    if partner_slug is not None:
        _start(session, PartnerOfRecord, tenant.id, partner_slug, None, actor, now)
    event = record(
        session,
        actor,
        "partner_of_record.set" if partner_slug else "partner_of_record.cleared",
        tenant_domain=tenant.domain,
        partner_slug=partner_slug or previous,
        details={"previous": previous, "new": partner_slug},
    )
    session.flush()  # gives the event its id
    return event.id


def eligible_partners_of_record(session: Session, tenant: Tenant) -> list[str]:
    """Partners a customer may name as partner of record from their page: those whose
    invitation or offer they accepted."""
    query = (
        select(Invitation.partner_slug)
        .where(Invitation.tenant_domain == tenant.domain, Invitation.state == "accepted")
        .distinct()
    )
    return sorted(session.execute(query).scalars())


@dataclass(frozen=True)
class Relationship:
    """A tenant where a partner holds DA, POR or both (SPEC §6 `GET /api/v1/relationships`)."""

    tenant: str
    delegated_admin: bool
    partner_of_record: bool
    since: datetime


def partner_relationships(session: Session, partner_slug: str) -> list[Relationship]:
    """The partner's current customers: where it is the DA partner or partner of record."""
    roles: dict[str, dict[str, datetime]] = {}  # tenant domain -> role -> since
    for model, role in (
        (DelegatedAdminGrant, "delegated_admin"),
        (PartnerOfRecord, "partner_of_record"),
    ):
        rows = session.execute(
            select(Tenant.domain, model.started_at)
            .join(Tenant, Tenant.id == model.tenant_id)
            .where(model.partner_slug == partner_slug, model.ended_at.is_(None))
        )
        for domain, started in rows:
            roles.setdefault(domain, {})[role] = started
    return [
        Relationship(
            tenant=domain,
            delegated_admin="delegated_admin" in held,
            partner_of_record="partner_of_record" in held,
            since=min(held.values()),
        )
        for domain, held in sorted(roles.items())
    ]
