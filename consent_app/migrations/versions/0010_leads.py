"""leads from the Marketplace: "Contact this partner", confirmed by the visitor by mail

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 22:30:00

- `leads`: one row per request a visitor sent from a partner's page; a lead once confirmed
  (`confirmed_at`). The visitor's name, address, company, country and message are columns of
  this row only (nothing in the audit chain), emptied when the visitor withdraws. The mailed
  confirm and withdraw links are kept as SHA-256 hashes. A new table: nothing to fill in.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consent_app.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leads",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("partner_slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("company", sa.String(length=200), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("confirm_token_hash", sa.String(length=64), nullable=False),
        sa.Column("withdraw_token_hash", sa.String(length=64), nullable=False),
        sa.Column("requested_at", consent_app.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", consent_app.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", consent_app.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", consent_app.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("status_changed_at", consent_app.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("confirmation_mail", sa.String(length=200), nullable=True),
        sa.Column("partner_mail", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "status IN ('new', 'contacted', 'won', 'lost')", name=op.f("ck_leads_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
        sa.UniqueConstraint("confirm_token_hash", name=op.f("uq_leads_confirm_token_hash")),
        sa.UniqueConstraint("withdraw_token_hash", name=op.f("uq_leads_withdraw_token_hash")),
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_leads_partner_confirmed", ["partner_slug", "confirmed_at"], unique=False
        )
        batch_op.create_index(
            "ix_leads_unconfirmed_expiry", ["confirmed_at", "expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index("ix_leads_unconfirmed_expiry")
        batch_op.drop_index("ix_leads_partner_confirmed")

    op.drop_table("leads")
