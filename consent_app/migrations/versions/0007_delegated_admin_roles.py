"""least-privilege delegated administration: a grant carries admin roles and an end date

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 18:00:00

- `delegated_admin_grants`: `roles` (admin role ids), `expires_at` (the grant ends by itself
  then), `auto_extend`, `reminded_days`.
- `invitations`: `delegated_admin_roles`, `delegated_admin_days` (what a DA request asks).
- Grants from before this revision gave full access with no end: they become `global-admin`
  grants ending 730 days (the default maximum) after the upgrade.
  Each one still active gets a `delegated_admin.limited` event in its tenant's chain, so the
  customer's history says when and why its grant got an end date.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.orm import Session

from consent_app.audit import UPGRADE_ACTOR, _append_raw
from consent_app.db import AUDIT_KEY, UtcDateTime, utcnow
from consent_app.personal import subject_ref

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LEGACY_GRANT_DAYS = 730
"""How long grants from before this revision last after it: the default maximum (a migration
reads no settings; a lower configured maximum applies to new requests)."""


def upgrade() -> None:
    connection = op.get_bind()
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delegated_admin_roles", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("delegated_admin_days", sa.Integer(), nullable=True))
    with op.batch_alter_table("delegated_admin_grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("roles", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("expires_at", UtcDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("auto_extend", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("reminded_days", sa.Integer(), nullable=True))
    now = utcnow()
    days = LEGACY_GRANT_DAYS
    ends = now + timedelta(days=days)
    grants = sa.table(
        "delegated_admin_grants",
        sa.column("roles", sa.JSON()),
        sa.column("expires_at", UtcDateTime()),
        sa.column("ended_at", UtcDateTime()),
    )
    # An ended grant "expired" when it ended; an active one gets the end date.
    ended = grants.c.ended_at.is_not(None)
    connection.execute(
        grants.update().values(
            roles=["global-admin"], expires_at=sa.case((ended, grants.c.ended_at), else_=ends)
        )
    )
    with op.batch_alter_table("delegated_admin_grants", schema=None) as batch_op:
        batch_op.alter_column("roles", existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("expires_at", existing_type=UtcDateTime(), nullable=False)
        batch_op.alter_column("auto_extend", server_default=None)
    active = connection.execute(
        sa.text(
            "SELECT t.domain, g.partner_slug FROM delegated_admin_grants g "
            "JOIN tenants t ON t.id = g.tenant_id WHERE g.ended_at IS NULL ORDER BY t.domain"
        )
    ).all()
    if not active:
        return
    key = context.config.attributes.get(AUDIT_KEY)
    if not key:
        raise RuntimeError("recording the grants' end dates in the audit log needs the audit key")
    session = Session(bind=connection)
    session.info[AUDIT_KEY] = key
    for domain, partner in active:
        _append_raw(
            connection,
            key,
            UPGRADE_ACTOR,
            "delegated_admin.limited",
            {"roles": ["global-admin"], "expires_at": ends.isoformat(), "reason": "upgrade"},
            tenant_ref=subject_ref(session, str(domain), now),
            partner_slug=str(partner),
        )


def downgrade() -> None:
    with op.batch_alter_table("delegated_admin_grants", schema=None) as batch_op:
        batch_op.drop_column("reminded_days")
        batch_op.drop_column("auto_extend")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("roles")
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_column("delegated_admin_days")
        batch_op.drop_column("delegated_admin_roles")
