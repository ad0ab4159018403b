"""Customer decisions carried out: accepting or declining an invitation, ending delegated
administration, naming a partner of record.

The rules are `consent_app.rules.decide` (a plain function); the functions here apply its
outcome in one unit of work (`consent_app.work.UnitOfWork`, run by `Backend.run`, which
retries a transaction that lost a race). The invitation is claimed with `UPDATE … WHERE
state = 'pending'`, roles are ended with `UPDATE … WHERE ended_at IS NULL`, and the partial
unique indexes (one active DA partner, one active partner of record per tenant) are the
guarantee that no concurrent request can leave two.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from consent_app import webhooks
from consent_app.audit import Actor, record
from consent_app.db import append_row, run, session_now
from consent_app.grants import (
    DelegatedAdminRequest,
    GrantTerms,
    check_renewal,
    grant_end,
    grant_terms,
    may_extend_itself,
)
from consent_app.mail import PARTNER_LANGUAGES
from consent_app.models import DelegatedAdminGrant, Invitation, PartnerKey, PartnerOfRecord, Tenant
from consent_app.partners import PartnerDirectory
from consent_app.refusals import InvalidInput, InvalidState, NotFound, TenantExists, Unchanged
from consent_app.rules import (
    Asked,
    By,
    Cloud,
    Decision,
    Outcome,
    Roles,
    State,
    Status,
    asked,
    check_transition,
    decide,
    status,
)
from consent_app.tenants import NewTenant, add_tenant, admin_emails
from consent_app.work import RoleChanged, UnitOfWork
from marketplace.catalog import FULL_ACCESS_ROLE

# --- reading the roles -------------------------------------------------------------------------


def grant_in_force(now: datetime) -> Any:
    """SQL: a DA grant that holds at `now`: not ended, and not past its end date (computed,
    like an invitation's expiry: the sweep records the end afterwards), unless the customer
    let it extend itself (then only the sweep, which checks it may, ends or extends it)."""
    return and_(
        DelegatedAdminGrant.ended_at.is_(None),
        or_(DelegatedAdminGrant.expires_at > now, DelegatedAdminGrant.auto_extend.is_(True)),
    )


def active_delegated_admin(session: Session, tenant_id: int) -> DelegatedAdminGrant | None:
    """The tenant's delegated-admin grant in force, if any (`grant_in_force`)."""
    query = select(DelegatedAdminGrant).where(
        DelegatedAdminGrant.tenant_id == tenant_id, grant_in_force(session_now(session))
    )
    return session.execute(query).scalar_one_or_none()


EXPIRY_ACTOR = Actor("system", "expiry")


def end_lapsed_grant(uow: UnitOfWork, tenant: Tenant, *, extending_too: bool = False) -> bool:
    """Record the end of the tenant's grant that reached its end date (before a new grant
    takes its place, before a removal, or when the sweep comes by): audited, both sides told.
    A grant that extends itself is ended only by the sweep (`extending_too`), when it may no
    longer extend. False when there is none (another transaction ended or extended it)."""
    session, now = uow.session, uow.now()
    due = [
        DelegatedAdminGrant.tenant_id == tenant.id,
        DelegatedAdminGrant.ended_at.is_(None),
        DelegatedAdminGrant.expires_at <= now,
    ]
    if not extending_too:
        due.append(DelegatedAdminGrant.auto_extend.is_(False))
    lapsed = session.execute(select(DelegatedAdminGrant).where(*due)).scalar_one_or_none()
    if lapsed is None:
        return False
    # The same conditions again: on PostgreSQL the sweep may have extended it meanwhile.
    ended = session.execute(
        update(DelegatedAdminGrant)
        .where(DelegatedAdminGrant.id == lapsed.id, *due)
        .values(ended_at=lapsed.expires_at, ended_by=EXPIRY_ACTOR.label, end_reason="expired")
    )
    if ended.rowcount != 1:  # type: ignore[attr-defined]
        return False
    record(
        session,
        EXPIRY_ACTOR,
        "delegated_admin.ended",
        tenant_domain=tenant.domain,
        partner_slug=lapsed.partner_slug,
        details={"reason": "expired", "roles": lapsed.roles},
    )
    webhooks.delegated_admin_ended(uow, tenant.domain, lapsed.partner_slug, "expired")
    _tell_customers_da_ended(uow, tenant, lapsed.partner_slug, "expired")
    _notify_role_ended(uow, lapsed.partner_slug, tenant, "delegated_admin", "expired")
    return True


def active_partner_of_record(session: Session, tenant_id: int) -> PartnerOfRecord | None:
    """The tenant's partner of record, if any."""
    query = select(PartnerOfRecord).where(
        PartnerOfRecord.tenant_id == tenant_id, PartnerOfRecord.ended_at.is_(None)
    )
    return session.execute(query).scalar_one_or_none()


@dataclass(frozen=True)
class RoleHolders:
    """A tenant's roles as one query reads them (`role_holders`): its DA grant not ended yet
    (in force, or past its end date until the sweep or a new grant records the end: the
    partial unique index allows one such row) and its partner of record."""

    grant: DelegatedAdminGrant | None = None
    partner_of_record: PartnerOfRecord | None = None
    now: datetime | None = None

    @property
    def delegated_admin(self) -> DelegatedAdminGrant | None:
        """The grant in force (`grant_in_force`), if any."""
        grant = self.grant
        if grant is None or self.now is None:
            return None
        return grant if grant.auto_extend or grant.expires_at > self.now else None

    @property
    def lapsed(self) -> bool:
        """True when a grant reached its end date and waits for its end to be recorded
        (`end_lapsed_grant`; a grant that extends itself waits for the sweep)."""
        grant = self.grant
        return bool(grant and self.now and not grant.auto_extend and grant.expires_at <= self.now)

    def roles(self) -> Roles:
        """Who holds DA and POR."""
        da, por = self.delegated_admin, self.partner_of_record
        return Roles(da.partner_slug if da else None, por.partner_slug if por else None)


_ROLE_HOLDERS = (
    select(DelegatedAdminGrant, PartnerOfRecord)
    .select_from(Tenant)
    .outerjoin(
        DelegatedAdminGrant,
        and_(DelegatedAdminGrant.tenant_id == Tenant.id, DelegatedAdminGrant.ended_at.is_(None)),
    )
    .outerjoin(
        PartnerOfRecord,
        and_(PartnerOfRecord.tenant_id == Tenant.id, PartnerOfRecord.ended_at.is_(None)),
    )
    .where(Tenant.id == bindparam("tenant_id"))
)


def role_holders(session: Session, tenant: Tenant | None) -> RoleHolders:
    """The tenant's DA grant and partner of record, in one query (nobody for a tenant not
    created yet)."""
    if tenant is None:
        return RoleHolders()
    row = session.execute(_ROLE_HOLDERS, {"tenant_id": tenant.id}).first()
    grant, por = row if row is not None else (None, None)
    return RoleHolders(grant, por, session_now(session))


def current_roles(session: Session, tenant: Tenant | None) -> Roles:
    """Who holds DA and POR for a tenant (nobody for a tenant not created yet)."""
    return role_holders(session, tenant).roles()


_LOCK_TENANT = select(Tenant.id).where(Tenant.id == bindparam("tenant_id")).with_for_update()
_LOCKED_TENANT = select(Tenant).where(Tenant.domain == bindparam("domain")).with_for_update()


def lock_tenant(session: Session, tenant: Tenant) -> None:
    """Hold the tenant's row until commit: consent changes for one tenant happen one at a time
    on PostgreSQL (SQLite's write transaction already holds the whole database)."""
    run(session, _LOCK_TENANT, {"tenant_id": tenant.id})


def find_locked_tenant(session: Session, domain: str) -> Tenant | None:
    """The tenant with this domain, its row held until commit (`lock_tenant`), in one
    statement. Read its roles in a statement after this one (`role_holders`), not in this
    one: on PostgreSQL a statement sees the rows of its snapshot, taken before it waited for
    the lock, so roles joined here would be those from before the transaction it waited for
    (a partner of record it cleared would be seen as still named)."""
    return session.execute(_LOCKED_TENANT, {"domain": domain}).scalar_one_or_none()


# --- changing the roles ------------------------------------------------------------------------


_END_ROLE = {
    model: update(model)
    .where(
        model.tenant_id == bindparam("tenant"),  # not a column's name: they are the SET's
        model.partner_slug == bindparam("partner"),
        model.ended_at.is_(None),
    )
    .values(ended_at=bindparam("at"), ended_by=bindparam("by"), end_reason=bindparam("why"))
    for model in (DelegatedAdminGrant, PartnerOfRecord)
}


def end_role(
    session: Session,
    model: type[DelegatedAdminGrant] | type[PartnerOfRecord],
    tenant_id: int,
    partner: str,
    actor: Actor,
    reason: str,
    now: datetime,
) -> None:
    ended = run(
        session,
        _END_ROLE[model],
        {"tenant": tenant_id, "partner": partner, "at": now, "by": actor.label, "why": reason},
    )
    if ended.rowcount != 1:
        raise RoleChanged(f"{model.__tablename__}: {partner} no longer holds the role")


def _start(
    session: Session,
    model: type[DelegatedAdminGrant] | type[PartnerOfRecord],
    tenant_id: int,
    partner: str,
    invitation_id: str | None,
    actor: Actor,
    now: datetime,
    **grant: Any,
) -> None:
    # The partial unique index speaks when the row is written (`append_row`: before the
    # transaction's next statement or its commit), inside the transaction: a lost race.
    append_row(
        session,
        model(
            tenant_id=tenant_id,
            partner_slug=partner,
            invitation_id=invitation_id,
            started_at=now,
            started_by=actor.label,
            **grant,
        ),
    )


def grant_asked(uow: UnitOfWork, invitation: Invitation) -> GrantTerms:
    """The roles and days an invitation's DA request asks, checked again against the catalog,
    the offer and the maximum as they are now (`InvalidInput` when they no longer hold). A
    request from before requests named roles (migration 0007) asks what `true` asks now."""
    listing = uow.directory.get(invitation.partner_slug)
    offers = listing.offers if listing else []
    offer = next((item for item in offers if item.id == invitation.offer_id), None)
    requested: bool | DelegatedAdminRequest = True
    if invitation.delegated_admin_roles is not None and invitation.delegated_admin_days:
        requested = DelegatedAdminRequest(
            roles=list(invitation.delegated_admin_roles),
            duration_days=invitation.delegated_admin_days,
        )
    settings = uow.settings
    return grant_terms(
        uow.directory.catalog,
        offer,
        requested,
        min(settings.delegated_admin_default_days, settings.delegated_admin_max_days),
        settings.delegated_admin_max_days,
    )


def _grant_of(
    uow: UnitOfWork, invitation: Invitation, decision: Decision, now: datetime
) -> dict[str, Any]:
    """The grant an accepted DA request gives: the roles and days it asks (`grant_asked`)."""
    terms = grant_asked(uow, invitation)
    roles = list(terms.roles)
    if decision.auto_extend_delegated_admin and not may_extend_itself(roles):
        raise InvalidInput(
            "Full access to everything cannot extend itself: untick automatic extension.",
            "auto_extend_delegated_admin",
        )
    return {
        "roles": roles,
        "expires_at": grant_end(now, terms.days),
        "auto_extend": decision.auto_extend_delegated_admin,
    }


def _grant_details(grant: dict[str, Any], renewal: bool) -> dict[str, Any]:
    return {
        "roles": grant["roles"],
        "expires_at": grant["expires_at"].isoformat(),
        "auto_extend": grant["auto_extend"],
        "renewal": renewal,
    }


@dataclass(frozen=True)
class Applied:
    """A decision as carried out."""

    invitation: Invitation
    tenant: Tenant | None  # None after a new customer declined
    outcome: Outcome


def _tenant_for_decision(
    uow: UnitOfWork, invitation: Invitation, tenant: Tenant | None, decider: str, actor: Actor
) -> Tenant:
    """The invitation's tenant (`tenant`, as found); a new customer's is created by accepting
    (with the decider as its verified admin, proven by the link mailed to them)."""
    if tenant is not None:
        check_tenant_is_theirs(uow.session, invitation, tenant, decider)
        return tenant
    assert invitation.customer_email and invitation.customer_company
    return add_tenant(
        uow.session,
        NewTenant(
            invitation.tenant_domain, invitation.customer_company, (decider,), invitation=invitation
        ),
        actor,
        uow.now(),
    )


def check_tenant_is_theirs(
    session: Session, invitation: Invitation, tenant: Tenant | None, email: str
) -> None:
    """`TenantExists` when a new customer's invitation meets a tenant someone else created
    since it was sent: the person it was mailed to is no admin of it, and may neither see
    nor decide anything about it."""
    if tenant is None or not invitation.customer_email:
        return
    if email not in admin_emails(session, tenant.id):
        raise TenantExists(
            f"The tenant {tenant.domain} was created after this invitation was sent. Ask "
            "the partner to send a new invitation; it will go to the tenant's administrators."
        )


_KEY_REVOKED = select(PartnerKey.revoked_at).where(PartnerKey.key_id == bindparam("key_id"))


def sender_key_revoked(session: Session, invitation: Invitation) -> bool:
    """True when the API key the invitation was sent with has been revoked since (a stolen
    key's invitations die with it)."""
    if invitation.key_id is None:
        return False
    revoked = run(session, _KEY_REVOKED, {"key_id": invitation.key_id}).scalar_one_or_none()
    return revoked is not None


def invitation_asks(
    uow: UnitOfWork,
    invitation: Invitation,
    tenant: Tenant | None,
    holders: RoleHolders | None = None,
) -> Asked:
    """What an invitation asks for, with every rule that allowed it checked again as this
    installation is now: the partner's listing, the API key it was sent with, (for a new
    customer's invitation that would create a tenant) the namespace suffix, and a priced
    offer's terms as stored. The page shows exactly what the decision enforces. A DA request
    is checked again too: its roles and days against the catalog, the offer and the maximum,
    and a renewal (from the partner that holds DA now) may not add roles. `holders`: the
    tenant's roles when the caller read them already (`role_holders`)."""
    found = asked(
        uow.directory.catalog,
        uow.directory.get(invitation.partner_slug),
        invitation.kind,
        invitation.offer_id,
        invitation.services,
        invitation.customer_email,
        invitation.delegated_admin_requested,
        tenant_domain=invitation.tenant_domain,
        initial_domain_suffix=uow.settings.initial_domain_suffix if tenant is None else None,
        key_revoked=sender_key_revoked(uow.session, invitation),
        licenses=invitation.licenses,
        prices=invitation.prices,
        currency=invitation.currency,
        billing=invitation.billing,
    )
    if not found.delegated_admin_available:
        return found
    try:
        terms = grant_asked(uow, invitation)
    except InvalidInput as changed:
        return replace(found, delegated_admin_refusal=changed.message)
    if holders is None:
        holders = role_holders(uow.session, tenant)
    holder = holders.delegated_admin
    if holder is not None and holder.partner_slug == invitation.partner_slug:
        try:
            check_renewal(holder.roles, terms)
        except InvalidInput as wider:
            return replace(found, delegated_admin_refusal=wider.message)
    return found


_INVITATIONS = cast(Table, Invitation.__table__)
# An UPDATE … RETURNING of the table, read as an `Invitation` (one the session holds already
# is refreshed): the ORM's own UPDATE with RETURNING costs about three times as much Python
# (it prepares to synchronise the session).
_CLAIM = (
    select(Invitation)
    .from_statement(
        update(_INVITATIONS)
        .where(
            _INVITATIONS.c.id == bindparam("invitation_id"),
            _INVITATIONS.c.state == State.PENDING,
            _INVITATIONS.c.expires_at > bindparam("now"),
        )
        .values(state=bindparam("to"), decided_at=bindparam("now"), decided_by=bindparam("by"))
        .returning(*_INVITATIONS.c)
    )
    .execution_options(populate_existing=True)
)


_DECIDED = (
    update(Invitation)
    .where(Invitation.id == bindparam("invitation_id"))
    .values(
        delegated_admin_granted=bindparam("delegated_admin_granted"),
        partner_of_record=bindparam("partner_of_record"),
    )
)


def apply_decision(
    uow: UnitOfWork, invitation_id: str, decider: str, decision: Decision, actor: Actor
) -> Applied:
    """Carry out a customer's decision on an invitation, all or nothing."""
    session, now = uow.session, uow.now()
    state = State.ACCEPTED if decision.accept else State.DECLINED
    # The claim returns the invitation it claimed: one statement, no read after it.
    claim = {"invitation_id": invitation_id, "now": now, "to": state, "by": decider}
    invitation = session.execute(_CLAIM, claim).scalar_one_or_none()
    if invitation is None:
        # Read again: the session may hold the invitation as it was before the claim lost.
        unclaimed = session.get(Invitation, invitation_id, populate_existing=True)
        if unclaimed is None:
            raise NotFound("This invitation does not exist.")
        current = status(unclaimed.state, unclaimed.expires_at, now)
        check_transition(current, Status(state), By.CUSTOMER)  # says why it is not allowed
        raise InvalidState(f"This invitation is {current} and can no longer be decided.")
    partner = invitation.partner_slug
    existing = find_locked_tenant(session, invitation.tenant_domain)
    cloud = existing.cloud if existing else Cloud.GLOBAL
    holders = role_holders(session, existing)  # after the lock: see `find_locked_tenant`
    before = holders.roles()
    asks = invitation_asks(uow, invitation, existing, holders)
    outcome = decide(partner, asks, cloud, before, decision)
    # The terms the customer accepted: the stored ones the page showed (`asked`), ticked.
    terms = asks.terms if outcome.state == State.ACCEPTED else None
    decided = {
        "delegated_admin_granted": outcome.delegated_admin_granted,
        "partner_of_record": outcome.partner_of_record,
    }
    run(session, _DECIDED, {"invitation_id": invitation.id, **decided})
    for name, value in decided.items():  # the object says what the row says, nothing to flush
        set_committed_value(invitation, name, value)
    audit: dict[str, Any] = {
        "tenant_domain": invitation.tenant_domain,
        "invitation_id": invitation.id,
    }
    # Declining never creates a tenant; accepting a new customer's invitation does.
    tenant = (
        _tenant_for_decision(uow, invitation, existing, decider, actor)
        if decision.accept
        else existing
    )
    grant: dict[str, Any] = {}  # the DA grant given, if any
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
        if outcome.delegated_admin_granted:
            grant = _grant_of(uow, invitation, decision, now)
            if holders.lapsed:  # a grant past its end no longer holds the place
                end_lapsed_grant(uow, tenant)
        for model, role, started, given, holder, replaced in changes:
            renewal = model is DelegatedAdminGrant and given and holder == partner
            if not given or (holder == partner and not renewal):
                continue
            if renewal:  # the same partner, new roles and end: no gap, not a replacement
                end_role(session, model, tenant.id, partner, actor, "renewed", now)
                details = {"reason": "renewed"}
                record(
                    session, actor, f"{role}.ended", partner_slug=partner, details=details, **audit
                )
            if replaced:
                end_role(session, model, tenant.id, replaced, actor, "replaced", now)
                record(
                    session,
                    actor,
                    f"{role}.ended",
                    partner_slug=replaced,
                    details={"reason": "replaced", "by": partner},
                    **audit,
                )
            extra = grant if model is DelegatedAdminGrant else {}
            _start(session, model, tenant.id, partner, invitation.id, actor, now, **extra)
            shown = _grant_details(extra, renewal) if extra else None
            record(
                session, actor, f"{role}.{started}", partner_slug=partner, details=shown, **audit
            )
    record(
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
            # What the grant carries (also in its delegated_admin.granted event).
            "delegated_admin_roles": grant.get("roles"),
            "delegated_admin_expires_at": (
                grant["expires_at"].isoformat() if grant.get("expires_at") else None
            ),
            "terms_accepted": terms.record() if terms else None,
        },
        **audit,
    )
    webhooks.decision_made(uow, invitation, outcome, before, grant)
    _mail_decision(uow, invitation, tenant, decider, outcome, grant)
    return Applied(invitation, tenant, outcome)


def decision_mail_context(
    directory: PartnerDirectory,
    invitation: Invitation,
    tenant: Tenant | None,
    outcome: Outcome,
    grant: dict[str, Any],
) -> dict[str, Any]:
    """What the decision mails (`decision_customer`, `decision_partner`) say, as plain values:
    delivery composes them from it (`at_delivery`), so it holds only what they read."""
    roles = grant.get("roles", [])
    names = {
        f"da_roles_{language}": ", ".join(
            directory.catalog.admin_roles[role].name.in_language(language)
            if role in directory.catalog.admin_roles
            else role
            for role in roles
        )
        for language in ("en", "ru")
    }
    return {
        "invitation": {
            "id": invitation.id,
            "kind": invitation.kind,
            "tenant_domain": invitation.tenant_domain,
            "decided_at": invitation.decided_at,
            "decided_by": invitation.decided_by,
            "delegated_admin_requested": invitation.delegated_admin_requested,
        },
        "company": tenant.name if tenant else invitation.customer_company,
        "outcome": {
            "state": outcome.state,
            "delegated_admin_granted": outcome.delegated_admin_granted,
            "partner_of_record": outcome.partner_of_record,
            "replaced_delegated_admin": outcome.replaced_delegated_admin,
            "replaced_partner_of_record": outcome.replaced_partner_of_record,
        },
        "partner_name": directory.display_name(invitation.partner_slug),
        "replaced_da_name": directory.display_name(outcome.replaced_delegated_admin or ""),
        "replaced_por_name": directory.display_name(outcome.replaced_partner_of_record or ""),
        "da_full_access": FULL_ACCESS_ROLE in roles,
        "da_ends": grant.get("expires_at"),
        **names,
    }


def _mail_decision(
    uow: UnitOfWork,
    invitation: Invitation,
    tenant: Tenant | None,
    decider: str,
    outcome: Outcome,
    grant: dict[str, Any],
) -> None:
    directory = uow.directory
    partner = directory.get(invitation.partner_slug)
    context = decision_mail_context(directory, invitation, tenant, outcome, grant)
    recipients = admin_emails(uow.session, tenant.id) if tenant else [decider]
    about = invitation.tenant_domain
    for email in recipients:
        uow.mail(email, "decision_customer", context, about=about, at_delivery=True)
    if partner is not None:
        # The partner's mail does not say who decided: their address stays out of its payload.
        shown = {key: value for key, value in context["invitation"].items() if key != "decided_by"}
        to = str(partner.contact.email)
        uow.mail(
            to,
            "decision_partner",
            {**context, "invitation": shown},
            PARTNER_LANGUAGES,
            about=about,
            at_delivery=True,
        )
    if tenant is None:
        return
    for replaced, role in (
        (outcome.replaced_delegated_admin, "delegated_admin"),
        (outcome.replaced_partner_of_record, "partner_of_record"),
    ):
        _notify_role_ended(uow, replaced, tenant, role, "replaced")


def _notify_role_ended(
    uow: UnitOfWork, partner_slug: str | None, tenant: Tenant, role: str, reason: str
) -> None:
    listing = uow.directory.get(partner_slug) if partner_slug else None
    if listing is None:
        return  # no longer listed: nobody to tell
    uow.mail(
        str(listing.contact.email),
        "role_ended_partner",
        {
            "tenant": {"name": tenant.name, "domain": tenant.domain},
            "role": role,
            "reason": reason,
            "partner_name": listing.name,
        },
        PARTNER_LANGUAGES,
        about=tenant.domain,
        at_delivery=True,
    )


def end_delegated_admin(
    uow: UnitOfWork, tenant: Tenant, partner_slug: str, actor: Actor, reason: str
) -> None:
    """End a partner's DA of a tenant (revoked by the customer, or ended by the partner).
    `NotFound` when the partner does not hold it."""
    session = uow.session
    lock_tenant(session, tenant)
    holder = active_delegated_admin(session, tenant.id)
    if holder is None or holder.partner_slug != partner_slug:
        raise NotFound(f"{partner_slug[:64]} is not the delegated admin of {tenant.domain}")
    end_role(session, DelegatedAdminGrant, tenant.id, partner_slug, actor, reason, uow.now())
    record(
        session,
        actor,
        "delegated_admin.ended",
        tenant_domain=tenant.domain,
        partner_slug=partner_slug,
        details={"reason": reason},
    )
    webhooks.delegated_admin_ended(uow, tenant.domain, partner_slug, reason)
    _tell_customers_da_ended(uow, tenant, partner_slug, reason)
    if reason != "ended_by_partner":
        _notify_role_ended(uow, partner_slug, tenant, "delegated_admin", reason)


def _tell_customers_da_ended(
    uow: UnitOfWork, tenant: Tenant, partner_slug: str, reason: str
) -> None:
    context = {
        "tenant": tenant,
        "reason": reason,
        "partner_name": uow.directory.display_name(partner_slug),
    }
    for email in admin_emails(uow.session, tenant.id):
        uow.mail(email, "delegated_admin_ended_customer", context, about=tenant.domain)


def set_partner_of_record(
    uow: UnitOfWork, tenant: Tenant, partner_slug: str | None, actor: Actor
) -> None:
    """Name a new partner of record, or none."""
    session = uow.session
    lock_tenant(session, tenant)
    current = active_partner_of_record(session, tenant.id)
    previous = current.partner_slug if current else None
    if previous == partner_slug:
        raise Unchanged("That is your partner of record already.")
    if partner_slug is not None and partner_slug not in eligible_partners_of_record(
        session, tenant
    ):
        raise InvalidInput("Choose a partner whose invitation or offer you accepted.", "partner")
    now = uow.now()
    if previous is not None:
        reason = "changed" if partner_slug else "cleared"
        end_role(session, PartnerOfRecord, tenant.id, previous, actor, reason, now)
        _notify_role_ended(uow, previous, tenant, "partner_of_record", reason)
    if partner_slug is not None:
        _start(session, PartnerOfRecord, tenant.id, partner_slug, None, actor, now)
    record(
        session,
        actor,
        "partner_of_record.set" if partner_slug else "partner_of_record.cleared",
        tenant_domain=tenant.domain,
        partner_slug=partner_slug or previous,
        details={"previous": previous, "new": partner_slug},
    )
    webhooks.partner_of_record_changed(uow, tenant.domain, previous, partner_slug)
    context = {
        "tenant": tenant,
        "new_name": uow.directory.display_name(partner_slug) if partner_slug else None,
        "previous_name": uow.directory.display_name(previous) if previous else None,
    }
    for email in admin_emails(session, tenant.id):
        uow.mail(email, "partner_of_record_changed_customer", context, about=tenant.domain)


def eligible_partners_of_record(session: Session, tenant: Tenant) -> list[str]:
    """Partners a customer may name as partner of record from their page: those whose
    invitation or offer they accepted."""
    query = (
        select(Invitation.partner_slug)
        .where(Invitation.tenant_domain == tenant.domain, Invitation.state == State.ACCEPTED)
        .distinct()
    )
    return sorted(session.execute(query).scalars())


@dataclass(frozen=True)
class Relationship:
    """A tenant where a partner holds DA, POR or both (README: Partner API)."""

    tenant: str
    delegated_admin: bool
    partner_of_record: bool
    since: datetime
    roles: list[str] | None = None  # the DA grant's admin roles
    expires_at: datetime | None = None  # when the DA grant ends by itself


def partner_relationships(session: Session, partner_slug: str) -> list[Relationship]:
    """The partner's current customers: where it is the DA partner (a grant not past its end
    date) or partner of record."""
    roles: dict[str, dict[str, datetime]] = {}  # tenant domain -> role -> since
    grants: dict[str, DelegatedAdminGrant] = {}
    rows = session.execute(
        select(Tenant.domain, DelegatedAdminGrant)
        .join(Tenant, Tenant.id == DelegatedAdminGrant.tenant_id)
        .where(
            DelegatedAdminGrant.partner_slug == partner_slug,
            grant_in_force(session_now(session)),
        )
    )
    for domain, grant in rows:
        roles.setdefault(domain, {})["delegated_admin"] = grant.started_at
        grants[domain] = grant
    por = session.execute(
        select(Tenant.domain, PartnerOfRecord.started_at)
        .join(Tenant, Tenant.id == PartnerOfRecord.tenant_id)
        .where(PartnerOfRecord.partner_slug == partner_slug, PartnerOfRecord.ended_at.is_(None))
    )
    for domain, started in por:
        roles.setdefault(domain, {})["partner_of_record"] = started
    return [
        Relationship(
            tenant=domain,
            delegated_admin="delegated_admin" in held,
            partner_of_record="partner_of_record" in held,
            since=min(held.values()),
            roles=grants[domain].roles if domain in grants else None,
            expires_at=grants[domain].expires_at if domain in grants else None,
        )
        for domain, held in sorted(roles.items())
    ]
