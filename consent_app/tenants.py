"""Tenants (customers) and their verified administrators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from consent_app.addresses import tenant_name
from consent_app.audit import Actor, record
from consent_app.db import run, session_now
from consent_app.models import Invitation, Tenant, TenantAdmin
from consent_app.personal import NAME, Personal
from consent_app.refusals import InvalidInput, TenantExists
from consent_app.rules import Cloud


def find_tenant(session: Session, domain: str) -> Tenant | None:
    """The tenant with this (normalized) domain."""
    return session.execute(select(Tenant).where(Tenant.domain == domain)).scalar_one_or_none()


_ADMIN_EMAILS = select(TenantAdmin.email).where(TenantAdmin.tenant_id == bindparam("tenant_id"))


def admin_emails(session: Session, tenant_id: int) -> list[str]:
    """The tenant's verified administrator addresses."""
    return sorted(run(session, _ADMIN_EMAILS, {"tenant_id": tenant_id}).scalars())


@dataclass(frozen=True)
class NewTenant:
    """What an operator or an accepted new-customer invitation creates."""

    domain: str
    name: str
    admins: tuple[str, ...]
    cloud: str = "global"
    invitation: Invitation | None = None  # set when accepting a new customer's invitation


def add_tenant(
    session: Session, new: NewTenant, actor: Actor, now: datetime | None = None
) -> Tenant:
    """Create a tenant with its verified admins; `TenantExists` when the domain is taken."""
    if new.cloud not in set(Cloud):
        raise InvalidInput(f"cloud must be one of {', '.join(Cloud)}", "cloud")
    name = tenant_name(new.name)
    if not new.admins:
        raise InvalidInput("a tenant needs at least one admin address")
    now = now or session_now(session)
    tenant = Tenant(
        domain=new.domain,
        name=name,
        cloud=new.cloud,
        created_at=now,
        created_by_invitation=new.invitation.id if new.invitation else None,
    )
    try:
        with session.begin_nested():
            session.add(tenant)
            session.flush()
    except IntegrityError:
        raise TenantExists(f"the tenant {new.domain} exists already") from None
    for email in sorted(set(new.admins)):
        session.add(TenantAdmin(tenant_id=tenant.id, email=email, verified_at=now))
    details: dict[str, Any] = {
        "name": Personal(name, NAME),
        "cloud": new.cloud,
        "admins": [Personal.admin_address(email) for email in sorted(set(new.admins))],
    }
    if new.invitation is not None:
        details.update(created_by="invitation", partner=new.invitation.partner_slug)
    else:
        details["created_by"] = actor.kind
    record(
        session,
        actor,
        "tenant.created",
        tenant_domain=tenant.domain,
        invitation_id=new.invitation.id if new.invitation else None,
        details=details,
    )
    return tenant


def add_admin(session: Session, tenant: Tenant, email: str, actor: Actor) -> bool:
    """Add a verified admin address; False when it was one already."""
    if email in admin_emails(session, tenant.id):
        return False
    session.add(TenantAdmin(tenant_id=tenant.id, email=email, verified_at=session_now(session)))
    details = {"email": Personal.admin_address(email)}
    record(session, actor, "tenant.admin_added", tenant_domain=tenant.domain, details=details)
    return True
