"""`/invitations/<token>`: the customer's page for one invitation (README: Consent backend).

GET shows and never changes anything (mail scanners open links); POST decides.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent_app.audit import Actor
from consent_app.backend import backend
from consent_app.consent import (
    Applied,
    apply_decision,
    check_tenant_is_theirs,
    grant_asked,
    invitation_asks,
    role_holders,
)
from consent_app.customer_pages import Customer, customer_required
from consent_app.forms import DecisionForm
from consent_app.grants import grant_end, may_extend_itself
from consent_app.http_errors import status_for
from consent_app.i18n import language, translate
from consent_app.invitations import (
    link_invitation,
    link_recipient,
    offer_lines,
    status_of,
    tenant_for,
)
from consent_app.models import Invitation, InvitationLink
from consent_app.pages import refusal_text, words_page
from consent_app.refusals import (
    InvalidInput,
    InvalidState,
    Refused,
    SovereignCloud,
    TenantExists,
    TermsNotAccepted,
)
from consent_app.rules import Decision, Status, check_cloud
from consent_app.security import LINK_LIMITS, limiter
from consent_app.work import UnitOfWork
from marketplace.catalog import FULL_ACCESS_ROLE

bp = Blueprint("invitation_pages", __name__)


def _closed(invitation: Invitation | None, now: datetime) -> ResponseReturnValue:
    """The page for a link that can no longer be used, saying why."""
    if invitation is None:
        return words_page("closed_unknown", 404)
    status = status_of(invitation, now)
    moment = invitation.expires_at if status == Status.EXPIRED else invitation.decided_at
    date = moment or ""  # translate() writes the date out in the reader's language
    return words_page(f"closed_{status}", 410, date=date)


_PAGES: dict[type[Refused], str] = {SovereignCloud: "not_available", TenantExists: "tenant_taken"}
"""Refusals that leave nothing of the invitation to show: a page of their own instead."""


def _refused_page(refused: Refused) -> ResponseReturnValue:
    for kind, page in _PAGES.items():
        if isinstance(refused, kind):
            return words_page(page, status_for(refused))
    raise refused


def _render(
    invitation: Invitation,
    link: InvitationLink,
    form: DecisionForm,
    refusal: str | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    """The invitation page with the tenant's roles as they are now."""
    directory, current = backend().directory, language()
    with backend().reading() as uow:
        tenant = tenant_for(uow.session, invitation)
        holders = role_holders(uow.session, tenant)  # both roles in one query
        roles = holders.roles()
        asked = invitation_asks(uow, invitation, tenant, holders)
        grant_shown = _grant_asked(uow, invitation, current)
        try:
            # Nothing of a tenant someone else created since is shown to this person.
            check_tenant_is_theirs(uow.session, invitation, tenant, link.email)
            if tenant is not None:
                check_cloud(tenant.cloud)
        except Refused as refused:
            return _refused_page(refused)
    partner = directory.get(invitation.partner_slug)
    partner_name = directory.display_name(invitation.partner_slug, current)
    company = tenant.name if tenant else invitation.customer_company
    slugs = {invitation.partner_slug, roles.delegated_admin, roles.partner_of_record} - {None}
    offer_title = None
    if partner is not None and invitation.offer_id:
        offer_title = partner.offer_title(invitation.offer_id, current)
    heading_key = "heading_trial" if invitation.kind == "trial" else "heading_purchase"
    page = render_template(
        "invitation.html",
        heading=translate(current, heading_key, partner=partner_name, company=company),
        invitation=invitation,
        partner=partner,
        partner_name=partner_name,
        partner_summary=partner.text(current)[1] if partner else "",
        program_names=[directory.catalog.name("program", p, current) for p in partner.programs]
        if partner
        else [],
        offer_title=offer_title,
        lines=offer_lines(directory, invitation, asked.terms, current),
        # A priced offer's terms as stored when it was sent (never the listing's defaults now).
        terms=asked.terms,
        company=company,
        new_customer=tenant is None,
        recipient=link.email,
        roles=roles,
        names={slug: directory.display_name(slug, current) for slug in slugs if slug},
        form=form,
        refusal=refusal,
        # What the partner's listing allows now: the page offers no choice that the decision
        # would refuse (consent_app.rules.asked).
        acceptance_refusal=refusal_text(asked.acceptance_refusal)
        if asked.acceptance_refusal
        else None,
        delegated_admin_available=asked.delegated_admin_available,
        **grant_shown,
    )
    return page, status


def _grant_asked(uow: UnitOfWork, invitation: Invitation, language: str) -> dict[str, Any]:
    """What the page shows of a DA request: each role in plain words, whether it is full
    access, and the day the grant would end if accepted now (as the decision would grant it:
    `grant_asked`; when that no longer holds, the page says DA cannot be granted)."""
    if not invitation.delegated_admin_requested:
        return {"da_roles": [], "da_full_access": False, "da_ends": None, "da_may_extend": False}
    catalog = uow.directory.catalog
    try:
        terms = grant_asked(uow, invitation)
        roles, ends = list(terms.roles), grant_end(uow.now(), terms.days)
    except InvalidInput:
        roles, ends = list(invitation.delegated_admin_roles or [FULL_ACCESS_ROLE]), None
    shown = [
        {
            "name": catalog.admin_roles[role].name.in_language(language),
            "description": catalog.admin_roles[role].description.in_language(language),
            "full_access": catalog.admin_roles[role].full_access,
        }
        if role in catalog.admin_roles
        else {"name": role, "description": "", "full_access": role == FULL_ACCESS_ROLE}
        for role in roles
    ]
    return {
        "da_roles": shown,
        "da_full_access": FULL_ACCESS_ROLE in roles,
        "da_ends": ends,
        "da_may_extend": may_extend_itself(roles),
    }


Linked = tuple[Invitation, InvitationLink]
"""An invitation with the link it was mailed by (whose recipient decides)."""
Recipient = tuple[str, str]
"""What a decision reads of its link: the invitation's id and the address that decides."""


@bp.get("/invitations/<token>")
@limiter.limit(LINK_LIMITS)
def show(token: str) -> ResponseReturnValue:
    """Who is asking, for what, and the separate DA and POR choices. Changes nothing."""
    with backend().reading() as uow:
        found = link_invitation(uow.session, token)
    return _show(found)


@bp.post("/invitations/<token>")
@limiter.limit(LINK_LIMITS)
def decide(token: str) -> ResponseReturnValue:
    """Accept or decline, with the DA and POR choices as ticked; all or nothing."""
    return _decide(
        lambda session: link_invitation(session, token),
        lambda session: link_recipient(session, token),
    )


@bp.get("/account/invitations/<public_id:invitation_id>")
@customer_required
def review(customer: Customer, invitation_id: str) -> ResponseReturnValue:
    """A signed-in admin reviews an invitation addressed to their tenant (the page their
    mailed link opens, without the link)."""
    with backend().reading() as uow:
        found = _own_link(uow.session, customer, invitation_id)
    return _show(found)


@bp.post("/account/invitations/<public_id:invitation_id>")
@customer_required
def review_decide(customer: Customer, invitation_id: str) -> ResponseReturnValue:
    """The signed-in admin's decision, exactly as through the mailed link."""

    def recipient(session: Session) -> Recipient | None:
        found = _own_link(session, customer, invitation_id)
        return (found[0].id, found[1].email) if found else None

    return _decide(lambda session: _own_link(session, customer, invitation_id), recipient)


def _own_link(session: Session, customer: Customer, invitation_id: str) -> Linked | None:
    """The invitation with the link it was mailed to this admin with: only an invitation to
    their own tenant, sent to them (an admin added later was not asked)."""
    row = session.execute(
        select(Invitation, InvitationLink)
        .join(InvitationLink, InvitationLink.invitation_id == Invitation.id)
        .where(
            Invitation.id == invitation_id,
            Invitation.tenant_domain == customer.tenant.domain,
            InvitationLink.email == customer.email,
        )
    ).first()
    return (row[0], row[1]) if row else None


def _show(found: Linked | None) -> ResponseReturnValue:
    now = backend().clock()
    if found is None or status_of(found[0], now) != Status.PENDING:
        return _closed(found[0] if found else None, now)
    return _render(*found, DecisionForm(formdata=None))


class _NoLink(Exception):
    """The link (or the signed-in admin's invitation) was not found when deciding."""


def _decide(
    find: Callable[[Session], Linked | None], recipient: Callable[[Session], Recipient | None]
) -> ResponseReturnValue:
    """The decision posted for the invitation `find` reads. The decision's own transaction
    reads what it needs of the link (`recipient`: one transaction, not a read before it); a
    page that shows why nothing was decided reads the invitation (`find`), as it is now."""
    found_backend = backend()

    def again() -> Linked | None:
        with found_backend.reading() as uow:
            return find(uow.session)

    form = DecisionForm()
    if not form.validate():
        found = again()
        if found is None:
            return _closed(None, found_backend.clock())
        return _render(*found, form, status=400)
    decision = Decision(
        accept=form.decision.data == "accept",
        authorize_delegated_admin=bool(form.authorize_delegated_admin.data),
        make_partner_of_record=bool(form.make_partner_of_record.data),
        confirm_replace_delegated_admin=bool(form.confirm_replace_delegated_admin.data),
        seen_delegated_admin=form.seen_delegated_admin.data or None,
        auto_extend_delegated_admin=bool(form.auto_extend_delegated_admin.data),
        accept_terms=bool(form.accept_terms.data),
    )

    def work(uow: UnitOfWork) -> Applied:
        found = recipient(uow.session)
        if found is None:
            raise _NoLink()
        invitation_id, email = found
        actor = Actor("customer", email, request.remote_addr)
        return apply_decision(uow, invitation_id, email, decision, actor)

    try:
        applied = found_backend.run(work)
    except _NoLink:
        return _closed(None, found_backend.clock())
    except InvalidState:
        found = again()
        return _closed(found[0] if found else None, found_backend.clock())
    except (SovereignCloud, TenantExists) as refused:
        return _refused_page(refused)
    except Refused as refused:
        found = again()
        if found is None:
            return _closed(None, found_backend.clock())
        if isinstance(refused, TermsNotAccepted):  # said beside the box to tick
            form.accept_terms.errors = [refusal_text(refused)]
            return _render(*found, form, status=status_for(refused))
        return _render(*found, form, refusal_text(refused), status_for(refused))
    invitation = applied.invitation
    current = language()
    directory = found_backend.directory
    partner_name = directory.display_name(invitation.partner_slug, current)
    outcome = applied.outcome
    replaced = [outcome.replaced_delegated_admin, outcome.replaced_partner_of_record]
    return render_template(
        "decided.html",
        heading=translate(current, f"heading_{outcome.state}", partner=partner_name),
        invitation=applied.invitation,
        outcome=outcome,
        partner_name=partner_name,
        names={slug: directory.display_name(slug, current) for slug in replaced if slug},
    )
