"""partner users: the people who sign in to a partner's pages, their sign-in links and sessions

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 22:30:00

- `partner_users`: one row per address an operator registered for a partner (unique per
  partner), with an opaque `ref` ("pu_…") the audit log names instead of the address, so
  removing the user deletes the only copy of the address.
- `partner_sign_in_tokens`: one-time mailed sign-in links (SHA-256 of the token), like
  `sign_in_tokens` for customers.
- `partner_sessions`: signed-in partner sessions (SHA-256 of the cookie's id), like
  `customer_sessions`. Links and sessions go with their user (ON DELETE CASCADE).
New tables: nothing to fill in.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consent_app.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partner_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("partner_slug", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("created_at", consent_app.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_users")),
        sa.UniqueConstraint(
            "partner_slug", "email", name=op.f("uq_partner_users_partner_slug_email")
        ),
        sa.UniqueConstraint("ref", name=op.f("uq_partner_users_ref")),
    )
    with op.batch_alter_table("partner_users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_partner_users_email"), ["email"], unique=False)

    for table in ("partner_sign_in_tokens", "partner_sessions"):
        token_only = table == "partner_sign_in_tokens"
        op.create_table(
            table,
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("token_hash", sa.String(length=64), nullable=False),
            sa.Column("user_id", sa.Integer(), nullable=False),
            sa.Column("created_at", consent_app.db.UtcDateTime(timezone=True), nullable=False),
            sa.Column("expires_at", consent_app.db.UtcDateTime(timezone=True), nullable=False),
            *(
                [sa.Column("used_at", consent_app.db.UtcDateTime(timezone=True), nullable=True)]
                if token_only
                else []
            ),
            sa.ForeignKeyConstraint(
                ["user_id"],
                ["partner_users.id"],
                name=op.f(f"fk_{table}_user_id_partner_users"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
            sa.UniqueConstraint("token_hash", name=op.f(f"uq_{table}_token_hash")),
        )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f"ix_{table}_user_id"), ["user_id"], unique=False)
            if not token_only:
                batch_op.create_index(
                    batch_op.f(f"ix_{table}_expires_at"), ["expires_at"], unique=False
                )


def downgrade() -> None:
    op.drop_table("partner_sessions")
    op.drop_table("partner_sign_in_tokens")
    with op.batch_alter_table("partner_users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_users_email"))
    op.drop_table("partner_users")
