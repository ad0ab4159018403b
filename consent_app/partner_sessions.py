"""Partner users, their sign-in by a one-time mailed link, and their server-side sessions
(README: Partner pages).

- An operator registers the people who may sign in for a partner (`add_user`); the listing's
  contact address is not one of them unless registered.
- Asking for a link answers the same way whether or not the address is known. A link is
  single-use (claimed with `UPDATE … WHERE used_at IS NULL`) and expires after
  `Settings.sign_in_lifetime`, like the customers' (`consent_app.customers`).
- The cookie holds only a random session id; the row keeps its hash. Every request looks the
  session up (`session_user`), and the answer is None as soon as the user was removed (its
  row, links and sessions are deleted) or the partner is no longer listed.

A user's address is the partner staff's personal data: it is kept in `partner_users` only.
Audit events name the user by its opaque `ref`, so removing the user leaves the address
nowhere (its sign-in mails in the outbox are emptied too), and the chain stays whole.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from consent_app.addresses import normalized_email
from consent_app.audit import Actor, record
from consent_app.db import session_now
from consent_app.mail import CUSTOMER_LANGUAGES, header_text, render
from consent_app.models import (
    OutboxMessage,
    PartnerSession,
    PartnerSignInToken,
    PartnerUserAccount,
)
from consent_app.partners import PartnerDirectory
from consent_app.refusals import InvalidInput, NotFound, Unchanged, UnknownPartner
from consent_app.tokens import new_token, token_hash
from consent_app.work import UnitOfWork

SIGN_IN_MAIL = "partner_sign_in"
"""The template of the sign-in mail (`templates/mail/partner_sign_in.txt`)."""
SIGN_IN_PATH = "/partner/signin/"
"""Where the mailed links point (their token follows); logs redact it (`security`)."""
USER_REF_PREFIX = "pu"


# --- users (operators) --------------------------------------------------------------------------


def _address(email: str, smtputf8: bool) -> str:
    try:
        return normalized_email(email, smtputf8=smtputf8)
    except InvalidInput as error:
        raise InvalidInput(
            f"{email!r} is not an e-mail address: {error.message}", "email"
        ) from None


def find_user(session: Session, slug: str, email: str) -> PartnerUserAccount | None:
    """The user `email` (normalised) of partner `slug`, if registered."""
    return session.execute(
        select(PartnerUserAccount).where(
            PartnerUserAccount.partner_slug == slug, PartnerUserAccount.email == email
        )
    ).scalar_one_or_none()


def add_user(uow: UnitOfWork, slug: str, email: str, actor: Actor) -> PartnerUserAccount:
    """Register `email` as a user of the listed partner `slug` (audited)."""
    if uow.directory.get(slug) is None:
        raise UnknownPartner(f"no listing has the slug {slug!r}", "slug")
    address = _address(email, uow.settings.smtputf8)
    if find_user(uow.session, slug, address) is not None:
        raise Unchanged(f"{address} is a user of {slug} already", "email")
    user = PartnerUserAccount(
        ref=f"{USER_REF_PREFIX}_{secrets.token_hex(8)}",
        partner_slug=slug,
        email=address,
        created_at=uow.now(),
    )
    uow.session.add(user)
    uow.session.flush()  # a duplicate added at the same moment fails here (and is retried)
    record(uow.session, actor, "partner_user.added", partner_slug=slug, details={"user": user.ref})
    return user


def list_users(session: Session, slug: str | None = None) -> list[PartnerUserAccount]:
    """The registered users (of one partner, or of all), by partner and address."""
    query = select(PartnerUserAccount).order_by(
        PartnerUserAccount.partner_slug, PartnerUserAccount.email
    )
    if slug is not None:
        query = query.where(PartnerUserAccount.partner_slug == slug)
    return list(session.execute(query).scalars())


def remove_user(uow: UnitOfWork, slug: str, email: str, actor: Actor) -> PartnerUserAccount:
    """Remove a user (audited): its sessions end at once, its unused links stop working, and
    its address is erased from the sign-in mails kept in the outbox."""
    address = _address(email, uow.settings.smtputf8)
    session = uow.session
    user = find_user(session, slug, address)
    if user is None:
        if uow.directory.get(slug) is None and not list_users(session, slug):
            raise UnknownPartner(f"no listing has the slug {slug!r}", "slug")
        raise NotFound(f"{address} is not a user of {slug}", "email")
    session.execute(delete(PartnerSession).where(PartnerSession.user_id == user.id))
    session.execute(delete(PartnerSignInToken).where(PartnerSignInToken.user_id == user.id))
    if not list_users_by_address(session, address, exclude=user.id):
        _erase_sign_in_mail(uow, address)
    session.delete(user)
    record(session, actor, "partner_user.removed", partner_slug=slug, details={"user": user.ref})
    return user


def list_users_by_address(
    session: Session, email: str, exclude: int | None = None
) -> list[PartnerUserAccount]:
    """Every partner user with this (normalised) address."""
    query = select(PartnerUserAccount).where(PartnerUserAccount.email == email)
    if exclude is not None:
        query = query.where(PartnerUserAccount.id != exclude)
    return list(session.execute(query.order_by(PartnerUserAccount.partner_slug)).scalars())


def _erase_sign_in_mail(uow: UnitOfWork, email: str) -> None:
    """Delete the partner sign-in mails to `email`, sent or not: the address and the links
    leave the outbox with the user (like a removed tenant admin's sign-in mail). A delivered
    message keeps only its headers, so it is found by its subject; one waiting, by its link."""
    subject, _ = render(
        SIGN_IN_MAIL,
        CUSTOMER_LANGUAGES,
        {"email": email, "links": [], "minutes": 1, "settings": uow.settings},
    )
    uow.session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.recipient == email,
            OutboxMessage.tenant_ref.is_(None),
            or_(
                OutboxMessage.subject == header_text(subject)[:300],
                OutboxMessage.raw.contains(SIGN_IN_PATH, autoescape=True),
            ),
        )
    )


# --- signing in --------------------------------------------------------------------------------


def request_sign_in(uow: UnitOfWork, email: str) -> int:
    """Mail sign-in links to `email` (as typed), one for each listed partner it is a user of;
    returns how many (the caller must not show it)."""
    settings = uow.settings
    try:
        address = normalized_email(email, smtputf8=settings.smtputf8)
    except InvalidInput:
        return 0  # no user can have an address that does not pass the rule
    users = [
        user
        for user in list_users_by_address(uow.session, address)
        if uow.directory.get(user.partner_slug) is not None
    ]
    if not users:
        return 0
    now = uow.now()
    links = []
    for user in users:
        token = new_token()
        uow.session.add(
            PartnerSignInToken(
                token_hash=token_hash(token),
                user_id=user.id,
                created_at=now,
                expires_at=now + settings.sign_in_lifetime,
            )
        )
        name = uow.directory.display_name(user.partner_slug)
        links.append((name, user.partner_slug, settings.link(f"{SIGN_IN_PATH.lstrip('/')}{token}")))
    minutes = int(settings.sign_in_lifetime.total_seconds() // 60)
    context = {"email": address, "links": links, "minutes": minutes}
    uow.mail(address, SIGN_IN_MAIL, context, CUSTOMER_LANGUAGES)
    return len(users)


@dataclass(frozen=True)
class PartnerSignInLink:
    """Whom a partner sign-in link signs in, and whether it can still be used."""

    slug: str
    email: str
    user_ref: str
    user_id: int
    usable: bool


def sign_in_link(
    session: Session, directory: PartnerDirectory, token: str
) -> PartnerSignInLink | None:
    """The user a link signs in, or None for an unknown link (or a removed user's). A link of
    a partner no longer listed is not usable."""
    row = session.execute(
        select(PartnerSignInToken, PartnerUserAccount)
        .join(PartnerUserAccount, PartnerUserAccount.id == PartnerSignInToken.user_id)
        .where(PartnerSignInToken.token_hash == token_hash(token))
    ).one_or_none()
    if row is None:
        return None
    link, user = row
    usable = (
        link.used_at is None
        and link.expires_at > session_now(session)
        and directory.get(user.partner_slug) is not None
    )
    return PartnerSignInLink(user.partner_slug, user.email, user.ref, user.id, usable)


def claim_sign_in(
    session: Session, directory: PartnerDirectory, token: str, remote_addr: str | None
) -> PartnerSignInLink | None:
    """Use a sign-in link once (audited): the user, or None when it cannot be used."""
    found = sign_in_link(session, directory, token)
    if found is None or not found.usable:
        return None
    now = session_now(session)
    claimed = session.execute(
        update(PartnerSignInToken)
        .where(
            PartnerSignInToken.token_hash == token_hash(token),
            PartnerSignInToken.used_at.is_(None),
            PartnerSignInToken.expires_at > now,
        )
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    actor = Actor("partner", found.slug, remote_addr, f"user {found.user_ref}")
    record(session, actor, "partner_user.signed_in", partner_slug=found.slug)
    return PartnerSignInLink(found.slug, found.email, found.user_ref, found.user_id, False)


# --- sessions ----------------------------------------------------------------------------------


def start_session(session: Session, user_id: int, lifetime: timedelta) -> str:
    """Record a new signed-in session for a partner user; returns the id for the cookie (shown
    once, never stored). Sessions that have expired are swept on the way."""
    now = session_now(session)
    session.execute(delete(PartnerSession).where(PartnerSession.expires_at <= now))
    session_id = new_token()
    session.add(
        PartnerSession(
            token_hash=token_hash(session_id),
            user_id=user_id,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return session_id


def session_user(
    session: Session, directory: PartnerDirectory, session_id: str
) -> PartnerUserAccount | None:
    """The user of a session that has not ended, while the user is still registered and its
    partner still listed; None otherwise."""
    user = session.execute(
        select(PartnerUserAccount)
        .join(PartnerSession, PartnerSession.user_id == PartnerUserAccount.id)
        .where(
            PartnerSession.token_hash == token_hash(session_id),
            PartnerSession.expires_at > session_now(session),
        )
    ).scalar_one_or_none()
    if user is None or directory.get(user.partner_slug) is None:
        return None
    return user


def end_session(session: Session, session_id: str) -> None:
    """End a session at once: its cookie, wherever copied, no longer signs anyone in."""
    session.execute(
        delete(PartnerSession).where(PartnerSession.token_hash == token_hash(session_id))
    )
