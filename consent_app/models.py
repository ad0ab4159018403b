"""The consent database's tables (README: Consent backend). Changes to them go through an
Alembic migration.

Rules that must hold under concurrency are constraints here, not checks in Python:
- at most one active delegated-admin partner per tenant, and at most one active partner of
  record: partial unique indexes over the rows not yet ended;
- a tenant's domain, an API key's id, a link's token hash, an outbox message id: unique;
- an audit chain has one event per sequence number;
- one live audit subject per tenant domain, one personal-data row per value and subject.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from consent_app.db import UtcDateTime
from consent_app.rules import Cloud, InvitationKind, State

CLOUDS = tuple(str(cloud) for cloud in Cloud)
INVITATION_TYPES = tuple(str(kind) for kind in InvitationKind)
INVITATION_STATES = tuple(str(state) for state in State)
"""What is stored; "expired" is computed (`consent_app.rules.status`)."""


class Base(DeclarativeBase):
    """The declarative base: UTC datetimes everywhere, named constraints for migrations."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


def _one_active(table: str, *columns: str) -> Index:
    """A partial unique index over the rows whose `ended_at` is still empty."""
    active = text("ended_at IS NULL")
    return Index(
        f"uq_{table}_active",
        *columns,
        unique=True,
        sqlite_where=active,
        postgresql_where=active,
    )


class Tenant(Base):
    """A customer: one tenant of the provider's cloud."""

    __tablename__ = "tenants"
    __table_args__ = (CheckConstraint(f"cloud IN {CLOUDS}", name="cloud"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    cloud: Mapped[str] = mapped_column(String(16), default="global")
    created_at: Mapped[datetime]
    # The new customer's invitation whose acceptance created the tenant (None: an operator).
    created_by_invitation: Mapped[str | None] = mapped_column(String(32))


class TenantAdmin(Base):
    """A verified administrator address of a tenant: where its mail goes, who may sign in."""

    __tablename__ = "tenant_admins"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254), index=True)  # stored lower-case
    verified_at: Mapped[datetime]


class PartnerKey(Base):
    """A partner's API key: its public id and the SHA-256 of its secret part."""

    __tablename__ = "partner_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    partner_slug: Mapped[str] = mapped_column(String(64), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Invitation(Base):
    """A partner's trial invitation or purchase offer to one tenant (existing or new)."""

    __tablename__ = "invitations"
    __table_args__ = (
        CheckConstraint(f"kind IN {INVITATION_TYPES}", name="kind"),
        CheckConstraint(f"state IN {INVITATION_STATES}", name="state"),
        Index("ix_invitations_partner_created", "partner_slug", "created_at"),
        Index("ix_invitations_state_expires", "state", "expires_at"),  # the expiry sweep
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    partner_slug: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(32))  # the API key it was sent with
    kind: Mapped[str] = mapped_column(String(16))  # the API's "type"
    offer_id: Mapped[str | None] = mapped_column(String(64))
    services: Mapped[list[str]]
    licenses: Mapped[dict[str, Any] | None]  # purchase: service -> count
    trial_days: Mapped[int | None]
    delegated_admin_requested: Mapped[bool]
    # What the DA request asks (None when it asks none): admin role ids and days.
    delegated_admin_roles: Mapped[list[str] | None]
    delegated_admin_days: Mapped[int | None]
    # A priced purchase offer's terms (all None: unpriced; `consent_app.pricing`): service ->
    # price per license per month as a decimal string with the currency's minor units
    # ("12.50", "1200"). Strings, never numbers: a JSON number is a float to most readers
    # (SQLite's JSON functions included), and money is never a float; the text is exact, reads
    # the same in the database, the API and the audit log, and totals are computed from it.
    prices: Mapped[dict[str, Any] | None]
    currency: Mapped[str | None] = mapped_column(String(3))  # ISO 4217
    billing: Mapped[str | None] = mapped_column(String(16))  # monthly | annual
    tenant_domain: Mapped[str] = mapped_column(String(253), index=True)
    customer_email: Mapped[str | None] = mapped_column(String(254))  # new customers only
    customer_company: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(254))
    delegated_admin_granted: Mapped[bool | None]
    partner_of_record: Mapped[bool | None]


class InvitationLink(Base):
    """One recipient's secret link to an invitation; only the token's hash is kept."""

    __tablename__ = "invitation_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[str] = mapped_column(
        ForeignKey("invitations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)


class _Role:
    """A partner holding a role for a tenant, from its start to its end (columns shared by
    delegated administration and partner of record)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    partner_slug: Mapped[str] = mapped_column(String(64), index=True)
    invitation_id: Mapped[str | None] = mapped_column(ForeignKey("invitations.id"))
    started_at: Mapped[datetime]
    started_by: Mapped[str] = mapped_column(String(254))
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[str | None] = mapped_column(String(254))
    end_reason: Mapped[str | None] = mapped_column(String(32))


class DelegatedAdminGrant(_Role, Base):
    """A partner's delegated administration of a tenant, from grant to end: the admin roles it
    carries and the date it ends by itself (README: Delegated administration).

    A grant past `expires_at` no longer counts (`consent_app.consent.active_delegated_admin`)
    even before the sweep records its end, and a new grant ends it first: the partial unique
    index still allows one row without `ended_at` per tenant."""

    __tablename__ = "delegated_admin_grants"
    __table_args__ = (_one_active("delegated_admin_grants", "tenant_id"),)

    roles: Mapped[list[str]]
    expires_at: Mapped[datetime]
    # The customer let it extend itself by 180 days at its end (never with global-admin).
    auto_extend: Mapped[bool] = mapped_column(default=False)
    # The nearest reminder sent so far (30 or 7 days before the end), None: none yet.
    reminded_days: Mapped[int | None]


class PartnerOfRecord(_Role, Base):
    """A tenant's choice of partner of record, from choice to end."""

    __tablename__ = "partners_of_record"
    __table_args__ = (_one_active("partners_of_record", "tenant_id"),)


class SignInToken(Base):
    """A one-time sign-in link for one administrator of one tenant."""

    __tablename__ = "sign_in_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class AuditEvent(Base):
    """One state change: who, what, when, from where. Append-only and hash-chained.

    Events form one chain per subject (a tenant, or a partner for its keys), so writers for
    different tenants never wait for each other; `hash` covers the event and `prev_hash`.
    """

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("chain", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(String(300))
    seq: Mapped[int]
    occurred_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(64))
    # The tenant's audit subject (`AuditSubject.ref`), never its domain: personal data lives
    # apart from the chain (`consent_app.personal`). The column keeps the name it had when it
    # held the domain (before migration 0006), so the migrations that read it stay simple.
    tenant_ref: Mapped[str | None] = mapped_column("tenant_domain", String(253), index=True)
    partner_slug: Mapped[str | None] = mapped_column(String(64))
    invitation_id: Mapped[str | None] = mapped_column(String(32), index=True)
    details: Mapped[dict[str, Any]]
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditSubject(Base):
    """A tenant as the audit log knows it: an opaque reference that names its chain, and the
    domain it stands for until the tenant's data is removed (then `domain` is empty and the
    domain may belong to a new subject)."""

    __tablename__ = "audit_subjects"

    ref: Mapped[str] = mapped_column(String(32), primary_key=True)
    domain: Mapped[str | None] = mapped_column(String(253), unique=True)
    created_at: Mapped[datetime]
    erased_at: Mapped[datetime | None]
    # HMAC under the audit key of (ref, domain): `audit verify` finds a domain re-pointed to
    # another tenant's chain, or erased without the key (`consent_app.personal.subject_mac`).
    mac: Mapped[str] = mapped_column(String(64))


class PersonalDatum(Base):
    """One piece of personal data an audit event names (an address, a name, a company, an IP
    address), kept out of the hashed chain so that it can be erased without breaking it.
    Events carry `ref`; erasing sets `value` (and `admin`) empty."""

    __tablename__ = "personal_data"
    __table_args__ = (UniqueConstraint("subject_ref", "kind", "admin", "value"),)

    ref: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_ref: Mapped[str] = mapped_column(ForeignKey("audit_subjects.ref"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # email | name | address
    value: Mapped[str | None] = mapped_column(Text)
    # The tenant admin whose datum this is (their address, the addresses they acted from),
    # "" for the tenant's own: what `tenants remove-admin` erases. Part of the unique key, so
    # an IP address two admins used is two rows, each erased with its admin.
    admin: Mapped[str] = mapped_column(String(254), default="")
    erased_at: Mapped[datetime | None]
    # HMAC under the audit key of the row's values: an address changed in the database (to
    # take over a tenant, or to rewrite who consented) is found by `audit verify`.
    mac: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The newest event of each audit chain: appending locks this row, and a deleted last
    event is detected because the head still names it."""

    __tablename__ = "audit_chain_heads"

    chain: Mapped[str] = mapped_column(String(300), primary_key=True)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))


class OutboxMessage(Base):
    """A message written in the same transaction as the change it tells of; sent afterwards."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unsent", "sent_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    raw: Mapped[str] = mapped_column(Text)  # the whole RFC 5322 message ("" until composed)
    # A message composed at delivery (`consent_app.mail.payload_of`, migration 0012): the
    # template, languages and context as JSON until it is delivered, then None.
    payload: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    # Set when the message can never be delivered (refused for good, or it could not be
    # composed); `last_error` says why, and it is not tried again.
    failed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    # The audit subject of the tenant the message is about (None: about no tenant, or written
    # before migration 0006): what removing the tenant or one of its admins erases.
    tenant_ref: Mapped[str | None] = mapped_column(String(32), index=True)


class CustomerSession(Base):
    """A customer's signed-in session: the cookie holds its random id, this row only the id's
    hash. Signing out deletes the row, so a copied cookie stops working with it."""

    __tablename__ = "customer_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


# --- leads ---

LEAD_STATUSES = ("new", "contacted", "won", "lost")
"""What a partner records about a lead; "withdrawn" is not stored but shown while
`withdrawn_at` is set (`consent_app.leads`)."""


class Lead(Base):
    """A visitor's request to be contacted by a partner ("Contact this partner"); a lead once
    the visitor confirmed it through the mailed link (`confirmed_at`).

    The personal fields live in this row alone (never in the audit chain), so withdrawing
    empties them; the rest (ids, dates, status) stays for the partner's list."""

    __tablename__ = "leads"
    __table_args__ = (
        CheckConstraint(f"status IN {LEAD_STATUSES}", name="status"),
        Index("ix_leads_partner_confirmed", "partner_slug", "confirmed_at"),
        Index("ix_leads_unconfirmed_expiry", "confirmed_at", "expires_at"),  # the sweep
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # public: "lead_…"
    partner_slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    company: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    message: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))  # of the page the visitor used
    status: Mapped[str] = mapped_column(String(16), default="new")
    # The secrets of the mailed links: only their hashes (`consent_app.tokens`).
    confirm_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    withdraw_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    requested_at: Mapped[datetime]
    expires_at: Mapped[datetime]  # the confirm link's end
    confirmed_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    status_changed_at: Mapped[datetime | None]
    # The outbox messages that carry this lead's data (their Message-IDs), deleted when the
    # visitor withdraws: the visitor's confirmation, the partner's notice.
    confirmation_mail: Mapped[str | None] = mapped_column(String(200))
    partner_mail: Mapped[str | None] = mapped_column(String(200))


# --- webhooks ---


class WebhookEndpoint(Base):
    """A partner's HTTPS endpoint and the events it receives (README: Webhooks).

    The signing secret is not stored: it is derived from the instance's secret key and
    `secret_salt` (`consent_app.webhook_delivery.signing_secret`), so the database alone, or a
    backup of it, cannot sign; `secret_check` says whether the key is still the one the secret
    was derived with. A deleted endpoint keeps its row (its delivery log) without a salt."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_partner", "partner_slug", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)  # "wh_…"
    partner_slug: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]]
    secret_salt: Mapped[str] = mapped_column(String(64))
    secret_check: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class WebhookEvent(Base):
    """One event for one partner, written in the transaction of the change it tells of."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)  # "evt_…", stable
    partner_slug: Mapped[str] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    # The exact JSON body every attempt sends; emptied once every delivery is done (or the
    # data it names is erased), so backups keep no payload that was delivered.
    body: Mapped[str | None] = mapped_column(Text)
    # What the payload names ("tenant:<domain>", "lead:<id>"): what a removal erases.
    subject: Mapped[str | None] = mapped_column(String(300), index=True)


class WebhookDelivery(Base):
    """One event to one endpoint: tried until delivered or given up, one worker at a time
    (`claimed_until`, like the mail outbox)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_due", "delivered_at", "failed_at", "next_attempt_at"),
        Index("ix_webhook_deliveries_log", "endpoint_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id"), index=True)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status: Mapped[int | None]  # the HTTP status of the last answer, if any
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]  # given up (or the endpoint deleted): not tried again


# --- partner users ---


class PartnerUserAccount(Base):
    """A person who may sign in to a partner's pages (README: Partner pages), registered by an
    operator (`marketplace partners add-user`).

    The address is personal data of the partner's staff. It lives in this row only: audit
    events name the user by `ref`, never by address, so removing the user (which deletes the
    row, its sign-in links and sessions) leaves no address behind while the chain stays whole."""

    __tablename__ = "partner_users"
    __table_args__ = (UniqueConstraint("partner_slug", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)  # "pu_…", what the audit log names
    partner_slug: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(254), index=True)  # stored lower-case
    created_at: Mapped[datetime]


class PartnerSignInToken(Base):
    """A one-time sign-in link for one partner user (only the token's hash is kept)."""

    __tablename__ = "partner_sign_in_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("partner_users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class PartnerSession(Base):
    """A partner user's signed-in session: the cookie holds its random id, this row only the
    id's hash (like `CustomerSession`, and never the same cookie key)."""

    __tablename__ = "partner_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("partner_users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
