"""The delegated-administration sweep: grants end by themselves at their end date (or extend
themselves, when the customer allowed it), and both sides are reminded 30 and 7 days before.

Safe to run on every worker at once: each grant is taken with `FOR UPDATE SKIP LOCKED` and
changed with an `UPDATE … WHERE` that still expects what was read, so a grant is ended,
extended or reminded once, whoever gets there first. Run by the backend's background thread
(`Backend.background_round`), like the invitation expiry sweep.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from consent_app.audit import record
from consent_app.consent import EXPIRY_ACTOR, end_lapsed_grant, lock_tenant
from consent_app.grants import (
    AUTO_EXTENSION,
    REMINDER_DAYS,
    DelegatedAdminRequest,
    grant_terms,
    may_extend_itself,
    reminder_due,
)
from consent_app.mail import PARTNER_LANGUAGES
from consent_app.models import DelegatedAdminGrant, Invitation, Tenant
from consent_app.refusals import InvalidInput
from consent_app.rules import delegated_admin_refusal
from consent_app.tenants import admin_emails
from consent_app.work import UnitOfWork

BATCH = 100
"""Grants handled per sweep and kind (the rest wait for the next round)."""


def sweep_delegated_admin(uow: UnitOfWork) -> int:
    """End or extend the grants at their end date, send the reminders due; how many grants
    it changed or reminded."""
    return _at_end(uow) + _reminders(uow)


def _at_end(uow: UnitOfWork) -> int:
    session, now = uow.session, uow.now()
    due = list(
        session.execute(
            select(DelegatedAdminGrant)
            .where(DelegatedAdminGrant.ended_at.is_(None), DelegatedAdminGrant.expires_at <= now)
            .order_by(DelegatedAdminGrant.expires_at)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    done = 0
    for grant in due:
        tenant = session.get(Tenant, grant.tenant_id)
        assert tenant is not None
        lock_tenant(session, tenant)  # decisions for this tenant wait, as they do for each other
        if grant.auto_extend and _may_still_extend(uow, grant):
            done += _extend(uow, grant, tenant)
        elif end_lapsed_grant(uow, tenant, extending_too=True):
            done += 1
    return done


def _may_still_extend(uow: UnitOfWork, grant: DelegatedAdminGrant) -> bool:
    """Whether the rules that allowed the grant still hold, as at a decision: the partner is
    listed, its listing and the offer still allow DA, and still with these roles."""
    listing = uow.directory.get(grant.partner_slug)
    if listing is None or not may_extend_itself(grant.roles):
        return False
    invitation = uow.session.get(Invitation, grant.invitation_id) if grant.invitation_id else None
    offer_id = invitation.offer_id if invitation else None
    offer = next((item for item in listing.offers if item.id == offer_id), None)
    if delegated_admin_refusal(uow.directory.catalog, listing, offer) is not None:
        return False
    days = uow.settings.delegated_admin_max_days
    try:
        grant_terms(
            uow.directory.catalog,
            offer,
            DelegatedAdminRequest(roles=list(grant.roles), duration_days=days),
            days,
            days,
        )
    except InvalidInput:
        return False
    return True


def _extend(uow: UnitOfWork, grant: DelegatedAdminGrant, tenant: Tenant) -> int:
    ends = grant.expires_at + AUTO_EXTENSION
    extended = uow.session.execute(
        update(DelegatedAdminGrant)
        .where(
            DelegatedAdminGrant.id == grant.id,
            DelegatedAdminGrant.ended_at.is_(None),
            DelegatedAdminGrant.expires_at == grant.expires_at,
        )
        .values(expires_at=ends, reminded_days=None)
    )
    if extended.rowcount != 1:  # type: ignore[attr-defined]
        return 0
    record(
        uow.session,
        EXPIRY_ACTOR,
        "delegated_admin.extended",
        tenant_domain=tenant.domain,
        partner_slug=grant.partner_slug,
        details={"roles": grant.roles, "expires_at": ends.isoformat()},
    )
    _tell(uow, grant, tenant, "extended", ends)
    return 1


def _reminders(uow: UnitOfWork) -> int:
    session, now = uow.session, uow.now()
    soonest = max(REMINDER_DAYS)
    candidates = list(
        session.execute(
            select(DelegatedAdminGrant)
            .where(
                DelegatedAdminGrant.ended_at.is_(None),
                DelegatedAdminGrant.expires_at > now,
                DelegatedAdminGrant.expires_at <= now + timedelta(days=soonest),
                or_(
                    DelegatedAdminGrant.reminded_days.is_(None),
                    DelegatedAdminGrant.reminded_days > min(REMINDER_DAYS),
                ),
            )
            .order_by(DelegatedAdminGrant.expires_at)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    done = 0
    for grant in candidates:
        days = reminder_due(grant.expires_at, grant.reminded_days, now, grant.started_at)
        if days is None:
            continue
        claimed = session.execute(
            update(DelegatedAdminGrant)
            .where(
                DelegatedAdminGrant.id == grant.id,
                or_(
                    DelegatedAdminGrant.reminded_days.is_(None),
                    DelegatedAdminGrant.reminded_days > days,
                ),
            )
            .values(reminded_days=days)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        tenant = session.get(Tenant, grant.tenant_id)
        assert tenant is not None
        _tell(uow, grant, tenant, "reminder", grant.expires_at)
        done += 1
    return done


def _tell(
    uow: UnitOfWork, grant: DelegatedAdminGrant, tenant: Tenant, kind: str, ends: datetime
) -> None:
    """Mail the tenant's admins and the partner that the grant ends soon, or was extended."""
    context = {
        "tenant": tenant,
        "kind": kind,
        "ends": ends,
        "partner_name": uow.directory.display_name(grant.partner_slug),
        "auto_extend": grant.auto_extend,
        "to_partner": False,
    }
    for email in admin_emails(uow.session, tenant.id):
        uow.mail(email, "delegated_admin_ending", context, about=tenant.domain)
    listing = uow.directory.get(grant.partner_slug)
    if listing is not None:
        to = str(listing.contact.email)
        partner = {**context, "to_partner": True}
        uow.mail(to, "delegated_admin_ending", partner, PARTNER_LANGUAGES, about=tenant.domain)
