"""Tenants (customers) and their verified administrators."""

from __future__ import annotations

import re
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from consent_app.audit import Actor, record
from consent_app.db import utcnow
from consent_app.errors import Refused
from consent_app.models import CLOUDS, Tenant, TenantAdmin

DOMAIN_PATTERN = re.compile(
    r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$"
)
MAX_TENANT_NAME = 200


def normalized_domain(raw: str, field: str = "tenant") -> str:
    """A tenant domain in its stored form (lower case), or `Refused` naming `field`."""
    domain = raw.strip().lower().rstrip(".")
    if not DOMAIN_PATTERN.match(domain):
        raise Refused(
            "validation_error",
            f"{raw[:80]!r} is not a tenant domain such as fabrikam.onmicrosoft.com",
            status=400,
            field=field,
        )
    return domain


def normalized_email(raw: str, field: str = "email") -> str:
    """An e-mail address in its stored form (lower case), or `Refused` naming `field`."""
    try:
        checked = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise Refused("validation_error", str(error), status=400, field=field) from None
    return checked.normalized.lower()


def find_tenant(session: Session, domain: str) -> Tenant | None:
    """The tenant with this (normalized) domain."""
    return session.execute(select(Tenant).where(Tenant.domain == domain)).scalar_one_or_none()


def admin_emails(session: Session, tenant_id: int) -> list[str]:
    """The tenant's verified administrator addresses."""
    query = select(TenantAdmin.email).where(TenantAdmin.tenant_id == tenant_id)
    return sorted(session.execute(query).scalars())


@dataclass(frozen=True)
class NewTenant:
    """What an operator or an accepted new-customer invitation creates."""

    domain: str
    name: str
    admins: tuple[str, ...]
    cloud: str = "global"


def add_tenant(session: Session, new: NewTenant, actor: Actor) -> Tenant:
    """Create a tenant with its verified admins; `Refused` when the domain is taken."""
    if new.cloud not in CLOUDS:
        raise Refused("validation_error", f"cloud must be one of {', '.join(CLOUDS)}", 400, "cloud")
    name = new.name.strip()
    if not 1 <= len(name) <= MAX_TENANT_NAME or not name.isprintable():
        raise Refused(
            "validation_error", f"the name must be 1-{MAX_TENANT_NAME} printable characters", 400
        )
    if not new.admins:
        raise Refused("validation_error", "a tenant needs at least one admin address", 400)
    now = utcnow()
    tenant = Tenant(domain=new.domain, name=name, cloud=new.cloud, created_at=now)
    try:
        with session.begin_nested():
            session.add(tenant)
            session.flush()
    except IntegrityError:
        raise Refused("tenant_exists", f"the tenant {new.domain} exists already", 409) from None
    for email in sorted(set(new.admins)):
        session.add(TenantAdmin(tenant_id=tenant.id, email=email, verified_at=now))
    record(
        session,
        actor,
        "tenant.created",
        tenant_domain=tenant.domain,
        details={"name": name, "cloud": new.cloud, "admins": sorted(set(new.admins))},
    )
    return tenant


def add_admin(session: Session, tenant: Tenant, email: str, actor: Actor) -> bool:
    """Add a verified admin address; False when it was one already."""
    if email in admin_emails(session, tenant.id):
        return False
    session.add(TenantAdmin(tenant_id=tenant.id, email=email, verified_at=utcnow()))
    record(
        session, actor, "tenant.admin_added", tenant_domain=tenant.domain, details={"email": email}
    )
    return True
