"""The newcomer's demo (`marketplace serve --demo`, what `./start` runs): a demo tenant, demo
partner keys, a fresh invitation asking for delegated administration, a sign-in link for the
customer and one for a Contoso partner user, so both sides of the story can be walked in a few
minutes.

Everything goes through the same functions real partners and operators use; the links are
read back from the demo mail the transaction wrote. The demo keys are kept in
`<instance>/demo-keys.json` (mode 0600) so a second run prints the same ones.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from consent_app.audit import Actor
from consent_app.backend import Backend
from consent_app.customers import request_sign_in
from consent_app.invitations import create_invitation
from consent_app.models import OutboxMessage, PartnerKey
from consent_app.partner_sessions import add_user, find_user
from consent_app.partner_sessions import request_sign_in as request_partner_sign_in
from consent_app.partners import issue_key
from consent_app.tenants import NewTenant, add_tenant, find_tenant

TENANT = "fabrikam-demo.onmicrosoft.com"
TENANT_NAME = "Fabrikam (demo)"
ADMIN = "admin@fabrikam-demo.example"
PARTNER_USER = "sales@contoso-demo.example"
"""The demo's Contoso partner user (the partner pages, /partner/)."""
PARTNERS = {"contoso-cloud": "trial-collab", "cape-collaboration": "intranet-trial"}
"""Demo partners and the trial each one offers (both may ask for delegated administration)."""
KEYS_FILE = "demo-keys.json"

_LINK = re.compile(r"https?://\S+/(?:invitations|signin)/[A-Za-z0-9_-]+")
OPERATOR = Actor("operator", "demo", "cli")


@dataclass(frozen=True)
class Demo:
    """What the newcomer is told to open."""

    invitation_link: str
    sign_in_link: str
    partner_sign_in_link: str
    keys: dict[str, str]  # partner slug -> API key
    admin: str
    tenant: str


def _keys(backend: Backend) -> dict[str, str]:
    """The demo keys, issued once and remembered in the instance folder."""
    path = backend.settings.instance_dir / KEYS_FILE
    remembered: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    with backend.write() as session:
        usable = {
            key_id
            for key_id in session.execute(
                select(PartnerKey.key_id).where(PartnerKey.revoked_at.is_(None))
            ).scalars()
        }
        keys = {}
        for slug in PARTNERS:
            key = remembered.get(slug, "")
            parts = key.split("_")
            if len(parts) < 3 or parts[1] not in usable:
                key = issue_key(session, backend.directory, slug, OPERATOR).secret
            keys[slug] = key
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(keys, handle, indent=2)
    return keys


def _newest_link(backend: Backend, kind: str, recipient: str = ADMIN) -> str:
    """The newest link of `kind` in mail written to `recipient` (from the outbox itself, so
    this works whether mail goes to files or to an SMTP server)."""
    with backend.read() as session:
        raws = session.execute(
            select(OutboxMessage.raw)
            .where(OutboxMessage.recipient == recipient)
            .order_by(OutboxMessage.id.desc())
        ).scalars()
        for raw in raws:
            for link in _LINK.findall(raw):
                if f"/{kind}/" in link:
                    return str(link)
    raise RuntimeError(f"no {kind} link was written for the demo")


def prepare_demo(backend: Backend) -> Demo:
    """Seed (or reuse) the demo data and make a fresh invitation and sign-in link."""
    missing = [slug for slug in PARTNERS if backend.directory.get(slug) is None]
    if missing:
        raise RuntimeError(f"the demo needs the example listings {', '.join(missing)}")
    with backend.write() as session:
        if find_tenant(session, TENANT) is None:
            add_tenant(session, NewTenant(TENANT, TENANT_NAME, (ADMIN,)), OPERATOR)
    keys = _keys(backend)
    partner = "contoso-cloud"
    actor = Actor("partner", partner, "demo", "demo key")
    request = {
        "type": "trial",
        "tenant": TENANT,
        "offer_id": PARTNERS[partner],
        "delegated_admin": True,
    }
    backend.run(lambda uow: create_invitation(uow, partner, request, actor))
    invitation = _newest_link(backend, "invitations")
    backend.run(lambda uow: request_sign_in(uow, ADMIN))
    sign_in = _newest_link(backend, "signin")
    with backend.read() as session:
        registered = find_user(session, partner, PARTNER_USER) is not None
    if not registered:
        backend.run(lambda uow: add_user(uow, partner, PARTNER_USER, OPERATOR))
    backend.run(lambda uow: request_partner_sign_in(uow, PARTNER_USER))
    partner_sign_in = _newest_link(backend, "partner/signin", PARTNER_USER)
    return Demo(invitation, sign_in, partner_sign_in, keys, ADMIN, TENANT)


def describe(demo: Demo, base_url: str, mail_dir: Path, smtp: bool) -> str:
    """What `./start` prints: where to click, in the order of the story."""
    key = demo.keys["contoso-cloud"]
    mail = "your SMTP server" if smtp else f"{mail_dir}/ (one .eml file per message)"
    return f"""
Partner Marketplace is running at {base_url}

  1. Browse and search partners:   {base_url}
                                   {base_url}find/?query=migrate%20mailboxes
  2. A demo invitation: Contoso Cloud Services offers {TENANT_NAME} a trial and asks for
     delegated administration. Accept it, with or without DA and partner of record:
                                   {demo.invitation_link}
  3. The customer page (partners, consent history, revoke DA); a one-time sign-in link for
     {demo.admin}, valid 30 minutes:
                                   {demo.sign_in_link}
     (later: sign in at {base_url}signin with {demo.admin}; the link arrives as mail)
  4. The partner pages of Contoso (overview, invitations, customers, keys); a one-time
     sign-in link for its partner user {PARTNER_USER}, valid 30 minutes:
                                   {demo.partner_sign_in_link}
     (later: sign in at {base_url}partner/signin with {PARTNER_USER})
  5. The partner API with Contoso's demo key:
       curl -H "Authorization: Bearer {key}" {base_url}api/v1/relationships
  Mail goes to {mail}
"""
