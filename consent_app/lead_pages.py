"""Leads on the web (README: Leads): the visitor's "Contact this partner" form and mailed
links, and the partner's list of its leads.

- `/partners/<slug>/contact` (the site's partner pages link here; this route is more
  specific than the site's catch-all, so it wins) asks for the details; a listed partner
  only, else 404. The answer to a sent form is the same whether a mail went out, the
  mailbox's limit held it back, or the honeypot caught a robot.
- `/leads/confirm/<token>` and `/leads/withdraw/<token>`: GET shows what the link would do
  (mail scanners open links), POST does it.
- `/partner/leads/`: the signed-in partner's leads, newest first, with a status to change.

These pages carry a form's token, a secret link's preview or a visitor's details: they get
the customer pages' headers (no script, never cached, no Referer) whatever their path.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from limits import parse_many

from consent_app.backend import backend
from consent_app.forms import ConfirmForm, ContactPartnerForm, LeadStatusForm
from consent_app.http_errors import status_for
from consent_app.i18n import N_, language
from consent_app.ids import is_public_id
from consent_app.leads import (
    CONFIRM_HOURS,
    FIELD_LIMITS,
    MAX_COMPANY,
    MAX_MESSAGE,
    MAX_NAME,
    SHOWN_STATUSES,
    InvalidContact,
    LeadWithdrawn,
    LinkState,
    confirm_lead,
    contact_details,
    lead_for_confirm_link,
    lead_for_withdraw_link,
    link_state,
    partner_leads,
    request_contact,
    set_lead_status,
    shown_status,
    withdraw_lead,
)
from consent_app.models import LEAD_STATUSES, Lead
from consent_app.pages import message_page, refusal_text, words_page
from consent_app.partner_pages import PartnerUser, partner_required
from consent_app.refusals import InvalidInput, NotFound, Refused
from consent_app.security import (
    CONTACT_LIMITS,
    CONTACT_PER_MAILBOX,
    CUSTOMER_PAGE_POLICY,
    LINK_LIMITS,
    limiter,
)
from consent_app.tokens import token_hash
from marketplace.catalog import country_codes, country_name
from marketplace.i18n import format_count, format_day, translations
from marketplace.model import Listing

bp = Blueprint("leads", __name__)

STATUS_NAMES = {
    "new": N_("New"),
    "contacted": N_("Contacted"),
    "won": N_("Won"),
    "lost": N_("Lost"),
    "withdrawn": N_("Withdrawn by the visitor"),
}
"""A lead's status in words."""


@bp.after_request
def _private(response: Response) -> Response:
    """The customer pages' headers (`consent_app.security`): no script, never framed, never
    cached, no Referer (a secret link in the address must not leak)."""
    response.headers["Content-Security-Policy"] = CUSTOMER_PAGE_POLICY
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    return response


def _text(message: str, **values: object) -> str:
    """`message` (an English msgid) in the page's language, `values` filled in."""
    text = translations(language()).gettext(message)
    return text % values if values else text


@cache
def country_choices(current: str) -> list[tuple[str, str]]:
    """Every country by its name in `current`, in alphabetical order, after an empty choice."""
    named = sorted(
        ((code, country_name(code, current)) for code in country_codes()),
        key=lambda choice: choice[1].casefold(),
    )
    return [("", translations(current).gettext("Choose your country")), *named]


def _partner_name(listing: Listing) -> str:
    return listing.text(language())[0]


# --- the visitor's form -------------------------------------------------------------------------


def mailbox_of(email: str) -> str:
    """The mailbox an address delivers to, as far as one can tell: without a `+tag` (most
    providers deliver `ada+1@` and `ada+2@` to `ada@`), so spelling the address another way
    does not buy another round of confirmation mails."""
    local, _, domain = email.rpartition("@")
    return f"{local.split('+', 1)[0] or local}@{domain}"


def _mailbox_allows(email: str) -> bool:
    """Count one confirmation mail to `email`'s mailbox against its limits; False when over
    them. The mailbox is counted by its hash: the limiter's storage (Redis, say) holds no
    addresses."""
    if not limiter.enabled:
        return True
    key = token_hash(mailbox_of(email))
    hits = [
        limiter.limiter.hit(item, "contact-mailbox", key)
        for item in parse_many(CONTACT_PER_MAILBOX)
    ]
    return all(hits)


def _sent(listing: Listing, email: str) -> ResponseReturnValue:
    """The one answer to a sent form, whatever became of it."""
    hours = translations(language()).ngettext(
        "The link works for %(num)s hour.", "The link works for %(num)s hours.", CONFIRM_HOURS
    ) % {"num": format_count(CONFIRM_HOURS, language())}
    return message_page(
        _text(N_("Check your mail")),
        [
            _text(
                N_(
                    "If %(email)s is your address, a link to confirm your request is on its way "
                    "to it. Nothing is shared with %(partner)s until you open the link and "
                    "confirm."
                ),
                email=email,
                partner=_partner_name(listing),
            ),
            hours,
        ],
    )


def _contact_page(listing: Listing, form: ContactPartnerForm, status: int) -> ResponseReturnValue:
    page = render_template(
        "leads/contact.html",
        form=form,
        listing=listing,
        partner_name=_partner_name(listing),
        limits={"name": MAX_NAME, "company": MAX_COMPANY, "message": MAX_MESSAGE},
    )
    return page, status


@bp.route("/partners/<slug>/contact", methods=["GET", "POST"])
@limiter.limit(CONTACT_LIMITS, methods=["POST"])
def contact(slug: str) -> ResponseReturnValue:
    """Ask a partner to contact you: the details, then a mailed link to confirm them."""
    found = backend()
    listing = found.directory.get(slug)
    if listing is None:
        return words_page("not_found", 404)
    current = language()
    form = ContactPartnerForm()
    form.country.choices = country_choices(current)
    if request.method == "GET":
        return _contact_page(listing, form, 200)
    if not form.validate():
        return words_page("csrf", 400)
    typed_email = (form.email.data or "").strip()[:254]
    if form.website.data:  # the honeypot: a robot. Answered like anyone, nothing kept.
        return _sent(listing, typed_email)
    try:
        details = contact_details(
            name=form.name.data or "",
            email=form.email.data or "",
            company=form.company.data or "",
            country=form.country.data or "",
            message=form.message.data or "",
            consent=bool(form.consent.data),
            smtputf8=found.settings.smtputf8,
        )
    except InvalidContact as invalid:
        limits = {name: format_count(value, current) for name, value in FIELD_LIMITS.items()}
        for name, problem in invalid.problems.items():
            getattr(form, name).errors = [_text(problem, **limits)]
        return _contact_page(listing, form, 400)
    if _mailbox_allows(details.email):
        found.run(lambda uow: request_contact(uow, slug, details, current))
    return _sent(listing, typed_email)


# --- the mailed links ---------------------------------------------------------------------------

_CLOSED: dict[str, tuple[str, str]] = {
    "not_found": (
        N_("This link does not work"),
        N_(
            "It is not a link we sent, or the request it belonged to was never confirmed and has "
            "been deleted. Nothing was shared."
        ),
    ),
    "link_expired": (
        N_("This link has expired"),
        N_(
            "The request was not confirmed in time, so nothing was shared, and its details are "
            "being deleted. Send a new request from the partner's page if you still want to."
        ),
    ),
    "already_confirmed": (
        N_("You confirmed this request already"),
        N_("%(partner)s received your details on %(date)s. Nothing more is needed."),
    ),
    "lead_withdrawn": (
        N_("This request was withdrawn"),
        N_("Its details were deleted from the Partner Marketplace on %(date)s."),
    ),
    "partner_not_listed": (
        N_("This partner is no longer listed"),
        N_(
            "%(partner)s is no longer listed in the Partner Marketplace, so nothing was shared. "
            "Your details are deleted when the link expires."
        ),
    ),
}
"""Why a link cannot do what it was opened for: a refusal's code -> heading and text."""


def _closed(code: str, lead: Lead | None, status: int) -> ResponseReturnValue:
    heading, text = _CLOSED[code]
    if lead is None:
        values: dict[str, object] = {"partner": "", "date": ""}
    else:
        moment = lead.withdrawn_at or lead.confirmed_at or lead.expires_at
        values = {
            "partner": backend().directory.display_name(lead.partner_slug, language()),
            "date": format_day(moment, language()),
        }
    return message_page(_text(heading), [_text(text, **values)], status)


def _state_code(lead: Lead, now: datetime) -> str | None:
    """Why a request's confirm link can no longer be used (None: it can)."""
    state = link_state(lead, now)
    codes = {
        LinkState.EXPIRED: "link_expired",
        LinkState.CONFIRMED: "already_confirmed",
        LinkState.WITHDRAWN: "lead_withdrawn",
    }
    if state in codes:
        return codes[state]
    if backend().directory.get(lead.partner_slug) is None:
        return "partner_not_listed"
    return None


def _details(lead: Lead) -> list[tuple[str, str]]:
    """The visitor's details as the pages list them."""
    current = language()
    return [
        (_text(N_("Name")), lead.name or ""),
        (_text(N_("E-mail")), lead.email or ""),
        (_text(N_("Company")), lead.company or "—"),
        (_text(N_("Country")), country_name(lead.country or "", current)),
    ]


def _after_refusal(refused: Refused, find: Callable[[], Lead | None]) -> ResponseReturnValue:
    """The page for a link that could not do what it was used for, saying why."""
    if refused.code not in _CLOSED:
        raise refused
    return _closed(refused.code, find(), 404 if refused.code == "not_found" else 410)


@bp.get("/leads/confirm/<token>")
@limiter.limit(LINK_LIMITS)
def confirm_preview(token: str) -> ResponseReturnValue:
    """What confirming would share, and with whom; sharing needs the button (POST)."""
    with backend().reading() as uow:
        lead = lead_for_confirm_link(uow.session, token)
        if lead is None:
            return _closed("not_found", None, 404)
        code = _state_code(lead, uow.now())
        if code is not None:
            return _closed(code, lead, 410)
        return render_template(
            "leads/confirm.html",
            lead=lead,
            details=_details(lead),
            partner_name=backend().directory.display_name(lead.partner_slug, language()),
            form=ConfirmForm(),
        )


def _find(kind: str, token: str) -> Callable[[], Lead | None]:
    def find() -> Lead | None:
        with backend().read() as session:
            if kind == "confirm":
                return lead_for_confirm_link(session, token)
            return lead_for_withdraw_link(session, token)

    return find


@bp.post("/leads/confirm/<token>")
@limiter.limit(LINK_LIMITS)
def confirm(token: str) -> ResponseReturnValue:
    """Share the details with the partner: the request becomes a lead."""
    if not ConfirmForm().validate():
        return words_page("csrf", 400)
    try:
        lead = backend().run(lambda uow: confirm_lead(uow, token))
    except Refused as refused:
        return _after_refusal(refused, _find("confirm", token))
    partner = backend().directory.display_name(lead.partner_slug, language())
    return message_page(
        _text(N_("Sent to %(partner)s"), partner=partner),
        [
            _text(
                N_(
                    "%(partner)s has your details and will contact you at %(email)s. Thank you "
                    "for using the Partner Marketplace."
                ),
                partner=partner,
                email=lead.email or "",
            ),
            _text(
                N_(
                    "Changed your mind? The other link in our e-mail withdraws the request and "
                    "deletes your details from the Partner Marketplace."
                )
            ),
        ],
    )


@bp.get("/leads/withdraw/<token>")
@limiter.limit(LINK_LIMITS)
def withdraw_preview(token: str) -> ResponseReturnValue:
    """What withdrawing deletes; deleting needs the button (POST)."""
    with backend().reading() as uow:
        lead = lead_for_withdraw_link(uow.session, token)
        if lead is None:
            return _closed("not_found", None, 404)
        if lead.withdrawn_at is not None:
            return _closed("lead_withdrawn", lead, 410)
        return render_template(
            "leads/withdraw.html",
            lead=lead,
            details=_details(lead),
            partner_name=backend().directory.display_name(lead.partner_slug, language()),
            form=ConfirmForm(),
        )


@bp.post("/leads/withdraw/<token>")
@limiter.limit(LINK_LIMITS)
def withdraw(token: str) -> ResponseReturnValue:
    """Withdraw the request and delete its details."""
    if not ConfirmForm().validate():
        return words_page("csrf", 400)
    try:
        lead = backend().run(lambda uow: withdraw_lead(uow, token))
    except Refused as refused:
        return _after_refusal(refused, _find("withdraw", token))
    partner = backend().directory.display_name(lead.partner_slug, language())
    paragraphs = [_text(N_("Your details were deleted from the Partner Marketplace."))]
    if lead.confirmed_at is not None:
        paragraphs.append(
            _text(
                N_(
                    "%(partner)s received them on %(date)s; we have asked %(partner)s to delete "
                    "its copy and not to contact you about this request."
                ),
                partner=partner,
                date=format_day(lead.confirmed_at, language()),
            )
        )
    else:
        paragraphs.append(_text(N_("Nothing was shared with %(partner)s."), partner=partner))
    return message_page(_text(N_("Request withdrawn")), paragraphs)


# --- the partner's list -------------------------------------------------------------------------

PER_PAGE = 50
"""Leads per page of the partner's list."""


def _list_page(
    user: PartnerUser, refusal: str | None = None, status: int = 200
) -> ResponseReturnValue:
    """The partner's leads, newest first (`?status=` to filter, `?before=<id>` for older)."""
    shown = request.args.get("status") or None
    if shown not in (None, *SHOWN_STATUSES):
        shown = None
    before = request.args.get("before") or None
    with backend().read() as session:
        try:
            found = partner_leads(
                session,
                user.slug,
                PER_PAGE + 1,
                before if before and is_public_id(before) else None,
                shown,
            )
        except InvalidInput:  # an id that is not one of the partner's: the first page
            found = partner_leads(session, user.slug, PER_PAGE + 1, None, shown)
    current = language()
    page = render_template(
        "partner/leads.html",
        partner_nav="leads",
        leads=found[:PER_PAGE],
        older=found[PER_PAGE - 1].id if len(found) > PER_PAGE else None,
        shown=shown,
        filters=[(None, _text(N_("All")))]
        + [(key, _text(STATUS_NAMES[key])) for key in SHOWN_STATUSES],
        choices=[(key, _text(STATUS_NAMES[key])) for key in LEAD_STATUSES],
        status_name=lambda lead: _text(STATUS_NAMES[shown_status(lead)]),
        country=lambda code: country_name(code, current) if code else "",
        refusal=refusal,
    )
    return page, status


@bp.get("/partner/leads/")
@partner_required
def partner_leads_page(user: PartnerUser) -> ResponseReturnValue:
    """The partner's leads, with the status of each to change."""
    return _list_page(user)


@bp.post("/partner/leads/<public_id:lead_id>/status")
@partner_required
def partner_lead_status(user: PartnerUser, lead_id: str) -> ResponseReturnValue:
    """Record how a lead is going (one small form per lead)."""
    form = LeadStatusForm()
    if not form.validate():
        return words_page("csrf", 400)
    try:
        lead = backend().run(
            lambda uow: set_lead_status(uow, user.slug, lead_id, form.status.data, user.actor)
        )
    except NotFound:
        return words_page("not_found", 404)
    except LeadWithdrawn as refused:
        text = N_("The visitor withdrew this lead; its status can no longer be changed.")
        return _list_page(user, _text(text), status_for(refused))
    except InvalidInput as refused:
        text = N_("Choose one of the statuses in the list.")
        return _list_page(user, _text(text), status_for(refused))
    except Refused as refused:
        return _list_page(user, refusal_text(refused), status_for(refused))
    flash(
        _text(
            N_("%(name)s: the status is now %(status)s."),
            name=lead.name or lead.id,
            status=_text(STATUS_NAMES[shown_status(lead)]),
        )
    )
    return redirect(url_for("leads.partner_leads_page"))
