"""Signed-in customers, kept on the server: the session cookie holds only a random session id.

Flask's own session is a signed cookie: whoever copies it stays signed in until it expires,
and signing out cannot take it back. So signing in stores a session row (only the id's hash,
like every secret here), every signed-in request looks it up, signing out deletes it, and it
ends by itself after the session length.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from consent_app.db import session_now
from consent_app.models import CustomerSession, Tenant, TenantAdmin
from consent_app.tokens import new_token, token_hash


def start_session(session: Session, tenant: Tenant, email: str, lifetime: timedelta) -> str:
    """Record a new signed-in session for `email` at `tenant`; returns the id for the cookie
    (shown once, never stored). Sessions that have expired are swept on the way."""
    now = session_now(session)
    session.execute(delete(CustomerSession).where(CustomerSession.expires_at <= now))
    session_id = new_token()
    session.add(
        CustomerSession(
            token_hash=token_hash(session_id),
            tenant_id=tenant.id,
            email=email,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return session_id


def session_customer(session: Session, session_id: str) -> tuple[Tenant, str] | None:
    """The tenant and address of a session that has not ended, while that address is still
    one of the tenant's admins; None otherwise."""
    row = session.execute(
        select(Tenant, CustomerSession.email)
        .join(CustomerSession, CustomerSession.tenant_id == Tenant.id)
        .join(
            TenantAdmin,
            (TenantAdmin.tenant_id == Tenant.id) & (TenantAdmin.email == CustomerSession.email),
        )
        .where(
            CustomerSession.token_hash == token_hash(session_id),
            CustomerSession.expires_at > session_now(session),
        )
    ).one_or_none()
    return (row[0], row[1]) if row is not None else None


def end_session(session: Session, session_id: str) -> None:
    """End a session at once: its cookie, wherever copied, no longer signs anyone in."""
    session.execute(
        delete(CustomerSession).where(CustomerSession.token_hash == token_hash(session_id))
    )
