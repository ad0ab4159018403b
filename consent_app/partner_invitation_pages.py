"""The Partner overview's invitations (README: Partner overview), under `/partner/invitations/`.

- **New invitation**: a form (a trial or a purchase offer, chosen by a link, so it works
  without script), a preview showing exactly what the customer will see, then "Send". The
  form's fields become the partner API's request body (`consent_app.invitation_form`) and go
  through the same `create_invitation`: the same rules, the same refusals (each shown beside
  the field it names), the same audit events. The preview runs it too, in a transaction that
  is rolled back, so what it shows is what "Send" does, and a mistake is found before.
- **The list** (filtered by status), **one invitation**, **cancel** it, **send it again**.

A partner sees and changes only its own invitations: another partner's answers 404, like one
that does not exist. Every page needs a signed-in partner user (`partner_required`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, ngettext
from sqlalchemy import inspect as orm_inspect
from sqlalchemy import select

from consent_app.backend import backend
from consent_app.consent import grant_asked
from consent_app.forms import CancelInvitationForm, ConfirmForm, NewInvitationForm
from consent_app.grants import grant_end, may_extend_itself
from consent_app.http_errors import status_for
from consent_app.i18n import N_, language, translate
from consent_app.ids import is_public_id
from consent_app.invitation_form import (
    DAYS,
    LICENSES,
    PRICE,
    ROLES,
    InvitationForm,
    form_field,
    without_field,
)
from consent_app.invitations import (
    cancel_invitation,
    create_invitation,
    offer_lines,
    partner_invitation,
    partner_invitations,
    resend_invitation,
    status_of,
    tenant_for,
)
from consent_app.models import AuditEvent, Invitation
from consent_app.pages import words_page
from consent_app.partner_pages import PartnerUser, partner_required
from consent_app.partners import PartnerDirectory
from consent_app.pricing import PriceTerms, stored_terms
from consent_app.refusals import InvalidInput, NotFound, Refused
from consent_app.rules import Status, delegated_admin_refusal
from consent_app.security import limiter
from consent_app.tokens import new_token
from consent_app.work import UnitOfWork
from marketplace.catalog import FULL_ACCESS_ROLE
from marketplace.i18n import SOURCE_LANGUAGE, format_count, format_money
from marketplace.model import MAX_LICENSES_PER_SERVICE, Listing, Offer

bp = Blueprint("partner_invitations", __name__, url_prefix="/partner/invitations")

PAGE_SIZE = 50
"""Invitations per page of the list."""
_SEND_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


@bp.after_request
def _never_cached(response: Response) -> Response:
    """A partner's invitations and customers: never kept by a browser or a proxy."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _mailing_key() -> str:
    return str(g.get("mailing_partner") or "none")


_MAILING = limiter.shared_limit(
    lambda: backend().settings.invitation_rate_limit,
    scope="partner-pages-mail",
    key_func=_mailing_key,
)
"""Sending and resending mail the customer: the API's invitation limit, counted per partner."""


# --- words -------------------------------------------------------------------------------------

_FIELD_WORDS: dict[tuple[str, str], str] = {
    ("type", "validation_error"): N_("Choose a free trial or a purchase offer."),
    ("offer_id", "validation_error"): N_("Choose one of your trial offers."),
    ("offer_id", "unknown_offer"): N_(
        "Your listing has no such offer any more; choose one of those shown."
    ),
    ("tenant", "validation_error"): N_(
        "Enter the customer's tenant domain, such as fabrikam.onmicrosoft.com."
    ),
    ("tenant", "domain_not_verified"): N_(
        "This domain is not a customer yet, and a new customer's tenant can only be a new name "
        "such as newcompany.%(suffix)s. The Marketplace operators add a domain of the "
        "customer's own once they have verified it."
    ),
    ("tenant", "cloud_not_supported"): N_(
        "This tenant is in the sovereign cloud operated by 21Vianet, where partner features "
        "are not available."
    ),
    ("tenant", "tenant_exists"): N_(
        "This tenant was created since; the invitation can go to its administrators only."
    ),
    ("customer_email", "customer_required"): N_(
        "This tenant is not a customer yet: to invite a new customer, enter the e-mail address "
        "of its administrator and its company name."
    ),
    ("customer_email", "validation_error"): N_(
        "Enter the e-mail address of the customer's administrator, such as admin@fabrikam.example."
    ),
    ("customer_email", "customer_is_partner"): N_(
        "This address belongs to your own company; enter the address of the customer's own "
        "administrator."
    ),
    ("customer_company", "validation_error"): N_(
        "Enter the customer's company name: one line, at most 200 characters."
    ),
    ("licenses", "validation_error"): N_(
        "Enter a license count for at least one service (and none for a trial)."
    ),
    ("licenses-", "validation_error"): N_(
        "Enter a whole number of licenses from 1 to %(licenses)s for a service of this offer."
    ),
    ("prices", "validation_error"): N_(
        "Enter a price for each service with licenses, or leave the prices and the currency empty."
    ),
    ("price-", "validation_error"): N_(
        "Enter a price per license per month for each service with licenses, and only for "
        "those: digits with a point, such as 12.50, with no more decimals than the currency has."
    ),
    ("currency", "validation_error"): N_(
        "Enter the ISO 4217 code of a currency in use, such as EUR, USD or JPY."
    ),
    ("billing", "validation_error"): N_("Choose monthly or annual billing."),
    ("delegated_admin", "validation_error"): N_(
        "Tick the box to request delegated administration, or leave it empty."
    ),
    ("delegated_admin", "not_eligible_for_delegated_admin"): N_(
        "Delegated administration cannot be requested with this offer: your listing and the "
        "offer must both allow it."
    ),
    (ROLES, "validation_error"): N_(
        "Choose admin roles from the list, each once (full access alone); an offer that names "
        "its roles allows only those, and a renewal asks for the roles you hold or fewer."
    ),
    (DAYS, "validation_error"): N_("Enter a whole number of days from 1 to %(max)s."),
}
"""A refusal beside a form field, in the page's language, by (field, code). The English page
shows the API's own message, which names the value at fault."""

_REFUSAL_WORDS: dict[str, str] = {
    "invalid_state": N_("This invitation is no longer pending, so nothing was changed."),
    "conflict": N_("Something changed at the same moment. Nothing was done: try again."),
    "offer_withdrawn": N_(
        "Your listing no longer offers what this invitation offers, so the customer could not "
        "accept it; cancel it and send a new one."
    ),
    "partner_not_listed": N_("Your listing is no longer in the Marketplace."),
    "price_terms_invalid": N_(
        "The prices stored with this invitation are no longer valid; cancel it and send a new one."
    ),
    "domain_not_verified": N_(
        "The customer's tenant is no longer a name the Marketplace may create; cancel the "
        "invitation."
    ),
    "customer_is_partner": N_(
        "The invitation's address is in your own domain; cancel it and invite the customer's "
        "own administrator."
    ),
    "tenant_exists": N_(
        "Someone else created the customer's tenant since; cancel the invitation and send a "
        "new one, which goes to the tenant's administrators."
    ),
    "cloud_not_supported": N_(
        "The tenant is in the sovereign cloud operated by 21Vianet, where partner features are "
        "not available."
    ),
    "key_revoked": N_(
        "The API key this invitation was sent with was revoked, so it can no longer be "
        "accepted; send a new one."
    ),
    "not_confirmed": N_("Nothing was changed: tick the box that confirms it first."),
}
"""A refusal on an invitation's page (cancel, send again), in the page's language."""


def _refusal_words(refused: Refused, form_name: str | None = None) -> str:
    """A refusal in the page's language: the rule's own words on the English page, else the
    catalog's words for its field and code."""
    current = language()
    if current == SOURCE_LANGUAGE:
        return without_field(refused.message, refused.field)
    kind = form_name or ""
    for prefix in (LICENSES, PRICE):
        if kind.startswith(prefix):
            kind = prefix
    settings = backend().settings
    text = _FIELD_WORDS.get((kind, refused.code)) or _REFUSAL_WORDS.get(refused.code)
    if text is None:
        return str(gettext("This cannot be done as it is: %(reason)s", reason=refused.message))
    return str(
        gettext(
            text,
            suffix=settings.initial_domain_suffix,
            max=format_count(settings.delegated_admin_max_days, current),
            licenses=format_count(MAX_LICENSES_PER_SERVICE, current),
        )
    )


# --- the listing's offers, as the form offers them --------------------------------------------


def _listing(partner: PartnerUser) -> Listing:
    found = backend().directory.get(partner.slug)
    assert found is not None, "partner_required admits listed partners only"
    return found


def _offers(listing: Listing, kind: str) -> list[Offer]:
    return [offer for offer in listing.offers if offer.type == kind]


def _offer(listing: Listing, kind: str, offer_id: str) -> Offer | None:
    return next((offer for offer in _offers(listing, kind) if offer.id == offer_id), None)


def _default_kind(listing: Listing) -> str:
    return "trial" if _offers(listing, "trial") else "purchase"


def _start(listing: Listing, kind: str | None, offer_id: str) -> InvitationForm:
    """A new form: the kind asked for (else a trial when the listing has one); a purchase
    offer's services with its default prices, currency and billing."""
    if kind not in ("trial", "purchase"):
        kind = _default_kind(listing)
    if kind == "trial":
        trials = _offers(listing, "trial")
        chosen = offer_id if _offer(listing, "trial", offer_id) else ""
        if not chosen and len(trials) == 1:
            chosen = trials[0].id
        return InvitationForm(type=kind, offer_id=chosen)
    offer = _offer(listing, "purchase", offer_id)
    if offer is None:
        return InvitationForm(type=kind, billing="monthly")
    prices = tuple((service, price) for service, price in (offer.prices or {}).items())
    return InvitationForm(
        type=kind,
        offer_id=offer.id,
        prices=prices,
        currency=offer.currency or "",
        billing=offer.billing or "monthly",
    )


def _request_body(listing: Listing, values: InvitationForm) -> dict[str, Any]:
    """The API body of the form: a DA request's object form takes the offer's roles or the
    default days for the one of them the partner left out."""
    offer = _offer(listing, values.type, values.offer_id)
    roles = tuple(offer.delegated_admin_roles) if offer and offer.delegated_admin_roles else None
    settings = backend().settings
    days = min(settings.delegated_admin_default_days, settings.delegated_admin_max_days)
    return values.body(roles, days)


# --- the new invitation -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tab:
    label: str
    url: str
    current: bool


@dataclass(frozen=True)
class _ServiceRow:
    id: str
    name: str
    licenses: str
    price: str
    license_errors: list[str]
    price_errors: list[str]


def _form_page(
    partner: PartnerUser,
    values: InvitationForm,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    """The new-invitation form with `values`, and each error beside the field it names (an
    error about a field the page does not show, or about no field, above the form)."""
    errors = dict(errors or {})
    found = backend()
    directory, settings, current = found.directory, found.settings, language()
    catalog = directory.catalog
    listing = _listing(partner)
    kind = values.type if values.type in ("trial", "purchase") else _default_kind(listing)
    offer = _offer(listing, kind, values.offer_id)
    form = NewInvitationForm(formdata=None)
    form.type.data = kind
    form.tenant.data = values.tenant
    form.customer_email.data = values.customer_email
    form.customer_company.data = values.customer_company
    form.currency.data = values.currency
    form.billing.data = values.billing or "monthly"
    form.billing.choices = [("monthly", gettext("Monthly")), ("annual", gettext("Annually"))]
    form.delegated_admin.data = values.delegated_admin
    form.delegated_admin_roles.data = list(values.delegated_admin_roles)
    form.delegated_admin_days.data = values.delegated_admin_days
    form.offer_id.data = values.offer_id

    trials = _offers(listing, "trial")
    form.offer_id.choices = [(item.id, _trial_label(directory, listing, item)) for item in trials]
    services = list(offer.services) if kind == "purchase" and offer else list(listing.services)
    rows = [
        _ServiceRow(
            service,
            directory.service_name(service, current),
            values.license_of(service),
            values.price_of(service),
            errors.pop(LICENSES + service, []),
            errors.pop(PRICE + service, []),
        )
        for service in (services if kind == "purchase" else [])
    ]
    # The fields this page shows; an error about any other goes above the form.
    shown = {"tenant", "customer_email", "customer_company"}
    if kind == "trial":
        shown.add("offer_id")
    else:
        shown |= {"currency", "billing", "licenses", "prices"}

    da_offer = offer if kind == "purchase" else None
    da_refusal = delegated_admin_refusal(catalog, listing, da_offer)
    if da_refusal is None:
        shown |= {"delegated_admin", ROLES, DAYS}
        asked_roles = (
            list(da_offer.delegated_admin_roles)
            if da_offer and da_offer.delegated_admin_roles
            else list(catalog.admin_roles)
        )
        form.delegated_admin_roles.choices = [
            (role, catalog.admin_roles[role].name.in_language(current))
            for role in asked_roles
            if role in catalog.admin_roles
        ]
    for field in form:
        if field.name in errors and field.name in shown:
            field.errors = errors.pop(field.name)
    table_errors = errors.pop("licenses", []) + errors.pop("prices", [])
    general = [message for messages in errors.values() for message in messages]
    default_days = min(settings.delegated_admin_default_days, settings.delegated_admin_max_days)
    page = render_template(
        "partner/invitation_new.html",
        partner_nav="invitations",
        form=form,
        kind=kind,
        offer=offer,
        offer_title=listing.offer_title(offer.id, current) if offer else None,
        tabs=_tabs(listing, kind, offer),
        trials=trials,
        services=rows,
        table_errors=table_errors,
        general_errors=general,
        da_refusal=_da_refusal_words(da_refusal) if da_refusal else None,
        da_offers=[
            listing.offer_title(item.id, current)
            for item in trials
            if delegated_admin_refusal(catalog, listing, item) is None
        ],
        da_details_open=bool(form.delegated_admin_roles.errors or form.delegated_admin_days.errors)
        or bool(values.delegated_admin_roles or values.delegated_admin_days),
        default_days=default_days,
        max_days=settings.delegated_admin_max_days,
        suffix=settings.initial_domain_suffix,
    )
    return page, status


def _tabs(listing: Listing, kind: str, offer: Offer | None) -> list[_Tab]:
    """What to send, as links (so the choice needs no script): a trial, a purchase of the
    listing's services, or a purchase starting from one of the listing's purchase offers."""
    current = language()
    tabs = [
        _Tab(gettext("Free trial"), url_for(".new", type="trial"), kind == "trial"),
        _Tab(
            gettext("Purchase: services of your listing"),
            url_for(".new", type="purchase"),
            kind == "purchase" and offer is None,
        ),
    ]
    for item in _offers(listing, "purchase"):
        tabs.append(
            _Tab(
                gettext("Purchase offer: %(title)s", title=listing.offer_title(item.id, current)),
                url_for(".new", type="purchase", offer_id=item.id),
                kind == "purchase" and offer is not None and offer.id == item.id,
            )
        )
    return tabs


def _trial_label(directory: PartnerDirectory, listing: Listing, offer: Offer) -> str:
    current = language()
    services = ", ".join(directory.service_name(service, current) for service in offer.services)
    title = listing.offer_title(offer.id, current) or offer.id
    days = offer.trial_days or 0
    label: str = ngettext(
        "%(title)s: %(num)s day of %(services)s",
        "%(title)s: %(num)s days of %(services)s",
        days,
        title=title,
        services=services,
    )
    if delegated_admin_refusal(directory.catalog, listing, offer) is None:
        label += " · " + gettext("may ask for delegated administration")
    return label


def _da_refusal_words(reason: str) -> str:
    """Why delegated administration cannot be asked: the rule's words on the English page."""
    if language() == SOURCE_LANGUAGE:
        return reason
    return str(
        gettext(
            "Only a partner whose listing offers delegated administration (delegated_admin: true), "
            "in a program that allows it, may request it, and only with an offer that allows it."
        )
    )


def _errors_of(refused: Refused) -> dict[str, list[str]]:
    """A refusal as errors by form field ("" for the whole form)."""
    name = form_field(refused.field, refused.code)
    return {name or "": [_refusal_words(refused, name)]}


@bp.get("/new")
@partner_required
def new(partner: PartnerUser) -> ResponseReturnValue:
    """The form: a trial or a purchase offer (`?type=`, `?offer_id=` start a purchase offer
    from one of the listing's)."""
    listing = _listing(partner)
    values = _start(listing, request.args.get("type"), request.args.get("offer_id", ""))
    return _form_page(partner, values)


@bp.post("/new")
@partner_required
def submit(partner: PartnerUser) -> ResponseReturnValue:
    """ "Preview" (the default), "Change" (back to the form, values kept) or "Send"."""
    values = InvitationForm.read(request.form)
    action = request.form.get("action", "preview")
    if action == "change":
        return _form_page(partner, values)
    if action == "send":
        return _send(partner, values)
    return _preview(partner, values)


class _Previewed(Exception):
    """Carries what the customer would see out of the transaction, which is rolled back."""

    def __init__(self, shown: dict[str, Any]) -> None:
        super().__init__("preview")
        self.shown = shown


def _preview(partner: PartnerUser, values: InvitationForm) -> ResponseReturnValue:
    """Run the request exactly as "Send" will, then roll it back and show the customer's
    view of it; a refusal goes back to the form, beside its field."""
    listing = _listing(partner)
    body = _request_body(listing, values)
    current = language()

    def dry_run(uow: UnitOfWork) -> None:
        invitation = create_invitation(uow, partner.slug, body, partner.actor)
        raise _Previewed(_customer_view(uow, invitation, current))

    try:
        backend().run(dry_run)
    except _Previewed as previewed:
        shown = previewed.shown
    except Refused as refused:
        return _form_page(partner, values, _errors_of(refused), status_for(refused))
    else:  # pragma: no cover - dry_run always raises
        raise AssertionError("the preview was not rolled back")
    page = render_template(
        "partner/invitation_preview.html",
        partner_nav="invitations",
        form=NewInvitationForm(formdata=None),
        hidden=values.hidden(),
        send_token=new_token(),
        **shown,
    )
    return page, 200


def _copy(invitation: Invitation) -> Invitation:
    """A copy of an invitation that belongs to no session (what a rolled-back one showed)."""
    columns = orm_inspect(Invitation).column_attrs
    return Invitation(**{column.key: getattr(invitation, column.key) for column in columns})


def _customer_view(uow: UnitOfWork, invitation: Invitation, current: str) -> dict[str, Any]:
    """What the customer's invitation page would show of this invitation now, as the values
    its template parts (`_invitation_who.html`, `_invitation_offer.html`,
    `_invitation_terms.html`, `_invitation_da.html`) take. Nothing about the tenant's current
    partners: that is the customer's to see, not the inviting partner's."""
    directory = uow.directory
    catalog = directory.catalog
    listing = directory.get(invitation.partner_slug)
    assert listing is not None
    tenant = tenant_for(uow.session, invitation)
    terms = stored_terms(
        invitation.licenses, invitation.prices, invitation.currency, invitation.billing
    )
    partner_name = directory.display_name(invitation.partner_slug, current)
    company = tenant.name if tenant else (invitation.customer_company or "")
    heading_key = "heading_trial" if invitation.kind == "trial" else "heading_purchase"
    da: dict[str, Any] = {"da_roles": [], "da_full_access": False, "da_ends": None}
    if invitation.delegated_admin_requested:
        grant = grant_asked(uow, invitation)
        da = {
            "da_roles": [
                {
                    "name": catalog.admin_roles[role].name.in_language(current),
                    "description": catalog.admin_roles[role].description.in_language(current),
                    "full_access": catalog.admin_roles[role].full_access,
                }
                for role in grant.roles
                if role in catalog.admin_roles
            ],
            "da_full_access": FULL_ACCESS_ROLE in grant.roles,
            "da_ends": grant_end(uow.now(), grant.days),
            "da_may_extend": may_extend_itself(grant.roles),
        }
    return {
        "heading": translate(current, heading_key, partner=partner_name, company=company),
        "invitation": _copy(invitation),
        "partner": listing,
        "partner_name": partner_name,
        "partner_summary": listing.text(current)[1],
        "program_names": [catalog.name("program", p, current) for p in listing.programs],
        "offer_title": listing.offer_title(invitation.offer_id, current)
        if invitation.offer_id
        else None,
        "lines": offer_lines(directory, invitation, terms, current),
        "terms": terms,
        "company": company,
        "new_customer": tenant is None,
        "recipient": invitation.customer_email,
        "delegated_admin_available": True,
        **da,
    }


def _invitation_id(partner_slug: str, send_token: str) -> str:
    """The id "Send" gives the invitation of one preview: the same for every submit of that
    preview's form, so the second one meets the first one's row."""
    digest = hashlib.sha256(f"{partner_slug}\n{send_token}".encode()).hexdigest()
    return f"inv_{digest[:20]}"


def _send(partner: PartnerUser, values: InvitationForm) -> ResponseReturnValue:
    """Create the invitation, once per preview, and go to its page."""
    token = request.form.get("send_token", "")
    if not _SEND_TOKEN.fullmatch(token):
        expired = gettext("The preview is missing or has expired: preview the invitation again.")
        return _form_page(partner, values, {"": [expired]}, 400)
    listing = _listing(partner)
    body = _request_body(listing, values)
    invitation_id = _invitation_id(partner.slug, token)

    def send(uow: UnitOfWork) -> bool:
        made = uow.session.get(Invitation, invitation_id)
        if made is not None:  # this preview was sent already (a double click, a reload)
            if made.partner_slug != partner.slug:
                raise NotFound("no such invitation")
            return False
        create_invitation(uow, partner.slug, body, partner.actor, invitation_id=invitation_id)
        return True

    g.mailing_partner = partner.slug
    try:
        with _MAILING:
            created = backend().run(send)
    except Refused as refused:
        return _form_page(partner, values, _errors_of(refused), status_for(refused))
    if created:
        flash(gettext("The invitation was sent. The customer gets the link by e-mail."))
    else:
        flash(gettext("This invitation was sent already; it was not sent twice."))
    return redirect(url_for(".show", invitation_id=invitation_id))


# --- the list and one invitation ----------------------------------------------------------------


@dataclass(frozen=True)
class _Summary:
    """One invitation as the partner's list shows it."""

    id: str
    status: Status
    kind: str
    tenant: str
    new_customer: str | None  # "Company (address)" of a new customer
    offered: list[str]
    total: str | None
    delegated_admin: bool
    created_at: datetime
    until: datetime | None  # expiry of a pending or expired one; else when it ended


def _summary(directory: PartnerDirectory, invitation: Invitation, now: datetime) -> _Summary:
    current = language()
    listing = directory.get(invitation.partner_slug)
    status = status_of(invitation, now)
    if invitation.kind == "trial":
        title = (
            listing.offer_title(invitation.offer_id, current)
            if listing and invitation.offer_id
            else None
        )
        days = invitation.trial_days or 0
        offered = [
            ngettext(
                "%(title)s, %(num)s day",
                "%(title)s, %(num)s days",
                days,
                title=title or invitation.offer_id or "",
            )
        ]
    else:
        offered = [
            f"{directory.service_name(service, current)} × {format_count(count, current)}"
            for service, count in (invitation.licenses or {}).items()
        ]
    terms = _terms(invitation)
    total = None
    if terms is not None:
        total = gettext(
            "%(total)s per month",
            total=format_money(terms.total_per_month, terms.currency, current),
        )
    new_customer = None
    if invitation.customer_company:
        new_customer = invitation.customer_company
        if invitation.customer_email:
            new_customer += f" ({invitation.customer_email})"
    pending = status in (Status.PENDING, Status.EXPIRED)
    return _Summary(
        invitation.id,
        status,
        invitation.kind,
        invitation.tenant_domain,
        new_customer,
        offered,
        total,
        invitation.delegated_admin_requested,
        invitation.created_at,
        invitation.expires_at if pending else invitation.decided_at,
    )


def _terms(invitation: Invitation) -> PriceTerms | None:
    """A priced offer's terms as stored (None: unpriced, or no longer valid)."""
    try:
        return stored_terms(
            invitation.licenses, invitation.prices, invitation.currency, invitation.billing
        )
    except InvalidInput:
        return None


@bp.get("/")
@partner_required
def index(partner: PartnerUser) -> ResponseReturnValue:
    """The partner's invitations, newest first: `?status=` filters, `?before=<id>` pages."""
    asked = request.args.get("status", "")
    only = Status(asked) if asked in tuple(Status) else None
    before = request.args.get("before") or None
    if before is not None and not is_public_id(before):
        before = None
    found = backend()
    with found.reading() as uow:
        now = uow.now()
        try:
            rows = partner_invitations(
                uow.session, partner.slug, PAGE_SIZE + 1, before, only=only, now=now
            )
        except InvalidInput:  # not one of the partner's invitations: the first page
            rows = partner_invitations(uow.session, partner.slug, PAGE_SIZE + 1, only=only, now=now)
        summaries = [_summary(found.directory, invitation, now) for invitation in rows[:PAGE_SIZE]]
    older = None
    if len(rows) > PAGE_SIZE:
        older = url_for(".index", status=only or None, before=summaries[-1].id)
    return render_template(
        "partner/invitation_list.html",
        partner_nav="invitations",
        invitations=summaries,
        only=only,
        statuses=list(Status),
        older=older,
    )


def _detail(
    partner: PartnerUser,
    invitation_id: str,
    refusal: str | None = None,
    cancel_form: CancelInvitationForm | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    """One of the partner's invitations: what it offers, its status and history, and (while
    it is pending) the buttons to send it again and to cancel it."""
    found = backend()
    directory, current = found.directory, language()
    with found.reading() as uow:
        try:
            invitation = partner_invitation(uow.session, partner.slug, invitation_id)
        except NotFound:
            return words_page("not_found", 404)
        now = uow.now()
        events = list(
            uow.session.execute(
                select(AuditEvent.occurred_at, AuditEvent.action)
                .where(
                    AuditEvent.invitation_id == invitation.id,
                    AuditEvent.partner_slug == partner.slug,
                )
                .order_by(AuditEvent.id)
            )
        )
        summary = _summary(directory, invitation, now)
        terms = _terms(invitation)
        lines = offer_lines(directory, invitation, terms, current)
    listing = directory.get(partner.slug)
    catalog = directory.catalog
    roles = [
        catalog.admin_roles[role].name.in_language(current) if role in catalog.admin_roles else role
        for role in (invitation.delegated_admin_roles or [])
    ]
    page = render_template(
        "partner/invitation_detail.html",
        partner_nav="invitations",
        invitation=invitation,
        summary=summary,
        offer_title=listing.offer_title(invitation.offer_id, current)
        if listing and invitation.offer_id
        else None,
        lines=lines,
        terms=terms,
        roles=roles,
        events=events,
        refusal=refusal,
        cancel_form=cancel_form or CancelInvitationForm(formdata=None),
        resend_form=ConfirmForm(formdata=None),
    )
    return page, status


@bp.get("/<public_id:invitation_id>")
@partner_required
def show(partner: PartnerUser, invitation_id: str) -> ResponseReturnValue:
    """One invitation."""
    return _detail(partner, invitation_id)


@bp.post("/<public_id:invitation_id>/cancel")
@partner_required
def cancel(partner: PartnerUser, invitation_id: str) -> ResponseReturnValue:
    """Cancel a pending invitation (the box confirms it); its links stop working."""
    form = CancelInvitationForm()
    if not form.confirm.data:
        form.confirm.errors = [gettext("Tick this box to confirm that you cancel it.")]
        return _detail(partner, invitation_id, cancel_form=form, status=400)
    try:
        backend().run(
            lambda uow: cancel_invitation(uow, partner.slug, invitation_id, partner.actor)
        )
    except NotFound:
        return words_page("not_found", 404)
    except Refused as refused:
        return _detail(partner, invitation_id, _refusal_words(refused), status=status_for(refused))
    flash(gettext("The invitation was canceled; its link no longer works."))
    return redirect(url_for(".show", invitation_id=invitation_id))


@bp.post("/<public_id:invitation_id>/resend")
@partner_required
def resend(partner: PartnerUser, invitation_id: str) -> ResponseReturnValue:
    """Mail a pending invitation again: new links to the same recipients, the old ones dead."""
    g.mailing_partner = partner.slug
    try:
        with _MAILING:
            backend().run(
                lambda uow: resend_invitation(uow, partner.slug, invitation_id, partner.actor)
            )
    except NotFound:
        return words_page("not_found", 404)
    except Refused as refused:
        return _detail(partner, invitation_id, _refusal_words(refused), status=status_for(refused))
    flash(
        gettext(
            "The invitation was sent again, with a new link; the link sent before no longer works."
        )
    )
    return redirect(url_for(".show", invitation_id=invitation_id))
