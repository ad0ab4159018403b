"""Tenants (customers) and their verified administrators."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import idna
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from consent_app.audit import Actor, record
from consent_app.db import utcnow
from consent_app.errors import Refused
from consent_app.models import CLOUDS, Invitation, Tenant, TenantAdmin

DOMAIN_PATTERN = re.compile(
    r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$"
)
MAX_TENANT_NAME = 200


def ascii_domain(domain: str) -> str:
    """A domain in its IDNA ASCII form, lower case (`Bücher.example` -> `xn--bcher-kva.example`);
    text that is no domain is returned lower-cased, for the caller's own check to refuse."""
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return domain.lower()


def normalized_domain(raw: str, field: str = "tenant") -> str:
    """A tenant domain in its stored form (lower case), or `Refused` naming `field`."""
    domain = ascii_domain(raw.strip().rstrip("."))
    if not DOMAIN_PATTERN.match(domain):
        raise Refused(
            "validation_error",
            f"{raw[:80]!r} is not a tenant domain such as fabrikam.onmicrosoft.com",
            status=400,
            field=field,
        )
    return domain


def normalized_email(raw: str, field: str = "email", *, smtputf8: bool = False) -> str:
    """An e-mail address in its one stored form, or `Refused` naming `field`.

    The domain is in its IDNA ASCII form and the whole address in lower case (addresses are
    compared case-insensitively, as the provider's directory does), so `Boss@Bücher.example`
    and `boss@xn--bcher-kva.example` are one admin. A non-ASCII local part can only be
    delivered by an SMTP server with SMTPUTF8, so it is refused unless `smtputf8` says the
    configured server has it.
    """
    try:
        checked = validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=smtputf8)
    except EmailNotValidError as error:
        raise Refused("validation_error", f"{field}: {error}", status=400, field=field) from None
    return f"{checked.local_part}@{checked.ascii_domain}".lower()


def tenant_name(raw: str, field: str = "name") -> str:
    """A tenant's (or new customer's company's) display name: 1-200 printable characters on
    one line, no control, format or separator characters; else `Refused` naming `field`."""
    name = raw.strip()
    if not 1 <= len(name) <= MAX_TENANT_NAME or not name.isprintable():
        raise Refused(
            "validation_error",
            f"{field}: a name is 1-{MAX_TENANT_NAME} printable characters on one line",
            400,
            field,
        )
    return name


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
    invitation: Invitation | None = None  # set when accepting a new customer's invitation


def add_tenant(session: Session, new: NewTenant, actor: Actor) -> Tenant:
    """Create a tenant with its verified admins; `Refused` when the domain is taken."""
    if new.cloud not in CLOUDS:
        raise Refused("validation_error", f"cloud must be one of {', '.join(CLOUDS)}", 400, "cloud")
    name = tenant_name(new.name)
    if not new.admins:
        raise Refused("validation_error", "a tenant needs at least one admin address", 400)
    now = utcnow()
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
        raise Refused("tenant_exists", f"the tenant {new.domain} exists already", 409) from None
    for email in sorted(set(new.admins)):
        session.add(TenantAdmin(tenant_id=tenant.id, email=email, verified_at=now))
    details: dict[str, Any] = {"name": name, "cloud": new.cloud, "admins": sorted(set(new.admins))}
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
    session.add(TenantAdmin(tenant_id=tenant.id, email=email, verified_at=utcnow()))
    record(
        session, actor, "tenant.admin_added", tenant_domain=tenant.domain, details={"email": email}
    )
    return True
