"""Leads: a visitor asks a partner to contact them ("Contact this partner") and confirms it by
mail before anything is shared (double opt-in).

- A request from the partner's page stores the details and mails the visitor two links: one
  to confirm (`/leads/confirm/<token>`, good for `CONFIRM_HOURS`), one to withdraw
  (`/leads/withdraw/<token>`, good for as long as the details are kept: withdrawing consent
  must stay possible). Only the links' hashes are stored. The mail repeats nothing the
  visitor typed: a form that mails any address must not carry a stranger's text into someone
  else's mailbox (the confirm page shows the details instead).
- Confirming is a claim (`UPDATE … WHERE confirmed_at IS NULL AND withdrawn_at IS NULL AND
  expires_at > now`) that makes the request a lead: a mail to the listing's contact address,
  an entry in the partner's list and API, and a `lead.created` event. A partner no longer
  listed gets no lead.
- The personal details live in the lead's row and nowhere else: withdrawing empties them and
  deletes the mail that still holds them; the partner then sees "withdrawn". Audit events
  (in the partner's chain, which is never erased) name the lead by its id, never the person,
  and keep no IP address.
- A request never confirmed is deleted once its link has expired (swept by later requests).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from consent_app import webhooks
from consent_app.addresses import normalized_email
from consent_app.audit import Actor, record
from consent_app.i18n import N_
from consent_app.mail import PARTNER_LANGUAGES
from consent_app.models import LEAD_STATUSES, Lead, OutboxMessage
from consent_app.refusals import (
    InvalidInput,
    InvalidState,
    NotFound,
    PartnerNotListed,
    UnknownPartner,
)
from consent_app.tokens import new_public_id, new_token, token_hash
from consent_app.work import RoleChanged, UnitOfWork
from marketplace.catalog import country_codes, country_name
from marketplace.model import Listing

CONFIRM_HOURS = 48
"""How long the confirm link works; an unconfirmed request is deleted after it."""
WITHDRAWN = "withdrawn"
"""The status shown for a lead the visitor withdrew (its personal fields are empty)."""
SHOWN_STATUSES = (*LEAD_STATUSES, WITHDRAWN)
MAX_NAME = 100
MAX_COMPANY = 200
MAX_MESSAGE = 2000
FIELD_LIMITS = {"name_max": MAX_NAME, "company_max": MAX_COMPANY, "message_max": MAX_MESSAGE}
"""The values the field problems' messages name."""
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Characters that reorder the text around them: a message could show the partner something
other than what it says."""
SWEEP_BATCH = 500
"""Expired requests deleted per new request, at most (a backlog goes in a few requests)."""


# --- refusals (the HTTP status of each: `consent_app.http_errors`, through InvalidState) ---


class LinkExpired(InvalidState):
    """The confirm link was not used in time; nothing was shared."""

    code = "link_expired"


class AlreadyConfirmed(InvalidState):
    """The request was confirmed already: it is a lead."""

    code = "already_confirmed"


class LeadWithdrawn(InvalidState):
    """The visitor withdrew the request; its details are gone."""

    code = "lead_withdrawn"


class InvalidContact(InvalidInput):
    """Fields of the contact form without a valid value: `problems` maps each to a message
    (an English msgid, to be translated and filled with `FIELD_LIMITS`)."""

    def __init__(self, problems: dict[str, str]) -> None:
        field = next(iter(problems))
        super().__init__(f"{field}: {problems[field] % FIELD_LIMITS}", field)
        self.problems = problems


# --- the visitor's request ----------------------------------------------------------------------


@dataclass(frozen=True)
class ContactDetails:
    """What a visitor asks to share with a partner, checked and in its stored form."""

    name: str
    email: str
    company: str | None
    country: str
    message: str


def _one_line(text: str) -> bool:
    return text.isprintable()


def _text_block(text: str) -> bool:
    """Lines of text: no control characters but line breaks and tabs, no bidi controls."""
    return not any(
        ch in _BIDI_CONTROLS or (unicodedata.category(ch) == "Cc" and ch not in "\n\t")
        for ch in text
    )


def contact_details(
    *,
    name: str,
    email: str,
    company: str,
    country: str,
    message: str,
    consent: bool,
    smtputf8: bool = False,
) -> ContactDetails:
    """The contact form's fields checked, every problem at once (`InvalidContact`)."""
    problems: dict[str, str] = {}
    name = name.strip()
    if not name:
        problems["name"] = N_("Enter your name.")
    elif len(name) > MAX_NAME or not _one_line(name):
        problems["name"] = N_(
            "A name is at most %(name_max)s characters on one line, without control characters."
        )
    try:
        email = normalized_email(email[:320], smtputf8=smtputf8)
    except InvalidInput:
        problems["email"] = N_("Enter an e-mail address such as name@example.com.")
    company = company.strip()
    if len(company) > MAX_COMPANY or not _one_line(company):
        problems["company"] = N_(
            "A company name is at most %(company_max)s characters on one line, without control "
            "characters."
        )
    country = country.strip().upper()
    if country not in country_codes():
        problems["country"] = N_("Choose your country from the list.")
    message = message.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not message:
        problems["message"] = N_("Write a few words about what you need.")
    elif len(message) > MAX_MESSAGE:
        problems["message"] = N_("The message is longer than %(message_max)s characters.")
    elif not _text_block(message):
        problems["message"] = N_("The message contains control characters; remove them.")
    if not consent:
        problems["consent"] = N_(
            "Tick the box to agree that these details are shared with the partner; without it "
            "nothing is sent."
        )
    if problems:
        raise InvalidContact(problems)
    return ContactDetails(name, email, company or None, country, message)


def request_contact(
    uow: UnitOfWork, partner_slug: str, details: ContactDetails, language: str
) -> Lead:
    """Store a visitor's request and mail them the confirm and withdraw links (in the
    language of the page they used). Nothing reaches the partner before confirmation."""
    listing = uow.directory.get(partner_slug)
    if listing is None:
        raise UnknownPartner(f"no listed partner has the slug {partner_slug!r}")
    session, settings, now = uow.session, uow.settings, uow.now()
    sweep_unconfirmed(session, now)
    confirm, withdraw = new_token(), new_token()
    lead = Lead(
        id=new_public_id("lead"),
        partner_slug=partner_slug,
        name=details.name,
        email=details.email,
        company=details.company,
        country=details.country,
        message=details.message,
        language=language,
        status=LEAD_STATUSES[0],
        confirm_token_hash=token_hash(confirm),
        withdraw_token_hash=token_hash(withdraw),
        requested_at=now,
        expires_at=now + timedelta(hours=CONFIRM_HOURS),
    )
    mail = uow.mail(
        details.email,
        "lead_confirm",
        {
            "partner_name": listing.text(language)[0],
            "confirm_link": settings.link(f"leads/confirm/{confirm}"),
            "withdraw_link": settings.link(f"leads/withdraw/{withdraw}"),
            "hours": CONFIRM_HOURS,
        },
        (language,),
    )
    lead.confirmation_mail = mail.message_id
    session.add(lead)
    return lead


def sweep_unconfirmed(session: Session, now: datetime) -> int:
    """Delete requests whose confirm link expired unused, with their confirmation mail: the
    details of someone who never confirmed are not kept. Returns how many."""
    expired = session.execute(
        select(Lead.id, Lead.confirmation_mail)
        .where(Lead.confirmed_at.is_(None), Lead.expires_at <= now)
        .limit(SWEEP_BATCH)
    ).all()
    if not expired:
        return 0
    session.execute(delete(Lead).where(Lead.id.in_([row.id for row in expired])))
    mails = [row.confirmation_mail for row in expired if row.confirmation_mail]
    if mails:
        session.execute(delete(OutboxMessage).where(OutboxMessage.message_id.in_(mails)))
    return len(expired)


# --- the mailed links ---------------------------------------------------------------------------


class LinkState(StrEnum):
    """Where a request stands, as its links see it."""

    OPEN = "open"  # waiting for confirmation
    EXPIRED = "expired"  # not confirmed in time
    CONFIRMED = "confirmed"  # a lead
    WITHDRAWN = "withdrawn"


def link_state(lead: Lead, now: datetime) -> LinkState:
    """Where the request stands now."""
    if lead.withdrawn_at is not None:
        return LinkState.WITHDRAWN
    if lead.confirmed_at is not None:
        return LinkState.CONFIRMED
    return LinkState.OPEN if lead.expires_at > now else LinkState.EXPIRED


def lead_for_confirm_link(session: Session, token: str) -> Lead | None:
    """The request a confirm link is for, or None for a link we did not send (or deleted)."""
    query = select(Lead).where(Lead.confirm_token_hash == token_hash(token))
    return session.execute(query).scalar_one_or_none()


def lead_for_withdraw_link(session: Session, token: str) -> Lead | None:
    """The request a withdraw link is for, or None for a link we did not send (or deleted)."""
    query = select(Lead).where(Lead.withdraw_token_hash == token_hash(token))
    return session.execute(query).scalar_one_or_none()


def _closed(lead: Lead, now: datetime) -> InvalidState:
    """The refusal that says why a request's link cannot do what was asked."""
    state = link_state(lead, now)
    if state is LinkState.WITHDRAWN:
        return LeadWithdrawn(f"lead {lead.id} was withdrawn")
    if state is LinkState.CONFIRMED:
        return AlreadyConfirmed(f"lead {lead.id} was confirmed already")
    return LinkExpired(f"the confirm link of {lead.id} has expired")


def visitor_actor(lead: Lead) -> Actor:
    """The visitor, as the audit log names them: by the lead, with no address (the partner's
    chain is never erased, so it holds nothing personal)."""
    return Actor("visitor", lead.id)


def partner_languages(listing: Listing) -> tuple[str, ...]:
    """The languages of mail to a partner: English, and Russian too when the listing says the
    partner speaks it."""
    return ("en", "ru") if "ru" in listing.languages else PARTNER_LANGUAGES


def confirm_lead(uow: UnitOfWork, token: str) -> Lead:
    """Use a confirm link once: the request becomes a lead of its partner, which is mailed
    the details; `lead.created` is audited. Refusals: `NotFound` (no such link),
    `PartnerNotListed`, `LinkExpired`, `AlreadyConfirmed`, `LeadWithdrawn`."""
    session, now = uow.session, uow.now()
    lead = lead_for_confirm_link(session, token)
    if lead is None:
        raise NotFound("this confirm link is not one we sent")
    listing = uow.directory.get(lead.partner_slug)
    if listing is None:
        raise PartnerNotListed(f"the partner {lead.partner_slug!r} is no longer listed")
    claimed = session.execute(
        update(Lead)
        .where(
            Lead.id == lead.id,
            Lead.confirmed_at.is_(None),
            Lead.withdrawn_at.is_(None),
            Lead.expires_at > now,
        )
        .values(confirmed_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(lead)
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise _closed(lead, now)
    record(
        session,
        visitor_actor(lead),
        "lead.created",
        partner_slug=lead.partner_slug,
        details={"lead": lead.id},
    )
    webhooks.lead_created(uow, lead)
    mail = uow.mail(
        listing.contact.email,
        "lead_partner",
        {
            "partner_name": listing.name,
            "lead": lead,
            "leads_link": uow.settings.link("partner/leads/"),
            **{
                f"country_{language}": country_name(lead.country or "", language)
                for language in partner_languages(listing)
            },
        },
        partner_languages(listing),
    )
    lead.partner_mail = mail.message_id
    return lead


def withdraw_lead(uow: UnitOfWork, token: str) -> Lead:
    """Use a withdraw link: the request's personal details are deleted, with the mail that
    still holds them; a lead's partner is told (without them). Works before and after
    confirmation; `NotFound` for no such link, `LeadWithdrawn` when done already."""
    lead = lead_for_withdraw_link(uow.session, token)
    if lead is None:
        raise NotFound("this withdraw link is not one we sent")
    return _withdraw(uow, lead, visitor_actor(lead))


def withdraw_for_address(uow: UnitOfWork, email: str, actor: Actor) -> list[str]:
    """Withdraw every request still holding `email` (for an operator acting on the visitor's
    request, e.g. when the mail with the link is lost); the ids withdrawn."""
    address = normalized_email(email, smtputf8=True)
    found = uow.session.execute(
        select(Lead).where(Lead.email == address, Lead.withdrawn_at.is_(None)).order_by(Lead.id)
    ).scalars()
    return [_withdraw(uow, lead, actor).id for lead in list(found)]


def _withdraw(uow: UnitOfWork, lead: Lead, actor: Actor) -> Lead:
    session = uow.session
    claimed = session.execute(
        update(Lead)
        .where(Lead.id == lead.id, Lead.withdrawn_at.is_(None))
        .values(
            withdrawn_at=uow.now(), name=None, email=None, company=None, country=None, message=None
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(lead)
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise LeadWithdrawn(f"lead {lead.id} was withdrawn already")
    if lead.confirmation_mail:  # to the visitor's address: it names them even once delivered
        session.execute(
            delete(OutboxMessage).where(OutboxMessage.message_id == lead.confirmation_mail)
        )
    if lead.partner_mail:  # not sent yet: the partner never gets the details
        session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.message_id == lead.partner_mail, OutboxMessage.sent_at.is_(None)
            )
        )
    if lead.confirmed_at is None:
        return lead  # never a lead: nothing to audit, no one to tell
    record(
        session, actor, "lead.withdrawn", partner_slug=lead.partner_slug, details={"lead": lead.id}
    )
    listing = uow.directory.get(lead.partner_slug)
    if listing is not None:
        uow.mail(
            listing.contact.email,
            "lead_withdrawn_partner",
            {"partner_name": listing.name, "lead": lead},
            partner_languages(listing),
        )
    return lead


# --- the partner's side -------------------------------------------------------------------------


def shown_status(lead: Lead) -> str:
    """The status a partner sees: its own record of the lead, or "withdrawn"."""
    return WITHDRAWN if lead.withdrawn_at is not None else lead.status


def partner_leads(
    session: Session,
    partner_slug: str,
    limit: int,
    before: str | None = None,
    status: str | None = None,
) -> list[Lead]:
    """The partner's leads (confirmed requests), newest first; `before`: a lead id of the
    partner's, to page on after it; `status`: only those shown with it (`SHOWN_STATUSES`)."""
    query = select(Lead).where(Lead.partner_slug == partner_slug, Lead.confirmed_at.is_not(None))
    if status == WITHDRAWN:
        query = query.where(Lead.withdrawn_at.is_not(None))
    elif status is not None:
        query = query.where(Lead.withdrawn_at.is_(None), Lead.status == status)
    if before:
        anchor = partner_lead(session, partner_slug, before, field="before")
        assert anchor.confirmed_at is not None
        query = query.where(
            (Lead.confirmed_at < anchor.confirmed_at)
            | ((Lead.confirmed_at == anchor.confirmed_at) & (Lead.id < anchor.id))
        )
    query = query.order_by(Lead.confirmed_at.desc(), Lead.id.desc()).limit(limit)
    return list(session.execute(query).scalars())


def partner_lead(session: Session, partner_slug: str, lead_id: str, field: str = "id") -> Lead:
    """One of the partner's leads; `NotFound` for another partner's, an unconfirmed request
    or no such id alike (`InvalidInput` naming `field` when it pages a list)."""
    lead = session.get(Lead, lead_id)
    if lead is None or lead.partner_slug != partner_slug or lead.confirmed_at is None:
        if field != "id":
            raise InvalidInput(f"{field} must be one of your lead ids", field)
        raise NotFound(f"you have no lead {lead_id}")
    return lead


def count_new_leads(session: Session, partner_slug: str) -> int:
    """How many of the partner's leads are still "new" (and not withdrawn)."""
    query = select(func.count(Lead.id)).where(
        Lead.partner_slug == partner_slug,
        Lead.confirmed_at.is_not(None),
        Lead.withdrawn_at.is_(None),
        Lead.status == LEAD_STATUSES[0],
    )
    return int(session.execute(query).scalar_one())


def set_lead_status(
    uow: UnitOfWork, partner_slug: str, lead_id: str, status: object, actor: Actor
) -> Lead:
    """Record how a lead is going (`LEAD_STATUSES`); audited when it changes. A withdrawn
    lead keeps no status (`LeadWithdrawn`)."""
    if not isinstance(status, str) or status not in LEAD_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(LEAD_STATUSES)}", "status")
    session = uow.session
    lead = partner_lead(session, partner_slug, lead_id)
    if lead.withdrawn_at is not None:
        raise LeadWithdrawn(f"lead {lead.id} was withdrawn by the visitor; it keeps no status")
    before = lead.status
    if before == status:
        return lead
    changed = session.execute(
        update(Lead)
        .where(Lead.id == lead.id, Lead.withdrawn_at.is_(None), Lead.status == before)
        .values(status=status, status_changed_at=uow.now())
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise RoleChanged(f"lead {lead.id} changed meanwhile")  # run again from the start
    session.refresh(lead)
    record(
        session,
        actor,
        "lead.status_changed",
        partner_slug=partner_slug,
        details={"lead": lead.id, "from": before, "to": status},
    )
    return lead


def lead_view(lead: Lead) -> dict[str, Any]:
    """A lead as the partner API shows it (a withdrawn one: personal fields null)."""
    assert lead.confirmed_at is not None
    return {
        "id": lead.id,
        "created_at": lead.confirmed_at.isoformat(),
        "name": lead.name,
        "email": lead.email,
        "company": lead.company,
        "country": lead.country,
        "message": lead.message,
        "status": shown_status(lead),
    }
